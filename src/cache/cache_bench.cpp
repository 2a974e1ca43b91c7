// Cost of a lookup hit on the shared Cache (default config: 256 MiB, 16 shards), 10k
// resident keys, with one and two threads. Arg 0 = TinyLFU, 1 = LRU; the Vary variant
// matches Accept-Encoding on every hit.
// Run: ./cache_bench (Time is ns per lookup per thread; with UseRealTime, items_per_second
// is the total over the threads).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "cache/cache.h"

namespace {

using sg::cache::Cache;
using sg::cache::CachedResponse;
using sg::cache::PolicyKind;

constexpr int kKeys = 10'000;

struct Fixture {
  std::unique_ptr<Cache> cache;
  std::vector<std::string> keys;
};

Fixture makeFixture(PolicyKind policy, bool vary) {
  sg::config::CacheConfig config;
  config.policy = policy;
  Fixture fixture{std::make_unique<Cache>(config), {}};
  for (int i = 0; i < kKeys; ++i) {
    fixture.keys.push_back("api.example.com/users/" + std::to_string(i) + "?page=1");
    auto entry = std::make_shared<CachedResponse>();
    entry->key = fixture.keys.back();
    if (vary) entry->vary.push_back(sg::cache::VaryField{"accept-encoding", "gzip,br"});
    entry->headers.push_back({"Content-Type", "application/json"});
    entry->body = std::make_shared<const std::string>(512, 'x');
    entry->charge = sg::cache::estimateCharge(*entry);
    fixture.cache->insert(std::move(entry));
  }
  return fixture;
}

Fixture& fixtureFor(int64_t arg, bool vary) {
  static Fixture fixtures[2][2] = {
      {makeFixture(PolicyKind::kTinyLfu, false), makeFixture(PolicyKind::kTinyLfu, true)},
      {makeFixture(PolicyKind::kLru, false), makeFixture(PolicyKind::kLru, true)}};
  return fixtures[arg][vary ? 1 : 0];
}

void runLookup(benchmark::State& state, bool vary) {
  Fixture& fixture = fixtureFor(state.range(0), vary);
  const std::vector<sg::http::Header> headers = {
      {"Host", "api.example.com"}, {"User-Agent", "bench"}, {"Accept-Encoding", "gzip, br"}};
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  int64_t misses = 0;
  for (auto _ : state) {
    auto entry = fixture.cache->lookup(fixture.keys[i++ % kKeys], headers);
    misses += entry == nullptr;
    benchmark::DoNotOptimize(entry);
  }
  if (misses != 0) state.SkipWithError("lookup missed");
  state.SetItemsProcessed(state.iterations());
}

void BM_LookupHit(benchmark::State& state) { runLookup(state, false); }
void BM_LookupHitVary(benchmark::State& state) { runLookup(state, true); }

BENCHMARK(BM_LookupHit)->ArgName("lru")->Arg(0)->Arg(1)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_LookupHitVary)->ArgName("lru")->Arg(0)->Arg(1)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

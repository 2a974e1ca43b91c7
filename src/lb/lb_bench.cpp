// pick() cost per algorithm over 8 servers (the last one a backup): all healthy, and with
// two unhealthy; hash algorithms get a different key hash on each pick.
// Run: ./lb_bench (Google Benchmark prints ns per pick as Time).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "lb/balancer.h"

namespace {

using sg::lb::Algorithm;
using sg::lb::PickContext;
using sg::lb::ServerSpec;

void runPick(benchmark::State& state, Algorithm algorithm) {
  const bool some_unhealthy = state.range(0) != 0;
  const bool bounded = state.range(1) != 0;
  std::vector<ServerSpec> servers;
  for (uint32_t i = 0; i < 8; ++i) {
    servers.push_back(ServerSpec{i + 1, i == 7, "10.0.0." + std::to_string(i) + ":8080"});
  }
  std::vector<uint8_t> healthy(servers.size(), 1);
  if (some_unhealthy) healthy[1] = healthy[4] = 0;
  const std::vector<uint32_t> in_flight = {3, 1, 4, 1, 5, 9, 2, 6};
  std::vector<uint64_t> hashes(4096);
  for (size_t i = 0; i < hashes.size(); ++i) hashes[i] = sg::lb::hashKey(std::to_string(i));
  sg::lb::BalancerOptions options;
  options.algorithm = algorithm;
  options.seed = 1;
  options.hash_balance_factor = bounded ? 125 : 0;
  auto balancer = sg::lb::makeBalancer(options, servers);
  PickContext context{.healthy = healthy, .in_flight = in_flight, .has_hash = true};
  size_t i = 0;
  for (auto _ : state) {
    context.hash = hashes[i++ & 4095];
    benchmark::DoNotOptimize(balancer->pick(context));
  }
}

void BM_RoundRobin(benchmark::State& state) { runPick(state, Algorithm::kRoundRobin); }
void BM_WeightedRoundRobin(benchmark::State& state) {
  runPick(state, Algorithm::kWeightedRoundRobin);
}
void BM_LeastConn(benchmark::State& state) { runPick(state, Algorithm::kLeastConn); }
void BM_LeastRequest(benchmark::State& state) { runPick(state, Algorithm::kLeastRequest); }
void BM_Random(benchmark::State& state) { runPick(state, Algorithm::kRandom); }
void BM_Hash(benchmark::State& state) { runPick(state, Algorithm::kHash); }
void BM_RingHash(benchmark::State& state) { runPick(state, Algorithm::kRingHash); }
void BM_Maglev(benchmark::State& state) { runPick(state, Algorithm::kMaglev); }

// round_robin following an upstream's SharedRotation, as the workers do: one balancer per
// benchmark thread, one rotation for all (Threads(2): two workers contending for its line).
void BM_RoundRobinShared(benchmark::State& state) {
  static sg::lb::SharedRotation rotation;
  std::vector<ServerSpec> servers;
  for (uint32_t i = 0; i < 8; ++i) servers.push_back(ServerSpec{1, i == 7, ""});
  const std::vector<uint8_t> healthy(servers.size(), 1);
  sg::lb::BalancerOptions options;
  options.rotation = &rotation;
  auto balancer = sg::lb::makeBalancer(options, servers);
  const PickContext context{.healthy = healthy};
  for (auto _ : state) benchmark::DoNotOptimize(balancer->pick(context));
}

void BM_HashKey(benchmark::State& state) {
  const std::string key = "192.168.100.201";
  for (auto _ : state) benchmark::DoNotOptimize(sg::lb::hashKey(key));
}

void healthCases(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"unhealthy", "bounded"})->Args({0, 0})->Args({1, 0});
}
void hashCases(benchmark::internal::Benchmark* bench) {
  healthCases(bench);
  bench->Args({0, 1});
}

BENCHMARK(BM_RoundRobin)->Apply(healthCases);
BENCHMARK(BM_WeightedRoundRobin)->Apply(healthCases);
BENCHMARK(BM_LeastConn)->Apply(healthCases);
BENCHMARK(BM_LeastRequest)->Apply(healthCases);
BENCHMARK(BM_Random)->Apply(healthCases);
BENCHMARK(BM_Hash)->Apply(hashCases);
BENCHMARK(BM_RingHash)->Apply(hashCases);
BENCHMARK(BM_Maglev)->Apply(hashCases);
BENCHMARK(BM_HashKey);
BENCHMARK(BM_RoundRobinShared)->Threads(1)->Threads(2);

}  // namespace

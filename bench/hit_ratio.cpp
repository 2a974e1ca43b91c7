// sg_hit_ratio: replays key traces against each eviction policy of the cache (the same
// policy code, src/cache/policy.h, with unit-weight entries) and prints the hit ratio per
// trace, policy and cache size (0.1%, 1%, 10% of the trace's distinct keys).
//
//   sg_hit_ratio                 built-in traces; exits 1 unless tinylfu >= lru everywhere
//                                and beats it by >= 5 points on zipf+scan at 1%
//   sg_hit_ratio FILE...         replay traces read from files, one key per line
//   --requests N                 requests per generated trace (default 1500000)
//   --keys N                     distinct keys of the generated traces (default 100000)
// See bench/hit_ratio.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/frequency_sketch.h"
#include "cache/policy.h"

namespace {

using sg::cache::Eviction;
using sg::cache::PolicyKind;
using sg::cache::PolicyNode;

struct Trace {
  std::string name;
  std::vector<uint32_t> keys;  // dense ids
  uint32_t distinct = 0;
};

constexpr uint64_t kSeed = 20240607;
constexpr double kSizes[] = {0.001, 0.01, 0.1};
constexpr PolicyKind kPolicies[] = {PolicyKind::kLru, PolicyKind::kTinyLfu};

// Draws ranks 0..n-1 with P(rank) ~ 1 / (rank + 1)^alpha (inverse CDF by binary search).
class ZipfSampler {
 public:
  ZipfSampler(uint32_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (uint32_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha);
      cdf_[i] = sum;
    }
    for (double& value : cdf_) value /= sum;
  }
  uint32_t operator()(std::mt19937_64& rng) const {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<uint32_t>(std::min<size_t>(it - cdf_.begin(), cdf_.size() - 1));
  }

 private:
  std::vector<double> cdf_;
};

uint32_t countDistinct(const std::vector<uint32_t>& keys) {
  std::vector<bool> seen;
  uint32_t distinct = 0;
  for (uint32_t key : keys) {
    if (key >= seen.size()) seen.resize(key + 1);
    if (!seen[key]) {
      seen[key] = true;
      ++distinct;
    }
  }
  return distinct;
}

// Ids are compacted to 0..distinct-1 in first-seen order.
Trace finish(std::string name, std::vector<uint32_t> keys) {
  std::unordered_map<uint32_t, uint32_t> ids;
  for (uint32_t& key : keys)
    key = ids.try_emplace(key, static_cast<uint32_t>(ids.size())).first->second;
  Trace trace{std::move(name), std::move(keys), 0};
  trace.distinct = countDistinct(trace.keys);
  return trace;
}

Trace zipfTrace(double alpha, uint32_t keys, uint64_t requests) {
  std::mt19937_64 rng(kSeed);
  const ZipfSampler zipf(keys, alpha);
  std::vector<uint32_t> out(requests);
  for (uint32_t& key : out) key = zipf(rng);
  char name[32];
  std::snprintf(name, sizeof name, "zipf %.1f", alpha);
  return finish(name, std::move(out));
}

// The same keys in the same order again and again: more keys than any cache size holds.
Trace loopTrace(uint32_t keys, uint64_t requests) {
  std::vector<uint32_t> out(requests);
  for (uint64_t i = 0; i < requests; ++i) out[i] = static_cast<uint32_t>(i % keys);
  return finish("loop", std::move(out));
}

// Zipf 0.9 traffic; every `period` requests a one-off sequential scan of `scan_length`
// never-seen keys (a crawler, a batch export) is interleaved with it.
Trace zipfScanTrace(uint32_t keys, uint64_t requests) {
  std::mt19937_64 rng(kSeed + 1);
  const ZipfSampler zipf(keys, 0.9);
  const uint64_t period = 10'000;
  const uint64_t scan_length = 2'000;
  std::vector<uint32_t> out;
  out.reserve(requests);
  uint32_t next_scan_key = keys;
  while (out.size() < requests) {
    for (uint64_t i = 0; i < period && out.size() < requests; ++i) out.push_back(zipf(rng));
    for (uint64_t i = 0; i < scan_length && out.size() < requests; ++i) {
      out.push_back(next_scan_key++);
    }
  }
  return finish("zipf 0.9+scan", std::move(out));
}

bool readTraceFile(const std::string& path, Trace& trace) {
  std::ifstream in(path);
  if (!in) return false;
  std::unordered_map<std::string, uint32_t> ids;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    trace.keys.push_back(ids.try_emplace(line, static_cast<uint32_t>(ids.size())).first->second);
  }
  trace.name = path;
  trace.distinct = static_cast<uint32_t>(ids.size());
  return true;
}

struct Slot : PolicyNode {
  bool resident = false;
};

double replay(const Trace& trace, PolicyKind kind, uint64_t capacity) {
  auto policy = sg::cache::makePolicy(kind, capacity, 1);
  std::vector<Slot> slots(trace.distinct);
  std::vector<Eviction> evicted;
  uint64_t hits = 0;
  for (uint32_t key : trace.keys) {
    Slot& slot = slots[key];
    if (slot.resident) {
      ++hits;
      policy->onHit(slot);
      continue;
    }
    slot.hash = sg::cache::mix64(key + 1);
    slot.weight = 1;
    slot.resident = true;
    evicted.clear();
    policy->add(slot, evicted);
    for (const Eviction& eviction : evicted) static_cast<Slot*>(eviction.node)->resident = false;
  }
  return trace.keys.empty()
             ? 0
             : 100.0 * static_cast<double>(hits) / static_cast<double>(trace.keys.size());
}

struct Row {
  std::string trace;
  double size = 0;
  uint64_t capacity = 0;
  double ratio[2] = {0, 0};  // per kPolicies
};

std::vector<Row> run(const std::vector<Trace>& traces) {
  std::vector<Row> rows;
  for (const Trace& trace : traces) {
    for (double size : kSizes) {
      Row row{trace.name, size, std::max<uint64_t>(1, std::llround(size * trace.distinct))};
      for (size_t p = 0; p < 2; ++p) row.ratio[p] = replay(trace, kPolicies[p], row.capacity);
      rows.push_back(row);
    }
  }
  return rows;
}

void print(const std::vector<Trace>& traces, const std::vector<Row>& rows) {
  for (const Trace& trace : traces) {
    std::printf("# %-16s %9zu requests %8u distinct keys\n", trace.name.c_str(), trace.keys.size(),
                trace.distinct);
  }
  std::printf("\n| trace | size | entries | lru | tinylfu | tinylfu - lru |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Row& row : rows) {
    std::printf("| %s | %.1f%% | %llu | %.2f%% | %.2f%% | %+.2f |\n", row.trace.c_str(),
                row.size * 100, static_cast<unsigned long long>(row.capacity), row.ratio[0],
                row.ratio[1], row.ratio[1] - row.ratio[0]);
  }
}

// The claims bench/hit_ratio.md makes about the built-in traces.
bool check(const std::vector<Row>& rows) {
  bool ok = true;
  for (const Row& row : rows) {
    const double gain = row.ratio[1] - row.ratio[0];
    if (gain < 0) {
      std::printf("FAIL: tinylfu below lru on %s at %.1f%%\n", row.trace.c_str(), row.size * 100);
      ok = false;
    }
    if (row.trace == "zipf 0.9+scan" && row.size == 0.01 && gain < 5.0) {
      std::printf("FAIL: tinylfu gains only %.2f points on %s at 1%%\n", gain, row.trace.c_str());
      ok = false;
    }
  }
  if (ok) std::printf("\nOK: tinylfu >= lru everywhere; >= +5 points on zipf 0.9+scan at 1%%\n");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t requests = 1'500'000;
  uint32_t keys = 100'000;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--requests" || arg == "--keys") && i + 1 < argc) {
      const uint64_t value = std::strtoull(argv[++i], nullptr, 10);
      if (arg == "--requests") {
        requests = value;
      } else {
        keys = static_cast<uint32_t>(std::min<uint64_t>(value, UINT32_MAX / 2));
      }
    } else if (arg.starts_with("-")) {
      std::fprintf(stderr, "usage: sg_hit_ratio [--requests N] [--keys N] [TRACE_FILE...]\n");
      return 2;
    } else {
      files.emplace_back(arg);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<Trace> traces;
  for (const std::string& file : files) {
    Trace trace;
    if (!readTraceFile(file, trace)) {
      std::fprintf(stderr, "sg_hit_ratio: cannot read %s\n", file.c_str());
      return 2;
    }
    traces.push_back(std::move(trace));
  }
  if (files.empty() && (requests == 0 || keys == 0)) {
    std::fprintf(stderr, "sg_hit_ratio: --requests and --keys must be positive\n");
    return 2;
  }
  if (files.empty()) {
    for (double alpha : {0.7, 0.9, 1.1}) traces.push_back(zipfTrace(alpha, keys, requests));
    traces.push_back(loopTrace(keys, requests));
    traces.push_back(zipfScanTrace(keys, requests));
  }
  const std::vector<Row> rows = run(traces);
  print(traces, rows);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n(%.1f s)\n", seconds);
  if (!files.empty()) return 0;
  return check(rows) ? 0 : 1;
}

// Hot-path cost of the sharded metrics: Counter::inc and Histogram::observeMicros, on a
// worker's own shard (plain store) and on the shared last shard (fetch_add).
#include <benchmark/benchmark.h>

#include "metrics/metrics.h"

namespace {

constexpr uint32_t kShards = 9;  // 8 workers + the shared last shard

sg::metrics::Registry& registry() {
  static sg::metrics::Registry instance(kShards);
  return instance;
}

void pickShard(const benchmark::State& state) {
  // Arg 0: each benchmark thread on its own worker shard; Arg 1: the shared last shard.
  sg::metrics::setCurrentShard(state.range(0) == 0 ? static_cast<uint32_t>(state.thread_index())
                                                   : kShards - 1);
}

void BM_CounterInc(benchmark::State& state) {
  sg::metrics::Counter& counter = registry().counter("bench_total", "Bench.", {});
  pickShard(state);
  for (auto _ : state) counter.inc();
  benchmark::DoNotOptimize(counter.value());
}

void BM_HistogramObserveMicros(benchmark::State& state) {
  sg::metrics::Histogram& histogram = registry().histogram("bench_seconds", "Bench.", {});
  pickShard(state);
  uint64_t micros = 0;
  for (auto _ : state) {
    histogram.observeMicros(micros);
    micros = (micros + 7919) % 200'000;  // spread over the 0.5ms..0.25s buckets
  }
  benchmark::DoNotOptimize(histogram.snapshot().count);
}

BENCHMARK(BM_CounterInc)->Arg(0)->Arg(1)->Threads(1)->Threads(2);
BENCHMARK(BM_HistogramObserveMicros)->Arg(0)->Arg(1)->Threads(1)->Threads(2);

}  // namespace

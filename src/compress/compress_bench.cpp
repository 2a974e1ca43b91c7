// Cost of compressing one 10 KiB JSON-ish response: gzip levels 1 and 5, brotli qualities
// 1 and 4, through a CompressorPool (reused state) or a fresh Compressor per response.
// Run: ./compress_bench (Time = ns per response; bytes_per_second = input MB/s;
// ratio = compressed/original; peak_bytes = encoder memory held by one compressor).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "compress/compressor_pool.h"
#include "compress/test_data.h"

namespace {

using sg::compress::Compressor;
using sg::compress::CompressorPool;
using sg::compress::Encoding;

constexpr size_t kResponseSize = 10 * 1024;

void compressResponse(benchmark::State& state, Encoding encoding, bool pooled) {
  const int level = static_cast<int>(state.range(0));
  const std::string body = sg::compress::testing::jsonText(kResponseSize, 1);
  CompressorPool pool;
  sg::net::Buffer out(16 * 1024);
  size_t compressed = 0;
  size_t peak_memory = 0;
  for (auto _ : state) {
    out.clear();
    std::unique_ptr<Compressor> c;
    if (pooled) {
      c = pool.acquire(encoding, level);
    } else {
      c = std::make_unique<Compressor>();
      c->reset(encoding, level);
    }
    // Two body reads, as a proxied response usually arrives.
    c->compress(std::string_view(body).substr(0, kResponseSize / 2), &out);
    c->compress(std::string_view(body).substr(kResponseSize / 2), &out);
    c->finish(&out);
    compressed = out.size();
    peak_memory = c->peakMemoryBytes();
    benchmark::DoNotOptimize(out.data());
    if (pooled) pool.release(std::move(c));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kResponseSize));
  state.counters["ratio"] = static_cast<double>(compressed) / kResponseSize;
  state.counters["peak_bytes"] = static_cast<double>(peak_memory);
}

void gzipPooled(benchmark::State& state) { compressResponse(state, Encoding::kGzip, true); }
void gzipFresh(benchmark::State& state) { compressResponse(state, Encoding::kGzip, false); }
void brotliPooled(benchmark::State& state) { compressResponse(state, Encoding::kBrotli, true); }
void brotliFresh(benchmark::State& state) { compressResponse(state, Encoding::kBrotli, false); }

BENCHMARK(gzipPooled)->Arg(1)->Arg(5);
BENCHMARK(gzipFresh)->Arg(1)->Arg(5);
BENCHMARK(brotliPooled)->Arg(1)->Arg(4);
BENCHMARK(brotliFresh)->Arg(1)->Arg(4);

}  // namespace

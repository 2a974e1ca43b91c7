#include "compress/compressor.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "compress/test_codec.h"
#include "compress/test_data.h"

namespace sg::compress {
namespace {

using testing::decode;
using testing::jsonText;
using testing::randomBytes;

struct Setting {
  Encoding encoding;
  int level;
};

std::string name(const Setting& s) {
  return std::string(encodingToken(s.encoding)) + std::to_string(s.level);
}

// Feeds `input` in random-sized pieces (1..max_piece bytes) and finishes.
std::string compressInPieces(Compressor* c, std::string_view input, size_t max_piece,
                             uint32_t seed) {
  std::mt19937 rng(seed);
  net::Buffer out(1024);
  size_t offset = 0;
  while (offset < input.size()) {
    const size_t piece = std::min<size_t>(input.size() - offset, 1 + rng() % max_piece);
    EXPECT_TRUE(c->compress(input.substr(offset, piece), &out));
    offset += piece;
  }
  EXPECT_TRUE(c->finish(&out));
  EXPECT_TRUE(c->finished());
  return std::string(out.view());
}

std::string compressAll(Setting s, std::string_view input, size_t max_piece = 1 << 20,
                        uint32_t seed = 1) {
  Compressor c;
  EXPECT_TRUE(c.reset(s.encoding, s.level));
  return compressInPieces(&c, input, max_piece, seed);
}

void expectRoundTrip(Setting s, const std::string& input, const std::string& compressed) {
  auto decoded = decode(s.encoding, compressed);
  ASSERT_TRUE(decoded.ok) << name(s);
  EXPECT_TRUE(decoded.complete) << name(s);
  EXPECT_EQ(decoded.trailing, 0u) << name(s);
  ASSERT_EQ(decoded.data.size(), input.size()) << name(s);
  EXPECT_TRUE(decoded.data == input) << name(s);
}

class RoundTrip : public ::testing::TestWithParam<Setting> {};

TEST_P(RoundTrip, Empty) {
  const std::string compressed = compressAll(GetParam(), "");
  EXPECT_FALSE(compressed.empty());  // even an empty stream has a header/last block
  expectRoundTrip(GetParam(), "", compressed);
}

TEST_P(RoundTrip, OneByte) { expectRoundTrip(GetParam(), "x", compressAll(GetParam(), "x")); }

TEST_P(RoundTrip, RandomMiBInRandomPieces) {
  const std::string input = randomBytes(1 << 20, 7);
  const std::string compressed = compressAll(GetParam(), input, 20000, 3);
  expectRoundTrip(GetParam(), input, compressed);
  // Incompressible data must not blow up: stored blocks cost a few bytes per 16-64 KiB.
  EXPECT_LT(compressed.size(), input.size() + input.size() / 100 + 64) << name(GetParam());
}

TEST_P(RoundTrip, TextMiBInRandomPieces) {
  const std::string input = jsonText(1 << 20, 9);
  const std::string compressed = compressAll(GetParam(), input, 5000, 4);
  expectRoundTrip(GetParam(), input, compressed);
  // Measured: 0.17 (gzip9) to 0.34 (br0); an uncompressed or barely compressed copy fails.
  EXPECT_LT(compressed.size(), input.size() * 2 / 5) << name(GetParam());
  RecordProperty("ratio", std::to_string(static_cast<double>(compressed.size()) / input.size()));
}

TEST_P(RoundTrip, TinyPieces) {
  const std::string input = jsonText(30000, 2);
  expectRoundTrip(GetParam(), input, compressAll(GetParam(), input, 3, 5));
}

TEST_P(RoundTrip, FlushMakesEverythingSoFarDecodable) {
  const Setting s = GetParam();
  const std::string input = jsonText(200000, 11);
  Compressor c;
  ASSERT_TRUE(c.reset(s.encoding, s.level));
  net::Buffer out(1024);
  const size_t half = input.size() / 2 + 123;
  ASSERT_TRUE(c.compress(std::string_view(input).substr(0, half), &out));
  ASSERT_TRUE(c.flush(&out));
  auto prefix = decode(s.encoding, out.view());
  ASSERT_TRUE(prefix.ok);
  EXPECT_FALSE(prefix.complete);
  ASSERT_EQ(prefix.data.size(), half) << name(s);
  EXPECT_TRUE(prefix.data == input.substr(0, half));
  ASSERT_TRUE(c.flush(&out));  // a second flush with nothing new is harmless
  ASSERT_TRUE(c.compress(std::string_view(input).substr(half), &out));
  ASSERT_TRUE(c.finish(&out));
  expectRoundTrip(s, input, std::string(out.view()));
}

// The session flushes only when input was given since the last flush.
TEST_P(RoundTrip, TracksInputHeldSinceTheLastFlush) {
  const Setting s = GetParam();
  Compressor c;
  ASSERT_TRUE(c.reset(s.encoding, s.level));
  net::Buffer out(64);
  EXPECT_FALSE(c.holdsUnflushedInput());
  ASSERT_TRUE(c.compress("", &out));
  EXPECT_FALSE(c.holdsUnflushedInput());
  ASSERT_TRUE(c.compress("{\"a\": 1}", &out));
  EXPECT_TRUE(c.holdsUnflushedInput());
  ASSERT_TRUE(c.flush(&out));
  EXPECT_FALSE(c.holdsUnflushedInput());
  ASSERT_TRUE(c.compress("{\"b\": 2}", &out));
  ASSERT_TRUE(c.finish(&out));
  EXPECT_FALSE(c.holdsUnflushedInput());
  ASSERT_TRUE(c.reset(s.encoding, s.level));
  ASSERT_TRUE(c.compress("x", &out));
  ASSERT_TRUE(c.reset(s.encoding, s.level));
  EXPECT_FALSE(c.holdsUnflushedInput());
}

// Server-sent events: each event flushed; the client decodes every event as it arrives.
TEST_P(RoundTrip, FlushPerEvent) {
  const Setting s = GetParam();
  Compressor c;
  ASSERT_TRUE(c.reset(s.encoding, s.level));
  net::Buffer out(64);
  std::string sent;
  for (int i = 0; i < 50; ++i) {
    const std::string event = "data: {\"tick\": " + std::to_string(i) + "}\n\n";
    sent += event;
    ASSERT_TRUE(c.compress(event, &out));
    ASSERT_TRUE(c.flush(&out));
    auto decoded = decode(s.encoding, out.view());
    ASSERT_TRUE(decoded.ok);
    ASSERT_EQ(decoded.data, sent) << name(s) << " event " << i;
  }
  ASSERT_TRUE(c.finish(&out));
  expectRoundTrip(s, sent, std::string(out.view()));
}

TEST_P(RoundTrip, AppendsAfterExistingBytes) {
  Compressor c;
  ASSERT_TRUE(c.reset(GetParam().encoding, GetParam().level));
  net::Buffer out(16);
  std::memcpy(out.writePtr(), "HEAD", 4);
  out.commit(4);
  const std::string input = jsonText(5000, 1);
  ASSERT_TRUE(c.compress(input, &out));
  ASSERT_TRUE(c.finish(&out));
  ASSERT_EQ(out.view().substr(0, 4), "HEAD");
  expectRoundTrip(GetParam(), input, std::string(out.view().substr(4)));
  EXPECT_EQ(c.bytesIn(), input.size());
  EXPECT_EQ(c.bytesOut(), out.size() - 4);
}

TEST_P(RoundTrip, ResetStartsAFreshStream) {
  const Setting s = GetParam();
  Compressor c;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.reset(s.encoding, s.level));
    const std::string input = jsonText(10000 + i * 777, i);
    net::Buffer abandoned(1024);
    if (i % 2 == 1) {  // a stream dropped half-way must not leak into the next one
      ASSERT_TRUE(c.compress(jsonText(3000, 99), &abandoned));
      ASSERT_TRUE(c.reset(s.encoding, s.level));
    }
    expectRoundTrip(s, input, compressInPieces(&c, input, 4096, i));
  }
}

INSTANTIATE_TEST_SUITE_P(Settings, RoundTrip,
                         ::testing::Values(Setting{Encoding::kGzip, 1}, Setting{Encoding::kGzip, 5},
                                           Setting{Encoding::kGzip, 9},
                                           Setting{Encoding::kBrotli, 0},
                                           Setting{Encoding::kBrotli, 1},
                                           Setting{Encoding::kBrotli, 4},
                                           Setting{Encoding::kBrotli, 5}),
                         [](const auto& info) { return name(info.param); });

TEST(Compressor, GzipHeaderMagic) {
  const std::string out = compressAll({Encoding::kGzip, 5}, "hello");
  ASSERT_GE(out.size(), 18u);  // 10-byte header + data + 8-byte trailer
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x8b);
}

TEST(Compressor, HighestBrotliQualityOnSmallText) {
  const std::string input = jsonText(20000, 5);
  const std::string out = compressAll({Encoding::kBrotli, 11}, input);
  expectRoundTrip({Encoding::kBrotli, 11}, input, out);
  EXPECT_LT(out.size(), compressAll({Encoding::kGzip, 9}, input).size());
}

TEST(Compressor, HigherLevelsCompressTextBetter) {
  const std::string input = jsonText(200000, 8);
  EXPECT_LT(compressAll({Encoding::kGzip, 9}, input).size(),
            compressAll({Encoding::kGzip, 1}, input).size());
  EXPECT_LT(compressAll({Encoding::kBrotli, 5}, input).size(),
            compressAll({Encoding::kBrotli, 1}, input).size());
}

TEST(Compressor, CallsOutOfOrderFail) {
  Compressor c;
  net::Buffer out(64);
  EXPECT_FALSE(c.compress("x", &out));
  EXPECT_EQ(c.error(), CompressError::kBadState);
  EXPECT_FALSE(c.finish(&out));
  EXPECT_FALSE(c.flush(&out));
  ASSERT_TRUE(c.reset(Encoding::kGzip, 5));
  EXPECT_EQ(c.error(), CompressError::kNone);
  ASSERT_TRUE(c.finish(&out));
  EXPECT_FALSE(c.compress("x", &out));
  EXPECT_EQ(c.error(), CompressError::kBadState);
  EXPECT_FALSE(c.finish(&out));
  EXPECT_EQ(out.size(), compressAll({Encoding::kGzip, 5}, "").size());  // nothing extra
}

TEST(Compressor, BadArgumentsRefused) {
  Compressor c;
  net::Buffer out(64);
  const Setting bad[] = {{Encoding::kIdentity, 1},
                         {Encoding::kGzip, 0},
                         {Encoding::kGzip, 10},
                         {Encoding::kBrotli, -1},
                         {Encoding::kBrotli, 12}};
  for (const Setting& s : bad) {
    EXPECT_FALSE(c.reset(s.encoding, s.level)) << name(s);
    EXPECT_EQ(c.error(), CompressError::kBadArgument) << name(s);
    EXPECT_FALSE(c.compress("x", &out)) << name(s);
  }
  EXPECT_EQ(out.size(), 0u);
  ASSERT_TRUE(c.reset(Encoding::kGzip, 9));  // usable again afterwards
  ASSERT_TRUE(c.compress("abc", &out));
  ASSERT_TRUE(c.finish(&out));
  expectRoundTrip({Encoding::kGzip, 9}, "abc", std::string(out.view()));
}

TEST(Compressor, FullOutputBufferIsAnError) {
  for (Encoding encoding : {Encoding::kGzip, Encoding::kBrotli}) {
    Compressor c;
    ASSERT_TRUE(c.reset(encoding, 1));
    net::Buffer out(Compressor::kMaxOutputCapacity);
    out.commit(Compressor::kMaxOutputCapacity - 100);  // only 100 bytes of room left
    const std::string input = randomBytes(100000, 1);
    const bool ok = c.compress(input, &out) && c.finish(&out);
    EXPECT_FALSE(ok);
    EXPECT_EQ(c.error(), CompressError::kOutputFull);
    EXPECT_EQ(out.size(), Compressor::kMaxOutputCapacity);
    EXPECT_FALSE(c.compress("x", &out));  // failed streams stay failed until reset
  }
}

TEST(Compressor, GzipMemoryIsReusedAcrossResets) {
  Compressor c;
  ASSERT_TRUE(c.reset(Encoding::kGzip, 5));
  const size_t memory = c.memoryBytes();
  EXPECT_EQ(c.allocationCount(), 5u);  // state, window, prev, head, pending
  EXPECT_GT(memory, 200u * 1024);      // window 64 KiB + chains 64 + head 64 + pending 64
  EXPECT_LT(memory, 300u * 1024);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(c.reset(Encoding::kGzip, 1 + i % 9));
    compressInPieces(&c, jsonText(2000, i), 700, i);
  }
  EXPECT_EQ(c.memoryBytes(), memory);
  EXPECT_EQ(c.allocationCount(), 5u);
  EXPECT_TRUE(c.holdsGzipState());
  ASSERT_TRUE(c.reset(Encoding::kBrotli, 4));  // switching kind frees zlib's state
  EXPECT_FALSE(c.holdsGzipState());
  EXPECT_LT(c.memoryBytes(), 20u * 1024);
}

TEST(Compressor, BrotliTablesAreRecycledAcrossResets) {
  Compressor c;
  const std::string input = jsonText(10 * 1024, 3);
  ASSERT_TRUE(c.reset(Encoding::kBrotli, 4));
  compressInPieces(&c, input, 5000, 1);
  const uint64_t first_allocations = c.allocationCount();
  const size_t first_peak = c.peakMemoryBytes();
  EXPECT_GT(first_peak, 1000u * 1024);  // measured 1.24 MB at quality 4
  EXPECT_EQ(c.recycledCount(), 0u);
  c.park();
  EXPECT_TRUE(c.holdsBrotliCache());
  const size_t cached = c.memoryBytes();
  EXPECT_GT(cached, 1000u * 1024);  // the big tables stay
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(c.reset(Encoding::kBrotli, 4));
    expectRoundTrip({Encoding::kBrotli, 4}, input, compressInPieces(&c, input, 5000, i));
    c.park();
  }
  EXPECT_EQ(c.memoryBytes(), cached);
  EXPECT_EQ(c.peakMemoryBytes(), first_peak);
  EXPECT_GE(c.recycledCount(), 50u * 3);
  // Only small blocks still come from malloc: the large ones are served from the cache.
  EXPECT_LE(c.allocationCount() - first_allocations, 50u * (first_allocations - 3));
}

TEST(Compressor, BrotliCacheDroppedWhenQualityOrKindChanges) {
  Compressor c;
  ASSERT_TRUE(c.reset(Encoding::kBrotli, 4));
  compressInPieces(&c, jsonText(10 * 1024, 3), 5000, 1);
  c.park();
  ASSERT_TRUE(c.holdsBrotliCache());
  ASSERT_TRUE(c.reset(Encoding::kBrotli, 5));  // other table sizes: old blocks freed
  EXPECT_EQ(c.recycledCount(), 0u);
  compressInPieces(&c, jsonText(10 * 1024, 3), 5000, 1);
  c.park();
  ASSERT_TRUE(c.reset(Encoding::kGzip, 5));
  EXPECT_FALSE(c.holdsBrotliCache());
  EXPECT_LT(c.memoryBytes(), 300u * 1024);  // zlib's state only
  c.park();                                 // gzip state is kept by park()
  EXPECT_TRUE(c.holdsGzipState());
  c.dropCache();
  ASSERT_TRUE(c.reset(Encoding::kBrotli, 1));
  c.park();
  c.dropCache();
  EXPECT_EQ(c.memoryBytes(), 0u);
}

// The window limit bounds what a long brotli stream holds (4 MiB window: ~15 MiB).
TEST(Compressor, BrotliMemoryBoundedOnLongStreams) {
  Compressor c;
  ASSERT_TRUE(c.reset(Encoding::kBrotli, 4));
  const std::string input = jsonText(2 << 20, 4);
  compressInPieces(&c, input, 16384, 2);
  EXPECT_LT(c.peakMemoryBytes(), 5u << 20);  // 4-5 MB; ~15 MB with the default window
  c.park();
  EXPECT_GT(c.memoryBytes(), 1u << 20);  // some tables kept for the next stream...
  EXPECT_LE(c.memoryBytes(), 2u << 20);  // ...up to the cache cap
}

}  // namespace
}  // namespace sg::compress

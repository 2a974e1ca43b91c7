#include "compress/compressor_pool.h"

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

// One response through a pooled compressor; returns the compressed body.
std::string respond(CompressorPool* pool, Encoding encoding, int level, std::string_view body,
                    bool flush_midway = false) {
  auto c = pool->acquire(encoding, level);
  EXPECT_NE(c, nullptr);
  if (!c) return {};
  net::Buffer out(256);
  const size_t half = body.size() / 2;
  EXPECT_TRUE(c->compress(body.substr(0, half), &out));
  if (flush_midway) {
    EXPECT_TRUE(c->flush(&out));
  }
  EXPECT_TRUE(c->compress(body.substr(half), &out));
  EXPECT_TRUE(c->finish(&out));
  pool->release(std::move(c));
  return std::string(out.view());
}

TEST(CompressorPool, ThousandPooledResponsesAllDecode) {
  CompressorPool pool(4);
  std::mt19937 rng(42);
  for (int i = 0; i < 1000; ++i) {
    const Encoding encoding = (i % 3 == 0) ? Encoding::kBrotli : Encoding::kGzip;
    const int level =
        encoding == Encoding::kGzip ? 1 + static_cast<int>(rng() % 9) : static_cast<int>(rng() % 6);
    const std::string body = jsonText(rng() % 6000, static_cast<uint32_t>(i));
    const std::string compressed = respond(&pool, encoding, level, body, i % 7 == 0);
    auto decoded = decode(encoding, compressed);
    ASSERT_TRUE(decoded.ok && decoded.complete) << "response " << i;
    ASSERT_EQ(decoded.trailing, 0u) << "response " << i;
    ASSERT_TRUE(decoded.data == body) << "response " << i;
  }
  // One response at a time: one gzip and one brotli shell ever created.
  EXPECT_EQ(pool.stats().created, 2u);
  EXPECT_EQ(pool.stats().reused, 998u);
  EXPECT_EQ(pool.stats().dropped, 0u);
  EXPECT_EQ(pool.idleCount(), 2u);
}

TEST(CompressorPool, AbandonedStreamDoesNotLeakIntoTheNext) {
  CompressorPool pool;
  for (Encoding encoding : {Encoding::kGzip, Encoding::kBrotli}) {
    auto c = pool.acquire(encoding, 5);
    ASSERT_NE(c, nullptr);
    net::Buffer out(256);
    ASSERT_TRUE(c->compress(jsonText(50000, 1), &out));  // client went away mid-body
    pool.release(std::move(c));
    const std::string body = jsonText(20000, 2);
    auto decoded = decode(encoding, respond(&pool, encoding, 5, body));
    ASSERT_TRUE(decoded.ok && decoded.complete);
    EXPECT_TRUE(decoded.data == body);
  }
}

TEST(CompressorPool, IdleListsAreBounded) {
  CompressorPool pool(3);
  std::vector<std::unique_ptr<Compressor>> live;
  for (int i = 0; i < 10; ++i) live.push_back(pool.acquire(Encoding::kGzip, 5));
  for (int i = 0; i < 10; ++i) live.push_back(pool.acquire(Encoding::kBrotli, 4));
  net::Buffer out(256);
  for (int i = 10; i < 20; ++i) {  // brotli allocates its tables on the first input
    ASSERT_TRUE(live[i]->compress(jsonText(4000, 1), &out));
    ASSERT_TRUE(live[i]->finish(&out));
  }
  EXPECT_EQ(pool.stats().created, 20u);
  for (auto& c : live) pool.release(std::move(c));
  EXPECT_EQ(pool.idleCount(), 6u);  // 3 gzip + 3 brotli
  EXPECT_EQ(pool.stats().dropped, 14u);
  EXPECT_GT(pool.idleMemoryBytes(), 3u * (200 + 500) * 1024);  // measured 2.5 MB
  EXPECT_LT(pool.idleMemoryBytes(), 3u * (300 + 1500) * 1024);
}

TEST(CompressorPool, IdleMemoryIsBounded) {
  CompressorPool pool(8, 1024 * 1024);
  std::vector<std::unique_ptr<Compressor>> live;
  for (int i = 0; i < 8; ++i) live.push_back(pool.acquire(Encoding::kGzip, 5));
  for (auto& c : live) pool.release(std::move(c));
  EXPECT_EQ(pool.idleCount(), 3u);  // a fourth 268,096-byte zlib state would pass 1 MiB
  EXPECT_EQ(pool.stats().dropped, 5u);
  EXPECT_LE(pool.idleMemoryBytes(), 1024u * 1024);
  EXPECT_EQ(pool.idleMemoryBytes(), 3u * 268096);
  auto c = pool.acquire(Encoding::kGzip, 5);
  EXPECT_EQ(pool.idleMemoryBytes(), 2u * 268096);  // taken out of the count on acquire
  pool.release(std::move(c));
  EXPECT_EQ(pool.idleMemoryBytes(), 3u * 268096);
}

TEST(CompressorPool, EachKindReusesItsOwn) {
  CompressorPool pool;
  auto gzip = pool.acquire(Encoding::kGzip, 5);
  Compressor* gzip_one = gzip.get();
  pool.release(std::move(gzip));
  auto brotli = pool.acquire(Encoding::kBrotli, 4);
  EXPECT_NE(brotli.get(), gzip_one);  // the idle gzip compressor is left for gzip
  EXPECT_EQ(pool.stats().created, 2u);
  Compressor* brotli_one = brotli.get();
  net::Buffer out(256);
  ASSERT_TRUE(brotli->compress(jsonText(4000, 1), &out));
  ASSERT_TRUE(brotli->finish(&out));
  pool.release(std::move(brotli));
  EXPECT_GT(pool.idleMemoryBytes(), 500u * 1024);  // brotli tables kept (measured 840 KB)
  auto again = pool.acquire(Encoding::kGzip, 9);
  EXPECT_EQ(again.get(), gzip_one);
  EXPECT_EQ(again->allocationCount(), 5u);  // zlib's five blocks, allocated once
  auto brotli_again = pool.acquire(Encoding::kBrotli, 4);
  EXPECT_EQ(brotli_again.get(), brotli_one);
  EXPECT_EQ(pool.stats().created, 2u);
  auto third = pool.acquire(Encoding::kGzip, 1);  // none idle: a new one
  EXPECT_EQ(pool.stats().created, 3u);
  pool.release(std::move(again));
  pool.release(std::move(brotli_again));
  pool.release(std::move(third));
  EXPECT_EQ(pool.idleCount(), 3u);
}

TEST(CompressorPool, FailedResetReturnsNullAndKeepsTheCompressor) {
  CompressorPool pool;
  EXPECT_EQ(pool.acquire(Encoding::kGzip, 42), nullptr);
  EXPECT_EQ(pool.acquire(Encoding::kIdentity, 1), nullptr);
  EXPECT_EQ(pool.stats().created, 1u);  // the refused one went back and was reused
  EXPECT_EQ(pool.idleCount(), 1u);
  pool.release(nullptr);  // harmless
  EXPECT_EQ(pool.idleCount(), 1u);
  auto c = pool.acquire(Encoding::kGzip, 6);  // the same compressor works after a refusal
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(pool.stats().created, 1u);
}

}  // namespace
}  // namespace sg::compress

// Partial responses (RFC 9111 3.3, 3.4): Content-Range parsing, storing a 206 as a partial
// entry, planning ranges against it, and the strong validators that allow combining parts.
#include "cache/partial.h"

#include <gtest/gtest.h>

#include "cache/ranges.h"
#include "cache/test_support.h"

namespace sg::cache {
namespace {

using testing::kNow;
using testing::kNowDate;

http::ResponseHead partialResponse(testing::HeaderList list, uint64_t length) {
  http::ResponseHead head = testing::response(206, list);
  head.body = http::BodyKind::kContentLength;
  head.content_length = length;
  return head;
}

StoreResult store(const http::ResponseHead& response,
                  testing::HeaderList request = {{"Range", "bytes=-5"}}) {
  return makeStoredResponse("k", testing::request(request), response, kNow, kNow, testing::route());
}

std::shared_ptr<const CachedResponse> withBytes(const StoreResult& result, std::string bytes) {
  return withBody(*result.entry, std::move(bytes), 1 << 20, 0);
}

TEST(Partial, ParsesContentRange) {
  EXPECT_EQ(parseContentRange("bytes 4-9/10"), (ContentRange{4, 9, 10}));
  EXPECT_EQ(parseContentRange(" BYTES 0-0/1 "), (ContentRange{0, 0, 1}));
  for (const char* value :
       {"", "bytes", "bytes 4-9/*", "bytes */10", "bytes 5-4/10", "bytes 0-10/10", "items 0-1/2",
        "bytes 0-1", "bytes a-1/2", "bytes 0-1/99999999999999999999"}) {
    SCOPED_TRACE(value);
    EXPECT_FALSE(parseContentRange(value).has_value());
  }
}

TEST(Partial, StoresA206AsAPartialEntry) {
  const auto result = store(partialResponse(
      {{"Cache-Control", "max-age=3600"}, {"Content-Range", "bytes 4-9/10"}, {"Date", kNowDate}},
      6));
  ASSERT_EQ(result.verdict, StoreVerdict::kStore);
  EXPECT_TRUE(result.entry->partial());
  EXPECT_EQ(result.entry->partial_first, 4u);
  EXPECT_EQ(result.entry->complete_length, 10u);
  EXPECT_EQ(result.entry->lifetime, std::chrono::seconds{3600});
  EXPECT_FALSE(result.entry->header("content-range").has_value());  // sent per slice
  EXPECT_EQ(partialLast(*withBytes(result, "456789")), 9u);
}

TEST(Partial, A206HoldingEverythingIsStoredComplete) {
  const auto result = store(
      partialResponse({{"Cache-Control", "max-age=60"}, {"Content-Range", "bytes 0-9/10"}}, 10));
  ASSERT_EQ(result.verdict, StoreVerdict::kStore);
  EXPECT_EQ(result.entry->status, 200);
}

TEST(Partial, RefusesWhatCannotBeStored) {
  // Unknown length, no or two Content-Range fields, a length not matching, chunked.
  EXPECT_EQ(
      store(partialResponse({{"Cache-Control", "max-age=60"}, {"Content-Range", "bytes 0-4/*"}}, 5))
          .verdict,
      StoreVerdict::kRange);
  EXPECT_EQ(store(partialResponse({{"Cache-Control", "max-age=60"}}, 5)).verdict,
            StoreVerdict::kRange);
  EXPECT_EQ(store(partialResponse({{"Cache-Control", "max-age=60"},
                                   {"Content-Range", "bytes 0-4/10"},
                                   {"Content-Range", "bytes 0-4/10"}},
                                  5))
                .verdict,
            StoreVerdict::kRange);
  EXPECT_EQ(store(partialResponse(
                      {{"Cache-Control", "max-age=60"}, {"Content-Range", "bytes 0-4/10"}}, 4))
                .verdict,
            StoreVerdict::kRange);
  auto chunked =
      partialResponse({{"Cache-Control", "max-age=60"}, {"Content-Range", "bytes 0-4/10"}}, 0);
  chunked.body = http::BodyKind::kChunked;
  EXPECT_EQ(store(chunked).verdict, StoreVerdict::kRange);
  // The usual rules still apply.
  EXPECT_EQ(
      store(partialResponse({{"Cache-Control", "no-store"}, {"Content-Range", "bytes 0-4/10"}}, 5))
          .verdict,
      StoreVerdict::kNoStore);
}

TEST(Partial, A200ToARangeRequestIsStoredComplete) {
  http::ResponseHead whole = testing::response(200, {{"Cache-Control", "max-age=60"}});
  const auto result = store(whole, {{"Range", "bytes=0-1"}, {"If-Range", "\"x\""}});
  ASSERT_EQ(result.verdict, StoreVerdict::kStore);
  EXPECT_EQ(result.entry->status, 200);
}

TEST(Partial, PlansRangesInsideTheStoredBytes) {
  const auto head = store(
      partialResponse({{"Cache-Control", "max-age=3600"}, {"Content-Range", "bytes 4-9/10"}}, 6));
  const auto entry = withBytes(head, "456789");
  const auto plan = [&](ByteRangeSpec spec) { return planRange(spec, std::nullopt, *entry); };
  EXPECT_EQ(plan({true, 5, std::nullopt}).slice, (ByteSlice{true, 5, 9}));  // bytes=-5
  EXPECT_EQ(plan({false, 6, 8}).slice, (ByteSlice{true, 6, 8}));
  EXPECT_EQ(plan({false, 6, std::nullopt}).slice, (ByteSlice{true, 6, 9}));
  EXPECT_EQ(plan({true, 1, std::nullopt}).slice, (ByteSlice{true, 9, 9}));
  EXPECT_EQ(plan({false, 6, 8}).length, 10u);
  EXPECT_EQ(plan({false, 6, 8}).answer, RangeAnswer::kPartial);
  // Bytes it does not hold: cannot answer.
  EXPECT_EQ(plan({false, 0, 5}).answer, RangeAnswer::kWhole);
  EXPECT_EQ(plan({true, 7, std::nullopt}).answer, RangeAnswer::kWhole);
  EXPECT_EQ(plan({false, 3, std::nullopt}).answer, RangeAnswer::kWhole);
  // Past the representation's end: 416 with its length.
  EXPECT_EQ(plan({false, 10, std::nullopt}).answer, RangeAnswer::kUnsatisfiable);
  // If-Range needs a strong match, which an entry without validators never has.
  EXPECT_EQ(planRange({false, 6, 8}, "\"v\"", *entry).answer, RangeAnswer::kWhole);
}

TEST(Partial, StrongValidators) {
  CachedResponse a;
  CachedResponse b;
  a.response_time = b.response_time = kNow;
  EXPECT_FALSE(strongValidatorsMatch(a, b));  // none at all
  a.etag = b.etag = "\"v1\"";
  EXPECT_TRUE(strongValidatorsMatch(a, b));
  EXPECT_EQ(ifRangeValidator(a), "\"v1\"");
  b.etag = "\"v2\"";
  EXPECT_FALSE(strongValidatorsMatch(a, b));
  a.etag = b.etag = "W/\"v1\"";
  EXPECT_FALSE(strongValidatorsMatch(a, b));
  EXPECT_EQ(ifRangeValidator(a), "");
  // Last-Modified is strong a second before the Date (RFC 9110 8.8.2.2).
  a.etag = b.etag = "";
  a.last_modified = b.last_modified = "Fri, 31 May 2024 00:00:00 GMT";
  a.headers = b.headers = {{"Date", std::string(kNowDate)}};
  EXPECT_TRUE(strongValidatorsMatch(a, b));
  EXPECT_EQ(ifRangeValidator(a), "Fri, 31 May 2024 00:00:00 GMT");
  b.headers = {{"Date", "Fri, 31 May 2024 00:00:00 GMT"}};
  EXPECT_FALSE(strongValidatorsMatch(a, b));
}

TEST(Partial, ContinuesOnlyWithTheMissingBytesAndTheSameStrongValidator) {
  const auto head = store(partialResponse(
      {{"Cache-Control", "max-age=3600"}, {"Content-Range", "bytes 0-3/10"}, {"ETag", "\"v1\""}},
      4));
  const auto entry = withBytes(head, "0123");
  const auto rest = [](std::string_view range, std::string_view etag, uint64_t length) {
    return partialResponse({{"Content-Range", range}, {"ETag", etag}}, length);
  };
  EXPECT_TRUE(continuesPartial(*entry, rest("bytes 4-9/10", "\"v1\"", 6)));
  EXPECT_FALSE(continuesPartial(*entry, rest("bytes 4-9/10", "\"v2\"", 6)));
  EXPECT_FALSE(continuesPartial(*entry, rest("bytes 4-9/10", "W/\"v1\"", 6)));
  EXPECT_FALSE(continuesPartial(*entry, rest("bytes 5-9/10", "\"v1\"", 5)));   // a gap
  EXPECT_FALSE(continuesPartial(*entry, rest("bytes 4-8/10", "\"v1\"", 5)));   // short
  EXPECT_FALSE(continuesPartial(*entry, rest("bytes 4-10/11", "\"v1\"", 7)));  // other length
  EXPECT_FALSE(continuesPartial(*entry, rest("bytes 4-9/10", "\"v1\"", 5)));   // framing
  auto whole = testing::response(200, {{"ETag", "\"v1\""}});
  EXPECT_FALSE(continuesPartial(*entry, whole));
  // Without validators on either side nothing may be combined.
  const auto bare =
      withBytes(store(partialResponse(
                    {{"Cache-Control", "max-age=60"}, {"Content-Range", "bytes 0-3/10"}}, 4)),
                "0123");
  EXPECT_FALSE(continuesPartial(*bare, partialResponse({{"Content-Range", "bytes 4-9/10"}}, 6)));
}

std::shared_ptr<const CachedResponse> part(std::string_view range, std::string bytes,
                                           std::string_view etag = "\"v1\"") {
  const auto head = store(partialResponse(
      {{"Cache-Control", "max-age=60"}, {"Content-Range", range}, {"ETag", etag}}, bytes.size()));
  return withBytes(head, std::move(bytes));
}

TEST(Partial, ExtendsAPartialEntryWithTouchingOrOverlappingParts) {
  const auto older = part("bytes 2-5/10", "2345");
  const auto merged = extendPartial(*older, part("bytes 6-7/10", "67"), 1 << 20);
  EXPECT_TRUE(merged->partial());
  EXPECT_EQ(merged->partial_first, 2u);
  EXPECT_EQ(merged->bodyBytes(), "234567");
  const auto before = extendPartial(*older, part("bytes 0-3/10", "0123"), 1 << 20);
  EXPECT_EQ(before->partial_first, 0u);
  EXPECT_EQ(before->bodyBytes(), "012345");
  // Everything held: a complete 200.
  const auto whole = extendPartial(*merged, part("bytes 0-9/10", "0123456789"), 1 << 20);
  EXPECT_EQ(whole->status, 200);
  const auto all = extendPartial(*before, part("bytes 6-9/10", "6789"), 1 << 20);
  EXPECT_EQ(all->status, 200);
  EXPECT_EQ(all->bodyBytes(), "0123456789");
  EXPECT_EQ(all->complete_length, 0u);
  // A gap, another validator or another length: the newer part alone.
  const auto gap = part("bytes 7-8/10", "78");
  EXPECT_EQ(extendPartial(*older, gap, 1 << 20), gap);
  const auto other = part("bytes 6-7/10", "67", "\"v2\"");
  EXPECT_EQ(extendPartial(*older, other, 1 << 20), other);
  const auto longer = part("bytes 6-7/11", "67");
  EXPECT_EQ(extendPartial(*older, longer, 1 << 20), longer);
  EXPECT_EQ(extendPartial(*older, part("bytes 6-7/10", "67"), 5)->bodyBytes(), "67");
}

}  // namespace
}  // namespace sg::cache

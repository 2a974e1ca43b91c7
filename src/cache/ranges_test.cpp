// Byte ranges from a stored response: Range parsing, resolving against the body length,
// If-Range matching, the 206/416/whole decision and the Content-Range line.
#include "cache/ranges.h"

#include <gtest/gtest.h>

#include <memory>

#include "cache/test_support.h"

namespace sg::cache {
namespace {

using testing::kNow;
using testing::kNowDate;

ByteRangeSpec span(uint64_t first, std::optional<uint64_t> last) { return {false, first, last}; }
ByteRangeSpec suffix(uint64_t length) { return {true, length, std::nullopt}; }

std::shared_ptr<CachedResponse> stored(std::string body, int status = 200) {
  auto entry = std::make_shared<CachedResponse>();
  entry->status = status;
  entry->body = std::make_shared<const std::string>(std::move(body));
  entry->response_time = kNow;
  entry->headers.push_back({"Date", std::string(kNowDate)});
  return entry;
}

TEST(Ranges, ParsesOneByteRange) {
  struct Case {
    const char* value;
    ByteRangeSpec expected;
  };
  const Case cases[] = {
      {"bytes=0-1", span(0, 1)},
      {"bytes=1-", span(1, std::nullopt)},
      {"bytes=-1", suffix(1)},
      {"bytes=-0", suffix(0)},  // valid syntax, never satisfiable
      {"BYTES=5-5", span(5, 5)},
      {" bytes=2-3 ", span(2, 3)},
      {"bytes= 2-3 ,", span(2, 3)},  // OWS and empty list elements
      {"bytes=0-99999999999999999999999", span(0, UINT64_MAX)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    const auto parsed = parseSingleByteRange(c.value);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, c.expected);
  }
}

TEST(Ranges, RejectsWhatIsAnsweredWhole) {
  for (const char* value :
       {"", "bytes", "bytes=", "bytes=,", "items=0-1", "bytes =0-1", "bytes=5-4", "bytes=a-b",
        "bytes=1", "bytes=--1", "bytes=-", "bytes=+1-2", "bytes=1-2-3", "bytes=0-1,5-6",
        "bytes=0-1, -1", "bytes=0-1,x"}) {
    SCOPED_TRACE(value);
    EXPECT_FALSE(parseSingleByteRange(value).has_value());
  }
}

TEST(Ranges, ResolvesAgainstTheLength) {
  EXPECT_EQ(resolveByteRange(span(0, 1), 11), (ByteSlice{true, 0, 1}));
  EXPECT_EQ(resolveByteRange(span(1, std::nullopt), 11), (ByteSlice{true, 1, 10}));
  EXPECT_EQ(resolveByteRange(span(3, 100), 11), (ByteSlice{true, 3, 10}));  // clipped
  EXPECT_EQ(resolveByteRange(span(10, 10), 11), (ByteSlice{true, 10, 10}));
  EXPECT_EQ(resolveByteRange(suffix(1), 11), (ByteSlice{true, 10, 10}));
  EXPECT_EQ(resolveByteRange(suffix(50), 11), (ByteSlice{true, 0, 10}));  // whole body
  EXPECT_EQ(resolveByteRange(span(0, UINT64_MAX), 11).size(), 11u);
  // Unsatisfiable: first-pos at or past the end, zero suffix, empty representation.
  EXPECT_FALSE(resolveByteRange(span(11, std::nullopt), 11).satisfiable);
  EXPECT_FALSE(resolveByteRange(span(UINT64_MAX, std::nullopt), 11).satisfiable);
  EXPECT_FALSE(resolveByteRange(suffix(0), 11).satisfiable);
  EXPECT_FALSE(resolveByteRange(suffix(5), 0).satisfiable);
  EXPECT_FALSE(resolveByteRange(span(0, 0), 0).satisfiable);
}

TEST(Ranges, IfRangeEntityTagNeedsAStrongMatch) {
  auto entry = stored("0123456789");
  entry->etag = "\"v1\"";
  EXPECT_TRUE(ifRangeMatches("\"v1\"", *entry));
  EXPECT_TRUE(ifRangeMatches(" \"v1\" ", *entry));
  EXPECT_FALSE(ifRangeMatches("\"v2\"", *entry));
  EXPECT_FALSE(ifRangeMatches("W/\"v1\"", *entry));
  entry->etag = "W/\"v1\"";
  EXPECT_FALSE(ifRangeMatches("W/\"v1\"", *entry));
  EXPECT_FALSE(ifRangeMatches("\"v1\"", *entry));
  entry->etag.clear();
  EXPECT_FALSE(ifRangeMatches("\"v1\"", *entry));
}

TEST(Ranges, IfRangeDateMatchesAStrongLastModifiedExactly) {
  auto entry = stored("0123456789");
  entry->last_modified = "Fri, 31 May 2024 00:00:00 GMT";
  EXPECT_TRUE(ifRangeMatches("Fri, 31 May 2024 00:00:00 GMT", *entry));
  EXPECT_TRUE(ifRangeMatches("Friday, 31-May-24 00:00:00 GMT", *entry));  // same date
  EXPECT_FALSE(ifRangeMatches("Fri, 31 May 2024 00:00:01 GMT", *entry));
  EXPECT_FALSE(ifRangeMatches("Thu, 30 May 2024 00:00:00 GMT", *entry));
  EXPECT_FALSE(ifRangeMatches("not a date", *entry));
  // Weak: modified in the same second as the response's Date.
  entry->last_modified = std::string(kNowDate);
  EXPECT_FALSE(ifRangeMatches(kNowDate, *entry));
  entry->last_modified.clear();
  EXPECT_FALSE(ifRangeMatches("Fri, 31 May 2024 00:00:00 GMT", *entry));
}

TEST(Ranges, PlansPartialUnsatisfiableOrWhole) {
  auto entry = stored("01234567890");
  entry->etag = "\"v1\"";
  RangePlan plan = planRange(span(0, 1), std::nullopt, *entry);
  EXPECT_EQ(plan.answer, RangeAnswer::kPartial);
  EXPECT_EQ(plan.slice, (ByteSlice{true, 0, 1}));
  EXPECT_EQ(plan.length, 11u);
  EXPECT_EQ(planRange(span(0, 1), "\"v1\"", *entry).answer, RangeAnswer::kPartial);
  EXPECT_EQ(planRange(span(20, std::nullopt), std::nullopt, *entry).answer,
            RangeAnswer::kUnsatisfiable);
  // A failed If-Range means the whole response, even for an unsatisfiable range.
  EXPECT_EQ(planRange(span(0, 1), "\"v2\"", *entry).answer, RangeAnswer::kWhole);
  EXPECT_EQ(planRange(span(20, std::nullopt), "\"v2\"", *entry).answer, RangeAnswer::kWhole);
  // Ranges apply to a 200 with a body only.
  EXPECT_EQ(planRange(span(0, 1), std::nullopt, *stored("gone", 404)).answer, RangeAnswer::kWhole);
  EXPECT_EQ(planRange(span(0, 1), std::nullopt, *stored("")).answer, RangeAnswer::kWhole);
}

TEST(Ranges, ContentRangeLine) {
  auto entry = stored("01234567890");
  std::string out;
  appendContentRangeLine(&out, planRange(suffix(1), std::nullopt, *entry));
  EXPECT_EQ(out, "Content-Range: bytes 10-10/11\r\n");
  out.clear();
  appendContentRangeLine(&out, planRange(span(11, std::nullopt), std::nullopt, *entry));
  EXPECT_EQ(out, "Content-Range: bytes */11\r\n");
  out.clear();
  appendContentRangeLine(&out, RangePlan{});
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace sg::cache

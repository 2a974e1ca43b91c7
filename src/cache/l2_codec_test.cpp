// L2 entry bytes: round trips, hostile input (truncations, bogus lengths, wrong version,
// trailing bytes, inconsistent fields) and the variant / vary-names hash fields.
#include "cache/l2_codec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>

#include "cache/test_support.h"

namespace sg::cache {
namespace {

using namespace std::chrono_literals;
using testing::kNow;

// Builds encodings by hand, field by field as l2_codec.h documents the format, so the tests
// check the documented layout rather than whatever encodeL2Entry happens to write.
struct Bytes {
  std::string out;
  Bytes& uint(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
    return *this;
  }
  Bytes& u8(uint8_t value) { return uint(value, 1); }
  Bytes& u16(uint16_t value) { return uint(value, 2); }
  Bytes& u32(uint32_t value) { return uint(value, 4); }
  Bytes& u64(uint64_t value) { return uint(value, 8); }
  Bytes& str(std::string_view text) {
    u32(static_cast<uint32_t>(text.size()));
    out.append(text);
    return *this;
  }
};

struct Minimal {
  uint8_t version = kL2FormatVersion;
  uint32_t key_length = 1;
  uint32_t vary_count = 0;
  uint16_t status = 200;
  uint32_t header_count = 0;
  uint8_t no_cache = 0;
  uint64_t partial_first = 0;
  uint64_t complete_length = 0;
  uint32_t body_length = 4;
};

// key "k", no vary, no headers, times 1..6 ms, etag "e", no Last-Modified, body "body".
std::string minimalBytes(const Minimal& m = {}) {
  Bytes b;
  b.u8(m.version).u32(m.key_length).out.append("k");
  b.u32(m.vary_count).u16(m.status).u32(m.header_count);
  for (uint64_t ms = 1; ms <= 6; ++ms) b.u64(ms);
  b.u8(m.no_cache).u8(0).str("e").str("").u64(m.partial_first).u64(m.complete_length);
  b.u32(m.body_length).out.append("body");
  return b.out;
}

std::string decodeError(std::string_view bytes) {
  std::string error;
  const auto entry = decodeL2Entry(bytes, 0, &error);
  EXPECT_EQ(entry, nullptr);
  return error;
}

CachedResponse fullEntry(std::string body) {
  CachedResponse entry;
  entry.key = "api.example.com/users/7?page=2";
  entry.vary = {{"accept-encoding", "br,gzip"},
                {"accept-language", std::nullopt},
                {"x-tenant", std::string()}};
  entry.status = 206;
  // Bytes a parser never lets through still survive: NUL, CR LF, high bytes, empty parts.
  entry.headers = {{"Date", std::string(testing::kNowDate)},
                   {"X-Odd", std::string("a\0b\r\n\xff\x80:;", 9)},
                   {"x-EMPTY", ""},
                   {"", "nameless"},
                   {"Set-Cookie", "a=1"},
                   {"Set-Cookie", "b=2"}};
  entry.body = std::make_shared<const std::string>(std::move(body));
  entry.request_time = kNow - 250ms;
  entry.response_time = kNow;
  entry.corrected_initial_age = 1500ms;
  entry.lifetime = 60s;
  entry.stale_while_revalidate = 30s;
  entry.stale_if_error = 24h;
  entry.no_cache = true;
  entry.never_stale = false;
  entry.etag = "\"v1\"";
  entry.last_modified = "Fri, 31 May 2024 00:00:00 GMT";
  entry.partial_first = 100;
  entry.complete_length = 1000;
  entry.charge = 12345;  // not stored: rebuilt on decode
  entry.owner = 9;       // not stored: the decoder's argument
  return entry;
}

void expectSameStoredFields(const CachedResponse& a, const CachedResponse& b) {
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.vary, b.vary);
  EXPECT_EQ(a.status, b.status);
  ASSERT_EQ(a.headers.size(), b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers[i].name, b.headers[i].name) << i;
    EXPECT_EQ(a.headers[i].value, b.headers[i].value) << i;
  }
  ASSERT_NE(b.body, nullptr);
  EXPECT_EQ(a.bodyBytes(), b.bodyBytes());
  EXPECT_EQ(a.request_time, b.request_time);
  EXPECT_EQ(a.response_time, b.response_time);
  EXPECT_EQ(a.corrected_initial_age, b.corrected_initial_age);
  EXPECT_EQ(a.lifetime, b.lifetime);
  EXPECT_EQ(a.stale_while_revalidate, b.stale_while_revalidate);
  EXPECT_EQ(a.stale_if_error, b.stale_if_error);
  EXPECT_EQ(a.no_cache, b.no_cache);
  EXPECT_EQ(a.never_stale, b.never_stale);
  EXPECT_EQ(a.etag, b.etag);
  EXPECT_EQ(a.last_modified, b.last_modified);
  EXPECT_EQ(a.partial_first, b.partial_first);
  EXPECT_EQ(a.complete_length, b.complete_length);
}

TEST(L2Codec, RoundTripsAFullEntry) {
  for (std::string body : {std::string("0123456789\0\xff", 12), std::string()}) {
    SCOPED_TRACE(body.size());
    const CachedResponse original = fullEntry(body);
    const std::string bytes = encodeL2Entry(original);
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(static_cast<uint8_t>(bytes[0]), kL2FormatVersion);

    std::string error;
    const auto decoded = decodeL2Entry(bytes, 3, &error);
    ASSERT_NE(decoded, nullptr) << error;
    expectSameStoredFields(original, *decoded);
    // Derived and local fields are rebuilt, not carried.
    CachedResponse expected = original;
    renderWireHeaders(expected);
    EXPECT_EQ(decoded->wire_headers, expected.wire_headers);
    EXPECT_NE(decoded->wire_headers.find(std::string("X-Odd: a\0b\r\n\xff\x80:;\r\n", 16)),
              std::string::npos);
    EXPECT_EQ(decoded->charge, estimateCharge(*decoded));
    EXPECT_NE(decoded->charge, 12345u);
    EXPECT_EQ(decoded->owner, 3u);
    // Encoding is deterministic: the decoded entry encodes to the same bytes.
    EXPECT_EQ(encodeL2Entry(*decoded), bytes);
  }
}

TEST(L2Codec, RoundTripsACompleteEntryWithoutVaryOrBody) {
  CachedResponse original;
  original.key = "t/a";
  original.status = 200;
  original.request_time = kNow - 1ms;
  original.response_time = kNow;
  original.never_stale = true;
  // body left null: it decodes as an empty body, never null.
  std::string error;
  const auto decoded = decodeL2Entry(encodeL2Entry(original), 0, &error);
  ASSERT_NE(decoded, nullptr) << error;
  expectSameStoredFields(original, *decoded);
  EXPECT_TRUE(decoded->vary.empty());
  EXPECT_TRUE(decoded->wire_headers.empty());
  EXPECT_EQ(decoded->charge, estimateCharge(*decoded));
}

TEST(L2Codec, EncodingIsTheDocumentedLayout) {
  CachedResponse entry;
  entry.key = "k";
  entry.status = 200;
  entry.request_time = Time{1ms};
  entry.response_time = Time{2ms};
  entry.corrected_initial_age = 3ms;
  entry.lifetime = 4ms;
  entry.stale_while_revalidate = 5ms;
  entry.stale_if_error = 6ms;
  entry.etag = "e";
  entry.body = std::make_shared<const std::string>("body");
  EXPECT_EQ(encodeL2Entry(entry), minimalBytes());
  std::string error;
  EXPECT_NE(decodeL2Entry(minimalBytes(), 0, &error), nullptr) << error;
}

TEST(L2Codec, RejectsEveryTruncation) {
  const std::string bytes = encodeL2Entry(fullEntry("some body bytes"));
  ASSERT_NE(decodeL2Entry(bytes, 0, nullptr), nullptr);
  for (size_t size = 0; size < bytes.size(); ++size) {
    SCOPED_TRACE(size);
    // A copy of exactly `size` bytes, so ASan sees any read past the prefix.
    const std::string prefix = bytes.substr(0, size);
    const std::string error = decodeError(prefix);
    EXPECT_TRUE(error == "truncated" || error == "length past the end" ||
                error == "count past the end")
        << error;
  }
}

TEST(L2Codec, RejectsAWrongVersion) {
  Minimal m;
  m.version = 0;
  EXPECT_EQ(decodeError(minimalBytes(m)), "unsupported version 0");
  m.version = kL2FormatVersion + 1;
  EXPECT_EQ(decodeError(minimalBytes(m)), "unsupported version 2");
}

TEST(L2Codec, RejectsTrailingBytes) {
  EXPECT_EQ(decodeError(minimalBytes() + "x"), "trailing bytes");
  EXPECT_EQ(decodeError(encodeL2Entry(fullEntry("b")) + std::string(1, '\0')), "trailing bytes");
}

TEST(L2Codec, RejectsLengthsPastTheEnd) {
  Minimal m;
  m.body_length = 5;  // one more than there is
  EXPECT_EQ(decodeError(minimalBytes(m)), "length past the end");
  m = {};
  m.key_length = 0xffffffff;  // must fail before allocating 4 GiB
  EXPECT_EQ(decodeError(minimalBytes(m)), "length past the end");
  m = {};
  m.header_count = 0xffffffff;  // must fail before reserving 4 G headers
  EXPECT_EQ(decodeError(minimalBytes(m)), "count past the end");
  m = {};
  m.vary_count = 0x10000000;
  EXPECT_EQ(decodeError(minimalBytes(m)), "count past the end");
}

TEST(L2Codec, RejectsAStatusOutsideTheHttpRange) {
  for (uint16_t status : {0, 99, 1000, 65535}) {
    Minimal m;
    m.status = status;
    EXPECT_EQ(decodeError(minimalBytes(m)), "status out of range") << status;
  }
  for (uint16_t status : {100, 999}) {
    Minimal m;
    m.status = status;
    EXPECT_NE(decodeL2Entry(minimalBytes(m), 0, nullptr), nullptr) << status;
  }
}

TEST(L2Codec, RejectsInconsistentPartialFields) {
  struct Case {
    uint16_t status;
    uint64_t first;
    uint64_t length;
    bool valid;
  };
  const Case cases[] = {
      {206, 0, 4, true},   // bytes 0-3 of 4 (would be stored as a 200, but harmless)
      {206, 6, 10, true},  // bytes 6-9 of 10
      {206, 0, 100, true},  {206, 7, 10, false},  // 4 body bytes from 7 run past 10
      {206, 0, 0, false},                         // a 206 without a length
      {206, 10, 10, false}, {206, 0xffffffffffffffff, 0xffffffffffffffff, false},
      {200, 0, 10, false},  // partial fields on a complete response
      {200, 5, 0, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.status) + " " + std::to_string(c.first) + " " +
                 std::to_string(c.length));
    Minimal m;
    m.status = c.status;
    m.partial_first = c.first;
    m.complete_length = c.length;
    if (c.valid) {
      std::string error;
      EXPECT_NE(decodeL2Entry(minimalBytes(m), 0, &error), nullptr) << error;
    } else {
      EXPECT_EQ(decodeError(minimalBytes(m)), "partial fields inconsistent");
    }
  }
}

TEST(L2Codec, RejectsABadBoolByte) {
  Minimal m;
  m.no_cache = 2;
  EXPECT_EQ(decodeError(minimalBytes(m)), "bad bool byte");
}

TEST(L2Codec, RejectsVaryNamesOutOfOrder) {
  for (const auto& names : {std::pair{"b", "a"}, std::pair{"a", "a"}}) {
    CachedResponse entry = fullEntry("b");
    entry.vary = {{names.first, "1"}, {names.second, "2"}};
    EXPECT_EQ(decodeError(encodeL2Entry(entry)), "vary names not sorted");
  }
}

TEST(L2Codec, EncodeRefusesAStatusItCannotStore) {
  CachedResponse entry = fullEntry("b");
  entry.status = 70000;  // would wrap in the u16 field
  EXPECT_EQ(encodeL2Entry(entry), "");
}

// Every single-byte change of a valid encoding either decodes to an entry or is rejected
// with a reason; never a crash or an out-of-bounds read (scripts/test.sh runs it under ASan).
TEST(L2Codec, SurvivesEveryOneByteCorruption) {
  const std::string bytes = encodeL2Entry(fullEntry("xyz"));
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (uint8_t value : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::string corrupt = bytes;
      corrupt[at] = static_cast<char>(value);
      std::string error;
      const auto entry = decodeL2Entry(corrupt, 0, &error);
      if (entry) {
        // The format has one spelling per entry, so what decodes encodes back the same.
        EXPECT_EQ(encodeL2Entry(*entry), corrupt) << at;
      } else {
        EXPECT_FALSE(error.empty()) << at;
      }
    }
  }
}

TEST(L2Codec, VariantFieldDistinguishesAbsentFromEmpty) {
  const std::string absent = l2VariantField({{"accept-encoding", std::nullopt}});
  const std::string empty = l2VariantField({{"accept-encoding", std::string()}});
  EXPECT_NE(absent, empty);
  EXPECT_FALSE(absent.empty());
  EXPECT_FALSE(empty.empty());
  EXPECT_EQ(l2VariantField({}), "");
}

TEST(L2Codec, VariantFieldDiffersForDifferentVariants) {
  using Vary = std::vector<VaryField>;
  const Vary variants[] = {
      {{"accept-encoding", "gzip"}},
      {{"accept-encoding", "br"}},
      {{"accept-encoding", "gzip"}, {"accept-language", "en"}},
      {{"accept-encoding", "gzip"}, {"accept-language", std::nullopt}},
      {{"accept-encoding", "gzip"}, {"accept-language", ""}},
      {{"accept-language", "en"}},
      // Values holding what could pass for separators must not alias two fields.
      {{"a", "1;2:b=1:2"}},
      {{"a", "1"}, {"b", "2"}},
      {{"a", "1;"}, {"b", "2"}},
      {{"a", "1"}, {"b", std::nullopt}},
      {{"a", "1!;"}},
      {{"a", std::nullopt}, {"b", std::nullopt}},
      {{"a", std::string("\0", 1)}},
  };
  std::set<std::string> fields;
  for (const Vary& vary : variants) {
    EXPECT_TRUE(fields.insert(l2VariantField(vary)).second) << l2VariantField(vary);
    EXPECT_EQ(l2VariantField(vary), l2VariantField(Vary(vary)));  // stable
  }
  EXPECT_EQ(l2VariantField({{"accept-encoding", "gzip"}}), "15:accept-encoding=4:gzip;");
  EXPECT_EQ(l2VariantField({{"accept-language", std::nullopt}}), "15:accept-language!;");
}

TEST(L2Codec, VaryNamesAreCommaJoinedLowerCase) {
  EXPECT_EQ(l2VaryNames({}), "");
  EXPECT_EQ(l2VaryNames({{"accept-encoding", "gzip"}}), "accept-encoding");
  EXPECT_EQ(l2VaryNames({{"accept-encoding", "gzip"}, {"Accept-Language", std::nullopt}}),
            "accept-encoding,accept-language");
}

}  // namespace
}  // namespace sg::cache

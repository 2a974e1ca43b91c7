// Chunked decoder tests: whole, byte-by-byte and every 2- and 3-way split must agree on the
// status, the payload and the number of bytes consumed; errors land on the offending byte.
#include "http/chunked.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::http {
namespace {

using Status = ChunkedDecoder::Status;
using namespace std::string_literals;

struct Result {
  Status status = Status::kNeedMore;
  std::string payload;
  size_t consumed = 0;
  bool operator==(const Result&) const = default;
};

void PrintTo(  // NOLINT(readability-identifier-naming): gtest hook
    const Result& r, std::ostream* os) {
  *os << "{status " << static_cast<int>(r.status) << ", payload "
      << testing::PrintToString(r.payload) << ", consumed " << r.consumed << "}";
}

// Feeds the pieces in order, looping on each until it is used up or the decoder stops.
Result decodePieces(const std::vector<std::string_view>& pieces, ChunkedDecoder* decoder) {
  Result r;
  for (const std::string_view piece : pieces) {
    std::string_view rest = piece;
    for (;;) {
      size_t consumed = 0;
      std::string_view payload;
      r.status = decoder->feed(rest, &consumed, &payload);
      EXPECT_LE(consumed, rest.size());
      if (!payload.empty()) {
        // The payload is the tail of the consumed bytes, inside the input.
        EXPECT_EQ(payload.data() + payload.size(), rest.data() + consumed);
        EXPECT_GE(payload.data(), rest.data());
      }
      r.payload += payload;
      r.consumed += consumed;
      rest.remove_prefix(consumed);
      if (r.status != Status::kNeedMore || rest.empty()) break;
      if (consumed == 0) {
        ADD_FAILURE() << "no progress with bytes left";
        return r;
      }
    }
    if (r.status != Status::kNeedMore) break;
  }
  return r;
}

Result decode(std::string_view in) {
  ChunkedDecoder d;
  return decodePieces({in}, &d);
}

// Checks that byte-by-byte and every split into 2 and 3 pieces give the same Result.
void expectSplitInvariant(std::string_view in, const Result& expected) {
  ChunkedDecoder d;
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < in.size(); ++i) bytes.push_back(in.substr(i, 1));
  EXPECT_EQ(decodePieces(bytes, &d), expected) << "byte by byte: " << in;
  // Long inputs: every 2-split would be quadratic, so sample the split points.
  const size_t stride = in.size() > 1024 ? 61 : 1;
  for (size_t a = 0; a <= in.size(); a += stride) {
    d.reset();
    EXPECT_EQ(decodePieces({in.substr(0, a), in.substr(a)}, &d), expected) << "split " << a;
    if (in.size() > 80) continue;
    for (size_t b = a; b <= in.size(); ++b) {
      d.reset();
      const Result r = decodePieces({in.substr(0, a), in.substr(a, b - a), in.substr(b)}, &d);
      ASSERT_EQ(r, expected) << "split " << a << "," << b << " of " << in;
    }
  }
}

TEST(ChunkedDecoder, ValidBodiesUnderEverySplit) {
  struct Case {
    std::string body;
    std::string payload;
  };
  const std::vector<Case> cases = {
      {"5\r\nhello\r\n0\r\n\r\n", "hello"},
      {"0\r\n\r\n", ""},
      {"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: v\r\nY:\r\n\r\n", "abc0123456789"},
      {"1a\r\n" + std::string(26, 'z') + "\r\n00\r\n\r\n", std::string(26, 'z')},
      {"4 ;a=\"b c\"\r\nwxyz\r\n1\t; x\r\n!\r\n0;last\r\n\r\n", "wxyz!"},
      {"2\r\n\r\n\r\n1\r\n\xff\r\n0\r\n\r\n", "\r\n\xff"},
      {"000000000000000F\r\n0123456789abcde\r\n0\r\n\r\n", "0123456789abcde"},
  };
  for (const Case& c : cases) {
    const Result whole = decode(c.body);
    EXPECT_EQ(whole.status, Status::kDone) << c.body;
    EXPECT_EQ(whole.payload, c.payload) << c.body;
    EXPECT_EQ(whole.consumed, c.body.size()) << c.body;
    expectSplitInvariant(c.body, whole);
  }
}

TEST(ChunkedDecoder, StopsAtEndOfBodyAndLeavesTheRest) {
  const std::string body = "5\r\nhello\r\n0\r\n\r\n";
  const std::string buf = body + "GET / HTTP/1.1\r\n";
  ChunkedDecoder d;
  const Result r = decodePieces({buf}, &d);
  EXPECT_EQ(r.status, Status::kDone);
  EXPECT_EQ(r.consumed, body.size());
  EXPECT_TRUE(d.done());
  size_t consumed = 99;
  std::string_view payload = "x";
  EXPECT_EQ(d.feed("more", &consumed, &payload), Status::kDone);
  EXPECT_EQ(consumed, 0u);
  EXPECT_TRUE(payload.empty());
}

TEST(ChunkedDecoder, ReturnsOnePayloadRunPerCall) {
  ChunkedDecoder d;
  const std::string_view in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  size_t consumed = 0;
  std::string_view payload;
  ASSERT_EQ(d.feed(in, &consumed, &payload), Status::kNeedMore);
  EXPECT_EQ(payload, "abc");
  EXPECT_EQ(consumed, 6u);
  EXPECT_EQ(payload.data(), in.data() + 3);
  ASSERT_EQ(d.feed(in.substr(6), &consumed, &payload), Status::kNeedMore);
  EXPECT_EQ(payload, "de");
  EXPECT_EQ(consumed, 7u);
  ASSERT_EQ(d.feed(in.substr(13), &consumed, &payload), Status::kDone);
  EXPECT_TRUE(payload.empty());
  EXPECT_EQ(13 + consumed, in.size());
}

TEST(ChunkedDecoder, LargeChunkSizeNeedsMoreAndEmptyInputIsHarmless) {
  ChunkedDecoder d;
  size_t consumed = 0;
  std::string_view payload;
  EXPECT_EQ(d.feed("", &consumed, &payload), Status::kNeedMore);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(d.feed("FFFFFFFFFFFFFFFF\r\nabc", &consumed, &payload), Status::kNeedMore);
  EXPECT_EQ(consumed, 21u);  // size line and the first data run
  EXPECT_EQ(payload, "abc");
  EXPECT_EQ(d.feed("defg", &consumed, &payload), Status::kNeedMore);
  EXPECT_EQ(payload, "defg");
  EXPECT_EQ(consumed, 4u);
  EXPECT_FALSE(d.done());
}

struct BadCase {
  std::string input;
  size_t error_at;  // offset of the offending byte
};

void PrintTo(  // NOLINT(readability-identifier-naming): gtest hook
    const BadCase& c, std::ostream* os) {
  *os << testing::PrintToString(c.input);
}

class ChunkedRejection : public testing::TestWithParam<BadCase> {};

TEST_P(ChunkedRejection, FailsOnTheOffendingByteUnderEverySplit) {
  const BadCase& c = GetParam();
  const Result whole = decode(c.input);
  EXPECT_EQ(whole.status, Status::kError);
  EXPECT_EQ(whole.consumed, c.error_at);
  expectSplitInvariant(c.input, whole);
}

// Not `return {n, c}`: that would pick the initializer_list constructor.
std::string repeat(char c, size_t n) {
  std::string s(n, c);
  return s;
}

const BadCase kBadCases[] = {
    {"g\r\n", 0},
    {"\r\n", 0},
    {";ext\r\n", 0},
    {"-5\r\n", 0},
    {"+5\r\n", 0},
    {"0x5\r\n", 1},
    {"5\nhello\r\n", 1},
    {"5\r\r\nhello", 2},
    {"5\r\nhelloX\r\n0\r\n\r\n", 8},
    {"5\r\nhello\rX\r\n", 9},
    {"5\r\nhello\n0\r\n\r\n", 8},
    {"5\r\nhello\r\n0\n\r\n", 11},
    {"5\r\nhello\r\n0\r\n\n", 13},
    {"5\r\nhello\r\n0\r\n\r\r", 14},
    {"11111111111111111\r\n", 16},
    {"5 \r\nhello\r\n", 2},
    {"5 x\r\n", 2},
    {"5;a\x01\r\nhello\r\n", 3},
    {"5;a\x7f\r\n", 3},
    {"5;a\nb\r\n", 3},
    {"5;" + repeat('a', ChunkedDecoder::kMaxChunkLineExtension) + "\r\n", 2 + 4095},
    {"5" + repeat(' ', ChunkedDecoder::kMaxChunkLineExtension) + ";\r\n", 1 + 4096},
    {"0\r\nX: y\n\r\n", 7},
    {"0\r\n X: y\r\n\r\n", 3},
    {"0\r\n\tX: y\r\n\r\n", 3},
    {"0\r\nX y\r\n\r\n", 4},
    {"0\r\n: y\r\n\r\n", 3},
    {"0\r\nX: a\0b\r\n\r\n"s, 7},
    {"0\r\nX: y\r\n" + repeat('a', ChunkedDecoder::kMaxTrailerBytes) + ": b\r\n\r\n",
     3 + ChunkedDecoder::kMaxTrailerBytes},
};

INSTANTIATE_TEST_SUITE_P(Framing, ChunkedRejection, testing::ValuesIn(kBadCases));

TEST(ChunkedDecoder, LimitsAreInclusive) {
  const std::string ext = "5;" + repeat('a', ChunkedDecoder::kMaxChunkLineExtension - 1);
  Result r = decode(ext + "\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, Status::kDone);
  EXPECT_EQ(r.payload, "hello");
  // Trailer section of exactly kMaxTrailerBytes (bytes after the last-chunk line, final CRLF
  // excluded except its CR): "X:" + value + CRLF + CR.
  const std::string value = repeat('v', ChunkedDecoder::kMaxTrailerBytes - 5);
  r = decode("0\r\nX:" + value + "\r\n\r\n");
  EXPECT_EQ(r.status, Status::kDone);
  r = decode("0\r\nX:" + value + "v\r\n\r\n");
  EXPECT_EQ(r.status, Status::kError);
}

// Extensions over the whole body are bounded too, not only per line: one-byte chunks with
// 4 KiB extensions would otherwise carry ~4000 times their payload in wire bytes.
TEST(ChunkedDecoder, ExtensionBytesPerBodyAreCapped) {
  const std::string ext = ";" + repeat('e', 1023);  // 1 KiB of extension per size line
  std::string body;
  size_t lines = 0;
  while ((lines + 1) * ext.size() <= ChunkedDecoder::kExtensionAllowance) {
    body += "1" + ext + "\r\nx\r\n";
    ++lines;
  }
  Result r = decode(body + "0\r\n\r\n");
  EXPECT_EQ(r.status, Status::kDone) << lines;  // exactly at the allowance
  r = decode(body + "1" + ext + "\r\nx\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, Status::kError);
  r = decode(body + "0" + ext + "\r\n\r\n");  // the last-chunk line counts as well
  EXPECT_EQ(r.status, Status::kError);
  // The same under every split: the check is per size line, not per feed() call.
  ChunkedDecoder d;
  const std::string over = body + "1" + ext + "\r\nx\r\n0\r\n\r\n";
  Status status = Status::kNeedMore;
  for (size_t i = 0; i < over.size() && status == Status::kNeedMore; ++i) {
    size_t consumed = 0;
    std::string_view payload;
    status = d.feed(std::string_view(over).substr(i, 1), &consumed, &payload);
  }
  EXPECT_EQ(status, Status::kError);
}

// Payload earns more extension bytes: signed uploads (~90 bytes per 8 KiB chunk) and small
// extensions on chunks no smaller than them go through however long the body is.
TEST(ChunkedDecoder, ExtensionAllowanceGrowsWithPayload) {
  const std::string ext = ";chunk-signature=" + repeat('f', 64);
  const std::string data = repeat('d', 8192);
  ChunkedDecoder d;
  const std::string chunk = "2000" + ext + "\r\n" + data + "\r\n";
  for (int i = 0; i < 1000; ++i) {
    const Result r = decodePieces({chunk}, &d);
    ASSERT_EQ(r.status, Status::kNeedMore) << i;
  }
  EXPECT_EQ(decodePieces({"0" + ext + "\r\n\r\n"}, &d).status, Status::kDone);
  d.reset();
  for (int i = 0; i < 5000; ++i) {
    const Result r = decodePieces({"8;ext=1\r\nabcdefgh\r\n"}, &d);
    ASSERT_EQ(r.status, Status::kNeedMore) << i;
  }
  EXPECT_EQ(decodePieces({"0\r\n\r\n"}, &d).status, Status::kDone);
}

TEST(ChunkedDecoder, ErrorIsStickyUntilReset) {
  ChunkedDecoder d;
  size_t consumed = 0;
  std::string_view payload;
  EXPECT_EQ(d.feed("z", &consumed, &payload), Status::kError);
  EXPECT_EQ(d.feed("5\r\nhello\r\n0\r\n\r\n", &consumed, &payload), Status::kError);
  EXPECT_EQ(consumed, 0u);
  d.reset();
  const Result r = decodePieces({"5\r\nhello\r\n0\r\n\r\n"}, &d);
  EXPECT_EQ(r.status, Status::kDone);
  EXPECT_EQ(r.payload, "hello");
}

// keepTrailers: the field lines after the last chunk, exactly, under every split; nothing
// from chunk data, extensions or the final CRLF.
TEST(ChunkedDecoder, KeptTrailersAreTheFieldLinesUnderEverySplit) {
  const std::string body =
      "3;ext=x\r\nabc\r\n0;last=1\r\nGrpc-Status: 0\r\nx-checksum:  ab:cd \r\nY:\r\n\r\nNEXT";
  const std::string want = "Grpc-Status: 0\r\nx-checksum:  ab:cd \r\nY:\r\n";
  for (size_t a = 0; a <= body.size(); ++a) {
    std::string kept;
    ChunkedDecoder d;
    d.keepTrailers(&kept);
    const Result r =
        decodePieces({std::string_view(body).substr(0, a), std::string_view(body).substr(a)}, &d);
    ASSERT_EQ(r.status, Status::kDone) << "split " << a;
    ASSERT_EQ(r.consumed, body.size() - 4) << "split " << a;
    ASSERT_EQ(kept, want) << "split " << a;
  }
  std::string kept;
  ChunkedDecoder d;
  d.keepTrailers(&kept);
  EXPECT_EQ(decodePieces({"5\r\nhello\r\n0\r\n\r\n"}, &d).status, Status::kDone);
  EXPECT_EQ(kept, "");  // no trailers: nothing kept
  d.reset();            // the sink stays
  EXPECT_EQ(decodePieces({"0\r\nA: 1\r\n\r\n"}, &d).status, Status::kDone);
  EXPECT_EQ(kept, "A: 1\r\n");
}

}  // namespace
}  // namespace sg::http

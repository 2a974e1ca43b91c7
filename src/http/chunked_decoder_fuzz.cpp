// libFuzzer target for the chunked decoder (chunked.h). The input is used two ways:
//  1. As wire bytes (the seed corpus is plain chunked bodies). Fed in one piece, byte by byte
//     and in several hashed splits, the decoder must give the same status, payload and
//     consumed count every time; each feed() consumes at most its input, makes progress while
//     it needs more, views its payload inside what it consumed, and stops for good after
//     kDone/kError (until reset(), after which the same bytes give the same result). The
//     payload is never longer than what was consumed, and a body that ended (kDone) ends at
//     the same byte when only its own bytes are fed, while every shorter prefix needs more.
//     The proxy's BodyFramer (src/proxy/body_framer.h), which runs the decoder over its read
//     buffer as bytes arrive, must agree: as many wire and payload bytes, the same end, the
//     body forwarded byte for byte (or, dechunking in place for an HTTP/1.0 client, exactly
//     the payload), and the bytes in front of the body and after its end left untouched.
//  2. As payload: encoded as a chunked body with hashed chunk sizes, a few extensions and
//     trailers, it must decode to exactly the input, ending (kDone) after the last byte.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "http/chunked.h"
#include "http/fuzz_support.h"
#include "net/buffer.h"
#include "proxy/body_framer.h"

namespace {

using sg::http::ChunkedDecoder;
using Status = ChunkedDecoder::Status;

using sg::http::fuzz::check;
using sg::http::fuzz::hashOf;
using sg::http::fuzz::inside;

uint64_t nextRandom(uint64_t* state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return *state >> 33;
}

struct Decoded {
  Status status = Status::kNeedMore;
  std::string payload;
  size_t consumed = 0;
};

// One feed() call with the per-call invariants.
Status feedOnce(ChunkedDecoder* d, std::string_view piece, size_t* consumed, Decoded* r) {
  std::string_view payload;
  *consumed = 0;
  const Status st = d->feed(piece, consumed, &payload);
  check(*consumed <= piece.size(), "consumed <= input");
  check(inside(piece.substr(0, *consumed), payload), "payload inside the consumed bytes");
  check(payload.empty() || st == Status::kNeedMore, "payload only with kNeedMore");
  if (st == Status::kError) check(*consumed < piece.size(), "error offset inside the input");
  check(d->done() == (st == Status::kDone), "done() matches kDone");
  r->payload.append(payload);
  r->consumed += *consumed;
  return st;
}

// Feeds `in` in pieces whose sizes come from `seed` (0: one piece; 1: byte by byte).
Decoded decode(ChunkedDecoder* d, std::string_view in, uint64_t seed) {
  Decoded r;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t len = in.size() - pos;
    if (seed == 1) len = 1;
    if (seed > 1) len = std::min<size_t>(len, 1 + nextRandom(&seed) % 23);
    std::string_view piece = in.substr(pos, len);
    pos += len;
    while (!piece.empty()) {
      size_t consumed = 0;
      r.status = feedOnce(d, piece, &consumed, &r);
      if (r.status != Status::kNeedMore) {
        // Final: later calls consume nothing and keep the status.
        Decoded after;
        check(feedOnce(d, piece.substr(consumed), &consumed, &after) == r.status && consumed == 0 &&
                  after.payload.empty(),
              "final status sticks");
        return r;
      }
      check(consumed > 0, "kNeedMore makes progress");
      piece.remove_prefix(consumed);
    }
  }
  return r;
}

// Runs BodyFramer over `in` arriving in hashed pieces behind a few bytes that are not body
// (as a head would be), and checks it against the decoder's one-shot result `want`.
void fuzzFramer(std::string_view in, uint64_t seed, bool dechunk, const Decoded& want) {
  using sg::proxy::BodyFramer;
  constexpr std::string_view kFront = "HEAD";
  sg::net::Buffer buffer(16);
  buffer.reserve(kFront.size(), SIZE_MAX);
  std::memcpy(buffer.writePtr(), kFront.data(), kFront.size());
  buffer.commit(kFront.size());
  BodyFramer framer;
  framer.start(sg::http::BodyKind::kChunked, 0, dechunk);
  size_t fed = 0;
  size_t body_end = kFront.size();  // the body's bytes so far end here in the buffer
  BodyFramer::Result r = BodyFramer::Result::kMore;
  while (fed < in.size()) {
    // Small reads, fewer of them for long inputs (the framer's erase moves the tail each time).
    const size_t most = in.size() > 2048 ? 997 : 29;
    const size_t len = std::min<size_t>(in.size() - fed, 1 + nextRandom(&seed) % most);
    buffer.reserve(len, SIZE_MAX);
    std::memcpy(buffer.writePtr(), in.data() + fed, len);
    buffer.commit(len);
    fed += len;
    size_t body_bytes = 0;
    r = framer.scan(&buffer, body_end, &body_bytes);
    check(body_end + body_bytes <= buffer.size(), "framer: body bytes inside the buffer");
    body_end += body_bytes;
    if (r != BodyFramer::Result::kMore) break;
  }
  const std::string_view all = buffer.view();
  check(all.substr(0, kFront.size()) == kFront, "framer: bytes before the body untouched");
  if (want.status == Status::kError) {
    check(r == BodyFramer::Result::kError, "framer: error where the decoder errs");
    return;
  }
  check(r == (want.status == Status::kDone ? BodyFramer::Result::kDone : BodyFramer::Result::kMore),
        "framer: same end as the decoder");
  check(framer.wireBytes() == want.consumed && framer.payloadBytes() == want.payload.size(),
        "framer: wire and payload byte counts");
  const std::string_view body = all.substr(kFront.size(), body_end - kFront.size());
  check(body == (dechunk ? std::string_view(want.payload) : in.substr(0, want.consumed)),
        "framer: the body as forwarded");
  check(all.substr(body_end) == in.substr(want.consumed, fed - want.consumed),
        "framer: bytes after the body untouched");
}

void fuzzWire(std::string_view in, uint64_t h) {
  ChunkedDecoder d;
  const Decoded whole = decode(&d, in, 0);
  check(whole.payload.size() <= whole.consumed && whole.consumed <= in.size(),
        "payload <= consumed <= input");
  if (whole.status == Status::kNeedMore) check(whole.consumed == in.size(), "needs more: all used");
  d.reset();
  const Decoded again = decode(&d, in, 0);
  check(again.status == whole.status && again.payload == whole.payload &&
            again.consumed == whole.consumed,
        "reset() starts afresh");
  for (const uint64_t seed : {uint64_t{1}, h | 2, (h >> 17) | 2, (h * 31) | 2}) {
    ChunkedDecoder s;
    const Decoded split = decode(&s, in, seed);
    check(split.status == whole.status && split.payload == whole.payload &&
              split.consumed == whole.consumed,
          "split invariance");
  }
  fuzzFramer(in, h | 2, false, whole);
  fuzzFramer(in, (h >> 9) | 2, true, whole);
  if (whole.status != Status::kDone) return;
  const std::string_view body = in.substr(0, whole.consumed);
  ChunkedDecoder exact;
  const Decoded own = decode(&exact, body, 0);
  check(own.status == Status::kDone && own.consumed == body.size() && own.payload == whole.payload,
        "the body alone decodes the same");
  ChunkedDecoder prefix;
  const Decoded shorter = decode(&prefix, body.substr(0, (h >> 7) % body.size()), 0);
  check(shorter.status == Status::kNeedMore, "a proper prefix of a body needs more");
}

// Encodes `payload` as a chunked body: chunk sizes, extensions and trailers from `seed`.
std::string encode(std::string_view payload, uint64_t seed) {
  std::string out;
  size_t pos = 0;
  int extensions = 0;
  while (pos < payload.size()) {
    const size_t len = std::min<size_t>(payload.size() - pos, 1 + nextRandom(&seed) % 300);
    char size_line[32];
    const char* hex = (nextRandom(&seed) & 1) != 0 ? "%zx" : "%zX";
    std::snprintf(size_line, sizeof(size_line), hex, len);
    out += size_line;
    if (extensions < 8 && nextRandom(&seed) % 4 == 0) {
      out += (nextRandom(&seed) & 1) != 0 ? ";name=value" : " ; n=\"quoted v\"";
      ++extensions;
    }
    out += "\r\n";
    out.append(payload.substr(pos, len));
    out += "\r\n";
    pos += len;
  }
  out += "0\r\n";
  if (nextRandom(&seed) % 2 == 0) out += "X-Checksum: abc\r\nX-Other:\tv v\r\n";
  out += "\r\n";
  return out;
}

void fuzzRoundTrip(std::string_view payload, uint64_t h) {
  const std::string wire = encode(payload, h);
  for (const uint64_t seed : {uint64_t{0}, h | 2}) {
    ChunkedDecoder d;
    const Decoded r = decode(&d, wire, seed);
    check(r.status == Status::kDone && r.consumed == wire.size() && r.payload == payload,
          "encoded payload decodes to itself");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const uint64_t h = hashOf(in);
  fuzzWire(in, h);
  fuzzRoundTrip(in, h);
  return 0;
}

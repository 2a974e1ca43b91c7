// libFuzzer target for the PostgreSQL frontend framing (wire.h), read the way the proxy reads a
// client: parseStartup until a StartupMessage (an SSLRequest or GSSENCRequest is answered 'N'
// and followed by another packet; a CancelRequest ends the connection), then parseMessage
// repeatedly, each payload walked with PayloadReader as its type byte says (Query, Parse, Bind,
// Describe, Execute, Close, FunctionCall, CopyData/Fail, password and SASL messages, ...).
//
// Invariants, for every call: consumed <= input size; kDone consumes at least 5 bytes (a typed
// message) or 8 (a startup packet) and exactly its length field; kNeedMore and kError consume
// nothing; kError says why; payloads and every string or byte run read from them lie inside the
// input; a message never exceeds the limit. The same stream fed in hashed pieces, as bytes
// arrive from a socket, gives the same messages and the same end.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "http/fuzz_support.h"
#include "pg/wire.h"

namespace {

using sg::http::fuzz::check;
using sg::http::fuzz::hashOf;
using sg::http::fuzz::inside;
using sg::pg::Message;
using sg::pg::ParseStatus;
using sg::pg::PayloadReader;
using sg::pg::StartupPacket;

// PostgreSQL's own bound for a startup packet.
constexpr size_t kStartupLimit = 10000;
// The proxy bounds messages by max_packet_size; a few limits so that both "over the limit" and
// large accepted lengths are explored.
constexpr size_t kLimits[] = {4, 64, 8192, 256u * 1024 * 1024};
constexpr size_t kMaxMessages = 4096;  // more than any input of the corpus holds
constexpr size_t kUnset = ~size_t{0};

uint64_t nextRandom(uint64_t* state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return *state >> 33;
}

// A reader over one payload that checks every view it hands out lies inside the payload.
class Walker {
 public:
  explicit Walker(std::string_view payload) : payload_(payload), reader_(payload) {}

  bool string() {
    std::string_view s;
    if (!reader_.readString(&s)) return false;
    check(inside(payload_, s), "string inside the payload");
    check(s.find('\0') == std::string_view::npos, "string has no NUL");
    return step();
  }
  bool int16(int16_t* out) { return reader_.readInt16(out) && step(); }
  bool int32(int32_t* out) { return reader_.readInt32(out) && step(); }
  bool bytes(int32_t n) {
    if (n < 0) return true;  // -1: a NULL value, no bytes
    std::string_view b;
    if (!reader_.readBytes(static_cast<size_t>(n), &b)) return false;
    check(b.size() == static_cast<size_t>(n) && inside(payload_, b), "bytes inside the payload");
    return step();
  }
  // `count` int16 values (format codes).
  bool int16s(int16_t count) {
    int16_t ignored = 0;
    for (int16_t i = 0; i < count; ++i) {
      if (!int16(&ignored)) return false;
    }
    return true;
  }
  bool rest() {
    std::string_view b;
    check(reader_.readBytes(reader_.remaining(), &b) && inside(payload_, b) && reader_.atEnd(),
          "the rest of the payload");
    return step();
  }
  bool atEnd() const { return reader_.atEnd(); }

 private:
  // Every read moves forward and never past the payload's end.
  bool step() {
    check(reader_.remaining() <= last_remaining_, "reader moves forward");
    last_remaining_ = reader_.remaining();
    return true;
  }

  std::string_view payload_;
  PayloadReader reader_;
  size_t last_remaining_ = payload_.size();
};

// Length-prefixed values: Int32 length (-1 for NULL) then the bytes (Bind, FunctionCall).
bool values(Walker* w) {
  int16_t count = 0;
  if (!w->int16(&count)) return false;
  for (int16_t i = 0; i < count; ++i) {
    int32_t length = 0;
    if (!w->int32(&length) || !w->bytes(length)) return false;
  }
  return true;
}

bool formatCodes(Walker* w) {
  int16_t count = 0;
  return w->int16(&count) && w->int16s(count);
}

// Parse: statement name, query, parameter count, parameter type OIDs.
bool walkParse(Walker* w) {
  int16_t count = 0;
  if (!w->string() || !w->string() || !w->int16(&count)) return false;
  int32_t oid = 0;
  for (int16_t i = 0; i < count; ++i) {
    if (!w->int32(&oid)) return false;
  }
  return true;
}

// Bind: portal, statement, parameter formats, parameter values, result formats.
bool walkBind(Walker* w) {
  return w->string() && w->string() && formatCodes(w) && values(w) && formatCodes(w);
}

// FunctionCall: function OID, argument formats, arguments, result format.
bool walkFunctionCall(Walker* w) {
  int32_t oid = 0;
  int16_t format = 0;
  return w->int32(&oid) && formatCodes(w) && values(w) && w->int16(&format);
}

// 'p' is PasswordMessage, SASLInitialResponse or SASLResponse depending on the auth exchange;
// the proxy knows which, the fuzzer tries the richest reading that fits.
bool walkPassword(Walker* w, std::string_view payload) {
  Walker initial(payload);
  int32_t length = 0;
  if (initial.string() && initial.int32(&length) && initial.bytes(length)) return true;
  return w->string() || w->rest();
}

// Returns whether the payload had the shape its type promises; either way nothing may escape
// the payload.
bool walkPayload(const Message& message) {
  Walker w(message.payload);
  int32_t number = 0;
  switch (message.type) {
    case 'Q':  // Query
    case 'f':  // CopyFail
      return w.string() && w.atEnd();
    case 'P':
      return walkParse(&w) && w.atEnd();
    case 'B':
      return walkBind(&w) && w.atEnd();
    case 'D':  // Describe
    case 'C':  // Close: 'S' statement or 'P' portal, then the name
      return w.bytes(1) && w.string() && w.atEnd();
    case 'E':  // Execute: portal, row limit
      return w.string() && w.int32(&number) && w.atEnd();
    case 'F':
      return walkFunctionCall(&w) && w.atEnd();
    case 'p':
      return walkPassword(&w, message.payload);
    case 'd':  // CopyData
      return w.rest();
    case 'S':  // Sync
    case 'H':  // Flush
    case 'X':  // Terminate
    case 'c':  // CopyDone
      return w.atEnd();
    default:  // unknown to the proxy: it answers with a FATAL error, reading nothing
      return false;
  }
}

struct Parsed {
  std::vector<std::pair<char, std::string_view>> messages;
  ParseStatus end = ParseStatus::kNeedMore;
  size_t consumed = 0;  // bytes taken by whole messages
};

// What kNeedMore may mean: a header not yet whole, or an acceptable length whose bytes have
// not all arrived.
bool partial(std::string_view input, size_t limit) {
  if (input.size() < 5) return true;
  const auto* u = reinterpret_cast<const unsigned char*>(input.data() + 1);
  const uint32_t length =
      (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
  return length >= 4 && length <= 0x7fffffff && length <= limit &&
         1 + size_t{length} > input.size();
}

// One parseMessage call with the per-call invariants.
ParseStatus messageOnce(std::string_view input, size_t limit, Message* message, size_t* consumed) {
  std::string error;
  *consumed = kUnset;
  const ParseStatus status = sg::pg::parseMessage(input, limit, message, consumed, &error);
  if (status != ParseStatus::kDone) {
    check(*consumed == kUnset, "only kDone sets consumed");
    check((status == ParseStatus::kError) == !error.empty(), "an error says why");
    if (status == ParseStatus::kNeedMore) check(partial(input, limit), "needs more: partial");
    return status;
  }
  check(*consumed >= 5 && *consumed <= input.size(), "kDone: 5 <= consumed <= input");
  check(message->payload.size() + 5 == *consumed, "consumed = type + length + payload");
  check(message->payload.data() == input.data() + 5, "payload follows the header");
  check(message->payload.size() + 4 <= limit, "length within the limit");
  check(message->type == input[0], "type is the first byte");
  return status;
}

// Messages from the front of `stream` as one buffer.
Parsed parseAll(std::string_view stream, size_t limit) {
  Parsed parsed;
  std::string_view rest = stream;
  while (parsed.messages.size() < kMaxMessages) {
    Message message;
    size_t consumed = 0;
    parsed.end = messageOnce(rest, limit, &message, &consumed);
    if (parsed.end != ParseStatus::kDone) break;
    check(inside(stream, message.payload), "payload inside the input");
    walkPayload(message);
    parsed.messages.emplace_back(message.type, message.payload);
    parsed.consumed += consumed;
    rest.remove_prefix(consumed);
  }
  return parsed;
}

// The same stream arriving in pieces: bytes are appended to a buffer and whole messages taken
// from its front, as a connection's read loop does.
void checkSplitInvariance(std::string_view stream, size_t limit, const Parsed& whole,
                          uint64_t seed) {
  std::string buffer;
  size_t fed = 0;
  size_t index = 0;
  ParseStatus end = ParseStatus::kNeedMore;
  while (fed < stream.size() && end != ParseStatus::kError && index < whole.messages.size() + 1) {
    const size_t len = std::min<size_t>(stream.size() - fed, 1 + nextRandom(&seed) % 37);
    buffer.append(stream.substr(fed, len));
    fed += len;
    for (;;) {
      Message message;
      size_t consumed = 0;
      end = messageOnce(buffer, limit, &message, &consumed);
      if (end != ParseStatus::kDone) break;
      check(index < whole.messages.size() && whole.messages[index].first == message.type &&
                whole.messages[index].second == message.payload,
            "split: the same messages");
      ++index;
      buffer.erase(0, consumed);
      if (index == kMaxMessages) return;
    }
  }
  check(index == whole.messages.size(), "split: as many messages");
  check(end == whole.end, "split: the same end");
}

// parseStartup until a StartupMessage; true with the bytes after it in *after, false when the
// connection would not reach the message phase (error, cancel request, not enough bytes).
bool readStartup(std::string_view input, std::string_view* after) {
  std::string_view rest = input;
  // A client may ask for SSL then GSSENC (each answered 'N') before its StartupMessage.
  for (int round = 0; round < 3; ++round) {
    StartupPacket packet;
    size_t consumed = kUnset;
    std::string error;
    const ParseStatus status =
        sg::pg::parseStartup(rest, kStartupLimit, &packet, &consumed, &error);
    if (status != ParseStatus::kDone) {
      check(consumed == kUnset, "startup: only kDone sets consumed");
      check((status == ParseStatus::kError) == !error.empty(), "startup: an error says why");
      return false;
    }
    check(consumed >= 8 && consumed <= rest.size() && consumed <= kStartupLimit,
          "startup: 8 <= consumed <= input, limit");
    switch (packet.kind) {
      case StartupPacket::Kind::kSsl:
      case StartupPacket::Kind::kGssEnc:
        check(consumed == 8, "encryption request: 8 bytes");
        rest.remove_prefix(consumed);
        continue;
      case StartupPacket::Kind::kCancel:
        check(consumed == 16, "cancel request: 16 bytes");
        return false;
      case StartupPacket::Kind::kStartup:
        check((packet.protocol >> 16) == 3, "startup: protocol 3");
        for (const auto& [name, value] : packet.parameters) {
          check(!name.empty(), "startup: parameter names are not empty");
          check(name.size() + value.size() + 2 <= consumed, "startup: parameter inside");
        }
        *after = rest.substr(consumed);
        return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const uint64_t h = hashOf(in);
  const size_t limit = kLimits[h % std::size(kLimits)];
  // The stream as a client sends it, and the same bytes as messages only (a fuzzer finds typed
  // messages faster without having to build a startup packet first).
  std::string_view after_startup;
  const std::string_view streams[] = {readStartup(in, &after_startup) ? after_startup : "", in};
  for (const std::string_view stream : streams) {
    const Parsed whole = parseAll(stream, limit);
    check(whole.consumed <= stream.size(), "consumed <= input");
    checkSplitInvariance(stream, limit, whole, h | 1);
  }
  return 0;
}

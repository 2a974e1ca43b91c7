#pragma once
// PostgreSQL wire protocol v3 framing
// (https://www.postgresql.org/docs/15/protocol-message-formats.html): splitting bytes into
// messages, and the messages the proxy writes itself. Framing only: what a message means is the
// connection state machines' business.
//
// Every length is checked before anything is buffered: a length below the header's own size, or
// above the caller's limit, is an error the caller answers with a FATAL ErrorResponse and a
// close, so a client that lies about lengths cannot make the proxy allocate.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::pg {

inline constexpr int32_t kProtocol3 = 196608;  // 3.0
inline constexpr int32_t kCancelRequestCode = 80877102;
inline constexpr int32_t kSslRequestCode = 80877103;
inline constexpr int32_t kGssEncRequestCode = 80877104;

// What a frontend sends first (no type byte: Int32 length, Int32 code, then the body).
struct StartupPacket {
  enum class Kind : uint8_t { kStartup, kSsl, kGssEnc, kCancel };
  Kind kind = Kind::kStartup;
  int32_t protocol = 0;  // kStartup: the requested version (major << 16 | minor)
  std::vector<std::pair<std::string, std::string>> parameters;  // kStartup: user, database, ...
  int32_t cancel_pid = 0;                                       // kCancel
  int32_t cancel_secret = 0;                                    // kCancel
};

enum class ParseStatus : uint8_t {
  kNeedMore,  // not a whole message yet; nothing consumed
  kDone,      // one message taken; *consumed bytes of the input are its
  kError,     // malformed: *error says why (the connection must be closed)
};

// The first packet of a connection. `max_length` bounds the whole packet (PostgreSQL's own
// limit for a startup packet is 10,000 bytes).
ParseStatus parseStartup(std::string_view input, size_t max_length, StartupPacket* packet,
                         size_t* consumed, std::string* error);

// A regular message: Byte1 type, Int32 length (counting itself, not the type), payload.
struct Message {
  char type = 0;
  std::string_view payload;  // a view into the input
};

// One message from the front of `input`. `max_length` bounds the length field (so an
// oversized message is refused before its bytes arrive).
ParseStatus parseMessage(std::string_view input, size_t max_length, Message* message,
                         size_t* consumed, std::string* error);

// Reads NUL-terminated strings and big-endian integers from a payload, in order.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view payload) : rest_(payload) {}
  bool readString(std::string_view* out);  // without its NUL
  bool readInt32(int32_t* out);
  bool readInt16(int16_t* out);
  bool readBytes(size_t n, std::string_view* out);
  bool atEnd() const { return rest_.empty(); }
  size_t remaining() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

// A big-endian int32 at p (message lengths and the like), whatever the host's byte order.
inline int32_t readBigEndian32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<int32_t>((uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) |
                              (uint32_t{u[2]} << 8) | uint32_t{u[3]});
}

// Messages the proxy writes. Each appends one whole message to `out`.
void appendInt32(std::string* out, int32_t value);
// A string literal in SQL, E'...' with quotes and backslashes doubled: the same whatever the
// server's standard_conforming_strings is.
std::string quoteLiteral(std::string_view value);
void appendInt16(std::string* out, int16_t value);

// ErrorResponse ('E') or NoticeResponse ('N'): severity (both the localized S and the
// non-localized V field), SQLSTATE (C) and message (M), as PostgreSQL sends them.
void appendErrorResponse(std::string* out, std::string_view severity, std::string_view sqlstate,
                         std::string_view message);
void appendNoticeResponse(std::string* out, std::string_view severity, std::string_view sqlstate,
                          std::string_view message);
// ReadyForQuery ('Z'): 'I' idle, 'T' in a transaction, 'E' in a failed transaction.
void appendReadyForQuery(std::string* out, char status);
void appendCommandComplete(std::string* out, std::string_view tag);
void appendParameterStatus(std::string* out, std::string_view name, std::string_view value);
void appendBackendKeyData(std::string* out, int32_t pid, int32_t secret);
// AuthenticationOk (R, 0), AuthenticationMD5Password (R, 5 + salt), AuthenticationSASL
// (R, 10 + mechanisms), SASLContinue (R, 11), SASLFinal (R, 12).
void appendAuthenticationOk(std::string* out);
void appendAuthenticationMd5(std::string* out, const unsigned char salt[4]);
void appendAuthenticationSasl(std::string* out, const std::vector<std::string_view>& mechanisms);
void appendAuthenticationSaslContinue(std::string* out, std::string_view data);
void appendAuthenticationSaslFinal(std::string* out, std::string_view data);

// Frontend messages the proxy sends to servers.
void appendStartup(std::string* out,
                   const std::vector<std::pair<std::string, std::string>>& parameters);
void appendCancelRequest(std::string* out, int32_t pid, int32_t secret);
void appendSslRequest(std::string* out);
void appendQuery(std::string* out, std::string_view sql);
// The extended protocol's Parse, Bind, Execute and Sync for `sql` (unnamed statement and
// portal) with $1 bound to `parameter` as text: the value never becomes part of the SQL.
void appendQueryWithParameter(std::string* out, std::string_view sql, std::string_view parameter);
void appendTerminate(std::string* out);

// The statement text of a Query or Parse payload; empty for other messages.
std::string_view statementText(char type, std::string_view payload);

}  // namespace sg::pg

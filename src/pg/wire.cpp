#include "pg/wire.h"

#include <cstring>

namespace sg::pg {

namespace {

ParseStatus fail(std::string* error, std::string why) {
  *error = std::move(why);
  return ParseStatus::kError;
}

// Startup parameters: name, value pairs of NUL-terminated strings, then one more NUL.
bool readParameters(std::string_view body, StartupPacket* packet, std::string* error) {
  PayloadReader reader(body);
  for (;;) {
    std::string_view name;
    if (!reader.readString(&name)) {
      *error = "startup packet: parameters are not terminated";
      return false;
    }
    if (name.empty()) break;
    std::string_view value;
    if (!reader.readString(&value)) {
      *error = "startup packet: parameter " + std::string(name) + " has no value";
      return false;
    }
    packet->parameters.emplace_back(std::string(name), std::string(value));
  }
  if (!reader.atEnd()) {
    *error = "startup packet: bytes after the parameters' end";
    return false;
  }
  return true;
}

// Type byte, then a length that counts itself and the payload.
void beginMessage(std::string* out, char type, size_t payload_size) {
  out->push_back(type);
  appendInt32(out, static_cast<int32_t>(payload_size + 4));
}

void appendCString(std::string* out, std::string_view text) {
  out->append(text);
  out->push_back('\0');
}

void appendFieldsMessage(std::string* out, char type, std::string_view severity,
                         std::string_view sqlstate, std::string_view message) {
  const size_t size = 4 * 2 + severity.size() * 2 + sqlstate.size() + message.size() + 1;
  beginMessage(out, type, size);
  out->push_back('S');
  appendCString(out, severity);
  out->push_back('V');
  appendCString(out, severity);
  out->push_back('C');
  appendCString(out, sqlstate);
  out->push_back('M');
  appendCString(out, message);
  out->push_back('\0');
}

void appendAuthentication(std::string* out, int32_t code, std::string_view data) {
  beginMessage(out, 'R', 4 + data.size());
  appendInt32(out, code);
  out->append(data);
}

}  // namespace

ParseStatus parseStartup(std::string_view input, size_t max_length, StartupPacket* packet,
                         size_t* consumed, std::string* error) {
  if (input.size() < 8) return ParseStatus::kNeedMore;
  const int32_t length = readBigEndian32(input.data());
  if (length < 8) return fail(error, "startup packet: length " + std::to_string(length));
  if (static_cast<size_t>(length) > max_length)
    return fail(error, "startup packet: length " + std::to_string(length) + " over the limit");
  if (input.size() < static_cast<size_t>(length)) return ParseStatus::kNeedMore;
  const int32_t code = readBigEndian32(input.data() + 4);
  const std::string_view body = input.substr(8, static_cast<size_t>(length) - 8);
  *packet = StartupPacket{};
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      if (length != 8) return fail(error, "startup packet: an encryption request with a body");
      packet->kind =
          code == kSslRequestCode ? StartupPacket::Kind::kSsl : StartupPacket::Kind::kGssEnc;
      break;
    case kCancelRequestCode:
      if (length != 16) return fail(error, "cancel request: length " + std::to_string(length));
      packet->kind = StartupPacket::Kind::kCancel;
      packet->cancel_pid = readBigEndian32(body.data());
      packet->cancel_secret = readBigEndian32(body.data() + 4);
      break;
    default:
      if ((code >> 16) != 3) {
        return fail(error, "unsupported frontend protocol " + std::to_string(code >> 16) + "." +
                               std::to_string(code & 0xffff) + ": server supports 3.0");
      }
      packet->kind = StartupPacket::Kind::kStartup;
      packet->protocol = code;
      if (!readParameters(body, packet, error)) return ParseStatus::kError;
  }
  *consumed = static_cast<size_t>(length);
  return ParseStatus::kDone;
}

ParseStatus parseMessage(std::string_view input, size_t max_length, Message* message,
                         size_t* consumed, std::string* error) {
  if (input.size() < 5) return ParseStatus::kNeedMore;
  const int32_t length = readBigEndian32(input.data() + 1);
  if (length < 4) {
    return fail(error, "message '" + std::string(1, input[0]) + "': length " +
                           std::to_string(length) + " is below 4");
  }
  if (static_cast<size_t>(length) > max_length) {
    return fail(error, "message '" + std::string(1, input[0]) + "': length " +
                           std::to_string(length) + " over the limit " +
                           std::to_string(max_length));
  }
  const size_t total = 1 + static_cast<size_t>(length);
  if (input.size() < total) return ParseStatus::kNeedMore;
  message->type = input[0];
  message->payload = input.substr(5, static_cast<size_t>(length) - 4);
  *consumed = total;
  return ParseStatus::kDone;
}

bool PayloadReader::readString(std::string_view* out) {
  const size_t nul = rest_.find('\0');
  if (nul == std::string_view::npos) return false;
  *out = rest_.substr(0, nul);
  rest_.remove_prefix(nul + 1);
  return true;
}

bool PayloadReader::readInt32(int32_t* out) {
  if (rest_.size() < 4) return false;
  *out = readBigEndian32(rest_.data());
  rest_.remove_prefix(4);
  return true;
}

bool PayloadReader::readInt16(int16_t* out) {
  if (rest_.size() < 2) return false;
  const auto* u = reinterpret_cast<const unsigned char*>(rest_.data());
  *out = static_cast<int16_t>((u[0] << 8) | u[1]);
  rest_.remove_prefix(2);
  return true;
}

bool PayloadReader::readBytes(size_t n, std::string_view* out) {
  if (rest_.size() < n) return false;
  *out = rest_.substr(0, n);
  rest_.remove_prefix(n);
  return true;
}

std::string quoteLiteral(std::string_view value) {
  std::string out = "E'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

void appendInt32(std::string* out, int32_t value) {
  const auto v = static_cast<uint32_t>(value);
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                         static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(bytes, 4);
}

void appendInt16(std::string* out, int16_t value) {
  const auto v = static_cast<uint16_t>(value);
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void appendErrorResponse(std::string* out, std::string_view severity, std::string_view sqlstate,
                         std::string_view message) {
  appendFieldsMessage(out, 'E', severity, sqlstate, message);
}

void appendNoticeResponse(std::string* out, std::string_view severity, std::string_view sqlstate,
                          std::string_view message) {
  appendFieldsMessage(out, 'N', severity, sqlstate, message);
}

void appendReadyForQuery(std::string* out, char status) {
  beginMessage(out, 'Z', 1);
  out->push_back(status);
}

void appendCommandComplete(std::string* out, std::string_view tag) {
  beginMessage(out, 'C', tag.size() + 1);
  appendCString(out, tag);
}

void appendParameterStatus(std::string* out, std::string_view name, std::string_view value) {
  beginMessage(out, 'S', name.size() + value.size() + 2);
  appendCString(out, name);
  appendCString(out, value);
}

void appendBackendKeyData(std::string* out, int32_t pid, int32_t secret) {
  beginMessage(out, 'K', 8);
  appendInt32(out, pid);
  appendInt32(out, secret);
}

void appendAuthenticationOk(std::string* out) { appendAuthentication(out, 0, {}); }

void appendAuthenticationMd5(std::string* out, const unsigned char salt[4]) {
  appendAuthentication(out, 5, std::string_view(reinterpret_cast<const char*>(salt), 4));
}

void appendAuthenticationSasl(std::string* out, const std::vector<std::string_view>& mechanisms) {
  std::string list;
  for (std::string_view mechanism : mechanisms) appendCString(&list, mechanism);
  list.push_back('\0');
  appendAuthentication(out, 10, list);
}

void appendAuthenticationSaslContinue(std::string* out, std::string_view data) {
  appendAuthentication(out, 11, data);
}

void appendAuthenticationSaslFinal(std::string* out, std::string_view data) {
  appendAuthentication(out, 12, data);
}

void appendStartup(std::string* out,
                   const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::string body;
  appendInt32(&body, kProtocol3);
  for (const auto& [name, value] : parameters) {
    appendCString(&body, name);
    appendCString(&body, value);
  }
  body.push_back('\0');
  appendInt32(out, static_cast<int32_t>(body.size() + 4));
  out->append(body);
}

void appendCancelRequest(std::string* out, int32_t pid, int32_t secret) {
  appendInt32(out, 16);
  appendInt32(out, kCancelRequestCode);
  appendInt32(out, pid);
  appendInt32(out, secret);
}

void appendSslRequest(std::string* out) {
  appendInt32(out, 8);
  appendInt32(out, kSslRequestCode);
}

void appendQuery(std::string* out, std::string_view sql) {
  beginMessage(out, 'Q', sql.size() + 1);
  appendCString(out, sql);
}

void appendQueryWithParameter(std::string* out, std::string_view sql, std::string_view parameter) {
  beginMessage(out, 'P', 1 + sql.size() + 1 + 2);
  appendCString(out, "");
  appendCString(out, sql);
  appendInt16(out, 0);  // no parameter types: the server infers $1's
  // Bind: portal, statement, no format codes (text), one value, no result format codes (text).
  beginMessage(out, 'B', 1 + 1 + 2 + 2 + 4 + parameter.size() + 2);
  appendCString(out, "");
  appendCString(out, "");
  appendInt16(out, 0);
  appendInt16(out, 1);
  appendInt32(out, static_cast<int32_t>(parameter.size()));
  out->append(parameter);
  appendInt16(out, 0);
  beginMessage(out, 'E', 1 + 4);
  appendCString(out, "");
  appendInt32(out, 0);  // every row
  beginMessage(out, 'S', 0);
}

void appendTerminate(std::string* out) { beginMessage(out, 'X', 0); }

std::string_view statementText(char type, std::string_view payload) {
  PayloadReader reader(payload);
  std::string_view text;
  if (type == 'P') {
    std::string_view name;
    if (!reader.readString(&name)) return {};
  } else if (type != 'Q') {
    return {};
  }
  return reader.readString(&text) ? text : std::string_view();
}

}  // namespace sg::pg

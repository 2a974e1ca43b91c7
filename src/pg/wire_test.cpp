// Framing of PostgreSQL v3 messages: what a client may send first, regular messages, lengths
// that lie, and the messages the proxy writes (checked byte for byte and by parsing them back).
#include "pg/wire.h"

#include <gtest/gtest.h>

#include <string>

namespace sg::pg {
namespace {

constexpr size_t kStartupLimit = 10000;
constexpr size_t kMessageLimit = 1 << 20;

std::string startupBytes(int32_t code, std::string_view body) {
  std::string out;
  appendInt32(&out, static_cast<int32_t>(body.size() + 8));
  appendInt32(&out, code);
  out.append(body);
  return out;
}

// Every whole message of `bytes` in order; anything else fails the test.
std::vector<Message> splitMessages(std::string_view bytes) {
  std::vector<Message> messages;
  Message message;
  size_t consumed = 0;
  std::string error;
  while (!bytes.empty()) {
    if (parseMessage(bytes, kMessageLimit, &message, &consumed, &error) != ParseStatus::kDone) {
      ADD_FAILURE() << "not a whole message: " << error;
      break;
    }
    messages.push_back(message);
    bytes.remove_prefix(consumed);
  }
  return messages;
}

TEST(Startup, ParametersAreRead) {
  std::string bytes;
  appendStartup(&bytes, {{"user", "app"}, {"database", "orders"}, {"application_name", "t"}});
  bytes += "Q";  // the next message's first byte stays unread
  StartupPacket packet;
  size_t consumed = 0;
  std::string error;
  ASSERT_EQ(parseStartup(bytes, kStartupLimit, &packet, &consumed, &error), ParseStatus::kDone)
      << error;
  EXPECT_EQ(consumed, bytes.size() - 1);
  EXPECT_EQ(packet.kind, StartupPacket::Kind::kStartup);
  EXPECT_EQ(packet.protocol, kProtocol3);
  ASSERT_EQ(packet.parameters.size(), 3u);
  EXPECT_EQ(packet.parameters[0], (std::pair<std::string, std::string>{"user", "app"}));
  EXPECT_EQ(packet.parameters[2].second, "t");
}

TEST(Startup, NeedsTheWholePacket) {
  std::string bytes;
  appendStartup(&bytes, {{"user", "app"}});
  StartupPacket packet;
  size_t consumed = 0;
  std::string error;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(parseStartup(std::string_view(bytes).substr(0, n), kStartupLimit, &packet, &consumed,
                           &error),
              ParseStatus::kNeedMore)
        << n;
  }
}

TEST(Startup, EncryptionAndCancelRequests) {
  StartupPacket packet;
  size_t consumed = 0;
  std::string error;
  ASSERT_EQ(
      parseStartup(startupBytes(kSslRequestCode, ""), kStartupLimit, &packet, &consumed, &error),
      ParseStatus::kDone);
  EXPECT_EQ(packet.kind, StartupPacket::Kind::kSsl);
  ASSERT_EQ(
      parseStartup(startupBytes(kGssEncRequestCode, ""), kStartupLimit, &packet, &consumed, &error),
      ParseStatus::kDone);
  EXPECT_EQ(packet.kind, StartupPacket::Kind::kGssEnc);
  std::string cancel;
  appendCancelRequest(&cancel, 4242, -7);
  ASSERT_EQ(parseStartup(cancel, kStartupLimit, &packet, &consumed, &error), ParseStatus::kDone);
  EXPECT_EQ(packet.kind, StartupPacket::Kind::kCancel);
  EXPECT_EQ(packet.cancel_pid, 4242);
  EXPECT_EQ(packet.cancel_secret, -7);
  EXPECT_EQ(consumed, 16u);
  std::string ssl;
  appendSslRequest(&ssl);  // what the proxy sends a server for server_tls
  EXPECT_EQ(ssl, startupBytes(kSslRequestCode, ""));
}

TEST(Startup, MalformedPacketsAreErrors) {
  struct Case {
    std::string bytes;
    const char* reason;
  };
  std::string huge;
  appendInt32(&huge, 1 << 30);  // 1 GiB: refused before any of it arrives
  appendInt32(&huge, kProtocol3);
  std::string tiny;
  appendInt32(&tiny, 4);
  appendInt32(&tiny, kProtocol3);
  const Case cases[] = {
      {huge, "over the limit"},
      {tiny, "length 4"},
      {startupBytes(2 << 16, std::string("user\0x\0\0", 8)), "unsupported frontend protocol 2.0"},
      {startupBytes(kProtocol3, std::string("user\0app", 8)), "parameter user has no value"},
      {startupBytes(kProtocol3, std::string("user", 4)), "not terminated"},
      {startupBytes(kProtocol3, std::string("\0junk", 5)), "bytes after"},
      {startupBytes(kSslRequestCode, "xxxx"), "encryption request with a body"},
      {startupBytes(kCancelRequestCode, "1234"), "cancel request: length 12"},
  };
  for (const Case& c : cases) {
    StartupPacket packet;
    size_t consumed = 0;
    std::string error;
    EXPECT_EQ(parseStartup(c.bytes, kStartupLimit, &packet, &consumed, &error), ParseStatus::kError)
        << c.reason;
    EXPECT_NE(error.find(c.reason), std::string::npos) << error;
  }
}

TEST(Message, SplitsConsecutiveMessages) {
  std::string bytes;
  appendQuery(&bytes, "SELECT 1");
  appendTerminate(&bytes);
  Message message;
  size_t consumed = 0;
  std::string error;
  ASSERT_EQ(parseMessage(bytes, kMessageLimit, &message, &consumed, &error), ParseStatus::kDone);
  EXPECT_EQ(message.type, 'Q');
  EXPECT_EQ(message.payload, std::string_view("SELECT 1\0", 9));
  std::string_view rest = std::string_view(bytes).substr(consumed);
  ASSERT_EQ(parseMessage(rest, kMessageLimit, &message, &consumed, &error), ParseStatus::kDone);
  EXPECT_EQ(message.type, 'X');
  EXPECT_TRUE(message.payload.empty());
  EXPECT_EQ(consumed, 5u);
  for (size_t n = 0; n < 14; ++n) {  // 'Q' + 4 + 9 bytes: every prefix waits
    EXPECT_EQ(parseMessage(std::string_view(bytes).substr(0, n), kMessageLimit, &message, &consumed,
                           &error),
              ParseStatus::kNeedMore)
        << n;
  }
}

TEST(Message, LyingLengthsAreErrorsBeforeAnyBody) {
  Message message;
  size_t consumed = 0;
  std::string error;
  std::string huge = "P";
  appendInt32(&huge, 1 << 30);
  EXPECT_EQ(parseMessage(huge, kMessageLimit, &message, &consumed, &error), ParseStatus::kError);
  EXPECT_NE(error.find("over the limit"), std::string::npos) << error;
  std::string negative = "Q";
  appendInt32(&negative, -1);
  EXPECT_EQ(parseMessage(negative, kMessageLimit, &message, &consumed, &error),
            ParseStatus::kError);
  std::string short_length = "Q";
  appendInt32(&short_length, 3);
  EXPECT_EQ(parseMessage(short_length, kMessageLimit, &message, &consumed, &error),
            ParseStatus::kError);
  EXPECT_NE(error.find("below 4"), std::string::npos) << error;
}

// The bytes PostgreSQL itself sends for a FATAL with SQLSTATE 28P01.
TEST(Writer, ErrorResponseIsPostgresFormat) {
  std::string out;
  appendErrorResponse(&out, "FATAL", "28P01", "password authentication failed");
  const std::string fields = std::string("SFATAL\0VFATAL\0C28P01\0M", 22) +
                             "password authentication failed" + std::string("\0\0", 2);
  std::string expected = "E";
  appendInt32(&expected, static_cast<int32_t>(fields.size() + 4));
  expected += fields;
  EXPECT_EQ(out, expected);
  Message message;
  size_t consumed = 0;
  std::string error;
  ASSERT_EQ(parseMessage(out, kMessageLimit, &message, &consumed, &error), ParseStatus::kDone);
  EXPECT_EQ(consumed, out.size());
}

TEST(Writer, MessagesParseBack) {
  std::string out;
  appendAuthenticationOk(&out);
  appendParameterStatus(&out, "client_encoding", "UTF8");
  appendBackendKeyData(&out, 77, 12345);
  appendReadyForQuery(&out, 'I');
  appendAuthenticationSasl(&out, {"SCRAM-SHA-256"});
  std::vector<Message> messages = splitMessages(out);
  ASSERT_EQ(messages.size(), 5u);
  int32_t code = -1;
  EXPECT_TRUE(PayloadReader(messages[0].payload).readInt32(&code));
  EXPECT_EQ(code, 0);
  PayloadReader status(messages[1].payload);
  std::string_view name, value;
  ASSERT_TRUE(status.readString(&name) && status.readString(&value));
  EXPECT_EQ(name, "client_encoding");
  EXPECT_EQ(value, "UTF8");
  EXPECT_TRUE(status.atEnd());
  PayloadReader key(messages[2].payload);
  int32_t pid = 0, secret = 0;
  ASSERT_TRUE(key.readInt32(&pid) && key.readInt32(&secret));
  EXPECT_EQ(pid, 77);
  EXPECT_EQ(secret, 12345);
  EXPECT_EQ(messages[3].type, 'Z');
  EXPECT_EQ(messages[3].payload, "I");
  PayloadReader sasl(messages[4].payload);
  std::string_view mechanism, end;
  ASSERT_TRUE(sasl.readInt32(&code) && sasl.readString(&mechanism) && sasl.readString(&end));
  EXPECT_EQ(code, 10);
  EXPECT_EQ(mechanism, "SCRAM-SHA-256");
  EXPECT_TRUE(end.empty() && sasl.atEnd());
}

// auth_query's messages: the user name travels as Bind's value, byte for byte, never in SQL.
TEST(Writer, QueryWithParameterBindsTheValue) {
  std::string out;
  constexpr char kName[] = "x'; DROP TABLE t; --\0\xff";
  const std::string_view name(kName, sizeof(kName) - 1);
  appendQueryWithParameter(&out, "SELECT usename, passwd FROM f($1)", name);
  std::vector<Message> messages = splitMessages(out);
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(std::string({messages[0].type, messages[1].type, messages[2].type, messages[3].type}),
            "PBES");
  PayloadReader parse(messages[0].payload);
  std::string_view statement, sql;
  int16_t types = -1;
  ASSERT_TRUE(parse.readString(&statement) && parse.readString(&sql) && parse.readInt16(&types));
  EXPECT_TRUE(statement.empty());
  EXPECT_EQ(sql, "SELECT usename, passwd FROM f($1)");
  EXPECT_EQ(types, 0);
  EXPECT_TRUE(parse.atEnd());
  PayloadReader bind(messages[1].payload);
  std::string_view portal, value;
  int16_t formats = -1, values = -1, result_formats = -1;
  int32_t length = -1;
  ASSERT_TRUE(bind.readString(&portal) && bind.readString(&statement) && bind.readInt16(&formats) &&
              bind.readInt16(&values) && bind.readInt32(&length) &&
              bind.readBytes(static_cast<size_t>(length), &value) &&
              bind.readInt16(&result_formats));
  EXPECT_EQ(formats, 0);
  EXPECT_EQ(values, 1);
  EXPECT_EQ(value, name);
  EXPECT_EQ(result_formats, 0);
  EXPECT_TRUE(bind.atEnd());
  PayloadReader execute(messages[2].payload);
  int32_t rows = -1;
  ASSERT_TRUE(execute.readString(&portal) && execute.readInt32(&rows));
  EXPECT_EQ(rows, 0);
  EXPECT_TRUE(messages[3].payload.empty());
}

}  // namespace
}  // namespace sg::pg

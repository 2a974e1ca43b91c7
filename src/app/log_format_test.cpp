#include "app/log_format.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

#include <boost/json.hpp>
#include <chrono>

namespace sg::app {
namespace {

std::string jsonLiteral(std::string_view text) {
  std::string out;
  appendJsonString(text, out);
  return out;
}

// Parses `literal` with Boost.JSON (which rejects invalid UTF-8 and raw control characters).
std::string parsedBack(const std::string& literal) {
  boost::json::error_code error;
  auto value = boost::json::parse(literal, error);
  EXPECT_FALSE(error) << literal << ": " << error.message();
  return error ? std::string() : std::string(value.as_string());
}

TEST(LogFormat, ParsesOnlyKnownNames) {
  EXPECT_EQ(parseLogFormat("text"), LogFormat::text);
  EXPECT_EQ(parseLogFormat("json"), LogFormat::json);
  EXPECT_EQ(parseLogFormat("JSON"), std::nullopt);
  EXPECT_EQ(parseLogFormat(""), std::nullopt);
}

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(jsonLiteral("plain"), "\"plain\"");
  EXPECT_EQ(jsonLiteral("say \"hi\""), R"("say \"hi\"")");
  EXPECT_EQ(jsonLiteral("C:\\dir"), R"("C:\\dir")");
  EXPECT_EQ(jsonLiteral("a\nb\tc\rd"), R"("a\nb\tc\rd")");
  EXPECT_EQ(jsonLiteral(std::string("nul\0bell\a\x1b\x7f", 11)),
            R"("nul\u0000bell\u0007\u001b\u007f")");
  const std::string tricky = std::string("q\"b\\n\n\x01\x1f", 8);
  EXPECT_EQ(parsedBack(jsonLiteral(tricky)), tricky);
}

TEST(JsonString, KeepsValidUtf8) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // café € 😀
  EXPECT_EQ(jsonLiteral(text), "\"" + text + "\"");
  EXPECT_EQ(parsedBack(jsonLiteral(text)), text);
}

TEST(JsonString, ReplacesInvalidUtf8WithReplacementCharacter) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(jsonLiteral("\xFF"), "\"" + fffd + "\"");                        // never valid
  EXPECT_EQ(jsonLiteral("a\x80z"), "\"a" + fffd + "z\"");                    // stray continuation
  EXPECT_EQ(jsonLiteral("\xC3"), "\"" + fffd + "\"");                        // truncated at the end
  EXPECT_EQ(jsonLiteral("\xC3(x"), "\"" + fffd + "(x\"");                    // bad second byte
  EXPECT_EQ(jsonLiteral("\xC0\xAF"), "\"" + fffd + fffd + "\"");             // overlong '/'
  EXPECT_EQ(jsonLiteral("\xED\xA0\x80"), "\"" + fffd + fffd + fffd + "\"");  // UTF-16 surrogate
  EXPECT_EQ(jsonLiteral("\xF4\x90\x80\x80"),
            "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
  for (const char* bad : {"\xFF\xFE", "x\xE2\x82", "\xF0\x9F\x98", "GET /\x80\"\\ HTTP"})
    parsedBack(jsonLiteral(bad));
}

TEST(JsonLogFormatter, WritesOneJsonObjectPerLine) {
  const std::string payload = "bad request \"x\\y\"\n\xFF";
  spdlog::details::log_msg message("scalegate", spdlog::level::warn, payload);
  // 2026-12-04T12:00:00.042Z
  message.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796385600042));
  spdlog::memory_buf_t buffer;
  JsonLogFormatter().format(message, buffer);
  const std::string line(buffer.data(), buffer.size());
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  boost::json::error_code error;
  auto object = boost::json::parse(line, error).as_object();
  ASSERT_FALSE(error) << line;
  EXPECT_EQ(object.at("time").as_string(), "2026-12-04T12:00:00.042Z");
  EXPECT_EQ(object.at("level").as_string(), "warning");
  EXPECT_EQ(object.at("logger").as_string(), "scalegate");
  EXPECT_EQ(object.at("msg").as_string(), "bad request \"x\\y\"\n\xEF\xBF\xBD");
}

TEST(JsonLogFormatter, CloneFormatsTheSame) {
  spdlog::details::log_msg message("n", spdlog::level::err, "m");
  spdlog::memory_buf_t first, second;
  JsonLogFormatter formatter;
  formatter.format(message, first);
  formatter.clone()->format(message, second);
  EXPECT_EQ(std::string(first.data(), first.size()), std::string(second.data(), second.size()));
}

}  // namespace
}  // namespace sg::app

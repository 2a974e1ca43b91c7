// Command encoding and the EVALSHA / EVAL forms of a script call.
#include "store/resp.h"

#include <gtest/gtest.h>

#include "store/script.h"

namespace sg::store {
namespace {

TEST(Resp, EncodesArraysOfBulkStrings) {
  std::string out;
  appendCommand(&out, {"SET", "k", ""});
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
  const size_t first = out.size();
  appendCommand(&out, {std::string_view("a\r\nb\0c", 6)});
  EXPECT_EQ(out.substr(first), std::string("*1\r\n$6\r\na\r\nb\0c\r\n", 16));
}

TEST(Script, DigestIsRedisSha1) {
  // What `SCRIPT LOAD "return 1"` answers.
  EXPECT_EQ(Script("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST(Script, EvalFormCarriesTheSameKeyAndArguments) {
  const Script script("return ARGV[1]");
  std::string evalsha;
  appendScriptCall(&evalsha, script, "key", {"x", "yz"});
  std::string expected_sha;
  appendCommand(&expected_sha, {"EVALSHA", script.sha1(), "1", "key", "x", "yz"});
  EXPECT_EQ(evalsha, expected_sha);
  std::string expected_eval;
  appendCommand(&expected_eval, {"EVAL", script.source(), "1", "key", "x", "yz"});
  EXPECT_EQ(evalFormOf(evalsha, script), expected_eval);
}

TEST(Script, ManyArgumentsStillEncode) {
  const Script script("return #ARGV");
  std::vector<std::string_view> args(40, "a");
  std::string out;
  appendScriptCall(&out, script, "k", args.data(), args.size());
  EXPECT_TRUE(out.starts_with("*44\r\n$7\r\nEVALSHA\r\n"));
}

}  // namespace
}  // namespace sg::store

// admin.token, admin.token_file, admin.public_read, and the loopback-only rule without a token.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::BadCase;
using testutil::describe;
using testutil::expectOneError;
using testutil::kMinimal;
using testutil::load;
using testutil::loadValid;

constexpr const char* kToken = "0123456789abcdef0123";

// kMinimal with an admin section: "admin:" is line 10, `address` line 11 (value at column 12),
// and the first of `lines` line 12 (value of "token: " at column 10).
std::string withAdmin(const std::string& address, const std::string& lines = "") {
  return std::string(kMinimal) + "admin:\n  address: " + address + "\n" + lines;
}

// A temporary directory removed with the fixture; files are written into it.
class AdminTokenFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sg_admin_token_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& contents) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  std::string dir_;
};

TEST(AdminConfig, NoTokenOnLoopback) {
  for (const char* address :
       {"127.0.0.1:9901", "127.8.9.10:9901", "'[::1]:9901'", "localhost:9901"}) {
    SCOPED_TRACE(address);
    const auto config = loadValid(withAdmin(address));
    ASSERT_NE(config, nullptr);
    EXPECT_TRUE(config->admin.token.empty());
    EXPECT_FALSE(config->admin.public_read);
  }
}

TEST(AdminConfig, TokenAndPublicRead) {
  const auto config = loadValid(
      withAdmin("0.0.0.0:9901", std::string("  token: ") + kToken + "\n  public_read: true\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->admin.token, kToken);
  EXPECT_TRUE(config->admin.public_read);
}

TEST(AdminConfig, EveryBearerCharacterIsAccepted) {
  const std::string token = "aZ09-._~+/aZ09-._~+/==";
  const auto config = loadValid(withAdmin("127.0.0.1:9901", "  token: " + token + "\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->admin.token, token);
}

std::vector<BadCase> badAdminCases() {
  const std::string token_line = std::string("  token: ") + kToken + "\n";
  return {
      {"WildcardWithoutToken", withAdmin("0.0.0.0:9901"), 11, 12,
       "admin.address: 0.0.0.0:9901 is not a loopback address: without admin.token (or "
       "admin.token_file) the admin API may only listen on 127.0.0.0/8 or [::1]"},
      {"StarWithoutToken", withAdmin("'*:9901'"), 11, 12,
       "admin.address: 0.0.0.0:9901 is not a loopback address"},
      {"Ipv6WildcardWithoutToken", withAdmin("'[::]:9901'"), 11, 12,
       "admin.address: [::]:9901 is not a loopback address"},
      {"LanAddressWithoutToken", withAdmin("10.1.2.3:9901"), 11, 12,
       "admin.address: 10.1.2.3:9901 is not a loopback address"},
      {"PublicReadWithoutTokenOffLoopback", withAdmin("0.0.0.0:9901", "  public_read: true\n"), 11,
       12, "admin.address: 0.0.0.0:9901 is not a loopback address"},
      {"ShortToken", withAdmin("127.0.0.1:9901", "  token: abc12\n"), 12, 10,
       "admin.token: the token is 5 bytes; an admin token needs at least 16 so it cannot be "
       "guessed (make one with: openssl rand -hex 32)"},
      {"FifteenBytes", withAdmin("127.0.0.1:9901", "  token: 0123456789abcde\n"), 12, 10,
       "admin.token: the token is 15 bytes; an admin token needs at least 16"},
      {"EmptyToken", withAdmin("127.0.0.1:9901", "  token: ''\n"), 12, 10,
       "admin.token: the token is empty"},
      {"TokenWithSpace", withAdmin("127.0.0.1:9901", "  token: '0123456789 abcdef'\n"), 12, 10,
       "admin.token: the token: byte 11 is not allowed in a Bearer token (use letters, digits "
       "and -._~+/=)"},
      {"TokenTooLong", withAdmin("127.0.0.1:9901", "  token: " + std::string(4097, 'a') + "\n"), 12,
       10, "admin.token: the token is longer than 4096 bytes"},
      {"TokenNotAString", withAdmin("127.0.0.1:9901", "  token: [a, b]\n"), 12, 10,
       "admin.token: expected a string"},
      {"TokenAndTokenFile",
       withAdmin("127.0.0.1:9901", token_line + "  token_file: /etc/scalegate/token\n"), 13, 15,
       "admin.token_file: set either token or token_file, not both"},
      {"EmptyTokenFilePath", withAdmin("127.0.0.1:9901", "  token_file: ''\n"), 12, 15,
       "admin.token_file: the file path is empty"},
      {"PublicReadNotBool", withAdmin("127.0.0.1:9901", token_line + "  public_read: sometimes\n"),
       13, 16, "admin.public_read: expected true or false"},
      {"UnknownAdminKey", withAdmin("127.0.0.1:9901", "  tokens: x\n"), 12, 3,
       "admin.tokens: unknown key 'tokens'"},
  };
}

class BadAdmin : public ::testing::TestWithParam<BadCase> {};
TEST_P(BadAdmin, GivesOneError) { expectOneError(GetParam()); }
INSTANTIATE_TEST_SUITE_P(AdminConfig, BadAdmin, ::testing::ValuesIn(badAdminCases()),
                         [](const auto& info) { return info.param.name; });

TEST_F(AdminTokenFile, ReadAtLoadWithLineEndTrimmed) {
  std::string path = write("token", std::string(kToken) + "\r\n");
  const auto config = loadValid(withAdmin("0.0.0.0:9901", "  token_file: " + path + "\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->admin.token, kToken);
}

TEST_F(AdminTokenFile, RelativeToTheConfigFile) {
  write("token", std::string(kToken) + "\n");
  LoadResult result = loadConfigString(withAdmin("127.0.0.1:9901", "  token_file: token\n"),
                                       dir_ + "/gateway.yaml");
  ASSERT_NE(result.config, nullptr) << describe(result.errors);
  EXPECT_EQ(result.config->admin.token, kToken);
}

// Each failure names the file and points at the token_file key's value (12:15).
TEST_F(AdminTokenFile, ErrorsNameTheFile) {
  struct Case {
    std::string file_name;
    std::string contents;  // not written when empty and file_name starts with "missing"
    std::string message;
  };
  const std::vector<Case> cases = {
      {"missing", "", "cannot read '" + dir_ + "/missing': No such file or directory"},
      {"blank", "\n", "the token in '" + dir_ + "/blank' is empty"},
      {"short", "abc\n", "the token in '" + dir_ + "/short' is 3 bytes; an admin token needs"},
      {"spaces", "0123456789 abcdef\n",
       "the token in '" + dir_ + "/spaces': byte 11 is not allowed in a Bearer token"},
      {"long", std::string(5000, 'a'),
       "the token in '" + dir_ + "/long' is longer than 4096 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file_name);
    if (c.file_name != "missing") write(c.file_name, c.contents);
    LoadResult result =
        load(withAdmin("127.0.0.1:9901", "  token_file: " + dir_ + "/" + c.file_name + "\n"));
    EXPECT_EQ(result.config, nullptr);
    ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
    EXPECT_EQ(result.errors[0].line, 12);
    EXPECT_EQ(result.errors[0].column, 15);
    EXPECT_EQ(result.errors[0].message.rfind("admin.token_file: " + c.message, 0), 0u)
        << result.errors[0].message;
  }
}

TEST_F(AdminTokenFile, DirectoryIsRefused) {
  LoadResult result = load(withAdmin("127.0.0.1:9901", "  token_file: " + dir_ + "\n"));
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  EXPECT_EQ(result.errors[0].message,
            "admin.token_file: cannot read '" + dir_ + "': it is a directory");
}

// A token never appears in an error, even when the file around it is refused.
TEST(AdminConfig, ErrorsNeverQuoteTheToken) {
  LoadResult result = load(withAdmin("127.0.0.1:9901", "  token: 'secretsecret secret'\n"));
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].message.find("secret"), std::string::npos) << result.errors[0].message;
}

}  // namespace
}  // namespace sg::config

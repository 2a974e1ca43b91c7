// postgres.client_tls and postgres.server_tls with real files: modes and defaults, paths relative
// to the config file, contexts made at load time, and the file errors with their positions.
// The certificates are made at test time with the openssl command.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::describe;
using Mode = PostgresTlsMode;

constexpr const char* kHead = R"(postgres:
  listeners:
    - { name: main, address: 127.0.0.1:6432 }
  auth: { type: trust }
  databases:
    app: { primary: 127.0.0.1:5432 }
)";

class PostgresTlsConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("sg-config-tls-" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_ / "certs");
    const std::string certs = (*dir_ / "certs").string();
    for (const char* name : {"server", "other"}) {
      std::string command =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
          "-days 1 -subj /CN=" +
          std::string(name) + " -keyout " + certs + "/" + name + ".key -out " + certs + "/" + name +
          ".pem 2>/dev/null";
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  // Loads kHead plus `tail` as if from <dir>/gw.yaml, so relative paths resolve against <dir>.
  static LoadResult load(const std::string& tail) {
    return loadConfigString(kHead + tail, (*dir_ / "gw.yaml").string());
  }
  static std::string at(const char* name) { return (*dir_ / "certs" / name).string(); }
  static std::filesystem::path* dir_;
};

std::filesystem::path* PostgresTlsConfigTest::dir_ = nullptr;

TEST_F(PostgresTlsConfigTest, OffByDefault) {
  LoadResult result = load("");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_EQ(result.config->postgres->client_tls.mode, Mode::kDisable);
  EXPECT_EQ(result.config->postgres->client_tls.context, nullptr);
  EXPECT_EQ(result.config->postgres->server_tls.mode, Mode::kDisable);
  EXPECT_EQ(result.config->postgres->server_tls.context, nullptr);
}

TEST_F(PostgresTlsConfigTest, ClientTlsDefaultsToPreferWithFilesBesideTheConfig) {
  LoadResult result = load("  client_tls: { cert: certs/server.pem, key: certs/server.key }\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const auto& tls = result.config->postgres->client_tls;
  EXPECT_EQ(tls.mode, Mode::kPrefer);
  EXPECT_FALSE(tls.required());
  EXPECT_EQ(tls.cert, at("server.pem"));
  EXPECT_EQ(tls.key, at("server.key"));
  ASSERT_NE(tls.context, nullptr);
  EXPECT_TRUE(tls.context->isServer());
}

TEST_F(PostgresTlsConfigTest, ClientTlsVerifyFullWithCa) {
  LoadResult result = load(
      "  client_tls: { cert: certs/server.pem, key: certs/server.key, mode: verify-full, ca: "
      "certs/other.pem }\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const auto& tls = result.config->postgres->client_tls;
  EXPECT_EQ(tls.mode, Mode::kVerifyFull);
  EXPECT_TRUE(tls.required());
  EXPECT_EQ(tls.ca, at("other.pem"));
  ASSERT_NE(tls.context, nullptr);
  EXPECT_EQ(tls.context->verify(), net::TlsVerify::kFull);
}

TEST_F(PostgresTlsConfigTest, ClientTlsDisableNeedsNoFiles) {
  LoadResult result = load("  client_tls: { mode: disable }\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_EQ(result.config->postgres->client_tls.context, nullptr);
}

TEST_F(PostgresTlsConfigTest, ServerTlsAsAModeOrAMap) {
  LoadResult result = load("  server_tls: require\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const auto& scalar = result.config->postgres->server_tls;
  EXPECT_EQ(scalar.mode, Mode::kRequire);
  ASSERT_NE(scalar.context, nullptr);
  EXPECT_FALSE(scalar.context->isServer());
  EXPECT_EQ(scalar.context->verify(), net::TlsVerify::kNone);

  result = load(
      "  server_tls: { mode: verify-ca, ca: certs/server.pem, cert: certs/other.pem, key: "
      "certs/other.key }\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const auto& map = result.config->postgres->server_tls;
  EXPECT_EQ(map.mode, Mode::kVerifyCa);
  EXPECT_EQ(map.ca, at("server.pem"));
  EXPECT_EQ(map.cert, at("other.pem"));
  ASSERT_NE(map.context, nullptr);
  EXPECT_EQ(map.context->verify(), net::TlsVerify::kCa);

  // verify-full without ca: the system's trust store.
  result = load("  server_tls: verify-full\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_EQ(result.config->postgres->server_tls.context->verify(), net::TlsVerify::kFull);
}

// One error, at line:column of the file, starting with `message`.
void expectError(const LoadResult& result, int line, int column, const std::string& message) {
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  const ConfigError& error = result.errors[0];
  EXPECT_EQ(error.file.substr(error.file.size() - 7), "gw.yaml");
  EXPECT_EQ(error.line, line) << error.toString();
  EXPECT_EQ(error.column, column) << error.toString();
  EXPECT_EQ(error.message.rfind(message, 0), 0u) << error.message;
}

TEST_F(PostgresTlsConfigTest, MissingFileIsNamedAtItsValue) {
  expectError(
      load("  client_tls: { cert: certs/nope.pem, key: certs/server.key }\n"), 7, 23,
      "postgres.client_tls.cert: cannot read '" + at("nope.pem") + "': No such file or directory");
}

TEST_F(PostgresTlsConfigTest, KeyThatDoesNotMatchTheCertificate) {
  expectError(load("  client_tls: { cert: certs/server.pem, key: certs/other.key }\n"), 7, 23,
              "postgres.client_tls: the private key '" + at("other.key") +
                  "' does not match the certificate '" + at("server.pem") + "'");
}

TEST_F(PostgresTlsConfigTest, NotACertificate) {
  expectError(load("  client_tls: { cert: certs/server.key, key: certs/server.key }\n"), 7, 23,
              "postgres.client_tls: cannot load the certificate '" + at("server.key") + "'");
}

TEST_F(PostgresTlsConfigTest, ClientVerifyNeedsCa) {
  expectError(
      load("  client_tls: { cert: certs/server.pem, key: certs/server.key, mode: verify-ca }\n"), 7,
      70, "postgres.client_tls.mode: verify-ca and verify-full check client certificates");
}

TEST_F(PostgresTlsConfigTest, ClientTlsNeedsCertAndKey) {
  expectError(load("  client_tls: { cert: certs/server.pem }\n"), 7, 15,
              "postgres.client_tls: missing required key 'key'");
}

TEST_F(PostgresTlsConfigTest, ServerCertificateNeedsItsKey) {
  expectError(load("  server_tls: { mode: require, cert: certs/other.pem }\n"), 7, 38,
              "postgres.server_tls.cert: a client certificate needs both cert and key");
}

}  // namespace
}  // namespace sg::config

// Upstream key `tls` with real files: defaults (verify on, the system's trust store), paths
// relative to the config file, the client context made at load time, and each bad input with
// its position. The certificates are made at test time with the openssl command.
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

// The upstream's keys follow on line 8, indented by 4.
constexpr const char* kHead = R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    routes: [{ upstream: secure }]
upstreams:
  secure:
    servers: [{ address: 127.0.0.1:8443 }]
)";

class UpstreamTlsConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("sg-config-utls-" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_ / "certs");
    const std::string certs = (*dir_ / "certs").string();
    for (const char* name : {"ca", "client", "other"}) {
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
  static LoadResult load(const std::string& tail) {
    return loadConfigString(kHead + tail, (*dir_ / "gw.yaml").string());
  }
  static std::string at(const char* name) { return (*dir_ / "certs" / name).string(); }
  static std::filesystem::path* dir_;
};

std::filesystem::path* UpstreamTlsConfigTest::dir_ = nullptr;

void expectError(const LoadResult& result, int line, int column, const std::string& message) {
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  const ConfigError& error = result.errors[0];
  EXPECT_EQ(error.line, line) << error.toString();
  EXPECT_EQ(error.column, column) << error.toString();
  EXPECT_EQ(error.message.rfind(message, 0), 0u) << error.message;
}

TEST_F(UpstreamTlsConfigTest, PlainWithoutTheKey) {
  LoadResult result = load("");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_FALSE(result.config->upstreams[0].tls.has_value());
}

TEST_F(UpstreamTlsConfigTest, EmptyMapVerifiesAgainstTheSystemStore) {
  LoadResult result = load("    tls: {}\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const auto& tls = *result.config->upstreams[0].tls;
  EXPECT_TRUE(tls.verify);
  EXPECT_TRUE(tls.sni.empty());
  EXPECT_TRUE(tls.ca.empty());
  ASSERT_NE(tls.context, nullptr);
  EXPECT_FALSE(tls.context->isServer());
  EXPECT_EQ(tls.context->verify(), net::TlsVerify::kFull);
}

TEST_F(UpstreamTlsConfigTest, EveryKeyWithFilesBesideTheConfig) {
  LoadResult result = load(
      "    tls:\n      sni: api.internal.test\n      ca: certs/ca.pem\n      min_version: 1.3\n"
      "      client_cert: { cert: certs/client.pem, key: certs/client.key }\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const auto& tls = *result.config->upstreams[0].tls;
  EXPECT_EQ(tls.sni, "api.internal.test");
  EXPECT_EQ(tls.ca, at("ca.pem"));
  EXPECT_EQ(tls.cert, at("client.pem"));
  EXPECT_EQ(tls.key, at("client.key"));
  EXPECT_EQ(tls.min_version, 0x0304);
  ASSERT_NE(tls.context, nullptr);
}

TEST_F(UpstreamTlsConfigTest, VerifyFalseChecksNothing) {
  LoadResult result = load("    tls: { verify: false }\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_EQ(result.config->upstreams[0].tls->context->verify(), net::TlsVerify::kNone);
}

TEST_F(UpstreamTlsConfigTest, MissingCaFileIsNamedAtItsValue) {
  expectError(
      load("    tls: { ca: certs/nope.pem }\n"), 8, 16,
      "upstreams.secure.tls.ca: cannot read '" + at("nope.pem") + "': No such file or directory");
}

TEST_F(UpstreamTlsConfigTest, KeyThatDoesNotMatchTheClientCertificate) {
  expectError(load("    tls: { client_cert: { cert: certs/client.pem, key: certs/other.key } }\n"),
              8, 25,
              "upstreams.secure.tls.client_cert: the private key '" + at("other.key") +
                  "' does not match the certificate '" + at("client.pem") + "'");
}

TEST_F(UpstreamTlsConfigTest, ClientCertNeedsItsKey) {
  expectError(load("    tls: { client_cert: { cert: certs/client.pem } }\n"), 8, 25,
              "upstreams.secure.tls.client_cert: missing required key 'key'");
}

TEST_F(UpstreamTlsConfigTest, UnknownMinVersion) {
  expectError(load("    tls: { min_version: 1.1 }\n"), 8, 25,
              "upstreams.secure.tls.min_version: unknown TLS version '1.1' (1.2 or 1.3)");
}

TEST_F(UpstreamTlsConfigTest, InvalidSni) {
  expectError(load("    tls: { sni: \"a b\" }\n"), 8, 17,
              "upstreams.secure.tls.sni: invalid server name 'a b'");
}

TEST_F(UpstreamTlsConfigTest, VerifyMustBeABoolean) {
  expectError(load("    tls: { verify: yes }\n"), 8, 20,
              "upstreams.secure.tls.verify: expected true or false, got 'yes'");
}

TEST_F(UpstreamTlsConfigTest, UnknownKey) {
  expectError(load("    tls: { verfy: true }\n"), 8, 12,
              "upstreams.secure.tls.verfy: unknown key 'verfy'");
}

}  // namespace
}  // namespace sg::config

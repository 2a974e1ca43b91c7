// A listener's `tls` with real files: defaults, ALPN, SNI certificate choice, and the errors a
// bad file or value gives, with their positions. Certificates are made with the openssl command.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "config/config.h"
#include "config/config_test_util.h"
#include "config/load.h"

namespace sg::config {
namespace {

using testutil::describe;

constexpr const char* kHead = R"(upstreams:
  users:
    servers:
      - address: 127.0.0.1:3001
listeners:
  - name: public
    address: 127.0.0.1:8443
    routes:
      - upstream: users
)";

class ListenerTlsConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("sg-listener-tls-" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_);
    makeCertificate("a", "DNS:a.test");
    makeCertificate("b", "DNS:b.test,DNS:*.wild.test");
  }
  static void makeCertificate(const std::string& name, const std::string& names) {
    const std::string base = (*dir_ / name).string();
    std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=" +
        name + " -addext subjectAltName=" + names + " -keyout " + base + ".key -out " + base +
        ".pem 2>/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  // kHead plus the listener's `tls` text (at 4 spaces), loaded as <dir>/gw.yaml.
  static LoadResult load(const std::string& tls) {
    return loadConfigString(kHead + std::string("    tls:\n") + tls, (*dir_ / "gw.yaml").string());
  }
  static std::filesystem::path* dir_;
};

std::filesystem::path* ListenerTlsConfigTest::dir_ = nullptr;

constexpr const char* kOneCertificate = "      certificates: [{ cert: a.pem, key: a.key }]\n";

TEST_F(ListenerTlsConfigTest, PlainWithoutTlsKey) {
  LoadResult result = loadConfigString(kHead, (*dir_ / "gw.yaml").string());
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  EXPECT_EQ(result.config->listeners[0].tls, nullptr);
}

TEST_F(ListenerTlsConfigTest, DefaultsWithOneCertificate) {
  LoadResult result = load(kOneCertificate);
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const auto& tls = result.config->listeners[0].tls;
  ASSERT_NE(tls, nullptr);
  ASSERT_NE(tls->context, nullptr);
  EXPECT_TRUE(tls->context->isServer());
  EXPECT_EQ(tls->handshake_timeout, std::chrono::seconds(10));
  EXPECT_EQ(tls->alpn, std::vector<std::string>{"http/1.1"});
}

TEST_F(ListenerTlsConfigTest, EveryKey) {
  LoadResult result = load(std::string(kOneCertificate) +
                           "      min_version: 1.3\n"
                           "      ciphers: ECDHE-ECDSA-AES128-GCM-SHA256\n"
                           "      ciphersuites: TLS_AES_128_GCM_SHA256\n"
                           "      alpn: [h2, http/1.1]\n"
                           "      session_tickets: false\n"
                           "      client_ca: b.pem\n"
                           "      client_verify: optional\n"
                           "      handshake_timeout: 3s\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const auto& tls = *result.config->listeners[0].tls;
  EXPECT_EQ(tls.handshake_timeout, std::chrono::seconds(3));
  EXPECT_EQ(tls.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST_F(ListenerTlsConfigTest, SniPicksTheCertificateByExactNameOrWildcard) {
  LoadResult result =
      load("      certificates: [{ cert: a.pem, key: a.key }, { cert: b.pem, key: b.key }]\n");
  ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
  const net::TlsContext& context = *result.config->listeners[0].tls->context;
  SSL_CTX* b = context.contextForName("b.test");
  EXPECT_NE(b, context.native());
  EXPECT_EQ(context.contextForName("B.Test"), b);
  EXPECT_EQ(context.contextForName("x.wild.test"), b);
  EXPECT_EQ(context.contextForName("a.test"), context.native());
  EXPECT_EQ(context.contextForName("y.x.wild.test"), context.native());  // one label only
  EXPECT_EQ(context.contextForName("wild.test"), context.native());
  EXPECT_EQ(context.contextForName("unknown.example"), context.native());
}

TEST(TlsNameMatches, ExactAndOneLabelWildcards) {
  EXPECT_TRUE(net::tlsNameMatches("a.test", "A.TEST"));
  EXPECT_TRUE(net::tlsNameMatches("*.wild.test", "x.wild.test"));
  EXPECT_FALSE(net::tlsNameMatches("*.wild.test", "wild.test"));
  EXPECT_FALSE(net::tlsNameMatches("*.wild.test", ".wild.test"));
  EXPECT_FALSE(net::tlsNameMatches("*.wild.test", "x.y.wild.test"));
  EXPECT_FALSE(net::tlsNameMatches("a.test", "b.test"));
}

// One error, at line:column of gw.yaml, starting with `message`.
void expectError(const LoadResult& result, int line, int column, const std::string& message) {
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  const ConfigError& error = result.errors[0];
  EXPECT_EQ(error.line, line) << error.toString();
  EXPECT_EQ(error.column, column) << error.toString();
  EXPECT_EQ(error.message.rfind(message, 0), 0u) << error.message;
}

TEST_F(ListenerTlsConfigTest, MissingKeyFileIsNamedAtItsValue) {
  expectError(load("      certificates: [{ cert: a.pem, key: nope.key }]\n"), 11, 42,
              "listeners[0].tls.certificates[0].key: cannot read '" +
                  (*dir_ / "nope.key").string() + "': No such file or directory");
}

TEST_F(ListenerTlsConfigTest, UnreadableKeyFileIsNamed) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::filesystem::copy_file(*dir_ / "a.key", *dir_ / "locked.key");
  std::filesystem::permissions(*dir_ / "locked.key", std::filesystem::perms::none);
  expectError(load("      certificates: [{ cert: a.pem, key: locked.key }]\n"), 11, 42,
              "listeners[0].tls.certificates[0].key: cannot read");
}

TEST_F(ListenerTlsConfigTest, KeyOfAnotherCertificateIsReportedAtTheKey) {
  expectError(load("      certificates: [{ cert: a.pem, key: b.key }]\n"), 11, 42,
              "listeners[0].tls.certificates[0].key: the private key '" +
                  (*dir_ / "b.key").string() + "' does not match");
}

TEST_F(ListenerTlsConfigTest, BadValuesAreReportedAtTheirKeys) {
  expectError(load("      certificates: []\n"), 11, 21,
              "listeners[0].tls.certificates: must list at least one certificate");
  expectError(load(std::string(kOneCertificate) + "      min_version: 1.1\n"), 12, 20,
              "listeners[0].tls.min_version: unknown TLS version");
  expectError(load(std::string(kOneCertificate) + "      alpn: [spdy/3]\n"), 12, 14,
              "listeners[0].tls.alpn[0]: unknown protocol");
  expectError(load(std::string(kOneCertificate) + "      client_verify: optional\n"), 12, 22,
              "listeners[0].tls.client_verify: client_verify needs client_ca");
  expectError(
      load(std::string(kOneCertificate) + "      client_verify: maybe\n      client_ca: b.pem\n"),
      12, 22, "listeners[0].tls.client_verify: unknown client_verify");
  expectError(load(std::string(kOneCertificate) + "      ciphers: NOT-A-CIPHER\n"), 12, 16,
              "listeners[0].tls.ciphers: no usable cipher");
  expectError(load(std::string(kOneCertificate) + "      handshake_timeout: 0s\n"), 12, 26,
              "listeners[0].tls.handshake_timeout:");
  expectError(load("      certificates: [{ cert: a.pem }]\n"), 11, 22,
              "listeners[0].tls.certificates[0]: missing required key");
}

}  // namespace
}  // namespace sg::config

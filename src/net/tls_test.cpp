// The TLS unit over a socketpair: handshakes, data both ways past a socket buffer, the checks a
// connecting side makes (CA, host, IP), client certificates, and what is refused. Certificates
// are made at test time with OpenSSL's API and written to a temporary directory.
#include "net/tls.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>

#include "net/tls_test_certs.h"

namespace sg::net {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("sg-tls-test-" + std::to_string(getpid())));
    testcerts::writeTestCertificates(*dir_);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string path(const char* name) { return (*dir_ / name).string(); }

  std::shared_ptr<const TlsContext> server(TlsVerify verify = TlsVerify::kNone) {
    std::string error;
    auto context = TlsContext::makeServer(
        {path("server.pem"), path("server.key"), path("ca.pem"), verify}, &error);
    EXPECT_NE(context, nullptr) << error;
    return context;
  }
  std::shared_ptr<const TlsContext> client(TlsVerify verify, const char* ca = "ca.pem",
                                           bool with_cert = false) {
    std::string error;
    TlsClientOptions options{verify, path(ca), "", ""};
    if (with_cert) {
      options.cert_file = path("client.pem");
      options.key_file = path("client.key");
    }
    auto context = TlsContext::makeClient(options, &error);
    EXPECT_NE(context, nullptr) << error;
    return context;
  }

  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
    for (int fd : fds_) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
  }

  // Steps both handshakes until each is done or failed (waiting on the sockets in between).
  std::pair<TlsSession::Step, TlsSession::Step> handshake(TlsSession& a, TlsSession& b) {
    TlsSession::Step sa = TlsSession::Step::kWantRead, sb = TlsSession::Step::kWantRead;
    auto running = [](TlsSession::Step s) {
      return s == TlsSession::Step::kWantRead || s == TlsSession::Step::kWantWrite;
    };
    for (int round = 0; round < 100 && (running(sa) || running(sb)); ++round) {
      if (running(sa)) sa = a.handshake();
      if (running(sb)) sb = b.handshake();
      pollfd polls[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
      poll(polls, 2, 10);
    }
    return {sa, sb};
  }

  static std::filesystem::path* dir_;
  int fds_[2] = {-1, -1};
};

std::filesystem::path* TlsTest::dir_ = nullptr;

constexpr auto kDone = TlsSession::Step::kDone;
constexpr auto kFailed = TlsSession::Step::kFailed;

TEST_F(TlsTest, HandshakeThenLargeTransferBothWays) {
  std::string error;
  auto s = TlsSession::make(*server(), fds_[0], "", &error);
  auto c = TlsSession::make(*client(TlsVerify::kFull), fds_[1], "localhost", &error);
  ASSERT_TRUE(s && c) << error;
  auto [ss, cs] = handshake(*s, *c);
  ASSERT_EQ(ss, kDone) << s->error();
  ASSERT_EQ(cs, kDone) << c->error();
  EXPECT_EQ(s->description().rfind("TLSv1.3/TLS_", 0), 0u) << s->description();
  EXPECT_EQ(s->description(), c->description());
  // More than a socket buffer holds: writes block, reads find records partly decrypted.
  std::string sent(3 * 1024 * 1024, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 7);
  std::string got;
  size_t written = 0;
  char buffer[5000];
  while (got.size() < sent.size()) {
    if (written < sent.size()) {
      ssize_t n = c->write(sent.data() + written, sent.size() - written);
      ASSERT_NE(n, -2) << c->error();
      if (n > 0) written += static_cast<size_t>(n);
    }
    for (;;) {
      ssize_t n = s->read(buffer, sizeof(buffer));
      ASSERT_NE(n, -2) << s->error();
      ASSERT_NE(n, 0);
      if (n < 0) break;
      got.append(buffer, static_cast<size_t>(n));
    }
  }
  EXPECT_EQ(got, sent);
  EXPECT_FALSE(s->pending());
  ASSERT_EQ(s->write("bye", 3), 3);
  s->shutdown();
  ssize_t n = -1;
  for (int i = 0; i < 100 && n == -1; ++i) n = c->read(buffer, sizeof(buffer));
  ASSERT_EQ(n, 3);
  EXPECT_EQ(std::string(buffer, 3), "bye");
  EXPECT_EQ(c->read(buffer, sizeof(buffer)), 0);  // close_notify: an orderly end
}

TEST_F(TlsTest, VerifiesAnIpAddress) {
  std::string error;
  auto s = TlsSession::make(*server(), fds_[0], "", &error);
  auto c = TlsSession::make(*client(TlsVerify::kFull), fds_[1], "127.0.0.1", &error);
  auto [ss, cs] = handshake(*s, *c);
  EXPECT_EQ(cs, kDone) << c->error();
  EXPECT_EQ(ss, kDone);
}

TEST_F(TlsTest, WrongHostFailsVerifyFullButNotVerifyCa) {
  std::string error;
  {
    auto s = TlsSession::make(*server(), fds_[0], "", &error);
    auto c = TlsSession::make(*client(TlsVerify::kFull), fds_[1], "127.0.0.2", &error);
    auto [ss, cs] = handshake(*s, *c);
    EXPECT_EQ(cs, kFailed);
    EXPECT_NE(c->error().find("IP address mismatch"), std::string::npos) << c->error();
    EXPECT_EQ(ss, kFailed);
  }
  SetUp();
  auto s = TlsSession::make(*server(), fds_[0], "", &error);
  auto c = TlsSession::make(*client(TlsVerify::kCa), fds_[1], "db.example", &error);
  auto [ss, cs] = handshake(*s, *c);
  EXPECT_EQ(cs, kDone) << c->error();
}

TEST_F(TlsTest, UnknownCaFailsUnlessNotVerifying) {
  std::string error;
  auto s = TlsSession::make(*server(), fds_[0], "", &error);
  auto c = TlsSession::make(*client(TlsVerify::kCa, "other-ca.pem"), fds_[1], "", &error);
  auto [ss, cs] = handshake(*s, *c);
  EXPECT_EQ(cs, kFailed);
  EXPECT_NE(c->error().find("unable to get local issuer certificate"), std::string::npos)
      << c->error();
  SetUp();
  s = TlsSession::make(*server(), fds_[0], "", &error);
  c = TlsSession::make(*client(TlsVerify::kNone, "other-ca.pem"), fds_[1], "", &error);
  auto [ss2, cs2] = handshake(*s, *c);
  EXPECT_EQ(cs2, kDone) << c->error();
}

TEST_F(TlsTest, ServerThatVerifiesWantsAClientCertificate) {
  std::string error;
  auto s = TlsSession::make(*server(TlsVerify::kCa), fds_[0], "", &error);
  auto c = TlsSession::make(*client(TlsVerify::kNone), fds_[1], "", &error);
  auto [ss, cs] = handshake(*s, *c);
  EXPECT_EQ(ss, kFailed);
  EXPECT_NE(s->error().find("certificate"), std::string::npos) << s->error();
  SetUp();
  s = TlsSession::make(*server(TlsVerify::kCa), fds_[0], "", &error);
  c = TlsSession::make(*client(TlsVerify::kNone, "ca.pem", true), fds_[1], "", &error);
  auto [ss2, cs2] = handshake(*s, *c);
  EXPECT_EQ(ss2, kDone) << s->error();
  EXPECT_EQ(cs2, kDone) << c->error();
}

TEST_F(TlsTest, GarbageInsteadOfAClientHelloFails) {
  std::string error;
  auto s = TlsSession::make(*server(), fds_[0], "", &error);
  const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(write(fds_[1], garbage, sizeof(garbage) - 1), 0);
  EXPECT_EQ(s->handshake(), kFailed);
  EXPECT_FALSE(s->error().empty());
  EXPECT_EQ(s->description(), "");
}

TEST_F(TlsTest, ContextErrorsNameTheFile) {
  std::string error;
  EXPECT_EQ(TlsContext::makeServer({path("missing.pem"), path("server.key"), "", TlsVerify::kNone},
                                   &error),
            nullptr);
  EXPECT_NE(error.find("missing.pem"), std::string::npos) << error;
  EXPECT_EQ(TlsContext::makeServer({path("server.pem"), path("client.key"), "", TlsVerify::kNone},
                                   &error),
            nullptr);
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;
  EXPECT_EQ(TlsContext::makeClient({TlsVerify::kFull, path("nothing.pem"), "", ""}, &error),
            nullptr);
  EXPECT_NE(error.find("nothing.pem"), std::string::npos) << error;
}

TEST_F(TlsTest, ListenerTicketKeysMoveToAnotherContext) {
  TlsListenerOptions options;
  options.certificates = {{path("server.pem"), path("server.key")}};
  std::string error;
  auto first = TlsContext::makeListener(options, &error);
  auto second = TlsContext::makeListener(options, &error);
  ASSERT_NE(first, nullptr) << error;
  ASSERT_NE(second, nullptr) << error;
  std::string keys = first->ticketKeys();
  ASSERT_EQ(keys.size(), TlsContext::kTicketKeysSize);
  EXPECT_NE(second->ticketKeys(), keys);  // each context makes its own at random
  EXPECT_FALSE(second->setTicketKeys(keys.substr(1)));
  EXPECT_TRUE(second->setTicketKeys(keys));
  EXPECT_EQ(second->ticketKeys(), keys);
}

}  // namespace
}  // namespace sg::net

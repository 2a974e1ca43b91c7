// Stream over TLS on a socketpair: reads never claim the socket drained (records and decrypted
// bytes may wait), a large queued reply goes out across blocked writes, and close sends
// close_notify. The plain path is what every integration test runs.
#include "pg/stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "net/tls_test_certs.h"

namespace sg::pg {
namespace {

class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("sg-stream-test-" + std::to_string(getpid())));
    net::testcerts::writeTestCertificates(*dir_);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    for (int fd : fds) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    peer_fd_ = fds[1];
    stream_ = std::make_unique<Stream>(fds[0]);
    std::string error;
    server_context_ =
        net::TlsContext::makeServer({(*dir_ / "server.pem").string(),
                                     (*dir_ / "server.key").string(), "", net::TlsVerify::kNone},
                                    &error);
    client_context_ = net::TlsContext::makeClient({net::TlsVerify::kNone, "", "", ""}, &error);
    ASSERT_TRUE(server_context_ && client_context_) << error;
    auto session = net::TlsSession::make(*server_context_, fds[0], "", &error);
    peer_ = net::TlsSession::make(*client_context_, peer_fd_, "", &error);
    ASSERT_TRUE(session && peer_) << error;
    stream_->startTls(std::move(session));
    auto running = [](net::TlsSession::Step s) {
      return s == net::TlsSession::Step::kWantRead || s == net::TlsSession::Step::kWantWrite;
    };
    auto ours = net::TlsSession::Step::kWantRead, theirs = ours;
    for (int i = 0; i < 100 && (running(ours) || running(theirs)); ++i) {
      if (running(ours)) ours = stream_->tls()->handshake();
      if (running(theirs)) theirs = peer_->handshake();
      poll(nullptr, 0, 1);
    }
    ASSERT_EQ(ours, net::TlsSession::Step::kDone) << stream_->tls()->error();
    ASSERT_EQ(theirs, net::TlsSession::Step::kDone) << peer_->error();
  }
  void TearDown() override {
    stream_.reset();
    peer_.reset();
    close(peer_fd_);
  }

  static std::filesystem::path* dir_;
  std::shared_ptr<const net::TlsContext> server_context_, client_context_;
  std::unique_ptr<Stream> stream_;
  std::unique_ptr<net::TlsSession> peer_;
  int peer_fd_ = -1;
  net::BufferPool pool_{16 * 1024, 4};
};

std::filesystem::path* TlsStreamTest::dir_ = nullptr;

TEST_F(TlsStreamTest, ShortReadsAreNeverDrained) {
  // Three records; each read returns one, short of the room it had.
  for (const char* text : {"first ", "second ", "third"})
    ASSERT_GT(peer_->write(text, strlen(text)), 0);
  std::string got;
  for (;;) {
    Stream::Read result = stream_->readOnce(pool_, 1024 * 1024);
    ASSERT_NE(result, Stream::Read::kDataDrained);  // would lose the later records (edge-triggered)
    ASSERT_TRUE(result == Stream::Read::kData || result == Stream::Read::kDrained);
    if (result == Stream::Read::kDrained) break;
  }
  got.assign(stream_->in().view());
  EXPECT_EQ(got, "first second third");
}

TEST_F(TlsStreamTest, FullBufferLeavesDecryptedBytesForTheNextRead) {
  std::string record(12000, 'r');
  ASSERT_EQ(peer_->write(record.data(), record.size()), static_cast<ssize_t>(record.size()));
  // Room for less than the record (a 4 KiB block, at most 4 KiB): the rest stays decrypted
  // inside OpenSSL, and the socket is empty: only the session knows more is there.
  net::BufferPool small(4096, 1);
  stream_->reclaim(pool_);
  ASSERT_EQ(stream_->readOnce(small, 4096), Stream::Read::kData);
  EXPECT_EQ(stream_->in().size(), 4096u);
  EXPECT_TRUE(stream_->tls()->pending());
  ASSERT_EQ(stream_->readOnce(small, 4096), Stream::Read::kData);  // full: the caller consumes
  size_t total = stream_->in().size();
  stream_->in().consume(total);
  for (int i = 0; i < 10; ++i) {
    Stream::Read result = stream_->readOnce(small, 4096);
    if (result == Stream::Read::kDrained) break;
    ASSERT_EQ(result, Stream::Read::kData);
    total += stream_->in().size();
    stream_->in().consume(stream_->in().size());
  }
  EXPECT_EQ(total, record.size());
  EXPECT_FALSE(stream_->tls()->pending());
}

TEST_F(TlsStreamTest, LargeQueueGoesOutAcrossBlockedWrites) {
  std::string reply(2 * 1024 * 1024, '\0');
  for (size_t i = 0; i < reply.size(); ++i) reply[i] = static_cast<char>(i % 251);
  stream_->append(reply);
  std::string got;
  char buffer[16384];
  for (int round = 0; round < 10000 && got.size() < reply.size(); ++round) {
    ASSERT_TRUE(stream_->flush());
    if (stream_->blocked()) {
      // An EPOLLOUT edge is what the worker would wait for; crossEvents keeps it a write.
      EXPECT_NE(stream_->crossEvents(EPOLLOUT) & EPOLLOUT, 0u);
    }
    for (;;) {
      ssize_t n = peer_->read(buffer, sizeof(buffer));
      ASSERT_NE(n, -2) << peer_->error();
      if (n <= 0) break;
      got.append(buffer, static_cast<size_t>(n));
    }
    stream_->append("");  // the queue may move between retries
  }
  EXPECT_FALSE(stream_->blocked());
  EXPECT_EQ(got, reply);
}

TEST_F(TlsStreamTest, CloseSendsCloseNotify) {
  stream_->close();
  char buffer[16];
  ssize_t n = -1;
  for (int i = 0; i < 100 && n == -1; ++i) n = peer_->read(buffer, sizeof(buffer));
  EXPECT_EQ(n, 0);
}

}  // namespace
}  // namespace sg::pg

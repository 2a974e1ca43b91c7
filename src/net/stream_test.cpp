// Stream over a non-blocking socketpair, plain and TLS: gathered writes that fill the socket
// come out whole and in order after the retries a full socket forces, reads report a drained
// socket and the peer's close, and release() keeps the socket open.
#include "net/stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>

#include "net/tls_test_certs.h"

namespace sg::net {
namespace {

std::string pattern(size_t size, char seed) {
  std::string text(size, '\0');
  for (size_t i = 0; i < size; ++i) text[i] = static_cast<char>(seed + i % 251);
  return text;
}

class StreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("sg-stream-test-" + std::to_string(getpid())));
    testcerts::writeTestCertificates(*dir_);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    for (int fd : fds) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      int small = 4096;  // a full socket early: writes must block and be retried
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    }
    writer_ = Stream(fds[0]);
    reader_ = Stream(fds[1]);
  }

  void makeTls() {
    std::string error;
    auto path = [](const char* name) { return (*dir_ / name).string(); };
    server_ = TlsContext::makeServer({path("server.pem"), path("server.key"), "", TlsVerify::kNone},
                                     &error);
    ASSERT_NE(server_, nullptr) << error;
    client_ = TlsContext::makeClient({TlsVerify::kNone, "", "", ""}, &error);
    ASSERT_NE(client_, nullptr) << error;
    writer_.attachTls(TlsSession::make(*server_, writer_.fd(), "", &error));
    reader_.attachTls(TlsSession::make(*client_, reader_.fd(), "localhost", &error));
    ASSERT_TRUE(writer_.tls() && reader_.tls()) << error;
    bool w = false, r = false;
    for (int round = 0; round < 200 && !(w && r); ++round) {
      if (!w) w = writer_.tls()->handshake() == TlsSession::Step::kDone;
      if (!r) r = reader_.tls()->handshake() == TlsSession::Step::kDone;
      pollfd polls[2] = {{writer_.fd(), POLLIN, 0}, {reader_.fd(), POLLIN, 0}};
      poll(polls, 2, 10);
    }
    ASSERT_TRUE(w && r);
  }

  // Offers the pieces again and again, as a pipe does (minus what was written), while reading
  // the other side; returns what the reader got.
  std::string transfer(const std::string& head, const std::string& body) {
    std::string sent_all = head + body, received;
    size_t sent = 0;
    char scratch[8192];
    for (int round = 0; round < 100000 && received.size() < sent_all.size(); ++round) {
      if (sent < sent_all.size()) {
        iovec iov[2];
        int count = 0;
        if (sent < head.size())
          iov[count++] = {const_cast<char*>(head.data()) + sent, head.size() - sent};
        size_t body_from = sent > head.size() ? sent - head.size() : 0;
        iov[count++] = {const_cast<char*>(body.data()) + body_from, body.size() - body_from};
        ssize_t n = writer_.writeVec(iov, count);
        EXPECT_GE(n, 0);
        if (n < 0) break;
        sent += static_cast<size_t>(n);
      }
      ssize_t got;
      while ((got = reader_.read(scratch, sizeof(scratch))) > 0) received.append(scratch, got);
      EXPECT_NE(got, -2);
    }
    return received;
  }

  static std::filesystem::path* dir_;
  std::shared_ptr<const TlsContext> server_, client_;
  Stream writer_, reader_;
};
std::filesystem::path* StreamTest::dir_ = nullptr;

TEST_F(StreamTest, PlainGatheredWritesArriveWholeThroughAFullSocket) {
  std::string head = pattern(300, 'a'), body = pattern(300000, 'b');
  EXPECT_TRUE(writer_.shortReadDrains());
  EXPECT_EQ(transfer(head, body), head + body);
}

TEST_F(StreamTest, TlsGatheredWritesArriveWholeThroughAFullSocket) {
  makeTls();
  EXPECT_FALSE(writer_.shortReadDrains());
  std::string head = pattern(300, 'a'), body = pattern(300000, 'b');
  EXPECT_EQ(transfer(head, body), head + body);
  // Pieces smaller than a record, then a head larger than one.
  EXPECT_EQ(transfer("x", "y"), "xy");
  std::string big_head = pattern(40000, 'c');
  EXPECT_EQ(transfer(big_head, "tail"), big_head + "tail");
}

TEST_F(StreamTest, ReadReportsDrainedThenThePeersClose) {
  makeTls();
  char scratch[64];
  EXPECT_EQ(reader_.read(scratch, sizeof(scratch)), -1);
  writer_.tls()->shutdown();
  writer_.close();
  ssize_t n = -1;
  for (int round = 0; round < 100 && n == -1; ++round) {
    pollfd poll_reader{reader_.fd(), POLLIN, 0};
    poll(&poll_reader, 1, 10);
    n = reader_.read(scratch, sizeof(scratch));
  }
  EXPECT_EQ(n, 0);
}

TEST_F(StreamTest, ReleaseKeepsTheSocketOpen) {
  int fd = writer_.release();
  EXPECT_FALSE(writer_.open());
  EXPECT_NE(fcntl(fd, F_GETFD), -1);  // still open
  Stream adopted(fd);
  iovec iov{const_cast<char*>("ok"), 2};
  EXPECT_EQ(adopted.writeVec(&iov, 1), 2);
  char scratch[4];
  EXPECT_EQ(reader_.read(scratch, sizeof(scratch)), 2);
}

// A channel that holds what was written and hands out a fixed input, with a write limit.
class BoundedChannel final : public Channel {
 public:
  ssize_t read(char* data, size_t size) override {
    if (input.empty()) return -1;
    size_t n = std::min(size, input.size());
    std::memcpy(data, input.data(), n);
    input.erase(0, n);
    return static_cast<ssize_t>(n);
  }
  ssize_t writeVec(const iovec* iov, int count) override {
    size_t taken = 0;
    for (int i = 0; i < count && written.size() < limit; ++i) {
      size_t n = std::min(iov[i].iov_len, limit - written.size());
      written.append(static_cast<const char*>(iov[i].iov_base), n);
      taken += n;
    }
    return static_cast<ssize_t>(taken);
  }
  void close() override { ++closes; }
  std::string input, written;
  size_t limit = 5;
  int closes = 0;
};

TEST(ChannelStreamTest, ReadsWritesAndClosesThroughTheChannel) {
  BoundedChannel channel;
  channel.input = "GET / HTTP/1.1\r\n";
  Stream stream(&channel);
  EXPECT_TRUE(stream.open());
  EXPECT_EQ(stream.fd(), -1);
  char scratch[64];
  EXPECT_EQ(stream.read(scratch, sizeof(scratch)), 16);
  EXPECT_EQ(stream.read(scratch, sizeof(scratch)), -1);  // nothing now: the owner wakes later
  iovec iov[2] = {{const_cast<char*>("abc"), 3}, {const_cast<char*>("defg"), 4}};
  EXPECT_EQ(stream.writeVec(iov, 2), 5);  // a short count: the channel is full
  EXPECT_EQ(channel.written, "abcde");
  Stream moved(std::move(stream));
  EXPECT_FALSE(stream.open());
  stream.close();
  EXPECT_EQ(channel.closes, 0);  // the moved-from stream no longer has the channel
  moved.close();
  moved.close();
  EXPECT_EQ(channel.closes, 1);  // told once
  EXPECT_FALSE(moved.open());
}

}  // namespace
}  // namespace sg::net

#include "proxy/pipe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace sg::proxy {
namespace {

class PipeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    writer_ = net::Stream(fds_[0]);
  }
  void TearDown() override { close(fds_[1]); }
  std::string readAll() {
    std::string out;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = read(fds_[1], buffer, sizeof(buffer))) > 0)
      out.append(buffer, static_cast<size_t>(n));
    return out;
  }
  int fds_[2] = {-1, -1};
  net::Stream writer_;  // owns fds_[0]
};

void fill(net::Buffer& buffer, std::string_view bytes) {
  buffer.reserve(bytes.size(), bytes.size() + 64);
  std::memcpy(buffer.writePtr(), bytes.data(), bytes.size());
  buffer.commit(bytes.size());
}

TEST_F(PipeTest, SendsHeadThenSourceBody) {
  Pipe pipe;
  net::Buffer source(64);
  fill(source, "bodyNEXT");
  pipe.head() = "HEAD|";
  pipe.addBody(4);
  EXPECT_EQ(pipe.flush(writer_, &source), Pipe::Flush::kDone);
  EXPECT_EQ(readAll(), "HEAD|body");
  EXPECT_EQ(source.view(), "NEXT");  // only the body was consumed
  EXPECT_EQ(pipe.bytesSent(), 9u);
}

TEST_F(PipeTest, BorrowedBodyLeavesTheSourceAlone) {
  Pipe pipe;
  net::Buffer source(64);
  fill(source, "next request");
  const std::string stored = "stored body";
  pipe.head() = "HEAD|";
  pipe.borrowBody(stored);
  EXPECT_EQ(pipe.flush(writer_, &source), Pipe::Flush::kDone);
  EXPECT_EQ(readAll(), "HEAD|stored body");
  EXPECT_EQ(source.view(), "next request");
  EXPECT_TRUE(pipe.idle());
}

TEST_F(PipeTest, BorrowedBodyResumesAfterAShortWrite) {
  int small = 4096;
  ASSERT_EQ(setsockopt(fds_[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  Pipe pipe;
  net::Buffer source(16);
  const std::string stored(1 << 20, 'x');
  pipe.borrowBody(stored);
  std::string received;
  for (int round = 0; round < 10000 && !pipe.idle(); ++round) {
    auto result = pipe.flush(writer_, &source);
    ASSERT_NE(result, Pipe::Flush::kError);
    received += readAll();
  }
  received += readAll();
  EXPECT_TRUE(pipe.idle());
  EXPECT_EQ(received, stored);
}

// A retry while accepted body bytes still wait in the source: the new try sends the head
// and the replay copy, and the waiting bytes are not sent a second time after it.
TEST_F(PipeTest, RestartSendsEveryAcceptedBodyByteOnce) {
  Pipe pipe;
  net::Buffer source(64);
  fill(source, "defgNEXT");  // "abc" was sent already; "defg" was accepted but not sent
  pipe.head() = "HEAD|";
  pipe.addBody(4);
  pipe.restartWith(5, "abcdefg", &source);
  EXPECT_EQ(source.view(), "NEXT");
  EXPECT_EQ(pipe.flush(writer_, &source), Pipe::Flush::kDone);
  EXPECT_EQ(readAll(), "HEAD|abcdefg");
  EXPECT_EQ(source.view(), "NEXT");
  // Body accepted after the restart streams from the source behind the replayed bytes.
  pipe.addBody(4);
  EXPECT_EQ(pipe.flush(writer_, &source), Pipe::Flush::kDone);
  EXPECT_EQ(readAll(), "NEXT");
}

// A second retry cuts the head back to the request head before adding the new replay copy.
TEST_F(PipeTest, RestartReplacesAnEarlierReplay) {
  Pipe pipe;
  net::Buffer source(64);
  pipe.head() = "HEAD|";
  pipe.restartWith(5, "ab", &source);
  fill(source, "cd");
  pipe.addBody(2);
  pipe.restartWith(5, "abcd", &source);
  EXPECT_EQ(pipe.flush(writer_, &source), Pipe::Flush::kDone);
  EXPECT_EQ(readAll(), "HEAD|abcd");
  EXPECT_TRUE(source.empty());
}

TEST_F(PipeTest, DiscardConsumesWithoutWriting) {
  Pipe pipe;
  net::Buffer source(64);
  fill(source, "bodyNEXT");
  pipe.head() = "HEAD|";
  pipe.addBody(4);
  pipe.discard(&source);
  EXPECT_TRUE(pipe.idle());
  EXPECT_EQ(source.view(), "NEXT");
  EXPECT_EQ(pipe.bytesSent(), 9u);
  EXPECT_EQ(readAll(), "");
}

}  // namespace
}  // namespace sg::proxy

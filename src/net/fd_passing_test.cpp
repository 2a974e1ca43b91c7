// Passing descriptors over a SOCK_SEQPACKET pair: the descriptor arrives open and usable with
// its payload, a message may carry none, and a closed peer is reported.
#include "net/fd_passing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace sg::net {
namespace {

class FdPassingTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(seqPacketPair(link_)); }
  void TearDown() override {
    for (int fd : link_)
      if (fd >= 0) close(fd);
  }
  int link_[2] = {-1, -1};
};

TEST_F(FdPassingTest, DescriptorArrivesUsableWithItsPayload) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_TRUE(sendDescriptor(link_[0], pipe_fds[1], "conn public"));
  close(pipe_fds[1]);  // the receiver's copy keeps the pipe's write end open
  std::string payload;
  int received = receiveDescriptor(link_[1], &payload);
  ASSERT_GE(received, 0);
  EXPECT_EQ(payload, "conn public");
  EXPECT_TRUE(fcntl(received, F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(write(received, "x", 1), 1);
  char byte = 0;
  ASSERT_EQ(read(pipe_fds[0], &byte, 1), 1);
  EXPECT_EQ(byte, 'x');
  close(received);
  close(pipe_fds[0]);
}

TEST_F(FdPassingTest, MessagesWithoutDescriptorsKeepTheirBoundaries) {
  ASSERT_TRUE(sendDescriptor(link_[0], -1, "listened"));
  ASSERT_TRUE(sendDescriptor(link_[0], -1, ""));
  std::string payload;
  EXPECT_EQ(receiveDescriptor(link_[1], &payload), -1);
  EXPECT_EQ(payload, "listened");
  EXPECT_EQ(receiveDescriptor(link_[1], &payload), -1);
  EXPECT_EQ(payload, "");
}

TEST_F(FdPassingTest, ClosedPeerAndEmptyNonBlockingSocketAreTold) {
  fcntl(link_[1], F_SETFL, fcntl(link_[1], F_GETFL) | O_NONBLOCK);
  std::string payload;
  EXPECT_EQ(receiveDescriptor(link_[1], &payload), -3);
  close(link_[0]);
  link_[0] = -1;
  EXPECT_EQ(receiveDescriptor(link_[1], &payload), -2);
}

}  // namespace
}  // namespace sg::net

// The acceptor hands over connections with Nagle's algorithm off (a proxy writes whole
// messages; delayed ACKs would hold the last segment of each).
#include "net/acceptor.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "net/address.h"
#include "net/event_loop.h"
#include "net/socket.h"

namespace sg::net {
namespace {

int option(int fd, int level, int name) {
  int value = -1;
  socklen_t len = sizeof(value);
  EXPECT_EQ(getsockopt(fd, level, name, &value, &len), 0);
  return value;
}

// Connects to the acceptor's socket once; returns the socket it accepted (-1 if none).
int acceptOne(EventLoop& loop, Acceptor& acceptor, const std::vector<int>& accepted) {
  Address local = localAddress(acceptor.fd());
  int error = 0;
  int client = connectSocket(local, &error);
  EXPECT_GE(client, 0) << error;
  for (int turn = 0; turn < 200 && accepted.empty(); ++turn) loop.runOnce(10);
  ::close(client);
  return accepted.empty() ? -1 : accepted.front();
}

TEST(AcceptorTest, AcceptedConnectionsHaveNoDelay) {
  EventLoop loop;
  std::vector<int> accepted;
  std::string error;
  auto any = Address::parse("127.0.0.1:0", &error);
  ASSERT_TRUE(any.has_value()) << error;
  int listener = listenSocket(*any, 16, &error);
  ASSERT_GE(listener, 0) << error;
  ASSERT_EQ(option(listener, IPPROTO_TCP, TCP_NODELAY), 0);  // so the acceptor must set it
  Acceptor acceptor(listener, "test", [&](int fd) { accepted.push_back(fd); });
  ASSERT_TRUE(loop.add(acceptor.fd(), &acceptor));
  int fd = acceptOne(loop, acceptor, accepted);
  ASSERT_GE(fd, 0);
  EXPECT_NE(option(fd, IPPROTO_TCP, TCP_NODELAY), 0);
  ::close(fd);
  loop.remove(acceptor.fd());
}

}  // namespace
}  // namespace sg::net

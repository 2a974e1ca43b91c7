// The options an accepted connection gets from its listening socket: the acceptor sets
// TCP_NODELAY there instead of on each connection, and the PostgreSQL listener SO_KEEPALIVE.
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

struct Listener {
  explicit Listener(bool keepalive) {
    std::string error;
    auto any = Address::parse("127.0.0.1:0", &error);
    EXPECT_TRUE(any.has_value()) << error;
    fd = listenSocket(*any, 16, &error);
    EXPECT_GE(fd, 0) << error;
    setKeepAliveFlag(fd, keepalive);
  }
  int fd = -1;
};

TEST(AcceptorTest, AcceptedConnectionsInheritNoDelayAndKeepAliveFromTheListener) {
  for (bool keepalive : {true, false}) {
    EventLoop loop;
    std::vector<int> accepted;
    Listener listener(keepalive);
    // A fresh listening socket has Nagle on: the acceptor is what turns it off.
    ASSERT_EQ(option(listener.fd, IPPROTO_TCP, TCP_NODELAY), 0);
    Acceptor acceptor(listener.fd, "test", [&](int fd) { accepted.push_back(fd); });
    ASSERT_TRUE(loop.add(acceptor.fd(), &acceptor));
    int fd = acceptOne(loop, acceptor, accepted);
    ASSERT_GE(fd, 0);
    EXPECT_NE(option(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    EXPECT_EQ(option(fd, SOL_SOCKET, SO_KEEPALIVE) != 0, keepalive);
    ::close(fd);
    loop.remove(acceptor.fd());
  }
}

TEST(AcceptorTest, KeepAliveFlagCanBeClearedAgain) {
  Listener listener(true);
  ASSERT_NE(option(listener.fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  setKeepAliveFlag(listener.fd, false);
  EXPECT_EQ(option(listener.fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  ::close(listener.fd);
}

}  // namespace
}  // namespace sg::net

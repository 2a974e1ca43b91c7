// Inherited listening sockets: every socket of an address is served whatever the worker counts
// of the old and new process, and the ones no listener takes are closed.
#include "net/inherited_listeners.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "net/socket.h"

namespace sg::net {
namespace {

Address parse(const std::string& text) {
  std::string error;
  auto address = Address::parse(text, &error);
  EXPECT_TRUE(address) << error;
  return *address;
}

// A listening socket, blocking as a predecessor other than scalegate might pass it.
int listeningFd() {
  std::string error;
  int fd = listenSocket(parse("127.0.0.1:0"), 16, &error);
  EXPECT_GE(fd, 0) << error;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

void add(InheritedListeners& inherited, const std::string& address, int fd) {
  std::string error;
  EXPECT_TRUE(inherited.add(address, fd, &error)) << error;
}

bool isOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(InheritedListenersTest, FewerWorkersTakeEverySocket) {
  InheritedListeners inherited;
  int fds[3] = {listeningFd(), listeningFd(), listeningFd()};
  for (int fd : fds) add(inherited, "127.0.0.1:8080", fd);
  Address address = parse("127.0.0.1:8080");
  auto first = inherited.take(address, 0, 2);
  auto second = inherited.take(address, 1, 2);
  EXPECT_EQ(first, (std::vector<int>{fds[0], fds[2]}));
  EXPECT_EQ(second, (std::vector<int>{fds[1]}));
  inherited.closeUnused();
  for (int fd : fds) EXPECT_TRUE(isOpen(fd)) << "taken sockets are the taker's";
  for (int fd : fds) close(fd);
}

TEST(InheritedListenersTest, MoreWorkersOpenTheirOwnAndUnusedAddressesClose) {
  InheritedListeners inherited;
  int kept = listeningFd(), dropped = listeningFd();
  add(inherited, "127.0.0.1:8080", kept);
  add(inherited, "127.0.0.1:9090", dropped);
  Address address = parse("127.0.0.1:8080");
  EXPECT_EQ(inherited.take(address, 0, 2), std::vector<int>{kept});
  EXPECT_TRUE(inherited.take(address, 1, 2).empty());
  EXPECT_EQ(inherited.count(), 2u);
  inherited.closeUnused();
  EXPECT_TRUE(isOpen(kept));
  EXPECT_FALSE(isOpen(dropped));
  close(kept);
}

TEST(InheritedListenersTest, KeepsListeningSocketsNonBlockingAndRefusesOthers) {
  InheritedListeners inherited;
  int listening = listeningFd();
  add(inherited, "127.0.0.1:8080", listening);
  EXPECT_TRUE(fcntl(listening, F_GETFL) & O_NONBLOCK) << "an accept loop must not block";
  int file = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int unbound = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  for (int fd : {file, unbound}) {
    std::string error;
    EXPECT_FALSE(inherited.add("127.0.0.1:9090", fd, &error));
    EXPECT_EQ(error, "not a listening socket");
    EXPECT_FALSE(isOpen(fd)) << "what is refused is closed";
  }
  EXPECT_EQ(inherited.count(), 1u);
  EXPECT_TRUE(inherited.take(parse("127.0.0.1:9090"), 0, 1).empty());
  EXPECT_EQ(inherited.take(parse("127.0.0.1:8080"), 0, 1), std::vector<int>{listening});
  close(listening);
}

TEST(InheritedListenersTest, ListenOrInheritOpensWhenNothingWasPassed) {
  InheritedListeners inherited;
  std::string error;
  auto fds = listenOrInherit(parse("127.0.0.1:0"), &inherited, 0, 1, &error);
  ASSERT_EQ(fds.size(), 1u) << error;
  close(fds[0]);
}

}  // namespace
}  // namespace sg::net

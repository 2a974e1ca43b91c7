// Inherited listening sockets: every socket of an address is served whatever the worker counts
// of the old and new process, and the ones no listener takes are closed.
#include "net/inherited_listeners.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace sg::net {
namespace {

Address parse(const std::string& text) {
  std::string error;
  auto address = Address::parse(text, &error);
  EXPECT_TRUE(address) << error;
  return *address;
}

int openFd() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

bool isOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(InheritedListenersTest, FewerWorkersTakeEverySocket) {
  InheritedListeners inherited;
  int fds[3] = {openFd(), openFd(), openFd()};
  for (int fd : fds) inherited.add("127.0.0.1:8080", fd);
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
  int kept = openFd(), dropped = openFd();
  inherited.add("127.0.0.1:8080", kept);
  inherited.add("127.0.0.1:9090", dropped);
  Address address = parse("127.0.0.1:8080");
  EXPECT_EQ(inherited.take(address, 0, 2), std::vector<int>{kept});
  EXPECT_TRUE(inherited.take(address, 1, 2).empty());
  EXPECT_EQ(inherited.count(), 2u);
  inherited.closeUnused();
  EXPECT_TRUE(isOpen(kept));
  EXPECT_FALSE(isOpen(dropped));
  close(kept);
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

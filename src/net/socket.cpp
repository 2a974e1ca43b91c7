#include "net/socket.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sg::net {

int listenSocket(const Address& address, int backlog, std::string* error) {
  int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, address.sockaddrPtr(), address.length()) != 0 || listen(fd, backlog) != 0) {
    *error = "cannot listen on " + address.toString() + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

int connectSocket(const Address& address, int* error_code) {
  int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error_code = errno;
    return -1;
  }
  setNoDelay(fd);
  if (connect(fd, address.sockaddrPtr(), address.length()) != 0 && errno != EINPROGRESS) {
    *error_code = errno;
    close(fd);
    return -1;
  }
  *error_code = 0;
  return fd;
}

ssize_t readSome(int fd, char* data, size_t size) {
  for (;;) {
    ssize_t n = recv(fd, data, size, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
  }
}

bool discardReadable(int fd) {
  char scratch[16 * 1024];
  for (int reads = 0; reads < 64; ++reads) {  // bounded per event, like any other read loop
    ssize_t n = readSome(fd, scratch, sizeof(scratch));
    if (n == -1) return true;  // drained for now
    if (n <= 0) return false;  // the peer closed (or reset)
  }
  return true;
}

ssize_t writeVec(int fd, const iovec* iov, int count) {
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(iov);
  message.msg_iovlen = static_cast<size_t>(count);
  for (;;) {
    ssize_t n = sendmsg(fd, &message, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
}

bool deferAccept(int fd, int seconds) {
  return setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds)) == 0;
}

void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void setKeepAlive(int fd, const KeepAlive& keepalive) {
  if (!keepalive.enabled) return;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  auto set = [fd](int option, int value) {
    if (value > 0) setsockopt(fd, IPPROTO_TCP, option, &value, sizeof(value));
  };
  set(TCP_KEEPIDLE, keepalive.idle_seconds);
  set(TCP_KEEPINTVL, keepalive.interval_seconds);
  set(TCP_KEEPCNT, keepalive.probes);
}

int socketError(int fd) {
  int error = 0;
  socklen_t len = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return errno;
  return error;
}

Address peerAddress(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &len);
  return Address::fromSockaddr(reinterpret_cast<sockaddr*>(&storage), len);
}

Address localAddress(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len);
  return Address::fromSockaddr(reinterpret_cast<sockaddr*>(&storage), len);
}

}  // namespace sg::net

#include "net/acceptor.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/socket.h"

namespace sg::net {

void Acceptor::closeSocket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// Edge-triggered: accept until the queue is empty.
void Acceptor::onEvents(uint32_t /*events*/) {
  while (fd_ >= 0) {
    int client = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        spdlog::warn("accept on {}: {}", name_, std::strerror(errno));
      return;
    }
    setNoDelay(client);
    on_accept_(client);
  }
}

}  // namespace sg::net

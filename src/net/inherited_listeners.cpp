#include "net/inherited_listeners.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/socket.h"

namespace sg::net {

bool InheritedListeners::add(const std::string& address, int fd, std::string* error) {
  int listening = 0;
  socklen_t size = sizeof(listening);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || listening == 0) {
    *error = "not a listening socket";
    ::close(fd);
    return false;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    *error = std::string("cannot make it non-blocking: ") + std::strerror(errno);
    ::close(fd);
    return false;
  }
  sockets_[address].push_back(fd);
  return true;
}

size_t InheritedListeners::count() const {
  size_t total = 0;
  for (const auto& [address, fds] : sockets_) total += fds.size();
  return total;
}

std::vector<int> InheritedListeners::take(const Address& address, uint32_t worker,
                                          uint32_t workers) {
  std::vector<int> taken;
  auto found = sockets_.find(address.toString());
  if (found == sockets_.end()) return taken;
  std::vector<int>& fds = found->second;
  for (size_t i = worker; i < fds.size(); i += workers) {
    taken.push_back(fds[i]);
    fds[i] = -1;  // taken
  }
  return taken;
}

void InheritedListeners::closeUnused() {
  for (auto& [address, fds] : sockets_) {
    for (int& fd : fds) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
  sockets_.clear();
}

std::vector<int> listenOrInherit(const Address& address, InheritedListeners* inherited,
                                 uint32_t worker, uint32_t workers, std::string* error) {
  std::vector<int> fds;
  if (inherited != nullptr) fds = inherited->take(address, worker, workers);
  if (!fds.empty()) return fds;
  int fd = listenSocket(address, 4096, error);
  if (fd >= 0) fds.push_back(fd);
  return fds;
}

}  // namespace sg::net

#pragma once
// A listening socket on a worker's loop: accepts every pending connection on each edge and
// hands each (non-blocking, TCP_NODELAY) to the listener's owner.
#include <functional>
#include <string>

#include "net/event_loop.h"

namespace sg::net {

class Acceptor final : public EventHandler {
 public:
  using OnAccept = std::function<void(int fd)>;
  // `name` labels accept errors in the log. Takes ownership of `fd`.
  Acceptor(int fd, std::string name, OnAccept on_accept)
      : fd_(fd), name_(std::move(name)), on_accept_(std::move(on_accept)) {}
  ~Acceptor() { closeSocket(); }
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  int fd() const { return fd_; }
  // Stops accepting (drain): the kernel refuses new connections from now on.
  void closeSocket();
  void onEvents(uint32_t events) override;

 private:
  int fd_;
  std::string name_;
  OnAccept on_accept_;
};

}  // namespace sg::net

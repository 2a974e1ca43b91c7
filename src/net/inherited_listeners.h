#pragma once
// Listening sockets handed over by the process this one replaces, by address. A listener whose
// address was handed over keeps the very same sockets, so no connection waiting in an accept
// queue is lost across an upgrade; addresses the new configuration no longer has are closed
// once every listener has taken its sockets.
#include <map>
#include <string>
#include <vector>

#include "net/address.h"

namespace sg::net {

// A listening socket as a process passes it on: its address ("127.0.0.1:8080") and fd.
struct ListeningSocket {
  std::string address;
  int fd = -1;
};

class InheritedListeners {
 public:
  InheritedListeners() = default;
  ~InheritedListeners() { closeUnused(); }
  InheritedListeners(const InheritedListeners&) = delete;
  InheritedListeners& operator=(const InheritedListeners&) = delete;

  // Keeps `fd` for `address` when it is a listening socket, made non-blocking (a worker's
  // accept loop must never block; the flag is shared with the sender, which serves no more).
  // Otherwise closes it and says why in *error.
  bool add(const std::string& address, int fd, std::string* error);
  bool empty() const { return sockets_.empty(); }
  size_t count() const;
  // Worker `worker` of `workers` takes every inherited socket of `address` at positions
  // worker, worker + workers, ... (so all of them are served whatever the worker counts);
  // empty when there are none for it. The caller owns what it takes.
  std::vector<int> take(const Address& address, uint32_t worker, uint32_t workers);
  // Closes the sockets no listener took.
  void closeUnused();

 private:
  std::map<std::string, std::vector<int>> sockets_;
};

// The listening sockets worker `worker` of `workers` serves `address` with: its inherited ones
// if `inherited` has any for the address, else one new socket. Empty with *error when a new
// socket cannot be bound.
std::vector<int> listenOrInherit(const Address& address, InheritedListeners* inherited,
                                 uint32_t worker, uint32_t workers, std::string* error);

}  // namespace sg::net

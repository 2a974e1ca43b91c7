#pragma once
// Starting a process from this threaded one (posix_spawn): until the child has exec'd it holds a
// copy of every descriptor, so a socket that another thread closes meanwhile stays registered in
// that thread's epoll (close drops a registration only with the last reference) and may still
// report events for a handler that is gone. A SpawnGuard spans each spawn; event loops keep the
// objects they dispose of alive while any spawn is in flight (EventLoop::runOnce).
#include <atomic>

namespace sg::net {

class SpawnGuard {
 public:
  SpawnGuard();
  ~SpawnGuard();
  SpawnGuard(const SpawnGuard&) = delete;
  SpawnGuard& operator=(const SpawnGuard&) = delete;
};

bool spawnInFlight();

}  // namespace sg::net

#pragma once
// What waits in a pool for a server: today always a client (ClientConn); a leg of a
// scatter-gather query will wait in its shard's pool too. A pool keeps only the waiter's
// worker and id (a server may come from another worker, after the waiter has gone): that
// worker finds it by id (PgWorker::findWaiter), and it becomes the server's peer.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "pg/server_peer.h"

namespace sg::pg {

class Pool;
class ServerConn;

class ServerWaiter : public ServerPeer {
 public:
  // An id no other waiter of the process has (a client's id is its waiter id).
  static uint64_t newId() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }

  virtual uint64_t waiterId() const = 0;
  // The pool it waits in.
  virtual Pool* waitPool() const = 0;
  // Queued for a server and none attached yet (a server given now is used, not returned).
  virtual bool waitsForServer() const = 0;
  // The worker attached `server` to it (its peer is this waiter): the server is its to use.
  virtual void onServerAttached(ServerConn* server) = 0;
  // The pool could not give a server (connect or login failed, query_wait_timeout).
  virtual void onServerUnavailable(std::string_view sqlstate, const std::string& message) = 0;

 protected:
  ~ServerWaiter() = default;
};

}  // namespace sg::pg

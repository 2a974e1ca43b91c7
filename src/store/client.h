#pragma once
// A worker's client of the shared store: non-blocking, on the worker's own event loop,
// pipelining every request's commands on a few connections. Two implementations: one Redis
// node (node_client.cpp) and Redis Cluster with slot routing (cluster_client.cpp).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "net/event_loop.h"
#include "store/reply.h"
#include "store/store_stats.h"

namespace sg::store {

class Script;

class Client {
 public:
  virtual ~Client() = default;

  virtual void start() = 0;
  virtual void shutdown() = 0;
  // Sends an encoded command (resp.h / script.h); `key` is the key it touches, which picks
  // the node in a cluster; `script` is set for EVALSHA. The reply (or its failure: timeout,
  // connection lost) comes to handler->onReply(cookie, ...) later, never from inside send.
  // False when no connection can take the command now: the caller decides without the store.
  virtual bool send(std::string_view key, std::string&& command, const Script* script,
                    ReplyHandler* handler, uint64_t cookie) = 0;
  // Forgets a handler that goes away: replies still to come for it are dropped.
  virtual void cancel(const ReplyHandler* handler) = 0;
  // Some connection is ready (while none is, features decide locally without trying).
  virtual bool ready() const = 0;
};

std::unique_ptr<Client> makeClient(const config::StoreConfig& config, net::EventLoop& loop,
                                   StoreStats& stats);

}  // namespace sg::store

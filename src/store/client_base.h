#pragma once
// What both clients do with a reply: a NOSCRIPT error (Redis restarted or its scripts were
// flushed) resends the call as EVAL, which also reloads the script; anything else goes to
// the command's handler.
#include <memory>
#include <vector>

#include "store/client.h"
#include "store/connection.h"

namespace sg::store {

class ClientBase : public Client, public Connection::Owner {
 public:
  ClientBase(net::EventLoop& loop, const config::StoreConfig& config, StoreStats& stats);

  void cancel(const ReplyHandler* handler) override;
  void onReply(Connection& connection, Pending& pending, const Reply& reply) override;
  void onStateChanged(Connection& /*connection*/) override {}

 protected:
  // A connection (started) to `address`, kept for the client's lifetime.
  Connection& addConnection(const net::Address& address);
  // True when the reply was taken care of (a resend); false to deliver it.
  virtual bool handleError(Connection& connection, Pending& pending, const Reply& reply);
  static void deliver(Pending& pending, const Reply& reply);
  static Pending makePending(std::string&& command, const Script* script, ReplyHandler* handler,
                             uint64_t cookie);

  net::EventLoop& loop_;
  StoreStats& stats_;
  ConnectionOptions options_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace sg::store

#include "store/client_base.h"

#include "store/script.h"

namespace sg::store {

ClientBase::ClientBase(net::EventLoop& loop, const config::StoreConfig& config, StoreStats& stats)
    : loop_(loop),
      stats_(stats),
      options_{.timeout_ms =
                   std::chrono::duration_cast<std::chrono::milliseconds>(config.timeout).count(),
               .username = config.username,
               .password = config.password,
               .database = config.database} {}

Connection& ClientBase::addConnection(const net::Address& address) {
  connections_.push_back(std::make_unique<Connection>(loop_, address, options_, stats_, *this));
  stats_.configured.fetch_add(1, std::memory_order_relaxed);
  Connection& connection = *connections_.back();
  connection.start();
  return connection;
}

void ClientBase::cancel(const ReplyHandler* handler) {
  for (auto& connection : connections_) connection->cancel(handler);
}

Pending ClientBase::makePending(std::string&& command, const Script* script, ReplyHandler* handler,
                                uint64_t cookie) {
  Pending pending;
  pending.command = std::move(command);
  pending.script = script;
  pending.handler = handler;
  pending.cookie = cookie;
  return pending;
}

void ClientBase::deliver(Pending& pending, const Reply& reply) {
  if (pending.handler != nullptr) pending.handler->onReply(pending.cookie, reply);
}

bool ClientBase::handleError(Connection& connection, Pending& pending, const Reply& reply) {
  if (pending.script == nullptr || !reply.error().starts_with("NOSCRIPT")) return false;
  pending.command = evalFormOf(pending.command, *pending.script);
  pending.script = nullptr;  // EVAL never answers NOSCRIPT: no loop
  return connection.send(std::move(pending));
}

void ClientBase::onReply(Connection& connection, Pending& pending, const Reply& reply) {
  if (reply.status() == ReplyStatus::kError && handleError(connection, pending, reply)) return;
  deliver(pending, reply);
}

}  // namespace sg::store

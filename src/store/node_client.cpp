#include "store/node_client.h"

namespace sg::store {

NodeClient::NodeClient(net::EventLoop& loop, const config::StoreConfig& config, StoreStats& stats)
    : ClientBase(loop, config, stats), address_(config.address), count_(config.connections) {}

NodeClient::~NodeClient() = default;

void NodeClient::start() {
  for (uint32_t i = 0; i < count_; ++i) addConnection(address_);
}

void NodeClient::shutdown() {
  for (auto& connection : connections_) connection->shutdown();
}

// Ready connections in turn; one still connecting takes the command only when none is ready.
bool NodeClient::send(std::string_view /*key*/, std::string&& command, const Script* script,
                      ReplyHandler* handler, uint64_t cookie) {
  const size_t count = connections_.size();
  Connection* connecting = nullptr;
  for (size_t i = 0; i < count; ++i) {
    Connection& connection = *connections_[(next_ + i) % count];
    if (connection.state() == Connection::State::kReady) {
      next_ = (next_ + i + 1) % count;
      return connection.send(makePending(std::move(command), script, handler, cookie));
    }
    if (connection.state() == Connection::State::kConnecting && connecting == nullptr)
      connecting = &connection;
  }
  if (connecting != nullptr)
    return connecting->send(makePending(std::move(command), script, handler, cookie));
  stats_.unavailable->inc();
  return false;
}

bool NodeClient::ready() const {
  for (const auto& connection : connections_) {
    if (connection->state() == Connection::State::kReady) return true;
  }
  return false;
}

}  // namespace sg::store

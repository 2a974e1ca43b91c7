#include "store/cluster_client.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "store/resp.h"

namespace sg::store {

namespace {

// A node named by the cluster (CLUSTER SLOTS, MOVED, ASK): an IPv6 host needs brackets.
std::optional<net::Address> nodeAddress(const std::string& host, int64_t port) {
  std::string error;
  const bool ipv6 = host.find(':') != std::string::npos;
  return net::Address::parse((ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port), &error);
}

}  // namespace

ClusterClient::ClusterClient(net::EventLoop& loop, const config::StoreConfig& config,
                             StoreStats& stats)
    : ClientBase(loop, config, stats), seeds_(config.seeds) {
  slots_.fill(kUnknown);
}

ClusterClient::~ClusterClient() = default;

void ClusterClient::start() {
  for (const net::Address& seed : seeds_) nodeFor(seed);
}

void ClusterClient::shutdown() {
  for (auto& connection : connections_) connection->shutdown();
}

// One connection per node, made the first time the node is named (seed, map or redirect).
int16_t ClusterClient::nodeFor(const net::Address& address) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i] == address) return static_cast<int16_t>(i);
  }
  nodes_.push_back(address);
  addConnection(address);
  return static_cast<int16_t>(nodes_.size() - 1);
}

Connection* ClusterClient::pick(int16_t node) {
  if (node != kUnknown) {
    Connection& connection = *connections_[static_cast<size_t>(node)];
    const auto state = connection.state();
    return state == Connection::State::kReady || state == Connection::State::kConnecting
               ? &connection
               : nullptr;
  }
  for (auto& connection : connections_) {  // slot not known yet: any node; MOVED corrects it
    if (connection->state() == Connection::State::kReady) return connection.get();
  }
  return nullptr;
}

bool ClusterClient::send(std::string_view key, std::string&& command, const Script* script,
                         ReplyHandler* handler, uint64_t cookie) {
  Connection* connection = pick(slots_[keySlot(key)]);
  if (connection == nullptr) {
    stats_.unavailable->inc();
    return false;
  }
  return connection->send(makePending(std::move(command), script, handler, cookie));
}

bool ClusterClient::ready() const {
  for (const auto& connection : connections_) {
    if (connection->state() == Connection::State::kReady) return true;
  }
  return false;
}

std::string ClusterClient::nodeOf(uint16_t slot) const {
  const int16_t node = slots_[slot % kClusterSlots];
  return node == kUnknown ? std::string() : nodes_[static_cast<size_t>(node)].toString();
}

void ClusterClient::onStateChanged(Connection& connection) {
  if (connection.state() == Connection::State::kReady && refresh_wanted_) askForSlots(connection);
}

void ClusterClient::askForSlots(Connection& connection) {
  if (refresh_in_flight_) return;
  Pending pending;
  pending.kind = Pending::Kind::kInternal;
  appendCommand(&pending.command, {"CLUSTER", "SLOTS"});
  refresh_in_flight_ = connection.send(std::move(pending));
  if (refresh_in_flight_) refresh_wanted_ = false;
}

void ClusterClient::onReply(Connection& connection, Pending& pending, const Reply& reply) {
  if (pending.kind != Pending::Kind::kInternal)
    return ClientBase::onReply(connection, pending, reply);
  refresh_in_flight_ = false;
  if (reply.isArray()) return applySlots(connection, reply);
  refresh_wanted_ = true;  // failed or refused: the next ready connection asks again
  spdlog::warn("store: CLUSTER SLOTS from {} failed: {}", connection.address().toString(),
               reply.error());
}

// Each entry: [first slot, last slot, [master host, port, id, ...], replicas...]. An empty
// host means the node that answered.
void ClusterClient::applySlots(Connection& connection, const Reply& reply) {
  for (size_t i = 0; i < reply.size(); ++i) {
    const Reply range = reply.element(i);
    const Reply master = range.element(2);
    const int64_t first = range.element(0).integer();
    const int64_t last = range.element(1).integer();
    const int64_t port = master.element(1).integer();
    if (first < 0 || last >= kClusterSlots || first > last || port <= 0 || port > 65535) continue;
    std::string host(master.element(0).string());
    if (host.empty() || host == "?") host = connection.address().hostString();
    auto address = nodeAddress(host, port);
    if (!address) continue;
    const int16_t node = nodeFor(*address);
    for (int64_t slot = first; slot <= last; ++slot) slots_[static_cast<size_t>(slot)] = node;
  }
}

bool ClusterClient::handleError(Connection& connection, Pending& pending, const Reply& reply) {
  if (ClientBase::handleError(connection, pending, reply)) return true;
  auto redirect = parseRedirect(reply.error());
  if (!redirect || pending.redirects >= kMaxRedirects) return false;
  return follow(connection, pending, *redirect);
}

// MOVED: the slot's master changed (resharding, failover): remember it, refresh the whole
// map, resend. ASK: the slot is migrating; this key is already on the target.
bool ClusterClient::follow(Connection& from, Pending& pending, const Redirect& redirect) {
  const std::string host = redirect.host.empty() ? from.address().hostString() : redirect.host;
  auto address = nodeAddress(host, redirect.port);
  if (!address) return false;
  const int16_t node = nodeFor(*address);
  stats_.redirects->inc();
  ++pending.redirects;
  Connection* target = pick(node);
  if (target == nullptr) return false;
  if (!redirect.ask) {
    slots_[redirect.slot] = node;
    refresh_wanted_ = true;
    askForSlots(*target);
    return target->send(std::move(pending));
  }
  Pending asking;
  asking.kind = Pending::Kind::kAsking;
  appendCommand(&asking.command, {"ASKING"});
  return target->send(std::move(asking)) && target->send(std::move(pending));
}

}  // namespace sg::store

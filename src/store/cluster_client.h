#pragma once
// The client of a Redis Cluster: the slot map comes from CLUSTER SLOTS (asked of the first
// node that answers, again after every MOVED), a command goes to the master of its key's
// slot, MOVED updates the map and resends, ASK resends once behind ASKING.
#include <array>
#include <string>
#include <vector>

#include "store/client_base.h"
#include "store/cluster_slots.h"

namespace sg::store {

class ClusterClient final : public ClientBase {
 public:
  ClusterClient(net::EventLoop& loop, const config::StoreConfig& config, StoreStats& stats);
  ~ClusterClient() override;

  void start() override;
  void shutdown() override;
  bool send(std::string_view key, std::string&& command, const Script* script,
            ReplyHandler* handler, uint64_t cookie) override;
  bool ready() const override;
  void onStateChanged(Connection& connection) override;
  void onReply(Connection& connection, Pending& pending, const Reply& reply) override;

  // For tests and /health: the node serving `slot` (empty when the map does not know it).
  std::string nodeOf(uint16_t slot) const;

 private:
  static constexpr int16_t kUnknown = -1;
  static constexpr uint8_t kMaxRedirects = 5;

  int16_t nodeFor(const net::Address& address);
  Connection* pick(int16_t node);
  bool handleError(Connection& connection, Pending& pending, const Reply& reply) override;
  bool follow(Connection& from, Pending& pending, const Redirect& redirect);
  void askForSlots(Connection& connection);
  void applySlots(Connection& connection, const Reply& reply);

  std::vector<net::Address> seeds_;
  std::vector<net::Address> nodes_;  // index = node number; connections_[i] serves nodes_[i]
  std::array<int16_t, kClusterSlots> slots_;
  bool refresh_wanted_ = true;
  bool refresh_in_flight_ = false;
};

}  // namespace sg::store

#pragma once
// Keeps the registry in step with Redis, so every gateway instance with the same `store`
// sees the same registry within a second.
//
// In Redis (a service's keys share the {service} hash tag: one slot in a cluster, so one
// script touches them all):
//   scalegate:registry:services             a set of service names
//   scalegate:registry:{svc}                a hash: instance id -> its definition (JSON)
//   scalegate:registry:{svc}:hb:{id}        its last heartbeat (wall ms), PEXPIRE = ttl
// Redis expires the heartbeat key: expiry needs no gateway and no clock agreement.
//
// Every 250 ms (on the registry thread): local changes since the last round are written
// (state-based: the instance's current local state is sent, so a failed write is simply
// sent again next round), then the set and each service are read back (a script that also
// drops definitions whose heartbeat key expired) and replace the local copy. Polling rather
// than pub/sub: the 1 s bound then holds by construction, a missed message cannot exist, and
// a round costs one command per service.
//
// With Redis unreachable, the last known registry is kept and served (no eviction: this
// gateway cannot know of heartbeats other gateways took); local changes still apply and are
// written when Redis is back. After an outage or a reconnection (Redis may have restarted
// empty) every instance known here is republished, without overwriting newer registrations.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.h"
#include "discovery/registry.h"
#include "net/event_loop.h"
#include "store/client.h"

namespace sg::discovery {

class RegistrySync final : public ChangeSink, public store::ReplyHandler {
 public:
  RegistrySync(Registry& registry, const config::StoreConfig& config, net::EventLoop& loop,
               store::StoreStats& stats);
  ~RegistrySync();

  void start();     // on the loop's thread or before it runs
  void shutdown();  // after the loop stopped
  void tick();      // a round; on the loop's thread

  bool synced() const { return synced_.load(std::memory_order_acquire); }
  int64_t lastSyncMs() const { return last_sync_ms_.load(std::memory_order_acquire); }

  void onLocalChange(const std::string& service, const std::string& id, Kind kind) override;
  void onReply(uint64_t cookie, const store::Reply& reply) override;

 private:
  enum class Op : uint8_t { kWrite, kMembers, kRead };
  struct Request {
    Op op = Op::kWrite;
    uint64_t round = 0;
    std::string service;
    std::string id;  // kWrite
    Kind kind = Kind::kPut;
    bool republish = false;  // kWrite: a failed republish is redone whole, not as a put
  };
  using Key = std::pair<std::string, std::string>;  // service, instance

  void writeChanges();
  void writeOne(const std::string& service, const std::string& id, Kind kind, bool republish);
  void republishAll();
  void readServices();
  void onMembers(const store::Reply& reply);
  void onRead(const Request& request, const store::Reply& reply);
  bool send(std::string_view key, std::string&& command, const store::Script* script,
            Request request);
  void failRound();
  void finishRead();

  Registry& registry_;
  store::StoreStats& stats_;
  std::unique_ptr<store::Client> client_;

  std::mutex dirty_mutex_;
  std::map<Key, Kind> dirty_;

  // Loop thread only.
  std::unordered_map<uint64_t, Request> waiting_;
  uint64_t next_cookie_ = 1;
  uint64_t round_ = 0;
  bool round_open_ = false;
  bool round_failed_ = false;
  size_t reads_left_ = 0;
  uint64_t issued_at_ = 0;
  bool need_republish_ = false;
  uint64_t reconnects_seen_ = 0;

  std::atomic<bool> synced_{false};
  std::atomic<int64_t> last_sync_ms_{0};
};

}  // namespace sg::discovery

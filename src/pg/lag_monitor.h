#pragma once
// Worker 0's watch over the servers of every split database (one with replicas and
// read_write_split) and of every shard of a sharded database (its primary and replicas, split
// or not: a shard's primary down fails its writes at once): every lag_check_interval it asks each
// server, over a connection of its own, whether it is in recovery and how far its WAL has got, and
// publishes the answers in the servers' ServerHealth. From them: a replica too far behind (max_lag,
// max_lag_bytes) is banned from reads until it catches up; a server that fails `fall` probes in a
// row is down until `rise` pass (reads go elsewhere, writes to a down primary fail at once); with
// primary_discovery a replica that says it left recovery becomes the primary.
//
// A probe logs in as a pool of its database does (the credentials a client proved), so a
// database is probed from its first client's login on; until then its servers' state is
// unknown and they are used.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "health/active_checker.h"
#include "net/timer.h"
#include "pg/server_health.h"

namespace sg::config {
struct PostgresDatabaseConfig;
}

namespace sg::pg {

class PgWorker;
class Pool;
class ServerConn;

class LagMonitor final : public net::TimerHandler {
 public:
  explicit LagMonitor(PgWorker& worker);
  ~LagMonitor();
  void start();
  void stop();  // draining: probes close and no new ones open

  // From the probe connections (ServerConn::isProbe).
  void probeReady(ServerConn* server);
  void probeAnswered(ServerConn* server, std::string_view row, const std::string& error);
  void probeClosed(ServerConn* server, const char* reason);

  void onTimer(net::Timer* timer) override;

  // What a probe's row says; public for the tests.
  struct Reading {
    bool in_recovery = false;
    uint64_t lsn = 0;            // replayed (standby) or current (primary)
    int64_t replay_age_ms = -1;  // now - the last replayed commit's time; -1 when none
  };
  static bool parseReading(std::string_view row, Reading* out);
  static const char* const kProbeQuery;

 private:
  struct Probe {
    std::string database;
    uint32_t shard = 0;  // 0 when not sharded
    uint32_t backend = 0;
    ServerHealth* health = nullptr;
    health::RiseFall rise_fall;
    ServerConn* server = nullptr;
    bool in_flight = false;  // the query is out, its answer not in
    bool seen = false;       // in the configuration at this check
  };

  void syncProbes();
  void addProbes(const std::string& database, uint32_t shard, size_t replicas);
  void check(Probe& probe);
  void open(Probe& probe);
  void send(Probe& probe);
  void recordFailure(Probe& probe, const std::string& why);
  void recordReading(Probe& probe, const Reading& reading);
  void updateLag(const std::string& database, uint32_t shard);
  void discoverPrimary(const config::PostgresDatabaseConfig& database, uint32_t shard);
  Pool* credentialsPool(const std::string& database, uint32_t shard, uint32_t backend);
  Probe* find(const ServerConn* server);

  PgWorker& worker_;
  std::vector<std::unique_ptr<Probe>> probes_;
  net::Timer timer_{this};
  bool stopped_ = false;
};

}  // namespace sg::pg

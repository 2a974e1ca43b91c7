#pragma once
// Everything the workers share, built once from a Config at start-up and never changed
// afterwards except through atomics (server health, metrics, the draining flag).
#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "health/active_checker.h"
#include "health/outlier_detector.h"
#include "health/passive_health.h"
#include "lb/balancer.h"
#include "metrics/metrics.h"
#include "proxy/async_queue.h"
#include "proxy/cache_state.h"
#include "proxy/cache_warm.h"
#include "proxy/head_writer.h"
#include "proxy/protection_state.h"
#include "proxy/router.h"
#include "proxy/server_slots.h"
#include "proxy/tls_metrics.h"
#include "store/store_stats.h"

namespace sg::proxy {

// Operator-set state (admin API): draining servers take only sticky clients, disabled
// servers take nothing. Run-time slots (ServerSlots) add kRemoving (drains without sticky
// clients, then leaves) and kVacant (no server in the slot).
enum class AdminState : uint8_t { kEnabled, kDraining, kDisabled, kRemoving, kVacant };

// Why a server is out of rotation, most specific first (shown in /health and /metrics).
enum class OutReason : uint8_t {
  kNone,
  kDisabled,
  kDraining,
  kFailedCheck,
  kEjected,
  kFailedConnects,
  kRemoving,  // a run-time server being removed: requests in flight finish, no new ones
  kVacant     // a run-time server slot with no server
};
std::string_view outReasonName(OutReason reason);
// Every OutReason, in declaration order (the state-set metric's states).
std::span<const OutReason> allOutReasons();

// A server's series (scalegate_upstream_server_*), registered once per upstream and address:
// the counters and the active-connections gauge returned, and the up, state and weight gauges
// read at scrape time through `reason` and `weight`.
struct ServerSeries {
  metrics::Counter* requests = nullptr;
  metrics::Counter* errors = nullptr;
  metrics::Gauge* active = nullptr;
};
ServerSeries registerServerSeries(metrics::Registry& registry, const metrics::Labels& labels,
                                  std::function<OutReason()> reason,
                                  std::function<double()> weight);
// The cookie value naming a server (a hash of its address: the address is not leaked).
std::string stickyIdFor(const std::string& address);

struct SharedServer {
  SharedServer(const config::ServerConfig& config, size_t index);
  // Fixed for a static server; for a run-time slot, written only while no worker can read
  // it (see ServerSlots).
  config::ServerConfig config;
  size_t index;
  std::string address_text;
  std::string sticky_id;  // opaque cookie value naming this server (no address leaked)
  health::PassiveHealth health;
  health::CheckStatus check;  // active health check verdict (always healthy without checks)
  std::atomic<AdminState> admin_state{AdminState::kEnabled};
  std::atomic<uint32_t> weight;          // current weight (admin API can change it)
  std::atomic<uint32_t> in_flight{0};    // requests in flight on this server, all workers
  std::atomic<uint32_t> connections{0};  // open connections, all workers (run-time slots only)
  metrics::Counter* requests = nullptr;
  metrics::Counter* errors = nullptr;
  metrics::Gauge* active = nullptr;  // connections carrying a request right now
};

struct SharedUpstream {
  const config::UpstreamConfig* config = nullptr;
  size_t index = 0;
  std::vector<std::unique_ptr<SharedServer>> servers;
  std::unique_ptr<health::OutlierDetector> outliers;  // null without outlier_detection
  std::atomic<uint64_t> weights_version{0};           // bumped when the admin API changes a weight
  std::atomic<uint32_t> active_requests{0};           // for the retry budget
  std::atomic<uint32_t> active_retries{0};
  lb::SharedRotation rotation;  // round_robin's position, followed by every worker
  metrics::Counter* retries = nullptr;
  metrics::Counter* retries_budget_exhausted = nullptr;
  metrics::Counter* panic_picks = nullptr;
  // Upstream `tls` only: handshakes by result (full, resumed, failed).
  metrics::Counter* tls_full = nullptr;
  metrics::Counter* tls_resumed = nullptr;
  metrics::Counter* tls_failed = nullptr;
  std::unique_ptr<resilience::CircuitBreaker> breaker;  // null without circuit_breaker
  std::unique_ptr<ServerSlots> slots;  // null without discovery: static servers only
  std::string fallback_host;           // Host for requests without one (first server, or name)

  // Whether `server` may take new requests now, and if not, why.
  OutReason outReason(const SharedServer& server, int64_t now_ms) const;
};

// Why a request was refused before reaching an upstream; a label of
// scalegate_rejected_requests_total.
enum class RejectReason : uint8_t {
  kBodyTooLarge,
  kNoRoute,
  kBadChunk,
  kRequestTimeout,  // request_head_timeout
  kBodyTimeout,     // request_body_timeout
  kRateLimited,
  kCircuitOpen,
  kOverflow,      // a circuit_breaker max_* cap was reached
  kBadPath,       // a path normalisation refused (bad percent-encoding, escaped slash)
  kAmbiguousKey,  // the rate limit's key header came on several lines
  kCount,
};

// Why an HTTP/2 connection was ended as abusive (label `reason` of scalegate_http2_abuse_total).
enum class Http2Abuse : uint8_t {
  kRapidReset,          // RST_STREAMs past stream_reset_burst / stream_reset_rate
  kAckFlood,            // SETTINGS or PING frames whose ACKs the client does not read
  kTooManySettings,     // a SETTINGS frame with too many entries
  kHeaderListTooLarge,  // a header block past max_header_list_size (HPACK bomb, CONTINUATION flood)
  kCount,
};
std::string_view http2AbuseName(Http2Abuse reason);

struct Http2Metrics {
  metrics::Counter* connections = nullptr;
  metrics::Counter* streams = nullptr;
  metrics::Gauge* active_streams = nullptr;
  metrics::Counter* goaways = nullptr;
  metrics::Counter* refused_streams = nullptr;  // HEADERS past a draining GOAWAY's last stream
  std::array<metrics::Counter*, static_cast<size_t>(Http2Abuse::kCount)> abuse{};
  void count(Http2Abuse reason) { abuse[static_cast<size_t>(reason)]->inc(); }
};

struct SharedListener {
  const config::ListenerConfig* config = nullptr;
  Router router;
  static constexpr size_t kParseErrorSlots = 32;
  std::array<metrics::Counter*, kParseErrorSlots> parse_rejects{};
  std::array<metrics::Counter*, static_cast<size_t>(RejectReason::kCount)> rejects{};
  metrics::Counter* connections = nullptr;
  metrics::Gauge* open_connections = nullptr;
  DefaultHeaders default_headers;           // response_headers and hsts, added when absent
  std::unique_ptr<SharedLimit> rate_limit;  // listener key `rate_limit`, else null
  metrics::Counter* compressed_responses = nullptr;
  metrics::Counter* compress_bytes_in = nullptr;
  metrics::Counter* compress_bytes_out = nullptr;
  std::vector<AsyncQueue*> queues;  // the queues its async routes store into (job API)
  Http2Metrics http2;
  std::unique_ptr<TlsMetrics> tls;  // set on a TLS listener
};

// A queue's open SQLite store (queue name, file) that the next configuration may share.
struct KeptQueueStore {
  std::string queue;
  std::string path;
  std::shared_ptr<queue::SqliteJobStore> store;
};

class SharedState {
 public:
  SharedState(std::shared_ptr<const config::Config> config, uint32_t workers);

  const config::Config& config() const { return *config_; }
  // Keeps this generation's configuration (and the TLS contexts in it) alive: held by a TLS
  // connection that moved on to the next generation.
  std::shared_ptr<const void> configHandle() const { return config_; }
  // Where a client connection of an older generation's listener `name` moves to: this
  // generation's listener of that name when it is TLS exactly when the connection is (`tls`);
  // null otherwise (the connection cannot move).
  SharedListener* listenerTaking(std::string_view name, bool tls);
  metrics::Registry& registry() { return registry_; }
  std::vector<SharedUpstream>& upstreams() { return upstreams_; }
  std::vector<SharedListener>& listeners() { return listeners_; }
  uint32_t workerCount() const { return workers_; }
  // Null when no route caches.
  SharedCache* cache() { return cache_.get(); }
  // Routes' `cache: {warm: ...}` (start-up and POST /admin/cache/warm).
  CacheWarmer& cacheWarmer() { return *warmer_; }
  // Null without a top-level `store`.
  store::StoreStats* storeStats() { return store_stats_.get(); }
  // Every cluster-scope rate limit stays exact in the store's script; else a start-up error.
  bool checkClusterLimits(std::string* error) const;
  // Opens every queue's store (Gateway::start): false with *error when one cannot be opened.
  bool openQueues(std::string* error);
  // An in-process reload, before openQueues: a queue of the same name and SQLite file as one of
  // `older`'s shares that one's open store (the file cannot be opened twice).
  void keepQueueStores(const SharedState& older);
  // A binary upgrade, before openQueues: the SQLite file locks the process this one replaces
  // passed (queue/file_lock.h; not owned, open until openQueues returns).
  void handQueueLocks(std::vector<int> fds) { handed_queue_locks_ = std::move(fds); }
  // The lock descriptors of this generation's SQLite queues, to pass to a successor process.
  std::vector<int> queueLocks() const;
  std::vector<std::unique_ptr<AsyncQueue>>& queues() { return queues_; }
  AsyncQueue* findQueue(std::string_view name);

  std::atomic<bool> draining{false};

 private:
  void buildUpstreams();
  void registerUpstreamMetrics(SharedUpstream& upstream);
  void buildListeners();
  void buildCache();
  void registerRouteMetrics(Route& route, const std::string& listener_name);
  void addJobApiRoute(SharedListener& listener);
  void addFanOutRoutes(Route& route, SharedListener& listener);

  std::shared_ptr<const config::Config> config_;
  uint32_t workers_;
  metrics::Registry registry_;
  std::vector<SharedUpstream> upstreams_;
  std::unique_ptr<store::StoreStats> store_stats_;
  std::unique_ptr<SharedCache> cache_;                 // before listeners_: routes point into it
  std::deque<config::RouteConfig> job_route_configs_;  // the job API's routes point here
  std::vector<SharedListener> listeners_;
  std::vector<std::unique_ptr<AsyncQueue>> queues_;
  std::vector<KeptQueueStore> kept_stores_;  // keepQueueStores, until openQueues takes them
  std::vector<int> handed_queue_locks_;      // handQueueLocks, until openQueues
  std::unique_ptr<CacheWarmer> warmer_;      // after listeners_: it points into them
};

}  // namespace sg::proxy

#pragma once
// Typed, validated configuration. Built once by loadConfig() and shared read-only as
// std::shared_ptr<const Config>; nothing here changes after loading.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/autoscale_config.h"
#include "config/discovery_config.h"
#include "config/postgres_config.h"
#include "http/path_normalizer.h"
#include "net/address.h"
#include "net/cidr.h"

namespace sg::config {

using Duration = std::chrono::milliseconds;

struct RouteMatch {
  std::string host;                  // empty = any host; "*.example.com" = any subdomain
  std::string prefix = "/";          // plain path prefix, as nginx and Envoy match it
  std::vector<std::string> methods;  // empty = any method; stored upper-case
};

// Which failures a route retries (retries.on). Connect failures to other servers are always
// tried when nothing was sent; these widen that.
struct RetryOn {
  bool connect_failure = false;  // connect refused or timed out
  bool refused = false;          // connect refused (ECONNREFUSED) only
  bool reset = false;            // connection reset/closed before a response head
  bool timeout = false;          // per_try_timeout or response_timeout before a response head
  bool server_error = false;     // any 5xx response ("5xx")
  bool gateway_error = false;    // 502, 503, 504 ("gateway-error")
  std::vector<int> statuses;     // listed status codes, e.g. [409, 429]
};

struct RetryPolicy {
  uint32_t attempts = 0;  // retries after the first try (0 = no retries)
  RetryOn on;
  Duration per_try_timeout{0};   // 0 = only response_timeout applies
  Duration backoff{25};          // base of exponential backoff with full jitter (cap 10x)
  uint32_t budget_percent = 20;  // concurrent retries <= this % of active requests (floor 3)
};

// A request rate: `count` requests per `period` ("100/s", "6000/m", "20/10s").
struct Rate {
  uint64_t count = 0;
  Duration period{std::chrono::seconds(1)};
};

// Rate limiting (listener or route key `rate_limit`).
struct RateLimitConfig {
  enum class Algorithm { kTokenBucket, kGcra, kSlidingWindow };
  // What a bucket is counted per: the client IP, a request header's value, the route, or
  // one bucket for everything.
  enum class KeySource { kIp, kHeader, kRoute, kGlobal };
  struct Tier {
    Rate rate;
    uint64_t burst = 0;  // 0 = rate.count
  };
  std::string name;  // policy name in the RateLimit headers; defaults to the route or listener name
  Algorithm algorithm = Algorithm::kTokenBucket;
  KeySource key = KeySource::kIp;
  std::string key_header;             // header name for KeySource::kHeader
  Rate rate;                          // default limit (keys not listed in tiers)
  uint64_t burst = 0;                 // bucket size; 0 = rate.count. sliding_window: unused
  std::map<std::string, Tier> tiers;  // by the key's value (e.g. an API key) → its own limit
  bool shadow = false;                // count refusals, let every request through
  uint64_t max_keys = 100000;         // key table bound; idle keys are evicted first
  // kCluster: one limit shared by every instance using the top-level `store`.
  enum class Scope { kLocal, kCluster };
  Scope scope = Scope::kLocal;
  // Cluster scope: requests' worth of quota an instance takes from the store at once (1 =
  // every decision is one atomic call). Over-admission is bounded by lease x instances.
  uint32_t lease = 1;
  // Cluster scope with the store failing: the limit is enforced locally at rate / this.
  uint32_t fallback_instances = 1;
};

// Media types compressed when the config lists none: text formats, JSON, XML, JavaScript,
// SVG, WebAssembly and uncompressed font formats. Left out: text/event-stream (needs a
// flush per event, which is the streaming caller's explicit choice) and formats that are
// already compressed (images other than SVG, woff/woff2, archives, media).
std::vector<std::string> defaultCompressibleTypes();

// Response compression (listener or route key `compression`).
struct CompressionConfig {
  enum class Encoding { kBrotli, kGzip };
  bool enabled = true;  // a route may set false to turn its listener's compression off
  std::vector<Encoding> algorithms{Encoding::kBrotli, Encoding::kGzip};  // preference on equal q
  uint64_t min_size = 1024;  // responses with a smaller Content-Length are sent as they are
  // Lower-case media types; "text/*" matches any subtype.
  std::vector<std::string> content_types = defaultCompressibleTypes();
  int gzip_level = 5;      // 1..9
  int brotli_quality = 4;  // 0..11
};

// Strict-Transport-Security (listener key `hsts`).
struct HstsConfig {
  Duration max_age{std::chrono::hours(24 * 365)};
  bool include_subdomains = false;
  bool preload = false;
};

// HTTPS on a listener (listener key `tls`, load_listener_tls.cpp). The context (certificates,
// SNI, ALPN, resumption, client certificates) is made when the file is loaded.
struct ListenerTlsConfig {
  std::shared_ptr<const net::TlsContext> context;
  Duration handshake_timeout{std::chrono::seconds(10)};  // the handshake must finish in this
  std::vector<std::string> alpn;  // offered, in the server's order (only what this build serves)
  // The `tls` block as loaded, re-emitted: a reload carries the session ticket keys over to
  // a listener whose block did not change.
  std::string source;
};

// Response caching for a route (route key `cache`).
struct RouteCacheConfig {
  struct Key {
    enum class Query { kAll, kNone, kNames };
    std::vector<std::string> headers;  // request headers (lower-case names) added to the key
    Query query = Query::kAll;
    std::vector<std::string> query_names;  // kNames: only these parameters, sorted
  };
  bool enabled = true;
  std::optional<Duration> default_ttl;  // freshness when the response gives none
  std::optional<Duration> force_ttl;    // overrides the response's freshness
  Duration stale_while_revalidate{0};   // at least this, whatever the response says
  Duration stale_if_error{0};
  Key key;
  uint64_t max_object_size = 1024 * 1024;  // larger responses pass through uncached
  // RFC 9213 targeted fields (lower-case names), checked in order: the first valid one
  // replaces Cache-Control and Expires for this cache. Scalegate-Cache-Control is not stored.
  std::vector<std::string> targeted_cache_control = {"scalegate-cache-control",
                                                     "cdn-cache-control"};
  // RFC 9111 4.2.2: without explicit freshness, fresh for this fraction of Date -
  // Last-Modified (0 disables).
  double heuristic = 0.1;
  // Responses with Set-Cookie: kBypass are not stored; kStrip are stored without their
  // Set-Cookie lines (the client of the miss still gets them, hits never do); kStore are
  // stored and replayed on hits with their Set-Cookie.
  enum class SetCookie { kBypass, kStrip, kStore };
  SetCookie set_cookie = SetCookie::kBypass;
  // `l2: true`: entries are also kept in the store (top-level `store`), shared by every
  // instance, up to l2_max_object_size bytes of body.
  bool l2 = false;
  uint64_t l2_max_object_size = 1024 * 1024;
  // `warm`: requests sent through the route at start-up and on POST /admin/cache/warm.
  struct Warm {
    std::vector<std::string> urls;  // "/path?query" or "http://host[:port]/path?query"
    std::string file;               // one URL per line ('#' starts a comment)
    uint32_t concurrency = 8;
  };
  std::optional<Warm> warm;
};

// The shared in-memory cache (top-level key `cache`).
struct CacheConfig {
  enum class Policy { kTinyLfu, kLru };
  uint64_t memory = 256ull * 1024 * 1024;  // bytes, counting whole entries
  Policy policy = Policy::kTinyLfu;
  Duration lock_timeout{std::chrono::seconds(5)};  // collapsed misses wait this long
};

// A durable queue of an async route (top-level `queues`, by name).
struct QueueConfig {
  enum class Store { kSqlite, kRedis };  // kRedis: the top-level `store`
  enum class Overflow {
    kReject,
    kDropOldest
  };  // at max_length: 503 + Retry-After, or
      // the oldest queued job is dead-lettered
  struct Backoff {
    enum class Type { kExponential, kFixed };
    enum class Jitter { kFull, kNone };
    Type type = Type::kExponential;
    Duration delay{std::chrono::seconds(2)};  // first retry (exponential: doubles each time)
    Duration max{std::chrono::minutes(5)};
    Jitter jitter = Jitter::kFull;  // full: uniform in [0, delay]
  };
  struct Batch {
    uint32_t max_items = 100;
    Duration max_wait{std::chrono::seconds(1)};
  };
  std::string name;
  Store store = Store::kSqlite;
  std::string path;  // sqlite file; default "<name>.queue.db" in the working directory
  uint64_t max_length = 100000;
  Overflow overflow = Overflow::kReject;
  Duration message_ttl{std::chrono::hours(1)};  // not started by then: dead-lettered
  uint32_t concurrency = 16;                    // jobs in flight to the upstream, per gateway
  std::optional<Rate> rate;                     // delivery rate, per gateway
  uint32_t attempts = 3;                        // deliveries in all (first one included)
  Backoff backoff;
  RetryOn retry_on;  // default: 5xx, connect-failure, timeout, 429
  Duration result_ttl{std::chrono::hours(24)};
  uint64_t max_result_size = 1024 * 1024;  // a larger upstream answer keeps its head only
  std::optional<Batch> batch;
  // A delivery running longer counts as failed and is retried; unset: the upstream's
  // response_timeout plus 5 s.
  std::optional<Duration> visibility_timeout;
};

// A route's `async`: the request is stored in `queue` and answered 202 at once; the queue's
// dispatcher delivers it to the route's upstream (or to each `fanout` upstream).
struct AsyncRouteConfig {
  std::string queue;
  std::vector<std::string> fanout;  // upstream names; empty = the route's upstream
  struct Callback {
    std::vector<std::string> allow;  // hosts X-Callback-Url may name (lower-case)
    std::string secret_file;         // the HMAC key, read at start-up
  };
  std::optional<Callback> callback;
};

struct RouteConfig {
  RouteMatch match;
  std::string upstream;                // key into Config::upstreams (validated to exist)
  bool strip_prefix = false;           // remove match.prefix from the path sent upstream
  std::optional<RetryPolicy> retries;  // route key `retries`
  bool retry_non_idempotent =
      false;  // retry POST/PATCH too (also any request with Idempotency-Key)
  uint64_t retry_buffer_limit = 64 * 1024;  // request bodies up to this size are kept for replay
  std::string name;                         // for logs and metrics; defaults to match.prefix
  std::optional<RateLimitConfig> rate_limit;
  std::optional<CompressionConfig> compression;  // overrides the listener's
  std::optional<RouteCacheConfig> cache;
  std::optional<AsyncRouteConfig> async;
};

// Listener key `path_normalization` (http/path_normalizer.h): how request paths are
// normalised before routing; the normal form is also what the upstream receives.
struct PathNormalizationConfig {
  using EscapedSlashes = http::EscapedSlashes;  // %2F, %5C and '\' in a path
  bool enabled = true;  // false: routes match the raw path, which is forwarded as sent
  bool merge_slashes = true;
  EscapedSlashes escaped_slashes = EscapedSlashes::kReject;
  http::PathOptions options() const { return {merge_slashes, escaped_slashes}; }
};

// HTTP/2 to clients (names as nghttp2's and Envoy's). h2c: prior knowledge on a plain listener
// (the client's connection preface is recognised on the first bytes; no Upgrade: h2c).
// Rapid reset (CVE-2023-44487): RST_STREAMs from a client refill a token bucket of
// stream_reset_burst tokens at stream_reset_rate per second; an empty bucket ends the connection.
struct Http2Config {
  bool h2c = false;
  uint32_t max_concurrent_streams = 128;
  uint32_t initial_window_size = 65535;
  uint32_t max_header_list_size = 0;  // 0: the listener's max_header_size
  uint32_t stream_reset_burst = 1000;
  uint32_t stream_reset_rate = 33;
};

struct ListenerConfig {
  std::string name;
  net::Address address;
  std::vector<RouteConfig> routes;
  Duration request_head_timeout{
      std::chrono::seconds(10)};                    // whole request head must arrive in this
  Duration idle_timeout{std::chrono::seconds(60)};  // keep-alive idle between requests
  uint32_t max_header_size = 16 * 1024;             // request line + headers; over → 431
  uint32_t max_headers = 100;                       // header count; over → 431
  uint64_t max_body_size = 1024 * 1024;             // request body; over → 413 (0 = unlimited)
  // Longest wait for the next bytes of a request body the gateway reads; then 408.
  Duration request_body_timeout{std::chrono::seconds(60)};
  std::optional<RateLimitConfig> rate_limit;
  std::vector<net::Cidr> trusted_proxies;  // X-Forwarded-For is believed only from these peers
  std::optional<CompressionConfig> compression;
  // Added to responses that lack them; defaults: X-Content-Type-Options: nosniff and
  // X-Frame-Options: DENY. A header given an empty value is not added.
  std::vector<std::pair<std::string, std::string>> response_headers;
  std::optional<HstsConfig> hsts;
  PathNormalizationConfig path_normalization;
  Http2Config http2;
  std::shared_ptr<const ListenerTlsConfig> tls;  // null: plain HTTP
};

enum class BalanceAlgorithm {
  kRoundRobin,
  kWeightedRoundRobin,
  kLeastConn,
  kLeastRequest,
  kRandom,
  kIpHash,
  kHash,
  kRingHash,
  kMaglev,
};

// What the hash balancers hash (upstream key `hash_on`): "ip", "header:NAME",
// "cookie:NAME" or "query:NAME".
struct HashOn {
  enum class Source { kIp, kHeader, kCookie, kQuery };
  Source source = Source::kIp;
  std::string name;  // header, cookie or query parameter name (empty for kIp)
};

struct HealthCheckConfig {
  enum class Type { kHttp, kTcp };
  Type type = Type::kHttp;
  std::string path = "/";
  std::string host;  // Host header for HTTP checks; empty = the server address
  Duration interval{std::chrono::seconds(5)};
  Duration timeout{std::chrono::seconds(2)};
  uint32_t rise = 2;        // consecutive successes to mark a server up
  uint32_t fall = 3;        // consecutive failures to mark a server down
  std::vector<int> expect;  // accepted status codes; empty = any 2xx
};

// Envoy's outlier detection defaults.
struct OutlierDetectionConfig {
  uint32_t consecutive_5xx = 5;
  uint32_t consecutive_gateway_failure = 5;  // 502/503/504 and connect failures
  Duration interval{std::chrono::seconds(10)};
  Duration base_ejection_time{std::chrono::seconds(30)};
  // Cap on one ejection; the loader defaults it to max(300 s, base_ejection_time).
  Duration max_ejection_time{std::chrono::seconds(300)};
  uint32_t max_ejection_percent = 10;  // (ejected + 1) / servers may not exceed it
  bool always_eject_one_host = false;  // the first ejection ignores max_ejection_percent
};

// Circuit breaker (upstream key `circuit_breaker`). Errors are connect failures, timeouts
// and the listed response statuses.
struct CircuitBreakerConfig {
  uint32_t error_threshold_percent = 50;
  uint32_t volume_threshold = 20;  // requests in the window before it may open
  Duration window{std::chrono::seconds(10)};
  uint32_t buckets = 10;                             // the window rolls one bucket at a time
  Duration reset_timeout{std::chrono::seconds(30)};  // open → half-open after this
  uint32_t half_open_requests = 1;                   // trial requests let through while half-open
  std::vector<int> error_statuses{500, 502, 503, 504};
  // Envoy-style concurrency caps across all workers; 0 = no cap.
  uint32_t max_connections = 0;  // upstream connections open
  uint32_t max_pending = 0;      // requests waiting for a connection
  uint32_t max_requests = 0;     // requests in flight
  uint32_t max_retries = 0;      // retries in flight
};

struct ServerConfig {
  net::Address address;
  uint32_t weight = 1;
  bool backup = false;
  uint32_t max_fails = 1;  // failed connects before marking down (0 = never)
  Duration fail_timeout{std::chrono::seconds(10)};  // window for max_fails, and time spent down
};

// Upstream key `tls`: the servers are spoken to over TLS. The context is made at load time (so a
// bad file is a load error) and shared read-only by every connection and health check.
struct UpstreamTlsConfig {
  std::string sni;     // the name sent and checked; empty: none sent, the server's IP is checked
  bool verify = true;  // secure by default: the chain and the name (or IP) are checked
  std::string ca;      // CA file; empty = the system's trust store
  std::string cert;    // client_cert.cert (with key): for servers that require one
  std::string key;
  int min_version = 0x0303;  // TLS1_2_VERSION; `min_version: 1.3` raises it
  std::shared_ptr<const net::TlsContext> context;
};

struct UpstreamConfig {
  std::string name;
  BalanceAlgorithm balance = BalanceAlgorithm::kRoundRobin;
  std::vector<ServerConfig> servers;
  Duration connect_timeout{std::chrono::seconds(5)};
  Duration response_timeout{
      std::chrono::seconds(60)};     // waiting for response head, and between body reads
  uint32_t keepalive = 128;          // idle pooled connections kept per worker
  HashOn hash_on;                    // hash, ring_hash, maglev, (ip_hash always uses the IP)
  uint32_t ring_size = 160;          // ring_hash points per weight unit
  uint32_t hash_balance_factor = 0;  // percent > 100: bounded-load consistent hashing; 0 = off
  std::string sticky_cookie;         // cookie name the gateway sets to pin a client; empty = off
  Duration slow_start{0};            // ramp a recovering server's weight over this; 0 = off
  uint32_t panic_threshold = 50;     // percent healthy below which all servers are used
  std::optional<HealthCheckConfig> health_check;
  std::optional<OutlierDetectionConfig> outlier_detection;
  Duration keepalive_timeout{
      std::chrono::seconds(60)};  // an idle pooled connection is closed after this
  std::optional<CircuitBreakerConfig> circuit_breaker;
  std::optional<DiscoveryConfig> discovery;  // servers added and removed at run time
  std::optional<AutoscaleConfig> autoscale;  // upstream key `autoscale`
  std::optional<UpstreamTlsConfig> tls;      // upstream key `tls`; nullopt = plain TCP
  // The upstream's YAML as loaded, re-emitted (comments and layout dropped): a reload compares
  // it to tell an unchanged upstream, whose health and breaker state carry over.
  std::string source;
};

struct AdminConfig {
  std::optional<net::Address> address;  // nullopt = no admin listener
  // Bearer token the admin API requires (`token`, or read from `token_file` at load time);
  // empty = none, and then the listener may only be on loopback (load_admin.cpp).
  std::string token;
  bool public_read = false;  // GET/HEAD answered without the token
};

// Shared state for every instance (top-level key `store`); kNone keeps everything in-process.
struct StoreConfig {
  enum class Type { kNone, kRedis, kRedisCluster };
  Type type = Type::kNone;
  net::Address address;             // redis
  std::vector<net::Address> seeds;  // redis_cluster: any of its nodes
  std::string username;             // ACL user (empty = "default" / password-only AUTH)
  std::string password;
  uint32_t database = 0;                            // redis only; a cluster has database 0
  Duration timeout{std::chrono::milliseconds(25)};  // per command; past it, it failed
  uint32_t connections = 1;                         // per worker (per node for a cluster)
};

struct AccessLogConfig {
  bool enabled = false;
  std::string path;  // "-" or empty = stdout
};

struct Config {
  uint32_t workers = 0;  // 0 = one per core
  std::vector<ListenerConfig> listeners;
  std::vector<UpstreamConfig> upstreams;  // in file order
  AdminConfig admin;
  AccessLogConfig access_log;
  CacheConfig cache;
  StoreConfig store;
  std::vector<QueueConfig> queues;         // in file order
  std::optional<PostgresConfig> postgres;  // the PostgreSQL listener, when set
  std::string source_path;  // the file it was loaded from (what a reload reads again)
  Duration shutdown_timeout{std::chrono::seconds(30)};  // SIGTERM drain limit
  // Under concurrent load a worker that finds no ready event sleeps this long and then takes
  // every event that arrived, instead of blocking in epoll_wait (net/coalescer.h); 0 = off.
  uint32_t event_coalescing_us = 50;

  const UpstreamConfig* findUpstream(const std::string& name) const;
  const QueueConfig* findQueue(const std::string& name) const;
};

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string message;

  // "FILE:LINE:COL: message"
  std::string toString() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is not empty
  std::vector<ConfigError> errors;       // every error found, in file order
};

// Parse and validate. Never throws; never crashes on any input.
LoadResult loadConfigFile(const std::string& path);
LoadResult loadConfigString(const std::string& yaml_text, const std::string& file_name);

// "250ms", "2s", "1m", "1h", "1500us"? no: units are ms, s, m, h. Returns nullopt if invalid.
std::optional<Duration> parseDuration(const std::string& text);
// "512", "16KiB", "64MiB", "1GiB", also "16KB"/"16K" (= KiB). Returns nullopt if invalid.
std::optional<uint64_t> parseSize(const std::string& text);

}  // namespace sg::config

#pragma once
// Internal: loaders for each section of the file. Each reports every problem it finds to
// the ErrorSink and fills what it can; the caller discards the Config if any error was seen.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace sg::config::detail {

// Upstream names defined in the file, or nullopt when the upstreams section could not be
// read, so routes are not blamed for referring to names we could not see.
using UpstreamNames = std::optional<std::vector<std::string>>;

UpstreamNames collectUpstreamNames(const Field* upstreams);
// Files named inside (upstream `tls`) are resolved against config_file's directory.
void loadUpstreams(ErrorSink& errors, const Field& field, const std::string& config_file,
                   std::vector<UpstreamConfig>* out);
// Upstream key `tls` (load_upstream_tls.cpp): files read and the client context made here.
void loadUpstreamTls(ErrorSink& errors, const Field& field, const std::string& config_file,
                     UpstreamTlsConfig* out);
void loadListeners(ErrorSink& errors, const Field& field, const UpstreamNames& upstreams,
                   const std::string& config_file, std::vector<ListenerConfig>* out);
// A listener's `tls` (load_listener_tls.cpp): files read and the context made here, so `check`
// names an unreadable file or a key that does not match its certificate.
void loadListenerTls(ErrorSink& errors, const Field& field, const std::string& config_file,
                     const std::string& listener_name, ListenerTlsConfig* out);
// The ALPN protocols this build can serve on a TLS listener.
bool servesAlpn(std::string_view protocol);

// Route key `retries`: fills *out with the policy's defaults, then what the map sets.
void loadRetryPolicy(ErrorSink& errors, const Field& field, RetryPolicy* out);
// Upstream keys `health_check` and `outlier_detection`.
void loadHealthCheck(ErrorSink& errors, const Field& field, HealthCheckConfig* out);
void loadOutlierDetection(ErrorSink& errors, const Field& field, OutlierDetectionConfig* out);
void loadCircuitBreaker(ErrorSink& errors, const Field& field, CircuitBreakerConfig* out);
// Upstream key `discovery` (load_discovery.cpp); discovered servers inherit `defaults`.
void loadDiscovery(ErrorSink& errors, const MapReader& upstream, const ServerConfig& defaults,
                   UpstreamConfig* out);
// Upstream key `autoscale` (load_autoscale.cpp).
void loadAutoscale(ErrorSink& errors, const Field& field, AutoscaleConfig* out);

// `rate: 100/s` (count / period); false when absent or invalid (reported).
bool readRate(ErrorSink& errors, const Field* field, Rate* out);
// A list of retry conditions (connect-failure, refused, reset, timeout, 5xx, gateway-error,
// status codes); *out is replaced only by a valid, non-empty list.
void readRetryOn(ErrorSink& errors, const Field& field, RetryOn* out);
// Top-level `queues` (load_queues.cpp), a route's `async`, and the checks across sections:
// an async route names a queue, its fanout names upstreams, a redis queue has a store.
void loadQueues(ErrorSink& errors, const Field& field, std::vector<QueueConfig>* out);
void loadAsyncRoute(ErrorSink& errors, const Field& field, AsyncRouteConfig* out);
void checkAsyncRoutes(ErrorSink& errors, const Config& config);

// The top-level `postgres` (load_postgres.cpp). Loaded last: its listeners are checked against
// the HTTP listeners and the admin address in `config`, and its users_file is resolved against
// config_file's directory.
void loadPostgres(ErrorSink& errors, const Field& field, const std::string& config_file,
                  const Config& config, PostgresConfig* out);
// admin.token, admin.token_file and admin.public_read (load_admin.cpp), after admin.address:
// a listener off loopback needs a token.
void loadAdminAuth(ErrorSink& errors, const MapReader& map, const Field* address,
                   const std::string& config_file, AdminConfig* out);
// A path in the file is relative to the file's directory, so a config and the files it names can
// move together; a file loaded from the working directory keeps the path as written.
std::string resolvePath(const std::string& config_file, const std::string& path);
// Reads a file path (resolved against config_file) and checks that the file can be opened.
// False (reported) otherwise.
bool readFile(ErrorSink& errors, const Field* field, const std::string& config_file,
              std::string* out);
// postgres.client_tls and postgres.server_tls (load_postgres_tls.cpp): the files are read and the
// TLS contexts made here, so an unreadable file or a key that does not match is a load error.
void loadPostgresClientTls(ErrorSink& errors, const Field& field, const std::string& config_file,
                           PostgresTlsConfig* out);
void loadPostgresServerTls(ErrorSink& errors, const Field& field, const std::string& config_file,
                           PostgresTlsConfig* out);
// A list of replica addresses, without duplicates (load_postgres_routing.cpp).
void readReplicas(ErrorSink& errors, const Field* field, std::vector<net::Address>* out);
// A database's read/write splitting keys (load_postgres_routing.cpp), from the database's map.
// A sharded database lists its replicas per shard, so `replicas` is not read then.
void loadPostgresRouting(ErrorSink& errors, const MapReader& map, bool sharded,
                         PostgresRoutingConfig* out);
// A database's `shards`, `sharding` and `cross_shard` (load_postgres_sharding.cpp), after its
// other keys (a shard's dbname defaults to the database's, its routing is the database's).
void loadPostgresSharding(ErrorSink& errors, const MapReader& map, PostgresDatabaseConfig* out);
// postgres.health_check: {rise, fall} for the servers of split databases.
void loadPostgresHealthCheck(ErrorSink& errors, const Field& field, PostgresConfig* out);

// Protection keys (load_protection.cpp). default_name names a rate limit policy whose
// `name` is left out.
void loadRateLimit(ErrorSink& errors, const Field& field, const std::string& default_name,
                   RateLimitConfig* out);
void loadCompression(ErrorSink& errors, const Field& field, CompressionConfig* out);
void loadTrustedProxies(ErrorSink& errors, const Field& field, std::vector<net::Cidr>* out);
void loadResponseHeaders(ErrorSink& errors, const Field& field,
                         std::vector<std::pair<std::string, std::string>>* out);
void loadHsts(ErrorSink& errors, const Field& field, HstsConfig* out);
// The default response headers of a listener: X-Content-Type-Options and X-Frame-Options.
std::vector<std::pair<std::string, std::string>> defaultResponseHeaders();

// Caching keys (load_cache.cpp): a route's `cache` and the top-level `cache`.
void loadRouteCache(ErrorSink& errors, const Field& field, RouteCacheConfig* out);
void loadCache(ErrorSink& errors, const Field& field, CacheConfig* out);
// The top-level `store` (load_store.cpp), and the check that every cluster-scope rate limit
// has one (`store` is the field when present, else null).
void loadStore(ErrorSink& errors, const Field& field, StoreConfig* out);
void checkClusterScopes(ErrorSink& errors, const Field* store, const Config& config);

// RFC 9110 token characters: methods, header names, cookie names. ASCII only, whatever the
// process locale: these are protocol characters.
bool isTokenChar(char c);
bool isToken(std::string_view name);  // non-empty, token characters only
// ASCII lower-case (header names, hosts, media types), whatever the process locale.
std::string lowerCase(std::string text);
inline constexpr std::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
// A DNS-style host name: letters, digits, '-', '_' and dots between non-empty labels.
bool isHostName(std::string_view name);

// Two listening addresses that cannot both be bound: equal, or the same port where one is
// the wildcard address. Port 0 (kernel-chosen, used by tests) never conflicts.
bool addressesConflict(const net::Address& a, const net::Address& b);

}  // namespace sg::config::detail

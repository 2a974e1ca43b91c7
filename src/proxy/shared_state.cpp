#include "proxy/shared_state.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "http/parser.h"
#include "net/event_loop.h"
#include "proxy/phase_list.h"
#include "queue/callback.h"

namespace sg::proxy {

namespace {

void registerHttp2Metrics(metrics::Registry& registry, const metrics::Labels& labels,
                          Http2Metrics* out) {
  out->connections = &registry.counter("scalegate_http2_connections_total",
                                       "Client connections that spoke HTTP/2.", labels);
  out->streams = &registry.counter("scalegate_http2_streams_total",
                                   "HTTP/2 streams that carried a request.", labels);
  out->active_streams = &registry.gauge("scalegate_http2_streams_active",
                                        "HTTP/2 streams whose request is in flight.", labels);
  out->goaways =
      &registry.counter("scalegate_http2_goaways_total", "GOAWAY frames sent to clients.", labels);
  out->refused_streams = &registry.counter(
      "scalegate_http2_refused_streams_total",
      "HTTP/2 streams refused (REFUSED_STREAM) because they began after the final GOAWAY.", labels);
  for (size_t i = 0; i < out->abuse.size(); ++i) {
    metrics::Labels reason = labels;
    reason.emplace_back("reason", std::string(http2AbuseName(static_cast<Http2Abuse>(i))));
    out->abuse[i] = &registry.counter("scalegate_http2_abuse_total",
                                      "HTTP/2 connections closed as abusive, by reason.", reason);
  }
}

constexpr std::array<const char*, 5> kStatusClasses = {"1xx", "2xx", "3xx", "4xx", "5xx"};

std::string_view rejectName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kBodyTooLarge:
      return "body_too_large";
    case RejectReason::kNoRoute:
      return "no_route";
    case RejectReason::kBadChunk:
      return "bad_chunk";
    case RejectReason::kRequestTimeout:
      return "request_timeout";
    case RejectReason::kBodyTimeout:
      return "body_timeout";
    case RejectReason::kRateLimited:
      return "rate_limited";
    case RejectReason::kCircuitOpen:
      return "circuit_open";
    case RejectReason::kOverflow:
      return "overflow";
    case RejectReason::kBadPath:
      return "bad_path";
    case RejectReason::kAmbiguousKey:
      return "ambiguous_key";
    case RejectReason::kCount:
      break;
  }
  return "unknown";
}

std::string lowerCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

std::string_view outReasonName(OutReason reason) {
  switch (reason) {
    case OutReason::kNone:
      return "up";
    case OutReason::kDisabled:
      return "disabled";
    case OutReason::kDraining:
      return "draining";
    case OutReason::kFailedCheck:
      return "failed_check";
    case OutReason::kEjected:
      return "ejected";
    case OutReason::kFailedConnects:
      return "failed_connects";
    case OutReason::kRemoving:
      return "removing";
    case OutReason::kVacant:
      return "vacant";
  }
  return "unknown";
}

// A stable opaque id for the sticky cookie: the address is hashed so it does not leak.
std::string stickyIdFor(const std::string& address) {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : address) hash = (hash ^ c) * 1099511628211ULL;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) id[static_cast<size_t>(i)] = kHex[hash & 0xF];
  return id;
}

std::string_view http2AbuseName(Http2Abuse reason) {
  switch (reason) {
    case Http2Abuse::kRapidReset:
      return "rapid_reset";
    case Http2Abuse::kAckFlood:
      return "ack_flood";
    case Http2Abuse::kTooManySettings:
      return "too_many_settings";
    case Http2Abuse::kHeaderListTooLarge:
      return "header_list_too_large";
    case Http2Abuse::kCount:
      break;
  }
  return "unknown";
}

namespace {

constexpr std::array<OutReason, 8> kAllReasons = {
    OutReason::kNone,    OutReason::kDisabled,       OutReason::kDraining, OutReason::kFailedCheck,
    OutReason::kEjected, OutReason::kFailedConnects, OutReason::kRemoving, OutReason::kVacant};

}  // namespace

std::span<const OutReason> allOutReasons() { return kAllReasons; }

SharedServer::SharedServer(const config::ServerConfig& server_config, size_t server_index)
    : config(server_config),
      index(server_index),
      address_text(server_config.address.toString()),
      sticky_id(stickyIdFor(address_text)),
      health(server_config.max_fails, server_config.fail_timeout.count()),
      weight(server_config.weight) {}

OutReason SharedUpstream::outReason(const SharedServer& server, int64_t now_ms) const {
  // Acquire: a run-time slot's identity is published by the store of kEnabled.
  AdminState admin = server.admin_state.load(std::memory_order_acquire);
  if (admin != AdminState::kEnabled) {
    switch (admin) {
      case AdminState::kDisabled:
        return OutReason::kDisabled;
      case AdminState::kDraining:
        return OutReason::kDraining;
      case AdminState::kRemoving:
        return OutReason::kRemoving;
      default:
        return OutReason::kVacant;
    }
  }
  if (!server.check.healthy.load(std::memory_order_relaxed)) return OutReason::kFailedCheck;
  if (outliers && outliers->isEjected(server.index, now_ms)) return OutReason::kEjected;
  if (!server.health.isUp(now_ms)) return OutReason::kFailedConnects;
  return OutReason::kNone;
}

bool SharedState::checkClusterLimits(std::string* error) const {
  auto check = [error](const SharedLimit* limit) {
    return limit == nullptr || !limit->cluster || clusterLimitFits(*limit, error);
  };
  for (const SharedListener& listener : listeners_) {
    if (!check(listener.rate_limit.get())) return false;
    for (const Route& route : listener.router.routes()) {
      if (!check(route.rate_limit.get())) return false;
    }
  }
  return true;
}

SharedState::SharedState(std::shared_ptr<const config::Config> config, uint32_t workers)
    : config_(std::move(config)),
      workers_(workers),
      registry_(workers + 1),
      upstreams_(config_->upstreams.size()) {  // sized once: upstreams hold atomics
  if (config_->store.type != config::StoreConfig::Type::kNone) {
    store_stats_ = std::make_unique<store::StoreStats>(
        registry_,
        config_->store.type == config::StoreConfig::Type::kRedis ? "redis" : "redis_cluster");
  }
  buildUpstreams();
  buildCache();
  buildListeners();
  warmer_ = std::make_unique<CacheWarmer>(*this);
}

// One cache for every route with an enabled `cache` (none when no route caches).
void SharedState::buildCache() {
  uint32_t routes = 0;
  bool any = false;
  for (const auto& listener : config_->listeners) {
    for (const auto& route : listener.routes) {
      ++routes;
      any = any || (route.cache && route.cache->enabled);
    }
  }
  if (!any) return;
  cache_ = std::make_unique<SharedCache>(config_->cache, routes);
  cache_->startBus(config_->store);  // with a store: purges reach every instance
  registerCacheMetrics(*cache_, registry_);
}

void SharedState::buildUpstreams() {
  for (size_t u = 0; u < config_->upstreams.size(); ++u) {
    const auto& upstream_config = config_->upstreams[u];
    auto& upstream = upstreams_[u];
    upstream.config = &upstream_config;
    upstream.index = u;
    for (size_t s = 0; s < upstream_config.servers.size(); ++s) {
      auto server = std::make_unique<SharedServer>(upstream_config.servers[s], s);
      SharedServer* raw = server.get();
      SharedUpstream* owner = &upstream;
      ServerSeries series = registerServerSeries(
          registry_, {{"upstream", upstream_config.name}, {"server", raw->address_text}},
          [owner, raw] { return owner->outReason(*raw, net::monotonicMillis()); },
          [raw] { return static_cast<double>(raw->weight.load()); });
      server->requests = series.requests;
      server->errors = series.errors;
      server->active = series.active;
      upstream.servers.push_back(std::move(server));
    }
    upstream.fallback_host =
        upstream.servers.empty() ? upstream_config.name : upstream.servers.front()->address_text;
    if (upstream_config.discovery) {
      upstream.slots =
          std::make_unique<ServerSlots>(upstream, *upstream_config.discovery, registry_, workers_);
    }
    if (upstream_config.outlier_detection) {
      upstream.outliers = std::make_unique<health::OutlierDetector>(
          *upstream_config.outlier_detection, upstream.servers.size());
    }
    if (upstream_config.circuit_breaker) {
      upstream.breaker =
          std::make_unique<resilience::CircuitBreaker>(*upstream_config.circuit_breaker);
      registerBreakerMetrics(*upstream.breaker, upstream_config.name, registry_);
    }
    registerUpstreamMetrics(upstream);
  }
}

void SharedState::registerUpstreamMetrics(SharedUpstream& upstream) {
  metrics::Labels labels{{"upstream", upstream.config->name}};
  upstream.retries = &registry_.counter("scalegate_upstream_retries_total",
                                        "Requests sent again after a failed try.", labels);
  upstream.retries_budget_exhausted =
      &registry_.counter("scalegate_upstream_retry_budget_exhausted_total",
                         "Retries not made because the retry budget was used up.", labels);
  upstream.panic_picks = &registry_.counter(
      "scalegate_upstream_panic_total",
      "Picks made in panic mode (too few healthy servers: all servers used).", labels);
  if (upstream.config->tls) {
    auto handshakes = [&](const char* result) {
      metrics::Labels with_result = labels;
      with_result.emplace_back("result", result);
      return &registry_.counter("scalegate_upstream_tls_handshakes_total",
                                "TLS handshakes with the upstream's servers, by result (full, "
                                "resumed: a saved session was reused, failed).",
                                with_result);
    };
    upstream.tls_full = handshakes("full");
    upstream.tls_resumed = handshakes("resumed");
    upstream.tls_failed = handshakes("failed");
  }
  SharedUpstream* owner = &upstream;
  registry_.gaugeCallback(
      "scalegate_upstream_outlier_ejections", "Ejections made by outlier detection so far.", labels,
      [owner] {
        return owner->outliers ? static_cast<double>(owner->outliers->ejectionsTotal()) : 0.0;
      });
}

ServerSeries registerServerSeries(metrics::Registry& registry, const metrics::Labels& labels,
                                  std::function<OutReason()> reason,
                                  std::function<double()> weight) {
  ServerSeries series;
  series.requests = &registry.counter("scalegate_upstream_server_requests_total",
                                      "Requests sent to the upstream server.", labels);
  series.errors = &registry.counter(
      "scalegate_upstream_server_errors_total",
      "Failed connects, resets and timeouts talking to the upstream server.", labels);
  series.active = &registry.gauge("scalegate_upstream_server_active_connections",
                                  "Upstream connections carrying a request now.", labels);
  registry.gaugeCallback("scalegate_upstream_server_up",
                         "1 when the server takes new requests, 0 when out.", labels,
                         [reason] { return reason() == OutReason::kNone ? 1.0 : 0.0; });
  std::vector<std::string> names;
  for (OutReason each : kAllReasons) names.emplace_back(outReasonName(each));
  registry.stateSetCallback(
      "scalegate_upstream_server_state",
      "1 for the server's current state (up, disabled, draining, failed_check, ejected, "
      "failed_connects, removing, vacant), 0 for the others.",
      labels, "state", names, [reason] {
        OutReason now = reason();
        return static_cast<size_t>(std::find(kAllReasons.begin(), kAllReasons.end(), now) -
                                   kAllReasons.begin());
      });
  registry.gaugeCallback("scalegate_upstream_server_weight", "Current weight.", labels,
                         std::move(weight));
  return series;
}

namespace {

DefaultHeaders defaultHeaders(const config::ListenerConfig& config) {
  DefaultHeaders headers;
  auto add = [&](const std::string& name, const std::string& value) {
    headers.push_back({lowerCase(name), name + ": " + value + "\r\n"});
  };
  for (const auto& [name, value] : config.response_headers) add(name, value);
  if (config.hsts) {
    std::string value =
        "max-age=" +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(config.hsts->max_age).count());
    if (config.hsts->include_subdomains) value += "; includeSubDomains";
    if (config.hsts->preload) value += "; preload";
    add("Strict-Transport-Security", value);
  }
  return headers;
}

}  // namespace

void SharedState::buildListeners() {
  listeners_.resize(config_->listeners.size());
  uint32_t route_number = 0;  // the cache counts each route's entries apart
  for (size_t l = 0; l < config_->listeners.size(); ++l) {
    const auto& listener_config = config_->listeners[l];
    auto& listener = listeners_[l];
    listener.config = &listener_config;
    listener.default_headers = defaultHeaders(listener_config);
    if (listener_config.rate_limit) {
      listener.rate_limit = makeSharedLimit(*listener_config.rate_limit, listener_config.name, "",
                                            registry_, workers_);
    }
    metrics::Labels listener_labels{{"listener", listener_config.name}};
    listener.connections = &registry_.counter("scalegate_connections_total",
                                              "Client connections accepted.", listener_labels);
    listener.open_connections = &registry_.gauge("scalegate_connections_active",
                                                 "Client connections open now.", listener_labels);
    registerHttp2Metrics(registry_, listener_labels, &listener.http2);
    if (listener_config.tls) listener.tls = TlsMetrics::make(registry_, listener_config.name);
    listener.compressed_responses =
        &registry_.counter("scalegate_compressed_responses_total",
                           "Responses the gateway compressed.", listener_labels);
    listener.compress_bytes_in =
        &registry_.counter("scalegate_compression_bytes_in_total",
                           "Body bytes before the gateway compressed them.", listener_labels);
    listener.compress_bytes_out =
        &registry_.counter("scalegate_compression_bytes_out_total",
                           "Body bytes after the gateway compressed them.", listener_labels);
    auto reject = [&](std::string_view reason) {
      return &registry_.counter(
          "scalegate_rejected_requests_total", "Requests refused by the gateway itself, by reason.",
          {{"listener", listener_config.name}, {"reason", std::string(reason)}});
    };
    for (size_t e = 1; e < SharedListener::kParseErrorSlots; ++e) {
      auto name = http::errorName(static_cast<http::ParseError>(e));
      if (name.empty() || name == "unknown") break;
      listener.parse_rejects[e] = reject(name);
    }
    for (size_t r = 0; r < listener.rejects.size(); ++r) {
      listener.rejects[r] = reject(rejectName(static_cast<RejectReason>(r)));
    }
    for (const auto& route_config : listener_config.routes) {
      Route route;
      route.config = &route_config;
      for (auto& upstream : upstreams_) {
        if (upstream.config->name == route_config.upstream) route.upstream = &upstream;
      }
      std::string host = lowerCase(route_config.match.host);
      if (host.rfind("*.", 0) == 0) {
        route.host_wildcard = true;
        host.erase(0, 1);
      }
      route.host = host;
      if (route_config.rate_limit) {
        route.rate_limit = makeSharedLimit(*route_config.rate_limit, listener_config.name,
                                           route_config.name, registry_, workers_);
      }
      const auto& compression =
          route_config.compression ? route_config.compression : listener_config.compression;
      if (compression && compression->enabled) route.compression = &*compression;
      route.cache = makeRouteCache(route_config, listener_config.name, cache_.get(), route_number++,
                                   registry_);
      registerRouteMetrics(route, listener_config.name);
      route.phases = buildPhaseList(route, listener);
      listener.router.add(std::move(route));
    }
    addJobApiRoute(listener);
  }
}

void SharedState::registerRouteMetrics(Route& route, const std::string& listener_name) {
  for (size_t c = 0; c < kStatusClasses.size(); ++c) {
    route.responses_by_class[c] = &registry_.counter(
        "scalegate_requests_total", "Requests answered, by route and status class.",
        {{"listener", listener_name}, {"route", route.config->name}, {"class", kStatusClasses[c]}});
  }
  route.latency =
      &registry_.histogram("scalegate_request_duration_seconds",
                           "Time from a complete request head to the end of the response.",
                           {{"listener", listener_name}, {"route", route.config->name}});
}

// A listener with an async route answers the job API under /jobs/, ahead of its own routes
// (the 202's Location points there).
void SharedState::addJobApiRoute(SharedListener& listener) {
  const Route* async_route = nullptr;
  for (const Route& route : listener.router.routes()) {
    if (route.config->async) {
      async_route = &route;
      break;
    }
  }
  if (async_route == nullptr) return;
  config::RouteConfig& config = job_route_configs_.emplace_back();
  config.match.prefix = std::string(kJobsPrefix);
  config.name = "jobs";
  config.upstream = async_route->config->upstream;
  Route route;
  route.config = &config;
  route.upstream = async_route->upstream;  // never used: the phase answers every request
  registerRouteMetrics(route, listener.config->name);
  route.phases = jobApiPhaseList();
  auto& routes = listener.router.routes();
  routes.insert(routes.begin(), std::move(route));
}

// A fan-out route delivers each member through a copy of itself whose upstream is the
// member's target (its breaker, balancing and timeouts), sharing the route's metrics.
void SharedState::addFanOutRoutes(Route& route, SharedListener& listener) {
  for (const std::string& name : route.config->async->fanout) {
    auto variant = std::make_unique<Route>();
    variant->config = route.config;
    for (auto& upstream : upstreams_) {
      if (upstream.config->name == name) variant->upstream = &upstream;
    }
    variant->host = route.host;
    variant->host_wildcard = route.host_wildcard;
    variant->responses_by_class = route.responses_by_class;
    variant->latency = route.latency;
    variant->compression = route.compression;
    variant->queue = route.queue;
    variant->phases = buildPhaseList(*variant, listener);
    route.fanout_routes.push_back(std::move(variant));
  }
}

AsyncQueue* SharedState::findQueue(std::string_view name) {
  for (auto& queue : queues_) {
    if (queue->config().name == name) return queue.get();
  }
  return nullptr;
}

void SharedState::keepQueueStores(const SharedState& older) {
  for (const auto& queue : older.queues_) {
    if (auto store = queue->sqliteStore())
      kept_stores_.push_back({queue->config().name, AsyncQueue::path(queue->config()), store});
  }
}

std::vector<int> SharedState::queueLocks() const {
  std::vector<int> fds;
  for (const auto& queue : queues_) {
    if (auto store = queue->sqliteStore()) fds.push_back(store->lock().fd());
  }
  return fds;
}

namespace {

std::shared_ptr<queue::SqliteJobStore> keptStore(const std::vector<KeptQueueStore>& kept,
                                                 const config::QueueConfig& config) {
  if (config.store != config::QueueConfig::Store::kSqlite) return nullptr;
  for (const KeptQueueStore& candidate : kept) {
    if (candidate.queue == config.name && candidate.path == AsyncQueue::path(config))
      return candidate.store;
  }
  return nullptr;
}

}  // namespace

bool SharedState::openQueues(std::string* error) {
  // Taken now: a kept store this configuration does not use closes with the old one.
  const std::vector<KeptQueueStore> kept = std::exchange(kept_stores_, {});
  const std::vector<int> handed_locks = std::exchange(handed_queue_locks_, {});
  for (const config::QueueConfig& queue_config : config_->queues) {
    // Long enough for the slowest upstream the queue's routes send to, plus a margin.
    config::Duration visibility{0};
    for (auto& listener : listeners_) {
      for (Route& route : listener.router.routes()) {
        if (!route.config->async || route.config->async->queue != queue_config.name) continue;
        visibility = std::max(visibility, route.upstream->config->response_timeout);
        // A fan-out route delivers to its listed upstreams instead.
        for (const std::string& name : route.config->async->fanout) {
          if (const auto* upstream = config_->findUpstream(name)) {
            visibility = std::max(visibility, upstream->response_timeout);
          }
        }
      }
    }
    visibility = queue_config.visibility_timeout.value_or(visibility + std::chrono::seconds(5));
    auto queue = AsyncQueue::open(queue_config, config_->store, visibility, registry_, error,
                                  keptStore(kept, queue_config), handed_locks);
    if (!queue) return false;
    for (auto& listener : listeners_) {
      for (Route& route : listener.router.routes()) {
        if (!route.config->async || route.config->async->queue != queue_config.name) continue;
        route.queue = queue.get();
        addFanOutRoutes(route, listener);
        if (const auto& callback = route.config->async->callback) {
          // Read once: a key that cannot be read stops start-up rather than sign with nothing.
          std::string secret;
          std::string why;
          if (!queue::readCallbackSecret(callback->secret_file, &secret, &why)) {
            *error = "route " + route.config->name + ": async.callback: " + why;
            return false;
          }
          if (!queue->addCallbackRoute(route.config->name, std::move(secret), error)) return false;
        }
        if (std::find(listener.queues.begin(), listener.queues.end(), queue.get()) ==
            listener.queues.end())
          listener.queues.push_back(queue.get());
        // Deliveries are routed again on the first listener that has the queue's route.
        queue->setListener(queue->listener() != nullptr ? queue->listener() : &listener);
      }
    }
    queues_.push_back(std::move(queue));
  }
  return true;
}

SharedListener* SharedState::listenerTaking(std::string_view name, bool tls) {
  for (auto& listener : listeners_) {
    if (listener.config->name == name)
      return (listener.config->tls != nullptr) == tls ? &listener : nullptr;
  }
  return nullptr;
}

}  // namespace sg::proxy

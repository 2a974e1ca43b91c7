// The listeners section: listening addresses, their limits, and their routes.
#include <algorithm>
#include <limits>
#include <string_view>

#include "config/load.h"

namespace sg::config::detail {

namespace {

constexpr uint64_t kMinHeaderSize = 1024;
constexpr uint64_t kMaxHeaderSize = 1024 * 1024;
constexpr uint32_t kMaxHeaderCount = 1000;
constexpr size_t kMaxNamesListed = 10;
constexpr uint64_t kMaxRetryBufferLimit = 16 * 1024 * 1024;

// ASCII only, whatever the process locale: these are protocol characters.
bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Query and fragment never reach path matching, so a prefix holding them could never match.
bool isPrefixChar(char c) {
  return static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != '?' && c != '#';
}

void readPrefix(ErrorSink& errors, const Field* field, const PathNormalizationConfig& paths,
                std::string* out) {
  if (!readString(errors, field, out)) return;
  if (out->empty() || out->front() != '/' || !std::all_of(out->begin(), out->end(), isPrefixChar)) {
    errors.add(
        field->mark(), field->path,
        "invalid prefix " + quoted(*out) + " (must start with '/' and hold no spaces, '?' or '#')");
    return;
  }
  // Routes see normalised paths: a prefix that is not in normal form could never match.
  if (!paths.enabled) return;
  std::string normal;
  const http::PathStatus status = http::normalizePath(*out, paths.options(), &normal);
  if (status == http::PathStatus::kNormalized) {
    errors.add(field->mark(), field->path,
               "prefix " + quoted(*out) + " can never match: paths are normalised before routing " +
                   "(path_normalization), write it " + quoted(normal));
  } else if (status != http::PathStatus::kUnchanged) {
    errors.add(field->mark(), field->path,
               "prefix " + quoted(*out) + " can never match: paths with " +
                   (status == http::PathStatus::kBadEncoding ? "a bad percent-encoding"
                                                             : "an escaped slash or backslash") +
                   " are refused (path_normalization)");
  }
}

// Host names compare case-insensitively, so they are stored lower-case.
void readHost(ErrorSink& errors, const Field* field, std::string* out) {
  std::string host;
  if (!readString(errors, field, &host)) return;
  std::string_view name = host;
  if (name.substr(0, 2) == "*.") name.remove_prefix(2);
  if (!isHostName(name)) {
    errors.add(field->mark(), field->path,
               "invalid host " + quoted(host) + " (use a name like example.com or *.example.com)");
    return;
  }
  *out = lowerCase(host);
}

void readMethods(ErrorSink& errors, const Field* field, std::vector<std::string>* out) {
  if (field == nullptr) return;
  for (const Field& item : sequenceItems(errors, *field)) {
    std::string method;
    if (!readString(errors, &item, &method)) continue;
    for (char& c : method) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    if (method.empty() || !std::all_of(method.begin(), method.end(), isTokenChar)) {
      errors.add(item.mark(), item.path, "invalid method " + quoted(method));
    } else if (method == "CONNECT") {
      // Every CONNECT is refused with 400: a route listing it would promise a tunnel.
      errors.add(item.mark(), item.path,
                 "CONNECT is not supported (the gateway does not tunnel CONNECT requests)");
    } else if (std::find(out->begin(), out->end(), method) != out->end()) {
      errors.add(item.mark(), item.path, "duplicate method " + quoted(method));
    } else {
      out->push_back(std::move(method));
    }
  }
}

void loadMatch(ErrorSink& errors, const Field& field, const PathNormalizationConfig& paths,
               RouteMatch* out) {
  MapReader map(errors, field, {"prefix", "host", "methods"});
  if (!map.valid()) return;
  readPrefix(errors, map.find("prefix"), paths, &out->prefix);
  readHost(errors, map.find("host"), &out->host);
  readMethods(errors, map.find("methods"), &out->methods);
}

void checkUpstreamName(ErrorSink& errors, const Field& field, const std::string& name,
                       const UpstreamNames& upstreams) {
  if (!upstreams || std::find(upstreams->begin(), upstreams->end(), name) != upstreams->end())
    return;
  std::string known;
  if (upstreams->empty()) {
    known = " (no upstreams are defined)";
  } else if (upstreams->size() <= kMaxNamesListed) {
    for (const std::string& upstream : *upstreams)
      known += (known.empty() ? " (defined: " : ", ") + upstream;
    known += ")";
  }
  errors.add(field.mark(), field.path, "unknown upstream " + quoted(name) + known);
}

void loadRoute(ErrorSink& errors, const Field& item, const UpstreamNames& upstreams,
               const PathNormalizationConfig& paths, RouteConfig* out) {
  MapReader map(errors, item,
                {"name", "match", "upstream", "strip_prefix", "retries", "retry_non_idempotent",
                 "retry_buffer_limit", "rate_limit", "compression", "cache", "async"});
  if (!map.valid()) return;
  if (const Field* match = map.find("match")) loadMatch(errors, *match, paths, &out->match);
  const Field* name = map.find("name");
  if (readString(errors, name, &out->name)) {
    if (out->name.empty()) errors.add(name->mark(), name->path, "must not be empty");
  } else {
    out->name = out->match.prefix;
  }
  const Field* upstream = map.require("upstream");
  if (readString(errors, upstream, &out->upstream)) {
    checkUpstreamName(errors, *upstream, out->upstream, upstreams);
  }
  readBool(errors, map.find("strip_prefix"), &out->strip_prefix);
  if (const Field* retries = map.find("retries")) {
    RetryPolicy policy;
    loadRetryPolicy(errors, *retries, &policy);
    out->retries = std::move(policy);
  }
  readBool(errors, map.find("retry_non_idempotent"), &out->retry_non_idempotent);
  readSize(errors, map.find("retry_buffer_limit"), 0, kMaxRetryBufferLimit,
           &out->retry_buffer_limit);
  if (const Field* limit = map.find("rate_limit"))
    loadRateLimit(errors, *limit, out->name, &out->rate_limit.emplace());
  if (const Field* compression = map.find("compression"))
    loadCompression(errors, *compression, &out->compression.emplace());
  if (const Field* cache = map.find("cache")) loadRouteCache(errors, *cache, &out->cache.emplace());
  if (const Field* async = map.find("async")) loadAsyncRoute(errors, *async, &out->async.emplace());
}

void loadRoutes(ErrorSink& errors, const Field& field, const UpstreamNames& upstreams,
                const PathNormalizationConfig& paths, std::vector<RouteConfig>* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (field.value.IsSequence() && items.empty()) {
    errors.add(field.mark(), field.path, "must list at least one route");
  }
  for (const Field& item : items) {
    RouteConfig route;
    loadRoute(errors, item, upstreams, paths, &route);
    out->push_back(std::move(route));
  }
}

void loadListenerProtection(ErrorSink& errors, const MapReader& map, ListenerConfig* out) {
  if (const Field* limit = map.find("rate_limit"))
    loadRateLimit(errors, *limit, out->name, &out->rate_limit.emplace());
  if (const Field* proxies = map.find("trusted_proxies"))
    loadTrustedProxies(errors, *proxies, &out->trusted_proxies);
  if (const Field* compression = map.find("compression"))
    loadCompression(errors, *compression, &out->compression.emplace());
  out->response_headers = defaultResponseHeaders();
  if (const Field* headers = map.find("response_headers"))
    loadResponseHeaders(errors, *headers, &out->response_headers);
  if (const Field* hsts = map.find("hsts")) loadHsts(errors, *hsts, &out->hsts.emplace());
}

void loadPathNormalization(ErrorSink& errors, const Field& field, PathNormalizationConfig* out) {
  MapReader map(errors, field, {"enabled", "merge_slashes", "escaped_slashes"});
  if (!map.valid()) return;
  readBool(errors, map.find("enabled"), &out->enabled);
  readBool(errors, map.find("merge_slashes"), &out->merge_slashes);
  const Field* escaped = map.find("escaped_slashes");
  std::string text;
  if (!readString(errors, escaped, &text)) return;
  using EscapedSlashes = PathNormalizationConfig::EscapedSlashes;
  if (text == "reject") {
    out->escaped_slashes = EscapedSlashes::kReject;
  } else if (text == "keep") {
    out->escaped_slashes = EscapedSlashes::kKeep;
  } else if (text == "decode") {
    out->escaped_slashes = EscapedSlashes::kDecode;
  } else {
    errors.add(escaped->mark(), escaped->path,
               "unknown value " + quoted(text) + " (one of: reject, keep, decode)");
  }
}

void loadHttp2(ErrorSink& errors, const Field& field, Http2Config* out) {
  MapReader map(errors, field,
                {"h2c", "max_concurrent_streams", "initial_window_size", "max_header_list_size",
                 "stream_reset_burst", "stream_reset_rate"});
  if (!map.valid()) return;
  readBool(errors, map.find("h2c"), &out->h2c);
  readUint32(errors, map.find("max_concurrent_streams"), 1, 65535, &out->max_concurrent_streams);
  // RFC 9113 6.5.2: a window above 2^31-1 is a FLOW_CONTROL_ERROR.
  uint64_t window = out->initial_window_size;
  if (readSize(errors, map.find("initial_window_size"), 1024, 2147483647, &window))
    out->initial_window_size = static_cast<uint32_t>(window);
  uint64_t list_size = out->max_header_list_size;
  if (readSize(errors, map.find("max_header_list_size"), kMinHeaderSize, kMaxHeaderSize,
               &list_size)) {
    out->max_header_list_size = static_cast<uint32_t>(list_size);
  }
  readUint32(errors, map.find("stream_reset_burst"), 1, 1000000, &out->stream_reset_burst);
  readUint32(errors, map.find("stream_reset_rate"), 1, 1000000, &out->stream_reset_rate);
}

// What later listeners are compared against for duplicates.
struct SeenListener {
  std::string path;
  std::optional<Field> name;     // set only when the name was read and is valid
  std::optional<Field> address;  // set only when the address was read and is valid
  ListenerConfig* config = nullptr;
};

void loadListener(ErrorSink& errors, const Field& item, const UpstreamNames& upstreams,
                  const std::string& config_file, ListenerConfig* out, SeenListener* seen) {
  MapReader map(
      errors, item,
      {"name", "address", "request_head_timeout", "idle_timeout", "request_body_timeout",
       "max_header_size", "max_headers", "max_body_size", "routes", "rate_limit", "trusted_proxies",
       "compression", "response_headers", "hsts", "path_normalization", "http2", "tls"});
  if (!map.valid()) return;
  const Field* name = map.require("name");
  if (readString(errors, name, &out->name)) {
    if (out->name.empty()) {
      errors.add(name->mark(), name->path, "must not be empty");
    } else {
      seen->name = *name;
    }
  }
  const Field* address = map.require("address");
  if (readAddress(errors, address, &out->address)) seen->address = *address;
  readDuration(errors, map.find("request_head_timeout"), &out->request_head_timeout, false);
  readDuration(errors, map.find("idle_timeout"), &out->idle_timeout);
  readDuration(errors, map.find("request_body_timeout"), &out->request_body_timeout, false);
  uint64_t header_size = out->max_header_size;
  if (readSize(errors, map.find("max_header_size"), kMinHeaderSize, kMaxHeaderSize, &header_size)) {
    out->max_header_size = static_cast<uint32_t>(header_size);
  }
  readUint32(errors, map.find("max_headers"), 1, kMaxHeaderCount, &out->max_headers);
  readSize(errors, map.find("max_body_size"), 0, std::numeric_limits<uint64_t>::max(),
           &out->max_body_size);
  if (const Field* paths = map.find("path_normalization"))
    loadPathNormalization(errors, *paths, &out->path_normalization);
  if (const Field* routes = map.require("routes"))
    loadRoutes(errors, *routes, upstreams, out->path_normalization, &out->routes);
  loadListenerProtection(errors, map, out);
  if (const Field* http2 = map.find("http2")) loadHttp2(errors, *http2, &out->http2);
  if (out->http2.max_header_list_size == 0) out->http2.max_header_list_size = out->max_header_size;
  if (const Field* tls = map.find("tls")) {
    auto loaded = std::make_shared<ListenerTlsConfig>();
    loadListenerTls(errors, *tls, config_file, out->name, loaded.get());
    if (loaded->context != nullptr) out->tls = std::move(loaded);
  }
}

// Reports the later of two listeners that share a name or an address, at the offending key.
void checkDuplicate(ErrorSink& errors, const SeenListener& current,
                    const std::vector<SeenListener>& earlier) {
  for (const SeenListener& other : earlier) {
    if (current.name && other.name && current.config->name == other.config->name) {
      errors.add(
          current.name->mark(), current.name->path,
          "duplicate listener name " + quoted(current.config->name) + " (also " + other.path + ")");
    }
    const net::Address& address = current.config->address;
    if (current.address && other.address && addressesConflict(address, other.config->address)) {
      errors.add(current.address->mark(), current.address->path,
                 "address " + address.toString() + " conflicts with " + other.path + " (" +
                     other.config->address.toString() + ")");
    }
  }
}

}  // namespace

bool isTokenChar(char c) {
  return isAlnum(c) || kTokenPunctuation.find(c) != std::string_view::npos;
}

std::string lowerCase(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

bool isToken(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), isTokenChar);
}

bool isHostName(std::string_view name) {
  auto host_char = [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; };
  return !name.empty() && name.front() != '.' && name.back() != '.' &&
         name.find("..") == std::string_view::npos &&
         std::all_of(name.begin(), name.end(), host_char);
}

bool addressesConflict(const net::Address& a, const net::Address& b) {
  if (a.port() == 0 || a.port() != b.port() || a.family() != b.family()) return false;
  auto wildcard = [](const net::Address& x) {
    return x.hostString() == "0.0.0.0" || x.hostString() == "::";
  };
  return a == b || wildcard(a) || wildcard(b);
}

void loadListeners(ErrorSink& errors, const Field& field, const UpstreamNames& upstreams,
                   const std::string& config_file, std::vector<ListenerConfig>* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (field.value.IsSequence() && items.empty()) {
    errors.add(field.mark(), field.path, "must list at least one listener");
  }
  // Sized up front so the config pointers kept in `seen` stay valid.
  out->clear();
  out->resize(items.size());
  std::vector<SeenListener> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    SeenListener current{items[i].path, std::nullopt, std::nullopt, &(*out)[i]};
    loadListener(errors, items[i], upstreams, config_file, current.config, &current);
    checkDuplicate(errors, current, seen);
    seen.push_back(std::move(current));
  }
}

}  // namespace sg::config::detail

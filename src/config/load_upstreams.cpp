// The upstreams section: name -> { balance and hashing, timeouts, pool, health, servers }.
#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "config/load.h"

namespace sg::config::detail {

namespace {

constexpr uint32_t kMaxWeight = 1000;
constexpr uint32_t kMaxKeepalive = 100'000;
constexpr uint32_t kUint32Max = std::numeric_limits<uint32_t>::max();

constexpr uint32_t kMaxRingSize = 10'000;
constexpr uint32_t kMaxHashBalanceFactor = 10'000;

constexpr std::array<std::pair<std::string_view, BalanceAlgorithm>, 9> kAlgorithms{{
    {"round_robin", BalanceAlgorithm::kRoundRobin},
    {"weighted_round_robin", BalanceAlgorithm::kWeightedRoundRobin},
    {"least_conn", BalanceAlgorithm::kLeastConn},
    {"least_request", BalanceAlgorithm::kLeastRequest},
    {"random", BalanceAlgorithm::kRandom},
    {"ip_hash", BalanceAlgorithm::kIpHash},
    {"hash", BalanceAlgorithm::kHash},
    {"ring_hash", BalanceAlgorithm::kRingHash},
    {"maglev", BalanceAlgorithm::kMaglev},
}};

void readBalance(ErrorSink& errors, const Field* field, BalanceAlgorithm* out) {
  std::string name;
  if (!readString(errors, field, &name)) return;
  auto known = std::find_if(kAlgorithms.begin(), kAlgorithms.end(),
                            [&](const auto& algorithm) { return algorithm.first == name; });
  if (known != kAlgorithms.end()) {
    *out = known->second;
    return;
  }
  std::string names;
  for (const auto& algorithm : kAlgorithms) {
    names += (names.empty() ? "" : ", ") + std::string(algorithm.first);
  }
  errors.add(field->mark(), field->path,
             "unknown balance algorithm " + quoted(name) + " (one of: " + names + ")");
}

// Cookie and query parameter names are matched up to '=' in lists split on ';' or '&'.
bool isPairName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != ';' && c != '=' && c != '&';
  });
}

// "ip", "header:NAME", "cookie:NAME" or "query:NAME". Returns why text is not one of
// them, or an empty string after filling *out.
std::string parseHashOn(const std::string& text, HashOn* out) {
  if (text == "ip") {
    *out = HashOn{};
    return "";
  }
  auto colon = text.find(':');
  std::string_view source = std::string_view(text).substr(0, colon);
  std::string name = colon == std::string::npos ? "" : text.substr(colon + 1);
  HashOn parsed{HashOn::Source::kIp, name};
  if (source == "header") {
    parsed.source = HashOn::Source::kHeader;
    if (!isToken(name)) {
      return "the header name must be letters, digits and " + std::string(kTokenPunctuation) +
             " only";
    }
  } else if (source == "cookie" || source == "query") {
    parsed.source = source == "cookie" ? HashOn::Source::kCookie : HashOn::Source::kQuery;
    if (!isPairName(name)) {
      return "the " + std::string(source) +
             " name must not be empty or hold spaces, ';', '=' or '&'";
    }
  } else {
    return "use ip, header:NAME, cookie:NAME or query:NAME";
  }
  *out = std::move(parsed);
  return "";
}

void readHashOn(ErrorSink& errors, const Field* field, HashOn* out) {
  std::string text;
  if (!readString(errors, field, &text)) return;
  std::string problem = parseHashOn(text, out);
  if (!problem.empty()) {
    errors.add(field->mark(), field->path,
               "invalid hash_on " + quoted(text) + " (" + problem + ")");
  }
}

void readHashBalanceFactor(ErrorSink& errors, const Field* field, uint32_t* out) {
  uint32_t factor = 0;
  if (!readUint32(errors, field, 0, kMaxHashBalanceFactor, &factor)) return;
  if (factor != 0 && factor <= 100) {
    errors.add(field->mark(), field->path,
               "must be 0 (off) or a percentage of the mean load above 100 (e.g. 125), got " +
                   std::to_string(factor));
    return;
  }
  *out = factor;
}

void readStickyCookie(ErrorSink& errors, const Field* field, std::string* out) {
  std::string name;
  if (!readString(errors, field, &name)) return;
  if (!isToken(name)) {
    errors.add(field->mark(), field->path,
               "invalid cookie name " + quoted(name) + " (letters, digits and " +
                   std::string(kTokenPunctuation) + " only)");
    return;
  }
  *out = std::move(name);
}

bool isUnspecified(const net::Address& address) {
  std::string host = address.hostString();
  return host == "0.0.0.0" || host == "::";
}

// Fills *out (which starts as the upstream's defaults). Returns the address field when a
// usable address was read, for the duplicate check.
std::optional<Field> loadServer(ErrorSink& errors, const Field& item, ServerConfig* out) {
  MapReader map(errors, item, {"address", "weight", "backup", "max_fails", "fail_timeout"});
  if (!map.valid()) return std::nullopt;
  const Field* address = map.require("address");
  bool address_ok = readAddress(errors, address, &out->address);
  if (address_ok && out->address.port() == 0) {
    errors.add(address->mark(), address->path, "port 0 is not a valid server port");
    address_ok = false;
  } else if (address_ok && isUnspecified(out->address)) {
    errors.add(address->mark(), address->path,
               quoted(address->value.Scalar()) + " means 'any address' and cannot be connected to");
    address_ok = false;
  }
  readUint32(errors, map.find("weight"), 1, kMaxWeight, &out->weight);
  readBool(errors, map.find("backup"), &out->backup);
  readUint32(errors, map.find("max_fails"), 0, kUint32Max, &out->max_fails);
  readDuration(errors, map.find("fail_timeout"), &out->fail_timeout);
  if (!address_ok) return std::nullopt;
  return *address;  // a copy: the map reader holding the original goes away on return
}

void loadServers(ErrorSink& errors, const Field& field, const ServerConfig& defaults,
                 std::vector<ServerConfig>* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (field.value.IsSequence() && items.empty()) {
    errors.add(field.mark(), field.path, "must list at least one server");
    return;
  }
  std::vector<std::pair<net::Address, std::string>> seen;  // address, path of its item
  size_t backups = 0;
  for (const Field& item : items) {
    ServerConfig server = defaults;
    std::optional<Field> address = loadServer(errors, item, &server);
    if (server.backup) ++backups;
    if (address) {
      auto same = std::find_if(seen.begin(), seen.end(),
                               [&](const auto& entry) { return entry.first == server.address; });
      if (same != seen.end()) {
        errors.add(
            address->mark(), address->path,
            "duplicate server " + server.address.toString() + " (same as " + same->second + ")");
      } else {
        seen.emplace_back(server.address, item.path);
      }
    }
    out->push_back(server);
  }
  // Counted only from backup flags actually read, so a broken item cannot trigger this.
  if (!items.empty() && backups == items.size()) {
    errors.add(field.mark(), field.path, "needs at least one server that is not a backup");
  }
}

void loadUpstream(ErrorSink& errors, const Field& field, const std::string& config_file,
                  UpstreamConfig* out) {
  MapReader map(errors, field,
                {"balance",           "hash_on",         "ring_size",         "hash_balance_factor",
                 "sticky_cookie",     "connect_timeout", "response_timeout",  "keepalive",
                 "keepalive_timeout", "max_fails",       "fail_timeout",      "slow_start",
                 "panic_threshold",   "health_check",    "outlier_detection", "circuit_breaker",
                 "servers",           "discovery",       "autoscale",         "tls"});
  if (!map.valid()) return;
  readBalance(errors, map.find("balance"), &out->balance);
  readHashOn(errors, map.find("hash_on"), &out->hash_on);
  readUint32(errors, map.find("ring_size"), 1, kMaxRingSize, &out->ring_size);
  readHashBalanceFactor(errors, map.find("hash_balance_factor"), &out->hash_balance_factor);
  readStickyCookie(errors, map.find("sticky_cookie"), &out->sticky_cookie);
  readDuration(errors, map.find("connect_timeout"), &out->connect_timeout, false);
  readDuration(errors, map.find("response_timeout"), &out->response_timeout, false);
  readUint32(errors, map.find("keepalive"), 0, kMaxKeepalive, &out->keepalive);
  readDuration(errors, map.find("keepalive_timeout"), &out->keepalive_timeout);
  ServerConfig defaults;
  readUint32(errors, map.find("max_fails"), 0, kUint32Max, &defaults.max_fails);
  readDuration(errors, map.find("fail_timeout"), &defaults.fail_timeout);
  readDuration(errors, map.find("slow_start"), &out->slow_start);
  readUint32(errors, map.find("panic_threshold"), 0, 100, &out->panic_threshold);
  if (const Field* check = map.find("health_check")) {
    loadHealthCheck(errors, *check, &out->health_check.emplace());
  }
  if (const Field* outliers = map.find("outlier_detection")) {
    loadOutlierDetection(errors, *outliers, &out->outlier_detection.emplace());
  }
  if (const Field* breaker = map.find("circuit_breaker")) {
    loadCircuitBreaker(errors, *breaker, &out->circuit_breaker.emplace());
  }
  if (const Field* tls = map.find("tls"))
    loadUpstreamTls(errors, *tls, config_file, &out->tls.emplace());
  loadDiscovery(errors, map, defaults, out);
  if (const Field* autoscale = map.find("autoscale")) {
    loadAutoscale(errors, *autoscale, &out->autoscale.emplace());
    const bool process = out->autoscale->actuator.type == AutoscaleConfig::Actuator::Type::kProcess;
    if (process && (!out->discovery || out->discovery->registry.empty())) {
      errors.add(autoscale->key.Mark(), autoscale->path,
                 "actuator type process needs `discovery: { registry: SERVICE }` on this "
                 "upstream: the processes it starts are registered there");
    }
  }
  if (const Field* servers = out->discovery ? map.find("servers") : map.require("servers"))
    loadServers(errors, *servers, defaults, &out->servers);
}

}  // namespace

UpstreamNames collectUpstreamNames(const Field* upstreams) {
  if (upstreams == nullptr || !upstreams->value.IsMap()) return std::nullopt;
  std::vector<std::string> names;
  for (auto it = upstreams->value.begin(); it != upstreams->value.end(); ++it) {
    if (it->first.IsScalar()) names.push_back(it->first.Scalar());
  }
  return names;
}

void loadUpstreams(ErrorSink& errors, const Field& field, const std::string& config_file,
                   std::vector<UpstreamConfig>* out) {
  if (!field.value.IsMap()) {
    errors.add(field.mark(), field.path,
               "expected a map of upstream name to upstream, got " + describeNode(field.value));
    return;
  }
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary proxy, so references would dangle.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!key.IsScalar() || key.Scalar().empty()) {
      errors.add((key.IsNull() ? value : key).Mark(), field.path,
                 "upstream names must be non-empty words, got " + describeNode(key));
      continue;
    }
    const std::string& name = key.Scalar();
    Field upstream{key, value, field.path + "." + name, true};
    auto same =
        std::find_if(out->begin(), out->end(), [&](const auto& u) { return u.name == name; });
    if (same != out->end()) {
      errors.add(key.Mark(), upstream.path, "duplicate upstream " + quoted(name));
      continue;
    }
    UpstreamConfig config;
    config.name = name;
    config.source = YAML::Dump(value);
    loadUpstream(errors, upstream, config_file, &config);
    out->push_back(std::move(config));
  }
}

}  // namespace sg::config::detail

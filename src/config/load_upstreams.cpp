// The upstreams section: name -> { balance, timeouts, pool, servers }.
#include <algorithm>
#include <array>
#include <limits>
#include <optional>

#include "config/load.h"

namespace sg::config::detail {

namespace {

constexpr uint32_t kMaxWeight = 1000;
constexpr uint32_t kMaxKeepalive = 100'000;
constexpr uint32_t kUint32Max = std::numeric_limits<uint32_t>::max();

// Algorithms named in the design but not built yet: a clear "not yet" beats "unknown".
constexpr std::array<std::string_view, 7> kLaterAlgorithms{"least_conn", "least_request", "random", "ip_hash",
                                                           "hash",       "ring_hash",     "maglev"};
constexpr std::string_view kSupportedAlgorithms = "(supported: round_robin, weighted_round_robin)";

void readBalance(ErrorSink& errors, const Field* field, BalanceAlgorithm* out) {
  std::string name;
  if (!readString(errors, field, &name)) return;
  if (name == "round_robin") {
    *out = BalanceAlgorithm::kRoundRobin;
  } else if (name == "weighted_round_robin") {
    *out = BalanceAlgorithm::kWeightedRoundRobin;
  } else if (std::find(kLaterAlgorithms.begin(), kLaterAlgorithms.end(), name) != kLaterAlgorithms.end()) {
    errors.add(
        field->mark(), field->path,
        "balance " + quoted(name) + " is not available in this version " + std::string(kSupportedAlgorithms));
  } else {
    errors.add(field->mark(), field->path,
               "unknown balance algorithm " + quoted(name) + " " + std::string(kSupportedAlgorithms));
  }
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
        errors.add(address->mark(), address->path,
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

void loadUpstream(ErrorSink& errors, const Field& field, UpstreamConfig* out) {
  MapReader map(errors, field,
                {"balance", "connect_timeout", "response_timeout", "keepalive", "keepalive_timeout",
                 "max_fails", "fail_timeout", "servers", "health_check"});
  if (!map.valid()) return;
  readBalance(errors, map.find("balance"), &out->balance);
  readDuration(errors, map.find("connect_timeout"), &out->connect_timeout, false);
  readDuration(errors, map.find("response_timeout"), &out->response_timeout, false);
  readUint32(errors, map.find("keepalive"), 0, kMaxKeepalive, &out->keepalive);
  readDuration(errors, map.find("keepalive_timeout"), &out->keepalive_timeout);
  ServerConfig defaults;
  readUint32(errors, map.find("max_fails"), 0, kUint32Max, &defaults.max_fails);
  readDuration(errors, map.find("fail_timeout"), &defaults.fail_timeout);
  if (const Field* check = map.find("health_check")) {
    errors.add(check->key.Mark(), check->path,
               "active health checks (health_check) are not available in this version");
  }
  if (const Field* servers = map.require("servers")) loadServers(errors, *servers, defaults, &out->servers);
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

void loadUpstreams(ErrorSink& errors, const Field& field, std::vector<UpstreamConfig>* out) {
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
    auto same = std::find_if(out->begin(), out->end(), [&](const auto& u) { return u.name == name; });
    if (same != out->end()) {
      errors.add(key.Mark(), upstream.path, "duplicate upstream " + quoted(name));
      continue;
    }
    UpstreamConfig config;
    config.name = name;
    loadUpstream(errors, upstream, &config);
    out->push_back(std::move(config));
  }
}

}  // namespace sg::config::detail

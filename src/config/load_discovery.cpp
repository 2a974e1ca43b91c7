// The upstream key `discovery`: where an upstream's run-time servers come from (the service
// registry or DNS) and how many slots are reserved for them.
#include "config/load.h"

namespace sg::config::detail {

namespace {

constexpr uint32_t kMaxDiscoveredServers = 1024;
constexpr Duration kMinInterval = std::chrono::milliseconds(100);

void readDnsType(ErrorSink& errors, const Field* field, DiscoveryConfig::DnsType* out) {
  std::string type;
  if (!readString(errors, field, &type)) return;
  if (type == "A") {
    *out = DiscoveryConfig::DnsType::kA;
  } else if (type == "AAAA") {
    *out = DiscoveryConfig::DnsType::kAAAA;
  } else if (type == "SRV") {
    *out = DiscoveryConfig::DnsType::kSrv;
  } else {
    errors.add(field->mark(), field->path,
               "unknown type " + quoted(type) + " (one of: A, AAAA, SRV)");
  }
}

// A registry service name or a DNS name: non-empty, printable, no spaces or slashes (it is
// also a path segment of the registry's admin API).
void readName(ErrorSink& errors, const Field* field, std::string* out) {
  std::string name;
  if (!readString(errors, field, &name)) return;
  bool ok = !name.empty() && name.size() <= 253;
  for (unsigned char c : name) ok = ok && c > ' ' && c < 0x7f && c != '/';
  if (!ok) {
    errors.add(field->mark(), field->path,
               "must be a name of 1 to 253 printable characters without spaces or '/', got " +
                   quoted(name));
    return;
  }
  *out = std::move(name);
}

// `dns: HOST:PORT` for A and AAAA (an address record has no port); a bare SRV name.
void splitPort(ErrorSink& errors, const Field& field, DiscoveryConfig* out) {
  if (out->dns.empty()) return;
  const auto colon = out->dns.rfind(':');
  if (out->type == DiscoveryConfig::DnsType::kSrv) {
    if (colon != std::string::npos) {
      errors.add(field.mark(), field.path, "an SRV name takes no port: its records carry it");
    }
    return;
  }
  uint32_t port = 0;
  const std::string digits = colon == std::string::npos ? "" : out->dns.substr(colon + 1);
  bool ok = colon != std::string::npos && colon > 0 && !digits.empty() && digits.size() <= 5 &&
            digits.find_first_not_of("0123456789") == std::string::npos;
  if (ok) port = static_cast<uint32_t>(std::stoul(digits));
  if (!ok || port == 0 || port > 65535) {
    errors.add(field.mark(), field.path,
               "must be HOST:PORT for type A or AAAA (the port the servers listen on), got " +
                   quoted(out->dns));
    out->dns.clear();
    return;
  }
  out->dns.resize(colon);
  out->dns_port = static_cast<uint16_t>(port);
}

// Exactly one source: `registry` or `dns`; `type` and `interval` belong to `dns`.
void readSource(ErrorSink& errors, MapReader& map, DiscoveryConfig* out) {
  const Field* registry = map.find("registry");
  const Field* dns = map.find("dns");
  if (registry != nullptr && dns != nullptr) {
    errors.add(dns->mark(), dns->path, "`registry` and `dns` are exclusive: choose one");
    return;
  }
  if (registry == nullptr && dns == nullptr) {
    errors.add(map.self().mark(), map.self().path,
               "needs a source: `registry: SERVICE` or `dns: NAME`");
    return;
  }
  if (registry != nullptr) {
    readName(errors, registry, &out->registry);
    for (const char* key : {"type", "interval"}) {
      if (const Field* field = map.find(key)) {
        errors.add(field->mark(), field->path,
                   std::string("`") + key + "` applies to `dns` discovery only");
      }
    }
    return;
  }
  readName(errors, dns, &out->dns);
  readDnsType(errors, map.find("type"), &out->type);
  splitPort(errors, *dns, out);
  Duration interval = out->interval;
  if (readDuration(errors, map.find("interval"), &interval, false)) {
    if (interval < kMinInterval) {
      const Field* field = map.find("interval");
      errors.add(field->mark(), field->path, "must be at least 100ms");
    } else {
      out->interval = interval;
    }
  }
}

}  // namespace

void loadDiscovery(ErrorSink& errors, const MapReader& upstream, const ServerConfig& defaults,
                   UpstreamConfig* out) {
  const Field* field = upstream.find("discovery");
  if (field == nullptr) return;
  MapReader map(errors, *field, {"registry", "dns", "type", "interval", "max_servers"});
  DiscoveryConfig& discovery = out->discovery.emplace();
  discovery.max_fails = defaults.max_fails;
  discovery.fail_timeout = defaults.fail_timeout;
  if (!map.valid()) return;
  readSource(errors, map, &discovery);
  readUint32(errors, map.find("max_servers"), 1, kMaxDiscoveredServers, &discovery.max_servers);
}

}  // namespace sg::config::detail

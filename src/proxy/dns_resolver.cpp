// The system resolver behind DnsDiscovery: getaddrinfo (A / AAAA) and libresolv (SRV).
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <cstring>
#include <limits>

#include "proxy/dns_discovery.h"

namespace sg::proxy {

namespace {

// Every address of `host` in `family` (AF_INET or AF_INET6), with `port`.
bool lookup(const std::string& host, uint16_t port, int family, uint32_t weight,
            std::vector<DnsRecord>* out, std::string* error) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
  if (rc != 0) {
    *error = host + ": " + gai_strerror(rc);
    return false;
  }
  for (addrinfo* at = list; at != nullptr; at = at->ai_next) {
    DnsRecord record{net::Address::fromSockaddr(at->ai_addr, at->ai_addrlen), weight};
    bool seen = false;
    for (const DnsRecord& other : *out) seen = seen || other.address == record.address;
    if (!seen) out->push_back(record);
  }
  freeaddrinfo(list);
  return true;
}

struct SrvRecord {
  uint16_t priority;
  uint16_t weight;
  uint16_t port;
  std::string target;
};

// The SRV answer for `name`; false with *error when the query failed.
bool querySrv(const std::string& name, std::vector<SrvRecord>* out, std::string* error) {
  struct __res_state state {};
  if (res_ninit(&state) != 0) {
    *error = "cannot initialise the resolver";
    return false;
  }
  std::vector<unsigned char> answer(NS_MAXMSG);
  const int length = res_nquery(&state, name.c_str(), ns_c_in, ns_t_srv, answer.data(),
                                static_cast<int>(answer.size()));
  if (length < 0) {
    *error = name + ": " + hstrerror(state.res_h_errno);
    res_nclose(&state);
    return false;
  }
  res_nclose(&state);
  ns_msg message;
  if (ns_initparse(answer.data(), length, &message) != 0) {
    *error = name + ": malformed answer";
    return false;
  }
  for (int i = 0; i < ns_msg_count(message, ns_s_an); ++i) {
    ns_rr record;
    if (ns_parserr(&message, ns_s_an, i, &record) != 0) continue;
    if (ns_rr_type(record) != ns_t_srv || ns_rr_rdlen(record) < 7) continue;
    const unsigned char* data = ns_rr_rdata(record);
    char target[NS_MAXDNAME];
    if (dn_expand(ns_msg_base(message), ns_msg_end(message), data + 6, target, sizeof target) < 0)
      continue;
    auto field = [data](int at) { return static_cast<uint16_t>(ns_get16(data + at)); };
    out->push_back({field(0), field(2), field(4), target});
  }
  return true;
}

class SystemResolver final : public DnsResolver {
 public:
  bool resolve(const config::DiscoveryConfig& config, std::vector<DnsRecord>* out,
               std::string* error) override {
    using Type = config::DiscoveryConfig::DnsType;
    if (config.type != Type::kSrv) {
      const int family = config.type == Type::kA ? AF_INET : AF_INET6;
      if (!lookup(config.dns, config.dns_port, family, 1, out, error)) return false;
    } else if (!resolveSrv(config.dns, out, error)) {
      return false;
    }
    if (out->empty()) {
      *error = config.dns + ": no usable record";
      return false;
    }
    return true;
  }

 private:
  static bool resolveSrv(const std::string& name, std::vector<DnsRecord>* out, std::string* error) {
    std::vector<SrvRecord> records;
    if (!querySrv(name, &records, error)) return false;
    uint16_t best = std::numeric_limits<uint16_t>::max();
    for (const SrvRecord& record : records) best = std::min(best, record.priority);
    for (const SrvRecord& record : records) {
      // "." as the target: the service is decidedly not available (RFC 2782).
      if (record.priority != best || record.target.empty() || record.target == ".") continue;
      const uint32_t weight = record.weight == 0 ? 1 : record.weight;
      std::string ignored;
      if (!lookup(record.target, record.port, AF_INET, weight, out, &ignored) &&
          !lookup(record.target, record.port, AF_INET6, weight, out, error)) {
        continue;  // a target that does not resolve is left out; the others stay
      }
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<DnsResolver> makeSystemResolver() { return std::make_unique<SystemResolver>(); }

}  // namespace sg::proxy

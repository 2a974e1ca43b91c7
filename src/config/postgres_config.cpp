// The names of the postgres section's enumerations, shared by the loader (parsing) and the admin
// console (SHOW CONFIG, SHOW DATABASES): one table each, so the two cannot drift apart.
#include "config/postgres_config.h"

#include <utility>

namespace sg::config {

namespace {

constexpr std::pair<std::string_view, PostgresTlsMode> kTlsModes[] = {
    {"disable", PostgresTlsMode::kDisable},    {"allow", PostgresTlsMode::kAllow},
    {"prefer", PostgresTlsMode::kPrefer},      {"require", PostgresTlsMode::kRequire},
    {"verify-ca", PostgresTlsMode::kVerifyCa}, {"verify-full", PostgresTlsMode::kVerifyFull},
};

constexpr std::pair<std::string_view, PostgresConfig::PoolMode> kPoolModes[] = {
    {"session", PostgresConfig::PoolMode::kSession},
    {"transaction", PostgresConfig::PoolMode::kTransaction},
    {"statement", PostgresConfig::PoolMode::kStatement},
};

using Routing = PostgresRoutingConfig;

constexpr std::pair<std::string_view, Routing::Balance> kBalances[] = {
    {"least_request", Routing::Balance::kLeastRequest},
    {"round_robin", Routing::Balance::kRoundRobin},
    {"random", Routing::Balance::kRandom},
};

constexpr std::pair<std::string_view, Routing::PrimaryReads> kPrimaryReads[] = {
    {"fallback", Routing::PrimaryReads::kFallback},
    {"include", Routing::PrimaryReads::kInclude},
    {"exclude", Routing::PrimaryReads::kExclude},
};

constexpr std::pair<std::string_view, Routing::ReadYourWrites> kReadYourWrites[] = {
    {"lsn", Routing::ReadYourWrites::kLsn},
    {"window", Routing::ReadYourWrites::kWindow},
    {"off", Routing::ReadYourWrites::kOff},
};

using CrossShard = PostgresShardingConfig::CrossShard;

constexpr std::pair<std::string_view, CrossShard> kCrossShard[] = {
    {"deny", CrossShard::kDeny},
    {"allow", CrossShard::kAllow},
    {"allow_unordered", CrossShard::kAllowUnordered},
};

template <typename Enum, size_t N>
std::string_view nameOf(const std::pair<std::string_view, Enum> (&table)[N], Enum value) {
  for (const auto& [name, entry] : table) {
    if (entry == value) return name;
  }
  return table[0].first;
}

template <typename Enum, size_t N>
bool valueOf(const std::pair<std::string_view, Enum> (&table)[N], std::string_view name,
             Enum* out) {
  for (const auto& [entry_name, entry] : table) {
    if (entry_name == name) {
      *out = entry;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view tlsModeName(PostgresTlsMode mode) { return nameOf(kTlsModes, mode); }
bool parseTlsMode(std::string_view name, PostgresTlsMode* out) {
  return valueOf(kTlsModes, name, out);
}

std::string_view poolModeName(PostgresConfig::PoolMode mode) { return nameOf(kPoolModes, mode); }
bool parsePoolMode(std::string_view name, PostgresConfig::PoolMode* out) {
  return valueOf(kPoolModes, name, out);
}

std::string_view balanceName(Routing::Balance balance) { return nameOf(kBalances, balance); }
bool parseBalance(std::string_view name, Routing::Balance* out) {
  return valueOf(kBalances, name, out);
}

std::string_view primaryReadsName(Routing::PrimaryReads reads) {
  return nameOf(kPrimaryReads, reads);
}
bool parsePrimaryReads(std::string_view name, Routing::PrimaryReads* out) {
  return valueOf(kPrimaryReads, name, out);
}

std::string_view readYourWritesName(Routing::ReadYourWrites mode) {
  return nameOf(kReadYourWrites, mode);
}
bool parseReadYourWrites(std::string_view name, Routing::ReadYourWrites* out) {
  return valueOf(kReadYourWrites, name, out);
}

std::string_view crossShardName(CrossShard mode) { return nameOf(kCrossShard, mode); }
bool parseCrossShard(std::string_view name, CrossShard* out) {
  return valueOf(kCrossShard, name, out);
}

}  // namespace sg::config

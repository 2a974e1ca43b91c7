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

}  // namespace sg::config

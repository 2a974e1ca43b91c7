#pragma once
// Session parameters: what a client asked for, what a server has. Small ordered lists (a
// handful of names), so a vector beats a map.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::pg {

using ParamMap = std::vector<std::pair<std::string, std::string>>;

inline const std::string* findParam(const ParamMap& params, std::string_view name) {
  for (const auto& [key, value] : params) {
    if (key == name) return &value;
  }
  return nullptr;
}

inline void setParam(ParamMap* params, std::string_view name, std::string_view value) {
  for (auto& [key, current] : *params) {
    if (key == name) {
      current.assign(value);
      return;
    }
  }
  params->emplace_back(std::string(name), std::string(value));
}

// Parameters that follow a client from server to server (replayed with SET when a server's
// value differs). Server facts such as server_version or is_superuser are not among them.
inline bool isSessionParam(std::string_view name) {
  return name == "client_encoding" || name == "DateStyle" || name == "TimeZone" ||
         name == "IntervalStyle" || name == "standard_conforming_strings" ||
         name == "application_name" || name == "search_path" || name == "extra_float_digits";
}

// Session parameters PostgreSQL 15 does not report with ParameterStatus: the proxy learns
// their values by reading them back after the client's SET.
inline constexpr const char* kUnreportedParams[] = {"search_path", "extra_float_digits"};

}  // namespace sg::pg

#pragma once
// Session parameters: what a client asked for, what a server has. Small ordered lists (a
// handful of names), so a vector beats a map.
#include <cstdint>
#include <functional>
#include <memory>
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

// An order-independent digest of the session parameters of `params` (an empty value means
// the server default and counts as absent): equal digests mean nothing to replay, which
// saves comparing lists on every transaction.
inline uint64_t sessionDigest(const ParamMap& params) {
  uint64_t digest = 0;
  for (const auto& [name, value] : params) {
    if (value.empty() || !isSessionParam(name)) continue;
    uint64_t h = std::hash<std::string_view>()(name) * 0x9e3779b97f4a7c15ULL;
    h ^= std::hash<std::string_view>()(value) + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
    digest += h * 0xbf58476d1ce4e5b9ULL;
  }
  return digest;
}

// A client's session parameters. Most clients of a pool ask for the same ones, so equal lists
// are shared (copy on write): ten thousand idle clients hold a pointer each, not a list each.
class ClientParams {
 public:
  const ParamMap& list() const {
    static const ParamMap kNone;
    return list_ ? *list_ : kNone;
  }
  uint64_t digest() const { return digest_; }
  void assign(ParamMap params) {
    list_ = std::make_shared<const ParamMap>(std::move(params));
    digest_ = sessionDigest(*list_);
  }
  void set(std::string_view name, std::string_view value) {
    ParamMap copy = list();
    setParam(&copy, name, value);
    assign(std::move(copy));
  }
  void erase(std::string_view name) {
    ParamMap copy = list();
    for (auto it = copy.begin(); it != copy.end(); ++it) {
      if (it->first == name) {
        copy.erase(it);
        break;
      }
    }
    assign(std::move(copy));
  }
  // Shares `last` (the list the previous client of a pool ended up with) when it is equal;
  // otherwise this list becomes the one to share. The caller guards `last`.
  void shareWith(std::shared_ptr<const ParamMap>* last) {
    if (*last && list_ && **last == *list_) {
      list_ = *last;
    } else {
      *last = list_;
    }
  }

 private:
  std::shared_ptr<const ParamMap> list_;
  uint64_t digest_ = 0;
};

// Session parameters PostgreSQL 15 does not report with ParameterStatus: the proxy learns
// their values by reading them back after the client's SET.
struct UnreportedParam {
  const char* name;
  const char* upper;        // as startsWithWords compares: upper case
  const char* reset_upper;  // "RESET <NAME>"
};
inline constexpr UnreportedParam kUnreportedParams[] = {
    {"search_path", "SEARCH_PATH", "RESET SEARCH_PATH"},
    {"extra_float_digits", "EXTRA_FLOAT_DIGITS", "RESET EXTRA_FLOAT_DIGITS"},
};

}  // namespace sg::pg

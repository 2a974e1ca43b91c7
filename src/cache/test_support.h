#pragma once
// Helpers shared by the cache tests: heads over string literals and a fixed clock.
#include <chrono>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/cached_response.h"
#include "config/config.h"
#include "http/message.h"

namespace sg::cache::testing {

using namespace std::chrono_literals;

// 2024-06-01 00:00:00 UTC, i.e. "Sat, 01 Jun 2024 00:00:00 GMT".
inline constexpr Time kNow{std::chrono::seconds{1717200000}};
inline constexpr std::string_view kNowDate = "Sat, 01 Jun 2024 00:00:00 GMT";

using HeaderList = std::initializer_list<std::pair<std::string_view, std::string_view>>;

inline std::vector<http::Header> headers(HeaderList list) {
  std::vector<http::Header> out;
  for (const auto& [name, value] : list) out.push_back(http::Header{name, value});
  return out;
}

inline http::RequestHead request(HeaderList list = {}, std::string_view method = "GET",
                                 std::string_view path = "/a", std::string_view query = "") {
  http::RequestHead head;
  head.method = method;
  head.path = path;
  head.query = query;
  head.host = "example.com";
  head.headers = headers(list);
  return head;
}

inline http::ResponseHead response(int status, HeaderList list = {}) {
  http::ResponseHead head;
  head.status = status;
  head.headers = headers(list);
  return head;
}

inline config::RouteCacheConfig route() { return config::RouteCacheConfig{}; }

}  // namespace sg::cache::testing

#include "proxy/router.h"

#include <algorithm>

#include "proxy/shared_state.h"

namespace sg::proxy {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool endsWithIgnoreCase(std::string_view text, std::string_view suffix) {
  return text.size() > suffix.size() &&
         equalsIgnoreCase(text.substr(text.size() - suffix.size()), suffix);
}

bool hostMatches(const Route& route, std::string_view host) {
  if (route.host.empty()) return true;
  if (route.host_wildcard) return endsWithIgnoreCase(host, route.host);
  return equalsIgnoreCase(host, route.host);
}

bool methodMatches(const Route& route, std::string_view method) {
  const auto& methods = route.config->match.methods;
  if (methods.empty()) return method != "CONNECT";
  for (const auto& allowed : methods) {
    if (allowed == method) return true;
  }
  return false;
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view hostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

http::PathStatus normalizeRequestPath(const config::PathNormalizationConfig& config,
                                      http::RequestHead* request, std::string* storage) {
  if (!config.enabled) return http::PathStatus::kUnchanged;
  const http::PathStatus status = http::normalizePath(request->path, config.options(), storage);
  if (status == http::PathStatus::kNormalized) request->path = *storage;
  return status;
}

std::string Router::allowedMethods(std::string_view host) const {
  static constexpr std::array<std::string_view, 7> kCommon = {"GET",   "HEAD",   "POST",   "PUT",
                                                              "PATCH", "DELETE", "OPTIONS"};
  std::string_view bare_host = hostWithoutPort(host);
  bool serves_host = false;
  bool any_method = false;
  std::vector<std::string_view> methods;
  for (const auto& route : routes_) {
    if (!hostMatches(route, bare_host)) continue;
    serves_host = true;
    if (route.config->match.methods.empty()) any_method = true;
    for (const auto& method : route.config->match.methods) methods.push_back(method);
  }
  if (!serves_host) return {};
  std::string allow;
  auto add = [&allow](std::string_view method) {
    if (!allow.empty()) allow.append(", ");
    allow.append(method);
  };
  std::vector<std::string_view> added;
  for (std::string_view method : kCommon) {
    if (any_method || std::find(methods.begin(), methods.end(), method) != methods.end()) {
      add(method);
      added.push_back(method);
    }
  }
  for (std::string_view method : methods) {
    if (std::find(added.begin(), added.end(), method) != added.end()) continue;
    add(method);
    added.push_back(method);
  }
  return allow;
}

const Route* Route::fanoutRoute(std::string_view upstream_name) const {
  for (const auto& variant : fanout_routes) {
    if (variant->upstream->config->name == upstream_name) return variant.get();
  }
  return nullptr;
}

const Route* Router::match(std::string_view host, std::string_view path,
                           std::string_view method) const {
  std::string_view bare_host = hostWithoutPort(host);
  for (const auto& route : routes_) {
    const auto& prefix = route.config->match.prefix;
    if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) continue;
    if (!hostMatches(route, bare_host) || !methodMatches(route, method)) continue;
    return &route;
  }
  return nullptr;
}

}  // namespace sg::proxy

#include "proxy/router.h"

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
  if (methods.empty()) return true;
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

#include "proxy/request_key.h"

#include <algorithm>

#include "proxy/router.h"

namespace sg::proxy {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Finds `name`=value in a list separated by `separator`.
std::optional<std::string_view> findPair(std::string_view list, char separator,
                                         std::string_view name) {
  while (!list.empty()) {
    auto end = list.find(separator);
    std::string_view item = trim(list.substr(0, end));
    auto equals = item.find('=');
    if (equals != std::string_view::npos && item.substr(0, equals) == name) {
      return item.substr(equals + 1);
    }
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> headerValue(const http::RequestHead& request,
                                            std::string_view name) {
  for (const auto& header : request.headers) {
    if (equalsIgnoreCase(header.name, name)) return header.value;
  }
  return std::nullopt;
}

size_t headerLines(const http::RequestHead& request, std::string_view name) {
  return static_cast<size_t>(
      std::count_if(request.headers.begin(), request.headers.end(),
                    [&](const auto& header) { return equalsIgnoreCase(header.name, name); }));
}

std::optional<std::string_view> fieldValue(const http::RequestHead& request, std::string_view name,
                                           std::string* joined) {
  std::optional<std::string_view> first;
  bool several = false;
  for (const auto& header : request.headers) {
    if (!equalsIgnoreCase(header.name, name)) continue;
    if (!first) {
      first = header.value;
      continue;
    }
    if (!several) joined->assign(*first);
    several = true;
    joined->append(", ").append(header.value);
  }
  if (several) return std::string_view(*joined);
  return first;
}

std::optional<std::string_view> cookieValue(const http::RequestHead& request,
                                            std::string_view name) {
  for (const auto& header : request.headers) {
    if (!equalsIgnoreCase(header.name, "cookie")) continue;
    if (auto value = findPair(header.value, ';', name)) return value;
  }
  return std::nullopt;
}

std::optional<std::string_view> queryValue(std::string_view query, std::string_view name) {
  return findPair(query, '&', name);
}

std::optional<std::string_view> hashSource(const http::RequestHead& request,
                                           const config::HashOn& hash_on,
                                           std::string_view client_ip, std::string* joined) {
  switch (hash_on.source) {
    case config::HashOn::Source::kIp:
      return client_ip;
    case config::HashOn::Source::kHeader:
      return fieldValue(request, hash_on.name, joined);
    case config::HashOn::Source::kCookie:
      return cookieValue(request, hash_on.name);
    case config::HashOn::Source::kQuery:
      return queryValue(request.query, hash_on.name);
  }
  return std::nullopt;
}

bool isTrustedProxy(std::string_view ip, const std::vector<net::Cidr>& trusted_proxies) {
  if (trusted_proxies.empty()) return false;
  auto address = net::IpAddress::parse(ip);
  return address && std::any_of(trusted_proxies.begin(), trusted_proxies.end(),
                                [&](const net::Cidr& cidr) { return cidr.contains(*address); });
}

std::string_view clientAddress(const http::RequestHead& request, std::string_view peer_ip,
                               const std::vector<net::Cidr>& trusted_proxies) {
  if (!isTrustedProxy(peer_ip, trusted_proxies)) return peer_ip;
  std::string_view current = peer_ip;
  // Header lines in reverse, then each line's entries in reverse: together, right to left.
  for (auto header = request.headers.rbegin(); header != request.headers.rend(); ++header) {
    if (header->kind != http::HeaderKind::kXForwardedFor) continue;
    std::string_view list = header->value;
    while (!list.empty()) {
      size_t comma = list.rfind(',');
      std::string_view entry =
          trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
      if (!net::IpAddress::parse(entry)) return current;  // garbage: stop at the last sound hop
      current = entry;
      if (!isTrustedProxy(current, trusted_proxies)) return current;
    }
  }
  return current;
}

}  // namespace sg::proxy

#pragma once
// Values the balancer keys on, read from a request head: a header, a cookie or a query
// parameter (hash_on), and the sticky cookie.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/message.h"

namespace sg::proxy {

// The first line of the header (enough to test for its presence).
std::optional<std::string_view> headerValue(const http::RequestHead& request,
                                            std::string_view name);
// How many lines of the header the request has.
size_t headerLines(const http::RequestHead& request, std::string_view name);
// The whole field value (RFC 9110 5.3): one line as it is, several joined with ", " into
// `joined`. A key read from the first line alone could differ from what the upstream reads
// (an attacker adds a line in front of the real one to get a fresh rate-limit bucket).
std::optional<std::string_view> fieldValue(const http::RequestHead& request, std::string_view name,
                                           std::string* joined);
// From the Cookie header(s): "a=1; b=2".
std::optional<std::string_view> cookieValue(const http::RequestHead& request,
                                            std::string_view name);
// From the query string "a=1&b=2" (no percent-decoding: keys compare as sent).
std::optional<std::string_view> queryValue(std::string_view query, std::string_view name);
// The text the hash balancers hash for this request, or nullopt when it is absent.
// `joined` holds a header value of several lines (see fieldValue): balancing on the whole
// value keeps a client with a repeated key header on one server.
std::optional<std::string_view> hashSource(const http::RequestHead& request,
                                           const config::HashOn& hash_on,
                                           std::string_view client_ip, std::string* joined);

// `ip` (text) is inside one of `trusted_proxies`.
bool isTrustedProxy(std::string_view ip, const std::vector<net::Cidr>& trusted_proxies);

// The client's address: the peer, or, when the peer is a trusted proxy, the rightmost
// X-Forwarded-For entry not itself a trusted proxy (nginx's real_ip_recursive). Entries
// are read right to left because only the right end was written by proxies we trust.
std::string_view clientAddress(const http::RequestHead& request, std::string_view peer_ip,
                               const std::vector<net::Cidr>& trusted_proxies);

}  // namespace sg::proxy

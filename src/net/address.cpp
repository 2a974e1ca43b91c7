#include "net/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sg::net {

namespace {

std::optional<uint16_t> parsePort(std::string_view text) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

std::optional<Address> Address::parse(std::string_view text, std::string* error) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "expected [IPv6]:PORT";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *error = "expected HOST:PORT";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      *error = "IPv6 addresses must be written [ADDRESS]:PORT";
      return std::nullopt;
    }
  }
  auto port = parsePort(port_text);
  if (!port) {
    *error = "port must be a number from 0 to 65535";
    return std::nullopt;
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host == "*" || host.empty()) host = "0.0.0.0";

  Address address;
  std::string host_z(host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  if (inet_pton(AF_INET, host_z.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(*port);
    address.length_ = sizeof(sockaddr_in);
    return address;
  }
  if (inet_pton(AF_INET6, host_z.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(*port);
    address.length_ = sizeof(sockaddr_in6);
    return address;
  }
  *error =
      "'" + host_z + "' is not an IP address (host names are not resolved; use an IP or localhost)";
  return std::nullopt;
}

Address Address::fromSockaddr(const sockaddr* sa, socklen_t len) {
  Address address;
  if (len > sizeof(address.storage_)) len = sizeof(address.storage_);
  std::memcpy(&address.storage_, sa, len);
  address.length_ = len;
  return address;
}

uint16_t Address::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string Address::hostString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
              sizeof(buf));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof(buf));
  }
  return buf;
}

std::string Address::toString() const {
  if (family() == AF_INET6) return "[" + hostString() + "]:" + std::to_string(port());
  return hostString() + ":" + std::to_string(port());
}

bool Address::operator==(const Address& other) const {
  return length_ == other.length_ && std::memcmp(&storage_, &other.storage_, length_) == 0;
}

}  // namespace sg::net

#pragma once
// An IPv4/IPv6 socket address parsed from "host:port" text ("127.0.0.1:8080",
// "[::1]:8080", "localhost:8080", "*:8080" meaning every IPv4 address).
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::net {

class Address {
 public:
  Address() = default;

  // Returns nullopt and fills *error with the reason when the text is not a valid address.
  static std::optional<Address> parse(std::string_view text, std::string* error);
  static Address fromSockaddr(const sockaddr* sa, socklen_t len);

  const sockaddr* sockaddrPtr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  // "127.0.0.1:8080" or "[::1]:8080".
  std::string toString() const;
  // The host part only, without brackets ("127.0.0.1", "::1").
  std::string hostString() const;

  bool operator==(const Address& other) const;

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

}  // namespace sg::net

#pragma once
// IP addresses without a port, and networks in CIDR form ("10.0.0.0/8", "::1"), for
// trust decisions such as which peers may set X-Forwarded-For.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::net {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4

  // "192.0.2.1", "2001:db8::1"; an IPv4-mapped IPv6 address ("::ffff:192.0.2.1") is taken
  // as the IPv4 address, so a dual-stack listener's peers match IPv4 networks.
  static std::optional<IpAddress> parse(std::string_view text);
  bool operator==(const IpAddress& other) const = default;
};

class Cidr {
 public:
  // "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128). Bits set past the prefix
  // are an error ("10.0.0.1/8"): they usually mean a typo in the intended network.
  static std::optional<Cidr> parse(std::string_view text, std::string* error);

  bool contains(const IpAddress& address) const;
  std::string toString() const;

 private:
  Cidr(const IpAddress& base, uint32_t prefix_length)
      : base_(base), prefix_length_(prefix_length) {}
  IpAddress base_;
  uint32_t prefix_length_ = 0;
};

}  // namespace sg::net

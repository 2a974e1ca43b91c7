#include "net/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sg::net {

namespace {

constexpr size_t kMaxAddressText = INET6_ADDRSTRLEN;
constexpr std::array<uint8_t, 12> kV4MappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool prefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b,
                   uint32_t bits) {
  uint32_t whole = bits / 8;
  if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
  uint32_t rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton reads a C string: an embedded NUL would silently cut "1.2.3.4\0junk" short.
  if (text.empty() || text.size() >= kMaxAddressText || text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  char buffer[kMaxAddressText] = {};
  std::memcpy(buffer, text.data(), text.size());
  IpAddress address;
  if (inet_pton(AF_INET, buffer, address.bytes.data()) == 1) return address;
  if (inet_pton(AF_INET6, buffer, address.bytes.data()) != 1) return std::nullopt;
  if (std::memcmp(address.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0) {
    std::memmove(address.bytes.data(), address.bytes.data() + 12, 4);
    std::memset(address.bytes.data() + 4, 0, 12);
    return address;
  }
  address.v6 = true;
  return address;
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* error) {
  size_t slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) {
    *error = "not an IP address";
    return std::nullopt;
  }
  uint32_t max_bits = ip->v6 ? 128 : 32;
  uint32_t bits = max_bits;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        bits > max_bits) {
      *error = "the prefix length must be a number from 0 to " + std::to_string(max_bits);
      return std::nullopt;
    }
  }
  IpAddress masked = *ip;
  for (uint32_t bit = bits; bit < max_bits; ++bit) {
    masked.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  if (!(masked == *ip)) {
    *error = "address bits are set past the prefix length (did you mean " +
             Cidr(masked, bits).toString() + "?)";
    return std::nullopt;
  }
  return Cidr(*ip, bits);
}

bool Cidr::contains(const IpAddress& address) const {
  return address.v6 == base_.v6 && prefixMatches(address.bytes, base_.bytes, prefix_length_);
}

std::string Cidr::toString() const {
  char buffer[kMaxAddressText] = {};
  inet_ntop(base_.v6 ? AF_INET6 : AF_INET, base_.bytes.data(), buffer, sizeof buffer);
  return std::string(buffer) + "/" + std::to_string(prefix_length_);
}

}  // namespace sg::net

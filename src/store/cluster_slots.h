#pragma once
// Redis Cluster key routing: the hash slot of a key (CRC16 of the key or of its {hash tag},
// modulo 16384) and the parsing of MOVED / ASK redirections. hiredis has no cluster support
// in Debian 12, so this small part is written here.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::store {

inline constexpr uint16_t kClusterSlots = 16384;

uint16_t crc16(std::string_view data);  // CRC-16/XMODEM, as the cluster specification uses
uint16_t keySlot(std::string_view key);

struct Redirect {
  bool ask = false;  // ASK: this command only; MOVED: the slot lives there now
  uint16_t slot = 0;
  std::string host;  // empty: the node that answered (Redis 7 may leave it out)
  uint16_t port = 0;
};

// A `MOVED 3999 127.0.0.1:6381` or `ASK ...` error text; nullopt for any other error.
std::optional<Redirect> parseRedirect(std::string_view error);

}  // namespace sg::store

#pragma once
// Internal to lb: servers split into primaries and backups (index order kept), and the
// usability test shared by the algorithms.
#include <cstdint>
#include <span>
#include <vector>

#include "lb/balancer.h"

namespace sg::lb {

struct ServerGroups {
  std::vector<uint32_t> primaries;  // server indices, ascending
  std::vector<uint32_t> backups;    // server indices, ascending

  static ServerGroups split(const std::vector<ServerSpec>& servers) {
    ServerGroups groups;
    for (uint32_t i = 0; i < servers.size(); ++i) {
      (servers[i].backup ? groups.backups : groups.primaries).push_back(i);
    }
    return groups;
  }
};

// A server index past the end of `usable` counts as unusable.
inline bool isUsable(std::span<const uint8_t> usable, uint32_t index) noexcept {
  return index < usable.size() && usable[index] != 0;
}

}  // namespace sg::lb

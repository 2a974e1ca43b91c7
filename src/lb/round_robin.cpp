#include "lb/round_robin.h"

namespace sg::lb {

RoundRobinBalancer::RoundRobinBalancer(const std::vector<ServerSpec>& servers) {
  ServerGroups groups = ServerGroups::split(servers);
  primaries_.servers = std::move(groups.primaries);
  backups_.servers = std::move(groups.backups);
}

int RoundRobinBalancer::pick(const PickContext& context) noexcept {
  const int chosen = pickIn(primaries_, context.usable);
  return chosen >= 0 ? chosen : pickIn(backups_, context.usable);
}

int RoundRobinBalancer::pickIn(Group& group, std::span<const uint8_t> usable) noexcept {
  const auto size = static_cast<uint32_t>(group.servers.size());
  uint32_t position = group.next;
  for (uint32_t tried = 0; tried < size; ++tried) {
    const uint32_t server = group.servers[position];
    position = position + 1 == size ? 0 : position + 1;
    if (isUsable(usable, server)) {
      group.next = position;
      return static_cast<int>(server);
    }
  }
  return -1;
}

}  // namespace sg::lb

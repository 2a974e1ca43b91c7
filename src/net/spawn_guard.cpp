#include "net/spawn_guard.h"

namespace sg::net {

namespace {
std::atomic<int> spawns{0};
}

SpawnGuard::SpawnGuard() { spawns.fetch_add(1); }
SpawnGuard::~SpawnGuard() { spawns.fetch_sub(1); }
bool spawnInFlight() { return spawns.load() > 0; }

}  // namespace sg::net

#include "store/client.h"

#include "store/cluster_client.h"
#include "store/node_client.h"

namespace sg::store {

std::unique_ptr<Client> makeClient(const config::StoreConfig& config, net::EventLoop& loop,
                                   StoreStats& stats) {
  switch (config.type) {
    case config::StoreConfig::Type::kRedis:
      return std::make_unique<NodeClient>(loop, config, stats);
    case config::StoreConfig::Type::kRedisCluster:
      return std::make_unique<ClusterClient>(loop, config, stats);
    case config::StoreConfig::Type::kNone:
      break;
  }
  return nullptr;
}

}  // namespace sg::store

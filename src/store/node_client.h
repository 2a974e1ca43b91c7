#pragma once
// The client of one Redis node: `connections` connections per worker, used in turn.
#include "store/client_base.h"

namespace sg::store {

class NodeClient final : public ClientBase {
 public:
  NodeClient(net::EventLoop& loop, const config::StoreConfig& config, StoreStats& stats);
  ~NodeClient() override;

  void start() override;
  void shutdown() override;
  bool send(std::string_view key, std::string&& command, const Script* script,
            ReplyHandler* handler, uint64_t cookie) override;
  bool ready() const override;

 private:
  net::Address address_;
  uint32_t count_;
  size_t next_ = 0;
};

}  // namespace sg::store

#pragma once
// Everything the workers share, built once from a Config at start-up and never changed
// afterwards except through atomics (server health, metrics, the draining flag).
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "health/passive_health.h"
#include "metrics/metrics.h"
#include "proxy/router.h"

namespace sg::proxy {

struct SharedServer {
  SharedServer(const config::ServerConfig& config, size_t index);
  const config::ServerConfig& config;
  size_t index;
  std::string address_text;
  health::PassiveHealth health;
  metrics::Counter* requests = nullptr;
  metrics::Counter* errors = nullptr;
  metrics::Gauge* active = nullptr;  // connections carrying a request right now
};

struct SharedUpstream {
  const config::UpstreamConfig* config = nullptr;
  size_t index = 0;
  std::vector<std::unique_ptr<SharedServer>> servers;
};

// Why a request was refused before reaching an upstream; a label of
// scalegate_rejected_requests_total.
enum class RejectReason : uint8_t {
  kBodyTooLarge,
  kNoRoute,
  kBadChunk,
  kRequestTimeout,
  kCount,
};

struct SharedListener {
  const config::ListenerConfig* config = nullptr;
  Router router;
  static constexpr size_t kParseErrorSlots = 32;
  std::array<metrics::Counter*, kParseErrorSlots> parse_rejects{};
  std::array<metrics::Counter*, static_cast<size_t>(RejectReason::kCount)> rejects{};
  metrics::Counter* connections = nullptr;
  metrics::Gauge* open_connections = nullptr;
};

class SharedState {
 public:
  SharedState(std::shared_ptr<const config::Config> config, uint32_t workers);

  const config::Config& config() const { return *config_; }
  metrics::Registry& registry() { return registry_; }
  std::vector<SharedUpstream>& upstreams() { return upstreams_; }
  std::vector<SharedListener>& listeners() { return listeners_; }
  uint32_t workerCount() const { return workers_; }

  std::atomic<bool> draining{false};

 private:
  void buildUpstreams();
  void buildListeners();

  std::shared_ptr<const config::Config> config_;
  uint32_t workers_;
  metrics::Registry registry_;
  std::vector<SharedUpstream> upstreams_;
  std::vector<SharedListener> listeners_;
};

}  // namespace sg::proxy

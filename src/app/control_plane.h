#pragma once
// What runs beside the data plane: the service registry (and the upstreams that follow it),
// the autoscaler, the stats sampler and the admin listener that shows and drives them all.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "admin/admin_api.h"
#include "admin/http_service.h"
#include "admin/stats_sampler.h"
#include "autoscale/autoscaler.h"
#include "discovery/registry_service.h"
#include "discovery/registry_upstreams.h"
#include "proxy/gateway.h"

namespace sg::app {

class ControlPlane {
 public:
  // `reload`: what POST /admin/reload runs (none: no such endpoint).
  explicit ControlPlane(proxy::Gateway& gateway, admin::ReloadHandler reload = nullptr);
  ~ControlPlane();  // stop()

  // Before the data plane starts: the registry, and the admin listener (so /health and
  // /metrics answer as soon as the data plane does). False with *error when it cannot bind.
  // `inherited`: sockets a predecessor process passed (the admin address's is taken);
  // `history`: its dashboard history (StatsSampler::exportHistory), shown on from. With
  // `accept_now` false the admin listener waits for acceptAdmin() (the predecessor answers).
  bool startAdmin(std::string* error, net::InheritedListeners* inherited = nullptr,
                  std::string_view history = {}, bool accept_now = true);
  // Thread-safe: the admin listener accepts from now on (after startAdmin(..., false)).
  void acceptAdmin();
  // The dashboard's history, for a successor process ("" without an admin listener).
  std::string statsHistory() const;
  // The admin listening socket, for a successor process (none without an admin listener).
  std::vector<net::ListeningSocket> adminSocket() const;
  // A successor serves the admin port now: take no new admin connections.
  void handOverAdmin();
  // After handOverAdmin(): waits until the admin requests in flight are answered (at most
  // `limit`; kept-alive admin connections are closed then).
  void awaitAdminIdle(std::chrono::milliseconds limit);
  // Once the data plane runs: registry-bound upstreams, the autoscaler, the sampler.
  void startControl();
  // Before the data plane drains: nothing decides or changes servers any more.
  void stopControl();
  // After the workers have stopped and before the gateway goes (the admin thread reads the
  // workers' and the shared state's counters).
  void stop();

 private:
  void carryHistory(std::string_view history);

  proxy::Gateway& gateway_;
  admin::ReloadHandler reload_;
  const config::Config& config_;
  discovery::RegistryService registry_;
  discovery::RegistryUpstreams registry_upstreams_;
  // After the registry: the copies its `process` actuators run are deregistered and stopped
  // when it is destroyed (after the data plane has drained through them).
  autoscale::Autoscaler autoscaler_;
  std::unique_ptr<admin::StatsSampler> stats_;
  std::unique_ptr<admin::HttpService> admin_service_;
};

}  // namespace sg::app

// `scalegate run`: start the data plane and the admin listener, then wait for a signal.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "admin/admin_api.h"
#include "admin/http_service.h"
#include "admin/stats_sampler.h"
#include "app/cli.h"
#include "autoscale/autoscaler.h"
#include "discovery/registry_service.h"
#include "proxy/gateway.h"

namespace sg::app {

sigset_t blockShutdownSignals() {
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Blocked before any thread starts (threads inherit the mask), so only the sigwait()
  // in runGateway sees them.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int runGateway(std::shared_ptr<const config::Config> config) {
  sigset_t signals = blockShutdownSignals();

  proxy::Gateway gateway(config);
  std::string error;
  // Evaluates upstreams' `autoscale` once a second after start; outlives the admin listener,
  // which reads it.
  autoscale::Autoscaler autoscaler(gateway.shared(), std::make_unique<autoscale::SystemClock>());
  // The admin listener comes up first (it needs only the shared state, built with the
  // Gateway): once the data plane answers, /health and /metrics do too. Declared after the
  // gateway, it is also stopped before the gateway is destroyed on every return path.
  // The service registry outlives the admin listener that writes it (declared before it).
  discovery::RegistryService registry(config->store, gateway.shared().registry(),
                                      gateway.shared().storeStats());
  registry.start();
  std::unique_ptr<admin::StatsSampler> stats;  // stopped after the admin listener
  std::unique_ptr<admin::HttpService> admin_service;
  admin::AdminContext admin_context{&gateway.shared(), gateway.postgres()};
  admin_context.autoscale = &autoscaler;
  admin_context.registry = &registry;
  if (config->admin.address) {
    stats = std::make_unique<admin::StatsSampler>(gateway.shared(), gateway.postgres());
    admin_context.stats = stats.get();
    bool autoscales =
        std::any_of(config->upstreams.begin(), config->upstreams.end(),
                    [](const auto& upstream) { return upstream.autoscale.has_value(); });
    if (autoscales)
      stats->setAutoscaleSource(
          [&autoscaler] { return boost::json::value(autoscaler.dashboardJson()); });
    admin_service = std::make_unique<admin::HttpService>(*config->admin.address,
                                                         admin::makeAdminHandler(admin_context));
    if (!admin_service->start(&error)) {
      spdlog::error("admin: {}", error);
      return 1;
    }
  }
  if (!gateway.start(&error)) {
    spdlog::error("{}", error);
    return 1;
  }
  autoscaler.start();
  if (stats) stats->start();
  for (const auto& listener : config->listeners) {
    spdlog::info("listening on {} ({}), {} workers", listener.address.toString(), listener.name,
                 gateway.workerCount());
  }
  if (config->postgres) {
    for (const auto& listener : config->postgres->listeners) {
      spdlog::info("postgres: listening on {} ({}), {} workers", listener.address.toString(),
                   listener.name, gateway.workerCount());
    }
  }
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received {}, draining (limit {} ms)", strsignal(received),
               config->shutdown_timeout.count());
  autoscaler.stop();
  gateway.drain();
  bool clean = gateway.waitForWorkers(config->shutdown_timeout);
  if (!clean) spdlog::warn("drain limit reached; closing remaining connections");
  // The admin thread renders /metrics from the workers' and the shared state's counters:
  // it stops (joined) before any of them goes.
  if (admin_service) admin_service->stop();
  if (stats) stats->stop();
  gateway.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace sg::app

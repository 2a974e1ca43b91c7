// `scalegate run`: start the data plane and the admin listener, then wait for a signal.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include "app/cli.h"
#include "app/control_plane.h"
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
  // Declared after the gateway: stopped before it is destroyed on every return path.
  ControlPlane control(gateway);
  if (!control.startAdmin(&error) || !gateway.start(&error)) {
    spdlog::error("{}", error);
    return 1;
  }
  control.startControl();
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
  control.stopControl();
  gateway.drain();
  bool clean = gateway.waitForWorkers(config->shutdown_timeout);
  if (!clean) spdlog::warn("drain limit reached; closing remaining connections");
  control.stop();
  gateway.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace sg::app

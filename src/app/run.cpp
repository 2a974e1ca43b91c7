// `scalegate run`: start the data plane and the admin listener, then wait for signals:
// SIGTERM/SIGINT drain and stop; SIGHUP (reload) starts the new configuration in this process
// and drains the old one into it (generations.h); SIGUSR2 (binary upgrade), and a reload that
// changes the number of workers, hand the listeners and idle connections to a successor
// process (upgrade.h), then drain and stop.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>

#include "app/cli.h"
#include "app/control_plane.h"
#include "app/generations.h"
#include "app/systemd_notify.h"
#include "app/upgrade.h"
#include "config/config.h"
#include "metrics/totals.h"
#include "net/event_loop.h"
#include "proxy/gateway.h"
#include "proxy/running_state.h"

namespace sg::app {

namespace {

// How long a successor may take to start before the reload is given up.
constexpr int64_t kSuccessorReadyMs = 30000;

// The configuration file, loaded; null with its errors in *errors.
std::shared_ptr<const config::Config> load(const std::string& path,
                                           std::vector<std::string>* errors) {
  auto result = config::loadConfigFile(path);
  for (const auto& error : result.errors) errors->push_back(error.toString());
  if (!result.config && errors->empty()) errors->push_back(path + ": cannot be loaded");
  return errors->empty() ? std::shared_ptr<const config::Config>(result.config) : nullptr;
}

std::vector<std::string> validate(const std::string& path) {
  std::vector<std::string> errors;
  load(path, &errors);
  return errors;
}

uint32_t workersOf(const config::Config& config) {
  return config.workers > 0 ? config.workers : proxy::defaultWorkerCount();
}

// SIGUSR2 does not check the file: the new binary may know keys this one does not. Returns the
// successor's link, or nullopt; *handed holds the metric totals the successor counts on from.
std::optional<Successor> replaceProcess(const RunOptions& options, int signal,
                                        proxy::Gateway& gateway, ControlPlane& control,
                                        ReloadCounters& counters,
                                        std::vector<metrics::SeriesTotal>* handed) {
  const char* what = signal == SIGHUP ? "reload" : "binary upgrade";
  spdlog::info("{}: starting {} with {}", what, options.executable, options.config_path);
  Successor successor;
  std::string error;
  std::vector<net::ListeningSocket> sockets = gateway.listeningSockets();
  for (const auto& admin : control.adminSocket()) sockets.push_back(admin);
  HandedState state;
  state.running_state = proxy::exportRunningState(gateway.shared(), net::monotonicMillis());
  *handed = gateway.shared().registry().totals();
  state.metric_totals = metrics::encodeTotals(*handed);
  state.history = control.statsHistory();
  state.queue_locks = gateway.shared().queueLocks();
  if (!startSuccessor(options.executable, options.argv, sockets, state, kSuccessorReadyMs,
                      &successor, &error)) {
    spdlog::error("{}: the new process failed: {}; this one keeps running", what, error);
    counters.failed->inc();
    return std::nullopt;
  }
  spdlog::info("{}: process {} serves now; draining this one", what, successor.pid);
  notifySystemd("MAINPID=" + std::to_string(successor.pid));
  return successor;
}

void logListeners(const config::Config& config, uint32_t workers) {
  for (const auto& listener : config.listeners) {
    spdlog::info("listening on {} ({}), {} workers", listener.address.toString(), listener.name,
                 workers);
  }
  if (!config.postgres) return;
  for (const auto& listener : config.postgres->listeners) {
    spdlog::info("postgres: listening on {} ({}), {} workers", listener.address.toString(),
                 listener.name, workers);
  }
}

// Set while this process starts a successor or hands over to it: a reload asked of it then
// would be lost (its main thread no longer waits for signals).
std::atomic<bool> replacing{false};

admin::ReloadOutcome requestReload(const RunOptions& options) {
  admin::ReloadOutcome outcome;
  if (replacing) {
    outcome.busy = true;
    outcome.errors.push_back("a reload is under way; ask again in a moment");
    return outcome;
  }
  if (options.config_path.empty()) {
    outcome.errors.push_back("only `scalegate run --config FILE` can reload");
    return outcome;
  }
  outcome.errors = validate(options.config_path);
  outcome.started = outcome.errors.empty() && ::kill(getpid(), SIGHUP) == 0;
  return outcome;
}

// SIGHUP: an invalid file changes nothing; a valid one starts as a new generation in this
// process, unless it changes the number of workers (threads are not added or taken away
// under a running generation): that reload replaces the process. Returns the successor
// process's link when there is one.
std::optional<Successor> reload(const RunOptions& options, Generations& generations,
                                std::vector<metrics::SeriesTotal>* handed) {
  Generation& current = generations.current();
  if (options.config_path.empty()) {
    spdlog::warn("SIGHUP ignored: only `scalegate run --config FILE` can reload");
    return std::nullopt;
  }
  std::vector<std::string> errors;
  std::shared_ptr<const config::Config> config = load(options.config_path, &errors);
  if (!config) {
    for (const auto& error : errors) spdlog::error("reload: {}", error);
    spdlog::error("reload: {} is invalid; the running configuration stays", options.config_path);
    current.counters.invalid->inc();
    return std::nullopt;
  }
  if (workersOf(*config) != current.gateway.workerCount()) {
    spdlog::info("reload: workers changes from {} to {}: a new process takes over",
                 current.gateway.workerCount(), workersOf(*config));
    return replaceProcess(options, SIGHUP, current.gateway, current.control, current.counters,
                          handed);
  }
  spdlog::info("reload: starting {} in this process", options.config_path);
  std::string error;
  if (!generations.reload(config, &error)) {
    spdlog::error("reload: the new configuration failed to start: {}; the running one stays",
                  error);
    return std::nullopt;
  }
  logListeners(*config, generations.current().gateway.workerCount());
  spdlog::info("reload: the new configuration serves; the old one drains into it");
  return std::nullopt;
}

// What the predecessor passed on (its health, breakers, cache), before anything serves.
void takeOverRunningState(const PredecessorLink& predecessor, proxy::Gateway& gateway) {
  if (predecessor.runningState().empty()) return;
  proxy::CarriedState carried;
  std::string error;
  bool valid = proxy::importRunningState(gateway.shared(), predecessor.runningState(),
                                         net::monotonicMillis(), &carried, &error);
  if (!valid) spdlog::warn("the running state of the process replaced is cut short: {}", error);
  spdlog::info("took over {}", proxy::describe(carried));
}

// Counting on where the predecessor stopped: its totals go to the series registered so far
// (before anything serves); the rest stay in *left, for the series registered later.
void takeOverMetricTotals(PredecessorLink& predecessor, metrics::Registry& registry,
                          std::vector<metrics::SeriesTotal>* left) {
  std::vector<metrics::SeriesTotal> totals = predecessor.takeMetricTotals();
  size_t count = totals.size();
  *left = registry.addTotals(std::move(totals));
  spdlog::info("counting on from the process replaced: {} of its {} counters and histograms",
               count - left->size(), count);
}

// What this process counted since *handed, for the successor to add (then *handed is now).
void passMetricTotals(const Successor& successor, metrics::Registry& registry,
                      std::vector<metrics::SeriesTotal>* handed) {
  std::vector<metrics::SeriesTotal> now = registry.totals();
  if (!sendMetricTotals(successor.link,
                        metrics::encodeTotals(metrics::subtractTotals(now, *handed))))
    spdlog::warn("what this process counted is not passed on: {}", std::strerror(errno));
  *handed = std::move(now);
}

// The successor is this process's child. Dead by the end of the drain, it leaves nothing
// listening: said loudly, for the supervisor restarting the service (systemd's unit does).
void reportSuccessorGone(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) return;
  std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) + ", " +
                                              strsignal(WTERMSIG(status))
                                        : "exit status " + std::to_string(WEXITSTATUS(status));
  spdlog::error("the new process {} ended ({}) while this one drained: nothing listens any more",
                pid, how);
}

}  // namespace

sigset_t blockShutdownSignals() {
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  for (int blocked : {SIGTERM, SIGINT, SIGHUP, SIGUSR2}) sigaddset(&set, blocked);
  // Blocked before any thread starts (threads inherit the mask), so only the sigwait()
  // in runGateway sees them.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int runGateway(const RunOptions& options, std::shared_ptr<const config::Config> config) {
  sigset_t signals = blockShutdownSignals();
  std::string error;
  net::InheritedListeners inherited;
  auto predecessor = PredecessorLink::fromEnvironment(&inherited, &error);
  if (!error.empty()) {
    spdlog::error("{}", error);
    return 1;
  }

  // The predecessor's link reaches the serving generation through withCurrent(): its thread
  // is stopped (finish()) before the generations go.
  Generations generations(config, [&options] { return requestReload(options); });
  Generation& first = generations.current();
  metrics::Registry& registry = first.gateway.shared().registry();
  // A predecessor that passed its counts answers the admin port until it has passed the rest.
  const bool admin_waits = predecessor && predecessor->passesMetricTotals();
  std::vector<metrics::SeriesTotal> not_yet_registered;
  if (predecessor) {
    takeOverRunningState(*predecessor, first.gateway);
    first.gateway.shared().handQueueLocks(predecessor->queueLocks());
  }
  if (admin_waits) takeOverMetricTotals(*predecessor, registry, &not_yet_registered);
  if (!first.control.startAdmin(&error, &inherited, predecessor ? predecessor->history() : "",
                                !admin_waits) ||
      !first.gateway.start(&error, &inherited)) {
    spdlog::error("{}", error);
    return 1;
  }
  if (predecessor) predecessor->closeQueueLocks();  // the queues that use one share it now
  first.control.startControl();
  registry.addTotals(std::move(not_yet_registered));
  logListeners(*config, first.gateway.workerCount());
  if (predecessor) {
    std::function<void()> counted_on;
    if (admin_waits) {
      counted_on = [&generations] {
        generations.withCurrent([](Generation& current) { current.control.acceptAdmin(); });
      };
    }
    predecessor->ready(
        [&generations](const std::function<void(proxy::Gateway&)>& use) {
          generations.withCurrent([&use](Generation& current) { use(current.gateway); });
        },
        std::move(counted_on));
  }
  notifySystemd("READY=1");
  std::optional<Successor> successor;
  std::vector<metrics::SeriesTotal> handed;
  int received = 0;
  while (!successor) {
    sigwait(&signals, &received);
    if (received == SIGTERM || received == SIGINT) break;
    replacing = true;
    Generation& current = generations.current();
    if (received == SIGHUP) {
      successor = reload(options, generations, &handed);
    } else {
      successor = replaceProcess(options, received, current.gateway, current.control,
                                 current.counters, &handed);
    }
    replacing = successor.has_value();
  }
  Generation& last = generations.current();
  if (!successor) {
    spdlog::info("received {}, draining (limit {} ms)", strsignal(received),
                 last.config->shutdown_timeout.count());
  }
  last.control.stopControl();
  // Handing over: the successor answers the admin port (the same socket), this process only
  // finishes the admin requests it has (its /health would say "draining" to health checkers).
  // Then the successor gets what was counted here so far, before it answers: a scrape never
  // sees a counter go back.
  metrics::Registry& last_registry = last.gateway.shared().registry();
  if (successor) {
    last.control.handOverAdmin();
    last.control.awaitAdminIdle(std::chrono::milliseconds(500));
    passMetricTotals(*successor, last_registry, &handed);
  }
  last.gateway.drain(successor ? successor->link : -1);
  bool clean = last.gateway.waitForWorkers(last.config->shutdown_timeout);
  if (!clean) spdlog::warn("drain limit reached; closing remaining connections");
  // Older generations drain into this one; they go before it stops its threads.
  generations.finishRetiring();
  if (successor) reportSuccessorGone(successor->pid);
  // A predecessor still draining passes its idle connections on through this process.
  if (predecessor) predecessor->finish(successor ? last.config->shutdown_timeout.count() : 0);
  if (successor) last.control.awaitAdminIdle(std::chrono::milliseconds(1000));
  last.control.stop();
  last.gateway.stop();
  if (successor) passMetricTotals(*successor, last_registry, &handed);  // what the drain counted
  if (successor) ::close(successor->link);
  spdlog::info("stopped");
  return 0;
}

}  // namespace sg::app

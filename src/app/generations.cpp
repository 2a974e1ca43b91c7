#include "app/generations.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/event_loop.h"
#include "pg/pg_service.h"
#include "proxy/running_state.h"

namespace sg::app {

ReloadCounters::ReloadCounters(metrics::Registry& registry) {
  const char* help =
      "Reloads (SIGHUP, POST /admin/reload) and binary upgrades (SIGUSR2) tried, by result: "
      "ok (a new configuration generation serves in this process), invalid_config (the file "
      "was refused: the running configuration stays), failed (the new generation or process "
      "could not start: the running one serves on). A binary upgrade that succeeds is counted "
      "by the new process only through the totals it takes over.";
  reloaded = &registry.counter("scalegate_reloads_total", help, {{"result", "ok"}});
  invalid = &registry.counter("scalegate_reloads_total", help, {{"result", "invalid_config"}});
  failed = &registry.counter("scalegate_reloads_total", help, {{"result", "failed"}});
}

Generation::Generation(std::shared_ptr<const config::Config> config_in,
                       std::shared_ptr<proxy::WorkerThreads> threads, admin::ReloadHandler reload)
    : config(std::move(config_in)),
      gateway(config, std::move(threads)),
      control(gateway, std::move(reload)),
      counters(gateway.shared().registry()) {}

Generations::Generations(std::shared_ptr<const config::Config> config, admin::ReloadHandler reload)
    : reload_(std::move(reload)),
      current_(std::make_unique<Generation>(std::move(config), nullptr, reload_)) {}

Generations::~Generations() { finishRetiring(); }

void Generations::withCurrent(const std::function<void(Generation&)>& use) {
  std::lock_guard lock(mutex_);
  use(*current_);
}

namespace {

// The new generation takes the very same listening sockets (duplicates: the old one closes
// its own when it drains), so no connection waiting to be accepted is lost.
bool inheritSockets(Generation& old, net::InheritedListeners* inherited, std::string* error) {
  std::vector<net::ListeningSocket> sockets = old.gateway.listeningSockets();
  for (const auto& admin : old.control.adminSocket()) sockets.push_back(admin);
  for (const auto& socket : sockets) {
    int copy = ::dup(socket.fd);
    if (copy < 0) {
      *error = "cannot duplicate the listening socket of " + socket.address + ": " +
               std::strerror(errno);
      return false;
    }
    if (!inherited->add(socket.address, copy, error)) return false;
  }
  return true;
}

void carryRunningState(Generation& old, Generation& next) {
  int64_t now = net::monotonicMillis();
  std::string state = proxy::exportRunningState(old.gateway.shared(), now);
  proxy::CarriedState carried;
  std::string error;
  if (!proxy::importRunningState(next.gateway.shared(), state, now, &carried, &error))
    spdlog::warn("reload: the running state carried over is cut short: {}", error);
  spdlog::info("reload: carried over {}", proxy::describe(carried));
}

}  // namespace

bool Generations::reload(std::shared_ptr<const config::Config> config, std::string* error) {
  Generation& old = *current_;
  auto next = std::make_unique<Generation>(std::move(config), old.gateway.threads(), reload_);
  if (old.gateway.postgres() != nullptr && next->gateway.postgres() != nullptr)
    next->gateway.postgres()->shareWith(*old.gateway.postgres());
  next->gateway.shared().keepQueueStores(old.gateway.shared());
  net::InheritedListeners inherited;
  if (!inheritSockets(old, &inherited, error)) {
    old.counters.failed->inc();
    return false;
  }
  carryRunningState(old, *next);
  metrics::Registry& registry = next->gateway.shared().registry();
  std::vector<metrics::SeriesTotal> handed = old.gateway.shared().registry().totals();
  std::vector<metrics::SeriesTotal> not_yet_registered = registry.addTotals(handed);
  // The new admin listener holds the admin socket without accepting until the old one has
  // answered what it has and its counts are added: a scrape never sees a counter go back.
  if (!next->control.startAdmin(error, &inherited, old.control.statsHistory(), false) ||
      !next->gateway.start(error, &inherited)) {
    old.counters.failed->inc();
    return false;
  }
  next->control.startControl();
  registry.addTotals(std::move(not_yet_registered));
  handOverAdmin(old, *next, &handed);
  next->counters.reloaded->inc();
  std::shared_ptr<Retiring> older = retiring_.empty() ? nullptr : retiring_.back();
  auto retiring = std::make_shared<Retiring>();
  retiring->handed = std::move(handed);
  {
    std::lock_guard lock(mutex_);
    retiring->generation = std::move(current_);
    current_ = std::move(next);
  }
  retiring->generation->gateway.drain(-1, &current_->gateway);
  retiring->thread = std::thread([this, entry = retiring.get(), older] { retire(*entry, older); });
  retiring_.push_back(std::move(retiring));
  joinRetired(false);
  return true;
}

void Generations::handOverAdmin(Generation& old, Generation& next,
                                std::vector<metrics::SeriesTotal>* handed) {
  old.control.stopControl();
  old.control.handOverAdmin();
  old.control.awaitAdminIdle(std::chrono::milliseconds(500));
  std::vector<metrics::SeriesTotal> now = old.gateway.shared().registry().totals();
  next.gateway.shared().registry().addTotals(metrics::subtractTotals(now, *handed));
  *handed = std::move(now);
  next.control.acceptAdmin();
}

void Generations::retire(Retiring& retiring, std::shared_ptr<Retiring> older) {
  Generation& old = *retiring.generation;
  if (!old.gateway.waitForWorkers(old.config->shutdown_timeout))
    spdlog::warn("reload: the old configuration's drain limit reached; closing its connections");
  if (older) {
    // Its connections move into this generation's workers until it is gone.
    std::unique_lock lock(mutex_);
    retired_.wait(lock, [&older] { return older->done; });
  }
  old.control.awaitAdminIdle(std::chrono::milliseconds(1000));
  old.control.stop();
  old.gateway.stop();
  std::vector<metrics::SeriesTotal> late =
      metrics::subtractTotals(old.gateway.shared().registry().totals(), retiring.handed);
  withCurrent([&late](Generation& current) {
    current.gateway.shared().registry().addTotals(std::move(late));
  });
  retiring.generation.reset();
  retiring.handed.clear();
  spdlog::info("reload: the old configuration has drained and is gone");
  std::lock_guard lock(mutex_);
  retiring.done = true;
  retired_.notify_all();
}

// Joins the threads of retired generations (all of them with `all`: waits for each).
void Generations::joinRetired(bool all) {
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    bool done = false;
    {
      std::lock_guard lock(mutex_);
      done = (*it)->done;
    }
    if (!done && !all) {
      ++it;
      continue;
    }
    (*it)->thread.join();
    it = retiring_.erase(it);
  }
}

void Generations::finishRetiring() { joinRetired(true); }

}  // namespace sg::app

#include "proxy/gateway.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/fd_passing.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "proxy/worker.h"

namespace sg::proxy {

uint32_t defaultWorkerCount() { return std::max(1u, std::thread::hardware_concurrency()); }

Gateway::Gateway(std::shared_ptr<const config::Config> config,
                 std::shared_ptr<WorkerThreads> threads)
    : config_(std::move(config)),
      worker_count_(threads                ? static_cast<uint32_t>(threads->size())
                    : config_->workers > 0 ? config_->workers
                                           : defaultWorkerCount()),
      shared_(std::make_unique<SharedState>(config_, worker_count_)),
      threads_(std::move(threads)) {
  if (!threads_) {
    threads_ = std::make_shared<WorkerThreads>();
    for (uint32_t i = 0; i < worker_count_; ++i)
      threads_->push_back(std::make_unique<WorkerThread>(i));
  }
  if (config_->postgres)
    postgres_ = std::make_unique<pg::PgService>(config_, worker_count_, &shared_->registry());
}

Gateway::~Gateway() { stop(); }

bool Gateway::start(std::string* error, net::InheritedListeners* inherited) {
  if (!shared_->checkClusterLimits(error)) return false;
  if (!shared_->openQueues(error)) return false;
  if (config_->access_log.enabled) {
    access_log_ = std::make_unique<AccessLog>();
    if (!access_log_->open(config_->access_log.path, error)) return false;
  }
  if (postgres_ && !postgres_->start(error)) return false;
  std::vector<pg::PgWorker*> pg_workers;
  for (uint32_t i = 0; i < worker_count_; ++i) {
    WorkerThread& thread = *(*threads_)[i];
    auto worker = std::make_unique<Worker>(shared_.get(), thread, access_log_.get());
    if (postgres_) {
      worker->attachPostgres(postgres_.get());
      pg_workers.push_back(worker->postgres());
    }
    if (!worker->openListeners(inherited, error)) return false;
    worker->listeningSockets(&listening_);
    // The loop's count since this generation began: an older one's was carried over.
    shared_->registry().counterCallback(
        "scalegate_worker_coalesced_polls_total",
        "Polls a worker made after sleeping event_coalescing_us under concurrent load, instead of "
        "blocking until the next event.",
        {{"worker", std::to_string(i)}},
        [loop = &thread.loop(), since = thread.loop().coalescedPolls()] {
          return double(loop->coalescedPolls() - since);
        });
    workers_.push_back(std::move(worker));
  }
  if (inherited != nullptr) inherited->closeUnused();  // addresses no listener has any more
  if (postgres_) postgres_->attach(std::move(pg_workers));
  startHealthChecks();
  startDnsDiscovery();
  std::vector<Worker*> workers;
  for (auto& worker : workers_) workers.push_back(worker.get());
  for (auto& queue : shared_->queues()) queue->attach(workers);
  shared_->cacheWarmer().attach(std::move(workers));
  startWorkers();
  for (auto& queue : shared_->queues()) queue->start();
  // In the background, on the workers: the listeners take clients meanwhile.
  if (shared_->cacheWarmer().warmRoutes() > 0) shared_->cacheWarmer().start();
  return true;
}

void Gateway::startWorkers() {
  running_ = worker_count_;
  started_ = true;
  for (auto& worker : workers_) {
    worker->setOnDrained([this] {
      std::lock_guard lock(mutex_);
      --running_;
      exited_.notify_all();
    });
    WorkerThread& thread = worker->thread();
    thread.post([w = worker.get()] { w->begin(); });
    if (!thread.started()) thread.start();
  }
}

// One checker for the whole process: each server is probed once per interval, whatever
// the number of workers.
void Gateway::startHealthChecks() {
  std::vector<health::CheckTarget> targets;
  bool runtime_servers = false;
  for (auto& upstream : shared_->upstreams()) {
    if (!upstream.config->health_check) continue;
    runtime_servers = runtime_servers || upstream.slots != nullptr;
    for (auto& server : upstream.servers) {
      // Run-time slots come through ServerSlots' hooks below.
      if (server->index >= upstream.config->servers.size()) continue;
      targets.push_back({&*upstream.config->health_check, server->config.address,
                         upstream.config->name + " " + server->address_text, &server->check,
                         upstream.config->tls ? &*upstream.config->tls : nullptr});
    }
  }
  checker_ = std::make_unique<health::ActiveChecker>(std::move(targets));
  checker_->start(runtime_servers);
  for (auto& upstream : shared_->upstreams()) {
    if (!upstream.config->health_check || !upstream.slots) continue;
    health::ActiveChecker* checker = checker_.get();
    const config::HealthCheckConfig* check = &*upstream.config->health_check;
    const config::UpstreamTlsConfig* tls = upstream.config->tls ? &*upstream.config->tls : nullptr;
    std::string name = upstream.config->name;
    upstream.slots->setHooks(
        [checker, check, tls, name](SharedServer& server) {
          checker->add(
              {check, server.config.address, name + " " + server.address_text, &server.check, tls});
        },
        [checker](SharedServer& server) { checker->remove(&server.check); });
  }
}

// After the health checks: servers the first answer adds are checked from the start.
void Gateway::startDnsDiscovery() {
  std::vector<SharedUpstream*> upstreams;
  for (auto& upstream : shared_->upstreams()) {
    if (upstream.slots && !upstream.config->discovery->dns.empty()) upstreams.push_back(&upstream);
  }
  if (upstreams.empty()) return;
  dns_ = std::make_unique<DnsDiscovery>(std::move(upstreams), makeSystemResolver(),
                                        shared_->registry());
  dns_->start();
}

void Gateway::drain(int handover_link, Gateway* successor) {
  // Handing over, the service goes on in the successor: /health must not say "draining".
  if (handover_link < 0 && successor == nullptr) shared_->draining = true;
  handover_link_ = handover_link;
  successor_ = successor;
  for (auto& queue : shared_->queues()) queue->drain();
  for (size_t i = 0; i < workers_.size(); ++i)
    workers_[i]->drain(handover_link, successor ? successor->workers_[i].get() : nullptr);
}

bool Gateway::adopt(int fd, std::string listener) {
  if (Gateway* successor = successor_.load()) return successor->adopt(fd, std::move(listener));
  // Reloaded again meanwhile: straight on to this process's own successor (its workers may
  // already have finished draining).
  if (int link = handover_link_.load(); link >= 0) {
    const bool passed = net::passConnection(link, fd, listener);
    if (!passed && !pass_failed_.exchange(true))
      spdlog::warn("could not pass connections on to the successor ({}): closing them",
                   std::strerror(errno));
    ::close(fd);
    return passed;
  }
  for (const auto& shared : shared_->listeners()) {
    if (shared.config->name == listener && shared.config->tls) {
      ::close(fd);  // closed idle, as the predecessor would have: the client reconnects
      return false;
    }
  }
  uint32_t next = next_adopter_.fetch_add(1, std::memory_order_relaxed);
  workers_[next % workers_.size()]->adopt(fd, std::move(listener));
  return true;
}

bool Gateway::waitForWorkers(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  {
    std::unique_lock lock(mutex_);
    if (!exited_.wait_until(lock, deadline, [this] { return running_ == 0; })) return false;
  }
  // Deliveries of async routes still running finish too (the queues claim no new ones while
  // draining), so that no accepted job is delivered a second time after a reload or a stop.
  for (auto& queue : shared_->queues()) {
    if (!queue->waitForDeliveries(deadline)) return false;
  }
  return true;
}

// The workers of the last generation stay until the destructor, destroyed once their
// threads have stopped.
void Gateway::stop() {
  if (stopped_) return;
  stopped_ = true;
  shared_->cacheWarmer().stop();  // a warm request ending now starts no other
  if (dns_) dns_->stop();
  for (auto& upstream : shared_->upstreams()) {
    if (upstream.slots) upstream.slots->setHooks(nullptr, nullptr);  // before the checker goes
  }
  if (checker_) checker_->stop();
  if (successor_.load() != nullptr && started_) {
    // The workers drained (or the limit passed): the queues stop while the workers their
    // answers are posted to still exist, as they do below once the threads have ended.
    for (auto& queue : shared_->queues()) queue->stop();
    return retireWorkers();
  }
  if (started_) {
    for (auto& thread : *threads_) thread->stop();
    for (auto& thread : *threads_) thread->join();
  }
  // After the workers: no enqueue can start any more, and deliveries in flight stay
  // `running` in the store, to be delivered again at the next start (at least once).
  for (auto& queue : shared_->queues()) queue->stop();
}

// Each worker is closed and destroyed on its own thread, which the successor's worker goes on
// using. First every worker closes what it has left (freed at the end of that loop turn); only
// once all have, so that no connection of one (a cache fill's owner) can still notify another,
// each worker itself goes, in a later turn.
void Gateway::retireWorkers() {
  std::vector<Worker*> workers;
  for (auto& owned : workers_) workers.push_back(owned.release());
  workers_.clear();
  onEachWorkerThread(workers, [](Worker* worker) { worker->closeAll(); });
  onEachWorkerThread(workers, [](Worker* worker) { delete worker; });
}

void Gateway::onEachWorkerThread(const std::vector<Worker*>& workers,
                                 const std::function<void(Worker*)>& task) {
  std::mutex mutex;
  std::condition_variable done;
  size_t left = workers.size();
  for (Worker* worker : workers) {
    worker->thread().post([worker, &task, &mutex, &done, &left] {
      task(worker);
      std::lock_guard lock(mutex);
      if (--left == 0) done.notify_all();
    });
  }
  std::unique_lock lock(mutex);
  done.wait(lock, [&left] { return left == 0; });
}

}  // namespace sg::proxy

#include "proxy/worker_thread.h"

#include <algorithm>

#include "metrics/metrics.h"
#include "proxy/worker.h"

namespace sg::proxy {

WorkerThread::WorkerThread(uint32_t index) : index_(index) {
  loop_.setWakeHandler([this] { onWake(); });
}

WorkerThread::~WorkerThread() {
  stop();
  join();
}

void WorkerThread::start() {
  thread_ = std::thread([this] {
    metrics::setCurrentShard(index_);
    loop_.run();
  });
}

void WorkerThread::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(task));
  }
  loop_.wake();
}

void WorkerThread::stop() {
  stop_requested_ = true;
  loop_.wake();
}

void WorkerThread::join() {
  if (thread_.joinable()) thread_.join();
}

void WorkerThread::attach(Worker* worker) { workers_.push_back(worker); }

void WorkerThread::detach(Worker* worker) {
  workers_.erase(std::remove(workers_.begin(), workers_.end(), worker), workers_.end());
  updateCoalescing();
}

void WorkerThread::updateCoalescing() {
  size_t connections = 0;
  for (const Worker* worker : workers_) connections += worker->clientConnections();
  if (connections > coalescing_connections_) loop_.noteConnectionOpened();
  coalescing_connections_ = connections;
  loop_.setClientConnections(connections);
}

void WorkerThread::onWake() {
  if (stop_requested_) return loop_.stop();
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
  // A copy: a worker's wake may end its generation's drain, and its Gateway may then post
  // the worker's retirement, which detaches it (never from inside this loop turn).
  std::vector<Worker*> workers = workers_;
  for (Worker* worker : workers) worker->onWake();
}

}  // namespace sg::proxy

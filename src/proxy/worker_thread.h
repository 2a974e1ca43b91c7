#pragma once
// A worker thread: its event loop, and the Workers that run on it. A Worker belongs to one
// configuration generation; an in-process reload (SIGHUP) starts the new generation's Worker
// on the same thread while the old one drains, so a client connection moves from the old to
// the new by pointer, its TLS and HTTP/2 state intact (Worker::drain with a successor).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "net/event_loop.h"

namespace sg::proxy {

class Worker;

class WorkerThread {
 public:
  explicit WorkerThread(uint32_t index);
  ~WorkerThread();  // stop() and join()
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  uint32_t index() const { return index_; }
  net::EventLoop& loop() { return loop_; }
  // Starts the thread; its loop runs until stop(). Tasks posted before run once it starts.
  void start();
  bool started() const { return thread_.joinable(); }
  // Thread-safe: runs `task` on this thread's loop soon.
  void post(std::function<void()> task);
  // Thread-safe: the loop exits after its current turn.
  void stop();
  void join();

  // Loop thread only. attach(): the worker's onWake runs at every wake of the loop, and its
  // client connections count for event coalescing, until detach().
  void attach(Worker* worker);
  void detach(Worker* worker);
  // Event coalescing looks at every client connection on the loop, of every generation.
  void updateCoalescing();

 private:
  void onWake();

  uint32_t index_;
  net::EventLoop loop_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::function<void()>> posted_;  // guarded by mutex_
  std::atomic<bool> stop_requested_{false};
  std::vector<Worker*> workers_;  // attached, oldest generation first
  size_t coalescing_connections_ = 0;
};

// The worker threads a process runs, shared by the configuration generations.
using WorkerThreads = std::vector<std::unique_ptr<WorkerThread>>;

}  // namespace sg::proxy

#include "health/active_checker.h"

#include <pthread.h>

#include <algorithm>
#include <random>
#include <utility>

#include "health/probe.h"
#include "net/event_loop.h"

namespace sg::health {

// RiseFall ---------------------------------------------------------------------------------

RiseFall::RiseFall(uint32_t rise, uint32_t fall, bool initially_healthy)
    : rise_(std::max<uint32_t>(rise, 1)),
      fall_(std::max<uint32_t>(fall, 1)),
      healthy_(initially_healthy) {}

bool RiseFall::record(bool passed) {
  if (passed == healthy_) {  // the result confirms the current verdict
    streak_ = 0;
    return false;
  }
  ++streak_;
  if (streak_ < (healthy_ ? fall_ : rise_)) return false;
  healthy_ = !healthy_;
  streak_ = 0;
  return true;
}

// ActiveChecker ----------------------------------------------------------------------------

struct ActiveChecker::Impl {
  std::vector<CheckTarget> targets;
  // Declared before the probes so the probes (which deregister from it) go first.
  std::unique_ptr<net::EventLoop> loop;
  std::vector<std::unique_ptr<Probe>> probes;
  std::vector<std::unique_ptr<Probe>> retired;  // removed; freed at the next wake-up
  std::thread thread;
  std::mt19937_64 random{std::random_device{}()};
  // Run-time changes, guarded by mutex, applied on the checker thread.
  std::mutex mutex;
  std::vector<CheckTarget> to_add;
  std::vector<const CheckStatus*> to_remove;
  std::atomic<bool> stopping{false};
  std::atomic<bool> running{false};  // the loop exists: add() and remove() may wake it

  void applyChanges();
};

// On the checker thread. A retired probe may still have an event in this batch: it is freed
// at the next wake-up, in a later batch.
void ActiveChecker::Impl::applyChanges() {
  retired.clear();
  std::vector<CheckTarget> added;
  std::vector<const CheckStatus*> removed;
  {
    std::lock_guard lock(mutex);
    added.swap(to_add);
    removed.swap(to_remove);
  }
  for (const CheckStatus* status : removed) {
    for (auto it = probes.begin(); it != probes.end(); ++it) {
      if ((*it)->status() != status) continue;
      (*it)->stop();
      retired.push_back(std::move(*it));
      probes.erase(it);
      break;
    }
  }
  for (const CheckTarget& target : added) {
    probes.push_back(std::make_unique<Probe>(loop.get(), target, random));
  }
}

ActiveChecker::ActiveChecker(std::vector<CheckTarget> targets) : impl_(std::make_unique<Impl>()) {
  for (auto& target : targets) {
    if (target.config != nullptr && target.status != nullptr) {
      impl_->targets.push_back(std::move(target));
    }
  }
}

ActiveChecker::~ActiveChecker() { stop(); }

void ActiveChecker::start(bool for_added_targets) {
  if ((impl_->targets.empty() && !for_added_targets) || impl_->thread.joinable()) return;
  impl_->loop = std::make_unique<net::EventLoop>();
  net::EventLoop* loop = impl_->loop.get();
  for (const auto& target : impl_->targets) {
    impl_->probes.push_back(std::make_unique<Probe>(loop, target, impl_->random));
  }
  // EventLoop::stop() is not thread-safe; stop() wakes the loop, which stops itself. The
  // eventfd stays readable until drained, so a stop() before run() starts is not lost.
  Impl* impl = impl_.get();
  loop->setWakeHandler([impl, loop] {
    if (impl->stopping.load()) return loop->stop();
    impl->applyChanges();
  });
  impl_->running.store(true);
  loop->wake();  // targets added before start() are picked up
  impl_->thread = std::thread([loop] {
    pthread_setname_np(pthread_self(), "sg-health");
    loop->run();
  });
}

void ActiveChecker::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stopping.store(true);
  impl_->running.store(false);
  impl_->loop->wake();
  impl_->thread.join();
  impl_->probes.clear();  // closes any connection of a check in flight
  impl_->retired.clear();
  impl_->loop.reset();
}

void ActiveChecker::add(CheckTarget target) {
  if (target.config == nullptr || target.status == nullptr) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->to_add.push_back(std::move(target));
  }
  if (impl_->running.load()) impl_->loop->wake();
}

void ActiveChecker::remove(const CheckStatus* status) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->to_remove.push_back(status);
  }
  if (impl_->running.load()) impl_->loop->wake();
}

}  // namespace sg::health

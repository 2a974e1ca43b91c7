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
  std::thread thread;
};

ActiveChecker::ActiveChecker(std::vector<CheckTarget> targets) : impl_(std::make_unique<Impl>()) {
  for (auto& target : targets) {
    if (target.config != nullptr && target.status != nullptr) {
      impl_->targets.push_back(std::move(target));
    }
  }
}

ActiveChecker::~ActiveChecker() { stop(); }

void ActiveChecker::start() {
  if (impl_->targets.empty() || impl_->thread.joinable()) return;
  impl_->loop = std::make_unique<net::EventLoop>();
  net::EventLoop* loop = impl_->loop.get();
  std::mt19937_64 random{std::random_device{}()};
  for (const auto& target : impl_->targets) {
    impl_->probes.push_back(std::make_unique<Probe>(loop, target, random));
  }
  // EventLoop::stop() is not thread-safe; stop() wakes the loop, which stops itself. The
  // eventfd stays readable until drained, so a stop() before run() starts is not lost.
  loop->setWakeHandler([loop] { loop->stop(); });
  impl_->thread = std::thread([loop] {
    pthread_setname_np(pthread_self(), "sg-health");
    loop->run();
  });
}

void ActiveChecker::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->loop->wake();
  impl_->thread.join();
  impl_->probes.clear();  // closes any connection of a check in flight
  impl_->loop.reset();
}

}  // namespace sg::health

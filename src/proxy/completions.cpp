#include "proxy/completions.h"

namespace sg::proxy {

uint64_t Completions::expect(CompletionWaiter* waiter) {
  const uint64_t ticket = next_ticket_++;
  waiters_[ticket] = waiter;
  return ticket;
}

void Completions::post(uint64_t ticket, uint64_t value) {
  {
    std::lock_guard lock(mutex_);
    posted_.emplace_back(ticket, value);
  }
  loop_.wake();
}

void Completions::deliver() {
  delivering_.clear();
  {
    std::lock_guard lock(mutex_);
    delivering_.swap(posted_);
  }
  for (auto [ticket, value] : delivering_) {
    auto it = waiters_.find(ticket);
    if (it == waiters_.end()) continue;  // the waiter gave up meanwhile
    CompletionWaiter* waiter = it->second;
    waiters_.erase(it);
    waiter->onCompletion(value);
  }
}

}  // namespace sg::proxy

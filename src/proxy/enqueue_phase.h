#pragma once
// An async route's last request phase (route key `async`, docs/async-routes.md): the request
// is read whole, stored as a job in the route's queue, and answered 202 Accepted once the
// job is on disk. Routing and rate limits ran before it, so a request that would be refused
// is refused at once. A stored request coming back for delivery (ClientConnection::delivery)
// passes through to the phases after this one (breaker, upstream). On a route with
// `callback`, X-Callback-Url is checked here (absolute http://, host in `allow`).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/phase.h"

namespace sg::proxy {

class Exchange;

class EnqueuePhase {
 public:
  explicit EnqueuePhase(Exchange& exchange) : ex_(exchange) {}
  Verdict run();
  // While the body is being read the exchange is paused: the client's bytes come here.
  bool readingBody() const { return state_ == State::kReadingBody; }
  Verdict onClientReadable();
  // The store's answer was posted to the worker (phase_list.cpp).
  Verdict onStored();
  // The pause timer: the client stopped sending its body, or the store did not answer.
  Verdict onTimeout();
  void reset();

 private:
  enum class State : uint8_t { kIdle, kReadingBody, kStoring };
  struct Answer;  // filled on the store's writer thread, read here after the completion

  Verdict readBody();
  Verdict store();
  Verdict answer();
  Verdict refuse(int status, int64_t retry_after_s);
  // 400 for an X-Callback-Url the route's `callback` does not accept (before the body).
  Verdict refuseCallback(std::string_view why);

  Exchange& ex_;
  State state_ = State::kIdle;
  std::string body_;
  std::shared_ptr<Answer> answer_;
};

}  // namespace sg::proxy

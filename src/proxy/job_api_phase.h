#pragma once
// The job API of async routes (docs/async-routes.md): on a listener with an async route,
// GET /jobs/{id} (state, attempts, times, last error), GET /jobs/{id}/result (the stored
// upstream response) and DELETE /jobs/{id} (cancels a queued job). The gateway answers
// them itself; the store's calls run on a queue's dispatcher thread (they may wait for a
// commit), and the answer comes back to the worker as a completion.
#include <memory>
#include <string>

#include "proxy/phase.h"

namespace sg::proxy {

class Exchange;

// The prefix the job API takes on a listener with an async route.
inline constexpr std::string_view kJobsPrefix = "/jobs/";

class JobApiPhase {
 public:
  explicit JobApiPhase(Exchange& exchange) : ex_(exchange) {}
  Verdict run();
  Verdict onAnswered();  // the lookup's answer was posted to the worker
  Verdict onTimeout();
  void reset() { answer_.reset(); }

  struct Answer {
    int status = 0;
    std::string body;          // JSON
    std::string extra_header;  // a whole header line (Allow, Retry-After), or empty
  };

 private:
  Verdict reply(int status, std::string body, std::string extra_header = {});

  Exchange& ex_;
  std::shared_ptr<Answer> answer_;
};

}  // namespace sg::proxy

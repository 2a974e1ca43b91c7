#include "proxy/job_api_phase.h"

#include <boost/json.hpp>

#include "proxy/async_queue.h"
#include "proxy/exchange.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"
#include "queue/job_json.h"

namespace sg::proxy {

namespace {

constexpr int64_t kLookupTimeoutMs = 30'000;  // a store stuck on its disk

enum class Operation : uint8_t { kStatus, kResult, kCancel };

std::string errorJson(std::string_view message) {
  return boost::json::serialize(boost::json::object{{"error", message}});
}

JobApiPhase::Answer storeFailure(const queue::StoreError& error) {
  return {503, errorJson("job store unavailable: " + error.message), "Retry-After: 5\r\n"};
}

bool ended(queue::JobState state) {
  return state == queue::JobState::kSucceeded || state == queue::JobState::kFailed ||
         state == queue::JobState::kDead;
}

// A fan-out's head answers for its group (docs/async-routes.md, "Fan-out").
JobApiPhase::Answer answerForGroup(queue::JobStore& store, const queue::Job& head,
                                   std::vector<queue::Job>& members, Operation operation) {
  switch (operation) {
    case Operation::kStatus:
      return {200, boost::json::serialize(queue::fanOutStatusJson(head, members)), {}};
    case Operation::kResult:
      return {200, boost::json::serialize(queue::fanOutResultJson(members)), {}};
    case Operation::kCancel:
      break;
  }
  size_t cancelled = 0;
  for (const queue::Job& member : members) {
    if (member.state != queue::JobState::kQueued) continue;
    auto done = store.cancel(member.id);
    if (done.ok()) ++cancelled;
    if (!done.ok() && done.error().kind != queue::ErrorKind::kWrongState)
      return storeFailure(done.error());
  }
  auto now = store.group(head.id);
  if (!now.ok()) return storeFailure(now.error());
  if (cancelled == 0) {
    boost::json::object body{{"error", "no member of the fan-out job is queued"},
                             {"state", queue::jobStateName(queue::fanOutState(now.value()))}};
    return {409, boost::json::serialize(body), {}};
  }
  return {200, boost::json::serialize(queue::fanOutStatusJson(head, now.value())), {}};
}

JobApiPhase::Answer answerFor(queue::JobStore& store, const queue::Job& job, Operation operation,
                              const std::string& id) {
  if (job.group_seq != 0 && job.group_seq == queue::parseJobId(id)->seq) {
    auto members = store.group(id);
    if (!members.ok()) return storeFailure(members.error());
    if (!members.value().empty()) return answerForGroup(store, job, members.value(), operation);
  }
  switch (operation) {
    case Operation::kStatus:
      return {200, boost::json::serialize(queue::jobStatusJson(job)), {}};
    case Operation::kResult: {
      auto result = store.result(id);
      if (!result.ok()) return storeFailure(result.error());
      if (!result.value()) {
        boost::json::object body{{"error", "the job has no result"},
                                 {"state", queue::jobStateName(job.state)}};
        return {404, boost::json::serialize(body), ended(job.state) ? "" : "Retry-After: 1\r\n"};
      }
      return {200, boost::json::serialize(queue::jobResultJson(*result.value())), {}};
    }
    case Operation::kCancel: {
      auto cancelled = store.cancel(id);
      if (!cancelled.ok()) {
        if (cancelled.error().kind != queue::ErrorKind::kWrongState)
          return storeFailure(cancelled.error());
        boost::json::object body{{"error", "only a queued job can be cancelled"},
                                 {"state", queue::jobStateName(job.state)}};
        return {409, boost::json::serialize(body), {}};
      }
      auto now = store.get(id);
      if (!now.ok()) return storeFailure(now.error());
      return {200, boost::json::serialize(queue::jobStatusJson(now.value())), {}};
    }
  }
  return {500, errorJson("unknown operation"), {}};
}

// On a dispatcher thread: the job is in at most one of the listener's queues (its id's
// random part decides; a made-up id is in none).
JobApiPhase::Answer lookUp(const std::vector<AsyncQueue*>& queues, const std::string& id,
                           Operation operation) {
  for (AsyncQueue* queue : queues) {
    auto job = queue->store().get(id);
    if (job.ok()) return answerFor(queue->store(), job.value(), operation, id);
    if (job.error().kind != queue::ErrorKind::kNotFound) return storeFailure(job.error());
  }
  return {404, errorJson("no such job"), {}};
}

}  // namespace

Verdict JobApiPhase::run() {
  const http::RequestHead& request = ex_.request;
  std::string_view rest = request.path.substr(kJobsPrefix.size());
  Operation operation = Operation::kStatus;
  std::string_view id = rest;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    id = rest.substr(0, slash);
    if (rest.substr(slash) != "/result") return reply(404, errorJson("no such job resource"));
    operation = Operation::kResult;
  }
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (operation == Operation::kStatus && request.method == "DELETE") operation = Operation::kCancel;
  if (!read && operation != Operation::kCancel) {
    return reply(
        405, errorJson("method not allowed"),
        operation == Operation::kResult ? "Allow: GET, HEAD\r\n" : "Allow: GET, HEAD, DELETE\r\n");
  }
  if (!queue::isJobId(id)) return reply(404, errorJson("no such job"));
  answer_ = std::make_shared<Answer>();
  const uint64_t ticket = ex_.expectCompletion();
  Completions* completions = &ex_.worker->completions();
  const std::vector<AsyncQueue*>& queues = ex_.listener->queues;
  queues.front()->post(
      [answer = answer_, completions, ticket, &queues, id = std::string(id), operation] {
        *answer = lookUp(queues, id, operation);
        completions->post(ticket, 1);
      });
  ex_.armPauseTimer(kLookupTimeoutMs);
  return Verdict::kPause;
}

Verdict JobApiPhase::onAnswered() {
  if (!answer_) return Verdict::kPause;
  Answer answer = std::move(*answer_);
  answer_.reset();
  return reply(answer.status, std::move(answer.body), std::move(answer.extra_header));
}

Verdict JobApiPhase::onTimeout() {
  answer_.reset();
  return reply(503, errorJson("job store did not answer"), "Retry-After: 5\r\n");
}

Verdict JobApiPhase::reply(int status, std::string body, std::string extra_header) {
  ex_.consumeHead();
  ex_.extra_headers.append(extra_header);
  ex_.extra_headers.append("Cache-Control: no-store\r\n");
  ex_.respond(status, "application/json", body, ex_.request.body != http::BodyKind::kNone);
  return Verdict::kAnswered;
}

}  // namespace sg::proxy

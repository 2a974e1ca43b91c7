#include "proxy/enqueue_phase.h"

#include <boost/json.hpp>

#include "proxy/async_queue.h"
#include "proxy/client_connection.h"
#include "proxy/exchange.h"
#include "proxy/router.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

// The store answers within a commit (milliseconds); this only bounds a stuck disk.
constexpr int64_t kStoreTimeoutMs = 30'000;

}  // namespace

struct EnqueuePhase::Answer {
  queue::Job job;  // built before the head leaves the client's buffer (the views die with it)
  queue::EnqueueOutcome outcome;
};

Verdict EnqueuePhase::run() {
  if (ex_.client->delivery()) return Verdict::kContinue;  // stored earlier: deliver it
  const http::RequestHead& request = ex_.request;
  answer_ = std::make_shared<Answer>();
  queue::StoredRequest& stored = answer_->job.request;
  stored.method = std::string(request.method);
  stored.target = std::string(request.target);
  const auto& callback = ex_.route->config->async->callback;
  size_t callback_urls = 0;
  std::string_view callback_url;
  for (const http::Header& header : request.headers) {
    // The client's address and the callback route are the gateway's to state.
    if (equalsIgnoreCase(header.name, kClientIpField) ||
        equalsIgnoreCase(header.name, kCallbackRouteField))
      continue;
    if (callback && equalsIgnoreCase(header.name, queue::kCallbackUrlField)) {
      ++callback_urls;
      callback_url = header.value;
    }
    if (equalsIgnoreCase(header.name, "Idempotency-Key") && !answer_->job.idempotency_key)
      answer_->job.idempotency_key = std::string(header.value);
    stored.headers.push_back({std::string(header.name), std::string(header.value)});
  }
  stored.headers.push_back({std::string(kClientIpField), ex_.client->ip()});
  if (callback_urls > 0) {
    // Refused before the body is read: nothing is stored.
    if (callback_urls > 1) return refuseCallback("X-Callback-Url must be given at most once");
    if (auto why = queue::checkCallbackUrl(callback_url, callback->allow))
      return refuseCallback(*why);
    stored.headers.push_back({std::string(kCallbackRouteField), ex_.route->config->name});
  }
  const bool has_body = request.body != http::BodyKind::kNone;
  const bool expect_continue = request.expect_continue;
  ex_.consumeHead();
  // Dechunked in place: the stored body is the payload, delivered with a Content-Length.
  ex_.request_body.start(request.body, request.content_length, true);
  body_.clear();
  state_ = State::kReadingBody;
  if (expect_continue && has_body && ex_.input().empty()) {
    ex_.to_client.head().append("HTTP/1.1 100 Continue\r\n\r\n");
    ex_.flushClient();
    if (ex_.state() == Exchange::State::kFree) return Verdict::kAnswered;  // the client left
  }
  return readBody();
}

Verdict EnqueuePhase::onClientReadable() {
  if (state_ != State::kReadingBody) return Verdict::kPause;
  return readBody();
}

// Takes what the client's buffer holds and reads more until the body is whole.
Verdict EnqueuePhase::readBody() {
  net::Buffer& input = ex_.input();
  const uint64_t max_body = ex_.listener->config->max_body_size;
  bool bytes_came = false;
  for (;;) {
    size_t bytes = 0;
    const auto result = ex_.request_body.scan(&input, 0, &bytes);
    if (result == BodyFramer::Result::kError) {
      ex_.countReject(0, RejectReason::kBadChunk);
      return refuse(400, 0);
    }
    if (max_body != 0 && ex_.request_body.wireBytes() > max_body) {
      ex_.countReject(0, RejectReason::kBodyTooLarge);
      return refuse(413, 0);
    }
    body_.append(input.data(), bytes);
    input.consume(bytes);
    if (result == BodyFramer::Result::kDone) return store();
    if (!ex_.client->readClient()) {
      if (ex_.clientEof()) {  // the client gave up mid-body: nothing is stored
        state_ = State::kIdle;
        ex_.closeClient();
        return Verdict::kAnswered;
      }
      if (ex_.state() == Exchange::State::kFree) return Verdict::kAnswered;
      // request_body_timeout runs from the last bytes that came, not from the last event.
      if (bytes_came || !ex_.pauseTimerArmed())
        ex_.armPauseTimer(ex_.listener->config->request_body_timeout.count());
      return Verdict::kPause;
    }
    bytes_came = true;
  }
}

Verdict EnqueuePhase::store() {
  state_ = State::kStoring;
  answer_->job.request.body = std::move(body_);
  body_ = {};
  const uint64_t ticket = ex_.expectCompletion();
  Completions* completions = &ex_.worker->completions();
  queue::Job job = std::move(answer_->job);
  job.fanout = ex_.route->config->async->fanout;  // empty unless the route fans out
  ex_.route->queue->enqueue(
      std::move(job), [answer = answer_, completions, ticket](queue::EnqueueOutcome outcome) {
        answer->outcome = std::move(outcome);
        completions->post(ticket, 1);  // the post's lock orders the write above before the read
      });
  ex_.armPauseTimer(kStoreTimeoutMs);
  return Verdict::kPause;
}

Verdict EnqueuePhase::onStored() {
  if (state_ != State::kStoring) return Verdict::kPause;
  return answer();
}

Verdict EnqueuePhase::answer() {
  state_ = State::kIdle;
  const queue::EnqueueOutcome& outcome = answer_->outcome;
  if (!outcome.ok()) {
    const queue::StoreError& error = *outcome.error;
    if (error.kind == queue::ErrorKind::kFull) return refuse(503, 1);
    return refuse(503, error.retry_later ? 5 : 30);
  }
  boost::json::object body{{"id", outcome.id}, {"location", "/jobs/" + outcome.id}};
  if (outcome.existing) body["existing"] = true;  // the Idempotency-Key's earlier job
  ex_.extra_headers.append("Location: /jobs/").append(outcome.id).append("\r\nRetry-After: 1\r\n");
  ex_.respond(202, "application/json", boost::json::serialize(body), false);
  return Verdict::kAnswered;
}

Verdict EnqueuePhase::onTimeout() {
  if (state_ == State::kReadingBody) {
    ex_.countReject(0, RejectReason::kBodyTimeout);
    return refuse(408, 0);
  }
  // The job may still be committed after this 503: a client that retries with its
  // Idempotency-Key gets that job rather than a second one.
  if (state_ == State::kStoring) return refuse(503, 5);
  return Verdict::kPause;
}

Verdict EnqueuePhase::refuseCallback(std::string_view why) {
  state_ = State::kIdle;
  answer_.reset();
  const std::string body = boost::json::serialize(boost::json::object{{"error", why}});
  const bool has_body = ex_.request.body != http::BodyKind::kNone;
  ex_.consumeHead();
  // The body is left unread: the connection closes after the answer.
  ex_.respond(400, "application/json", body, has_body);
  return Verdict::kAnswered;
}

Verdict EnqueuePhase::refuse(int status, int64_t retry_after_s) {
  state_ = State::kIdle;
  if (retry_after_s > 0)
    ex_.extra_headers.append("Retry-After: ").append(std::to_string(retry_after_s)).append("\r\n");
  // A body left unread (413, 400, 408) closes the connection: its bytes are not a request.
  ex_.reject(status, !ex_.request_body.done());
  return Verdict::kAnswered;
}

void EnqueuePhase::reset() {
  state_ = State::kIdle;
  body_ = {};
  answer_.reset();
}

}  // namespace sg::proxy

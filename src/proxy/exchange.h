#pragma once
// One request and its response, from the request head's first byte until the response has
// been sent (docs/life-of-a-request.md). Exchanges come from the worker's pool and go back
// to it when they end, so a keep-alive connection between requests holds none. The fields
// below are the context every phase shares; each phase keeps its own state in `phases`.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cache/cached_response.h"
#include "http/message.h"
#include "http/parser.h"
#include "net/buffer.h"
#include "net/timer.h"
#include "proxy/body_framer.h"
#include "proxy/completions.h"
#include "proxy/head_writer.h"
#include "proxy/phase_list.h"
#include "proxy/pipe.h"
#include "proxy/request_id.h"

namespace sg::proxy {

class ClientConnection;
class Worker;
struct LocalResponse;
struct Route;
struct SharedListener;
enum class RejectReason : uint8_t;

class Exchange final : public net::TimerHandler, public CompletionWaiter {
 public:
  enum class State : uint8_t {
    kFree,           // in the worker's pool
    kReadingHead,    // a request head has begun; waiting for the rest of it
    kRequestPhases,  // the route's request phases are running
    kPaused,         // a request phase waits for an event (timer, socket, completion)
    kConnecting,     // waiting for an upstream connection (or a retry's backoff)
    kForwarding,     // request body and/or response streaming
    kTunnel,         // after 101 Switching Protocols: raw bytes both ways
    kResponded,      // a response the gateway wrote whole (local, cached) is being sent
  };

  explicit Exchange(Worker* worker);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Life cycle, driven by the client connection (client_connection.cpp).
  void begin(ClientConnection* connection, SharedListener* on_listener);
  void end();  // releases everything; the exchange is back to kFree
  State state() const { return state_; }
  // Parses the buffered request head; false while it is incomplete. A complete head runs
  // the pipeline; a malformed one is answered.
  bool parseHead();
  // A request head refused before it ran: `error` is answered (400, 431, 505) and counted,
  // and the connection closes after the answer.
  void rejectHead(http::ParseError error);
  void onClientEvents(uint32_t events);
  void headTimedOut();  // request_head_timeout: 408
  // request_body_timeout, while the request body is relayed: awaitBody() when more body
  // bytes are wanted and none are buffered (a timer already running keeps its deadline),
  // stopBodyTimer() when bytes came or the gateway stopped reading the body.
  void awaitBody();
  void stopBodyTimer() { body_timer_.cancel(); }

  // Events for a paused phase or a retry's backoff.
  void onTimer(net::Timer* timer) override;
  void onCompletion(uint64_t value) override;
  // Called by the upstream connection carrying this exchange's request.
  void onUpstreamConnected() { phases.upstream.onConnected(); }
  void onUpstreamConnectFailed(bool timed_out) { phases.upstream.onConnectFailed(timed_out); }
  void onUpstreamEvents(uint32_t events);
  void onUpstreamTimeout();

  // For the phases.
  void runRequestPhases(size_t from);
  void armPauseTimer(int64_t duration_ms);
  bool pauseTimerArmed() const { return pause_timer_.armed(); }
  uint64_t expectCompletion();
  void forgetCompletion(uint64_t ticket);
  void setState(State next);
  // Answers from the gateway itself; the connection stays open only when the request was
  // fully consumed (no body left unread) and nothing asks to close it.
  void reject(int status, bool close_connection);
  // The same with a body of the gateway's own (job API, 202 of an async route).
  void respond(int status, std::string_view content_type, std::string_view body,
               bool close_connection);
  void countReject(int parse_error, RejectReason reason);
  // Takes the request head out of the client's buffer (before a local answer).
  void consumeHead();
  // After a response the gateway wrote whole: send it, then close or read the next request.
  void endResponse(bool must_close);
  void flushClient();
  // Where the client's response head goes (head_writer.h): to_client's head as text, or
  // fields to the client's HTTP/2 stream.
  ClientHead clientHead();
  Pipe::Flush sendToClient(net::Buffer* source);
  void pumpResponse();
  void closeClient();
  net::Buffer& input();
  bool clientEof() const;
  bool refresh() const;
  const std::string& clientIp() const;
  int64_t nowMs() const;

  Worker* const worker;
  SharedListener* listener = nullptr;
  ClientConnection* client = nullptr;
  http::RequestHead request;
  http::ResponseHead response;
  const Route* route = nullptr;
  Pipe to_client;
  BodyFramer request_body;
  BodyFramer response_body;
  std::string extra_headers;  // header lines the gateway adds to this response
  std::string_view generated_id;
  int client_minor = 1;
  int status = 0;
  bool local_answer = false;  // status is the gateway's own (reject), not an upstream's
  int64_t started_us = 0;
  bool request_is_head = false;
  bool request_upgrade = false;
  bool close_after = false;  // close the client connection after this response
  bool response_head_done = false;
  bool response_started = false;
  bool dechunk = false;  // the response's chunk framing is removed on the way to the client
  // A stored response whose body the client pipe is sending (kept until the pipe is idle).
  std::shared_ptr<const cache::CachedResponse> serving;
  Phases phases{*this};

 private:
  void answerLocally(int status, bool close_connection, const LocalResponse* with_body);
  void startPipeline();
  void resumeWith(Verdict verdict);
  void finish();
  void upstreamEnded();
  void bodyTimedOut();
  enum class HeadStep : uint8_t {
    kIncomplete,  // more bytes are needed
    kHandled,     // a head was consumed (a 1xx relayed, or the final head); bytes may follow
    kStop,        // the exchange ended or moved on (error, retry, tunnel, cached answer)
  };
  HeadStep handleResponseHead();
  bool startResponse();

  State state_ = State::kFree;
  size_t phase_at_ = 0;  // the request phase running or paused
  uint64_t ticket_ = 0;  // the completion a paused phase waits for
  net::Timer pause_timer_{this};
  net::Timer body_timer_{this};  // request_body_timeout while the body is relayed
  char request_id_buffer_[RequestIdGenerator::kLength] = {};
};

}  // namespace sg::proxy

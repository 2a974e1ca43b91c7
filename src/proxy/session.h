#pragma once
// A client connection and the exchange it is carrying. The request life cycle
// (docs/life-of-a-request.md): read head → parse → route → pick server → connect or
// reuse → send head and stream body → read response head → stream body → log → next.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/fill_locks.h"
#include "compress/compressor.h"
#include "config/config.h"
#include "http/message.h"
#include "net/buffer.h"
#include "net/event_loop.h"
#include "net/timer.h"
#include "proxy/body_framer.h"
#include "proxy/cache_state.h"
#include "proxy/head_writer.h"
#include "proxy/pipe.h"
#include "proxy/request_id.h"
#include "resilience/circuit_breaker.h"

namespace sg::proxy {

class UpstreamConn;
class Worker;
struct Route;
struct SharedListener;
struct SharedLimit;
enum class RejectReason : uint8_t;

// How one try at an upstream failed, for the retry policy (retries.on).
enum class TryFailure : uint8_t { kConnectFailure, kRefused, kReset, kTimeout, kStatus };

class Session final : public net::EventHandler, public net::TimerHandler, public net::Disposable {
 public:
  enum class State : uint8_t {
    kReadingHead,      // waiting for a request head (idle or request_head_timeout armed)
    kWaitingForCache,  // a miss waiting for another request's fetch of the same key
    kConnecting,       // request accepted; waiting for an upstream connection
    kForwarding,       // request body and/or response streaming
    kTunnel,           // after 101 Switching Protocols: raw bytes both ways
    kClosing,          // flushing a last response, then close
    kLingering,        // response sent, write side shut: unread client bytes are dropped
    kClosed,
  };

  Session(Worker* worker, SharedListener* listener, int fd);
  ~Session() override;

  void start();
  void onEvents(uint32_t events) override;
  void onTimer(net::Timer* timer) override;

  // Called by the upstream connection carrying this session's request.
  void onUpstreamConnected();
  void onUpstreamConnectFailed(int error_code, bool timed_out);
  void onUpstreamEvents(uint32_t events);
  void onUpstreamTimeout();

  // The fetch this session waited for ended (Worker::resumeFillWaiters).
  void onFillDone(cache::FillLocks::Outcome outcome);
  // Runs one cacheable GET without a client (Worker::startRefresh).
  void startRefresh(std::string request_head, std::string client_ip, std::string key);

  // Worker is draining: close now when idle, else after the current response.
  void drain();
  // Closes the connection now (shutdown after the drain limit).
  void abort() { close(); }

  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  void setState(State next);
  // client side (session.cpp)
  void processInput();
  bool readClient();
  bool handleHead();
  void startExchange(const http::RequestHead& request);
  bool acceptTarget();
  void forwardRequest(const http::RequestHead& request);
  void writeUpstreamHead(const http::RequestHead& request);
  void rememberForLog(const http::RequestHead& request);
  void reject(int status, bool close_connection);
  void overflow();
  void countReject(int parse_error, RejectReason reason);
  void flushClient();
  Pipe::Flush sendToClient(net::Buffer* source);
  void endResponse(bool must_close);
  void finishExchange();
  void resetExchange();
  void record(int status);
  void close();
  void closeAfterResponse();
  void discardClientInput();
  // upstream side (session_upstream.cpp)
  void connectUpstream();
  void attachUpstream(UpstreamConn* connection);
  void detachUpstream();
  void closeUpstream();
  void releaseUpstream(bool reusable);
  void pumpRequest();
  bool acceptRequestBody();
  void upstreamBroken();
  void resendOnFreshConnection();
  bool readUpstream();
  void pumpResponse();
  void upstreamEnded();
  // What handling the buffered response head did.
  enum class HeadStep : uint8_t {
    kIncomplete,  // more bytes are needed
    kHandled,     // a head was consumed (a 1xx relayed, or the final head); bytes may follow
    kStop,        // the exchange ended or moved on (error, retry, tunnel, cached answer)
  };
  HeadStep handleResponseHead();
  bool startResponse();
  void startUpgrade();
  void startTunnel();
  void pumpTunnel();
  int pickServer();
  bool stickyUsable(size_t server) const;
  void chooseHashKey(const http::RequestHead& request);
  // protection (session_protect.cpp)
  std::string_view limitKey(const SharedLimit& limit, const http::RequestHead& request) const;
  uint32_t checkLimit(SharedLimit& limit, const http::RequestHead& request, int64_t now_us);
  bool checkRateLimits(const http::RequestHead& request);
  bool admitToUpstream(const http::RequestHead& request);
  void settleBreaker(std::optional<resilience::Outcome> outcome);
  void releaseSlots();
  bool takeRetrySlot();
  bool takePendingSlot();
  void releasePendingSlot();
  // compression (session_compress.cpp)
  void negotiateEncoding(const http::RequestHead& request);
  void decideCompression(ClientResponseContext* context);
  bool takeResponseBody();
  bool compressionEndPending() const;
  bool compressBody(size_t payload_bytes);
  bool flushCompressedStream();
  bool emitCompressed(std::string_view input, bool end, bool flush);
  void frameChunk(size_t header_at, size_t produced);
  void releaseCompressor();
  // caching (session_cache.cpp)
  bool consultCache(const http::RequestHead& request);
  bool startCacheExchange(const http::RequestHead& request);
  bool useStoredResponse(const http::RequestHead& request);
  bool claimFill();
  void onFillWaitTimeout();
  void releaseFill(cache::FillLocks::Outcome outcome);
  void endCacheExchange(cache::FillLocks::Outcome outcome);
  void refreshInBackground(const http::RequestHead& request);
  void serveFromCache(std::shared_ptr<const cache::CachedResponse> entry, CacheResult result);
  void serveCached(std::shared_ptr<const cache::CachedResponse> entry, CacheResult result);
  void writeCachedHead(const cache::CachedResponse& stored, bool with_body);
  bool compressCachedBody(std::string_view body);
  bool serveStaleOnError();
  bool interceptCachedResponse();
  void freshenStored();
  void prepareStore(bool dechunked);
  void captureForStore(std::string_view body_bytes);
  void finishStore();
  void dropStore();
  void invalidateAfterUnsafe();
  void announceCacheResult();
  void countRevalidation(RevalidationResult result);
  // retries (session_retry.cpp)
  bool retryBudgetAllows(const config::RetryPolicy& policy);
  bool shouldRetry(TryFailure failure, int status);
  void scheduleRetry();
  void onBackoffElapsed();
  void keepForReplay(size_t body_bytes);
  void recordOutlier(int status);
  void endRetryAccounting();
  int64_t tryTimeoutMs() const;
  void rearmUpstreamTimer();

  Worker* worker_;
  SharedListener* listener_;
  int fd_;
  State state_ = State::kReadingHead;
  net::Timer timer_;
  net::Buffer input_;
  Pipe to_client_;
  Pipe to_upstream_;
  bool client_readable_ = false;
  bool client_writable_ = true;
  bool client_eof_ = false;
  bool client_peer_closed_ = false;  // EPOLLRDHUP seen: a short read is not "drained"
  bool processing_input_ = false;
  bool head_timer_armed_ = false;   // request_head_timeout runs from a head's first byte
  int64_t linger_deadline_ms_ = 0;  // kLingering ends by then at the latest
  std::string client_ip_;

  // The exchange in flight.
  http::RequestHead request_;
  std::string normalized_path_;  // request_.path when normalising changed it
  http::ResponseHead response_;
  const Route* route_ = nullptr;
  UpstreamConn* upstream_ = nullptr;
  std::vector<uint8_t> tried_;  // servers tried for this request
  BodyFramer request_body_;
  BodyFramer response_body_;
  bool response_head_done_ = false;
  bool upstream_eof_ = false;
  bool retried_ = false;
  bool last_timed_out_ = false;  // the last connect attempt timed out (→ 504, not 502)
  bool counted_active_ = false;
  bool request_upgrade_ = false;
  int client_minor_ = 1;
  bool request_is_head_ = false;
  bool retryable_ = false;    // idempotent and bodiless: may be re-sent after a stale reuse
  bool close_after_ = false;  // close the client connection after this response
  bool response_started_ = false;
  int status_ = 0;
  int64_t started_us_ = 0;
  char request_id_buffer_[RequestIdGenerator::kLength] = {};
  std::string_view generated_id_;
  // Retries, hashing and stickiness for the exchange in flight.
  uint32_t attempts_ = 0;         // retries made
  size_t request_head_size_ = 0;  // bytes of to_upstream_.head() that are the request head
  std::string replay_body_;       // body bytes kept for a retry (within retry_buffer_limit)
  bool replayable_ = true;
  bool idempotent_ = false;
  bool retry_counted_ = false;    // counted in the upstream's active_retries
  bool counted_request_ = false;  // counted in the upstream's active_requests
  bool backoff_pending_ = false;  // timer_ is waiting out a retry backoff
  bool tried_reset_ = false;      // every server was tried; a retry may reuse one
  bool has_hash_ = false;
  uint64_t hash_ = 0;
  int sticky_server_ = -1;  // server named by the sticky cookie, if valid
  // Protection state of the exchange in flight.
  resilience::Permit permit_;
  bool breaker_pending_ = false;     // permit_ awaits an outcome
  bool holds_request_slot_ = false;  // circuit_breaker.max_requests
  bool holds_pending_slot_ = false;  // circuit_breaker.max_pending
  bool holds_retry_slot_ = false;    // circuit_breaker.max_retries
  std::string limit_policy_;         // RateLimit-Policy members (capacity kept between requests)
  std::string limit_state_;          // RateLimit members
  std::string extra_headers_;
  compress::Encoding accepted_encoding_ = compress::Encoding::kIdentity;
  std::unique_ptr<compress::Compressor> compressor_;  // set while this response is compressed
  std::unique_ptr<net::Buffer> compressed_;           // compressed body waiting to be sent
  // Caching state of the exchange in flight, and the stored response whose body the
  // client pipe is sending (kept until the pipe is idle).
  CacheExchange cache_;
  std::shared_ptr<const cache::CachedResponse> serving_;
  bool refresh_ = false;  // a background refresh: no client, the response goes nowhere
  std::string_view log_server_;
  std::string log_method_;
  std::string log_path_;
  std::string log_request_id_;
};

}  // namespace sg::proxy

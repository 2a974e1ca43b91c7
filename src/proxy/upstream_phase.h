#pragma once
// The last request phase: the upstream head is written, a server picked (sticky cookie,
// then the worker's balancer), a pooled connection taken or a new one made (failover to the
// next server on connect errors), and the request body streamed to it.
#include <cstdint>
#include <vector>

#include "proxy/phase.h"
#include "proxy/pipe.h"

namespace sg::proxy {

class Exchange;
class UpstreamConn;

class UpstreamPhase {
 public:
  explicit UpstreamPhase(Exchange& exchange) : ex_(exchange) {}

  Verdict forward();
  // Picks the next server and connects (or takes a pooled connection); answers 502/504
  // when no server is left.
  void connect();
  void onConnected();
  void onConnectFailed(bool timed_out);
  void onTimeout();
  // Sends the request head and the body as it arrives from the client.
  void pumpRequest();
  // The connection died before a response head (reset on write, or EOF).
  void broken();
  // Reads from the upstream into its buffer; false when nothing was read (drained or EOF).
  bool read();
  void rearmTimer();
  void close() {
    if (connection_ != nullptr) closeConnection();
  }
  // The exchange with the upstream succeeded: the connection goes back to the pool if it
  // can carry another request.
  void release(bool reusable);
  // The retry's restart: the head and the replayed body go out again on the next try.
  void restartForRetry(std::string_view replay);
  // The same request again on the next connection, without the last `added` header bytes.
  void resendWithout(size_t added);

  UpstreamConn* connection() const { return connection_; }
  Pipe& pipe() { return to_upstream_; }
  bool eof() const { return eof_; }
  int stickyServer() const { return sticky_server_; }
  void reset();

 private:
  void closeConnection();
  bool acceptRequestBody();
  void resendOnFreshConnection();
  void attach(UpstreamConn* connection);
  void detach();
  int pickServer();
  bool stickyUsable(size_t server) const;
  void chooseHashKey();
  void writeHead();

  Exchange& ex_;
  UpstreamConn* connection_ = nullptr;
  Pipe to_upstream_;
  std::vector<uint8_t> tried_;    // servers tried for this request
  size_t request_head_size_ = 0;  // bytes of to_upstream_.head() that are the request head
  bool eof_ = false;
  bool counted_active_ = false;
  bool resent_ = false;          // resent once after a stale pooled connection
  bool last_timed_out_ = false;  // the last connect attempt timed out (→ 504, not 502)
  bool retryable_ = false;       // idempotent and bodiless: may be re-sent after a stale reuse
  bool has_hash_ = false;
  uint64_t hash_ = 0;
  int sticky_server_ = -1;  // server named by the sticky cookie, if valid
};

}  // namespace sg::proxy

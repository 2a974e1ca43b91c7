#pragma once
// One server's active health check on the checker thread (see active_checker.h).
#include <cstdint>
#include <random>
#include <string>

#include "health/active_checker.h"
#include "http/message.h"
#include "net/event_loop.h"
#include "net/stream.h"
#include "net/timer.h"
#include "net/tls.h"

namespace sg::health {

// One checked server: its timers, its connection while a check runs, and its rise/fall.
// Lives on the checker thread; every method runs there. The first check is due at a random
// point of the first interval; then one starts every interval, whatever the previous one is
// doing (one still running after `timeout` is counted as timed out first).
class Probe final : public net::EventHandler, public net::TimerHandler {
 public:
  Probe(net::EventLoop* loop, const CheckTarget& target, std::mt19937_64& random);
  ~Probe() { closeConnection(); }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // The status it writes (which target it is), and stop(): no more checks (removed target).
  const CheckStatus* status() const { return target_.status; }
  void stop();

  void onEvents(uint32_t events) override;
  void onTimer(net::Timer* timer) override;

 private:
  enum class State { kIdle, kConnecting, kHandshaking, kSending, kReading };

  void startCheck();
  void onConnectEvent(uint32_t events);
  void startHandshake();
  void stepHandshake();
  // Connected (and, with TLS, handshaken): a tcp check passes, an http check sends.
  void onConnected();
  void sendRequest();
  void readResponse();
  // Parses what has arrived; returns true when the check finished.
  bool evaluateResponse();
  void finish(bool passed, const std::string& reason);
  void closeConnection();
  std::string ioError() const;  // why the last read or write failed

  net::EventLoop* loop_;
  CheckTarget target_;
  int64_t interval_ms_;
  int64_t timeout_ms_;
  int64_t started_ms_ = 0;  // loop time the check in flight started
  RiseFall rise_fall_;
  net::Timer interval_timer_{this};
  net::Timer timeout_timer_{this};
  State state_ = State::kIdle;
  net::Stream stream_;
  net::TlsSessionCache tls_sessions_;  // checks resume the previous check's TLS session
  std::string request_;
  size_t sent_ = 0;
  std::string response_;
  http::ResponseHead head_;
};

}  // namespace sg::health

#pragma once
// A connection to one upstream server, owned by one worker. While an exchange uses it, its
// events go to that exchange; while idle it waits in the worker's keep-alive pool, where
// any input or hang-up means the server closed it and it is dropped.
#include <cstdint>

#include "net/buffer.h"
#include "net/event_loop.h"
#include "net/stream.h"
#include "net/timer.h"

namespace sg::proxy {

class Exchange;
class Worker;
struct SharedServer;
struct SharedUpstream;

class UpstreamConn final : public net::EventHandler,
                           public net::TimerHandler,
                           public net::Disposable {
 public:
  enum class State : uint8_t {
    kConnecting,   // non-blocking connect in progress (connect_timeout armed)
    kHandshaking,  // upstream `tls`: TLS handshake in progress (still within connect_timeout)
    kActive,       // carrying an exchange's request (response_timeout armed while waiting)
    kIdle,         // in the keep-alive pool (keepalive_timeout armed)
    kClosed,       // fd closed; waiting to be disposed after the event batch
  };

  UpstreamConn(Worker* worker, SharedUpstream* upstream, SharedServer* server, int fd);
  ~UpstreamConn() override;

  void onEvents(uint32_t events) override;
  void onTimer(net::Timer* timer) override;

  // The single place where the state changes.
  void setState(State next, Exchange* exchange);
  void close();

  State state() const { return state_; }
  int fd() const { return stream_.fd(); }
  net::Stream& stream() { return stream_; }
  SharedServer* server() const { return server_; }
  SharedUpstream* upstream() const { return upstream_; }
  net::Timer& timer() { return timer_; }
  net::Buffer& input() { return input_; }
  bool reused() const { return reused_; }

  bool readable = false;
  bool writable = false;
  // The peer has shut down its side (EPOLLRDHUP/EPOLLHUP). A short read then does NOT mean
  // "drained": the FIN came with the data, so no further edge will announce it.
  bool peer_closed = false;
  bool holds_connection_slot = false;  // counted against circuit_breaker.max_connections

 private:
  void onIdleEvent(uint32_t events);
  void onConnectEvent(uint32_t events);
  // Upstream `tls`: starts the handshake on the connected socket, then steps it on events.
  void startHandshake();
  void stepHandshake();
  // A connect or handshake failure goes to the exchange as a failed connect (retries,
  // passive health and the breaker count it).
  void failConnect(bool timed_out);

  Worker* worker_;
  SharedUpstream* upstream_;
  SharedServer* server_;
  net::Stream stream_;
  State state_ = State::kConnecting;
  Exchange* exchange_ = nullptr;
  bool reused_ = false;  // it has carried a request before (the server may have closed it)
  net::Buffer input_;
  net::Timer timer_;
};

}  // namespace sg::proxy

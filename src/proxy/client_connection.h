#pragma once
// A client connection: its socket, its read buffer, request pipelining, the head / idle /
// lingering timeouts and keep-alive. The request in flight is an Exchange (exchange.h),
// taken from the worker's pool when a request head begins and given back when its response
// has been sent. Between requests a connection holds neither an exchange nor buffer
// storage: an idle keep-alive connection costs this object and its socket.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/buffer.h"
#include "net/event_loop.h"
#include "net/stream.h"
#include "net/timer.h"

namespace sg::proxy {

class Exchange;
class Http2Stream;
struct DeliveryReport;
class Worker;
struct SharedListener;

class ClientConnection final : public net::EventHandler,
                               public net::TimerHandler,
                               public net::Disposable {
 public:
  enum class State : uint8_t {
    kHandshake,  // a TLS listener's connection: the handshake runs (handshake_timeout)
    kWaiting,    // no request in flight: idle, or a request head is arriving
    kExchange,   // a request is in flight (the exchange has the connection's events)
    kLingering,  // response sent, write side shut: unread client bytes are dropped
    kClosed,
  };

  ClientConnection(Worker* worker, SharedListener* listener, int fd);
  ~ClientConnection() override;

  // `adopted`: an idle keep-alive connection a predecessor process passed on (idle_timeout
  // runs, not request_head_timeout).
  void start(bool adopted = false);
  // A connection without a client that runs one cacheable GET (stale-while-revalidate).
  void startRefresh(std::string request_head, std::string client_ip, std::string key);
  // A connection without a client that runs one GET as a client's (cache warming); `done`
  // gets the response's status (0: none) when the connection closes.
  void startWarm(std::string request_head, std::function<void(int status)> done);
  // A connection without a client that runs one stored request of an async route (`request`:
  // head and body) through the route's phases after the enqueue; `done` gets what was
  // answered when the connection closes. The response is kept up to `max_result` body bytes.
  // `upstream`: a fan-out member's target (the route's variant for it); empty: the route's.
  void startDelivery(std::string request, std::string client_ip, std::string upstream,
                     uint64_t max_result, std::function<void(DeliveryReport)> done);
  // A connection whose "client" is one HTTP/2 stream (http2_stream.h): it reads the stream's
  // request and writes its response through `channel`, for one exchange.
  void startChannel(Http2Stream* channel, std::string client_ip);
  void onEvents(uint32_t events) override;
  void onTimer(net::Timer* timer) override;
  // Worker is draining: close now when idle, else after the current response. With a
  // successor generation (in-process reload) the connection moves to it once idle instead.
  void drain();
  // Closes the connection now (shutdown after the drain limit, client gone, fatal error).
  void close();

  // For the exchange in flight.
  net::Buffer& input() { return input_; }
  int fd() const { return stream_.fd(); }
  net::Stream& stream() { return stream_; }
  // The HTTP/2 stream this connection answers (startChannel), while it is open; else null.
  Http2Stream* http2Stream() const {
    return stream_.channel() != nullptr ? http2_stream_ : nullptr;
  }
  bool refresh() const { return refresh_; }
  bool delivery() const { return delivery_ != nullptr; }
  const std::string& deliveryUpstream() const;  // empty unless a fan-out member's delivery
  // Where a connection without a client puts the response bytes (a delivery), else null.
  const std::function<void(std::string_view)>* responseSink() const;
  const std::string& ip() const { return ip_; }
  bool eof() const { return eof_; }
  bool readable() const { return readable_; }
  void setReadable() { readable_ = true; }
  // Reads what the socket has into input(); false when nothing was read (drained, EOF:
  // eof() tells, or an error that closed the connection).
  bool readClient();
  void armIdleTimer();
  void cancelTimer() { timer_.cancel(); }
  // The exchange has a whole request head (or answers a bad one): it takes the events.
  void exchangeStarted();
  // The exchange's response has been sent: close (`body_unread`: the client may still be
  // sending a body nobody reads), or read the next request.
  void exchangeDone(bool must_close, bool body_unread);

  ClientConnection* prev = nullptr;
  ClientConnection* next = nullptr;

 private:
  void setState(State next);
  void startWithoutClient(const std::string& request_head);
  void startTls();
  void continueHandshake();
  void handshakeDone();
  void answerPlainHttp();
  void processInput();
  void releaseIdleBuffer();
  void closeAfterResponse(bool body_unread);
  // An idle connection of a draining worker: passed to the successor process when there is
  // one and the connection can move (plain socket, nothing buffered), else closed.
  void retire();
  // An idle connection joins the successor generation's worker (same thread) and its
  // listener of the same name; false when it cannot (no successor or a draining one, no such
  // listener, TLS on one side only).
  bool moveTo(Worker* successor);
  void discardClientInput();
  // h2c prior knowledge: true when the connection went to HTTP/2 (this one is closed) or
  // more bytes are needed to tell.
  bool switchToHttp2(bool* need_more);
  void reportDelivery();

  Worker* worker_;
  SharedListener* listener_;
  net::Stream stream_;  // the client's socket (none for a connection without a client)
  Http2Stream* http2_stream_ = nullptr;  // the channel of stream_, when it has one
  State state_ = State::kWaiting;
  bool readable_ = false;
  bool eof_ = false;
  bool peer_closed_ = false;  // EPOLLRDHUP seen: a short read is not "drained"
  bool processing_input_ = false;
  bool head_timer_armed_ = false;  // request_head_timeout runs from a head's first byte
  bool first_bytes_ = true;        // no request seen yet: may be an HTTP/2 preface
  bool refresh_ = false;           // no client: a background refresh
  Exchange* exchange_ = nullptr;
  net::Timer timer_;
  net::Buffer input_{0};            // storage lent by the worker's pool while bytes are in flight
  int64_t linger_deadline_ms_ = 0;  // kLingering ends by then at the latest
  std::string ip_;
  std::string refresh_key_;
  std::function<void(int status)> warm_done_;  // set on a cache warming connection
  int warm_status_ = 0;
  bool local_answer_ = false;  // the last exchange's status was the gateway's own
  struct Delivery;
  std::unique_ptr<Delivery> delivery_;  // set on a queue delivery's connection
  // A TLS connection that moved from an older generation keeps that generation's
  // configuration, whose TLS context its session was made from.
  std::shared_ptr<const void> tls_config_;
};

}  // namespace sg::proxy

#pragma once
// An HTTP/2 client connection (nghttp2 server session). It owns the socket (plain h2c or
// TLS after ALPN "h2"); each stream is run by a ClientConnection of its own whose stream is
// the Http2Stream channel, so requests go through the same pipeline as HTTP/1.1 ones.
// nghttp2's callbacks only record what happened; the streams' connections are started, woken
// and closed after nghttp2 returns (runDeferred), never from inside it.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/event_loop.h"
#include "net/stream.h"
#include "net/timer.h"
#include "proxy/http2_fields.h"

namespace sg::proxy {

class Http2Stream;
class Worker;
enum class Http2Abuse : uint8_t;
struct SharedListener;

// The connection preface a client sends first (RFC 9113 3.4).
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// The entry point for a connection that speaks HTTP/2: h2c prior knowledge (the preface was
// read), or TLS whose ALPN chose "h2". `socket` is already counted in the listener's
// connection metrics (the session takes the open-connections count down when it closes) and
// no longer registered in the event loop; `already_read`: bytes read from it so far.
void startHttp2(Worker* worker, SharedListener* listener, net::Stream socket, std::string ip,
                std::string_view already_read);

class Http2Session final : public net::EventHandler,
                           public net::TimerHandler,
                           public net::BatchEndHandler,
                           public net::Disposable {
 public:
  Http2Session(Worker* worker, SharedListener* listener, net::Stream socket, std::string ip);
  ~Http2Session() override;
  bool start(std::string_view already_read);

  void onEvents(uint32_t events) override;
  void onTimer(net::Timer* timer) override;
  void onBatchEnd() override;

  // For the streams.
  bool submitResponse(int32_t id, const std::vector<nghttp2_nv>& fields, bool has_body);
  // A `100 Continue` before the final response (a HEADERS frame without END_STREAM): a client
  // that sent `expect: 100-continue` waits for it before it sends the body (RFC 9110 10.1.1).
  void submitContinue(int32_t id);
  void resumeData(int32_t id);
  void consumed(int32_t id, size_t bytes);
  void resetStream(int32_t id);
  void channelClosed(Http2Stream* stream);
  bool closing() const { return closing_; }

  // An in-process reload: the session joins the successor generation's worker (same thread)
  // and its listener of the same name, at once. Its new streams run on the new generation;
  // those in flight finish on the old one. It keeps the SETTINGS it opened with. False when
  // it cannot move (closing or draining already, no such listener, TLS on one side only).
  bool moveTo(Worker* successor);
  // The worker drains (shutdown, binary upgrade): the session cannot move to another
  // process, so GOAWAY tells the client to go. A shutdown notice (GOAWAY with the highest
  // stream id) and a PING go first; when the PING's ACK is back (one round trip: every
  // request the client sent before it saw the notice has been read) or after
  // kFinalGoawayDelayMs, the final GOAWAY names the last stream accepted. Streams in flight
  // finish; newer ones are refused (RST_STREAM REFUSED_STREAM: the client may retry them
  // elsewhere); the connection closes once no stream is left.
  void drain();
  // Ends the connection now (the worker stops after its drain limit, or a fatal error).
  void close();
  Http2Session* prev = nullptr;  // the worker's list of sessions (Worker::sessionOpened)
  Http2Session* next = nullptr;

  // nghttp2 callbacks (static trampolines in the .cpp call these).
  int onBeginHeaders(int32_t id, bool request);
  int onHeader(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int onFrameRecv(const nghttp2_frame* frame);
  int onDataChunk(int32_t id, std::string_view data);
  int onStreamClose(int32_t id);
  int onFrameSend(const nghttp2_frame* frame);
  int onBeginFrame(const nghttp2_frame_hd& hd);
  ssize_t readResponse(int32_t id, uint8_t* buf, size_t length, uint32_t* flags);

 private:
  enum class Deferred : uint8_t { kStart, kWakeRead, kWakeWrite, kClose };
  bool receive(const char* data, size_t size);
  void readSocket();
  // Sends what nghttp2 has (as long as the socket takes it), then runs deferred work; loops
  // until neither has anything left. Ends the connection when nghttp2 wants no more.
  void pump();
  bool sendPending();
  void runDeferred();
  void defer(int32_t id, Deferred what) { deferred_.emplace_back(id, what); }
  void startStream(Http2Stream* stream);
  void wakeBlockedWriters();
  void abuse(Http2Abuse reason);
  void schedulePump();
  void countFailure(int rv);
  bool resetAllowed();
  int refuseHeaderBlock();
  Http2Stream* find(int32_t id);
  Http2Stream* newStream(int32_t id);
  void eraseStream(int32_t id);
  void submitFinalGoaway();
  void refuseStreams();
  void linger();
  void discardInput();
  void submitTrailers(int32_t id, const Http2Stream& stream, uint32_t* flags);

  Worker* worker_;
  SharedListener* listener_;
  net::Stream socket_;
  std::string ip_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Http2Stream>> streams_;
  std::vector<std::unique_ptr<Http2Stream>> spare_streams_;  // finished, for newStream
  Http2Stream* receiving_ = nullptr;  // the request whose header block is being decoded
  std::vector<std::pair<int32_t, Deferred>> deferred_;
  std::string out_;  // frames nghttp2 produced that the socket has not taken yet
  size_t out_offset_ = 0;
  net::Timer timer_;        // idle_timeout while no stream is open; the linger's limit
  net::Timer drain_timer_;  // draining: the final GOAWAY when the PING's ACK is late
  bool readable_ = true;
  bool closing_ = false;
  bool pumping_ = false;
  bool pump_again_ = false;
  bool pump_scheduled_ = false;
  uint32_t active_ = 0;  // streams whose connection runs
  // rapid reset: a token bucket of RST_STREAMs the client may send
  double reset_tokens_;
  int64_t reset_refilled_ms_ = 0;
  Http2HeaderListLimit header_limit_;  // of the header block being received
  bool abuse_counted_ = false;
  bool draining_ = false;
  bool lingering_ = false;         // drained: the write side is shut, input is dropped (linger)
  bool final_goaway_due_ = false;  // the drain PING's ACK came: submit after nghttp2 returns
  int32_t goaway_last_id_ = -1;    // the final GOAWAY's last stream id, once submitted
  std::vector<int32_t> refused_;   // new streams after the final GOAWAY, to reset
  // A TLS session that moved from an older generation keeps that generation's configuration,
  // whose TLS context its connection was made from.
  std::shared_ptr<const void> tls_config_;
};

}  // namespace sg::proxy

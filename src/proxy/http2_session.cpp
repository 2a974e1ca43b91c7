#include "proxy/http2_session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "net/socket.h"
#include "proxy/client_connection.h"
#include "proxy/http2_stream.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// nghttp2 is not asked for more frames while this much waits for the socket: a client that
// does not read then makes nghttp2's own queue grow, where max_outbound_ack catches floods.
constexpr size_t kOutHighWater = 64 * 1024;
constexpr size_t kMaxOutboundAck = 1000;  // queued SETTINGS/PING ACKs (nghttp2's default)
constexpr size_t kMaxSettings = 32;       // entries in one SETTINGS frame
// Draining: the final GOAWAY goes this long after the shutdown notice at the latest, when
// the client does not answer the PING sent with it (Envoy waits a drain_timeout here; the
// PING usually ends the wait after one round trip).
constexpr int64_t kFinalGoawayDelayMs = 1000;
constexpr uint8_t kDrainPing[8] = {'s', 'g', '-', 'd', 'r', 'a', 'i', 'n'};
// Draining, after the last frame: how long the client may take to close (see linger).
constexpr int64_t kDrainLingerMs = 2000;

Http2Session* self(void* user_data) { return static_cast<Http2Session*>(user_data); }

std::string_view view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

int onBeginHeadersCb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  return self(user)->onBeginHeaders(frame->hd.stream_id,
                                    frame->headers.cat == NGHTTP2_HCAT_REQUEST);
}

int onHeaderCb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
               const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  return self(user)->onHeader(frame, view(name, namelen), view(value, valuelen));
}

int onFrameRecvCb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return self(user)->onFrameRecv(frame);
}

int onDataChunkCb(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                  void* user) {
  return self(user)->onDataChunk(id, view(data, len));
}

int onStreamCloseCb(nghttp2_session*, int32_t id, uint32_t, void* user) {
  return self(user)->onStreamClose(id);
}

int onFrameSendCb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return self(user)->onFrameSend(frame);
}

int onBeginFrameCb(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
  return self(user)->onBeginFrame(*hd);
}

ssize_t readResponseCb(nghttp2_session*, int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                       nghttp2_data_source*, void* user) {
  return self(user)->readResponse(id, buf, length, flags);
}

}  // namespace

void startHttp2(Worker* worker, SharedListener* listener, net::Stream socket, std::string ip,
                std::string_view already_read) {
  auto* session = new Http2Session(worker, listener, std::move(socket), std::move(ip));
  session->start(already_read);
}

Http2Session::Http2Session(Worker* worker, SharedListener* listener, net::Stream socket,
                           std::string ip)
    : worker_(worker),
      listener_(listener),
      socket_(std::move(socket)),
      ip_(std::move(ip)),
      timer_(this),
      drain_timer_(this),
      reset_tokens_(listener->config->http2.stream_reset_burst),
      header_limit_(listener->config->http2.max_header_list_size) {}

Http2Session::~Http2Session() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

bool Http2Session::start(std::string_view already_read) {
  const auto& config = listener_->config->http2;
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeadersCb);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeaderCb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecvCb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkCb);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamCloseCb);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSendCb);
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, onBeginFrameCb);
  nghttp2_option* options = nullptr;
  nghttp2_option_new(&options);
  // Stream windows open as the request path reads (backpressure); see onDataChunk.
  nghttp2_option_set_no_auto_window_update(options, 1);
  nghttp2_option_set_max_outbound_ack(options, kMaxOutboundAck);
  nghttp2_option_set_max_settings(options, kMaxSettings);
  nghttp2_session_server_new2(&session_, callbacks, this, options);
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, config.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, config.max_header_list_size},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  listener_->http2.connections->inc();
  worker_->sessionOpened(this);
  worker_->loop().add(socket_.fd(), this);
  worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
  if (!already_read.empty() && !receive(already_read.data(), already_read.size())) {
    close();
    return false;
  }
  readable_ = true;  // TLS may hold the client's first frames, read with the handshake
  // A connection that became HTTP/2 after its worker began draining moves or goes at once too.
  if (worker_->draining() && !moveTo(worker_->successor())) drain();
  readSocket();
  if (!closing_) pump();
  return true;
}

void Http2Session::onEvents(uint32_t events) {
  if (closing_) return;
  if (lingering_) return discardInput();
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  readSocket();
  if (!closing_) pump();  // EPOLLOUT: the socket takes more
}

void Http2Session::onTimer(net::Timer* timer) {
  if (closing_) return;
  if (lingering_) return close();
  if (timer == &drain_timer_) {
    submitFinalGoaway();
    return pump();
  }
  if (active_ > 0) return;
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  pump();
}

// Reads and hands to nghttp2 until the socket is drained (edge-triggered: nothing is left
// behind). A client that sends without end is stopped by nghttp2's limits, not here.
void Http2Session::readSocket() {
  char buffer[kReadChunk];
  while (readable_ && !closing_) {
    ssize_t n = socket_.read(buffer, sizeof(buffer));
    if (n == -1) {
      readable_ = false;
      break;
    }
    if (n <= 0) return close();  // the client closed or the connection broke
    if (static_cast<size_t>(n) < sizeof(buffer) && socket_.shortReadDrains()) readable_ = false;
    if (!receive(buffer, static_cast<size_t>(n))) return close();
    pump();  // ACKs and responses go out as they are due (a reader's queue stays short)
  }
}

bool Http2Session::receive(const char* data, size_t size) {
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), size);
  if (rv < 0) {
    countFailure(static_cast<int>(rv));
    // Best effort: the GOAWAY nghttp2 queued for a protocol error goes out before the close.
    sendPending();
    return false;
  }
  // Draining: submitted once nghttp2 has taken the whole input (see onBeginFrame, onFrameRecv).
  if (!refused_.empty()) refuseStreams();
  if (final_goaway_due_) submitFinalGoaway();
  return true;
}

void Http2Session::countFailure(int rv) {
  if (rv == NGHTTP2_ERR_FLOODED) {
    listener_->http2.count(Http2Abuse::kAckFlood);
  } else if (rv == NGHTTP2_ERR_TOO_MANY_SETTINGS) {
    listener_->http2.count(Http2Abuse::kTooManySettings);
  } else if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS && !abuse_counted_) {
    // nghttp2 ends a header block of more than 8 CONTINUATION frames (CVE-2024-28182) without
    // a GOAWAY: the flood is told as the other header abuse is (receive sends the GOAWAY).
    abuse(Http2Abuse::kHeaderListTooLarge);
  }
  spdlog::debug("http2 connection from {}: {}", ip_, nghttp2_strerror(rv));
}

void Http2Session::pump() {
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  if (lingering_) return;
  pumping_ = true;
  do {
    pump_again_ = false;
    if (!sendPending()) {
      pumping_ = false;
      return close();
    }
    runDeferred();
  } while (pump_again_ && !closing_);
  pumping_ = false;
  if (closing_) return;
  const bool flushed = out_offset_ == out_.size();
  if (flushed && !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
    if (draining_ && !abuse_counted_) return linger();  // an abusive client goes at once
    close();
  }
}

// False when the connection is broken.
bool Http2Session::sendPending() {
  while (true) {
    if (out_.size() - out_offset_ < kOutHighWater) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        countFailure(static_cast<int>(n));
        return false;
      }
      if (n > 0) {
        out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
        continue;  // gather frames into one write
      }
    }
    if (out_offset_ == out_.size()) break;
    iovec iov{out_.data() + out_offset_, out_.size() - out_offset_};
    ssize_t written = socket_.writeVec(&iov, 1);
    if (written < 0) return false;
    out_offset_ += static_cast<size_t>(written);
    if (out_offset_ == out_.size()) {
      out_.clear();
      out_offset_ = 0;
    } else {
      break;  // the socket is full: EPOLLOUT resumes (onEvents -> pump)
    }
  }
  wakeBlockedWriters();
  return true;
}

void Http2Session::wakeBlockedWriters() {
  for (auto& [id, stream] : streams_) {
    if (stream->connection != nullptr && stream->wantsWriteWake()) {
      stream->clearWriteWake();
      defer(id, Deferred::kWakeWrite);
    }
  }
}

void Http2Session::runDeferred() {
  std::vector<std::pair<int32_t, Deferred>> work;
  work.swap(deferred_);
  for (auto [id, what] : work) {
    if (closing_) return;
    Http2Stream* stream = find(id);
    if (stream == nullptr) continue;
    switch (what) {
      case Deferred::kStart:
        startStream(stream);
        break;
      case Deferred::kWakeRead:
        if (stream->connection != nullptr) stream->connection->onEvents(EPOLLIN);
        break;
      case Deferred::kWakeWrite:
        if (stream->connection != nullptr) stream->connection->onEvents(EPOLLOUT);
        break;
      case Deferred::kClose:
        if (stream->connection != nullptr) stream->connection->close();
        break;
    }
  }
  if (!deferred_.empty()) pump_again_ = true;
}

void Http2Session::startStream(Http2Stream* stream) {
  listener_->http2.streams->inc();
  listener_->http2.active_streams->add(1);
  ++active_;
  timer_.cancel();
  auto* connection = new ClientConnection(worker_, listener_, -1);
  stream->connection = connection;
  connection->startChannel(stream, ip_);
  pump_again_ = true;
}

Http2Stream* Http2Session::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

// Spare streams are reused: a request costs no stream allocation while a client keeps
// sending (see Http2Stream::reuse).
Http2Stream* Http2Session::newStream(int32_t id) {
  std::unique_ptr<Http2Stream> stream;
  if (spare_streams_.empty()) {
    stream = std::make_unique<Http2Stream>(this, id);
  } else {
    stream = std::move(spare_streams_.back());
    spare_streams_.pop_back();
    stream->reuse(id);
  }
  return streams_.emplace(id, std::move(stream)).first->second.get();
}

void Http2Session::eraseStream(int32_t id) {
  constexpr size_t kMaxSpareStreams = 16;
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (spare_streams_.size() < kMaxSpareStreams) {
    it->second->releaseLargeBuffers();
    spare_streams_.push_back(std::move(it->second));
  }
  streams_.erase(it);
}

int Http2Session::onBeginHeaders(int32_t id, bool request) {
  receiving_ = nullptr;
  // A stream past the final GOAWAY (one that came before the GOAWAY could be sent) is never
  // started: nghttp2 closes it when the GOAWAY goes, and refuseStreams tells the client.
  const bool refused = goaway_last_id_ >= 0 && id > goaway_last_id_;
  if (request && !refused) receiving_ = newStream(id);
  header_limit_.startBlock();
  return 0;
}

// The header list limit (SETTINGS_MAX_HEADER_LIST_SIZE) is enforced here: nghttp2 only
// advertises it. See Http2HeaderListLimit for what is too large and what is abuse.
int Http2Session::onHeader(const nghttp2_frame* frame, std::string_view name,
                           std::string_view value) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  switch (header_limit_.add(name.size(), value.size())) {
    case Http2HeaderListLimit::Verdict::kWithin:
      break;
    case Http2HeaderListLimit::Verdict::kTooLarge:
      return refuseHeaderBlock();
    case Http2HeaderListLimit::Verdict::kDropped:
      return 0;
    case Http2HeaderListLimit::Verdict::kAbusive:
      if (!abuse_counted_) abuse(Http2Abuse::kHeaderListTooLarge);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the rest of the block is skipped
  }
  // A header block is never interleaved with another (RFC 9113 4.3): its stream is the one
  // begun last. None for trailers: the request path has no use for them.
  if (receiving_ != nullptr) receiving_->addHeader(name, value);
  return 0;
}

// A request whose header block is past the limit is answered 431 on its stream (RFC 9113
// 10.5.1) as HTTP/1.1 answers a head too large; the connection and its other streams go on.
// The rest of the block is still decoded (and dropped): the HPACK table must stay in step
// with the client's. Each refused block takes a token of the rapid reset bucket: refusing
// costs the gateway a stream as a reset does, so a client that keeps sending oversized blocks
// is cut off as one that keeps resetting streams is.
int Http2Session::refuseHeaderBlock() {
  if (!resetAllowed()) {
    if (!abuse_counted_) abuse(Http2Abuse::kHeaderListTooLarge);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  // Trailers (the request runs already) cannot be answered 431: the stream is reset.
  if (receiving_ == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  receiving_->rejectHead(http::ParseError::kHeadTooLarge);
  receiving_ = nullptr;  // the block's later fields are dropped
  return 0;
}

int Http2Session::onFrameRecv(const nghttp2_frame* frame) {
  const int32_t id = frame->hd.stream_id;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      receiving_ = nullptr;
      Http2Stream* stream = find(id);
      if (stream == nullptr) break;
      if (!stream->requestBuilt()) {
        stream->headersDone(end_stream);
        defer(id, Deferred::kStart);
      } else if (end_stream) {  // trailers end the request
        stream->endRequest();
        defer(id, Deferred::kWakeRead);
      }
      break;
    }
    case NGHTTP2_DATA:
      if (Http2Stream* stream = find(id); stream != nullptr && end_stream) {
        stream->endRequest();
        defer(id, Deferred::kWakeRead);
      }
      break;
    case NGHTTP2_RST_STREAM:
      if (!resetAllowed()) {
        abuse(Http2Abuse::kRapidReset);
      }
      break;
    case NGHTTP2_PING:
      // The drain PING's ACK: the client has read the notice, and the requests it sent before
      // are in. Submitted after nghttp2 returns, so that streams later in this input are
      // counted in the last stream id (else the GOAWAY's sending would drop them unanswered).
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 && draining_ &&
          std::memcmp(frame->ping.opaque_data, kDrainPing, sizeof(kDrainPing)) == 0) {
        final_goaway_due_ = true;
      }
      break;
    default:
      break;
  }
  return 0;
}

// Rapid reset (CVE-2023-44487): RST_STREAMs take tokens refilled at stream_reset_rate per
// second up to stream_reset_burst (nghttp2 1.57's stream_reset_rate_limit, by hand).
bool Http2Session::resetAllowed() {
  const auto& config = listener_->config->http2;
  const int64_t now = worker_->loop().now();
  const double refill = static_cast<double>(now - reset_refilled_ms_) * config.stream_reset_rate;
  reset_tokens_ = std::min<double>(config.stream_reset_burst, reset_tokens_ + refill / 1000.0);
  reset_refilled_ms_ = now;
  if (reset_tokens_ < 1.0) return false;
  reset_tokens_ -= 1.0;
  return true;
}

// Abuse ends the connection with GOAWAY: from then on nghttp2 ignores new streams and
// header blocks, and the connection closes once the GOAWAY is sent (pump).
void Http2Session::abuse(Http2Abuse reason) {
  abuse_counted_ = true;
  listener_->http2.count(reason);
  spdlog::info("http2 connection from {} closed: {}", ip_, http2AbuseName(reason));
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
}

int Http2Session::onDataChunk(int32_t id, std::string_view data) {
  // The connection window opens at once (one slow stream must not stall the others); the
  // stream's opens as its request path reads (Http2Stream::read -> consumed).
  nghttp2_session_consume_connection(session_, data.size());
  Http2Stream* stream = find(id);
  if (stream == nullptr) return 0;
  stream->addData(data);
  defer(id, Deferred::kWakeRead);
  return 0;
}

int Http2Session::onStreamClose(int32_t id) {
  Http2Stream* stream = find(id);
  if (stream == nullptr) return 0;
  if (stream == receiving_) receiving_ = nullptr;
  stream->stream_closed = true;
  if (stream->connection != nullptr) {
    // A client's RST_STREAM (or a stream error): the exchange ends as for a client that went
    // away, after nghttp2 returns.
    defer(id, Deferred::kClose);
  } else {
    eraseStream(id);  // never started (a start still deferred is dropped), or done
  }
  return 0;
}

int Http2Session::onFrameSend(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) {
    // A response complete before its request (an early 413, 431 or 408, an upstream that
    // answered first): the client is asked to stop sending the rest (RFC 9113 8.1), so the
    // stream does not hold a slot of max_concurrent_streams until the client ends it.
    const int32_t id = frame->hd.stream_id;
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
        nghttp2_session_get_stream_remote_close(session_, id) == 0)
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    return 0;
  }
  if (frame->hd.type != NGHTTP2_GOAWAY) return 0;
  listener_->http2.goaways->inc();
  // Limits nghttp2 enforces itself end the connection with ENHANCE_YOUR_CALM and a reason.
  if (frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM && !abuse_counted_) {
    std::string_view why(reinterpret_cast<const char*>(frame->goaway.opaque_data),
                         frame->goaway.opaque_data_len);
    if (why.find("SETTINGS") != std::string_view::npos) abuse(Http2Abuse::kTooManySettings);
    if (why.find("CONTINUATION") != std::string_view::npos) abuse(Http2Abuse::kHeaderListTooLarge);
  }
  return 0;
}

ssize_t Http2Session::readResponse(int32_t id, uint8_t* buf, size_t length, uint32_t* flags) {
  Http2Stream* stream = find(id);
  if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  bool eof = false;
  size_t n = stream->takeResponse(buf, length, &eof);
  if (eof) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    submitTrailers(id, *stream, flags);
  }
  if (n == 0 && !eof) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(n);
}

bool Http2Session::submitResponse(int32_t id, const std::vector<nghttp2_nv>& fields,
                                  bool has_body) {
  nghttp2_data_provider provider{};
  provider.read_callback = readResponseCb;
  int rv = nghttp2_submit_response(session_, id, fields.data(), fields.size(),
                                   has_body ? &provider : nullptr);
  schedulePump();
  return rv == 0;
}

void Http2Session::submitContinue(int32_t id) {
  static constexpr char kStatus[] = ":status";
  static constexpr char kContinue[] = "100";
  nghttp2_nv field{reinterpret_cast<uint8_t*>(const_cast<char*>(kStatus)),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(kContinue)), 7, 3,
                   NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, &field, 1, nullptr);
  schedulePump();
}

// An upstream's chunked trailers end the stream as a HEADERS frame (RFC 9113 8.1): nghttp2
// takes them from inside the data callback that ends the body, END_STREAM moving to them.
void Http2Session::submitTrailers(int32_t id, const Http2Stream& stream, uint32_t* flags) {
  const auto fields = stream.trailerFields();
  if (fields.empty()) return;
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (const auto& [name, value] : fields) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                   value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  if (nghttp2_submit_trailer(session_, id, nva.data(), nva.size()) == 0)
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
}

void Http2Session::resumeData(int32_t id) {
  nghttp2_session_resume_data(session_, id);
  schedulePump();
}

void Http2Session::consumed(int32_t id, size_t bytes) {
  nghttp2_session_consume_stream(session_, id, bytes);
  schedulePump();
}

void Http2Session::resetStream(int32_t id) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
  schedulePump();
}

void Http2Session::channelClosed(Http2Stream* stream) {
  listener_->http2.active_streams->add(-1);
  if (--active_ == 0) worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
  if (stream->stream_closed) eraseStream(stream->id());
  schedulePump();
}

// Streams call in from their connections' events (often from inside Pipe::flush): frames go
// out at the end of the event batch, so a stream's connection is never re-entered.
void Http2Session::schedulePump() {
  if (pump_scheduled_ || closing_) return;
  pump_scheduled_ = true;
  worker_->loop().atBatchEnd(this);
}

void Http2Session::onBatchEnd() {
  pump_scheduled_ = false;
  if (!closing_) pump();
}

bool Http2Session::moveTo(Worker* successor) {
  if (successor == nullptr || successor->draining() || closing_ || draining_ || lingering_)
    return false;
  SharedListener* listener =
      successor->shared().listenerTaking(listener_->config->name, socket_.tls() != nullptr);
  if (listener == nullptr) return false;
  if (socket_.tls() != nullptr && tls_config_ == nullptr)
    tls_config_ = worker_->shared().configHandle();
  // The gauges follow the session: its streams in flight close through the new listener.
  listener_->open_connections->add(-1);
  listener_->http2.active_streams->add(-static_cast<int64_t>(active_));
  listener->open_connections->add(1);
  listener->http2.active_streams->add(active_);
  worker_->sessionMoved(this);  // first: the lists share this object's links
  successor->sessionOpened(this);
  worker_ = successor;
  listener_ = listener;
  if (active_ == 0) worker_->loop().timers().arm(timer_, listener_->config->idle_timeout.count());
  return true;
}

void Http2Session::drain() {
  if (closing_ || draining_) return;
  draining_ = true;
  nghttp2_submit_shutdown_notice(session_);
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, kDrainPing);
  worker_->loop().timers().arm(drain_timer_, kFinalGoawayDelayMs);
  schedulePump();
}

// From here nghttp2 takes no new stream; pump() closes the connection once the streams in
// flight are done and every frame is out.
void Http2Session::submitFinalGoaway() {
  final_goaway_due_ = false;
  if (goaway_last_id_ >= 0) return;
  drain_timer_.cancel();
  goaway_last_id_ = nghttp2_session_get_last_proc_stream_id(session_);
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, goaway_last_id_, NGHTTP2_NO_ERROR, nullptr, 0);
}

// After the final GOAWAY nghttp2 ignores a new stream's HEADERS without a word; the client
// is told it was refused, so that it retries the request on another connection at once.
int Http2Session::onBeginFrame(const nghttp2_frame_hd& hd) {
  if (goaway_last_id_ < 0 || hd.type != NGHTTP2_HEADERS || hd.stream_id <= goaway_last_id_)
    return 0;
  if (std::find(refused_.begin(), refused_.end(), hd.stream_id) == refused_.end())
    refused_.push_back(hd.stream_id);
  return 0;
}

// Called after nghttp2_session_mem_recv: nghttp2 resets only streams whose HEADERS it has seen.
void Http2Session::refuseStreams() {
  for (int32_t id : refused_) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    listener_->http2.refused_streams->inc();
  }
  refused_.clear();
}

// Once a drained session's last frame is out, the write side is shut and what the client
// still sends (WINDOW_UPDATEs for the last DATA, its own GOAWAY) is read and dropped until it
// closes, kDrainLingerMs at most. Closing with those bytes unread would reset the connection,
// and the reset can destroy the end of the response before the client has read it (nginx
// lingers after an HTTP/2 GOAWAY for the same reason).
void Http2Session::linger() {
  lingering_ = true;
  drain_timer_.cancel();
  if (socket_.tls() != nullptr) socket_.tls()->shutdown();  // close_notify
  ::shutdown(socket_.fd(), SHUT_WR);
  worker_->loop().timers().arm(timer_, kDrainLingerMs);
  discardInput();
}

// The write side is shut (close_notify sent on TLS): what comes now is dropped unread, raw.
void Http2Session::discardInput() {
  if (!net::discardReadable(socket_.fd())) close();  // the client closed: done
}

void Http2Session::close() {
  if (closing_) return;
  closing_ = true;
  timer_.cancel();
  drain_timer_.cancel();
  if (pump_scheduled_) worker_->loop().unschedule(this);
  for (auto& [id, stream] : streams_) {
    if (stream->connection != nullptr) {
      stream->connection->close();
      listener_->http2.active_streams->add(-1);
    }
  }
  streams_.clear();
  worker_->loop().remove(socket_.fd());
  socket_.close();
  listener_->open_connections->add(-1);
  worker_->sessionClosed(this);
  worker_->loop().dispose(this);
}

}  // namespace sg::proxy

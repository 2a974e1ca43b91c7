// libFuzzer target for the HTTP/2 frame input: each input is what a client sends on an h2c
// connection (the preface is put in front unless the input starts with it). It is served by
// our Http2Session on a real Worker whose event loop runs on the fuzzer's thread, so the
// nghttp2 callbacks, the abuse limits, the deferred stream start/wake/close, the Http2Stream
// channel and the HTTP/1.1 request path behind it all run, against an upstream served on the
// same loop (TinyUpstream below, which answers by path: fixed length, chunked, until close,
// cut short, 100 Continue, garbage, or never).
//
// Per input: the session is started on one end of a socketpair with the preface as already
// read; the rest is written into the other end, the loop runs until nothing moves (what the
// session writes back is read and dropped), then the client end closes and the loop runs until
// the session is gone. Invariants, checked after every input: the session closed (the open
// connection count is back to zero), no stream is counted active, and no upstream connection is
// left open. ASan's leak check then sees everything the input allocated freed.
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "http/fuzz_support.h"
#include "metrics/metrics.h"
#include "net/event_loop.h"
#include "net/stream.h"
#include "proxy/http2_session.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"

namespace {

using sg::proxy::kHttp2Preface;

using sg::http::fuzz::check;

// Turns of the loop an input may take: to settle while the client stays, and to wind down
// after it closed. Far more than any input needs (each turn handles every ready event).
constexpr int kMaxTurns = 400;
// Turns without an event after which the exchange is taken as settled.
constexpr int kQuietTurns = 3;

// The response TinyUpstream gives for a request path.
std::string responseFor(std::string_view path) {
  auto is = [&](std::string_view prefix) { return path.starts_with(prefix); };
  if (is("/chunked"))
    return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
           "Connection: close\r\n\r\n5\r\nhello\r\n80\r\n" +
           std::string(128, 'c') + "\r\n0\r\nX-Trailer: t\r\n\r\n";
  if (is("/close")) return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the upstream closes";
  if (is("/big"))  // past the client's flow-control window and the gzip threshold
    return "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n"
           "Connection: close\r\n\r\n" +
           std::string(100000, 'b');
  if (is("/short")) return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..";
  if (is("/continue"))
    return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
  if (is("/switch")) return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
  if (is("/garbage")) return "NOT HTTP AT ALL\r\n\r\n";
  if (is("/hold")) return "";  // never answers: the exchange waits until the client goes
  return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=b\r\nConnection: close\r\n\r\nok";
}

// An HTTP/1.1 upstream on the worker's own loop: answers the first request head of each
// connection (responseFor its path), then shuts its side down and closes when the gateway
// does. No keep-alive, so request bodies need no framing here.
class TinyUpstream final : public sg::net::EventHandler {
 public:
  TinyUpstream(sg::net::EventLoop& loop, int listen_fd) : loop_(loop), listen_fd_(listen_fd) {
    loop_.add(listen_fd_, this);
  }
  size_t open() const { return open_; }

  void onEvents(uint32_t /*events*/) override {
    while (true) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      ++open_;
      loop_.add(fd, new Peer(this, fd));
    }
  }

 private:
  class Peer final : public sg::net::EventHandler, public sg::net::Disposable {
   public:
    Peer(TinyUpstream* owner, int fd) : owner_(owner), fd_(fd) {}
    void onEvents(uint32_t /*events*/) override {
      if (fd_ < 0) return;
      char buffer[16 * 1024];
      while (true) {
        ssize_t n = ::read(fd_, buffer, sizeof(buffer));
        if (n == 0 || (n < 0 && errno != EAGAIN)) return close();
        if (n < 0) break;
        if (!answered_ && request_.size() < 64 * 1024) request_.append(buffer, size_t(n));
      }
      if (!answered_ && request_.find("\r\n\r\n") != std::string::npos) {
        answered_ = true;
        size_t start = request_.find(' ') + 1;
        size_t end = request_.find(' ', start);
        out_ = responseFor(std::string_view(request_).substr(start, end - start));
        if (out_.empty()) return;  // /hold
      }
      if (answered_ && offset_ < out_.size()) write();
    }

   private:
    void write() {
      while (offset_ < out_.size()) {
        ssize_t n = ::send(fd_, out_.data() + offset_, out_.size() - offset_, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) return;  // EPOLLOUT resumes
        if (n <= 0) return close();
        offset_ += size_t(n);
      }
      shutdown(fd_, SHUT_WR);  // the end of an until-close body, or of a cut-short one
    }
    void close() {
      owner_->loop_.remove(fd_);
      ::close(fd_);
      fd_ = -1;
      --owner_->open_;
      owner_->loop_.dispose(this);
    }
    TinyUpstream* owner_;
    int fd_;
    std::string request_;
    bool answered_ = false;
    std::string out_;
    size_t offset_ = 0;
  };

  sg::net::EventLoop& loop_;
  int listen_fd_;
  size_t open_ = 0;
};

// A loopback TCP socket bound to a port the kernel picks: listening for TinyUpstream, or
// closed again so that connecting to its port is refused.
int boundSocket(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  check(fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0,
        "a loopback socket for the upstreams");
  *port = ntohs(address.sin_port);
  return fd;
}

// Small limits so that inputs of a few KiB reach them. max_fails 0: an upstream's failures
// (garbage, a cut-short body, refused connects) do not take it out for the inputs after.
std::string configText(uint16_t app_port, uint16_t down_port) {
  return R"(workers: 1
listeners:
  - name: fuzz
    address: 127.0.0.1:1
    max_body_size: 4KiB
    max_header_size: 4KiB
    compression: { algorithms: [gzip], min_size: 64 }
    http2: { h2c: true, max_concurrent_streams: 8, initial_window_size: 16384, max_header_list_size: 2048, stream_reset_burst: 16, stream_reset_rate: 8 }
    routes:
      - match: { prefix: /down }
        upstream: down
      - match: { prefix: / }
        upstream: app
upstreams:
  app:
    max_fails: 0
    servers: [{ address: 127.0.0.1:)" +
         std::to_string(app_port) + R"( }]
  down:
    max_fails: 0
    servers: [{ address: 127.0.0.1:)" +
         std::to_string(down_port) + " }]\n";
}

class Fixture {
 public:
  Fixture() {
    spdlog::set_level(spdlog::level::off);
    sg::metrics::setCurrentShard(0);
    uint16_t app_port = 0, down_port = 0;
    int listen_fd = boundSocket(&app_port);
    check(listen(listen_fd, 64) == 0, "listen");
    ::close(boundSocket(&down_port));
    auto loaded = sg::config::loadConfigString(configText(app_port, down_port), "fuzz.yaml");
    for (const auto& error : loaded.errors) std::fprintf(stderr, "%s\n", error.toString().c_str());
    check(loaded.config != nullptr, "the fuzz config loads");
    config_ = loaded.config;
    shared_ = std::make_unique<sg::proxy::SharedState>(config_, 1);
    worker_ = std::make_unique<sg::proxy::Worker>(shared_.get(), thread_, nullptr);
    worker_->begin();  // on this thread, which drives the loop
    upstream_ = std::make_unique<TinyUpstream>(worker_->loop(), listen_fd);
    listener_ = &shared_->listeners().front();
  }

  void run(std::string_view input) {
    int fds[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0,
          "socketpair");
    if (input.starts_with(kHttp2Preface)) input.remove_prefix(kHttp2Preface.size());
    // As the accepting ClientConnection does before it hands an h2c connection over.
    listener_->connections->inc();
    listener_->open_connections->add(1);
    sg::proxy::startHttp2(worker_.get(), listener_, sg::net::Stream(fds[0]), "127.0.0.1",
                          kHttp2Preface);
    int quiet = 0;
    for (int turn = 0; turn < kMaxTurns && quiet < kQuietTurns; ++turn) {
      const size_t before = input.size();
      if (!input.empty()) {
        ssize_t n = ::send(fds[1], input.data(), input.size(), MSG_NOSIGNAL);
        if (n > 0) input.remove_prefix(size_t(n));
        if (n < 0 && errno != EAGAIN) input = {};  // the session closed its end
      }
      const bool events = worker_->loop().runOnce(0) > 0;
      const bool answered = drain(fds[1]);
      quiet = events || answered || input.size() < before ? 0 : quiet + 1;
    }
    ::close(fds[1]);
    for (int turn = 0; turn < kMaxTurns && !idle(); ++turn) worker_->loop().runOnce(0);
    check(listener_->open_connections->value() == 0, "the session closed after the client did");
    check(listener_->http2.active_streams->value() == 0, "no stream counted active");
    check(upstream_->open() == 0, "no upstream connection left open");
  }

 private:
  bool idle() const { return listener_->open_connections->value() == 0 && upstream_->open() == 0; }
  static bool drain(int fd) {
    char buffer[64 * 1024];
    bool any = false;
    while (::read(fd, buffer, sizeof(buffer)) > 0) any = true;
    return any;
  }

  std::shared_ptr<const sg::config::Config> config_;
  std::unique_ptr<sg::proxy::SharedState> shared_;
  sg::proxy::WorkerThread thread_{0};  // never started: run() turns its loop
  std::unique_ptr<sg::proxy::Worker> worker_;
  std::unique_ptr<TinyUpstream> upstream_;
  sg::proxy::SharedListener* listener_ = nullptr;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();  // lives as long as the process
  fixture->run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

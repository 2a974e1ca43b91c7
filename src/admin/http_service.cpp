#include "admin/http_service.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "http/parser.h"
#include "net/buffer.h"
#include "net/socket.h"
#include "proxy/head_writer.h"

namespace sg::admin {

namespace {
constexpr size_t kMaxRequest = 1024 * 1024 + 64 * 1024;
constexpr int64_t kIdleTimeoutMs = 60'000;
constexpr size_t kMaxStreamBacklog = 4 * 1024 * 1024;
}  // namespace

std::string serializeResponse(const ServiceResponse& response, bool close) {
  std::string out =
      fmt::format("HTTP/1.1 {} {}\r\nServer: scalegate\r\nContent-Type: {}\r\n", response.status,
                  proxy::reasonPhrase(response.status), response.content_type);
  for (const auto& [name, value] : response.headers) out += fmt::format("{}: {}\r\n", name, value);
  if (response.stream)
    return out + "Cache-Control: no-cache\r\nConnection: close\r\n\r\n" + response.body;
  out += fmt::format("Content-Length: {}\r\n{}\r\n", response.body.size(),
                     close ? "Connection: close\r\n" : "");
  out += response.body;
  return out;
}

class HttpService::Connection final : public net::EventHandler,
                                      public net::TimerHandler,
                                      public net::Disposable {
 public:
  Connection(HttpService* service, int fd)
      : service_(service), fd_(fd), input_(4096), timer_(this) {
    service_->connections_.insert(this);
    service_->open_connections_.fetch_add(1);
    service_->loop_->add(fd_, this);
    service_->loop_->timers().arm(timer_, kIdleTimeoutMs);
  }
  ~Connection() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void onEvents(uint32_t /*events*/) override {
    if (closed_ || delayed_) return;
    if (!flush()) return;
    if (stream_) return discardInput();
    // Requests already buffered (pipelined behind a large response) come before new reads.
    while (!closed_ && answerOne()) {
    }
    while (!closed_ && readSome()) {
      while (!closed_ && answerOne()) {
      }
    }
  }
  // A kept-alive connection between requests is closed now (a request already sent is read
  // and answered first, with `Connection: close`); busy ones close after answering, and one
  // whose first request has not arrived yet is answered when it does.
  void closeIfIdle() {
    if (closed_ || delayed_ || stream_ || answered_ == 0) return;
    onEvents(0);
    if (!closed_ && !delayed_ && !stream_ && output_.empty() && input_.empty()) close();
  }

  void onTimer(net::Timer* /*timer*/) override {
    if (delayed_) {
      delayed_ = false;
      service_->loop_->timers().arm(timer_, kIdleTimeoutMs);
      return onEvents(0);
    }
    if (!stream_ || closed_) return close();
    // A client that does not read its stream is not buffered for without bound.
    if (output_.size() > kMaxStreamBacklog) return close();
    output_ += stream_();
    service_->loop_->timers().arm(timer_, stream_interval_ms_);
    flush();
  }

 private:
  // A streaming connection takes no further requests: it reads only to see the client close.
  void discardInput() {
    while (!closed_ && readSome()) input_.consume(input_.size());
  }

  bool readSome() {
    size_t space = input_.reserve(4096, kMaxRequest);
    if (space == 0) return refuse(413), false;
    ssize_t n = net::readSome(fd_, input_.writePtr(), space);
    if (n > 0) {
      input_.commit(static_cast<size_t>(n));
      return true;
    }
    if (n != -1) close();
    return false;
  }

  // Answers one complete request from the buffer; false when more bytes are needed.
  bool answerOne() {
    if (input_.empty() || !output_.empty()) return false;
    http::RequestHead head;
    http::ParseError error = http::ParseError::kNone;
    auto status = http::parseRequestHead(input_.view(), {64 * 1024, 100}, &head, &error);
    if (status == http::ParseStatus::kIncomplete) return false;
    ServiceResponse response;
    bool close_after = !head.keep_alive || !service_->accepting_;
    if (status == http::ParseStatus::kError || head.body == http::BodyKind::kChunked) {
      response.status = status == http::ParseStatus::kError ? http::statusFor(error) : 411;
      response.body = "bad request\n";
      close_after = true;
    } else {
      size_t total = head.head_length + head.content_length;
      if (total > kMaxRequest) return refuse(413), false;
      if (input_.size() < total) return false;
      response =
          service_->handler_(head, input_.view().substr(head.head_length, head.content_length));
      input_.consume(total);
    }
    ++answered_;
    if (response.stream && head.method == "HEAD") close_after = true;  // its head says close
    output_ = serializeResponse(response, close_after);
    if (head.method == "HEAD") {
      output_.resize(output_.size() - response.body.size());
      response.stream = nullptr;
    }
    sent_ = 0;
    close_after_ = close_after;
    if (response.stream) {
      stream_ = std::move(response.stream);
      stream_interval_ms_ = std::max<int64_t>(response.stream_interval_ms, 10);
      service_->loop_->timers().arm(timer_, stream_interval_ms_);
      flush();
      return false;
    }
    if (response.delay_ms > 0) {
      // Held until the timer fires; later requests wait behind it, as on a slow server.
      delayed_ = true;
      service_->loop_->timers().arm(timer_, response.delay_ms);
      return false;
    }
    service_->loop_->timers().arm(timer_, kIdleTimeoutMs);
    return flush();
  }

  // Answers a request that cannot be taken whole, then closes.
  void refuse(int status) {
    ServiceResponse response;
    response.status = status;
    response.body = "request too large\n";
    output_ = serializeResponse(response, true);
    sent_ = 0;
    close_after_ = true;
    flush();
  }

  bool flush() {
    while (sent_ < output_.size()) {
      ssize_t n = send(fd_, output_.data() + sent_, output_.size() - sent_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        return close(), false;
      }
      sent_ += static_cast<size_t>(n);
    }
    output_.clear();
    sent_ = 0;
    if (close_after_) return close(), false;
    return true;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    service_->connections_.erase(this);
    service_->open_connections_.fetch_sub(1);
    timer_.cancel();
    ::close(fd_);
    fd_ = -1;
    service_->loop_->dispose(this);
  }

  HttpService* service_;
  int fd_;
  net::Buffer input_;
  std::string output_;
  size_t sent_ = 0;  // bytes of output_ already sent
  net::Timer timer_;
  bool closed_ = false;
  bool close_after_ = false;
  std::function<std::string()> stream_;  // set once the connection streams
  int64_t stream_interval_ms_ = 1000;
  bool delayed_ = false;   // output_ is held until timer_ fires
  uint64_t answered_ = 0;  // requests answered on this connection
};

class HttpService::Acceptor final : public net::EventHandler {
 public:
  Acceptor(HttpService* service, int fd) : service_(service), fd_(fd) {}
  ~Acceptor() { closeSocket(); }
  int fd() const { return fd_; }
  // Kept until the service stops: an event of this batch may still name it.
  void closeSocket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void onEvents(uint32_t /*events*/) override {
    while (fd_ >= 0) {
      int client = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      new Connection(service_, client);  // owned by the loop: disposed when closed
    }
  }

 private:
  HttpService* service_;
  int fd_;
};

HttpService::HttpService(net::Address address, ServiceHandler handler)
    : address_(std::move(address)), handler_(std::move(handler)) {}

HttpService::~HttpService() { stop(); }

bool HttpService::start(std::string* error, net::InheritedListeners* inherited, bool accept) {
  auto fds = net::listenOrInherit(address_, inherited, 0, 1, error);
  if (fds.empty()) return false;
  for (size_t i = 1; i < fds.size(); ++i) ::close(fds[i]);  // one socket serves it
  int fd = fds[0];
  listening_fd_ = fd;
  port_ = net::localAddress(fd).port();
  loop_ = std::make_unique<net::EventLoop>();
  acceptor_ = std::make_unique<Acceptor>(this, fd);
  accept_wanted_ = accept;
  if (accept) loop_->add(fd, acceptor_.get());
  acceptor_added_ = accept;
  loop_->setWakeHandler([this] { onWake(); });
  thread_ = std::thread([this] { loop_->run(); });
  return true;
}

void HttpService::onWake() {
  if (accepting_ && accept_wanted_ && !acceptor_added_ && acceptor_->fd() >= 0) {
    loop_->add(acceptor_->fd(), acceptor_.get());
    acceptor_added_ = true;
  }
  if (!accepting_ && acceptor_->fd() >= 0) {
    if (acceptor_added_) loop_->remove(acceptor_->fd());  // the socket lives on in the successor
    acceptor_->closeSocket();
    std::vector<Connection*> open(connections_.begin(), connections_.end());
    for (Connection* connection : open) connection->closeIfIdle();
  }
  if (stopping_) loop_->stop();
}

void HttpService::startAccepting() {
  if (!thread_.joinable()) return;
  accept_wanted_ = true;
  loop_->wake();
}

void HttpService::stopAccepting() {
  if (!thread_.joinable()) return;
  accepting_ = false;
  loop_->wake();
}

void HttpService::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  loop_->wake();
  thread_.join();
  for (auto* connection : connections_) delete connection;
  connections_.clear();
  acceptor_.reset();
  loop_.reset();
}

}  // namespace sg::admin

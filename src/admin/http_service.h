#pragma once
// A small HTTP/1.1 server on its own thread and event loop, for the admin API and the
// demo's upstream instances. Requests are answered whole (bodies up to 1 MiB, framed by
// Content-Length), or with a stream fed on a timer; it is not on the proxy's data path.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "http/message.h"
#include "net/address.h"
#include "net/event_loop.h"
#include "net/inherited_listeners.h"

namespace sg::admin {

struct ServiceResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // A streaming response (Server-Sent Events): when set, the head goes out without a
  // Content-Length, then `body`, then what `stream` returns every `stream_interval_ms`, until
  // the client closes or the service stops; the body ends when the connection closes.
  std::function<std::string()> stream;
  int64_t stream_interval_ms = 1000;
  int64_t delay_ms = 0;  // sent this long after the request (demo upstreams' latency)
};

using ServiceHandler =
    std::function<ServiceResponse(const http::RequestHead& request, std::string_view body)>;

class HttpService {
 public:
  HttpService(net::Address address, ServiceHandler handler);
  ~HttpService();
  HttpService(const HttpService&) = delete;
  HttpService& operator=(const HttpService&) = delete;

  // Binds (or takes the socket a predecessor process passed for the address, see
  // net/inherited_listeners.h) and starts the thread. False with *error when the address is
  // unusable.
  // With `accept` false the socket is held but not accepted on until startAccepting().
  bool start(std::string* error, net::InheritedListeners* inherited = nullptr, bool accept = true);
  void stop();
  // Thread-safe: begins accepting after start(..., false).
  void startAccepting();
  // Thread-safe: accepts no more connections (a successor process shares the listening socket
  // and takes them); idle kept-alive connections close, requests in flight are answered, each
  // with `Connection: close`.
  void stopAccepting();
  // Connections open now (thread-safe): after stopAccepting(), zero once the requests in
  // flight have been answered.
  int openConnections() const { return open_connections_.load(); }
  // The listening socket (-1 before start).
  int listeningFd() const { return listening_fd_; }
  // The bound port (useful when the address asked for port 0).
  uint16_t port() const { return port_; }

 private:
  class Acceptor;
  class Connection;
  void onWake();  // the loop thread: (re)considers accepting, and stopping
  net::Address address_;
  ServiceHandler handler_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<Acceptor> acceptor_;
  std::unordered_set<Connection*> connections_;  // touched only by the loop thread
  std::thread thread_;
  uint16_t port_ = 0;
  int listening_fd_ = -1;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> accept_wanted_{true};  // start(..., false) clears it, startAccepting() sets it
  bool acceptor_added_ = false;            // the loop thread's: the acceptor is in the loop
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_connections_{0};
};

std::string serializeResponse(const ServiceResponse& response, bool close);

}  // namespace sg::admin

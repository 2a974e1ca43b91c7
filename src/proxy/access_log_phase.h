#pragma once
// The last phase of every exchange: route metrics (status class, latency) and the access
// log line. The request's fields are copied when it arrives: the read buffer they point
// into may be reused before the response is logged.
#include <string>
#include <string_view>

namespace sg::proxy {

class Exchange;

class AccessLogPhase {
 public:
  explicit AccessLogPhase(Exchange& exchange) : ex_(exchange) {}
  void remember();
  void setServer(std::string_view server) { server_ = server; }
  void record(int status);
  void reset();

 private:
  Exchange& ex_;
  std::string_view server_;
  std::string method_;
  std::string path_;
  std::string request_id_;
};

}  // namespace sg::proxy

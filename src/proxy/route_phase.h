#pragma once
// The first step of every request, before the route's phase list exists: the target is
// normalised and checked, OPTIONS * and CONNECT are answered, the route is matched, and a
// declared body over max_body_size is refused.
#include <string>

#include "proxy/phase.h"

namespace sg::proxy {

class Exchange;

class RoutePhase {
 public:
  explicit RoutePhase(Exchange& exchange) : ex_(exchange) {}
  // kContinue once Exchange::route is set; kAnswered when the request was answered here.
  Verdict run();

 private:
  bool acceptTarget();

  Exchange& ex_;
  std::string normalized_path_;  // the request's path when normalising changed it
};

}  // namespace sg::proxy

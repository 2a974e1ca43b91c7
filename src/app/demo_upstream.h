#pragma once
// The demo's upstream instances: they echo what they received, and take knobs that make
// them slow or failing so the gateway's features have something to show.
#include <atomic>
#include <memory>
#include <string>

#include "admin/http_service.h"

namespace sg::app {

// Instance-wide behaviour, set with POST /_demo?latency=MS&fail=PERCENT on the instance.
struct DemoKnobs {
  std::atomic<int64_t> latency_ms{0};
  std::atomic<int> fail_percent{0};
};

// Answers every path with JSON naming the instance (header X-Upstream too):
// - `?latency=MS` delays this response (at most 10 s); `?fail=PERCENT` answers 500 that often;
//   without them the instance's knobs apply;
// - paths under /cached are cacheable (`Cache-Control: public, max-age=30`);
// - /health answers 503 while the instance fails every request (fail=100), else 200;
// - GET /_demo shows the knobs, POST /_demo?latency=..&fail=.. sets them.
admin::ServiceHandler demoInstanceHandler(std::string name, std::shared_ptr<DemoKnobs> knobs);

// The value of query parameter `name` in `query` ("a=1&b=2"), or empty.
std::string_view queryParameter(std::string_view query, std::string_view name);

}  // namespace sg::app

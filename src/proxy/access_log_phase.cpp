// The end of every exchange (docs/life-of-a-request.md, "Log"): the route's response and
// latency metrics, and one access log line when `access_log` is on.
#include "proxy/access_log_phase.h"

#include <algorithm>
#include <ctime>

#include "proxy/access_log.h"
#include "proxy/exchange.h"
#include "proxy/shared_state.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

int64_t nowMicros() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

}  // namespace

void AccessLogPhase::remember() {
  const http::RequestHead& request = ex_.request;
  method_.assign(request.method);
  path_.assign(request.target);
  request_id_.assign(ex_.generated_id);
  if (ex_.generated_id.empty()) {
    for (const auto& header : request.headers) {
      if (header.kind == http::HeaderKind::kXRequestId) request_id_.assign(header.value);
    }
  }
}

void AccessLogPhase::record(int status) {
  const Route* route = ex_.route;
  size_t status_class = static_cast<size_t>(std::clamp(status / 100, 1, 5) - 1);
  int64_t elapsed = ex_.started_us > 0 ? nowMicros() - ex_.started_us : 0;
  if (route != nullptr && !ex_.refresh()) {  // a background refresh is no client's request
    route->responses_by_class[status_class]->inc();
    route->latency->observeMicros(static_cast<uint64_t>(std::max<int64_t>(0, elapsed)));
  }
  const AccessLog* log = ex_.worker->accessLog();
  if (log == nullptr) return;
  AccessRecord entry;
  entry.listener = ex_.listener->config->name;
  entry.route = route != nullptr ? std::string_view(route->config->name) : "";
  entry.method = method_;
  entry.path = path_;
  entry.status = status;
  entry.upstream = route != nullptr ? std::string_view(route->config->upstream) : "";
  entry.upstream_server = server_;
  entry.duration_ms = static_cast<double>(elapsed) / 1000.0;
  entry.client = ex_.clientIp();
  entry.request_id = request_id_;
  // Local replies and cache hits are logged when written, before they leave: queued bytes count.
  entry.bytes_sent = ex_.to_client.bytesSent() + ex_.to_client.bytesQueued();
  log->write(entry, &ex_.worker->scratch());
}

// A request refused while parsing must not log the previous one's fields.
void AccessLogPhase::reset() {
  server_ = {};
  method_.clear();
  path_.clear();
  request_id_.clear();
}

}  // namespace sg::proxy

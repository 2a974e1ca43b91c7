#include "admin/stats_admin.h"

#include <charconv>

#include "admin/admin_reply.h"
#include "admin/dashboard_html.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

ServiceResponse methodNotAllowed() {
  ServiceResponse response = errorReply(405, "use GET or HEAD");
  response.headers.emplace_back("Allow", "GET, HEAD");
  return response;
}

// ?points=N: how many points of each series (default: all kept).
std::optional<size_t> pointsParam(std::string_view query, size_t capacity, std::string* error) {
  const auto text = queryParam(query, "points");
  if (!text) return capacity;
  size_t points = 0;
  const char* end = text->data() + text->size();
  auto [ptr, code] = std::from_chars(text->data(), end, points);
  if (text->empty() || code != std::errc() || ptr != end || points > capacity) {
    *error = "points must be a whole number from 0 to " + std::to_string(capacity);
    return std::nullopt;
  }
  return points;
}

ServiceResponse statsReply(const StatsSampler& sampler, std::string_view query) {
  std::string error;
  const auto points = pointsParam(query, sampler.capacity(), &error);
  if (!points) return errorReply(400, error);
  return jsonReply(200, sampler.document(*points));
}

ServiceResponse streamReply(const StatsSampler& sampler) {
  ServiceResponse response;
  response.content_type = "text/event-stream";
  response.headers.emplace_back("X-Accel-Buffering", "no");
  response.body = "retry: 1000\n\n" + statsEvent(sampler);
  response.stream = [&sampler] { return statsEvent(sampler); };
  response.stream_interval_ms = StatsSampler::kIntervalMs;
  return response;
}

ServiceResponse dashboardReply() {
  ServiceResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.headers.emplace_back("Cache-Control", "no-cache");
  // The page runs only its own inline code and talks only to this listener.
  response.headers.emplace_back("Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src "
                                "'unsafe-inline'; connect-src 'self'; img-src 'self' data:");
  response.body = std::string(kDashboardHtml);
  return response;
}

}  // namespace

std::string statsEvent(const StatsSampler& sampler) {
  return "event: stats\ndata: " + json::serialize(sampler.document(1)) + "\n\n";
}

std::optional<ServiceResponse> handleStatsAdmin(StatsSampler* sampler,
                                                const http::RequestHead& request) {
  const std::string_view path = request.path;
  if (path != "/admin/stats" && path != "/admin/stats/stream" && path != "/dashboard")
    return std::nullopt;
  if (request.method != "GET" && request.method != "HEAD") return methodNotAllowed();
  if (path == "/dashboard") return dashboardReply();
  if (sampler == nullptr) return errorReply(503, "statistics are not sampled in this process");
  if (path == "/admin/stats") return statsReply(*sampler, request.query);
  return streamReply(*sampler);
}

}  // namespace sg::admin

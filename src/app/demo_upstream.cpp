#include "app/demo_upstream.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <random>

#include "proxy/access_log.h"

namespace sg::app {

namespace {

constexpr int64_t kMaxLatencyMs = 10'000;

// A number in [low, high] from a query value; `fallback` when absent or not a number.
int64_t parseBounded(std::string_view text, int64_t low, int64_t high, int64_t fallback) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return fallback;
  return std::clamp(value, low, high);
}

bool rollFailure(int percent) {
  thread_local std::minstd_rand rng(
      static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  return percent > 0 && static_cast<int>(rng() % 100) < percent;
}

std::string knobsJson(const std::string& name, const DemoKnobs& knobs) {
  std::string out = "{\"instance\":";
  proxy::appendJsonString(&out, name);
  out += fmt::format(",\"latency_ms\":{},\"fail_percent\":{}}}\n", knobs.latency_ms.load(),
                     knobs.fail_percent.load());
  return out;
}

admin::ServiceResponse settingsReply(const http::RequestHead& request, const std::string& name,
                                     DemoKnobs& knobs) {
  admin::ServiceResponse response;
  response.content_type = "application/json";
  if (request.method == "POST" || request.method == "PUT") {
    knobs.latency_ms = parseBounded(queryParameter(request.query, "latency"), 0, kMaxLatencyMs,
                                    knobs.latency_ms.load());
    knobs.fail_percent = static_cast<int>(
        parseBounded(queryParameter(request.query, "fail"), 0, 100, knobs.fail_percent.load()));
  } else if (request.method != "GET" && request.method != "HEAD") {
    response.status = 405;
    response.headers.emplace_back("Allow", "GET, HEAD, POST, PUT");
  }
  response.body = knobsJson(name, knobs);
  return response;
}

std::string echoJson(const std::string& name, const http::RequestHead& request, size_t body_bytes,
                     bool failed) {
  std::string out = "{\"instance\":";
  proxy::appendJsonString(&out, name);
  out += ",\"method\":";
  proxy::appendJsonString(&out, request.method);
  out += ",\"path\":";
  proxy::appendJsonString(&out, request.target);
  out += fmt::format(",\"body_bytes\":{}", body_bytes);
  if (failed) out += ",\"error\":\"injected failure\"";
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  out += fmt::format(",\"generated_at_ms\":{}}}\n", now_ms);
  return out;
}

}  // namespace

std::string_view queryParameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t end = query.find('&');
    std::string_view pair = query.substr(0, end);
    size_t equals = pair.find('=');
    if (pair.substr(0, equals) == name)
      return equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    if (end == std::string_view::npos) break;
    query.remove_prefix(end + 1);
  }
  return {};
}

admin::ServiceHandler demoInstanceHandler(std::string name, std::shared_ptr<DemoKnobs> knobs) {
  return [name, knobs](const http::RequestHead& request, std::string_view body) {
    if (request.path == "/_demo") return settingsReply(request, name, *knobs);
    admin::ServiceResponse response;
    response.headers.emplace_back("X-Upstream", name);
    if (request.path == "/health") {
      bool down = knobs->fail_percent.load() >= 100;
      response.status = down ? 503 : 200;
      response.body = down ? "failing\n" : "ok\n";
      return response;
    }
    response.content_type = "application/json";
    response.delay_ms = parseBounded(queryParameter(request.query, "latency"), 0, kMaxLatencyMs,
                                     knobs->latency_ms.load());
    int fail = static_cast<int>(
        parseBounded(queryParameter(request.query, "fail"), 0, 100, knobs->fail_percent.load()));
    bool failed = rollFailure(fail);
    if (failed) response.status = 500;
    if (!failed && request.path.starts_with("/cached"))
      response.headers.emplace_back("Cache-Control", "public, max-age=30");
    response.body = echoJson(name, request, body.size(), failed);
    return response;
  };
}

}  // namespace sg::app

// `scalegate demo`: three demo upstream instances on loopback plus a gateway in front of
// them, configured through the same YAML path as `run`.
#include <cstdio>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "admin/http_service.h"
#include "app/cli.h"
#include "proxy/access_log.h"

namespace sg::app {

namespace {

admin::ServiceHandler demoHandler(std::string name) {
  return [name](const http::RequestHead& request, std::string_view body) {
    admin::ServiceResponse response;
    response.content_type = "application/json";
    response.headers.emplace_back("X-Upstream", name);
    std::string out = "{\"instance\":";
    proxy::appendJsonString(&out, name);
    out += ",\"method\":";
    proxy::appendJsonString(&out, request.method);
    out += ",\"path\":";
    proxy::appendJsonString(&out, request.target);
    out += fmt::format(",\"body_bytes\":{}}}\n", body.size());
    response.body = std::move(out);
    return response;
  };
}

std::string demoConfig(uint16_t port, uint16_t admin_port, const std::vector<uint16_t>& ports) {
  return fmt::format(R"(listeners:
  - name: demo
    address: 127.0.0.1:{0}
    routes:
      - name: weighted
        match: {{ prefix: /weighted }}
        upstream: weighted
        strip_prefix: true
      - name: api
        match: {{ prefix: / }}
        upstream: demo
upstreams:
  demo:
    balance: round_robin
    servers:
      - {{ address: 127.0.0.1:{2} }}
      - {{ address: 127.0.0.1:{3} }}
      - {{ address: 127.0.0.1:{4} }}
  weighted:
    balance: weighted_round_robin
    servers:
      - {{ address: 127.0.0.1:{2}, weight: 5 }}
      - {{ address: 127.0.0.1:{3}, weight: 1 }}
      - {{ address: 127.0.0.1:{4}, weight: 1 }}
admin:
  address: 127.0.0.1:{1}
)", port, admin_port, ports[0], ports[1], ports[2]);
}

}  // namespace

int runDemo(uint16_t port, uint16_t admin_port) {
  std::vector<std::unique_ptr<admin::HttpService>> instances;
  std::vector<uint16_t> ports;
  std::string error;
  auto any_port = net::Address::parse("127.0.0.1:0", &error);
  for (int i = 1; i <= 3; ++i) {
    auto service = std::make_unique<admin::HttpService>(*any_port, demoHandler(fmt::format("demo-{}", i)));
    if (!service->start(&error)) {
      std::fprintf(stderr, "demo upstream: %s\n", error.c_str());
      return 1;
    }
    ports.push_back(service->port());
    instances.push_back(std::move(service));
  }
  std::string yaml = demoConfig(port, admin_port, ports);
  auto result = config::loadConfigString(yaml, "<demo>");
  for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.toString().c_str());
  if (!result.config) return 1;
  std::printf(
      "scalegate demo: gateway on http://127.0.0.1:%u, admin on http://127.0.0.1:%u\n"
      "demo upstreams on 127.0.0.1:%u, :%u, :%u\n\n"
      "Try:\n"
      "  curl -s http://127.0.0.1:%u/hello            # round robin over demo-1..3\n"
      "  curl -s http://127.0.0.1:%u/weighted/hello   # weights 5:1:1\n"
      "  curl -s http://127.0.0.1:%u/metrics          # Prometheus metrics\n"
      "  curl -s http://127.0.0.1:%u/health           # upstream health (JSON)\n\n"
      "The configuration in use:\n%s\nCtrl-C stops it.\n",
      port, admin_port, ports[0], ports[1], ports[2], port, port, admin_port, admin_port,
      yaml.c_str());
  std::fflush(stdout);
  int code = runGateway(result.config);
  for (auto& instance : instances) instance->stop();
  return code;
}

}  // namespace sg::app

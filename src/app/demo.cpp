// `scalegate demo`: demo upstream instances on loopback plus a gateway in front of them,
// configured through the same YAML path as `run`, with routes that show each feature.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "admin/http_service.h"
#include "app/cli.h"
#include "app/demo_load.h"
#include "app/demo_upstream.h"

namespace sg::app {

namespace {

constexpr int kInstances = 3;
constexpr int kLoadClients = 4;

struct DemoInstances {
  std::vector<std::unique_ptr<admin::HttpService>> services;
  std::vector<uint16_t> ports;
  ~DemoInstances() {
    for (auto& service : services) service->stop();
  }
};

bool startInstances(DemoInstances* instances) {
  std::string error;
  auto any_port = net::Address::parse("127.0.0.1:0", &error);
  for (int i = 1; i <= kInstances; ++i) {
    auto service = std::make_unique<admin::HttpService>(
        *any_port, demoInstanceHandler(fmt::format("demo-{}", i), std::make_shared<DemoKnobs>()));
    if (!service->start(&error)) {
      std::fprintf(stderr, "demo upstream: %s\n", error.c_str());
      return false;
    }
    instances->ports.push_back(service->port());
    instances->services.push_back(std::move(service));
  }
  return true;
}

// This binary: the autoscaled upstream runs copies of `scalegate demo-upstream`.
std::string selfPath() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("scalegate") : path.string();
}

std::string demoConfig(const DemoOptions& options, const std::vector<uint16_t>& ports,
                       const std::string& data_dir) {
  return fmt::format(R"(listeners:
  - name: demo
    address: 127.0.0.1:{0}
    routes:
      - name: weighted
        match: {{ prefix: /weighted }}
        upstream: weighted
        strip_prefix: true
      - name: cached
        match: {{ prefix: /cached }}
        upstream: demo
        cache: {{ enabled: true }}
      - name: limited
        match: {{ prefix: /limited }}
        upstream: demo
        strip_prefix: true
        rate_limit: {{ rate: 5/s, burst: 5, key: ip }}
      - name: flaky
        match: {{ prefix: /flaky }}
        upstream: flaky
        strip_prefix: true
      - name: orders
        match: {{ prefix: /orders, methods: [POST] }}
        upstream: demo
        async: {{ queue: demo-jobs }}
      - name: scale
        match: {{ prefix: /scale }}
        upstream: scale
        strip_prefix: true
      - name: api
        match: {{ prefix: / }}
        upstream: demo
upstreams:
  demo:
    balance: round_robin
    health_check: {{ path: /health, interval: 1s, timeout: 500ms, rise: 1, fall: 1 }}
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
  flaky:
    balance: round_robin
    circuit_breaker: {{ error_threshold_percent: 50, volume_threshold: 5, window: 10s, reset_timeout: 15s }}
    servers:
      - {{ address: 127.0.0.1:{2} }}
      - {{ address: 127.0.0.1:{3} }}
      - {{ address: 127.0.0.1:{4} }}
  scale:
    balance: least_request
    discovery: {{ registry: scale }}
    health_check: {{ path: /health, interval: 1s, timeout: 500ms, rise: 1, fall: 2 }}
    autoscale:
      min: 1
      max: 5
      target: {{ in_flight_per_server: 2 }}
      scale_up: {{ max_percent: 100, cooldown: 5s }}
      scale_down: {{ max_percent: 50, cooldown: 10s, stabilization: 20s }}
      actuator: {{ type: process, command: "'{6}' demo-upstream --port {{port}} --name scale-{{port}} --latency 100" }}
cache: {{ memory: 64MiB }}
queues:
  demo-jobs: {{ store: sqlite, path: {5}/demo-jobs.db, concurrency: 4, attempts: 3 }}
admin:
  address: 127.0.0.1:{1}
)",
                     options.port, options.admin_port, ports[0], ports[1], ports[2], data_dir,
                     selfPath());
}

// What to try, each line runnable as printed (tests/integration/test_demo.py runs them).
void printIntro(const DemoOptions& options, const std::vector<uint16_t>& ports,
                const std::string& yaml) {
  const std::string gateway = fmt::format("http://127.0.0.1:{}", options.port);
  const std::string admin = fmt::format("http://127.0.0.1:{}", options.admin_port);
  std::string out = fmt::format("Dashboard: {}/dashboard\n\n", admin);
  out += fmt::format("scalegate demo: gateway on {}, admin on {}\n", gateway, admin);
  out += fmt::format("demo upstreams demo-1..3 on 127.0.0.1:{}, :{}, :{}{}\n\nTry:\n", ports[0],
                     ports[1], ports[2], options.load ? " (built-in load running)" : "");
  out += fmt::format(
      "  curl -s {0}/api/hello   # round robin: run it three times, demo-1, demo-2, demo-3 answer "
      "in turn\n"
      "  curl -s {0}/weighted/hello   # weighted round robin, 5:1:1\n"
      "  curl -si {0}/cached/catalog | grep -i '^x-cache'   # cache: MISS, then HIT for 30 s\n"
      "  for i in 1 2 3 4 5 6 7; do curl -s -o /dev/null -w '%{{http_code}} ' {0}/limited/ping; "
      "done; echo   # rate limit 5/s: 200 five times, then 429\n"
      "  for i in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null -w '%{{http_code}} ' "
      "'{0}/flaky/x?fail=100'; done; echo   # circuit breaker: 500s, then 503 once it opens\n"
      "  curl -s \"{0}$(curl -s -o /dev/null -w '%header{{location}}' -X POST -d "
      "'{{\"item\":\"book\"}}' {0}/orders)\"   # async route: 202 + job id; this shows the job's "
      "state\n",
      gateway);
  out += fmt::format(
      "  curl -s -X POST 'http://127.0.0.1:{0}/_demo?latency=300'   # demo-1 answers in 300 ms: "
      "watch p95 on the dashboard (latency=0 undoes it)\n"
      "  curl -s -X POST 'http://127.0.0.1:{1}/_demo?fail=100'   # demo-2 fails: its health check "
      "takes it out within 1 s (fail=0 undoes it)\n",
      ports[0], ports[1]);
  out += fmt::format(
      "  curl -s {1}/scale/work   # autoscaled: answered by a copy of `scalegate demo-upstream` "
      "(scale-PORT) the autoscaler started\n"
      "  curl -s {0}/admin/autoscale/scale   # autoscaler: current and desired copies (with --load "
      "they follow the load, 1 to 5)\n"
      "  curl -s {0}/metrics | grep '^scalegate_requests_total'   # Prometheus metrics\n"
      "  curl -s {0}/health   # health of every upstream and server (JSON)\n",
      admin, gateway);
  out += fmt::format("\nThe configuration in use:\n{}\nCtrl-C stops it.\n", yaml);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

int runDemoUpstream(const DemoUpstreamOptions& options) {
  sigset_t signals = blockShutdownSignals();
  auto knobs = std::make_shared<DemoKnobs>();
  knobs->latency_ms = options.latency_ms;
  std::string error;
  auto address = net::Address::parse(fmt::format("127.0.0.1:{}", options.port), &error);
  admin::HttpService service(*address, demoInstanceHandler(options.name, knobs));
  if (!service.start(&error)) {
    std::fprintf(stderr, "demo-upstream: %s\n", error.c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", service.port());
  std::fflush(stdout);
  int received = 0;
  do {
    sigwait(&signals, &received);
  } while (received != SIGTERM && received != SIGINT);
  service.stop();
  return 0;
}

int runDemo(const DemoOptions& options) {
  DemoInstances instances;
  if (!startInstances(&instances)) return 1;
  char data_template[] = "/tmp/scalegate-demo-XXXXXX";
  if (mkdtemp(data_template) == nullptr) {
    std::perror("demo: mkdtemp");
    return 1;
  }
  const std::string data_dir = data_template;
  std::string yaml = demoConfig(options, instances.ports, data_dir);
  auto result = config::loadConfigString(yaml, "<demo>");
  for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.toString().c_str());
  int code = 1;
  if (result.config) {
    printIntro(options, instances.ports, yaml);
    std::optional<DemoLoad> load;
    if (options.load) load.emplace(options.port, kLoadClients);
    code = runGateway(RunOptions{}, result.config);
  }
  std::error_code ignored;
  std::filesystem::remove_all(data_dir, ignored);
  return code;
}

}  // namespace sg::app

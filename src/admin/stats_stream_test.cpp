// The admin listener's streaming responses and the stats endpoints, over real loopback
// connections.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "admin/admin_api.h"
#include "admin/http_service.h"
#include "admin/stats_admin.h"
#include "admin/stats_sampler.h"
#include "config/config.h"

namespace sg::admin {
namespace {

namespace json = boost::json;

net::Address anyLoopbackPort() {
  std::string error;
  return net::Address::parse("127.0.0.1:0", &error).value();
}

int connectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  return fd;
}

void sendAll(int fd, const std::string& text) {
  ASSERT_EQ(send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

// Reads until `needle` has appeared `times` times (or the peer closes / 5 s pass).
std::string readUntil(int fd, const std::string& needle, int times) {
  std::string got;
  char buffer[4096];
  auto count = [&] {
    int n = 0;
    for (size_t at = got.find(needle); at != std::string::npos; at = got.find(needle, at + 1)) ++n;
    return n;
  };
  while (count() < times) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<size_t>(n));
  }
  return got;
}

// A whole response to one request on a fresh connection (the request asks to close).
std::string fetch(uint16_t port, const std::string& request) {
  int fd = connectTo(port);
  sendAll(fd, request);
  std::string got = readUntil(fd, "\x01never", 1);
  ::close(fd);
  return got;
}

TEST(StatsStreamTest, StreamSendsTheBodyThenAChunkPerIntervalUntilTheClientCloses) {
  std::atomic<int> produced{0};
  HttpService service(anyLoopbackPort(), [&](const http::RequestHead&, std::string_view) {
    ServiceResponse response;
    response.content_type = "text/event-stream";
    response.body = "data: first\n\n";
    response.stream = [&] { return "data: tick " + std::to_string(++produced) + "\n\n"; };
    response.stream_interval_ms = 20;
    return response;
  });
  std::string error;
  ASSERT_TRUE(service.start(&error)) << error;
  int fd = connectTo(service.port());
  sendAll(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = readUntil(fd, "data: tick", 3);
  EXPECT_NE(got.find("HTTP/1.1 200 OK\r\n"), std::string::npos);
  EXPECT_NE(got.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(got.find("Cache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_EQ(got.find("Content-Length"), std::string::npos);
  EXPECT_LT(got.find("data: first"), got.find("data: tick 1\n\n"));
  EXPECT_LT(got.find("data: tick 1\n\n"), got.find("data: tick 2\n\n"));
  ::close(fd);
  // The service stops producing for the closed client (at most one tick in flight).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int after_close = produced.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(produced.load(), after_close + 1);
  service.stop();
}

TEST(StatsStreamTest, StopClosesOpenStreams) {
  HttpService service(anyLoopbackPort(), [](const http::RequestHead&, std::string_view) {
    ServiceResponse response;
    response.body = "data: first\n\n";
    response.stream = [] { return std::string("data: tick\n\n"); };
    response.stream_interval_ms = 50;
    return response;
  });
  std::string error;
  ASSERT_TRUE(service.start(&error)) << error;
  int fd = connectTo(service.port());
  sendAll(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  readUntil(fd, "data: tick", 1);
  service.stop();
  char byte;
  ssize_t n = 0;
  while ((n = recv(fd, &byte, 1, 0)) > 0) {
  }
  EXPECT_EQ(n, 0);  // closed cleanly (not a timeout)
  ::close(fd);
}

class StatsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto result = config::loadConfigString(R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - name: api
        upstream: users
upstreams:
  users:
    servers:
      - address: 127.0.0.1:3001
admin:
  address: 127.0.0.1:0
)",
                                           "stats_endpoint.yaml");
    ASSERT_TRUE(result.errors.empty());
    shared_ = std::make_unique<proxy::SharedState>(result.config, 1);
    sampler_ = std::make_unique<StatsSampler>(*shared_, nullptr);
    sampler_->sampleNow();
    service_ = std::make_unique<HttpService>(
        anyLoopbackPort(), makeAdminHandler({.shared = shared_.get(), .stats = sampler_.get()}));
    std::string error;
    ASSERT_TRUE(service_->start(&error)) << error;
  }
  void TearDown() override { service_->stop(); }
  std::string get(const std::string& target, const std::string& method = "GET") {
    return fetch(service_->port(),
                 method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  }

  std::unique_ptr<proxy::SharedState> shared_;
  std::unique_ptr<StatsSampler> sampler_;
  std::unique_ptr<HttpService> service_;
};

json::object bodyJson(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return json::parse(response.substr(at + 4)).as_object();
}

TEST_F(StatsEndpointTest, StatsAnswersTheDocument) {
  std::string response = get("/admin/stats?points=1");
  ASSERT_NE(response.find("HTTP/1.1 200"), std::string::npos) << response;
  json::object document = bodyJson(response);
  EXPECT_EQ(document.at("interval_ms"), 1000);
  EXPECT_EQ(document.at("current").at("upstreams").at("users").at("servers").at(0).at("address"),
            "127.0.0.1:3001");
  EXPECT_EQ(document.at("series").at("routes").at("public/api").at("rps").as_array().size(), 1u);
}

TEST_F(StatsEndpointTest, BadPointsAndMethodsAreRefused) {
  for (const char* target : {"/admin/stats?points=x", "/admin/stats?points=-1",
                             "/admin/stats?points=901", "/admin/stats?points="}) {
    std::string response = get(target);
    EXPECT_NE(response.find("HTTP/1.1 400"), std::string::npos) << target;
    EXPECT_NE(response.find("points must be a whole number from 0 to 900"), std::string::npos);
  }
  for (const char* target : {"/admin/stats", "/admin/stats/stream", "/dashboard"}) {
    std::string response = get(target, "POST");
    EXPECT_NE(response.find("HTTP/1.1 405"), std::string::npos) << target;
    EXPECT_NE(response.find("Allow: GET, HEAD"), std::string::npos);
  }
}

TEST_F(StatsEndpointTest, StreamSendsStatsEvents) {
  int fd = connectTo(service_->port());
  sendAll(fd, "GET /admin/stats/stream HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = readUntil(fd, "event: stats\ndata: ", 2);  // the first, then a tick
  ::close(fd);
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos);
  auto at = got.find("event: stats\ndata: ");
  ASSERT_NE(at, std::string::npos);
  auto start = at + std::string("event: stats\ndata: ").size();
  json::object event = json::parse(got.substr(start, got.find("\n\n", start) - start)).as_object();
  EXPECT_TRUE(event.at("current").as_object().contains("upstreams"));
}

TEST_F(StatsEndpointTest, DashboardIsOneSelfContainedPage) {
  std::string response = get("/dashboard");
  EXPECT_NE(response.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(response.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(response.find("<canvas"), std::string::npos);
  EXPECT_NE(response.find("/admin/stats/stream"), std::string::npos);
  EXPECT_EQ(response.find("<script src"), std::string::npos);  // nothing fetched from elsewhere
  EXPECT_EQ(response.find("https://"), std::string::npos);
}

TEST(StatsEndpointWithoutSamplerTest, StatsAnswer503) {
  auto result = config::loadConfigString(
      "listeners:\n  - name: l\n    address: 127.0.0.1:0\n    routes:\n      - upstream: u\n"
      "upstreams:\n  u:\n    servers:\n      - address: 127.0.0.1:3001\n",
      "no_sampler.yaml");
  ASSERT_TRUE(result.errors.empty());
  proxy::SharedState shared(result.config, 1);
  http::RequestHead head;
  head.method = "GET";
  head.path = "/admin/stats";
  auto reply = handleStatsAdmin(nullptr, head);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 503);
}

}  // namespace
}  // namespace sg::admin

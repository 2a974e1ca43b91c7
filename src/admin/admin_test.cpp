#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "admin/admin_api.h"
#include "admin/http_service.h"
#include "config/config.h"
#include "http/parser.h"
#include "net/event_loop.h"

namespace sg::admin {
namespace {

namespace json = boost::json;

constexpr const char* kConfig = R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - match: { prefix: /api }
        upstream: users
      - upstream: static
upstreams:
  users:
    servers:
      - { address: 127.0.0.1:3001, weight: 5 }
      - { address: 127.0.0.1:3002, backup: true }
  static:
    servers:
      - address: 127.0.0.1:3003
admin:
  address: 127.0.0.1:0
)";

std::shared_ptr<const config::Config> loadTestConfig() {
  auto result = config::loadConfigString(kConfig, "admin_test.yaml");
  std::string errors;
  for (const auto& error : result.errors) errors += error.toString() + "\n";
  EXPECT_TRUE(result.errors.empty()) << errors;
  return result.config;
}

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = loadTestConfig();
    ASSERT_NE(config_, nullptr);
    shared_ = std::make_unique<proxy::SharedState>(config_, 1);
    ASSERT_EQ(shared_->upstreams().size(), 2u);
    ASSERT_EQ(shared_->upstreams()[0].config->name, "users");
    ASSERT_EQ(shared_->upstreams()[0].servers.size(), 2u);
    ASSERT_EQ(shared_->upstreams()[1].config->name, "static");
  }

  proxy::SharedServer& server(size_t upstream, size_t index) {
    return *shared_->upstreams()[upstream].servers[index];
  }

  json::object health(int64_t now_ms, int* status) {
    ServiceResponse response = healthResponse(*shared_, now_ms);
    *status = response.status;
    EXPECT_EQ(response.content_type, "application/json");
    EXPECT_FALSE(response.body.empty());
    EXPECT_EQ(response.body.back(), '\n');
    json::error_code ec;
    json::value document = json::parse(response.body, ec);
    EXPECT_FALSE(ec) << response.body;
    if (ec || !document.is_object()) return {};
    return document.as_object();
  }

  std::string serverState(const json::object& document, const char* upstream, size_t index) {
    return json::value_to<std::string>(
        document.at("upstreams").at(upstream).at("servers").at(index).at("state"));
  }

  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<proxy::SharedState> shared_;
};

constexpr int64_t kT = 1'000'000;  // an arbitrary monotonic time in ms

TEST_F(AdminTest, HealthOkWhenAllServersUp) {
  int status = 0;
  json::object document = health(kT, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(document.at("status"), "ok");
  const auto& users = document.at("upstreams").at("users").as_object();
  EXPECT_EQ(users.at("available"), true);
  const auto& servers = users.at("servers").as_array();
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].at("address"), "127.0.0.1:3001");
  EXPECT_EQ(servers[0].at("state"), "up");
  EXPECT_EQ(servers[0].at("backup"), false);
  EXPECT_EQ(servers[0].at("weight").to_number<int64_t>(), 5);
  EXPECT_FALSE(servers[0].as_object().contains("reason"));
  EXPECT_EQ(servers[1].at("address"), "127.0.0.1:3002");
  EXPECT_EQ(servers[1].at("state"), "up");
  EXPECT_EQ(servers[1].at("backup"), true);
  EXPECT_EQ(serverState(document, "static", 0), "up");
}

TEST_F(AdminTest, HealthReportsServerCounters) {
  server(0, 0).requests->inc();
  server(0, 0).requests->inc();
  server(0, 0).errors->inc();
  int status = 0;
  json::object document = health(kT, &status);
  const auto& first = document.at("upstreams").at("users").at("servers").at(0);
  EXPECT_EQ(first.at("requests").to_number<int64_t>(), 2);
  EXPECT_EQ(first.at("errors").to_number<int64_t>(), 1);
  EXPECT_EQ(first.at("active_connections").to_number<int64_t>(), 0);
}

TEST_F(AdminTest, HealthDegradedWhenOneServerDown) {
  server(0, 1).health.recordFailure(kT);  // max_fails defaults to 1
  int status = 0;
  json::object document = health(kT, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(document.at("status"), "degraded");
  EXPECT_EQ(serverState(document, "users", 0), "up");
  EXPECT_EQ(serverState(document, "users", 1), "down");
  EXPECT_EQ(document.at("upstreams").at("users").at("servers").at(1).at("reason"),
            "failed_connects");
  EXPECT_EQ(document.at("upstreams").at("users").at("available"), true);
}

TEST_F(AdminTest, HealthRecoversAfterFailTimeout) {
  server(0, 0).health.recordFailure(kT);
  int status = 0;
  EXPECT_EQ(health(kT + 9'999, &status).at("status"), "degraded");  // fail_timeout 10s
  json::object document = health(kT + 10'000, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(document.at("status"), "ok");
  EXPECT_EQ(serverState(document, "users", 0), "up");
}

TEST_F(AdminTest, HealthUnavailableWhenEveryServerOfAnUpstreamIsDown) {
  server(0, 0).health.recordFailure(kT);
  server(0, 1).health.recordFailure(kT);
  int status = 0;
  json::object document = health(kT, &status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(document.at("status"), "unavailable");
  EXPECT_EQ(document.at("upstreams").at("users").at("available"), false);
  EXPECT_EQ(document.at("upstreams").at("static").at("available"), true);
  EXPECT_EQ(serverState(document, "users", 0), "down");
  EXPECT_EQ(serverState(document, "users", 1), "down");
}

TEST_F(AdminTest, HealthUnavailableWhenSingleServerUpstreamIsDown) {
  server(1, 0).health.recordFailure(kT);
  int status = 0;
  json::object document = health(kT, &status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(document.at("status"), "unavailable");
  EXPECT_EQ(document.at("upstreams").at("users").at("available"), true);
  EXPECT_EQ(document.at("upstreams").at("static").at("available"), false);
}

TEST_F(AdminTest, HealthDrainingWins) {
  shared_->draining = true;
  int status = 0;
  json::object document = health(kT, &status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(document.at("status"), "draining");
  server(0, 0).health.recordFailure(kT);
  server(0, 1).health.recordFailure(kT);
  document = health(kT, &status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(document.at("status"), "draining");
}

// ---- the handler ----

struct ParsedRequest {
  std::string raw;
  http::RequestHead head;
};

std::unique_ptr<ParsedRequest> parse(std::string raw) {
  auto request = std::make_unique<ParsedRequest>();
  request->raw = std::move(raw);
  http::ParseError error = http::ParseError::kNone;
  EXPECT_EQ(http::parseRequestHead(request->raw, {}, &request->head, &error),
            http::ParseStatus::kComplete);
  return request;
}

ServiceResponse call(const ServiceHandler& handler, const std::string& method,
                     const std::string& target) {
  auto request = parse(method + " " + target + " HTTP/1.1\r\nHost: admin\r\n\r\n");
  return handler(request->head, {});
}

TEST_F(AdminTest, MetricsEndpointServesPrometheusText) {
  ServiceHandler handler = makeAdminHandler({shared_.get()});
  ServiceResponse response = call(handler, "GET", "/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string& body = response.body;
  EXPECT_NE(body.find("# TYPE scalegate_upstream_server_up gauge\n"), std::string::npos) << body;
  EXPECT_NE(
      body.find("scalegate_upstream_server_up{upstream=\"users\",server=\"127.0.0.1:3001\"} 1\n"),
      std::string::npos)
      << body;
  EXPECT_NE(
      body.find("scalegate_upstream_server_up{upstream=\"users\",server=\"127.0.0.1:3002\"} 1\n"),
      std::string::npos)
      << body;
  EXPECT_NE(
      body.find("scalegate_upstream_server_up{upstream=\"static\",server=\"127.0.0.1:3003\"} 1\n"),
      std::string::npos)
      << body;
}

TEST_F(AdminTest, MetricsShowsServerDownAtScrapeTime) {
  // The gauge reads the real monotonic clock; a failure now keeps the server down for the
  // 10 s fail_timeout, far longer than this test runs.
  server(0, 1).health.recordFailure(net::monotonicMillis());
  ServiceHandler handler = makeAdminHandler({shared_.get()});
  const std::string body = call(handler, "GET", "/metrics").body;
  EXPECT_NE(
      body.find("scalegate_upstream_server_up{upstream=\"users\",server=\"127.0.0.1:3002\"} 0\n"),
      std::string::npos)
      << body;
  EXPECT_NE(
      body.find("scalegate_upstream_server_up{upstream=\"users\",server=\"127.0.0.1:3001\"} 1\n"),
      std::string::npos)
      << body;
}

TEST_F(AdminTest, MetricsWithQueryStringAndHead) {
  ServiceHandler handler = makeAdminHandler({shared_.get()});
  EXPECT_EQ(call(handler, "GET", "/metrics?name[]=x").status, 200);
  EXPECT_EQ(call(handler, "HEAD", "/metrics").status, 200);
}

TEST_F(AdminTest, HealthEndpoint) {
  ServiceHandler handler = makeAdminHandler({shared_.get()});
  ServiceResponse response = call(handler, "GET", "/health");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_NE(response.body.find("\"status\":\"ok\""), std::string::npos) << response.body;
  shared_->draining = true;
  response = call(handler, "GET", "/health");
  EXPECT_EQ(response.status, 503);
  EXPECT_NE(response.body.find("\"status\":\"draining\""), std::string::npos) << response.body;
}

TEST_F(AdminTest, UnknownPathIs404) {
  ServiceHandler handler = makeAdminHandler({shared_.get()});
  EXPECT_EQ(call(handler, "GET", "/nope").status, 404);
  EXPECT_EQ(call(handler, "GET", "/metrics/").status, 404);
  EXPECT_EQ(call(handler, "GET", "/").status, 404);
  EXPECT_EQ(call(handler, "DELETE", "/other").status, 404);
}

TEST_F(AdminTest, WrongMethodIs405) {
  ServiceHandler handler = makeAdminHandler({shared_.get()});
  for (const char* path : {"/metrics", "/health"}) {
    for (const char* method : {"POST", "PUT", "DELETE"}) {
      ServiceResponse response = call(handler, method, path);
      EXPECT_EQ(response.status, 405) << method << " " << path;
      ASSERT_EQ(response.headers.size(), 1u);
      EXPECT_EQ(response.headers[0].first, "Allow");
      EXPECT_EQ(response.headers[0].second, "GET, HEAD");
    }
  }
}

// ---- serializeResponse ----

TEST(SerializeResponse, ExactBytes) {
  ServiceResponse response;
  response.status = 404;
  response.body = "nope\n";
  response.headers.emplace_back("X-A", "1");
  EXPECT_EQ(serializeResponse(response, false),
            "HTTP/1.1 404 Not Found\r\n"
            "Server: scalegate\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "X-A: 1\r\n"
            "Content-Length: 5\r\n"
            "\r\n"
            "nope\n");
  EXPECT_EQ(serializeResponse(response, true),
            "HTTP/1.1 404 Not Found\r\n"
            "Server: scalegate\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "X-A: 1\r\n"
            "Content-Length: 5\r\n"
            "Connection: close\r\n"
            "\r\n"
            "nope\n");
}

// The service sends 405 and 411 itself; their reason phrases must be the standard ones.
TEST(SerializeResponse, ReasonPhrasesForStatusesTheServiceSends) {
  ServiceResponse response;
  response.status = 405;
  std::string expected_405 = "HTTP/1.1 405 Method Not Allowed\r\n";
  EXPECT_EQ(serializeResponse(response, false).substr(0, expected_405.size()), expected_405);
  response.status = 411;
  std::string expected_411 = "HTTP/1.1 411 Length Required\r\n";
  EXPECT_EQ(serializeResponse(response, false).substr(0, expected_411.size()), expected_411);
}

// ---- HttpService end to end over a real socket ----

class Client {
 public:
  // `receive_buffer` > 0 shrinks the socket's receive buffer (before connecting, so the
  // advertised window is small too): the server then fills its send buffer quickly.
  explicit Client(uint16_t port, int receive_buffer = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    if (receive_buffer > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    // A guard against hanging forever if the server never answers (not a timing assertion).
    timeval timeout{30, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    EXPECT_TRUE(connected_);
  }
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }

  bool connected() const { return connected_; }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send failed";
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  struct Response {
    int status = 0;
    std::string head;
    std::string body;
    bool keep_alive = true;
  };

  // Reads until `count` complete responses (Content-Length framed) have arrived.
  std::vector<Response> read(size_t count) {
    std::vector<Response> responses;
    while (responses.size() < count) {
      http::ResponseHead head;
      http::ParseError error = http::ParseError::kNone;
      auto status = http::parseResponseHead(pending_, {}, false, &head, &error);
      if (status == http::ParseStatus::kError) {
        ADD_FAILURE() << "bad response: " << pending_;
        return responses;
      }
      if (status == http::ParseStatus::kComplete &&
          pending_.size() >= head.head_length + head.content_length) {
        Response response;
        response.status = head.status;
        response.keep_alive = head.keep_alive;
        response.head = pending_.substr(0, head.head_length);
        response.body = pending_.substr(head.head_length, head.content_length);
        pending_.erase(0, head.head_length + head.content_length);
        responses.push_back(std::move(response));
        continue;
      }
      if (!receive()) {
        ADD_FAILURE() << "connection ended after " << responses.size() << " responses";
        return responses;
      }
    }
    return responses;
  }

  // True once the server closed the connection (EOF or reset) with nothing more sent.
  bool closedByPeer() {
    char byte;
    ssize_t n = recv(fd_, &byte, 1, 0);
    if (n > 0) pending_.push_back(byte);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  const std::string& pending() const { return pending_; }

  // Reads until `text` appears in what was received; false if the connection ended first.
  bool readUntil(std::string_view text) {
    while (pending_.find(text) == std::string::npos) {
      if (!receive()) return false;
    }
    return true;
  }

 private:
  bool receive() {
    char chunk[4096];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    pending_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

constexpr size_t kBigBody = 16 * 1024 * 1024;  // far more than any socket buffer holds

// Echoes what it saw: "METHOD PATH QUERY BODY"; /big answers kBigBody bytes.
ServiceResponse echoHandler(const http::RequestHead& request, std::string_view body) {
  ServiceResponse response;
  if (request.path == "/big") {
    response.body.assign(kBigBody, 'b');
    return response;
  }
  response.status = request.path == "/missing" ? 404 : 200;
  response.body = std::string(request.method) + " " + std::string(request.path) + " " +
                  std::string(request.query) + " " + std::string(body);
  response.headers.emplace_back("X-Echo", "yes");
  return response;
}

class HttpServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    auto address = net::Address::parse("127.0.0.1:0", &error);
    ASSERT_TRUE(address.has_value()) << error;
    service_ = std::make_unique<HttpService>(*address, echoHandler);
    ASSERT_TRUE(service_->start(&error)) << error;
    ASSERT_NE(service_->port(), 0);
  }

  std::unique_ptr<HttpService> service_;
};

TEST_F(HttpServiceTest, SingleRequest) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send("GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  auto responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[0].body, "GET /hello x=1 ");
  EXPECT_EQ(responses[0].head,
            "HTTP/1.1 200 OK\r\n"
            "Server: scalegate\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "X-Echo: yes\r\n"
            "Content-Length: 15\r\n"
            "\r\n");
}

TEST_F(HttpServiceTest, TwoPipelinedRequestsInOneWrite) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send(
      "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n");
  auto responses = client.read(2);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[0].body, "GET /first  ");
  EXPECT_TRUE(responses[0].keep_alive);
  EXPECT_EQ(responses[1].status, 404);
  EXPECT_EQ(responses[1].body, "GET /missing  ");
  EXPECT_TRUE(responses[1].keep_alive);
  EXPECT_TRUE(client.pending().empty());
  // The connection stays usable.
  client.send("GET /third HTTP/1.1\r\nHost: a\r\n\r\n");
  responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "GET /third  ");
}

TEST_F(HttpServiceTest, PipelinedRequestsWithBodies) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send(
      "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
      "PUT /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
      "GET /c HTTP/1.1\r\nHost: a\r\n\r\n");
  auto responses = client.read(3);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "POST /a  hello");
  EXPECT_EQ(responses[1].body, "PUT /b  xyz");
  EXPECT_EQ(responses[2].body, "GET /c  ");
}

TEST_F(HttpServiceTest, RequestSplitAcrossWrites) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send("POST /split HTTP/1.1\r\nHo");
  client.send("st: a\r\nContent-Length: 4\r\n\r\nab");
  client.send("cd");
  auto responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "POST /split  abcd");
}

TEST_F(HttpServiceTest, MalformedRequestGets400AndClose) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send("GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n");
  auto responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 400);
  EXPECT_FALSE(responses[0].keep_alive);
  EXPECT_NE(responses[0].head.find("Connection: close\r\n"), std::string::npos)
      << responses[0].head;
  EXPECT_TRUE(client.closedByPeer());
}

TEST_F(HttpServiceTest, GoodThenMalformedPipelined) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send(
      "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
      "GARBAGE\r\n\r\n");
  auto responses = client.read(2);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[0].body, "GET /ok  ");
  EXPECT_EQ(responses[1].status, 400);
  EXPECT_TRUE(client.closedByPeer());
}

TEST_F(HttpServiceTest, Http11WithoutHostIs400) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send("GET / HTTP/1.1\r\n\r\n");
  auto responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 400);
  EXPECT_TRUE(client.closedByPeer());
}

TEST_F(HttpServiceTest, ChunkedRequestRefusedAndClosed) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  auto responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 411);
  EXPECT_TRUE(client.closedByPeer());
}

TEST_F(HttpServiceTest, ConnectionCloseIsHonoured) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send("GET /bye HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  auto responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_FALSE(responses[0].keep_alive);
  EXPECT_TRUE(client.closedByPeer());
}

TEST_F(HttpServiceTest, Http10ClosesByDefault) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send("GET /old HTTP/1.0\r\n\r\n");
  auto responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "GET /old  ");
  EXPECT_TRUE(client.closedByPeer());
}

TEST_F(HttpServiceTest, ManyClientsAndStopWithOpenConnections) {
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<Client>(service_->port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    clients[i]->send("GET /c" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n");
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    auto responses = clients[i]->read(1);
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].body, "GET /c" + std::to_string(i) + "  ");
  }
  service_->stop();  // connections still open: must be cleaned up (checked under ASan)
  for (auto& client : clients) EXPECT_TRUE(client->closedByPeer());
}

// Regression: a request pipelined behind one whose response did not fit the socket
// (send hit EAGAIN) is never answered: after the output drains on EPOLLOUT, onEvents only
// calls readSome(), which finds nothing new, and the buffered request stays unanswered.
TEST_F(HttpServiceTest, PipelinedRequestBehindLargeResponseIsAnswered) {
  Client client(service_->port(), 4096);
  ASSERT_TRUE(client.connected());
  client.send(
      "GET /big HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
  auto responses = client.read(2);  // hangs until SO_RCVTIMEO with the bug
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body.size(), kBigBody);
  EXPECT_EQ(responses[1].body, "GET /after  ");
}

TEST_F(HttpServiceTest, LargeResponseIsSentWhole) {
  Client client(service_->port(), 4096);
  ASSERT_TRUE(client.connected());
  client.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
  auto responses = client.read(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body.size(), kBigBody);
  EXPECT_EQ(responses[0].body.find_first_not_of('b'), std::string::npos);
}

// Regression: a response to HEAD must not carry a body (RFC 9110 9.3.2); the service
// sends it, and the client then reads those bytes as the start of the next response.
TEST_F(HttpServiceTest, HeadResponseHasNoBody) {
  Client client(service_->port());
  ASSERT_TRUE(client.connected());
  client.send(
      "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /g HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(client.readUntil("GET /g  "));
  http::ResponseHead head;
  http::ParseError error = http::ParseError::kNone;
  ASSERT_EQ(http::parseResponseHead(client.pending(), {}, true, &head, &error),
            http::ParseStatus::kComplete);
  // The head announces the length a GET would have ("HEAD /h  " is 9 bytes) ...
  EXPECT_NE(client.pending().substr(0, head.head_length).find("Content-Length: 9\r\n"),
            std::string::npos);
  // ... and the next response follows it directly.
  EXPECT_EQ(client.pending().substr(head.head_length, 9), "HTTP/1.1 ") << client.pending();
}

TEST_F(HttpServiceTest, AdminHandlerOverHttp) {
  auto config = loadTestConfig();
  ASSERT_NE(config, nullptr);
  proxy::SharedState shared(config, 1);
  std::string error;
  auto address = net::Address::parse("127.0.0.1:0", &error);
  ASSERT_TRUE(address.has_value());
  HttpService admin(*address, makeAdminHandler({&shared}));
  ASSERT_TRUE(admin.start(&error)) << error;
  Client client(admin.port());
  ASSERT_TRUE(client.connected());
  client.send(
      "GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
  auto responses = client.read(3);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_NE(responses[0].head.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(responses[0].body.find("\"status\":\"ok\""), std::string::npos) << responses[0].body;
  EXPECT_EQ(responses[1].status, 200);
  EXPECT_NE(responses[1].body.find("scalegate_upstream_server_up{upstream=\"users\","
                                   "server=\"127.0.0.1:3001\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(responses[2].status, 404);
  admin.stop();
}

}  // namespace
}  // namespace sg::admin

#include "health/active_checker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sg::health {
namespace {

using namespace std::chrono_literals;

// Polls `condition` every 5 ms for up to `limit`; generous limits, no timing assertions.
bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

net::Address loopback(uint16_t port) {
  std::string error;
  return *net::Address::parse("127.0.0.1:" + std::to_string(port), &error);
}

// Blocking loopback listener on port 0. Returns the fd and fills *port.
int listenLoopback(uint16_t* port, int backlog = 64) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, backlog) != 0) {
    ADD_FAILURE() << "listen failed";
    return -1;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A tiny HTTP server: answers every request with `status` and closes the connection.
class TestServer {
 public:
  TestServer() : listen_fd_(listenLoopback(&port_)), thread_([this] { serve(); }) {}
  ~TestServer() {
    stopping_ = true;
    thread_.join();
    close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  void setStatus(int status) { status_ = status; }
  int requests() const { return requests_; }
  std::string lastRequest() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_request_;
  }

 private:
  void serve() {
    while (!stopping_) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (poll(&pfd, 1, 10) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      handle(fd);
      close(fd);
    }
  }
  void handle(int fd) {
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 1000) <= 0) return;
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_request_ = request;
    }
    ++requests_;
    std::string response = "HTTP/1.1 " + std::to_string(status_.load()) +
                           " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    [[maybe_unused]] ssize_t n = send(fd, response.data(), response.size(), MSG_NOSIGNAL);
  }

  uint16_t port_ = 0;
  int listen_fd_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> status_{200};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::string last_request_;
  std::thread thread_;
};

size_t openFdCount() {
  size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

// A port nothing listens on: bound then closed.
uint16_t closedPort() {
  uint16_t port = 0;
  int fd = listenLoopback(&port);
  close(fd);
  return port;
}

config::HealthCheckConfig fastConfig(config::HealthCheckConfig::Type type) {
  config::HealthCheckConfig config;
  config.type = type;
  config.path = "/health";
  config.interval = 50ms;
  config.timeout = 1s;
  config.rise = 2;
  config.fall = 3;
  return config;
}

// Captures log lines of the default logger for the lifetime of the object.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return stream_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream stream_;
};

TEST(RiseFall, StartsHealthyAndFallsAfterFallFailures) {
  RiseFall rf(2, 3);
  EXPECT_TRUE(rf.healthy());
  EXPECT_FALSE(rf.record(false));
  EXPECT_FALSE(rf.record(false));
  EXPECT_TRUE(rf.healthy());
  EXPECT_TRUE(rf.record(false));
  EXPECT_FALSE(rf.healthy());
  EXPECT_FALSE(rf.record(false));  // stays down, no flip
  EXPECT_FALSE(rf.healthy());
}

TEST(RiseFall, SuccessInterruptsFailureStreak) {
  RiseFall rf(2, 3);
  EXPECT_FALSE(rf.record(false));
  EXPECT_FALSE(rf.record(false));
  EXPECT_FALSE(rf.record(true));
  EXPECT_FALSE(rf.record(false));
  EXPECT_FALSE(rf.record(false));
  EXPECT_TRUE(rf.healthy());
  EXPECT_TRUE(rf.record(false));
  EXPECT_FALSE(rf.healthy());
}

TEST(RiseFall, RisesAfterRiseSuccessesAndFailureInterrupts) {
  RiseFall rf(2, 3, /*initially_healthy=*/false);
  EXPECT_FALSE(rf.healthy());
  EXPECT_FALSE(rf.record(true));
  EXPECT_FALSE(rf.record(false));  // resets the success streak
  EXPECT_FALSE(rf.record(true));
  EXPECT_TRUE(rf.record(true));
  EXPECT_TRUE(rf.healthy());
  EXPECT_FALSE(rf.record(true));
}

TEST(RiseFall, OneAndZeroFlipOnFirstResult) {
  RiseFall one(1, 1);
  EXPECT_TRUE(one.record(false));
  EXPECT_TRUE(one.record(true));
  RiseFall zero(0, 0);  // treated as 1
  EXPECT_TRUE(zero.record(false));
  EXPECT_FALSE(zero.healthy());
  EXPECT_TRUE(zero.record(true));
}

TEST(ActiveChecker, HttpCheckGoesDownAfterFallAndUpAfterRise) {
  LogCapture log;
  TestServer server;
  auto config = fastConfig(config::HealthCheckConfig::Type::kHttp);
  CheckStatus status;
  ActiveChecker checker({{&config, loopback(server.port()), "users 127.0.0.1", &status}});
  checker.start();
  ASSERT_TRUE(waitFor([&] { return status.checks_passed.load() >= 2; }));
  EXPECT_TRUE(status.healthy.load());
  EXPECT_EQ(status.transitions.load(), 0u);
  EXPECT_EQ(server.lastRequest(),
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                "\r\nUser-Agent: scalegate-health-check\r\nConnection: close\r\n\r\n");

  server.setStatus(500);
  ASSERT_TRUE(waitFor([&] { return !status.healthy.load(); }));
  EXPECT_GE(status.checks_failed.load(), 3u);
  EXPECT_EQ(status.transitions.load(), 1u);

  server.setStatus(200);
  ASSERT_TRUE(waitFor([&] { return status.healthy.load(); }));
  EXPECT_EQ(status.transitions.load(), 2u);
  checker.stop();
  std::string text = log.text();
  EXPECT_NE(text.find("health check: users 127.0.0.1 is now down (status 500)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("health check: users 127.0.0.1 is now up (status 200)"), std::string::npos)
      << text;
}

TEST(ActiveChecker, TcpCheckAgainstClosedPortGoesDown) {
  LogCapture log;
  auto config = fastConfig(config::HealthCheckConfig::Type::kTcp);
  config.fall = 2;
  CheckStatus status;
  ActiveChecker checker({{&config, loopback(closedPort()), "closed", &status}});
  checker.start();
  ASSERT_TRUE(waitFor([&] { return !status.healthy.load(); }));
  EXPECT_GE(status.checks_failed.load(), 2u);
  EXPECT_EQ(status.checks_passed.load(), 0u);
  checker.stop();
  EXPECT_NE(log.text().find("health check: closed is now down (connect refused)"),
            std::string::npos)
      << log.text();
}

// Servers added and removed at run time (ServerSlots' hooks): a checker started with no
// target picks added ones up, and a removed one is checked no more.
TEST(ActiveChecker, TargetsAddedAndRemovedWhileRunning) {
  auto config = fastConfig(config::HealthCheckConfig::Type::kTcp);
  config.fall = 2;
  ActiveChecker checker({});
  checker.start(true);
  CheckStatus dead;
  checker.add({&config, loopback(closedPort()), "dead", &dead});
  ASSERT_TRUE(waitFor([&] { return !dead.healthy.load(); }));
  checker.remove(&dead);
  // Once removal has been applied (a later check of another target proves the loop ran),
  // the count stays.
  TestServer server;
  CheckStatus live;
  checker.add({&config, loopback(server.port()), "live", &live});
  ASSERT_TRUE(waitFor([&] { return live.checks_passed.load() >= 2; }));
  const uint64_t failed = dead.checks_failed.load();
  ASSERT_TRUE(waitFor([&] { return live.checks_passed.load() >= 6; }));
  EXPECT_EQ(dead.checks_failed.load(), failed);
  checker.stop();
}

TEST(ActiveChecker, WithoutTargetsStartsOnlyForAddedOnes) {
  ActiveChecker idle({});
  idle.start();  // nothing to check and none to come: no thread
  CheckStatus status;
  auto config = fastConfig(config::HealthCheckConfig::Type::kTcp);
  idle.add({&config, loopback(closedPort()), "never", &status});  // kept, not run
  idle.stop();
  EXPECT_EQ(status.checks_failed.load(), 0u);
}

TEST(ActiveChecker, TcpCheckAgainstListenerPassesAndRises) {
  TestServer server;
  auto config = fastConfig(config::HealthCheckConfig::Type::kTcp);
  CheckStatus status;
  status.healthy = false;  // e.g. a server registered as down until proven up
  ActiveChecker checker({{&config, loopback(server.port()), "tcp", &status}});
  checker.start();
  ASSERT_TRUE(waitFor([&] { return status.healthy.load(); }));
  EXPECT_GE(status.checks_passed.load(), 2u);
  EXPECT_EQ(status.checks_failed.load(), 0u);
  EXPECT_EQ(status.transitions.load(), 1u);
}

TEST(ActiveChecker, ExpectListIsRespected) {
  TestServer server;
  server.setStatus(500);
  auto accepts500 = fastConfig(config::HealthCheckConfig::Type::kHttp);
  accepts500.expect = {500, 503};
  auto wants204 = fastConfig(config::HealthCheckConfig::Type::kHttp);
  wants204.expect = {204};
  CheckStatus ok_status;
  CheckStatus bad_status;
  ActiveChecker checker({{&accepts500, loopback(server.port()), "a", &ok_status},
                         {&wants204, loopback(server.port()), "b", &bad_status}});
  checker.start();
  ASSERT_TRUE(waitFor([&] { return !bad_status.healthy.load(); }));
  ASSERT_TRUE(waitFor([&] { return ok_status.checks_passed.load() >= 3; }));
  EXPECT_TRUE(ok_status.healthy.load());
  EXPECT_EQ(ok_status.checks_failed.load(), 0u);
  EXPECT_EQ(bad_status.checks_passed.load(), 0u);
}

TEST(ActiveChecker, HostHeaderFromConfig) {
  TestServer server;
  auto config = fastConfig(config::HealthCheckConfig::Type::kHttp);
  config.host = "users.internal";
  config.path = "/ready?deep=1";
  CheckStatus status;
  ActiveChecker checker({{&config, loopback(server.port()), "h", &status}});
  checker.start();
  ASSERT_TRUE(waitFor([&] { return status.checks_passed.load() >= 1; }));
  std::string request = server.lastRequest();
  EXPECT_EQ(request.rfind("GET /ready?deep=1 HTTP/1.1\r\nHost: users.internal\r\n", 0), 0u)
      << request;
}

TEST(ActiveChecker, SilentServerTimesOut) {
  LogCapture log;
  uint16_t port = 0;
  int listen_fd = listenLoopback(&port);  // never accepts: connect succeeds, no response
  auto config = fastConfig(config::HealthCheckConfig::Type::kHttp);
  config.timeout = 100ms;
  config.fall = 2;
  CheckStatus status;
  size_t fds_before = openFdCount();
  {
    ActiveChecker checker({{&config, loopback(port), "silent", &status}});
    checker.start();
    ASSERT_TRUE(waitFor([&] { return !status.healthy.load(); }));
  }  // the destructor stops the checker, most likely with a check in flight
  EXPECT_EQ(openFdCount(), fds_before);
  close(listen_fd);
  EXPECT_NE(log.text().find("health check: silent is now down (timeout)"), std::string::npos)
      << log.text();
}

TEST(ActiveChecker, ManyTargetsAllChecked) {
  TestServer server;
  auto up = fastConfig(config::HealthCheckConfig::Type::kHttp);
  auto down = fastConfig(config::HealthCheckConfig::Type::kTcp);
  down.fall = 1;
  constexpr int kTargets = 40;
  std::vector<CheckStatus> statuses(kTargets);
  std::vector<CheckTarget> targets;
  uint16_t dead_port = closedPort();
  for (int i = 0; i < kTargets; ++i) {
    bool healthy_target = i % 2 == 0;
    targets.push_back({healthy_target ? &up : &down,
                       loopback(healthy_target ? server.port() : dead_port),
                       "target " + std::to_string(i), &statuses[static_cast<size_t>(i)]});
  }
  ActiveChecker checker(std::move(targets));
  checker.start();
  ASSERT_TRUE(waitFor([&] {
    for (int i = 0; i < kTargets; ++i) {
      const CheckStatus& s = statuses[static_cast<size_t>(i)];
      if (i % 2 == 0 ? s.checks_passed.load() < 2 : s.healthy.load()) return false;
    }
    return true;
  }));
  checker.stop();
  for (int i = 0; i < kTargets; i += 2) EXPECT_TRUE(statuses[static_cast<size_t>(i)].healthy);
}

TEST(ActiveChecker, StartStopEdgeCases) {
  ActiveChecker empty({});
  empty.start();  // no targets: no thread
  empty.stop();

  auto config = fastConfig(config::HealthCheckConfig::Type::kTcp);
  config.interval = 1h;  // the first check is far away; stop must still return at once
  CheckStatus status;
  ActiveChecker checker({{&config, loopback(closedPort()), "idle", &status}});
  checker.stop();  // before start
  checker.start();
  checker.start();  // already running
  auto begin = std::chrono::steady_clock::now();
  checker.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  checker.stop();   // twice
  checker.start();  // restartable
  checker.stop();
  EXPECT_TRUE(status.healthy.load());
  EXPECT_EQ(status.checks_failed.load(), 0u);
}

TEST(ActiveChecker, ChecksAreSpacedByInterval) {
  TestServer server;
  auto config = fastConfig(config::HealthCheckConfig::Type::kHttp);
  config.interval = 100ms;
  CheckStatus status;
  ActiveChecker checker({{&config, loopback(server.port()), "paced", &status}});
  checker.start();
  std::this_thread::sleep_for(1s);
  checker.stop();
  // About 10 checks in a second; a generous bound that still catches a busy loop.
  EXPECT_GE(server.requests(), 3);
  EXPECT_LE(server.requests(), 30);
}

}  // namespace
}  // namespace sg::health

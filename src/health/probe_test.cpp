// Probe scheduling, driven by hand: the loop is never run, its clock is set and its timers
// expired one millisecond at a time, so every timing is exact.
#include "health/probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace sg::health {
namespace {

using namespace std::chrono_literals;

// A loopback listener that never accepts: connects complete in the kernel and nothing ever
// answers, like a hanging server. Closed on destruction.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(fd_, 256) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "listen failed";
    }
    std::string error;
    address_ = *net::Address::parse("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), &error);
  }
  ~SilentListener() { close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  const net::Address& address() const { return address_; }

 private:
  int fd_ = -1;
  net::Address address_;
};

class ProbeClock : public ::testing::Test {
 protected:
  // Advances the loop's clock to `until`, expiring timers at every millisecond.
  void runUntil(int64_t until) {
    for (; now_ < until;) {
      ++now_;
      loop_.timers().setNow(now_);
      loop_.timers().expire();
    }
  }
  net::EventLoop loop_;
  int64_t now_ = 0;
};

config::HealthCheckConfig hangingConfig(std::chrono::milliseconds interval,
                                        std::chrono::milliseconds timeout) {
  config::HealthCheckConfig config;
  config.type = config::HealthCheckConfig::Type::kHttp;
  config.path = "/health";
  config.interval = interval;
  config.timeout = timeout;
  config.fall = 3;
  return config;
}

// The default for `interval: 1s` or `2s`: the timeout equals the interval. A probe still
// waiting when the next one is due fails as a timeout, and the next one goes out anyway.
TEST_F(ProbeClock, HangingServerIsProbedEveryIntervalWhenTimeoutEqualsInterval) {
  SilentListener server;
  auto config = hangingConfig(1s, 1s);
  CheckStatus status;
  std::mt19937_64 random(7);
  loop_.timers().setNow(now_);
  Probe probe(&loop_, {&config, server.address(), "hanging", &status}, random);
  runUntil(1000);  // the first check starts within the first interval
  EXPECT_EQ(status.checks_failed.load(), 0u);
  // From then on one check fails per interval: fall (3) is reached within 4 s, not 7.
  runUntil(4000);
  EXPECT_EQ(status.checks_failed.load(), 3u);
  EXPECT_FALSE(status.healthy.load());
  runUntil(11'000);
  EXPECT_EQ(status.checks_failed.load(), 10u);
  EXPECT_EQ(status.checks_passed.load(), 0u);
}

TEST_F(ProbeClock, ShorterTimeoutFailsEachCheckBeforeTheNext) {
  SilentListener server;
  auto config = hangingConfig(1s, 300ms);
  CheckStatus status;
  std::mt19937_64 random(7);
  loop_.timers().setNow(now_);
  Probe probe(&loop_, {&config, server.address(), "hanging", &status}, random);
  runUntil(1000);
  const uint64_t early = status.checks_failed.load();  // 0 or 1 (the start is random)
  EXPECT_LE(early, 1u);
  runUntil(11'000);
  EXPECT_EQ(status.checks_failed.load(), early + 10);
}

}  // namespace
}  // namespace sg::health

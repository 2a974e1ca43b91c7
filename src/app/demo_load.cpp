#include "app/demo_load.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <numbers>
#include <string>
#include <string_view>

namespace sg::app {

namespace {

constexpr double kPeriodSeconds = 300;  // one wave: low, ramp, peak, decay
constexpr double kLowRate = 20;
constexpr double kPeakRate = 300;
constexpr std::array<std::string_view, 6> kPaths = {"/api/hello",      "/api/users",
                                                    "/cached/catalog", "/weighted/hello",
                                                    "/limited/ping",   "/scale/work"};

int connectLoopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends one GET and reads its response (Content-Length framed, as the gateway answers these
// routes); false when the connection must be opened again.
bool exchange(int fd, std::string_view path) {
  std::string request =
      fmt::format("GET {} HTTP/1.1\r\nHost: demo\r\nUser-Agent: scalegate-demo-load\r\n\r\n", path);
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return false;
  std::string input;
  char buffer[16384];
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    input.append(buffer, static_cast<size_t>(n));
    size_t head_end = input.find("\r\n\r\n");
    if (head_end == std::string::npos) continue;
    size_t length_at = input.find("Content-Length: ");
    if (length_at == std::string::npos || length_at > head_end) return false;
    size_t length = std::stoul(input.substr(length_at + 16));
    if (input.size() >= head_end + 4 + length) return input.find("Connection: close") > head_end;
  }
}

}  // namespace

double DemoLoad::targetRate(double seconds) {
  double phase = std::fmod(seconds, kPeriodSeconds) / kPeriodSeconds;
  return kLowRate + (kPeakRate - kLowRate) * (1 - std::cos(2 * std::numbers::pi * phase)) / 2;
}

DemoLoad::DemoLoad(uint16_t port, int clients) : port_(port), clients_(clients) {
  for (int i = 0; i < clients_; ++i)
    threads_.emplace_back([this, i](std::stop_token stop) { runClient(stop, i); });
}

DemoLoad::~DemoLoad() {
  for (auto& thread : threads_) thread.request_stop();
  threads_.clear();  // joins
}

// Paces its share of the target rate; a refused or failed exchange reconnects after a pause.
void DemoLoad::runClient(std::stop_token stop, int client) {
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  auto next = start;
  int fd = -1;
  for (uint64_t sent = static_cast<uint64_t>(client); !stop.stop_requested(); ++sent) {
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    double share = targetRate(elapsed) / clients_;
    next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1 / share));
    if (next < Clock::now()) next = Clock::now();
    std::this_thread::sleep_until(next);
    if (fd < 0) fd = connectLoopback(port_);
    if (fd >= 0 && !exchange(fd, kPaths[sent % kPaths.size()])) {
      close(fd);
      fd = -1;
    }
    if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (fd >= 0) close(fd);
}

}  // namespace sg::app

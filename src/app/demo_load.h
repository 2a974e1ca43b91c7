#pragma once
// `scalegate demo --load`: a small built-in load generator, so the dashboard has something
// to show. Its rate follows a slow wave (low, ramp, peak, decay) over a few minutes.
#include <cstdint>
#include <stop_token>
#include <thread>
#include <vector>

namespace sg::app {

class DemoLoad {
 public:
  // Starts `clients` threads sending to the gateway at 127.0.0.1:`port`.
  DemoLoad(uint16_t port, int clients);
  ~DemoLoad();  // stops and joins the threads
  DemoLoad(const DemoLoad&) = delete;
  DemoLoad& operator=(const DemoLoad&) = delete;

  // Requests per second the whole generator aims at, `seconds` after it started.
  static double targetRate(double seconds);

 private:
  void runClient(std::stop_token stop, int client);
  uint16_t port_;
  int clients_;
  std::vector<std::jthread> threads_;
};

}  // namespace sg::app

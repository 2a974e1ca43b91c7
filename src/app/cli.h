#pragma once
#include <signal.h>

#include <memory>
#include <string>

#include "config/config.h"

namespace sg::app {

constexpr const char* kVersion = "0.1.0";

int runCli(int argc, char** argv);
// Loads and validates; prints every error as FILE:LINE:COL: message on stderr.
std::shared_ptr<const config::Config> loadOrReport(const std::string& path);
// Runs the gateway until SIGTERM/SIGINT, then drains. Returns the process exit code.
int runGateway(std::shared_ptr<const config::Config> config);
struct DemoOptions {
  uint16_t port = 8080;
  uint16_t admin_port = 9901;
  bool load = false;  // run the built-in load generator
};
int runDemo(const DemoOptions& options);
struct DemoUpstreamOptions {
  uint16_t port = 0;
  std::string name = "demo";
  int64_t latency_ms = 0;
};
// One demo instance until SIGTERM/SIGINT; prints "listening on 127.0.0.1:PORT" once bound.
int runDemoUpstream(const DemoUpstreamOptions& options);
// Ignores SIGPIPE and blocks SIGTERM/SIGINT in the calling thread (call before threads start).
sigset_t blockShutdownSignals();

}  // namespace sg::app

#pragma once
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace sg::app {

constexpr const char* kVersion = "0.1.0";

int runCli(int argc, char** argv);
// Loads and validates; prints every error as FILE:LINE:COL: message on stderr (as an error log
// line through spdlog when `as_log`).
std::shared_ptr<const config::Config> loadOrReport(const std::string& path, bool as_log = false);
// How `scalegate run` was started: what a reload or binary upgrade starts again.
struct RunOptions {
  std::string config_path;        // empty: no reload (the demo's built-in configuration)
  std::vector<std::string> argv;  // the successor's arguments (this process's own)
  std::string executable;         // the binary's path when this process started
};
// Runs the gateway until SIGTERM/SIGINT, then drains; SIGHUP reloads and SIGUSR2 upgrades the
// binary (a successor process takes over, see upgrade.h). Returns the process exit code.
int runGateway(const RunOptions& options, std::shared_ptr<const config::Config> config);
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
// Ignores SIGPIPE and blocks SIGTERM, SIGINT, SIGHUP and SIGUSR2 in the calling thread (call
// before threads start).
sigset_t blockShutdownSignals();

}  // namespace sg::app

#include "app/cli.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "app/log_format.h"
#include "app/pg_commands.h"

namespace sg::app {

std::shared_ptr<const config::Config> loadOrReport(const std::string& path, bool as_log) {
  auto result = config::loadConfigFile(path);
  for (const auto& error : result.errors) {
    if (as_log)
      spdlog::error("{}", error.toString());
    else
      std::fprintf(stderr, "%s\n", error.toString().c_str());
  }
  return result.config;
}

namespace {

RunOptions runOptions(const std::string& config_path, int argc, char** argv) {
  RunOptions options;
  options.config_path = config_path;
  options.argv.assign(argv, argv + argc);
  // The path now, not at reload time: by then /proc/self/exe names a replaced file "(deleted)".
  std::error_code error;
  auto executable = std::filesystem::read_symlink("/proc/self/exe", error);
  options.executable = error ? std::string(argv[0]) : executable.string();
  return options;
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"scalegate: load-balancing HTTP gateway"};
  app.set_version_flag("--version", std::string("scalegate ") + kVersion);
  app.require_subcommand(1);

  std::string run_config;
  auto* run = app.add_subcommand("run", "Run the gateway with a configuration file");
  run->add_option("-c,--config", run_config, "YAML configuration file")->required();
  std::string log_format = "text";
  run->add_option("--log-format", log_format, "Log lines on stderr: text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));

  std::string check_config;
  auto* check = app.add_subcommand("check", "Validate a configuration file and exit");
  check->add_option("-c,--config", check_config, "YAML configuration file")->required();

  DemoOptions demo_options;
  auto* demo =
      app.add_subcommand("demo", "Start the gateway with three demo upstreams on loopback");
  demo->add_option("--port", demo_options.port, "Gateway port (default 8080)");
  demo->add_option("--admin-port", demo_options.admin_port, "Admin port (default 9901)");
  demo->add_flag("--load", demo_options.load, "Run a built-in load generator (a slow wave)");

  DemoUpstreamOptions instance_options;
  auto* instance = app.add_subcommand(
      "demo-upstream", "Run one demo upstream instance (what `demo` and autoscaling demos start)");
  instance->add_option("--port", instance_options.port, "Port on 127.0.0.1 (0: any)")->required();
  instance->add_option("--name", instance_options.name, "Name it answers with (default demo)");
  instance->add_option("--latency", instance_options.latency_ms, "Latency in ms (default 0)");

  PgCommands pg(app);  // scalegate pg reshard-plan / shard-of

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  // Logs go to stderr, leaving stdout to what a command prints (demo's instructions, the
  // access log when its path is "-").
  const LogFormat format = parseLogFormat(log_format).value_or(LogFormat::text);
  installDefaultLogger(format);
  if (pg.chosen()) return pg.run();
  if (*run || *demo || *instance) blockShutdownSignals();
  if (*instance) return runDemoUpstream(instance_options);
  if (*check) {
    auto config = loadOrReport(check_config);
    if (!config) return 1;
    std::printf("%s: ok\n", check_config.c_str());
    return 0;
  }
  if (*run) {
    // In json mode a configuration error is a log line too, so a collector parses every line.
    auto config = loadOrReport(run_config, format == LogFormat::json);
    return config ? runGateway(runOptions(run_config, argc, argv), config) : 1;
  }
  return runDemo(demo_options);
}

}  // namespace sg::app

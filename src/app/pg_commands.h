#pragma once
// `scalegate pg ...`: commands about the PostgreSQL listener's configuration that run without
// starting the gateway.
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace sg::app {

struct ReshardPlanOptions {
  std::string config;              // the current configuration file
  std::string database;            // empty: the file's only sharded database
  std::optional<uint32_t> shards;  // hash: the new shard count
  std::string to_config;           // or: the new configuration file
  bool json = false;
};

// Prints which keys move between shards; returns the exit code (1 on a bad file or database).
int runReshardPlan(const ReshardPlanOptions& options, std::ostream& out);

struct ShardOfOptions {
  std::string config;
  std::string database;
  bool binary = false;  // values are hex of the binary format, not text
};

// For each line of `in` (the key's columns separated by tabs, in COPY's text format: \N is
// NULL, backslash escapes), prints the shard, or "error SQLSTATE message".
int runShardOf(const ShardOfOptions& options, std::istream& in, std::ostream& out);

// The `pg` subcommand and its options, added to the command line.
class PgCommands {
 public:
  explicit PgCommands(CLI::App& app);
  bool chosen() const;  // after parsing: was `pg ...` given?
  int run();            // its exit code

 private:
  CLI::App* reshard_ = nullptr;
  CLI::App* shard_of_ = nullptr;
  CLI::Option* shards_ = nullptr;
  CLI::Option* to_ = nullptr;
  ReshardPlanOptions plan_;
  uint32_t new_shards_ = 0;
  ShardOfOptions shard_of_options_;
};

}  // namespace sg::app

// scalegate pg reshard-plan and scalegate pg shard-of: a database's shard function, made from
// the configuration file as the gateway makes it, asked without a running gateway.
#include "app/pg_commands.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string_view>
#include <vector>

#include "app/cli.h"
#include "pg/shard/reshard_plan.h"

namespace sg::app {

namespace {

namespace shard = pg::shard;

// The named database, or the only sharded one; nullptr (reported on stderr) otherwise.
const config::PostgresDatabaseConfig* findShardedDatabase(const config::Config& config,
                                                          const std::string& name) {
  if (!config.postgres) {
    std::fprintf(stderr, "the configuration has no postgres section\n");
    return nullptr;
  }
  const config::PostgresDatabaseConfig* found = nullptr;
  for (const auto& database : config.postgres->databases) {
    if (!name.empty() && database.name != name) continue;
    if (!database.sharding.enabled()) {
      if (!name.empty()) std::fprintf(stderr, "database %s is not sharded\n", name.c_str());
      continue;
    }
    if (found != nullptr) {
      std::fprintf(stderr, "several databases are sharded; choose one with --database\n");
      return nullptr;
    }
    found = &database;
  }
  if (found == nullptr && name.empty()) std::fprintf(stderr, "no database is sharded\n");
  if (found == nullptr && !name.empty() && config.postgres->findDatabase(name) == nullptr)
    std::fprintf(stderr, "no database %s in postgres.databases\n", name.c_str());
  return found;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::optional<shard::ReshardPlan> makePlan(const ReshardPlanOptions& options,
                                           const config::PostgresDatabaseConfig& database) {
  const shard::ShardingSpec& from = database.sharding.spec;
  if (options.shards) {
    if (from.method != shard::Method::kHash) {
      std::fprintf(stderr,
                   "%s sharding: a shard count is not enough to plan; give the new layout "
                   "with --to NEW_CONFIG\n",
                   std::string(shard::methodName(from.method)).c_str());
      return std::nullopt;
    }
    return shard::planHashReshard(from.shards, *options.shards);
  }
  auto config = loadOrReport(options.to_config);
  if (!config) return std::nullopt;
  const auto* target = findShardedDatabase(*config, database.name);
  if (target == nullptr) return std::nullopt;
  auto plan = shard::planReshard(from, target->sharding.spec);
  if (auto* error = std::get_if<std::string>(&plan)) {
    std::fprintf(stderr, "%s\n", error->c_str());
    return std::nullopt;
  }
  return std::get<shard::ReshardPlan>(plan);
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads up to `max` digits of base `base` at text[*i]; leaves *i after them.
int takeNumber(std::string_view text, size_t* i, int base, size_t max) {
  int value = 0;
  for (size_t n = 0; n < max && *i < text.size(); ++n, ++*i) {
    const int digit = hexValue(text[*i]);
    if (digit < 0 || digit >= base) break;
    value = value * base + digit;
  }
  return value;
}

// A field of COPY's text format with its backslash escapes undone.
std::string unescapeCopyField(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '\\' || i + 1 == field.size()) {
      out += field[i];
      continue;
    }
    const char c = field[++i];
    constexpr std::string_view kFrom = "btnvfr", kTo = "\b\t\n\v\f\r";
    if (const size_t at = kFrom.find(c); at != std::string_view::npos) {
      out += kTo[at];
    } else if (c >= '0' && c <= '7') {
      out += static_cast<char>(takeNumber(field, &i, 8, 3));
      --i;
    } else if (c == 'x' && i + 1 < field.size() && hexValue(field[i + 1]) >= 0) {
      ++i;
      out += static_cast<char>(takeNumber(field, &i, 16, 2));
      --i;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> fromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = hexValue(hex[i]);
    const int low = hexValue(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
  }
  return out;
}

std::string shardLine(const shard::ShardFunction& function, std::string_view line, bool binary) {
  std::vector<std::optional<std::string>> fields;
  for (size_t begin = 0;;) {
    const size_t tab = line.find('\t', begin);
    const std::string_view field =
        line.substr(begin, tab == std::string_view::npos ? tab : tab - begin);
    if (field == "\\N") {
      fields.emplace_back();
    } else if (!binary) {
      fields.emplace_back(unescapeCopyField(field));
    } else if (auto bytes = fromHex(field)) {
      fields.emplace_back(std::move(*bytes));
    } else {
      return "error 22P03 not hexadecimal: " + std::string(field);
    }
    if (tab == std::string_view::npos) break;
    begin = tab + 1;
  }
  std::vector<shard::KeyInput> columns;
  const auto format = binary ? shard::Format::kBinary : shard::Format::kText;
  for (const auto& field : fields)
    columns.push_back({field ? std::optional<std::string_view>(*field) : std::nullopt, format});
  const auto result = function.shardOf(columns);
  if (const auto* error = std::get_if<shard::KeyError>(&result))
    return "error " + error->sqlstate + " " + error->message;
  return std::to_string(std::get<uint32_t>(result));
}

}  // namespace

int runReshardPlan(const ReshardPlanOptions& options, std::ostream& out) {
  auto config = loadOrReport(options.config);
  if (!config) return 1;
  const auto* database = findShardedDatabase(*config, options.database);
  if (database == nullptr) return 1;
  auto plan = makePlan(options, *database);
  if (!plan) return 1;
  if (options.json) {
    out << shard::formatPlanJson(*plan);
  } else {
    out << "database " << database->name << " (key " << joined(database->sharding.key)
        << "): " << shard::formatPlanText(*plan, joined(database->sharding.key));
  }
  return 0;
}

int runShardOf(const ShardOfOptions& options, std::istream& in, std::ostream& out) {
  auto config = loadOrReport(options.config);
  if (!config) return 1;
  const auto* database = findShardedDatabase(*config, options.database);
  if (database == nullptr) return 1;
  std::string line;
  while (std::getline(in, line))
    out << shardLine(*database->sharding.function, line, options.binary) << '\n';
  return 0;
}

PgCommands::PgCommands(CLI::App& app) {
  auto* pg = app.add_subcommand("pg", "PostgreSQL listener tools (sharding)");
  pg->require_subcommand(1);
  reshard_ = pg->add_subcommand(
      "reshard-plan", "Show which keys move between shards for a new shard count or layout");
  reshard_->add_option("-c,--config", plan_.config, "Current YAML configuration file")->required();
  reshard_->add_option("-d,--database", plan_.database, "Sharded database (default: the only one)");
  shards_ = reshard_->add_option("--shards", new_shards_, "New shard count (hash sharding)")
                ->check(CLI::Range(1, 4096));
  to_ = reshard_->add_option("--to", plan_.to_config, "Configuration file with the new layout");
  shards_->excludes(to_);
  reshard_->add_flag("--json", plan_.json, "Print the plan as JSON");
  shard_of_ = pg->add_subcommand(
      "shard-of", "Print the shard of each key on stdin (COPY text format, one row per line)");
  shard_of_->add_option("-c,--config", shard_of_options_.config, "YAML configuration file")
      ->required();
  shard_of_->add_option("-d,--database", shard_of_options_.database,
                        "Sharded database (default: the only one)");
  shard_of_->add_flag("--binary", shard_of_options_.binary,
                      "Values are hex of PostgreSQL's binary format (int8send, uuid_send)");
}

bool PgCommands::chosen() const { return reshard_->parsed() || shard_of_->parsed(); }

int PgCommands::run() {
  if (shard_of_->parsed()) return runShardOf(shard_of_options_, std::cin, std::cout);
  if (!*shards_ && !*to_) {
    std::fprintf(stderr, "reshard-plan: give --shards N or --to NEW_CONFIG\n");
    return 2;
  }
  if (*shards_) plan_.shards = new_shards_;
  return runReshardPlan(plan_, std::cout);
}

}  // namespace sg::app

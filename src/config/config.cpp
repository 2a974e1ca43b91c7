// Entry points: read the file, parse YAML, walk the top level, and never let an exception
// or a crash escape whatever the input.
#include "config/config.h"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

#include "config/load.h"
#include "config/yaml_reader.h"

namespace sg::config {

namespace {

// Guards against `-c /dev/zero` and the like; real configs are a few KiB.
constexpr size_t kMaxFileSize = 16 * 1024 * 1024;
constexpr uint32_t kMaxWorkers = 1024;
constexpr uint32_t kMaxEventCoalescingUs = 1000;  // longer sleeps cost more latency than they save
// The default for a process that only pools PostgreSQL: its clients wait on the database anyway,
// and a longer sleep batches more of them per poll (bench/README.md: pooler CPU per transaction
// about 0.8x PgBouncer's at 150 us, against 1.1x at the HTTP default of 50, TPS higher in both).
constexpr uint32_t kPostgresOnlyEventCoalescingUs = 150;
constexpr const char* kEmptyMessage =
    "the configuration is empty; expected a map with 'listeners' and 'upstreams'";

LoadResult failure(const std::string& file, const std::string& message) {
  return LoadResult{nullptr, {ConfigError{file, 0, 0, message}}};
}

void loadAccessLog(detail::ErrorSink& errors, const detail::Field& field, AccessLogConfig* out) {
  detail::MapReader map(errors, field, {"enabled", "path"});
  if (!map.valid()) return;
  detail::readBool(errors, map.find("enabled"), &out->enabled);
  detail::readString(errors, map.find("path"), &out->path);
}

void loadAdmin(detail::ErrorSink& errors, const detail::Field& field, const std::string& file_name,
               const std::vector<ListenerConfig>& listeners, AdminConfig* out) {
  detail::MapReader map(errors, field, {"address", "token", "token_file", "public_read"});
  const detail::Field* address = map.require("address");
  net::Address parsed;
  if (!detail::readAddress(errors, address, &parsed)) return;
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (!detail::addressesConflict(parsed, listeners[i].address)) continue;
    errors.add(address->mark(), address->path,
               "address " + parsed.toString() + " conflicts with listeners[" + std::to_string(i) +
                   "] (" + listeners[i].address.toString() + ")");
  }
  out->address = parsed;
  detail::loadAdminAuth(errors, map, address, file_name, out);
}

// An HTTP gateway needs listeners and upstreams; a PostgreSQL-only one (a `postgres` section and
// no HTTP listeners) needs neither.
const detail::Field* findListeners(detail::ErrorSink& errors, const detail::MapReader& map) {
  const detail::Field* listeners = map.find("listeners");
  if (listeners == nullptr && map.find("postgres") == nullptr) {
    errors.add(map.self().mark(), "missing required key 'listeners' (or a 'postgres' section)");
  }
  return listeners;
}

void loadRoot(detail::ErrorSink& errors, const YAML::Node& root, const std::string& file_name,
              Config* config) {
  if (!root.IsMap()) {
    errors.add(root.Mark(), "the top level must be a map with 'listeners' and 'upstreams', got " +
                                detail::describeNode(root));
    return;
  }
  detail::MapReader map(
      errors, detail::Field{YAML::Node(), root, "", false},
      {"workers", "event_coalescing_us", "shutdown_timeout", "access_log", "listeners", "upstreams",
       "admin", "cache", "store", "queues", "postgres"});
  detail::readUint32(errors, map.find("workers"), 0, kMaxWorkers, &config->workers);
  detail::readUint32(errors, map.find("event_coalescing_us"), 0, kMaxEventCoalescingUs,
                     &config->event_coalescing_us);
  detail::readDuration(errors, map.find("shutdown_timeout"), &config->shutdown_timeout);
  if (const detail::Field* access_log = map.find("access_log")) {
    loadAccessLog(errors, *access_log, &config->access_log);
  }
  const detail::Field* listeners = findListeners(errors, map);
  // Upstreams first: routes are checked against their names.
  const bool http = listeners != nullptr || map.find("postgres") == nullptr;
  const detail::Field* upstreams = http ? map.require("upstreams") : map.find("upstreams");
  detail::UpstreamNames names = detail::collectUpstreamNames(upstreams);
  if (upstreams != nullptr)
    detail::loadUpstreams(errors, *upstreams, file_name, &config->upstreams);
  if (listeners != nullptr)
    detail::loadListeners(errors, *listeners, names, file_name, &config->listeners);
  if (const detail::Field* cache = map.find("cache"))
    detail::loadCache(errors, *cache, &config->cache);
  const detail::Field* store = map.find("store");
  if (store != nullptr) detail::loadStore(errors, *store, &config->store);
  detail::checkClusterScopes(errors, store, *config);
  if (const detail::Field* queues = map.find("queues"))
    detail::loadQueues(errors, *queues, &config->queues);
  detail::checkAsyncRoutes(errors, *config);
  if (const detail::Field* admin = map.find("admin")) {
    loadAdmin(errors, *admin, file_name, config->listeners, &config->admin);
  }
  if (const detail::Field* postgres = map.find("postgres")) {
    detail::loadPostgres(errors, *postgres, file_name, *config, &config->postgres.emplace());
    if (listeners == nullptr && map.find("event_coalescing_us") == nullptr)
      config->event_coalescing_us = kPostgresOnlyEventCoalescingUs;
  }
}

LoadResult loadUnguarded(const std::string& yaml_text, const std::string& file_name) {
  detail::ErrorSink errors(file_name);
  std::optional<YAML::Node> document = detail::parseDocument(yaml_text, errors);
  if (!document) return LoadResult{nullptr, errors.take()};
  if (document->IsNull()) {
    errors.add(YAML::Mark(), kEmptyMessage);  // Mark() is 0:0, reported as 1:1
    return LoadResult{nullptr, errors.take()};
  }
  auto config = std::make_shared<Config>();
  config->source_path = file_name;
  loadRoot(errors, *document, file_name, config.get());
  if (!errors.empty()) return LoadResult{nullptr, errors.take()};
  return LoadResult{std::move(config), {}};
}

LoadResult readAndLoad(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return failure(path, "cannot open: " + std::generic_category().message(errno));
  std::string text;
  char buffer[64 * 1024];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), file.get())) {
    text.append(buffer, n);
    if (text.size() > kMaxFileSize) {
      return failure(path,
                     "file is larger than " + std::to_string(kMaxFileSize / (1024 * 1024)) + "MiB");
    }
  }
  if (std::ferror(file.get()))
    return failure(path, "cannot read: " + std::generic_category().message(errno));
  return loadConfigString(text, path);
}

}  // namespace

const UpstreamConfig* Config::findUpstream(const std::string& name) const {
  for (const UpstreamConfig& upstream : upstreams) {
    if (upstream.name == name) return &upstream;
  }
  return nullptr;
}

const QueueConfig* Config::findQueue(const std::string& name) const {
  for (const QueueConfig& queue : queues) {
    if (queue.name == name) return &queue;
  }
  return nullptr;
}

std::string ConfigError::toString() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

LoadResult loadConfigString(const std::string& yaml_text, const std::string& file_name) {
  // The walk reports bad input as errors; these catch only what should never happen
  // (a yaml-cpp surprise, allocation failure), keeping the "never throws" promise.
  try {
    return loadUnguarded(yaml_text, file_name);
  } catch (const std::exception& e) {
    return failure(file_name,
                   std::string("internal error while loading configuration: ") + e.what());
  } catch (...) {
    return failure(file_name, "internal error while loading configuration");
  }
}

LoadResult loadConfigFile(const std::string& path) {
  try {
    return readAndLoad(path);
  } catch (const std::exception& e) {
    return failure(path, std::string("internal error while reading configuration: ") + e.what());
  }
}

}  // namespace sg::config

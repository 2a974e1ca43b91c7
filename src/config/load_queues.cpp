// Async routes: the top-level `queues` (durable queues by name) and a route's `async`, with
// the checks that tie them to the rest of the file.
#include <arpa/inet.h>

#include <algorithm>
#include <limits>

#include "config/load.h"

namespace sg::config::detail {

namespace {

constexpr uint64_t kMaxQueueLength = 1'000'000'000;
constexpr uint32_t kMaxConcurrency = 65536;
constexpr uint32_t kMaxAttempts = 1000;
constexpr uint32_t kMaxBatchItems = 10000;
constexpr uint64_t kMaxResultSize = 512ull * 1024 * 1024;
constexpr size_t kMaxQueueName = 64;

// An IPv6 literal, bracketed or not, as the callback check compares it: "[" + the canonical
// text (inet_ntop: lower-case, zeros compressed) + "]". Nothing when `text` is not one.
std::optional<std::string> bracketedIpv6(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.find(':') == std::string_view::npos) return std::nullopt;
  const std::string literal(text);
  in6_addr address{};
  if (inet_pton(AF_INET6, literal.c_str(), &address) != 1) return std::nullopt;
  char canonical[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(AF_INET6, &address, canonical, sizeof(canonical)) == nullptr) return std::nullopt;
  return "[" + std::string(canonical) + "]";
}

// Queue names appear in metrics labels and admin paths (/admin/queues/{name}).
bool isQueueName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxQueueName &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
         });
}

// What `retry_on` means when the queue leaves it out.
RetryOn defaultQueueRetryOn() {
  RetryOn on;
  on.server_error = true;
  on.connect_failure = true;
  on.refused = true;
  on.reset = true;
  on.timeout = true;
  on.statuses = {429};
  return on;
}

template <typename Enum>
void readChoice(ErrorSink& errors, const Field* field,
                std::initializer_list<std::pair<std::string_view, Enum>> choices, Enum* out) {
  std::string text;
  if (!readString(errors, field, &text)) return;
  std::string names;
  for (const auto& [name, value] : choices) {
    if (name == text) {
      *out = value;
      return;
    }
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  errors.add(field->mark(), field->path,
             "unknown value " + quoted(text) + " (one of: " + names + ")");
}

void loadBackoff(ErrorSink& errors, const Field& field, QueueConfig::Backoff* out) {
  MapReader map(errors, field, {"type", "delay", "max", "jitter"});
  if (!map.valid()) return;
  using Backoff = QueueConfig::Backoff;
  readChoice(errors, map.find("type"),
             {{"exponential", Backoff::Type::kExponential}, {"fixed", Backoff::Type::kFixed}},
             &out->type);
  readDuration(errors, map.find("delay"), &out->delay, false);
  readDuration(errors, map.find("max"), &out->max, false);
  readChoice(errors, map.find("jitter"),
             {{"full", Backoff::Jitter::kFull}, {"none", Backoff::Jitter::kNone}}, &out->jitter);
  if (out->max < out->delay) {
    errors.add(field.mark(), field.path, "max must be at least delay");
  }
}

void loadBatch(ErrorSink& errors, const Field& field, QueueConfig::Batch* out) {
  MapReader map(errors, field, {"max_items", "max_wait"});
  if (!map.valid()) return;
  readUint32(errors, map.find("max_items"), 1, kMaxBatchItems, &out->max_items);
  readDuration(errors, map.find("max_wait"), &out->max_wait);
}

void loadQueueRetryOn(ErrorSink& errors, const Field& field, RetryOn* out) {
  if (field.value.IsSequence() && field.value.size() == 0) {
    errors.add(field.mark(), field.path,
               "must list at least one condition (leave retry_on out for the default: 5xx, "
               "connect-failure, timeout, 429)");
    return;
  }
  readRetryOn(errors, field, out);
}

void loadQueue(ErrorSink& errors, const Field& field, QueueConfig* out) {
  MapReader map(
      errors, field,
      {"store", "path", "max_length", "overflow", "message_ttl", "concurrency", "rate", "attempts",
       "backoff", "retry_on", "result_ttl", "max_result_size", "batch", "visibility_timeout"});
  if (!map.valid()) return;
  using Queue = QueueConfig;
  readChoice(errors, map.find("store"),
             {{"sqlite", Queue::Store::kSqlite}, {"redis", Queue::Store::kRedis}}, &out->store);
  const Field* path = map.find("path");
  if (readString(errors, path, &out->path) && out->path.empty())
    errors.add(path->mark(), path->path, "the file path is empty");
  if (path != nullptr && out->store == Queue::Store::kRedis)
    errors.add(path->mark(), path->path,
               "path is for store: sqlite (a redis queue lives in the store)");
  if (out->path.empty()) out->path = out->name + ".queue.db";
  readUint(errors, map.find("max_length"), 1, kMaxQueueLength, &out->max_length);
  readChoice(errors, map.find("overflow"),
             {{"reject", Queue::Overflow::kReject}, {"drop_oldest", Queue::Overflow::kDropOldest}},
             &out->overflow);
  readDuration(errors, map.find("message_ttl"), &out->message_ttl, false);
  readUint32(errors, map.find("concurrency"), 1, kMaxConcurrency, &out->concurrency);
  if (const Field* rate = map.find("rate");
      rate != nullptr && readRate(errors, rate, &out->rate.emplace()) == false)
    out->rate.reset();
  readUint32(errors, map.find("attempts"), 1, kMaxAttempts, &out->attempts);
  if (const Field* backoff = map.find("backoff")) loadBackoff(errors, *backoff, &out->backoff);
  out->retry_on = defaultQueueRetryOn();
  if (const Field* retry_on = map.find("retry_on"))
    loadQueueRetryOn(errors, *retry_on, &out->retry_on);
  readDuration(errors, map.find("result_ttl"), &out->result_ttl, false);
  readSize(errors, map.find("max_result_size"), 0, kMaxResultSize, &out->max_result_size);
  if (const Field* batch = map.find("batch"))
    loadBatch(errors, *batch, &out->batch.emplace(QueueConfig::Batch{}));
  if (const Field* timeout = map.find("visibility_timeout")) {
    Duration value{0};
    if (readDuration(errors, timeout, &value, false)) out->visibility_timeout = value;
  }
}

void loadCallback(ErrorSink& errors, const Field& field, AsyncRouteConfig::Callback* out) {
  MapReader map(errors, field, {"allow", "secret_file"});
  if (!map.valid()) return;
  if (const Field* allow = map.require("allow")) {
    for (const Field& item : sequenceItems(errors, *allow)) {
      std::string host;
      if (!readString(errors, &item, &host)) continue;
      host = lowerCase(std::move(host));
      if (auto literal = bracketedIpv6(host)) {
        host = std::move(*literal);
      } else if (!isHostName(host)) {
        errors.add(item.mark(), item.path,
                   "expected a host name or an IP address, got " + quoted(host));
        continue;
      }
      out->allow.push_back(std::move(host));
    }
    if (allow->value.IsSequence() && allow->value.size() == 0)
      errors.add(allow->mark(), allow->path, "must list at least one host");
  }
  const Field* secret = map.require("secret_file");
  if (readString(errors, secret, &out->secret_file) && out->secret_file.empty())
    errors.add(secret->mark(), secret->path, "the file path is empty");
}

}  // namespace

void loadQueues(ErrorSink& errors, const Field& field, std::vector<QueueConfig>* out) {
  if (!field.value.IsMap()) {
    errors.add(field.mark(), field.path,
               "expected a map of queue names to queues, got " + describeNode(field.value));
    return;
  }
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary proxy, so references would dangle.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    const std::string name = key.IsScalar() ? key.Scalar() : std::string();
    const Field item{key, value, field.path + "." + name, true};
    if (!isQueueName(name)) {
      errors.add(key.Mark(), field.path,
                 "a queue name is 1 to 64 letters, digits, '_' or '-', got " + quoted(name));
      continue;
    }
    QueueConfig queue;
    queue.name = name;
    loadQueue(errors, item, &queue);
    out->push_back(std::move(queue));
  }
}

void loadAsyncRoute(ErrorSink& errors, const Field& field, AsyncRouteConfig* out) {
  MapReader map(errors, field, {"queue", "fanout", "callback"});
  if (!map.valid()) return;
  readString(errors, map.require("queue"), &out->queue);
  if (const Field* fanout = map.find("fanout")) {
    for (const Field& item : sequenceItems(errors, *fanout)) {
      std::string upstream;
      if (!readString(errors, &item, &upstream)) continue;
      if (std::find(out->fanout.begin(), out->fanout.end(), upstream) != out->fanout.end()) {
        errors.add(item.mark(), item.path, "upstream " + quoted(upstream) + " listed twice");
        continue;
      }
      out->fanout.push_back(std::move(upstream));
    }
    if (fanout->value.IsSequence() && fanout->value.size() == 0)
      errors.add(fanout->mark(), fanout->path, "must list at least one upstream");
  }
  if (const Field* callback = map.find("callback"))
    loadCallback(errors, *callback, &out->callback.emplace());
}

void checkAsyncRoutes(ErrorSink& errors, const Config& config) {
  for (const QueueConfig& queue : config.queues) {
    if (queue.store == QueueConfig::Store::kRedis &&
        config.store.type == StoreConfig::Type::kNone) {
      errors.add(YAML::Mark(), "queues." + queue.name +
                                   ": store: redis needs the top-level `store` (type: redis or "
                                   "redis_cluster)");
    }
  }
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    for (size_t r = 0; r < config.listeners[i].routes.size(); ++r) {
      const RouteConfig& route = config.listeners[i].routes[r];
      if (!route.async) continue;
      const std::string where =
          "listeners[" + std::to_string(i) + "].routes[" + std::to_string(r) + "].async";
      if (!route.async->queue.empty() && config.findQueue(route.async->queue) == nullptr)
        errors.add(YAML::Mark(), where + ".queue: unknown queue " + quoted(route.async->queue));
      for (const std::string& upstream : route.async->fanout) {
        if (config.findUpstream(upstream) == nullptr)
          errors.add(YAML::Mark(), where + ".fanout: unknown upstream " + quoted(upstream));
      }
      if (route.cache && route.cache->enabled)
        errors.add(YAML::Mark(), where + ": an async route cannot also have `cache`");
    }
  }
}

}  // namespace sg::config::detail

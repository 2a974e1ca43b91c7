#include "admin/queue_admin.h"

#include <chrono>

#include "admin/admin_reply.h"
#include "queue/job_json.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

constexpr std::string_view kPrefix = "/admin/queues";
constexpr size_t kDefaultDeadLimit = 100;
constexpr size_t kMaxDeadLimit = 10'000;

int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

ServiceResponse methodNotAllowed(std::string_view allow) {
  ServiceResponse response = errorReply(405, "use " + std::string(allow));
  response.headers.emplace_back("Allow", std::string(allow));
  return response;
}

ServiceResponse storeError(const queue::StoreError& error) {
  return errorReply(error.kind == queue::ErrorKind::kNotFound ? 404 : 503, error.message);
}

ServiceResponse listQueues(proxy::SharedState& shared) {
  json::array queues;
  const int64_t now = wallMs();
  for (auto& queue : shared.queues()) {
    const queue::QueueCounts counts = queue->store().counts(now);
    json::object states;
    for (int s = 0; s < queue::kJobStateCount; ++s) {
      states[queue::jobStateName(static_cast<queue::JobState>(s))] = counts.by_state[s];
    }
    const bool in_redis = queue->config().store == config::QueueConfig::Store::kRedis;
    queues.push_back(json::object{{"name", queue->config().name},
                                  {"store", in_redis ? "redis" : "sqlite"},
                                  {"depth", counts.depth()},
                                  {"oldest_age_ms", counts.oldest_queued_age_ms},
                                  {"jobs", std::move(states)}});
  }
  return jsonReply(200, json::object{{"queues", std::move(queues)}});
}

// {"ids": ["...", ...]} → the ids; an empty body or {} → nullopt (all). *error set when
// the body is not that.
std::optional<std::vector<std::string>> idsFrom(std::string_view body, std::string* error) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::nullopt;
  boost::system::error_code code;
  json::value document = json::parse(body, code);
  if (code || !document.is_object()) {
    *error = "expected a JSON object {\"ids\": [...]}";
    return std::nullopt;
  }
  const json::value* ids = document.as_object().if_contains("ids");
  if (ids == nullptr) return std::nullopt;
  if (!ids->is_array()) {
    *error = "\"ids\" must be an array of job ids";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const json::value& id : ids->as_array()) {
    if (!id.is_string()) {
      *error = "\"ids\" must be an array of job ids";
      return std::nullopt;
    }
    out.emplace_back(id.as_string());
  }
  return out;
}

ServiceResponse listDead(proxy::AsyncQueue& queue, std::string_view query) {
  size_t limit = kDefaultDeadLimit;
  if (auto text = queryParam(query, "limit")) {
    try {
      limit = std::stoul(*text);
    } catch (const std::exception&) {
      return errorReply(400, "limit must be a number");
    }
    limit = std::min(std::max<size_t>(limit, 1), kMaxDeadLimit);
  }
  auto dead = queue.store().listDead(limit);
  if (!dead.ok()) return storeError(dead.error());
  return jsonReply(200, queue::deadListJson(queue.config().name, dead.value()));
}

ServiceResponse replay(proxy::AsyncQueue& queue, std::string_view body) {
  std::string error;
  auto ids = idsFrom(body, &error);
  if (!error.empty()) return errorReply(400, error);
  auto replayed = ids ? queue.store().replayDead(*ids) : queue.store().replayAllDead();
  if (!replayed.ok()) return storeError(replayed.error());
  return jsonReply(200, json::object{{"replayed", replayed.value()}});
}

ServiceResponse discard(proxy::AsyncQueue& queue, std::string_view query) {
  auto id = queryParam(query, "id");
  std::vector<std::string> ids;
  if (id) ids.push_back(*id);
  auto discarded = id ? queue.store().discardDead(ids) : queue.store().discardAllDead();
  if (!discarded.ok()) return storeError(discarded.error());
  return jsonReply(200, json::object{{"discarded", discarded.value()}});
}

}  // namespace

std::optional<ServiceResponse> handleQueueAdmin(proxy::SharedState& shared,
                                                const http::RequestHead& request,
                                                std::string_view body) {
  std::string_view path = request.path;
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  path.remove_prefix(kPrefix.size());
  if (!path.empty() && path.front() != '/') return std::nullopt;  // "/admin/queuesX"
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (path.empty() || path == "/") return read ? listQueues(shared) : methodNotAllowed("GET");
  path.remove_prefix(1);
  const size_t slash = path.find('/');
  const std::string_view name = path.substr(0, slash);
  const std::string_view rest = slash == std::string_view::npos ? "" : path.substr(slash);
  proxy::AsyncQueue* queue = shared.findQueue(name);
  if (queue == nullptr) return errorReply(404, "no queue named " + std::string(name));
  if (rest == "/dead") {
    if (read) return listDead(*queue, request.query);
    if (request.method == "DELETE") return discard(*queue, request.query);
    return methodNotAllowed("GET, HEAD, DELETE");
  }
  if (rest == "/dead/replay") {
    if (request.method == "POST") return replay(*queue, body);
    return methodNotAllowed("POST");
  }
  return errorReply(404, "unknown queue resource; see /admin/queues/{name}/dead");
}

}  // namespace sg::admin

#include "admin/server_admin.h"

#include <boost/json.hpp>

#include "admin/admin_reply.h"
#include "admin/runtime_servers.h"
#include "net/event_loop.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

constexpr std::string_view kPrefix = "/admin/upstreams/";

struct Target {
  std::string upstream;
  std::string server;
  std::string action;
};

// Splits "{name}/servers/{address}/{action}"; false when the shape is wrong.
bool parseTarget(std::string_view rest, Target* target) {
  auto first = rest.find('/');
  if (first == std::string_view::npos) return false;
  target->upstream = percentDecode(rest.substr(0, first));
  rest.remove_prefix(first + 1);
  if (rest.substr(0, 8) != "servers/") return false;
  rest.remove_prefix(8);
  auto last = rest.rfind('/');
  if (last == std::string_view::npos || last == 0) return false;
  target->server = percentDecode(rest.substr(0, last));
  target->action = std::string(rest.substr(last + 1));
  return true;
}

std::optional<uint32_t> parseWeight(std::string_view body) {
  json::error_code error;
  json::value value = json::parse(body, error);
  if (error) return std::nullopt;
  if (value.is_object() && value.as_object().contains("weight"))
    value = value.as_object()["weight"];
  if (!value.is_int64() && !value.is_uint64()) return std::nullopt;
  int64_t weight = value.is_int64() ? value.as_int64() : static_cast<int64_t>(value.as_uint64());
  if (weight < 1 || weight > 1000) return std::nullopt;
  return static_cast<uint32_t>(weight);
}

json::object describe(const proxy::SharedUpstream& upstream, const proxy::SharedServer& server) {
  json::object out;
  out["upstream"] = upstream.config->name;
  out["address"] = server.address_text;
  auto reason = upstream.outReason(server, net::monotonicMillis());
  out["state"] = proxy::outReasonName(reason);
  out["weight"] = server.weight.load();
  return out;
}

ServiceResponse apply(proxy::SharedUpstream& upstream, proxy::SharedServer& server,
                      const http::RequestHead& request, const Target& target,
                      std::string_view body) {
  using proxy::AdminState;
  AdminState now = server.admin_state.load();
  if (now == AdminState::kRemoving || now == AdminState::kVacant) {
    return errorReply(409, "server " + target.server + " is being removed");
  }
  if (target.action == "weight") {
    if (request.method != "PUT") return errorReply(405, "use PUT for weight");
    auto weight = parseWeight(body);
    if (!weight) return errorReply(400, "body must be {\"weight\": N} with N from 1 to 1000");
    server.weight.store(*weight);
    upstream.weights_version.fetch_add(1);
    return jsonReply(200, describe(upstream, server));
  }
  AdminState next;
  if (target.action == "drain") {
    next = AdminState::kDraining;
  } else if (target.action == "disable") {
    next = AdminState::kDisabled;
  } else if (target.action == "enable") {
    next = AdminState::kEnabled;
  } else {
    return errorReply(404, "unknown action (drain, disable, enable, weight)");
  }
  if (request.method != "POST") return errorReply(405, "use POST for drain, disable, enable");
  server.admin_state.store(next);
  return jsonReply(200, describe(upstream, server));
}

}  // namespace

std::optional<ServiceResponse> handleServerAdmin(proxy::SharedState& shared,
                                                 const http::RequestHead& request,
                                                 std::string_view body) {
  std::string_view path = request.path;
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  if (auto reply = handleRuntimeServers(shared, request, body)) return reply;
  Target target;
  if (!parseTarget(path.substr(kPrefix.size()), &target)) {
    return errorReply(404, "expected /admin/upstreams/{name}/servers/{address}/{action}");
  }
  for (auto& upstream : shared.upstreams()) {
    if (upstream.config->name != target.upstream) continue;
    // Run-time slots change under their lock only (server_slots.h).
    auto guard = upstream.slots ? upstream.slots->lock() : std::unique_lock<std::mutex>();
    for (auto& server : upstream.servers) {
      if (server->admin_state.load() == proxy::AdminState::kVacant) continue;
      if (server->address_text == target.server) {
        return apply(upstream, *server, request, target, body);
      }
    }
    return errorReply(404, "no server " + target.server + " in upstream " + target.upstream);
  }
  return errorReply(404, "no upstream " + target.upstream);
}

}  // namespace sg::admin

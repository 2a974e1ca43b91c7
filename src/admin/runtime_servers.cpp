#include "admin/runtime_servers.h"

#include <boost/json.hpp>

#include "admin/admin_reply.h"
#include "net/event_loop.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

constexpr std::string_view kPrefix = "/admin/upstreams/";
constexpr std::string_view kServers = "/servers";
constexpr uint32_t kMaxWeight = 1000;  // as PUT .../weight

struct RuntimeTarget {
  std::string upstream;
  std::optional<std::string> address;  // absent: the list
};

// "{name}/servers" or "{name}/servers/{address}" (an address has no '/').
std::optional<RuntimeTarget> parseRuntimeTarget(std::string_view rest) {
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  RuntimeTarget target;
  target.upstream = percentDecode(rest.substr(0, slash));
  rest.remove_prefix(slash);
  if (rest == kServers) return target;
  if (rest.substr(0, kServers.size() + 1) != "/servers/") return std::nullopt;
  rest.remove_prefix(kServers.size() + 1);
  if (rest.empty() || rest.find('/') != std::string_view::npos) return std::nullopt;
  target.address = percentDecode(rest);
  return target;
}

// An empty body means weight 1; otherwise {"weight": N} with N from 1 to 1000.
std::optional<uint32_t> parseAddWeight(std::string_view body, std::string* error) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return 1;
  json::error_code code;
  json::value value = json::parse(body, code);
  if (code || !value.is_object()) {
    *error = "body must be a JSON object such as {\"weight\": 2}";
    return std::nullopt;
  }
  for (const auto& field : value.as_object()) {
    if (field.key() != "weight") {
      *error = "unknown field \"" + std::string(field.key()) + "\" (only \"weight\")";
      return std::nullopt;
    }
  }
  const json::value* weight = value.as_object().if_contains("weight");
  if (weight == nullptr) return 1;
  if (weight->is_int64() && weight->as_int64() >= 1 && weight->as_int64() <= kMaxWeight)
    return static_cast<uint32_t>(weight->as_int64());
  if (weight->is_uint64() && weight->as_uint64() >= 1 && weight->as_uint64() <= kMaxWeight)
    return static_cast<uint32_t>(weight->as_uint64());
  *error = "weight must be an integer from 1 to 1000";
  return std::nullopt;
}

// An address a server can be reached at: host:port, port not 0, not "any address".
std::optional<net::Address> parseServerAddress(const std::string& text, std::string* error) {
  auto address = net::Address::parse(text, error);
  if (!address) return std::nullopt;
  const std::string host = address->hostString();
  if (address->port() == 0) {
    *error = "port 0 is not a valid server port";
  } else if (host == "0.0.0.0" || host == "::") {
    *error = "\"" + text + "\" means 'any address' and cannot be connected to";
  } else {
    return address;
  }
  return std::nullopt;
}

json::object entryJson(const proxy::ServerSlots::Entry& entry) {
  json::object out;
  out["address"] = entry.address;
  out["weight"] = entry.weight;
  out["state"] = entry.state;
  out["discovered"] = entry.discovered;
  return out;
}

ServiceResponse listServers(proxy::SharedUpstream& upstream) {
  json::array servers;
  int64_t now = net::monotonicMillis();
  if (upstream.slots) {
    for (const auto& entry : upstream.slots->list(now)) servers.push_back(entryJson(entry));
  } else {
    for (const auto& server : upstream.servers) {  // static: never changes
      servers.push_back(
          entryJson({server->address_text, server->weight.load(),
                     std::string(proxy::outReasonName(upstream.outReason(*server, now))), false}));
    }
  }
  json::object out;
  out["upstream"] = upstream.config->name;
  out["discovery"] = upstream.slots != nullptr;
  if (upstream.slots) out["free_slots"] = upstream.slots->freeSlots();
  out["servers"] = std::move(servers);
  return jsonReply(200, std::move(out));
}

ServiceResponse addServer(proxy::SharedUpstream& upstream, const std::string& text,
                          std::string_view body) {
  std::string error;
  auto address = parseServerAddress(text, &error);
  if (!address) return errorReply(400, "bad server address \"" + text + "\": " + error);
  auto weight = parseAddWeight(body, &error);
  if (!weight) return errorReply(400, error);
  using Result = proxy::ServerSlots::AddResult;
  switch (upstream.slots->add(*address, *weight)) {
    case Result::kAdded:
      break;
    case Result::kDuplicate:
      return errorReply(409, "server " + address->toString() + " is already in upstream " +
                                 upstream.config->name + " (or still being removed)");
    case Result::kNoFreeSlot:
      return errorReply(507, "upstream " + upstream.config->name +
                                 " has no free server slot (discovery.max_servers; removed "
                                 "servers free theirs once drained)");
  }
  json::object out;
  out["upstream"] = upstream.config->name;
  out["address"] = address->toString();
  out["weight"] = *weight;
  out["state"] = "added";
  return jsonReply(201, std::move(out));
}

ServiceResponse removeServer(proxy::SharedUpstream& upstream, const std::string& text) {
  std::string error;
  auto address = parseServerAddress(text, &error);
  if (!address) return errorReply(400, "bad server address \"" + text + "\": " + error);
  using Result = proxy::ServerSlots::RemoveResult;
  switch (upstream.slots->remove(address->toString())) {
    case Result::kRemoving:
    case Result::kAlreadyRemoving:
      break;
    case Result::kNotFound:
      return errorReply(
          404, "no server " + address->toString() + " in upstream " + upstream.config->name);
    case Result::kStatic:
      return errorReply(400, "server " + address->toString() +
                                 " is listed in the configuration's `servers`: drain or "
                                 "disable it instead");
  }
  json::object out;
  out["upstream"] = upstream.config->name;
  out["address"] = address->toString();
  out["state"] = "removing";
  return jsonReply(202, std::move(out));
}

}  // namespace

std::optional<ServiceResponse> handleRuntimeServers(proxy::SharedState& shared,
                                                    const http::RequestHead& request,
                                                    std::string_view body) {
  std::string_view path = request.path;
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  auto target = parseRuntimeTarget(path.substr(kPrefix.size()));
  if (!target) return std::nullopt;
  const std::string_view method = request.method;
  const bool list = !target->address;
  if (list ? (method != "GET" && method != "HEAD") : (method != "PUT" && method != "DELETE")) {
    return errorReply(
        405, list ? "use GET to list servers" : "use PUT to add a server, DELETE to remove it");
  }
  for (auto& upstream : shared.upstreams()) {
    if (upstream.config->name != target->upstream) continue;
    if (list) return listServers(upstream);
    if (!upstream.slots) {
      return errorReply(400, "upstream " + upstream.config->name +
                                 " has no `discovery`: its servers are fixed by the "
                                 "configuration (drain, disable or enable them instead)");
    }
    if (method == "PUT") return addServer(upstream, *target->address, body);
    return removeServer(upstream, *target->address);
  }
  return errorReply(404, "no upstream " + target->upstream);
}

}  // namespace sg::admin

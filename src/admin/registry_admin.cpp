#include "admin/registry_admin.h"

#include <boost/json.hpp>
#include <vector>

#include "admin/admin_reply.h"
#include "config/units.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

constexpr std::string_view kRoot = "/admin/registry";

std::vector<std::string_view> splitSegments(std::string_view rest) {
  std::vector<std::string_view> out;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    out.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return out;
}

ServiceResponse methodNotAllowed(std::string_view allow) {
  ServiceResponse response = errorReply(405, "method not allowed: use " + std::string(allow));
  response.headers.emplace_back("Allow", std::string(allow));
  return response;
}

json::object instanceJson(const discovery::Instance& instance, int64_t now_ms) {
  json::object out;
  out["id"] = instance.id;
  out["address"] = instance.spec.address_text;
  out["weight"] = instance.spec.weight;
  out["ttl"] = config::detail::formatDuration(std::chrono::milliseconds(instance.spec.ttl_ms));
  json::error_code code;
  json::value metadata = json::parse(instance.spec.metadata_json, code);
  out["metadata"] = code ? json::value(json::object()) : std::move(metadata);
  out["registered_at_ms"] = instance.registered_at_ms;
  out["last_heartbeat_ms"] = instance.last_heartbeat_ms;
  const int64_t since = std::max<int64_t>(0, now_ms - instance.last_heartbeat_ms);
  out["seconds_since_heartbeat"] = static_cast<double>(since) / 1000.0;
  return out;
}

ServiceResponse listServices(discovery::Registry& registry) {
  json::array services;
  size_t total = 0;
  for (const auto& summary : registry.services()) {
    json::object entry;
    entry["name"] = summary.name;
    entry["instances"] = summary.instances;
    entry["version"] = summary.version;
    total += summary.instances;
    services.push_back(std::move(entry));
  }
  json::object document;
  document["services"] = std::move(services);
  document["instances"] = total;
  document["version"] = registry.version();
  return jsonReply(200, std::move(document));
}

ServiceResponse listInstances(discovery::Registry& registry, const std::string& service) {
  const discovery::ServiceSnapshot snapshot = registry.snapshot(service);
  const int64_t now = registry.clock().nowMs();
  json::array instances;
  for (const auto& instance : snapshot.instances) instances.push_back(instanceJson(instance, now));
  json::object document;
  document["service"] = service;
  document["version"] = snapshot.version;
  document["instances"] = std::move(instances);
  return jsonReply(200, std::move(document));
}

ServiceResponse registerInstance(discovery::Registry& registry, const std::string& service,
                                 const std::string& id, std::string_view body) {
  std::string error;
  auto spec = discovery::parseInstanceSpec(body, &error);
  if (!spec) return errorReply(400, error);
  const auto result = registry.put(service, id, *spec);
  if (result == discovery::Registry::PutResult::kFull)
    return errorReply(507, "the registry is full (at most " +
                               std::to_string(discovery::kMaxServices) + " services of " +
                               std::to_string(discovery::kMaxInstancesPerService) +
                               " instances each)");
  auto instance = registry.find(service, id);
  if (!instance) return errorReply(409, "the instance was removed while registering");
  const int status = result == discovery::Registry::PutResult::kCreated ? 201 : 200;
  return jsonReply(status, instanceJson(*instance, registry.clock().nowMs()));
}

ServiceResponse unknownInstance(const std::string& service, const std::string& id) {
  return errorReply(404, "no instance " + id + " of service " + service +
                             " (never registered, deregistered or evicted): register it again");
}

ServiceResponse instanceRequest(discovery::Registry& registry, const http::RequestHead& request,
                                const std::string& service, const std::string& id,
                                std::string_view body) {
  if (request.method == "PUT") return registerInstance(registry, service, id, body);
  if (request.method == "DELETE") {
    if (!registry.remove(service, id)) return unknownInstance(service, id);
    json::object document;
    document["deregistered"] = id;
    document["service"] = service;
    return jsonReply(200, std::move(document));
  }
  if (request.method == "GET" || request.method == "HEAD") {
    auto instance = registry.find(service, id);
    if (!instance) return unknownInstance(service, id);
    return jsonReply(200, instanceJson(*instance, registry.clock().nowMs()));
  }
  return methodNotAllowed("GET, HEAD, PUT, DELETE");
}

ServiceResponse heartbeatRequest(discovery::Registry& registry, const http::RequestHead& request,
                                 const std::string& service, const std::string& id) {
  if (request.method != "PUT") return methodNotAllowed("PUT");
  if (!registry.heartbeat(service, id)) return unknownInstance(service, id);
  auto instance = registry.find(service, id);
  if (!instance) return unknownInstance(service, id);
  return jsonReply(200, instanceJson(*instance, registry.clock().nowMs()));
}

}  // namespace

std::optional<ServiceResponse> handleRegistryAdmin(discovery::RegistryService* service,
                                                   const http::RequestHead& request,
                                                   std::string_view body) {
  std::string_view path = request.path;
  if (path.substr(0, kRoot.size()) != kRoot) return std::nullopt;
  path.remove_prefix(kRoot.size());
  if (!path.empty() && path.front() != '/') return std::nullopt;  // "/admin/registryx"
  if (service == nullptr) return errorReply(404, "the service registry is not running");
  discovery::Registry& registry = service->registry();
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (path.empty() || path == "/")
    return read ? listServices(registry) : methodNotAllowed("GET, HEAD");
  const std::vector<std::string_view> segments = splitSegments(path.substr(1));
  if (segments.size() > 3 || (segments.size() == 3 && segments[2] != "heartbeat"))
    return errorReply(404, "expected /admin/registry/{service}[/{instance}[/heartbeat]]");
  if (auto error = discovery::checkName("service", segments[0])) return errorReply(400, *error);
  const std::string name(segments[0]);
  if (segments.size() == 1)
    return read ? listInstances(registry, name) : methodNotAllowed("GET, HEAD");
  if (auto error = discovery::checkName("instance", segments[1])) return errorReply(400, *error);
  const std::string id(segments[1]);
  if (segments.size() == 2) return instanceRequest(registry, request, name, id, body);
  return heartbeatRequest(registry, request, name, id);
}

void addRegistryHealth(discovery::RegistryService* service, ServiceResponse* health) {
  if (service == nullptr) return;
  json::error_code code;
  json::value document = json::parse(health->body, code);
  if (code || !document.is_object()) return;
  const discovery::SharedStatus status = service->sharedStatus();
  json::object registry;
  registry["services"] = service->registry().services().size();
  registry["shared"] = status.shared;
  if (status.shared) {
    // "connecting": no round has succeeded yet since start-up (the registry may be empty).
    registry["state"] = status.synced ? "synced" : status.last_sync_ms > 0 ? "stale" : "connecting";
    if (status.last_sync_ms > 0) {
      const int64_t age = service->registry().clock().nowMs() - status.last_sync_ms;
      registry["seconds_since_sync"] = static_cast<double>(std::max<int64_t>(0, age)) / 1000.0;
    }
  }
  json::object& fields = document.as_object();
  fields["registry"] = std::move(registry);
  // A stale registry is still served (degraded), never a reason to refuse traffic.
  if (status.shared && !status.synced && fields["status"] == "ok") fields["status"] = "degraded";
  health->body = json::serialize(document);
  health->body.push_back('\n');
}

}  // namespace sg::admin

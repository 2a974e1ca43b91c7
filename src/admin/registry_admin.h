#pragma once
// The service registry through the admin API:
//   PUT    /admin/registry/{service}/{instance}            register (201) or replace (200):
//                                                          {address, weight, ttl, metadata}
//   PUT    /admin/registry/{service}/{instance}/heartbeat  200, or 404: register again
//   DELETE /admin/registry/{service}/{instance}            deregister
//   GET    /admin/registry/{service}[/{instance}]          live instances (or one)
//   GET    /admin/registry                                 services with instance counts
#include <optional>
#include <string_view>

#include "admin/http_service.h"
#include "discovery/registry_service.h"

namespace sg::admin {

// nullopt when the path is not under /admin/registry.
std::optional<ServiceResponse> handleRegistryAdmin(discovery::RegistryService* service,
                                                   const http::RequestHead& request,
                                                   std::string_view body);

// Adds the shared registry's state to a /health document: with Redis unreachable the
// gateway serves its last known registry, and says so ("degraded").
void addRegistryHealth(discovery::RegistryService* service, ServiceResponse* health);

}  // namespace sg::admin

#pragma once
// Servers added and removed at run time, for upstreams with `discovery` (as HAProxy's
// runtime `add server` / `del server`):
//   PUT    /admin/upstreams/{name}/servers/{address}   body {"weight": N} (optional, 1..1000)
//          201 added (slow start), 409 already there, 507 every slot taken
//   DELETE /admin/upstreams/{name}/servers/{address}
//          202 draining: requests in flight finish, then the slot is vacated
//   GET    /admin/upstreams/{name}/servers
//          200 the servers present (static and added) with their state
// Upstreams without `discovery` answer 400 to PUT and DELETE.
#include <optional>
#include <string_view>

#include "admin/http_service.h"
#include "proxy/shared_state.h"

namespace sg::admin {

// nullopt when the path is not one of the above (the caller tries other endpoints).
std::optional<ServiceResponse> handleRuntimeServers(proxy::SharedState& shared,
                                                    const http::RequestHead& request,
                                                    std::string_view body);

}  // namespace sg::admin

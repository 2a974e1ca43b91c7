#pragma once
// Run-time server control through the admin API:
//   POST /admin/upstreams/{name}/servers/{address}/drain|disable|enable
//   PUT  /admin/upstreams/{name}/servers/{address}/weight   body: {"weight": N} or N
// and, for upstreams with `discovery`, the run-time add/remove/list of runtime_servers.h.
#include <optional>
#include <string_view>

#include "admin/http_service.h"
#include "proxy/shared_state.h"

namespace sg::admin {

// nullopt when the path is not under /admin/upstreams/.
std::optional<ServiceResponse> handleServerAdmin(proxy::SharedState& shared,
                                                 const http::RequestHead& request,
                                                 std::string_view body);

}  // namespace sg::admin

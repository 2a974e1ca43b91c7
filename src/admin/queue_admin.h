#pragma once
// Async route queues through the admin API:
//   GET    /admin/queues                        every queue: depth, in flight, by state
//   GET    /admin/queues/{name}/dead[?limit=N]  the dead letters, oldest death first (100)
//   POST   /admin/queues/{name}/dead/replay     requeues them: body {"ids": [...]}, or no
//                                               body (or {}) for all; attempts start over
//   DELETE /admin/queues/{name}/dead[?id=ID]    discards one, or all of them
// The store's calls run here, on the admin thread (they may wait for a commit).
#include <optional>
#include <string_view>

#include "admin/http_service.h"
#include "proxy/shared_state.h"

namespace sg::admin {

// nullopt when the path is not under /admin/queues.
std::optional<ServiceResponse> handleQueueAdmin(proxy::SharedState& shared,
                                                const http::RequestHead& request,
                                                std::string_view body);

}  // namespace sg::admin

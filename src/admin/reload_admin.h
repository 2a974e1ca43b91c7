#pragma once
// POST /admin/reload: validates the configuration file and, when it is valid, starts the same
// reload as SIGHUP. An invalid file changes nothing: the answer lists its errors.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "admin/http_service.h"
#include "http/message.h"

namespace sg::admin {

struct ReloadOutcome {
  bool started = false;
  bool busy = false;                // another reload is under way (409)
  std::vector<std::string> errors;  // FILE:LINE:COL: message, when the file is invalid
};
using ReloadHandler = std::function<ReloadOutcome()>;

// Null `reload`: the endpoint does not exist (a gateway not run by `scalegate run`).
std::optional<ServiceResponse> handleReloadAdmin(const ReloadHandler& reload,
                                                 const http::RequestHead& request);

}  // namespace sg::admin

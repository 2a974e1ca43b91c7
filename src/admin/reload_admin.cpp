#include "admin/reload_admin.h"

#include <boost/json.hpp>

#include "admin/admin_reply.h"

namespace sg::admin {

std::optional<ServiceResponse> handleReloadAdmin(const ReloadHandler& reload,
                                                 const http::RequestHead& request) {
  if (!reload || request.path != "/admin/reload") return std::nullopt;
  if (request.method != "POST") {
    ServiceResponse response = errorReply(405, "use POST");
    response.headers.emplace_back("Allow", "POST");
    return response;
  }
  ReloadOutcome outcome = reload();
  boost::json::object document;
  if (outcome.started) {
    document["status"] = "reloading";
    return jsonReply(202, std::move(document));
  }
  boost::json::array errors;
  for (const auto& error : outcome.errors) errors.emplace_back(error);
  document["status"] = outcome.busy ? "busy" : "invalid";
  document["errors"] = std::move(errors);
  return jsonReply(outcome.busy ? 409 : 400, std::move(document));
}

}  // namespace sg::admin

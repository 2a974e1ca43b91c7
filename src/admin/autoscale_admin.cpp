#include "admin/autoscale_admin.h"

#include "admin/admin_reply.h"
#include "autoscale/autoscaler.h"

namespace sg::admin {

namespace {

constexpr std::string_view kPath = "/admin/autoscale";

}  // namespace

std::optional<ServiceResponse> handleAutoscaleAdmin(const autoscale::Autoscaler* autoscaler,
                                                    const http::RequestHead& request) {
  std::string_view path = request.path;
  if (path.substr(0, kPath.size()) != kPath) return std::nullopt;
  std::string_view rest = path.substr(kPath.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;  // e.g. /admin/autoscaler
  if (request.method != "GET" && request.method != "HEAD") {
    ServiceResponse response = errorReply(405, "use GET for /admin/autoscale");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return response;
  }
  if (rest.empty() || rest == "/") {
    return jsonReply(200, autoscaler ? autoscaler->dashboardJson() : boost::json::object{});
  }
  std::string upstream = percentDecode(rest.substr(1));
  if (upstream.find('/') != std::string::npos) {
    return errorReply(404, "expected /admin/autoscale/{upstream}");
  }
  auto document = autoscaler ? autoscaler->kedaJson(upstream) : std::nullopt;
  if (!document) return errorReply(404, "no autoscaled upstream " + upstream);
  return jsonReply(200, std::move(*document));
}

}  // namespace sg::admin

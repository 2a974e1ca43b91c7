// Routing (docs/life-of-a-request.md, "Route"): the target is normalised and checked, and
// the first route whose host, path prefix and method match is taken.
#include "proxy/route_phase.h"

#include "http/parser.h"
#include "proxy/client_connection.h"
#include "proxy/exchange.h"
#include "proxy/router.h"
#include "proxy/shared_state.h"

namespace sg::proxy {

Verdict RoutePhase::run() {
  if (!acceptTarget()) return Verdict::kAnswered;
  const http::RequestHead& request = ex_.request;
  ex_.route = ex_.listener->router.match(request.host, request.path, request.method);
  if (ex_.route == nullptr) {
    ex_.consumeHead();
    ex_.countReject(0, RejectReason::kNoRoute);
    ex_.reject(404, request.body != http::BodyKind::kNone);
    return Verdict::kAnswered;
  }
  if (!ex_.client->deliveryUpstream().empty()) {
    // A fan-out member goes to its own upstream: the route's variant for it.
    ex_.route = ex_.route->fanoutRoute(ex_.client->deliveryUpstream());
    if (ex_.route == nullptr) {  // the route no longer fans out there: retried, then dead
      ex_.consumeHead();
      ex_.reject(502, request.body != http::BodyKind::kNone);
      return Verdict::kAnswered;
    }
  }
  const uint64_t max_body = ex_.listener->config->max_body_size;
  if (max_body != 0 && request.body == http::BodyKind::kContentLength &&
      request.content_length > max_body) {
    ex_.consumeHead();
    ex_.countReject(0, RejectReason::kBodyTooLarge);
    ex_.reject(413, true);
    return Verdict::kAnswered;
  }
  return Verdict::kContinue;
}

// Before routing: the request's path becomes its normal form, which routes, limits, cache
// keys, retries and the upstream all see. Returns false when the request was answered here:
// a path refused by normalisation (400), a CONNECT (400: RFC 9112 3.2.3 allows it only in
// authority-form, which the parser refuses: the gateway does not tunnel CONNECT), or
// "OPTIONS *", which no route can match and the gateway answers itself.
bool RoutePhase::acceptTarget() {
  http::RequestHead& request = ex_.request;
  const auto status =
      normalizeRequestPath(ex_.listener->config->path_normalization, &request, &normalized_path_);
  const bool bad_path =
      status == http::PathStatus::kBadEncoding || status == http::PathStatus::kEscapedSlash;
  const bool connect = request.method == "CONNECT";
  if (!bad_path && !connect && request.path != "*") return true;
  ex_.consumeHead();
  if (bad_path || connect) {
    ex_.countReject(connect ? static_cast<int>(http::ParseError::kBadTarget) : 0,
                    connect ? RejectReason::kCount : RejectReason::kBadPath);
    ex_.reject(400, true);
    return false;
  }
  // OPTIONS * asks about the server as a whole (RFC 9110 9.3.7): the methods of the routes
  // serving this host, or 404 when none does.
  const std::string allow = ex_.listener->router.allowedMethods(request.host);
  if (allow.empty()) {
    ex_.countReject(0, RejectReason::kNoRoute);
    ex_.reject(404, request.body != http::BodyKind::kNone);
    return false;
  }
  ex_.extra_headers.append("Allow: ").append(allow).append("\r\n");
  ex_.reject(200, false);
  return false;
}

}  // namespace sg::proxy

#pragma once
// Bearer-token authentication of the admin API, checked once before any endpoint is dispatched
// (makeAdminHandler), so endpoints added later are covered without code of their own.
//
// With a token configured: every method other than GET/HEAD needs `Authorization: Bearer
// TOKEN`; GET/HEAD need it too unless public_read. The dashboard's page shell (GET/HEAD
// /dashboard and /dashboard/...) is always served: it holds no data and asks the user for the
// token. A request without a usable Bearer credential gets 401 with WWW-Authenticate, one with
// the wrong token 403. The token is compared in constant time and never logged.
#include <array>
#include <optional>
#include <string_view>

#include "admin/http_service.h"
#include "config/config.h"
#include "http/message.h"
#include "metrics/metrics.h"

namespace sg::admin {

enum class AuthVerdict { kAllowed, kMissing, kWrong };

// The credential of the request's single Authorization header when its scheme is Bearer (any
// case) followed by one or more spaces and a non-empty token; nullopt otherwise (no header,
// two headers, another scheme, no token).
std::optional<std::string_view> bearerCredential(const http::RequestHead& request);

// Whether this request must present the token: mutating methods always, reads unless
// public_read; the dashboard's page shell never.
bool needsToken(std::string_view method, std::string_view path, bool public_read);

class AdminAuth {
 public:
  // Registers scalegate_admin_auth_failures_total{reason="missing"|"wrong"} in `registry`.
  AdminAuth(const config::AdminConfig& config, metrics::Registry& registry);

  AuthVerdict verdict(const http::RequestHead& request) const;
  // The refusal to send (401 or 403, counted), or nullopt when the request may proceed.
  std::optional<ServiceResponse> check(const http::RequestHead& request) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  // False when OpenSSL cannot hash (never with its built-in SHA-256).
  static bool sha256(std::string_view text, Digest* out);
  bool matches(std::string_view credential) const;

  bool enabled_ = false;
  bool public_read_ = false;
  Digest token_digest_{};  // SHA-256 of the token: equal-length comparison whatever is sent
  metrics::Counter* missing_ = nullptr;
  metrics::Counter* wrong_ = nullptr;
};

}  // namespace sg::admin

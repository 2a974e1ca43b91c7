#include "admin/admin_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

#include "admin/admin_reply.h"

namespace sg::admin {

namespace {

constexpr std::string_view kDashboard = "/dashboard";

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// /dashboard, /dashboard/ and the page's assets below it. A path that could climb out of the
// folder once decoded or normalized ("..", "%2e", "//") is not the page, whatever it starts with.
bool isDashboardPage(std::string_view path) {
  if (path.substr(0, kDashboard.size()) != kDashboard) return false;
  std::string_view rest = path.substr(kDashboard.size());
  if (rest.empty()) return true;
  if (rest.front() != '/') return false;
  return rest.find("..") == std::string_view::npos && rest.find('%') == std::string_view::npos &&
         rest.find("//") == std::string_view::npos;
}

}  // namespace

std::optional<std::string_view> bearerCredential(const http::RequestHead& request) {
  const http::Header* found = nullptr;
  for (const http::Header& header : request.headers) {
    if (!equalsIgnoringCase(header.name, "authorization")) continue;
    if (found != nullptr) return std::nullopt;  // two credentials: neither is trusted
    found = &header;
  }
  if (found == nullptr) return std::nullopt;
  constexpr std::string_view kScheme = "bearer";
  std::string_view value = found->value;
  if (value.size() <= kScheme.size() ||
      !equalsIgnoringCase(value.substr(0, kScheme.size()), kScheme))
    return std::nullopt;
  std::string_view rest = value.substr(kScheme.size());
  if (rest.front() != ' ') return std::nullopt;  // "Bearerxyz" is another scheme
  size_t start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) return std::nullopt;
  return rest.substr(start);
}

bool needsToken(std::string_view method, std::string_view path, bool public_read) {
  bool read = method == "GET" || method == "HEAD";
  if (!read) return true;
  if (isDashboardPage(path)) return false;
  return !public_read;
}

AdminAuth::AdminAuth(const config::AdminConfig& config, metrics::Registry& registry)
    : enabled_(!config.token.empty()), public_read_(config.public_read) {
  // Refusing to start beats an admin API that can never be opened (or is open to all).
  if (enabled_ && !sha256(config.token, &token_digest_))
    throw std::runtime_error("admin.token: SHA-256 is unavailable in OpenSSL");
  const std::string help = "Admin API requests refused for a missing or wrong bearer token";
  missing_ =
      &registry.counter("scalegate_admin_auth_failures_total", help, {{"reason", "missing"}});
  wrong_ = &registry.counter("scalegate_admin_auth_failures_total", help, {{"reason", "wrong"}});
}

bool AdminAuth::sha256(std::string_view text, Digest* out) {
  unsigned int size = 0;
  return EVP_Digest(text.data(), text.size(), out->data(), &size, EVP_sha256(), nullptr) == 1 &&
         size == out->size();
}

// A credential that cannot be hashed is wrong: the request is refused, never let through.
bool AdminAuth::matches(std::string_view credential) const {
  Digest presented{};
  if (!sha256(credential, &presented)) return false;
  return CRYPTO_memcmp(presented.data(), token_digest_.data(), presented.size()) == 0;
}

AuthVerdict AdminAuth::verdict(const http::RequestHead& request) const {
  if (!enabled_ || !needsToken(request.method, request.path, public_read_))
    return AuthVerdict::kAllowed;
  std::optional<std::string_view> credential = bearerCredential(request);
  if (!credential) return AuthVerdict::kMissing;
  return matches(*credential) ? AuthVerdict::kAllowed : AuthVerdict::kWrong;
}

std::optional<ServiceResponse> AdminAuth::check(const http::RequestHead& request) const {
  switch (verdict(request)) {
    case AuthVerdict::kAllowed:
      return std::nullopt;
    case AuthVerdict::kMissing: {
      missing_->inc();
      ServiceResponse response =
          errorReply(401, "this endpoint needs the admin token: Authorization: Bearer TOKEN");
      response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"scalegate\"");
      return response;
    }
    case AuthVerdict::kWrong:
      wrong_->inc();
      return errorReply(403, "the admin token is wrong");
  }
  return std::nullopt;
}

}  // namespace sg::admin

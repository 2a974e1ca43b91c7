// Completing a stored partial response (RFC 9111 3.4; cache/partial.h). A GET for the whole
// resource finds a partial entry that holds its first bytes: the upstream is asked only for
// the rest (Range: bytes=N-, with If-Range when the entry has a strong validator). A 206
// with exactly those bytes and the same strong validator is combined with the stored part:
// the client gets a 200 (the stored bytes, then the upstream's, streamed) and the complete
// response is stored. A 200 is relayed and stored as usual; any other 206 is not used: the
// request goes again without the cache's Range.
#include <chrono>
#include <string>

#include "cache/partial.h"
#include "cache/rfc9111.h"
#include "cache/text.h"
#include "proxy/cache_phase.h"
#include "proxy/exchange.h"
#include "proxy/shared_state.h"

namespace sg::proxy {

namespace {

cache::Time wallNow() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

bool hasField(const std::vector<http::Header>& headers, std::string_view name) {
  for (const auto& header : headers) {
    if (cache::detail::equalsIgnoreCase(header.name, name)) return true;
  }
  return false;
}

}  // namespace

// Called for a GET without Range that the partial entry `partial_` cannot answer.
void CachePhase::planCompletion() {
  completing_ = false;
  completion_lines_.clear();
  const cache::CachedResponse& stored = *partial_;
  if (stored.partial_first != 0 || hasField(ex_.request.headers, "if-range")) return;
  const std::string validator = cache::ifRangeValidator(stored);
  const bool fresh =
      cache::decideServe(stored, state_.request_cc, wallNow()) == cache::ServeAction::kHit;
  if (validator.empty() && !fresh) return;  // nothing says the stored part is still current
  completing_ = true;
  completion_lines_ = "Range: bytes=" + std::to_string(cache::partialLast(stored) + 1) + "-\r\n";
  if (!validator.empty()) completion_lines_.append("If-Range: ").append(validator).append("\r\n");
}

std::string CachePhase::upstreamLines() const {
  if (state_.revalidating) return validatorLines(*state_.stale);
  return completing_ ? completion_lines_ : std::string();
}

// At the completion's response head: false when the request was sent again (a 206 that
// cannot be combined with the stored part, or a 416: the stored part is dropped).
bool CachePhase::acceptCompletion() {
  const int status = ex_.response.status;
  if (status != 206 && status != 416) return true;
  if (status == 206 && cache::continuesPartial(*partial_, ex_.response)) return true;
  ex_.route->cache->shared->cache.erase(state_.key);
  completing_ = false;
  const size_t added = completion_lines_.size();
  completion_lines_.clear();
  ex_.phases.upstream.resendWithout(added);
  return false;
}

// The completion's 206 becomes the client's 200 of the whole representation: the new
// fields, then the stored ones it lacks (RFC 9111 3.4), the complete length, and the stored
// bytes sent before the upstream's (afterResponseHead).
void CachePhase::combineWithPartial() {
  completing_ = false;
  if (ex_.response.status != 206) return;
  http::ResponseHead& response = ex_.response;
  std::erase_if(response.headers, [](const http::Header& header) {
    return cache::detail::equalsIgnoreCase(header.name, "content-range");
  });
  const size_t received = response.headers.size();
  for (const auto& stored : partial_->headers) {
    bool present = false;
    for (size_t i = 0; i < received && !present; ++i)
      present = cache::detail::equalsIgnoreCase(response.headers[i].name, stored.name);
    if (!present) response.headers.push_back({stored.name, stored.value});
  }
  response.status = 200;
  response.reason = "OK";
  response.declared_length = partial_->complete_length;
  ex_.status = 200;
  prefix_ = partial_->bodyBytes();
}

// The stored part goes to the client right after the head (the upstream's bytes follow),
// and starts the body being stored.
void CachePhase::afterResponseHead(std::string* head) {
  if (prefix_.empty()) return;
  head->append(prefix_);
  if (storing()) state_.store_body.insert(0, prefix_);
  prefix_ = {};
}

}  // namespace sg::proxy

#include "cache/ranges.h"

#include <charconv>
#include <chrono>
#include <limits>

#include "cache/http_date.h"
#include "cache/text.h"

namespace sg::cache {
namespace {

constexpr uint64_t kMaxPosition = std::numeric_limits<uint64_t>::max();

// 1*DIGIT, saturating (a position past any body is unsatisfiable or clipped anyway).
std::optional<uint64_t> parsePosition(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    value = value > (kMaxPosition - digit) / 10 ? kMaxPosition : value * 10 + digit;
  }
  return value;
}

std::optional<ByteRangeSpec> parseRangeSpec(std::string_view text) {
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view head = text.substr(0, dash);
  const std::string_view tail = text.substr(dash + 1);
  ByteRangeSpec spec;
  if (head.empty()) {  // suffix-range
    const auto length = parsePosition(tail);
    if (!length) return std::nullopt;
    spec.suffix = true;
    spec.first = *length;
    return spec;
  }
  const auto first = parsePosition(head);
  if (!first) return std::nullopt;
  spec.first = *first;
  if (tail.empty()) return spec;
  const auto last = parsePosition(tail);
  if (!last || *last < *first) return std::nullopt;  // invalid: the field is ignored
  spec.last = *last;
  return spec;
}

bool isWeakTag(std::string_view etag) { return etag.substr(0, 2) == "W/"; }

std::chrono::sys_seconds responseSeconds(const CachedResponse& stored) {
  return std::chrono::floor<std::chrono::seconds>(stored.response_time);
}

bool dateMatchesStrongLastModified(std::string_view value, const CachedResponse& stored) {
  if (stored.last_modified.empty()) return false;
  const auto now = responseSeconds(stored);
  const auto date = parseHttpDate(value, now);
  const auto modified = parseHttpDate(stored.last_modified, now);
  if (!date || !modified || *date != *modified) return false;
  std::optional<std::chrono::sys_seconds> sent;
  if (const auto header = stored.header("date")) sent = parseHttpDate(*header, now);
  return sent.value_or(now) - *modified >= std::chrono::seconds{1};
}

void appendNumber(std::string* out, uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, result.ptr);
}

}  // namespace

std::optional<ByteRangeSpec> parseSingleByteRange(std::string_view value) {
  value = detail::trimOws(value);
  const size_t equals = value.find('=');
  if (equals == std::string_view::npos ||
      !detail::equalsIgnoreCase(value.substr(0, equals), "bytes"))
    return std::nullopt;
  std::string_view rest = value.substr(equals + 1);
  std::optional<ByteRangeSpec> found;
  size_t specs = 0;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view element = detail::trimOws(rest.substr(0, comma));
    if (!element.empty()) {  // empty list elements are ignored (RFC 9110 5.6.1)
      auto spec = parseRangeSpec(element);
      if (!spec) return std::nullopt;
      found = spec;
      ++specs;
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (specs != 1) return std::nullopt;
  return found;
}

ByteSlice resolveByteRange(const ByteRangeSpec& spec, uint64_t length) {
  if (length == 0) return {};
  if (spec.suffix) {
    if (spec.first == 0) return {};
    const uint64_t count = spec.first < length ? spec.first : length;
    return {true, length - count, length - 1};
  }
  if (spec.first >= length) return {};
  const uint64_t last = spec.last && *spec.last < length ? *spec.last : length - 1;
  return {true, spec.first, last};
}

bool ifRangeMatches(std::string_view if_range, const CachedResponse& stored) {
  const std::string_view value = detail::trimOws(if_range);
  if (value.starts_with('"') || isWeakTag(value)) {  // an entity-tag: strong comparison
    return !isWeakTag(value) && !stored.etag.empty() && !isWeakTag(stored.etag) &&
           value == stored.etag;
  }
  return dateMatchesStrongLastModified(value, stored);
}

RangePlan planRange(const ByteRangeSpec& spec, std::optional<std::string_view> if_range,
                    const CachedResponse& stored) {
  if (stored.partial()) return planPartialRange(spec, if_range, stored);
  RangePlan plan;
  const uint64_t length = stored.bodyBytes().size();
  if (stored.status != 200 || length == 0) return plan;
  if (if_range && !ifRangeMatches(*if_range, stored)) return plan;
  plan.length = length;
  plan.slice = resolveByteRange(spec, length);
  plan.answer = plan.slice.satisfiable ? RangeAnswer::kPartial : RangeAnswer::kUnsatisfiable;
  return plan;
}

RangePlan planPartialRange(const ByteRangeSpec& spec, std::optional<std::string_view> if_range,
                           const CachedResponse& stored) {
  RangePlan plan;
  if (if_range && !ifRangeMatches(*if_range, stored)) return plan;
  plan.length = stored.complete_length;
  plan.slice = resolveByteRange(spec, plan.length);
  if (!plan.slice.satisfiable) {
    plan.answer = RangeAnswer::kUnsatisfiable;
    return plan;
  }
  const uint64_t held = stored.bodyBytes().size();
  if (held == 0 || plan.slice.first < stored.partial_first ||
      plan.slice.last - stored.partial_first >= held) {
    return RangePlan{};  // needs bytes the entry does not hold
  }
  plan.answer = RangeAnswer::kPartial;
  return plan;
}

void appendContentRangeLine(std::string* out, const RangePlan& plan) {
  if (plan.answer == RangeAnswer::kWhole) return;
  out->append("Content-Range: bytes ");
  if (plan.answer == RangeAnswer::kPartial) {
    appendNumber(out, plan.slice.first);
    out->push_back('-');
    appendNumber(out, plan.slice.last);
  } else {
    out->push_back('*');
  }
  out->push_back('/');
  appendNumber(out, plan.length);
  out->append("\r\n");
}

}  // namespace sg::cache

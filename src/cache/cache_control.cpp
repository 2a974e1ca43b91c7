#include "cache/cache_control.h"

#include <algorithm>
#include <string_view>

#include "cache/text.h"

namespace sg::cache {
namespace {

using detail::equalsIgnoreCase;
using std::chrono::seconds;

struct Directive {
  std::string_view name;
  std::string_view argument;  // quotes removed; escapes left in (only digits matter here)
  bool has_argument = false;
};

Directive splitDirective(std::string_view element) {
  Directive directive;
  const size_t equals = element.find('=');
  directive.name = detail::trimOws(element.substr(0, equals));
  if (equals == std::string_view::npos) return directive;
  directive.has_argument = true;
  std::string_view argument = detail::trimOws(element.substr(equals + 1));
  if (argument.size() >= 2 && argument.front() == '"' && argument.back() == '"') {
    argument = argument.substr(1, argument.size() - 2);
  }
  directive.argument = argument;
  return directive;
}

template <class Fn>
void forEachDirective(const std::vector<http::Header>& headers, Fn&& fn) {
  detail::forEachHeader(headers, "cache-control", [&](std::string_view value) {
    detail::forEachListElement(value,
                               [&](std::string_view element) { fn(splitDirective(element)); });
  });
}

std::optional<seconds> deltaOf(const Directive& directive) {
  if (!directive.has_argument) return std::nullopt;
  const auto value = detail::parseDeltaSeconds(directive.argument);
  if (!value) return std::nullopt;
  return seconds{*value};
}

// max-age / s-maxage: malformed or conflicting → 0 (stale), RFC 9111 4.2.1.
void setFreshness(std::optional<seconds>& slot, const Directive& directive) {
  const std::optional<seconds> value = deltaOf(directive);
  if (!value || (slot && *slot != *value)) {
    slot = seconds{0};
    return;
  }
  slot = value;
}

enum class Keep { kSmaller, kLarger };

void setDelta(std::optional<seconds>& slot, const Directive& directive, Keep keep,
              bool malformed_is_zero) {
  std::optional<seconds> value = deltaOf(directive);
  if (!value) {
    if (!malformed_is_zero) return;
    value = seconds{0};
  }
  if (!slot) {
    slot = value;
  } else if (keep == Keep::kLarger) {
    slot = std::max(*slot, *value);
  } else {
    slot = std::min(*slot, *value);
  }
}

}  // namespace

ResponseCacheControl parseResponseCacheControl(const std::vector<http::Header>& headers) {
  ResponseCacheControl cc;
  forEachDirective(headers, [&](const Directive& d) {
    if (equalsIgnoreCase(d.name, "no-store")) {
      cc.no_store = true;
    } else if (equalsIgnoreCase(d.name, "no-cache")) {
      cc.no_cache = true;
    } else if (equalsIgnoreCase(d.name, "private")) {
      cc.is_private = true;
    } else if (equalsIgnoreCase(d.name, "public")) {
      cc.is_public = true;
    } else if (equalsIgnoreCase(d.name, "must-revalidate")) {
      cc.must_revalidate = true;
    } else if (equalsIgnoreCase(d.name, "proxy-revalidate")) {
      cc.proxy_revalidate = true;
    } else if (equalsIgnoreCase(d.name, "must-understand")) {
      cc.must_understand = true;
    } else if (equalsIgnoreCase(d.name, "max-age")) {
      setFreshness(cc.max_age, d);
    } else if (equalsIgnoreCase(d.name, "s-maxage")) {
      setFreshness(cc.s_maxage, d);
    } else if (equalsIgnoreCase(d.name, "stale-while-revalidate")) {
      setDelta(cc.stale_while_revalidate, d, Keep::kSmaller, true);
    } else if (equalsIgnoreCase(d.name, "stale-if-error")) {
      setDelta(cc.stale_if_error, d, Keep::kSmaller, true);
    }
  });
  return cc;
}

RequestCacheControl parseRequestCacheControl(const std::vector<http::Header>& headers) {
  RequestCacheControl cc;
  bool has_cache_control = false;
  forEachDirective(headers, [&](const Directive& d) {
    has_cache_control = true;
    if (equalsIgnoreCase(d.name, "no-store")) {
      cc.no_store = true;
    } else if (equalsIgnoreCase(d.name, "no-cache")) {
      cc.no_cache = true;
    } else if (equalsIgnoreCase(d.name, "only-if-cached")) {
      cc.only_if_cached = true;
    } else if (equalsIgnoreCase(d.name, "max-age")) {
      setDelta(cc.max_age, d, Keep::kSmaller, false);
    } else if (equalsIgnoreCase(d.name, "min-fresh")) {
      setDelta(cc.min_fresh, d, Keep::kLarger, false);
    } else if (equalsIgnoreCase(d.name, "max-stale")) {
      if (!d.has_argument) {
        cc.max_stale_any = true;
      } else {
        setDelta(cc.max_stale, d, Keep::kSmaller, false);
      }
    }
  });
  // RFC 7234 5.4 (Pragma is deprecated by RFC 9111 but HTTP/1.0 clients still send it):
  // only when the request has no Cache-Control at all.
  if (!has_cache_control) {
    detail::forEachHeader(headers, "pragma", [&](std::string_view value) {
      detail::forEachListElement(value, [&](std::string_view element) {
        if (equalsIgnoreCase(element, "no-cache")) cc.no_cache = true;
      });
    });
  }
  return cc;
}

}  // namespace sg::cache

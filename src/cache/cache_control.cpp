#include "cache/cache_control.h"

#include <algorithm>
#include <cstdint>
#include <string>
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

// RFC 8941 Dictionary, just enough to validate a targeted field and read its members.
// Parameters and inner lists are checked for syntax and otherwise ignored.
struct SfMember {
  std::string_view key;
  enum class Kind { kBoolean, kInteger, kOther } kind = Kind::kBoolean;
  bool boolean = true;  // a bare key is Boolean true
  int64_t integer = 0;
};

class SfReader {
 public:
  explicit SfReader(std::string_view text) : text_(text) {}

  // dictionary = dict-member *( OWS "," OWS dict-member )
  bool dictionary(std::vector<SfMember>& out) {
    skipSp();
    while (!atEnd()) {
      SfMember member;
      if (!key(member.key)) return false;
      if (consume('=')) {
        if (peek() == '(') {
          if (!innerList()) return false;
          member.kind = SfMember::Kind::kOther;
        } else if (!bareItem(member)) {
          return false;
        }
      }
      if (!parameters()) return false;
      out.push_back(member);
      skipOws();
      if (atEnd()) return true;
      if (!consume(',')) return false;
      skipOws();
      if (atEnd()) return false;  // trailing comma
    }
    return true;
  }

 private:
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void skipSp() {
    while (peek() == ' ') ++pos_;
  }
  void skipOws() {
    while (peek() == ' ' || peek() == '\t') ++pos_;
  }
  static bool isDigit(char c) { return c >= '0' && c <= '9'; }
  static bool isLcAlpha(char c) { return c >= 'a' && c <= 'z'; }
  static bool isAlpha(char c) { return isLcAlpha(c) || (c >= 'A' && c <= 'Z'); }
  static bool isTchar(char c) {
    return isAlpha(c) || isDigit(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  }

  // key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
  bool key(std::string_view& out) {
    const size_t start = pos_;
    if (!isLcAlpha(peek()) && peek() != '*') return false;
    while (isLcAlpha(peek()) || isDigit(peek()) ||
           std::string_view("_-.*").find(peek()) != std::string_view::npos) {
      if (atEnd()) break;
      ++pos_;
    }
    out = text_.substr(start, pos_ - start);
    return true;
  }

  bool parameters() {
    while (consume(';')) {
      skipSp();
      std::string_view ignored;
      if (!key(ignored)) return false;
      SfMember value;
      if (consume('=') && !bareItem(value)) return false;
    }
    return true;
  }

  bool innerList() {
    consume('(');
    while (!atEnd()) {
      skipSp();
      if (consume(')')) return true;
      SfMember item;
      if (!bareItem(item) || !parameters()) return false;
      if (peek() != ' ' && peek() != ')') return false;
    }
    return false;
  }

  bool bareItem(SfMember& out) {
    const char c = peek();
    if (c == '-' || isDigit(c)) return number(out);
    out.kind = SfMember::Kind::kOther;
    if (c == '"') return string();
    if (c == ':') return bytes();
    if (c == '?') return boolean(out);
    if (isAlpha(c) || c == '*') {
      while (!atEnd() && (isTchar(peek()) || peek() == ':' || peek() == '/')) ++pos_;
      return true;
    }
    return false;
  }

  // Integer: -?1*15DIGIT; Decimal: -?1*12DIGIT "." 1*3DIGIT.
  bool number(SfMember& out) {
    const bool negative = consume('-');
    int64_t value = 0;
    size_t digits = 0;
    while (isDigit(peek())) {
      value = value * 10 + (peek() - '0');
      ++digits;
      ++pos_;
    }
    if (digits == 0 || digits > 15) return false;
    if (consume('.')) {
      size_t fraction = 0;
      while (isDigit(peek())) {
        ++fraction;
        ++pos_;
      }
      out.kind = SfMember::Kind::kOther;
      return digits <= 12 && fraction >= 1 && fraction <= 3;
    }
    out.kind = SfMember::Kind::kInteger;
    out.integer = negative ? -value : value;
    return true;
  }

  bool string() {
    consume('"');
    while (!atEnd()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (peek() != '"' && peek() != '\\') return false;
        ++pos_;
      } else if (c < 0x20 || c > 0x7e) {
        return false;
      }
    }
    return false;
  }

  bool bytes() {
    consume(':');
    while (!atEnd()) {
      const char c = text_[pos_++];
      if (c == ':') return true;
      if (!isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=') return false;
    }
    return false;
  }

  bool boolean(SfMember& out) {
    consume('?');
    if (consume('1')) {
      out.kind = SfMember::Kind::kBoolean;
      out.boolean = true;
      return true;
    }
    if (consume('0')) {
      out.kind = SfMember::Kind::kBoolean;
      out.boolean = false;
      return true;
    }
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// A delta directive must be a non-negative Integer (RFC 9213 2.1: values violating the
// inferred constraints are not consumed; the field is then ignored as a whole).
bool setTargetedDelta(std::optional<seconds>& slot, const SfMember& member) {
  if (member.kind != SfMember::Kind::kInteger || member.integer < 0) return false;
  slot = seconds{std::min(member.integer, detail::kMaxDeltaSeconds)};
  return true;
}

bool applyTargetedMember(ResponseCacheControl& cc, const SfMember& m) {
  // Flags: anything but Boolean false sets them (no-cache="x" reads as no-cache).
  const bool on = !(m.kind == SfMember::Kind::kBoolean && !m.boolean);
  if (m.key == "no-store") {
    cc.no_store = on;
  } else if (m.key == "no-cache") {
    cc.no_cache = on;
  } else if (m.key == "private") {
    cc.is_private = on;
  } else if (m.key == "public") {
    cc.is_public = on;
  } else if (m.key == "must-revalidate") {
    cc.must_revalidate = on;
  } else if (m.key == "proxy-revalidate") {
    cc.proxy_revalidate = on;
  } else if (m.key == "must-understand") {
    cc.must_understand = on;
  } else if (m.key == "max-age") {
    return setTargetedDelta(cc.max_age, m);
  } else if (m.key == "s-maxage") {
    return setTargetedDelta(cc.s_maxage, m);
  } else if (m.key == "stale-while-revalidate") {
    return setTargetedDelta(cc.stale_while_revalidate, m);
  } else if (m.key == "stale-if-error") {
    return setTargetedDelta(cc.stale_if_error, m);
  }
  return true;
}

std::optional<ResponseCacheControl> parseTargetedField(const std::vector<http::Header>& headers,
                                                       std::string_view name) {
  std::string joined;
  bool present = false;
  detail::forEachHeader(headers, name, [&](std::string_view value) {
    if (present) joined += ", ";
    present = true;
    joined += value;
  });
  const std::string_view value = detail::trimOws(joined);
  if (value.empty()) return std::nullopt;  // absent or empty: ignored (RFC 9213 2.2)
  std::vector<SfMember> members;
  if (!SfReader(value).dictionary(members)) return std::nullopt;
  ResponseCacheControl cc;
  cc.targeted = true;
  for (const SfMember& member : members) {
    if (!applyTargetedMember(cc, member)) return std::nullopt;
  }
  return cc;
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

std::optional<ResponseCacheControl> parseTargetedCacheControl(
    const std::vector<http::Header>& headers, const std::vector<std::string>& field_names) {
  for (const std::string& name : field_names) {
    if (auto cc = parseTargetedField(headers, name)) return cc;
  }
  return std::nullopt;
}

}  // namespace sg::cache

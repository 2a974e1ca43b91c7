#include "compress/response_head.h"

#include "compress/field_list.h"

namespace sg::compress {

using detail::equalsIgnoreCase;

bool alreadyEncoded(std::string_view content_encoding_value) {
  bool encoded = false;
  detail::forEachMember(content_encoding_value, ',', [&](std::string_view coding) {
    if (!equalsIgnoreCase(coding, "identity")) encoded = true;
  });
  return encoded;
}

bool hasNoTransform(std::string_view cache_control_value) {
  bool found = false;
  detail::forEachMember(cache_control_value, ',', [&](std::string_view directive) {
    const std::string_view name = detail::trimOws(directive.substr(0, directive.find('=')));
    if (equalsIgnoreCase(name, "no-transform")) found = true;
  });
  return found;
}

bool appendWeakEtag(std::string_view etag_value, std::string* out) {
  const std::string_view etag = detail::trimOws(etag_value);
  const bool weak = etag.size() >= 2 && etag[0] == 'W' && etag[1] == '/';
  const std::string_view opaque = weak ? etag.substr(2) : etag;
  // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc excludes DQUOTE.
  if (opaque.size() < 2 || opaque.front() != '"' || opaque.back() != '"') return false;
  if (opaque.substr(1, opaque.size() - 2).find('"') != std::string_view::npos) return false;
  if (!weak) out->append("W/");
  out->append(etag);
  return true;
}

void appendVaryAcceptEncoding(std::span<const std::string_view> vary_values, std::string* out) {
  bool star = false;
  bool listed = false;
  for (std::string_view value : vary_values) {
    detail::forEachMember(value, ',', [&](std::string_view name) {
      star = star || name == "*";
      listed = listed || equalsIgnoreCase(name, "accept-encoding");
    });
  }
  if (star) {
    out->append("*");
    return;
  }
  bool first = true;
  for (std::string_view value : vary_values) {
    detail::forEachMember(value, ',', [&](std::string_view name) {
      if (!first) out->append(", ");
      out->append(name);
      first = false;
    });
  }
  if (!listed) out->append(first ? "Accept-Encoding" : ", Accept-Encoding");
}

}  // namespace sg::compress

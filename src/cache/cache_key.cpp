#include "cache/cache_key.h"

#include <algorithm>
#include <utility>

#include "cache/text.h"
#include "cache/vary_normalise.h"

namespace sg::cache {
namespace {

using Query = config::RouteCacheConfig::Key::Query;

std::string_view parameterName(std::string_view parameter) {
  return parameter.substr(0, parameter.find('='));
}

// kNames: keep the listed parameters, stably sorted by name (values keep their order).
void appendNamedQuery(std::string& out, std::string_view query,
                      const std::vector<std::string>& names) {
  std::vector<std::string_view> kept;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view parameter = query.substr(0, amp);
    const std::string_view name = parameterName(parameter);
    if (!name.empty() && std::find(names.begin(), names.end(), name) != names.end()) {
      kept.push_back(parameter);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  std::stable_sort(kept.begin(), kept.end(), [](std::string_view a, std::string_view b) {
    return parameterName(a) < parameterName(b);
  });
  for (size_t i = 0; i < kept.size(); ++i) {
    out += i == 0 ? '?' : '&';
    out += kept[i];
  }
}

}  // namespace

std::string_view keyHostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  return host.substr(0, host.rfind(':'));
}

void appendKeyHost(std::string& out, std::string_view host) {
  for (char c : keyHostWithoutPort(host)) out += detail::toLowerAscii(c);
}

std::string normalizeKeyHost(std::string_view key, bool is_prefix) {
  const size_t host_end = std::min(key.find('/'), key.find('?'));
  std::string out;
  out.reserve(key.size());
  if (host_end == std::string_view::npos && is_prefix) {
    // The prefix stops inside the host. With a port it named the whole host: "t:1" → "t/".
    appendKeyHost(out, key);
    if (keyHostWithoutPort(key).size() != key.size()) out += '/';
    return out;
  }
  appendKeyHost(out, key.substr(0, host_end));
  if (host_end != std::string_view::npos) out += key.substr(host_end);
  return out;
}

std::string buildPrimaryKey(std::string_view host, std::string_view path, std::string_view query,
                            const config::RouteCacheConfig::Key& key) {
  std::string out;
  out.reserve(host.size() + path.size() + query.size() + 1);
  appendKeyHost(out, host);
  out += path;
  if (key.query == Query::kAll && !query.empty()) {
    out += '?';
    out += query;
  } else if (key.query == Query::kNames) {
    appendNamedQuery(out, query, key.query_names);
  }
  return out;
}

std::string buildPrimaryKey(const http::RequestHead& request,
                            const config::RouteCacheConfig::Key& key) {
  return buildPrimaryKey(request.host, request.path, request.query, key);
}

std::optional<std::vector<std::string>> variantNames(const http::ResponseHead& response,
                                                     const config::RouteCacheConfig::Key& key) {
  std::vector<std::string> names;
  bool any = false;
  detail::forEachHeader(response.headers, "vary", [&](std::string_view value) {
    detail::forEachListElement(value, [&](std::string_view element) {
      if (element == "*") any = true;
      names.push_back(detail::toLower(element));
    });
  });
  if (any) return std::nullopt;
  for (const std::string& name : key.headers) names.push_back(detail::toLower(name));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::optional<std::string> normalizedFieldValue(const std::vector<http::Header>& headers,
                                                std::string_view name) {
  std::optional<std::string> out;
  detail::forEachHeader(headers, name, [&](std::string_view value) {
    if (!out) out.emplace();
    detail::forEachListElement(value, [&](std::string_view element) {
      if (!out->empty()) *out += ',';
      *out += element;
    });
  });
  if (out && hasSemanticNormalisation(name)) *out = normaliseVaryValue(name, std::move(*out));
  return out;
}

std::vector<VaryField> variantFields(const std::vector<http::Header>& request_headers,
                                     const std::vector<std::string>& names) {
  std::vector<VaryField> fields;
  fields.reserve(names.size());
  for (const std::string& name : names) {
    fields.push_back(VaryField{name, normalizedFieldValue(request_headers, name)});
  }
  return fields;
}

namespace {

// Compares the request's normalised value of field.name with the stored one without
// building it: elements are matched one by one against the stored string.
bool fieldMatches(const VaryField& field, const std::vector<http::Header>& request_headers) {
  if (hasSemanticNormalisation(field.name)) {
    return normalizedFieldValue(request_headers, field.name) == field.value;
  }
  bool present = false;
  bool equal = field.value.has_value();
  size_t position = 0;
  detail::forEachHeader(request_headers, field.name, [&](std::string_view value) {
    present = true;
    detail::forEachListElement(value, [&](std::string_view element) {
      if (!equal) return;
      const std::string& stored = *field.value;
      if (position != 0) {
        if (position >= stored.size() || stored[position] != ',') {
          equal = false;
          return;
        }
        ++position;
      }
      if (stored.compare(position, element.size(), element) != 0) {
        equal = false;
        return;
      }
      position += element.size();
    });
  });
  if (!present) return !field.value.has_value();
  return equal && position == field.value->size();
}

}  // namespace

bool variantMatches(const std::vector<VaryField>& fields,
                    const std::vector<http::Header>& request_headers) {
  for (const VaryField& field : fields) {
    if (!fieldMatches(field, request_headers)) return false;
  }
  return true;
}

VariantMatch matchVariant(const CachedResponse& entry,
                          const std::vector<http::Header>& request_headers) {
  VariantMatch result = VariantMatch::kExact;
  for (const VaryField& field : entry.vary) {
    if (fieldMatches(field, request_headers)) continue;
    if (field.name != "accept-language") return VariantMatch::kNone;
    // Another Accept-Language may still pick the language the stored response is in.
    const auto language = entry.header("content-language");
    const auto accept = normalizedFieldValue(request_headers, field.name);
    if (!language || !accept || !acceptLanguageSelects(*accept, *language)) {
      return VariantMatch::kNone;
    }
    result = VariantMatch::kSelected;
  }
  return result;
}

}  // namespace sg::cache

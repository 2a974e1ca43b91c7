// Caching keys: a route's `cache` and the top-level `cache` (memory, policy, lock_timeout).
#include <algorithm>
#include <cctype>
#include <exception>
#include <limits>
#include <string>

#include "config/load.h"

namespace sg::config::detail {

namespace {

constexpr uint64_t kMinCacheMemory = 64 * 1024;
constexpr size_t kMaxKeyHeaders = 16;
constexpr uint64_t kMaxL2ObjectSize = 512ull * 1024 * 1024;  // Redis caps a string at 512 MB

// A list of header names (lower-cased, distinct, at most `max`). A present list replaces
// `out`'s defaults; an empty one leaves it empty.
void readHeaderNames(ErrorSink& errors, const Field* field, size_t max,
                     std::vector<std::string>* out) {
  if (field == nullptr) return;
  out->clear();
  for (const Field& item : sequenceItems(errors, *field)) {
    std::string name;
    if (!readString(errors, &item, &name)) continue;
    name = lowerCase(name);
    if (!isToken(name)) {
      errors.add(item.mark(), item.path, "invalid header name " + quoted(name));
    } else if (std::find(out->begin(), out->end(), name) != out->end()) {
      errors.add(item.mark(), item.path, "duplicate header " + quoted(name));
    } else if (out->size() == max) {
      errors.add(item.mark(), item.path, "at most " + std::to_string(max) + " header names");
    } else {
      out->push_back(std::move(name));
    }
  }
}

// `query: all`, `query: none`, or a list of parameter names (kept sorted, so the key does
// not depend on the order they are listed in).
void readKeyQuery(ErrorSink& errors, const Field* field, RouteCacheConfig::Key* out) {
  if (field == nullptr) return;
  using Query = RouteCacheConfig::Key::Query;
  if (field->value.IsScalar()) {
    const std::string& text = field->value.Scalar();
    if (text == "all") {
      out->query = Query::kAll;
    } else if (text == "none") {
      out->query = Query::kNone;
    } else {
      errors.add(field->mark(), field->path,
                 "expected all, none or a list of parameter names, got " + quoted(text));
    }
    return;
  }
  out->query = Query::kNames;
  for (const Field& item : sequenceItems(errors, *field)) {
    std::string name;
    if (!readString(errors, &item, &name)) continue;
    if (name.empty() || name.find_first_of("&=#") != std::string::npos) {
      errors.add(item.mark(), item.path, "invalid query parameter name " + quoted(name));
    } else if (std::find(out->query_names.begin(), out->query_names.end(), name) !=
               out->query_names.end()) {
      errors.add(item.mark(), item.path, "duplicate query parameter " + quoted(name));
    } else {
      out->query_names.push_back(std::move(name));
    }
  }
  std::sort(out->query_names.begin(), out->query_names.end());
}

void loadCacheKey(ErrorSink& errors, const Field& field, RouteCacheConfig::Key* out) {
  MapReader map(errors, field, {"headers", "query"});
  if (!map.valid()) return;
  readHeaderNames(errors, map.find("headers"), kMaxKeyHeaders, &out->headers);
  readKeyQuery(errors, map.find("query"), out);
}

void readOptionalDuration(ErrorSink& errors, const Field* field, std::optional<Duration>* out) {
  Duration value{0};
  if (readDuration(errors, field, &value, false)) *out = value;
}

// `heuristic: 10%` (0% to 100%, decimals allowed) or `0` to disable.
void readHeuristic(ErrorSink& errors, const Field* field, double* out) {
  std::string text;
  if (field == nullptr || !readString(errors, field, &text)) return;
  if (text == "0") {
    *out = 0;
    return;
  }
  double percent = -1;
  size_t used = 0;
  if (text.size() > 1 && text.back() == '%' && std::isdigit(static_cast<unsigned char>(text[0]))) {
    try {
      percent = std::stod(text.substr(0, text.size() - 1), &used);
    } catch (const std::exception&) {
      percent = -1;
    }
  }
  if (percent < 0 || percent > 100 || used != text.size() - 1) {
    errors.add(field->mark(), field->path,
               "expected a percentage from 0% to 100% (e.g. 10%) or 0, got " + quoted(text));
    return;
  }
  *out = percent / 100;
}

// `set_cookie: bypass | strip | store` (RouteCacheConfig::SetCookie).
void readSetCookie(ErrorSink& errors, const Field* field, RouteCacheConfig::SetCookie* out) {
  std::string text;
  if (field == nullptr || !readString(errors, field, &text)) return;
  using SetCookie = RouteCacheConfig::SetCookie;
  if (text == "bypass") {
    *out = SetCookie::kBypass;
  } else if (text == "strip") {
    *out = SetCookie::kStrip;
  } else if (text == "store") {
    *out = SetCookie::kStore;
  } else {
    errors.add(field->mark(), field->path,
               "unknown set_cookie " + quoted(text) + " (one of: bypass, strip, store)");
  }
}

// `warm: {urls: [...] | file: PATH, concurrency: 8}`: exactly one of urls and file.
void loadWarm(ErrorSink& errors, const Field& field, RouteCacheConfig::Warm* out) {
  MapReader map(errors, field, {"urls", "file", "concurrency"});
  if (!map.valid()) return;
  const Field* urls = map.find("urls");
  const Field* file = map.find("file");
  if ((urls == nullptr) == (file == nullptr)) {
    errors.add(field.mark(), field.path, "give exactly one of urls (a list) or file (a path)");
  }
  if (urls != nullptr) {
    for (const Field& item : sequenceItems(errors, *urls)) {
      std::string url;
      if (!readString(errors, &item, &url)) continue;
      if (url.empty() || (url[0] != '/' && url.rfind("http://", 0) != 0)) {
        errors.add(item.mark(), item.path,
                   "expected /path or http://host/path, got " + quoted(url));
        continue;
      }
      out->urls.push_back(std::move(url));
    }
  }
  if (file != nullptr && readString(errors, file, &out->file) && out->file.empty())
    errors.add(file->mark(), file->path, "the file path is empty");
  readUint32(errors, map.find("concurrency"), 1, 1024, &out->concurrency);
}

}  // namespace

void loadRouteCache(ErrorSink& errors, const Field& field, RouteCacheConfig* out) {
  MapReader map(errors, field,
                {"enabled", "default_ttl", "force_ttl", "stale_while_revalidate", "stale_if_error",
                 "key", "max_object_size", "targeted_cache_control", "heuristic", "set_cookie",
                 "l2", "l2_max_object_size", "warm"});
  if (!map.valid()) return;
  readBool(errors, map.find("enabled"), &out->enabled);
  readOptionalDuration(errors, map.find("default_ttl"), &out->default_ttl);
  readOptionalDuration(errors, map.find("force_ttl"), &out->force_ttl);
  readDuration(errors, map.find("stale_while_revalidate"), &out->stale_while_revalidate);
  readDuration(errors, map.find("stale_if_error"), &out->stale_if_error);
  if (const Field* key = map.find("key")) loadCacheKey(errors, *key, &out->key);
  readSize(errors, map.find("max_object_size"), 1, std::numeric_limits<uint64_t>::max(),
           &out->max_object_size);
  // `targeted_cache_control`: checked in order; an empty list disables targeted fields.
  readHeaderNames(errors, map.find("targeted_cache_control"), kMaxKeyHeaders,
                  &out->targeted_cache_control);
  readHeuristic(errors, map.find("heuristic"), &out->heuristic);
  readSetCookie(errors, map.find("set_cookie"), &out->set_cookie);
  readBool(errors, map.find("l2"), &out->l2);
  readSize(errors, map.find("l2_max_object_size"), 1, kMaxL2ObjectSize, &out->l2_max_object_size);
  if (const Field* warm = map.find("warm"))
    loadWarm(errors, *warm, &out->warm.emplace(RouteCacheConfig::Warm{}));
}

void loadCache(ErrorSink& errors, const Field& field, CacheConfig* out) {
  MapReader map(errors, field, {"memory", "policy", "lock_timeout"});
  if (!map.valid()) return;
  readSize(errors, map.find("memory"), kMinCacheMemory, std::numeric_limits<uint64_t>::max(),
           &out->memory);
  std::string policy;
  if (const Field* field_policy = map.find("policy"); readString(errors, field_policy, &policy)) {
    if (policy == "tinylfu") {
      out->policy = CacheConfig::Policy::kTinyLfu;
    } else if (policy == "lru") {
      out->policy = CacheConfig::Policy::kLru;
    } else {
      errors.add(field_policy->mark(), field_policy->path,
                 "unknown policy " + quoted(policy) + " (one of: tinylfu, lru)");
    }
  }
  readDuration(errors, map.find("lock_timeout"), &out->lock_timeout);
}

}  // namespace sg::config::detail

// Protection keys: `rate_limit` (listener or route), `compression` (listener or route),
// and a listener's `trusted_proxies`, `response_headers` and `hsts`.
#include <algorithm>
#include <array>
#include <limits>

#include "config/load.h"
#include "config/units.h"

namespace sg::config {
namespace detail {

namespace {

constexpr uint64_t kMaxRateCount = 1'000'000'000;
constexpr Duration kMaxRatePeriod = std::chrono::hours(24 * 30);
constexpr uint64_t kMaxBurst = 1'000'000'000;
constexpr uint64_t kMaxKeys = 100'000'000;
constexpr uint32_t kMaxLease = 100000;  // a lease larger than this is a local limit in disguise
constexpr uint32_t kMaxFallbackInstances = 10000;
constexpr size_t kMaxPolicyName = 64;
constexpr int kMaxGzipLevel = 9;
constexpr int kMaxBrotliQuality = 11;
constexpr size_t kMaxHeaderValue = 4096;

// "100/s", "6000/m", "20/10s", "1000/d": a count, a slash, and a duration whose number may
// be left out (meaning 1).
bool parseRate(const std::string& text, Rate* out, std::string* problem) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) {
    *problem = "expected COUNT/PERIOD, e.g. 100/s or 20/10s";
    return false;
  }
  auto count = parseUnsigned(std::string_view(text).substr(0, slash));
  if (!count || *count == 0 || *count > kMaxRateCount) {
    *problem = "the count must be a number from 1 to " + std::to_string(kMaxRateCount);
    return false;
  }
  std::string period_text = text.substr(slash + 1);
  if (!period_text.empty() && (period_text.front() < '0' || period_text.front() > '9')) {
    period_text.insert(0, "1");
  }
  auto period = parseDuration(period_text);
  if (!period || period->count() <= 0 || *period > kMaxRatePeriod) {
    *problem = "the period must be a duration from 1ms to 30d (ms, s, m, h, d)";
    return false;
  }
  out->count = *count;
  out->period = *period;
  return true;
}

}  // namespace

bool readRate(ErrorSink& errors, const Field* field, Rate* out) {
  std::string text;
  if (!readString(errors, field, &text)) return false;
  std::string problem;
  if (!parseRate(text, out, &problem)) {
    errors.add(field->mark(), field->path, "invalid rate " + quoted(text) + " (" + problem + ")");
    return false;
  }
  return true;
}

namespace {

void readAlgorithm(ErrorSink& errors, const Field* field, RateLimitConfig::Algorithm* out) {
  std::string text;
  if (!readString(errors, field, &text)) return;
  using Algorithm = RateLimitConfig::Algorithm;
  if (text == "token_bucket") {
    *out = Algorithm::kTokenBucket;
  } else if (text == "gcra") {
    *out = Algorithm::kGcra;
  } else if (text == "sliding_window") {
    *out = Algorithm::kSlidingWindow;
  } else {
    errors.add(
        field->mark(), field->path,
        "unknown algorithm " + quoted(text) + " (one of: token_bucket, gcra, sliding_window)");
  }
}

void readLimitKey(ErrorSink& errors, const Field* field, RateLimitConfig* out) {
  std::string text;
  if (!readString(errors, field, &text)) return;
  using KeySource = RateLimitConfig::KeySource;
  if (text == "ip") {
    out->key = KeySource::kIp;
  } else if (text == "route") {
    out->key = KeySource::kRoute;
  } else if (text == "global") {
    out->key = KeySource::kGlobal;
  } else if (text.rfind("header:", 0) == 0 && isToken(std::string_view(text).substr(7))) {
    out->key = KeySource::kHeader;
    out->key_header = lowerCase(text.substr(7));
  } else {
    errors.add(field->mark(), field->path,
               "invalid key " + quoted(text) + " (one of: ip, header:NAME, route, global)");
  }
}

void readPolicyName(ErrorSink& errors, const Field* field, std::string* out) {
  std::string name;
  if (!readString(errors, field, &name)) return;
  // Sent as a Structured Field string: printable ASCII only.
  auto printable = [](char c) { return c >= 0x20 && c < 0x7f; };
  if (name.empty() || name.size() > kMaxPolicyName ||
      !std::all_of(name.begin(), name.end(), printable)) {
    errors.add(field->mark(), field->path,
               "invalid name " + quoted(name) + " (1 to 64 printable ASCII characters)");
    return;
  }
  *out = std::move(name);
}

void loadTier(ErrorSink& errors, const Field& field, RateLimitConfig::Tier* out) {
  MapReader map(errors, field, {"rate", "burst"});
  if (!map.valid()) return;
  readRate(errors, map.require("rate"), &out->rate);
  readUint(errors, map.find("burst"), 1, kMaxBurst, &out->burst);
}

void loadTiers(ErrorSink& errors, const Field& field,
               std::map<std::string, RateLimitConfig::Tier>* out) {
  if (!field.value.IsMap()) {
    errors.add(field.mark(), field.path,
               "expected a map of key value to {rate, burst}, got " + describeNode(field.value));
    return;
  }
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    Field tier{key, value, field.path + "." + (key.IsScalar() ? key.Scalar() : "?"), true};
    if (!key.IsScalar() || key.Scalar().empty()) {
      errors.add(key.Mark(), field.path, "a tier's key must be a non-empty string");
      continue;
    }
    if (out->count(key.Scalar()) != 0) {
      errors.add(key.Mark(), tier.path, "duplicate tier " + quoted(key.Scalar()));
      continue;
    }
    loadTier(errors, tier, &(*out)[key.Scalar()]);
  }
}

// Bursts have no meaning for a sliding window, and tiers need a key with values.
// `scope`, and the keys that only mean something in cluster scope.
void readScope(ErrorSink& errors, const MapReader& map, RateLimitConfig* out) {
  if (const Field* scope = map.find("scope")) {
    std::string text;
    if (readString(errors, scope, &text)) {
      if (text == "local") {
        out->scope = RateLimitConfig::Scope::kLocal;
      } else if (text == "cluster") {
        out->scope = RateLimitConfig::Scope::kCluster;
      } else {
        errors.add(scope->mark(), scope->path,
                   "unknown scope " + quoted(text) + " (one of: local, cluster)");
      }
    }
  }
  readUint32(errors, map.find("lease"), 1, kMaxLease, &out->lease);
  readUint32(errors, map.find("fallback_instances"), 1, kMaxFallbackInstances,
             &out->fallback_instances);
  if (out->scope == RateLimitConfig::Scope::kLocal) {
    for (const char* key : {"lease", "fallback_instances"}) {
      if (const Field* field = map.find(key)) {
        errors.add(field->mark(), field->path,
                   std::string(key) + " applies to scope: cluster only");
      }
    }
  }
}

void checkRateLimit(ErrorSink& errors, const MapReader& map, const RateLimitConfig& limit) {
  using Algorithm = RateLimitConfig::Algorithm;
  if (limit.algorithm == Algorithm::kSlidingWindow) {
    const Field* burst = map.find("burst");
    bool tier_burst = std::any_of(limit.tiers.begin(), limit.tiers.end(),
                                  [](const auto& tier) { return tier.second.burst != 0; });
    if (burst != nullptr || tier_burst) {
      const Field& at = burst != nullptr ? *burst : *map.find("tiers");
      errors.add(at.mark(), at.path,
                 "sliding_window allows `rate` per period; burst applies to token_bucket and gcra");
    }
  }
  using KeySource = RateLimitConfig::KeySource;
  if (!limit.tiers.empty() && (limit.key == KeySource::kRoute || limit.key == KeySource::kGlobal)) {
    const Field& at = *map.find("tiers");
    errors.add(at.mark(), at.path,
               "tiers pick a limit by the key's value; use key: ip or header:NAME");
  }
}

}  // namespace

void loadRateLimit(ErrorSink& errors, const Field& field, const std::string& default_name,
                   RateLimitConfig* out) {
  out->name = default_name;
  MapReader map(errors, field,
                {"name", "algorithm", "key", "rate", "burst", "tiers", "shadow", "max_keys",
                 "scope", "lease", "fallback_instances"});
  if (!map.valid()) return;
  readPolicyName(errors, map.find("name"), &out->name);
  readAlgorithm(errors, map.find("algorithm"), &out->algorithm);
  readLimitKey(errors, map.find("key"), out);
  readRate(errors, map.require("rate"), &out->rate);
  readUint(errors, map.find("burst"), 1, kMaxBurst, &out->burst);
  if (const Field* tiers = map.find("tiers")) loadTiers(errors, *tiers, &out->tiers);
  readBool(errors, map.find("shadow"), &out->shadow);
  readUint(errors, map.find("max_keys"), 1, kMaxKeys, &out->max_keys);
  readScope(errors, map, out);
  checkRateLimit(errors, map, *out);
}

namespace {

bool isMediaType(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view subtype = text.substr(slash + 1);
  return isToken(text.substr(0, slash)) && (subtype == "*" || isToken(subtype));
}

void readEncodings(ErrorSink& errors, const Field* field,
                   std::vector<CompressionConfig::Encoding>* out) {
  if (field == nullptr) return;
  std::vector<CompressionConfig::Encoding> encodings;
  for (const Field& item : sequenceItems(errors, *field)) {
    std::string name;
    if (!readString(errors, &item, &name)) continue;
    CompressionConfig::Encoding encoding{};
    if (name == "br") {
      encoding = CompressionConfig::Encoding::kBrotli;
    } else if (name == "gzip") {
      encoding = CompressionConfig::Encoding::kGzip;
    } else {
      errors.add(item.mark(), item.path,
                 "unknown algorithm " + quoted(name) + " (one of: br, gzip)");
      continue;
    }
    if (std::find(encodings.begin(), encodings.end(), encoding) != encodings.end()) {
      errors.add(item.mark(), item.path, "duplicate algorithm " + quoted(name));
      continue;
    }
    encodings.push_back(encoding);
  }
  if (field->value.IsSequence() && field->value.size() == 0) {
    errors.add(field->mark(), field->path, "must list br, gzip or both (or set enabled: false)");
  }
  *out = std::move(encodings);
}

void readContentTypes(ErrorSink& errors, const Field* field, std::vector<std::string>* out) {
  if (field == nullptr) return;
  out->clear();
  for (const Field& item : sequenceItems(errors, *field)) {
    std::string type;
    if (!readString(errors, &item, &type)) continue;
    type = lowerCase(type);
    if (!isMediaType(type)) {
      errors.add(item.mark(), item.path,
                 "invalid media type " + quoted(type) + " (e.g. text/html or text/*)");
    } else if (std::find(out->begin(), out->end(), type) != out->end()) {
      errors.add(item.mark(), item.path, "duplicate media type " + quoted(type));
    } else {
      out->push_back(std::move(type));
    }
  }
}

}  // namespace

}  // namespace detail

std::vector<std::string> defaultCompressibleTypes() {
  return {
      "text/html",
      "text/plain",
      "text/css",
      "text/javascript",
      "text/xml",
      "text/csv",
      "text/markdown",
      "application/javascript",
      "application/x-javascript",
      "application/json",
      "application/ld+json",
      "application/manifest+json",
      "application/problem+json",
      "application/geo+json",
      "application/xml",
      "application/problem+xml",
      "application/xhtml+xml",
      "application/rss+xml",
      "application/atom+xml",
      "application/wasm",
      "application/vnd.ms-fontobject",
      "font/ttf",
      "font/otf",
      "image/svg+xml",
      "image/x-icon",
      "image/vnd.microsoft.icon",
  };
}

namespace detail {

void loadCompression(ErrorSink& errors, const Field& field, CompressionConfig* out) {
  MapReader map(
      errors, field,
      {"enabled", "algorithms", "min_size", "content_types", "gzip_level", "brotli_quality"});
  if (!map.valid()) return;
  readBool(errors, map.find("enabled"), &out->enabled);
  readEncodings(errors, map.find("algorithms"), &out->algorithms);
  readSize(errors, map.find("min_size"), 0, std::numeric_limits<uint64_t>::max(), &out->min_size);
  readContentTypes(errors, map.find("content_types"), &out->content_types);
  uint32_t level = static_cast<uint32_t>(out->gzip_level);
  if (readUint32(errors, map.find("gzip_level"), 1, kMaxGzipLevel, &level))
    out->gzip_level = static_cast<int>(level);
  uint32_t quality = static_cast<uint32_t>(out->brotli_quality);
  if (readUint32(errors, map.find("brotli_quality"), 0, kMaxBrotliQuality, &quality)) {
    out->brotli_quality = static_cast<int>(quality);
  }
}

void loadTrustedProxies(ErrorSink& errors, const Field& field, std::vector<net::Cidr>* out) {
  for (const Field& item : sequenceItems(errors, field)) {
    std::string text;
    if (!readString(errors, &item, &text)) continue;
    std::string problem;
    if (auto cidr = net::Cidr::parse(text, &problem)) {
      out->push_back(*cidr);
    } else {
      errors.add(item.mark(), item.path, "invalid network " + quoted(text) + " (" + problem + ")");
    }
  }
}

std::vector<std::pair<std::string, std::string>> defaultResponseHeaders() {
  return {{"X-Content-Type-Options", "nosniff"}, {"X-Frame-Options", "DENY"}};
}

namespace {

bool isFieldValue(std::string_view value) {
  auto allowed = [](char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); };
  return value.size() <= kMaxHeaderValue && std::all_of(value.begin(), value.end(), allowed) &&
         (value.empty() || (value.front() != ' ' && value.back() != ' '));
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && lowerCase(std::string(a)) == lowerCase(std::string(b));
}

}  // namespace

// Starts from the defaults: naming one replaces its value, and an empty value removes it.
void loadResponseHeaders(ErrorSink& errors, const Field& field,
                         std::vector<std::pair<std::string, std::string>>* out) {
  if (!field.value.IsMap()) {
    errors.add(field.mark(), field.path,
               "expected a map of header name to value, got " + describeNode(field.value));
    return;
  }
  std::vector<std::string> seen;
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    std::string name = key.IsScalar() ? key.Scalar() : "";
    std::string path = field.path + "." + name;
    if (!isToken(name)) {
      errors.add(key.Mark(), field.path, "invalid header name " + quoted(name));
      continue;
    }
    if (std::find(seen.begin(), seen.end(), lowerCase(name)) != seen.end()) {
      errors.add(key.Mark(), path, "duplicate header " + quoted(name));
      continue;
    }
    seen.push_back(lowerCase(name));
    std::string text = value.IsScalar() ? value.Scalar() : "";
    if ((!value.IsScalar() && !value.IsNull()) || !isFieldValue(text)) {
      errors.add(value.Mark(), path, "invalid header value " + quoted(text));
      continue;
    }
    auto existing = std::find_if(out->begin(), out->end(),
                                 [&](const auto& h) { return equalsIgnoreCase(h.first, name); });
    if (existing != out->end()) out->erase(existing);
    if (!text.empty()) out->emplace_back(name, text);
  }
}

void loadHsts(ErrorSink& errors, const Field& field, HstsConfig* out) {
  MapReader map(errors, field, {"max_age", "include_subdomains", "preload"});
  if (!map.valid()) return;
  readDuration(errors, map.find("max_age"), &out->max_age);
  readBool(errors, map.find("include_subdomains"), &out->include_subdomains);
  readBool(errors, map.find("preload"), &out->preload);
  // Browsers refuse preload lists entries without a year's max-age and subdomains.
  if (out->preload && (out->max_age < std::chrono::hours(24 * 365) || !out->include_subdomains)) {
    errors.add(field.mark(), field.path,
               "preload needs max_age of at least 365d and include_subdomains: true");
  }
}

}  // namespace detail
}  // namespace sg::config

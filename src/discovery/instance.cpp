#include "discovery/instance.h"

#include <boost/json.hpp>

#include "config/config.h"
#include "config/units.h"

namespace sg::discovery {

namespace json = boost::json;

namespace {

bool nameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool parseAddressField(const json::value& value, InstanceSpec* spec, std::string* error) {
  if (!value.is_string() || value.as_string().empty()) {
    *error = R"("address" must be a "host:port" string)";
    return false;
  }
  std::string text(value.as_string());
  std::string reason;
  auto address = net::Address::parse(text, &reason);
  if (!address) {
    *error = "\"address\" " + text + " is not a valid host:port: " + reason;
    return false;
  }
  if (address->port() == 0) {
    *error = "\"address\" " + text + " needs a port from 1 to 65535";
    return false;
  }
  spec->address = *address;
  spec->address_text = std::move(text);
  return true;
}

bool parseWeightField(const json::value& value, InstanceSpec* spec, std::string* error) {
  const bool integer = value.is_int64() || value.is_uint64();
  const int64_t weight =
      value.is_int64() ? value.as_int64()
      : value.is_uint64()
          ? static_cast<int64_t>(std::min<uint64_t>(value.as_uint64(), kMaxWeight + 1))
          : 0;
  if (!integer || weight < kMinWeight || weight > kMaxWeight) {
    *error = "\"weight\" must be an integer from 1 to 1000";
    return false;
  }
  spec->weight = static_cast<uint32_t>(weight);
  return true;
}

bool parseTtlField(const json::value& value, InstanceSpec* spec, std::string* error) {
  std::optional<config::Duration> ttl;
  if (value.is_string()) ttl = config::parseDuration(std::string(value.as_string()));
  if (!ttl) {
    *error = R"("ttl" must be a duration string such as "30s" or "1500ms")";
    return false;
  }
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(*ttl).count();
  if (ms < kMinTtlMs || ms > kMaxTtlMs) {
    *error = "\"ttl\" must be from 1s to 1h (got " +
             config::detail::formatDuration(std::chrono::milliseconds(ms)) + ")";
    return false;
  }
  spec->ttl_ms = ms;
  return true;
}

bool parseMetadataField(const json::value& value, InstanceSpec* spec, std::string* error) {
  if (!value.is_object()) {
    *error = "\"metadata\" must be a JSON object";
    return false;
  }
  std::string text = json::serialize(value);
  if (text.size() > kMaxMetadataBytes) {
    *error = "\"metadata\" is " + std::to_string(text.size()) + " bytes serialized; at most " +
             std::to_string(kMaxMetadataBytes) + " are kept";
    return false;
  }
  spec->metadata_json = std::move(text);
  return true;
}

}  // namespace

std::optional<std::string> checkName(std::string_view what, std::string_view name) {
  if (name.empty()) return std::string(what) + " name is empty";
  if (name.size() > kMaxNameLength)
    return std::string(what) + " name is longer than " + std::to_string(kMaxNameLength) +
           " characters";
  for (char c : name) {
    if (!nameChar(c))
      return std::string(what) + " name \"" + std::string(name) +
             "\" may contain only letters, digits, '.', '_' and '-'";
  }
  return std::nullopt;
}

std::optional<InstanceSpec> parseInstanceSpec(std::string_view body, std::string* error) {
  json::error_code code;
  json::value document = json::parse(body, code);
  if (code) {
    *error = "the body is not valid JSON: " + code.message();
    return std::nullopt;
  }
  if (!document.is_object()) {
    *error = R"(the body must be a JSON object {"address": "host:port", ...})";
    return std::nullopt;
  }
  const json::object& fields = document.as_object();
  InstanceSpec spec;
  if (!fields.contains("address")) {
    *error = R"("address" is required ("host:port"))";
    return std::nullopt;
  }
  for (const auto& [key, value] : fields) {
    bool ok = true;
    if (key == "address") {
      ok = parseAddressField(value, &spec, error);
    } else if (key == "weight") {
      ok = parseWeightField(value, &spec, error);
    } else if (key == "ttl") {
      ok = parseTtlField(value, &spec, error);
    } else if (key == "metadata") {
      ok = parseMetadataField(value, &spec, error);
    } else {
      *error = "unknown field \"" + std::string(key) + "\" (address, weight, ttl, metadata)";
      ok = false;
    }
    if (!ok) return std::nullopt;
  }
  return spec;
}

}  // namespace sg::discovery

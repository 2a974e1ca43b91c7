#pragma once
// One registered service instance and the validation of what a client sends to register it
// (the body of PUT /admin/registry/{service}/{instance}).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/address.h"

namespace sg::discovery {

// Bounds, checked on every registration.
inline constexpr uint32_t kMinWeight = 1;
inline constexpr uint32_t kMaxWeight = 1000;  // as the admin weight endpoint allows
inline constexpr int64_t kDefaultTtlMs = 30'000;
// A TTL under 1 s would be shorter than four eviction/sync periods (250 ms): an instance
// heartbeating on time could be evicted by a single late sync.
inline constexpr int64_t kMinTtlMs = 1'000;
// Past an hour of silence an instance is not "live" in any useful sense.
inline constexpr int64_t kMaxTtlMs = 3'600'000;
inline constexpr size_t kMaxMetadataBytes = 4096;  // serialized; stored in Redis, listed by GET
inline constexpr size_t kMaxNameLength = 128;

struct InstanceSpec {
  net::Address address;
  std::string address_text;  // as the client wrote it ("127.0.0.1:3001")
  uint32_t weight = 1;
  int64_t ttl_ms = kDefaultTtlMs;
  std::string metadata_json = "{}";  // a serialized JSON object

  bool operator==(const InstanceSpec& other) const {
    return address_text == other.address_text && weight == other.weight && ttl_ms == other.ttl_ms &&
           metadata_json == other.metadata_json;
  }
};

struct Instance {
  std::string id;
  InstanceSpec spec;
  int64_t registered_at_ms = 0;
  int64_t last_heartbeat_ms = 0;
};

// Service and instance names appear in URL paths, Redis keys and metric labels:
// 1..128 characters from [A-Za-z0-9._-]. Returns the reason when invalid.
std::optional<std::string> checkName(std::string_view what, std::string_view name);

// Parses and validates a registration body: {"address": "host:port", "weight": 1..1000,
// "ttl": "30s", "metadata": {...}}; only `address` is required. Unknown fields are errors
// (a misspelt "wieght" must not silently mean the default). nullopt and *error when invalid.
std::optional<InstanceSpec> parseInstanceSpec(std::string_view body, std::string* error);

}  // namespace sg::discovery

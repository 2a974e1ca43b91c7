#include "proxy/cache_handover.h"

#include <fmt/format.h>

#include <limits>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/l2_codec.h"

namespace sg::proxy {
namespace {

void putUint(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void putString(std::string* out, std::string_view text) {
  putUint(out, text.size(), 4);
  out->append(text);
}

// Reads the format's fields; every read checks the bytes left first.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool uint(int bytes, uint64_t* value) {
    if (bytes_.size() - pos_ < static_cast<size_t>(bytes)) return false;
    *value = 0;
    for (int i = 0; i < bytes; ++i) {
      *value |= uint64_t{static_cast<uint8_t>(bytes_[pos_ + i])} << (8 * i);
    }
    pos_ += static_cast<size_t>(bytes);
    return true;
  }
  bool u32(uint32_t* value) {
    uint64_t wide = 0;
    if (!uint(4, &wide)) return false;
    *value = static_cast<uint32_t>(wide);
    return true;
  }
  bool string(std::string_view* text) {
    uint32_t size = 0;
    if (!u32(&size) || bytes_.size() - pos_ < size) return false;
    *text = bytes_.substr(pos_, size);
    pos_ += size;
    return true;
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

struct CachingRoute {
  uint32_t owner = 0;  // RouteCache::owner
  std::string_view listener;
  std::string_view route;
};

// Every route with a cache, in config order.
std::vector<CachingRoute> cachingRoutes(SharedState& shared) {
  std::vector<CachingRoute> routes;
  for (const SharedListener& listener : shared.listeners()) {
    for (const Route& route : listener.router.routes()) {
      if (!route.cache) continue;
      routes.push_back({route.cache->owner, listener.config->name, route.config->name});
    }
  }
  return routes;
}

// The exporter's owner numbers mapped to ours, by names (absent: no such caching route here).
using OwnerMap = std::unordered_map<uint32_t, uint32_t>;

bool readRouteTable(Reader& reader, SharedState& shared, OwnerMap* owners, std::string* error) {
  std::map<std::pair<std::string_view, std::string_view>, uint32_t> ours;
  for (const CachingRoute& route : cachingRoutes(shared)) {
    ours.try_emplace({route.listener, route.route}, route.owner);
  }
  uint32_t count = 0;
  if (!reader.u32(&count)) {
    *error = "truncated route table";
    return false;
  }
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t owner = 0;
    std::string_view listener;
    std::string_view route;
    if (!reader.u32(&owner) || !reader.string(&listener) || !reader.string(&route)) {
      *error = fmt::format("route table: route {} of {} truncated", i + 1, count);
      return false;
    }
    const auto found = ours.find({listener, route});
    if (found != ours.end()) (*owners)[owner] = found->second;
  }
  return true;
}

// Decodes the entries up to the end of the bytes, or up to the first bad one (then *error
// says why). Unowned ones are decoded too (so they are validated), counted and dropped.
std::vector<std::shared_ptr<const cache::CachedResponse>> readEntries(Reader& reader,
                                                                      const OwnerMap& owners,
                                                                      CacheImport* result,
                                                                      std::string* error) {
  std::vector<std::shared_ptr<const cache::CachedResponse>> entries;
  for (size_t number = 1; !reader.done(); ++number) {
    uint32_t owner = 0;
    std::string_view bytes;
    if (!reader.u32(&owner) || !reader.string(&bytes)) {
      *error = fmt::format("entry {}: truncated", number);
      break;
    }
    const auto ours = owners.find(owner);
    std::string reason;
    auto entry = cache::decodeL2Entry(bytes, ours == owners.end() ? 0 : ours->second, &reason);
    if (entry == nullptr) {
      *error = fmt::format("entry {}: {}", number, reason);
      break;
    }
    if (ours == owners.end()) {
      ++result->unowned;
    } else {
      entries.push_back(std::move(entry));
    }
  }
  return entries;
}

// Which entries to offer (they come coldest first): walking from the hottest, each shard
// takes those that still fit its free bytes.
std::vector<bool> entriesThatFit(
    const cache::Cache& cache,
    const std::vector<std::shared_ptr<const cache::CachedResponse>>& entries) {
  std::vector<uint64_t> free_bytes(cache.shardCount());
  for (uint32_t shard = 0; shard < cache.shardCount(); ++shard) {
    free_bytes[shard] = cache.shardFreeBytes(shard);
  }
  std::vector<bool> fits(entries.size(), false);
  for (size_t i = entries.size(); i-- > 0;) {
    uint64_t& room = free_bytes[cache.shardIndex(entries[i]->key)];
    if (entries[i]->charge > room) continue;
    room -= entries[i]->charge;
    fits[i] = true;
  }
  return fits;
}

}  // namespace

void exportCache(SharedState& shared, std::string* out) {
  putUint(out, kCacheHandoverVersion, 1);
  const auto routes = cachingRoutes(shared);
  putUint(out, routes.size(), 4);
  for (const CachingRoute& route : routes) {
    putUint(out, route.owner, 4);
    putString(out, route.listener);
    putString(out, route.route);
  }
  if (shared.cache() == nullptr) return;
  shared.cache()->cache.forEachEntry(
      [out](const std::shared_ptr<const cache::CachedResponse>& entry) {
        const std::string bytes = cache::encodeL2Entry(*entry);
        if (bytes.empty() || bytes.size() > std::numeric_limits<uint32_t>::max()) return;
        putUint(out, entry->owner, 4);
        putString(out, bytes);
      });
}

bool importCache(SharedState& shared, std::string_view bytes, CacheImport* result,
                 std::string* error) {
  if (shared.cache() == nullptr) return true;
  cache::Cache& cache = shared.cache()->cache;
  Reader reader(bytes);
  uint64_t version = 0;
  if (!reader.uint(1, &version)) {
    *error = "empty";
    return false;
  }
  if (version != kCacheHandoverVersion) {
    *error = fmt::format("version {}, expected {}", version, kCacheHandoverVersion);
    return false;
  }
  OwnerMap owners;
  if (!readRouteTable(reader, shared, &owners, error)) return false;
  std::string entry_error;
  auto entries = readEntries(reader, owners, result, &entry_error);
  const std::vector<bool> fits = entriesThatFit(cache, entries);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (fits[i] && cache.insert(std::move(entries[i]))) {
      ++result->restored;
    } else {
      ++result->refused;
    }
  }
  if (entry_error.empty()) return true;
  *error = std::move(entry_error);
  return false;
}

}  // namespace sg::proxy

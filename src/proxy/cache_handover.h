#pragma once
// The memory cache's part of the running state a reloading or upgrading process hands to its
// successor (the hand-over blob's framing is the caller's): every resident entry, so the
// successor starts warm instead of refetching everything.
//
// Format (version 1), integers fixed-width little-endian, str = u32 byte length and the bytes:
//   u8 version
//   u32 route count, then per caching route of the exporting process:
//     u32 owner (its RouteCache::owner), str listener name, str route name
//   then entries up to the end of the bytes, coldest first (Cache::forEachEntry):
//     u32 owner, str entry (the cache/l2_codec.h bytes of the CachedResponse)
//
// Owners are route numbers of one configuration, so the successor maps them by name: an entry
// goes to the caching route of the same listener and route name in the new configuration (the
// first one, should two share the names). When no route of those names caches any more, the
// entry is dropped (counted as unowned): the route that stored it is gone or stopped caching,
// its cache settings no longer apply, and charging it to some other route would make that
// route's figures (scalegate_cache_entries and _bytes by route) lie.
//
// Entries are replayed coldest first, so the policy ends up ranking them as the old process
// did (LRU order exactly; TinyLFU starts them in probation and the window: the old hit counts
// are not carried). Before inserting, the importer leaves out, shard by shard, the coldest
// entries beyond the new cache's free memory (counted as refused): replaying everything into a
// smaller cache would make TinyLFU, whose admission keeps the incumbent on a tie, keep the
// coldest entries and turn the hottest away.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/shared_state.h"

namespace sg::proxy {

inline constexpr uint8_t kCacheHandoverVersion = 1;

// Appends every entry resident in `shared`'s memory cache to *out (format above). Reads under
// the shard locks only long enough to copy the entries' pointers, so workers keep serving
// meanwhile. Without a cache: a valid export of no entries. Entries encodeL2Entry cannot
// encode (a string past 4 GiB) are left out.
void exportCache(SharedState& shared, std::string* out);

struct CacheImport {
  size_t restored = 0;  // entries insert() made resident
  // Entries the new cache had no room for: insert() said no (admission, larger than a shard),
  // or they were the coldest beyond the new cache's free memory and were not offered.
  size_t refused = 0;
  size_t unowned = 0;  // no caching route of their listener/route name any more: dropped
};

// Inserts the entries written by exportCache into `shared`'s memory cache (see the file
// comment for owners and order). Without a cache: true, nothing restored, bytes unread.
// False with *error (a short reason, naming the entry) on bytes that are not a valid export
// (empty, wrong version, truncated, an entry the codec rejects): the entries before the bad
// spot are imported (those that fit) and stay valid, none after it. Every entry is decoded
// (validated) before any is inserted; the decoded entries and `bytes` are both in memory
// meanwhile.
bool importCache(SharedState& shared, std::string_view bytes, CacheImport* result,
                 std::string* error);

}  // namespace sg::proxy

#pragma once
// The cache's second layer (route key `cache: {l2: true}`) as it lives in the store: one
// Redis hash per primary key, `sg:c:<key>`, whose fields are the stored variants
// (cache/l2_codec.h), `_vary` (the variants' Vary names: a response with other names
// replaces them all, as in memory) and `_lock` (`<owner>:<expiry ms>`: one instance fetches
// a missing key while the others wait for its entry; `pass:<expiry>` tells them the fetch
// stored nothing, so they go on their own). Keeping the lock inside the entry's key keeps
// every call a single-key script, which Redis Cluster routes by that key's slot. Times in
// the scripts come from Redis (TIME), so instances with skewed clocks agree on a lock.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cached_response.h"
#include "http/message.h"
#include "store/reply.h"
#include "store/script.h"

namespace sg::proxy {

// ARGV: mode ("0" entries only, "1" lock when there is no entry, "2" lock in any case),
// owner, lock milliseconds. Reply: {entries..., lock state} (L2LockState).
const store::Script& l2LookupScript();
// ARGV: Vary names, variant field, encoded entry, TTL milliseconds, owner (whose lock ends).
const store::Script& l2StoreScript();
// ARGV: owner, milliseconds of the pass marker. A fetch that stored nothing ends its lock.
const store::Script& l2ReleaseScript();

enum class L2LockState : uint8_t {
  kTaken = 1,    // this request holds the key's lock: it fetches
  kBusy = 0,     // another instance's fetch holds it: wait for its entry
  kPass = 2,     // a fetch just ended without storing: go to the upstream without waiting
  kNotAsked = 3  // entries came back (mode "1") or mode "0"
};

std::string l2Key(std::string_view primary_key);
// The SCAN pattern of every L2 key whose primary key starts with `prefix` (glob-escaped).
std::string l2PurgePattern(std::string_view prefix);

struct L2Lookup {
  bool ok = false;  // a well-formed reply
  L2LockState lock = L2LockState::kNotAsked;
  // The newest stored variant the request selects (an exact variant first), or null.
  std::shared_ptr<const cache::CachedResponse> entry;
  uint64_t undecodable = 0;  // entries that failed to decode (skipped)
};

L2Lookup parseL2Lookup(const store::Reply& reply, uint32_t owner,
                       const std::vector<http::Header>& request_headers);

// How long L2 keeps `entry`: what is left of its freshness plus the longer stale window;
// <= 0 when it would arrive unusable without revalidation (then it is not written).
int64_t l2TtlMs(const cache::CachedResponse& entry, cache::Time now);

}  // namespace sg::proxy

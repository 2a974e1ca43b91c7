#pragma once
// Cluster-scope rate limits: the three algorithms of algorithms.cpp as one Lua script that
// Redis runs atomically, so every gateway sharing the store decides against one state.
//
// The script is a line-by-line port of apply(): same state meaning, same integer arithmetic,
// same Outcome. Redis's Lua numbers are doubles, exact only below 2^53, so the script divides
// with corrected floor/ceil helpers and every product it forms is bounded by
// fitsClusterArithmetic() (the config loader refuses limits that fail it). Time comes from
// Redis (TIME), never from the gateway, so gateways with skewed clocks agree.
//
// One call decides up to `want` requests at the same instant (lease mode takes N requests'
// worth of quota at once): apply() repeated at one `now`, stopping at the first refusal.
// The script computes that in closed form, so a large lease costs no more than one request.
//
// EVALSHA <sha> 1 <clusterKey(...)> ARGV..., with ARGV (appendClusterArgs builds them):
//   1 algorithm   "tb" | "gcra" | "sw"
//   2 refill      Limits::refill   (C')
//   3 cost        Limits::cost     (P')
//   4 capacity    Limits::capacity (burst x P')
//   5 fill_us     Limits::fill_us
//   6 count       Limits::count    (0 = refuse everything)
//   7 period_us   Limits::period_us
//   8 want        1..2^53-1: requests to admit at once
//   9 now_us      "" in production (Redis TIME); tests pass a fixed clock here
// Reply: array of 4 integers {granted, remaining, reset_us, retry_us}: granted in 0..want;
// the other three are the Outcome of the last attempt applied (the refused one when
// granted < want, then retry_us > 0; otherwise the last admitted one, retry_us == 0).
//
// The key holds one string ("t:a:b", "g:a:b" or "w:window_start_us:prev:cur") and expires
// kClusterExpiryMarginMs after the state would equal a fresh key's, so idle keys cost nothing.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ratelimit/algorithms.h"

namespace sg::ratelimit {

// The Lua source; load it once (SCRIPT LOAD) and call it by its SHA1 (EVALSHA).
extern const std::string_view kClusterScript;

inline constexpr std::size_t kClusterArgCount = 9;
// Keys live this long past the moment their state turns idle: an early expiry would hand a
// fresh quota out (over-admission), a late one only costs memory. It also absorbs the
// difference between the script's TIME and the clock Redis expires keys by.
inline constexpr int64_t kClusterExpiryMarginMs = 1000;
// Every number the script handles must stay below this to be exact in a double.
inline constexpr uint64_t kClusterExactLimit = uint64_t{1} << 53;
// Keys longer than this are shortened (a prefix plus a hash) so that a huge header value
// cannot make a huge Redis key.
inline constexpr std::size_t kClusterMaxKeyBytes = 200;

// Appends the kClusterArgCount ARGV strings (in the order above) to `out`. Small numbers
// stay in std::string's inline buffer; reuse `out` to avoid reallocating it. now_us is for
// tests only (production leaves it empty so Redis's clock decides).
void appendClusterArgs(Algorithm algorithm, const Limits& limits, uint64_t want,
                       std::vector<std::string>& out, std::optional<int64_t> now_us = {});

struct ClusterResult {
  uint64_t granted = 0;  // requests admitted by this call (0..want)
  Outcome outcome;       // of the last attempt applied (allowed iff granted == want)
};

// Checks and converts the script's 4 integers; nullopt (with the reason in `why`) for a reply
// the script cannot have produced, so a corrupt reply falls back instead of deciding.
std::optional<ClusterResult> decodeClusterReply(std::span<const int64_t> reply, uint64_t want,
                                                std::string* why = nullptr);

// Whether every intermediate the script forms for these limits stays below 2^53. When not,
// `why` (if given) says which numbers are too large, for the config loader's error.
bool fitsClusterArithmetic(Algorithm algorithm, const Limits& limits, std::string* why);

// The Redis key of one limit's bucket: sg:rl:{<name length>:<name>:<key>}. The braces make
// the whole thing a Redis Cluster hash tag (one key per decision, so any slot works); the
// length prefix keeps ("a:b", "c") and ("a", "b:c") apart. Any bytes are safe (commands are
// sent with explicit lengths). A key over kClusterMaxKeyBytes becomes
// sg:rl:{<name length>:<name>#<key length>:<first 100 bytes>:<hash>:<hash>}.
std::string clusterKey(std::string_view limit_name, std::string_view key);

}  // namespace sg::ratelimit

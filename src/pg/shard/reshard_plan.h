#pragma once
// What moves when a sharded database changes its layout. Hash: keys are spread evenly over the
// hash space, so moving from N to M shards moves exactly the keys whose hash % N (old shard)
// differs from hash % M (new shard): 1 - min(N, M) / lcm(N, M) of them. Growing to a multiple
// of N moves the least (each old shard splits; 3 -> 6 keeps half of every shard). Range and
// list: the key ranges and values whose shard differs between the two layouts.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pg/shard/shard_function.h"

namespace sg::pg::shard {

struct ReshardPlan {
  // Hash: new shard `shard` receives from each of `sources` the keys with hash % to_shards ==
  // shard, `fraction` of all keys.
  struct Incoming {
    uint32_t shard = 0;
    std::vector<uint32_t> sources;
    double fraction = 0;
  };
  // Another shard count and the fraction of keys it would move (multiples / divisors of N).
  struct Alternative {
    uint32_t shards = 0;
    double moved = 0;
  };
  // Range: [from, to) moves from old_shard to new_shard (nullopt: in no range).
  struct Segment {
    RangeBound from;
    RangeBound to;
    std::optional<uint32_t> old_shard;
    std::optional<uint32_t> new_shard;
    std::optional<uint64_t> values;  // how many keys fit, for a finite range of an integral type
  };
  // List: a value (nullopt: every value listed in neither layout) that changes shard.
  struct ListMove {
    std::optional<KeyValue> value;
    std::optional<uint32_t> old_shard;
    std::optional<uint32_t> new_shard;
  };

  Method method = Method::kHash;
  KeyType key_type = KeyType::kBigint;
  uint32_t from_shards = 0;
  uint32_t to_shards = 0;
  std::optional<double> moved;  // fraction of the key space that moves (hash only)
  std::vector<Incoming> incoming;
  std::vector<Alternative> alternatives;
  std::vector<Segment> segments;
  std::vector<ListMove> list_moves;
};

// The fraction of hash-sharded keys that change shard going from `from` to `to` shards.
double hashMovedFraction(uint32_t from, uint32_t to);
// Hash sharding from `from` to `to` shards (both at least 1).
ReshardPlan planHashReshard(uint32_t from, uint32_t to);
// Between two layouts of the same key (same method and key types); an error message otherwise.
std::variant<ReshardPlan, std::string> planReshard(const ShardingSpec& from,
                                                   const ShardingSpec& to);

// For people: one line per move, with the SQL that selects the rows to copy (key_column names
// the key in it); and the same as a JSON object.
std::string formatPlanText(const ReshardPlan& plan, std::string_view key_column);
std::string formatPlanJson(const ReshardPlan& plan);

}  // namespace sg::pg::shard

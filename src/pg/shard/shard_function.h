#pragma once
// Which shard a sharding key's value belongs to: hash (PostgreSQL's PARTITION BY HASH, shard =
// REMAINDER for MODULUS = the number of shards), range (PARTITION BY RANGE: from inclusive, to
// exclusive, MINVALUE / MAXVALUE) or list (PARTITION BY LIST, with an optional default shard).
// Made once from the configuration, immutable, shared by pointer across worker threads.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pg/shard/key_value.h"

namespace sg::pg::shard {

enum class Method { kHash, kRange, kList };
std::string_view methodName(Method method);
bool parseMethod(std::string_view name, Method* out);

// One end of a range: a value, or below / above every value.
struct RangeBound {
  enum class Kind { kMinValue, kValue, kMaxValue };
  Kind kind = Kind::kValue;
  KeyValue value;  // for kValue
};

struct RangeSpec {
  uint32_t shard = 0;
  RangeBound from;  // inclusive
  RangeBound to;    // exclusive
};

struct ListEntry {
  KeyValue value;
  uint32_t shard = 0;
};

struct ShardingSpec {
  Method method = Method::kHash;
  std::vector<KeyType> key_types{KeyType::kBigint};  // one per key column, in key order
  uint32_t shards = 0;
  std::vector<RangeSpec> ranges;          // range: in the order written (errors name their index)
  std::vector<ListEntry> lists;           // list
  std::optional<uint32_t> default_shard;  // list: the shard of every value not listed
};

// A key value of one column as it arrives: nullopt is SQL NULL.
struct KeyInput {
  std::optional<std::string_view> value;
  Format format = Format::kText;
};

// The shard, or why there is none (the SQLSTATE the client gets).
using ShardResult = std::variant<uint32_t, KeyError>;

class ShardFunction {
 public:
  struct Made {
    std::shared_ptr<const ShardFunction> function;  // null when error is set
    std::string error;                              // e.g. "ranges[2] overlaps ranges[0]"
  };
  // Checks the spec (shard numbers below spec.shards, one key column for range and list,
  // non-empty ranges that do not overlap, list values listed once).
  static Made make(ShardingSpec spec);

  // A single-column key's value.
  ShardResult shardOf(std::string_view value, Format format) const;
  // Every key column's value, in key order (hash keys may have several columns).
  ShardResult shardOf(std::span<const KeyInput> columns) const;
  // Where PostgreSQL puts a row whose key is NULL: hash remainder 0, list's default shard;
  // range and a list without default have none (23514).
  ShardResult shardOfNull() const;
  // For already decoded values (reshard plans, tests).
  ShardResult shardOfDecoded(std::span<const KeyValue> columns) const;

  size_t shards() const { return spec_.shards; }
  const ShardingSpec& spec() const { return spec_; }

 private:
  explicit ShardFunction(ShardingSpec spec);
  ShardResult rangeShard(const KeyValue& value) const;
  ShardResult listShard(const KeyValue& value) const;
  KeyError noShard(const KeyValue& value) const;

  ShardingSpec spec_;
  std::vector<RangeSpec> sorted_ranges_;  // by from
  std::vector<ListEntry> sorted_lists_;   // by value
};

// Order of two range bounds of the same key type (MINVALUE first, MAXVALUE last).
int compareBounds(KeyType type, const RangeBound& a, const RangeBound& b);
std::string formatBound(KeyType type, const RangeBound& bound);

}  // namespace sg::pg::shard

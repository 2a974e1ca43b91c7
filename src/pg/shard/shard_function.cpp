// The three sharding functions, as PostgreSQL's partition routing chooses a partition
// (get_partition_for_tuple): hash remainder, the range holding the value, the list entry.
#include "pg/shard/shard_function.h"

#include <algorithm>
#include <utility>

#include "pg/shard/partition_hash.h"

namespace sg::pg::shard {

namespace {

constexpr std::pair<std::string_view, Method> kMethods[] = {
    {"hash", Method::kHash}, {"range", Method::kRange}, {"list", Method::kList}};

std::string shardName(uint32_t shard) { return "shard " + std::to_string(shard); }

std::optional<std::string> checkShard(uint32_t shard, uint32_t shards, const std::string& what) {
  if (shard < shards) return std::nullopt;
  return what + " names " + shardName(shard) + ", but there are only " + std::to_string(shards) +
         " shards (0 to " + std::to_string(shards - 1) + ")";
}

std::optional<std::string> checkRanges(const ShardingSpec& spec) {
  if (spec.ranges.empty()) return "range sharding needs at least one range";
  const KeyType type = spec.key_types.front();
  for (size_t i = 0; i < spec.ranges.size(); ++i) {
    const RangeSpec& range = spec.ranges[i];
    const std::string name = "ranges[" + std::to_string(i) + "]";
    if (auto error = checkShard(range.shard, spec.shards, name)) return error;
    if (compareBounds(type, range.from, range.to) >= 0)
      return name + " is empty: from " + formatBound(type, range.from) + " is not below to " +
             formatBound(type, range.to);
  }
  // Two ranges overlap when each starts before the other ends (to is exclusive).
  for (size_t i = 0; i < spec.ranges.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const RangeSpec& a = spec.ranges[i];
      const RangeSpec& b = spec.ranges[j];
      if (compareBounds(type, a.from, b.to) < 0 && compareBounds(type, b.from, a.to) < 0)
        return "ranges[" + std::to_string(i) + "] overlaps ranges[" + std::to_string(j) + "]";
    }
  }
  return std::nullopt;
}

std::optional<std::string> checkLists(const ShardingSpec& spec) {
  if (spec.lists.empty() && !spec.default_shard) return "list sharding needs at least one value";
  const KeyType type = spec.key_types.front();
  for (size_t i = 0; i < spec.lists.size(); ++i) {
    const ListEntry& entry = spec.lists[i];
    const std::string value = "value " + formatKey(type, entry.value);
    if (auto error = checkShard(entry.shard, spec.shards, value)) return error;
    for (size_t j = 0; j < i; ++j) {
      if (compareKeys(type, spec.lists[j].value, entry.value) == 0)
        return value + " is listed twice";
    }
  }
  if (spec.default_shard) return checkShard(*spec.default_shard, spec.shards, "default");
  return std::nullopt;
}

std::optional<std::string> checkSpec(const ShardingSpec& spec) {
  if (spec.shards == 0) return "there are no shards";
  if (spec.key_types.empty()) return "the sharding key has no columns";
  if (spec.method != Method::kHash && spec.key_types.size() != 1)
    return std::string(methodName(spec.method)) + " sharding takes a key of one column";
  if (spec.method != Method::kRange && !spec.ranges.empty()) return "ranges are for range sharding";
  if (spec.method != Method::kList && (!spec.lists.empty() || spec.default_shard))
    return "lists and default are for list sharding";
  if (spec.method == Method::kRange) return checkRanges(spec);
  if (spec.method == Method::kList) return checkLists(spec);
  return std::nullopt;
}

int boundRank(RangeBound::Kind kind) {
  return kind == RangeBound::Kind::kMinValue ? -1 : (kind == RangeBound::Kind::kMaxValue ? 1 : 0);
}

KeyError columnCountError(size_t expected, size_t given) {
  return {"0A000", "the sharding key has " + std::to_string(expected) + " column(s), " +
                       std::to_string(given) + " value(s) were given"};
}

}  // namespace

std::string_view methodName(Method method) {
  for (const auto& [name, entry] : kMethods) {
    if (entry == method) return name;
  }
  return "hash";
}

bool parseMethod(std::string_view name, Method* out) {
  for (const auto& [entry_name, entry] : kMethods) {
    if (entry_name == name) {
      *out = entry;
      return true;
    }
  }
  return false;
}

int compareBounds(KeyType type, const RangeBound& a, const RangeBound& b) {
  const int rank_a = boundRank(a.kind);
  const int rank_b = boundRank(b.kind);
  if (rank_a != 0 || rank_b != 0) return rank_a < rank_b ? -1 : (rank_a > rank_b ? 1 : 0);
  return compareKeys(type, a.value, b.value);
}

std::string formatBound(KeyType type, const RangeBound& bound) {
  if (bound.kind == RangeBound::Kind::kMinValue) return "MINVALUE";
  if (bound.kind == RangeBound::Kind::kMaxValue) return "MAXVALUE";
  return formatKey(type, bound.value);
}

ShardFunction::Made ShardFunction::make(ShardingSpec spec) {
  if (auto error = checkSpec(spec)) return {nullptr, std::move(*error)};
  return {std::shared_ptr<const ShardFunction>(new ShardFunction(std::move(spec))), {}};
}

ShardFunction::ShardFunction(ShardingSpec spec)
    : spec_(std::move(spec)), sorted_ranges_(spec_.ranges), sorted_lists_(spec_.lists) {
  const KeyType type = spec_.key_types.front();
  std::sort(sorted_ranges_.begin(), sorted_ranges_.end(),
            [&](const auto& a, const auto& b) { return compareBounds(type, a.from, b.from) < 0; });
  std::sort(sorted_lists_.begin(), sorted_lists_.end(),
            [&](const auto& a, const auto& b) { return compareKeys(type, a.value, b.value) < 0; });
}

ShardResult ShardFunction::shardOf(std::string_view value, Format format) const {
  const KeyInput column{value, format};
  return shardOf(std::span<const KeyInput>(&column, 1));
}

ShardResult ShardFunction::shardOf(std::span<const KeyInput> columns) const {
  if (columns.size() != spec_.key_types.size())
    return columnCountError(spec_.key_types.size(), columns.size());
  std::vector<KeyValue> values;
  values.reserve(columns.size());
  bool all_null = true;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (!columns[i].value) {
      values.emplace_back();  // unused: NULL columns are skipped below
      continue;
    }
    all_null = false;
    auto decoded = decodeKey(spec_.key_types[i], *columns[i].value, columns[i].format);
    if (auto* error = std::get_if<KeyError>(&decoded)) return std::move(*error);
    values.push_back(std::move(std::get<KeyValue>(decoded)));
  }
  if (all_null) return shardOfNull();
  if (spec_.method != Method::kHash) return shardOfDecoded(values);
  // Hash: NULL columns add nothing to the row's hash, as in compute_partition_hash_value.
  uint64_t row_hash = kEmptyRowHash;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].value) row_hash = addColumn(row_hash, spec_.key_types[i], values[i]);
  }
  return static_cast<uint32_t>(row_hash % spec_.shards);
}

ShardResult ShardFunction::shardOfNull() const {
  switch (spec_.method) {
    case Method::kHash:
      return uint32_t{0};  // the row hash of all-NULL columns is 0
    case Method::kList:
      if (spec_.default_shard) return *spec_.default_shard;
      break;
    case Method::kRange:
      break;
  }
  return KeyError{"23514", "no shard for a NULL sharding key (" +
                               std::string(methodName(spec_.method)) + " sharding)"};
}

ShardResult ShardFunction::shardOfDecoded(std::span<const KeyValue> columns) const {
  if (columns.size() != spec_.key_types.size())
    return columnCountError(spec_.key_types.size(), columns.size());
  if (spec_.method == Method::kRange) return rangeShard(columns.front());
  if (spec_.method == Method::kList) return listShard(columns.front());
  uint64_t row_hash = kEmptyRowHash;
  for (size_t i = 0; i < columns.size(); ++i)
    row_hash = addColumn(row_hash, spec_.key_types[i], columns[i]);
  return static_cast<uint32_t>(row_hash % spec_.shards);
}

ShardResult ShardFunction::rangeShard(const KeyValue& value) const {
  const KeyType type = spec_.key_types.front();
  const RangeBound point{RangeBound::Kind::kValue, value};
  // The last range starting at or below the value; it holds the value if it ends above it.
  auto after = std::upper_bound(sorted_ranges_.begin(), sorted_ranges_.end(), point,
                                [&](const RangeBound& bound, const RangeSpec& range) {
                                  return compareBounds(type, bound, range.from) < 0;
                                });
  if (after == sorted_ranges_.begin()) return noShard(value);
  const RangeSpec& range = *(after - 1);
  if (compareBounds(type, point, range.to) >= 0) return noShard(value);
  return range.shard;
}

ShardResult ShardFunction::listShard(const KeyValue& value) const {
  const KeyType type = spec_.key_types.front();
  auto found = std::lower_bound(sorted_lists_.begin(), sorted_lists_.end(), value,
                                [&](const ListEntry& entry, const KeyValue& v) {
                                  return compareKeys(type, entry.value, v) < 0;
                                });
  if (found != sorted_lists_.end() && compareKeys(type, found->value, value) == 0)
    return found->shard;
  if (spec_.default_shard) return *spec_.default_shard;
  return noShard(value);
}

KeyError ShardFunction::noShard(const KeyValue& value) const {
  const KeyType type = spec_.key_types.front();
  std::string text = formatKey(type, value);
  if (text.size() > 64) text = text.substr(0, 64) + "...";
  const std::string where = spec_.method == Method::kRange ? "in no range of" : "not listed in";
  return {"23514", "no shard for sharding key value \"" + text + "\": " + where +
                       " the sharding configuration"};
}

}  // namespace sg::pg::shard

// Reshard plans: hash moves by modular arithmetic (a key's old and new shard depend only on its
// hash modulo lcm(N, M)), range moves by walking the union of both layouts' bounds, list moves
// value by value.
#include "pg/shard/reshard_plan.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <numeric>

namespace sg::pg::shard {

namespace {

std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", fraction * 100);
  return text;
}

// Shard counts near `to` that move less: multiples of `from` when growing, divisors when
// shrinking (each old shard splits, or whole shards merge).
std::vector<uint32_t> cheaperCounts(uint32_t from, uint32_t to) {
  std::vector<uint32_t> counts;
  if (to > from) {
    if (to % from == 0) return counts;
    const uint32_t below = to / from * from;
    if (below > from) counts.push_back(below);
    counts.push_back(below + from);
  } else if (to < from) {
    if (from % to == 0) return counts;
    for (uint32_t d = to; d >= 1; --d) {
      if (from % d == 0) {
        counts.push_back(d);
        break;
      }
    }
    for (uint32_t d = to + 1; d < from; ++d) {
      if (from % d == 0) {
        counts.push_back(d);
        break;
      }
    }
  }
  return counts;
}

std::optional<uint32_t> rangeShardAt(const ShardingSpec& spec, const RangeBound& start) {
  const KeyType type = spec.key_types.front();
  for (const RangeSpec& range : spec.ranges) {
    if (compareBounds(type, range.from, start) <= 0 && compareBounds(type, start, range.to) < 0)
      return range.shard;
  }
  return std::nullopt;
}

std::optional<uint64_t> valuesBetween(KeyType type, const RangeBound& from, const RangeBound& to) {
  if (!isIntegral(type) || from.kind != RangeBound::Kind::kValue ||
      to.kind != RangeBound::Kind::kValue)
    return std::nullopt;
  return static_cast<uint64_t>(to.value.integer) - static_cast<uint64_t>(from.value.integer);
}

// Every bound of both layouts, sorted and unique; consecutive bounds delimit the segments.
std::vector<RangeBound> allBounds(KeyType type, const ShardingSpec& a, const ShardingSpec& b) {
  std::vector<RangeBound> bounds;
  for (const ShardingSpec* spec : {&a, &b}) {
    for (const RangeSpec& range : spec->ranges) {
      bounds.push_back(range.from);
      bounds.push_back(range.to);
    }
  }
  std::sort(bounds.begin(), bounds.end(),
            [&](const auto& x, const auto& y) { return compareBounds(type, x, y) < 0; });
  bounds.erase(
      std::unique(bounds.begin(), bounds.end(),
                  [&](const auto& x, const auto& y) { return compareBounds(type, x, y) == 0; }),
      bounds.end());
  return bounds;
}

void planRanges(const ShardingSpec& from, const ShardingSpec& to, ReshardPlan* plan) {
  const KeyType type = from.key_types.front();
  const std::vector<RangeBound> bounds = allBounds(type, from, to);
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    const auto old_shard = rangeShardAt(from, bounds[i]);
    const auto new_shard = rangeShardAt(to, bounds[i]);
    if (old_shard == new_shard) continue;
    auto& segments = plan->segments;
    // Adjacent pieces with the same move read as one range.
    if (!segments.empty() && segments.back().old_shard == old_shard &&
        segments.back().new_shard == new_shard &&
        compareBounds(type, segments.back().to, bounds[i]) == 0) {
      segments.back().to = bounds[i + 1];
    } else {
      segments.push_back({bounds[i], bounds[i + 1], old_shard, new_shard, std::nullopt});
    }
  }
  for (auto& segment : plan->segments)
    segment.values = valuesBetween(type, segment.from, segment.to);
}

std::optional<uint32_t> listShardOf(const ShardingSpec& spec, KeyType type, const KeyValue& v) {
  for (const ListEntry& entry : spec.lists) {
    if (compareKeys(type, entry.value, v) == 0) return entry.shard;
  }
  return spec.default_shard;
}

void planLists(const ShardingSpec& from, const ShardingSpec& to, ReshardPlan* plan) {
  const KeyType type = from.key_types.front();
  std::vector<KeyValue> values;
  for (const ShardingSpec* spec : {&from, &to}) {
    for (const ListEntry& entry : spec->lists) {
      const bool seen = std::any_of(values.begin(), values.end(), [&](const KeyValue& v) {
        return compareKeys(type, v, entry.value) == 0;
      });
      if (!seen) values.push_back(entry.value);
    }
  }
  for (const KeyValue& value : values) {
    const auto old_shard = listShardOf(from, type, value);
    const auto new_shard = listShardOf(to, type, value);
    if (old_shard != new_shard) plan->list_moves.push_back({value, old_shard, new_shard});
  }
  if (from.default_shard != to.default_shard)
    plan->list_moves.push_back({std::nullopt, from.default_shard, to.default_shard});
}

std::string shardText(const std::optional<uint32_t>& shard) {
  return shard ? "shard " + std::to_string(*shard) : "no shard";
}

boost::json::value shardJson(const std::optional<uint32_t>& shard) {
  if (shard) return *shard;
  return nullptr;
}

}  // namespace

double hashMovedFraction(uint32_t from, uint32_t to) {
  // By the Chinese remainder theorem each (old, new) pair with old = new (mod gcd) holds
  // exactly one residue modulo lcm; min(from, to) of those pairs keep their shard.
  const uint64_t lcm = std::lcm(uint64_t{from}, uint64_t{to});
  return 1.0 - static_cast<double>(std::min(from, to)) / static_cast<double>(lcm);
}

ReshardPlan planHashReshard(uint32_t from, uint32_t to) {
  ReshardPlan plan;
  plan.method = Method::kHash;
  plan.from_shards = from;
  plan.to_shards = to;
  plan.moved = hashMovedFraction(from, to);
  const uint32_t gcd = std::gcd(from, to);
  const double per_pair = 1.0 / static_cast<double>(std::lcm(uint64_t{from}, uint64_t{to}));
  for (uint32_t shard = 0; shard < to; ++shard) {
    ReshardPlan::Incoming incoming{shard, {}, 0};
    for (uint32_t source = shard % gcd; source < from; source += gcd) {
      if (source != shard) incoming.sources.push_back(source);
    }
    incoming.fraction = per_pair * static_cast<double>(incoming.sources.size());
    if (!incoming.sources.empty()) plan.incoming.push_back(std::move(incoming));
  }
  for (uint32_t count : cheaperCounts(from, to))
    plan.alternatives.push_back({count, hashMovedFraction(from, count)});
  return plan;
}

std::variant<ReshardPlan, std::string> planReshard(const ShardingSpec& from,
                                                   const ShardingSpec& to) {
  if (from.method != to.method)
    return "the sharding function changes (" + std::string(methodName(from.method)) + " to " +
           std::string(methodName(to.method)) + "): every row may move; copy all of them";
  if (from.key_types != to.key_types)
    return std::string("the sharding key's type changes: every row may move; copy all of them");
  if (from.method == Method::kHash) return planHashReshard(from.shards, to.shards);
  ReshardPlan plan;
  plan.method = from.method;
  plan.key_type = from.key_types.front();
  plan.from_shards = from.shards;
  plan.to_shards = to.shards;
  if (from.method == Method::kRange) {
    planRanges(from, to, &plan);
  } else {
    planLists(from, to, &plan);
  }
  return plan;
}

namespace {

std::string formatHashText(const ReshardPlan& plan, std::string_view key_column) {
  std::string out = "hash sharding, " + std::to_string(plan.from_shards) + " -> " +
                    std::to_string(plan.to_shards) + " shards: " + percent(*plan.moved) +
                    " of the keys move\n";
  for (const auto& incoming : plan.incoming) {
    out += "  to shard " + std::to_string(incoming.shard) + " (" + percent(incoming.fraction) +
           " of the keys) from shard";
    for (size_t i = 0; i < incoming.sources.size(); ++i)
      out += (i == 0 ? " " : ", ") + std::to_string(incoming.sources[i]);
    out += ": rows WHERE satisfies_hash_partition('scalegate_shard_key'::regclass, " +
           std::to_string(plan.to_shards) + ", " + std::to_string(incoming.shard) + ", " +
           std::string(key_column) + ")\n";
  }
  for (const auto& alternative : plan.alternatives) {
    out += "  " + std::to_string(alternative.shards) + " shards instead would move " +
           percent(alternative.moved) + "\n";
  }
  if (!plan.incoming.empty())
    out +=
        "  (scalegate_shard_key: an empty table PARTITION BY HASH on a column of the key's "
        "type, made on each old shard to evaluate the condition)\n";
  return out;
}

std::string formatRangeText(const ReshardPlan& plan) {
  std::string out =
      "range sharding, " + std::to_string(plan.segments.size()) + " key range(s) change shard\n";
  for (const auto& segment : plan.segments) {
    out += "  [" + formatBound(plan.key_type, segment.from) + ", " +
           formatBound(plan.key_type, segment.to) + "): " + shardText(segment.old_shard) + " -> " +
           shardText(segment.new_shard);
    if (segment.values) out += " (" + std::to_string(*segment.values) + " key values)";
    out += "\n";
  }
  return out;
}

std::string formatListText(const ReshardPlan& plan) {
  std::string out =
      "list sharding, " + std::to_string(plan.list_moves.size()) + " value(s) change shard\n";
  for (const auto& move : plan.list_moves) {
    out += "  " + (move.value ? formatKey(plan.key_type, *move.value) : "(every other value)") +
           ": " + shardText(move.old_shard) + " -> " + shardText(move.new_shard) + "\n";
  }
  return out;
}

boost::json::value boundJson(KeyType type, const RangeBound& bound) {
  if (bound.kind != RangeBound::Kind::kValue) return boost::json::string(formatBound(type, bound));
  if (isIntegral(type) && type != KeyType::kDate && type != KeyType::kTimestamp &&
      type != KeyType::kBoolean)
    return bound.value.integer;
  return boost::json::string(formatKey(type, bound.value));
}

void addMovesJson(const ReshardPlan& plan, boost::json::object& out) {
  boost::json::array moves;
  for (const auto& incoming : plan.incoming) {
    boost::json::array sources(incoming.sources.begin(), incoming.sources.end());
    moves.push_back({{"to_shard", incoming.shard},
                     {"from_shards", std::move(sources)},
                     {"modulus", plan.to_shards},
                     {"remainder", incoming.shard},
                     {"fraction", incoming.fraction}});
  }
  for (const auto& segment : plan.segments) {
    moves.push_back({{"from", boundJson(plan.key_type, segment.from)},
                     {"to", boundJson(plan.key_type, segment.to)},
                     {"old_shard", shardJson(segment.old_shard)},
                     {"new_shard", shardJson(segment.new_shard)},
                     {"values", segment.values ? boost::json::value(*segment.values) : nullptr}});
  }
  for (const auto& move : plan.list_moves) {
    moves.push_back(
        {{"value",
          move.value ? boundJson(plan.key_type, {RangeBound::Kind::kValue, *move.value}) : nullptr},
         {"old_shard", shardJson(move.old_shard)},
         {"new_shard", shardJson(move.new_shard)}});
  }
  out["moves"] = std::move(moves);
}

}  // namespace

std::string formatPlanText(const ReshardPlan& plan, std::string_view key_column) {
  switch (plan.method) {
    case Method::kHash:
      return formatHashText(plan, key_column);
    case Method::kRange:
      return formatRangeText(plan);
    case Method::kList:
      return formatListText(plan);
  }
  return {};
}

std::string formatPlanJson(const ReshardPlan& plan) {
  boost::json::object out;
  out["function"] = methodName(plan.method);
  out["from_shards"] = plan.from_shards;
  out["to_shards"] = plan.to_shards;
  out["moved_fraction"] = plan.moved ? boost::json::value(*plan.moved) : nullptr;
  addMovesJson(plan, out);
  boost::json::array alternatives;
  for (const auto& alternative : plan.alternatives)
    alternatives.push_back({{"shards", alternative.shards}, {"moved_fraction", alternative.moved}});
  out["alternatives"] = std::move(alternatives);
  return boost::json::serialize(out) + "\n";
}

}  // namespace sg::pg::shard

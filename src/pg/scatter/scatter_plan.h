#pragma once
// How one statement without a sharding key runs across every shard (issue 17, scatter-
// gather): the SQL each shard runs, and how the merger (merger.h) combines their results.
// Computed from PostgreSQL 15's parse tree (libpg_query); the per-shard SQL is the deparsed,
// rewritten tree, or the original text when nothing needed rewriting.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::pg::scatter {

// The `cross_shard` setting: deny refuses every statement without a key; merge runs the
// shapes the merger can combine exactly and refuses the rest; allow_unordered runs the rest
// too, as plain concatenation of the shards' results.
enum class CrossShardPolicy : uint8_t { kDeny, kMerge, kAllowUnordered };

enum class MergeKind : uint8_t {
  kAnyOneShard,  // reads no table (SELECT without FROM, VALUES): run it on any one shard
  kConcatenate,  // rows in arrival order (also writes under allow_unordered)
  kSorted,       // k-way merge of the shards' sorted rows
  kAggregate,    // groups combined by key, then sorted
};

// A shard result column: counted from the first column, or (hidden columns the planner
// appended after a `*` whose width it cannot know) from the last.
struct ColumnPosition {
  bool from_end = false;
  size_t index = 0;  // from_end: 0 is the last column
  bool operator==(const ColumnPosition&) const = default;
};

struct SortKey {
  ColumnPosition column;
  bool descending = false;
  bool nulls_first = false;  // PostgreSQL's default: NULLS LAST for ASC, FIRST for DESC
  bool operator==(const SortKey&) const = default;
};

// What a visible result column of an aggregate query is, and how shard values combine.
enum class ColumnRole : uint8_t { kGroupKey, kCount, kSum, kMin, kMax, kAvg };

struct AggregateColumn {
  ColumnRole role = ColumnRole::kGroupKey;
  size_t count_column = 0;  // kAvg: the hidden shard column holding count(x)
  bool operator==(const AggregateColumn&) const = default;
};

// LIMIT / OFFSET: absent, a constant, or a parameter ($n) whose bound value the caller has.
struct RowBound {
  enum class Kind : uint8_t { kNone, kConstant, kParameter };
  Kind kind = Kind::kNone;
  int64_t value = 0;  // kConstant
  int parameter = 0;  // kParameter: n of $n
  bool operator==(const RowBound&) const = default;
};

struct ScatterPlan {
  MergeKind kind = MergeKind::kConcatenate;
  std::string shard_sql;
  bool rewritten = false;     // shard_sql is deparsed from a changed tree
  size_t hidden_columns = 0;  // the last shard columns, never sent to the client
  std::vector<SortKey> sort;
  std::vector<AggregateColumn> aggregate;  // kAggregate: one per visible column
  bool grouped = false;                    // kAggregate: GROUP BY (no rows give no groups)
  RowBound limit;
  RowBound offset;
  // allow_unordered ran a shape the merger cannot combine: why (for logs); empty otherwise.
  std::string unordered_reason;
};

// A statement the caller must refuse: sent to the client as an ErrorResponse.
struct PlanError {
  std::string sqlstate;
  std::string message;
};

struct PlanResult {
  std::optional<ScatterPlan> plan;
  PlanError error;  // when !plan
};

// Never throws and never crashes on any input.
PlanResult planScatter(std::string_view sql, CrossShardPolicy policy);

// LIMIT and OFFSET for one execution; a parameter's bound value is its text (nullopt: NULL).
struct ResolvedBounds {
  std::optional<int64_t> limit;  // nullopt: no limit
  int64_t offset = 0;
};
// PostgreSQL's errors for negative or non-integer values (2201W, 2201X, 22P02).
std::optional<ResolvedBounds> resolveBounds(const ScatterPlan& plan,
                                            const std::vector<std::optional<std::string>>& params,
                                            PlanError* error);

}  // namespace sg::pg::scatter

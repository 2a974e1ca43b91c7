#pragma once
// The groups of an aggregate, GROUP BY or DISTINCT query, combined across shards: each
// shard's partial row for a group is folded into one accumulator per result column. Text and
// binary result columns both merge: binary sums and averages are computed on their text form
// and sent back in binary.
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pg/scatter/column_value.h"
#include "pg/scatter/numeric_text.h"
#include "pg/scatter/result_rows.h"
#include "pg/scatter/scatter_plan.h"

namespace sg::pg::scatter {

struct MergeError {
  std::string sqlstate;
  std::string message;
};

class GroupTable {
 public:
  // `columns`: the shard result's columns (hidden ones included); `plan.aggregate` empty means
  // DISTINCT: every visible column is a key.
  GroupTable(const ScatterPlan& plan, std::vector<FieldDescription> columns, size_t visible);

  // nullopt when the plan's aggregates can be computed over these column types.
  std::optional<MergeError> checkColumns() const;
  // The client's column for each visible column (avg becomes numeric or float8).
  std::vector<FieldDescription> clientColumns() const;

  std::optional<MergeError> add(const DataRow& row);
  size_t groups() const { return groups_.size(); }
  size_t bytes() const { return bytes_; }

  // Every group's client values; without GROUP BY and without rows, the one row PostgreSQL
  // gives (count 0, everything else NULL).
  std::optional<MergeError> finish(
      std::vector<std::vector<std::optional<std::string>>>* rows) const;

 private:
  struct Accumulator {
    bool has_value = false;
    Int128 integer = 0;  // int8 sums and counts
    NumericText numeric;
    double real = 0;
    float real4 = 0;
    std::optional<std::string> text;  // group keys, min, max
    Int128 count = 0;                 // avg's count
  };
  struct Group {
    std::vector<Accumulator> columns;
  };

  const ScatterPlan& plan_;
  std::vector<FieldDescription> columns_;
  size_t visible_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<Group> groups_;
  size_t bytes_ = 0;

  ColumnRole roleOf(size_t column) const;
  std::string keyOf(const DataRow& row) const;
  std::optional<MergeError> fold(Accumulator& into, size_t column, const DataRow& row) const;
  std::optional<MergeError> addToSum(Accumulator& into, uint32_t type_oid,
                                     std::string_view text) const;
  std::optional<std::string> textOf(size_t column, std::optional<std::string_view> value) const;
  std::optional<MergeError> output(const Accumulator& from, size_t column,
                                   const FieldDescription& client,
                                   std::optional<std::string>* value) const;
  std::optional<MergeError> outputText(const Accumulator& from, size_t column,
                                       std::optional<std::string>* text) const;
};

}  // namespace sg::pg::scatter

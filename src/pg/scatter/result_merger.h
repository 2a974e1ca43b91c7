#pragma once
// Combines the shards' answers to a scatter plan's SQL (scatter_plan.h) into the one answer
// the client gets: one RowDescription (hidden columns removed, the same on every shard or an
// error), the merged DataRows, one CommandComplete. The first ErrorResponse from any shard is
// the answer (the caller then cancels the other shards and drains them).
//
// Concatenation streams rows as they come; ORDER BY is a k-way merge of the shards' sorted
// rows (a row goes out once every shard has a row waiting or has ended); aggregates, GROUP BY
// and DISTINCT hold every group until all shards end, bounded by MergeLimits.
//
// Values are read in the format the shard sent them (text, or binary when a Bind asked for
// it: binary_value.h); a type the merger does not know is refused where the merge must read
// it, in either format. Text orders bytewise, as under the C collation: shards must use C collation
// for the merged order to be one server's order.
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pg/scatter/group_merge.h"
#include "pg/scatter/result_rows.h"
#include "pg/scatter/scatter_plan.h"

namespace sg::pg::scatter {

struct MergeLimits {
  size_t max_groups = 100000;                    // groups held for an aggregate query
  size_t max_buffered_bytes = size_t{64} << 20;  // rows and groups held at once
};

// The client's RowDescription for a shard's (hidden columns removed, avg retyped): what a
// Describe of the statement or portal answers. nullopt with *error when the shard's columns
// do not fit the plan.
std::optional<std::string> clientRowDescription(const ScatterPlan& plan,
                                                std::string_view shard_payload, MergeError* error);

class ResultMerger {
 public:
  // `shards` >= 1. Each shard's answer must begin with its RowDescription (for the extended
  // protocol the caller describes the portal on every shard) and hold all rows (Execute
  // without a row limit).
  ResultMerger(ScatterPlan plan, ResolvedBounds bounds, size_t shards, MergeLimits limits = {});
  ResultMerger(const ResultMerger&) = delete;  // the group table refers to plan_
  ResultMerger& operator=(const ResultMerger&) = delete;

  // The client did not ask for the RowDescription (an Execute without Describe): the merged
  // answer starts with its rows.
  void omitRowDescription() { send_description_ = false; }

  // One backend message of `shard`'s answer, up to (not including) ReadyForQuery:
  // RowDescription, DataRow, CommandComplete, EmptyQueryResponse, ErrorResponse,
  // NoticeResponse (passed on at once). Other messages are the caller's.
  void onMessage(size_t shard, char type, std::string_view payload);

  // Whole messages for the client produced so far; the caller sends them.
  std::string takeOutput();
  bool finished() const { return state_ == State::kFinished || state_ == State::kFailed; }
  bool failed() const { return state_ == State::kFailed; }
  // Rows held for ordering from this shard: the caller may stop reading a shard that is far
  // ahead (the others bound how soon its rows can go out).
  size_t bufferedRows(size_t shard) const { return shards_.at(shard).rows.size(); }

 private:
  enum class State : uint8_t { kDescribing, kMerging, kFinished, kFailed };
  struct Shard {
    bool described = false;
    bool ended = false;
    bool empty_query = false;
    std::vector<FieldDescription> fields;
    std::deque<DataRow> rows;  // waiting: before every shard described, or for the k-way merge
    std::string tag;
  };
  struct ResolvedKey {
    size_t column = 0;
    ValueOrder order = ValueOrder::kBytes;
    uint32_t type_oid = 0;
    bool binary = false;  // the column's values are in binary format
    SortKey key;
  };

  ScatterPlan plan_;
  ResolvedBounds bounds_;
  MergeLimits limits_;
  State state_ = State::kDescribing;
  std::vector<Shard> shards_;
  std::string output_;
  std::vector<FieldDescription> columns_;  // the shards' columns, hidden ones included
  size_t visible_ = 0;
  std::vector<ResolvedKey> keys_;
  std::optional<GroupTable> groups_;
  size_t skipped_ = 0;  // rows skipped for OFFSET
  size_t sent_ = 0;     // rows sent
  size_t buffered_bytes_ = 0;
  bool send_description_ = true;

  void setState(State next) { state_ = next; }
  void fail(std::string_view sqlstate, std::string_view message);
  void onRowDescription(Shard& shard, std::string_view payload);
  void onDataRow(Shard& shard, std::string_view payload);
  void onEnd(Shard& shard);
  bool allDescribedOrEnded() const;
  bool allEnded() const;
  void startMerging();
  bool checkShapes();
  bool resolveKeys(const std::vector<FieldDescription>& fields);
  void takeRow(Shard& shard, DataRow row);
  void drainSorted();
  void emitRow(const DataRow& row);
  void emitValues(const std::vector<std::optional<std::string_view>>& values);
  void finish();
  void finishGroups();
  std::string completionTag() const;
  template <typename RowA, typename RowB>
  int compareRows(const RowA& a, const RowB& b) const;
};

}  // namespace sg::pg::scatter

#include "pg/scatter/result_merger.h"

#include <algorithm>

#include "pg/scatter/binary_value.h"
#include "pg/wire.h"

namespace sg::pg::scatter {

namespace {

constexpr std::string_view kPrefix = "scalegate: cross-shard query: ";

// Values of a merged group row or of a DataRow, read the same way by compareRows.
std::optional<std::string_view> valueAt(const DataRow& row, size_t column) {
  return row.value(column);
}
std::optional<std::string_view> valueAt(const std::vector<std::optional<std::string>>& row,
                                        size_t column) {
  return row[column] ? std::optional<std::string_view>(*row[column]) : std::nullopt;
}

}  // namespace

std::optional<std::string> clientRowDescription(const ScatterPlan& plan,
                                                std::string_view shard_payload, MergeError* error) {
  std::optional<std::vector<FieldDescription>> fields = parseRowDescription(shard_payload);
  if (!fields || fields->size() < plan.hidden_columns) {
    *error = {"08P01", std::string(kPrefix) + "a shard's RowDescription does not fit the plan"};
    return std::nullopt;
  }
  const size_t visible = fields->size() - plan.hidden_columns;
  std::vector<FieldDescription> client(fields->begin(), fields->begin() + visible);
  if (plan.kind == MergeKind::kAggregate) {
    const GroupTable groups(plan, *fields, visible);
    if (std::optional<MergeError> refused = groups.checkColumns()) {
      *error = *refused;
      return std::nullopt;
    }
    client = groups.clientColumns();
  }
  std::string out;
  appendRowDescription(&out, client);
  return out;
}

ResultMerger::ResultMerger(ScatterPlan plan, ResolvedBounds bounds, size_t shards,
                           MergeLimits limits)
    : plan_(std::move(plan)), bounds_(bounds), limits_(limits), shards_(shards) {}

std::string ResultMerger::takeOutput() {
  std::string out;
  out.swap(output_);
  return out;
}

void ResultMerger::fail(std::string_view sqlstate, std::string_view message) {
  appendErrorResponse(&output_, "ERROR", sqlstate, message);
  setState(State::kFailed);
}

void ResultMerger::onMessage(size_t shard_index, char type, std::string_view payload) {
  if (finished() || shard_index >= shards_.size()) return;
  Shard& shard = shards_[shard_index];
  switch (type) {
    case 'T':
      return onRowDescription(shard, payload);
    case 'D':
      return onDataRow(shard, payload);
    case 'C':
      shard.tag = std::string(payload.substr(0, payload.find('\0')));
      return onEnd(shard);
    case 'I':
      shard.empty_query = true;
      return onEnd(shard);
    case 'E':  // the shard's own error is the answer, passed on as it came
      output_.push_back('E');
      appendInt32(&output_, static_cast<int32_t>(payload.size() + 4));
      output_ += payload;
      return setState(State::kFailed);
    case 'N':
      output_.push_back('N');
      appendInt32(&output_, static_cast<int32_t>(payload.size() + 4));
      output_ += payload;
      return;
    default:
      return;
  }
}

void ResultMerger::onRowDescription(Shard& shard, std::string_view payload) {
  std::optional<std::vector<FieldDescription>> fields = parseRowDescription(payload);
  if (!fields || shard.described || shard.ended) {
    return fail("08P01", std::string(kPrefix) + "a shard sent an unexpected RowDescription");
  }
  shard.fields = std::move(*fields);
  shard.described = true;
  if (state_ == State::kDescribing && allDescribedOrEnded()) startMerging();
}

void ResultMerger::onDataRow(Shard& shard, std::string_view payload) {
  std::optional<DataRow> row = DataRow::parse(std::string(payload));
  if (!row || !shard.described || shard.ended || row->size() != shard.fields.size()) {
    return fail("08P01", std::string(kPrefix) + "a shard sent a DataRow that does not match");
  }
  if (state_ == State::kDescribing) {
    buffered_bytes_ += row->payload().size();
    shard.rows.push_back(std::move(*row));
    if (buffered_bytes_ > limits_.max_buffered_bytes) {
      fail("54000", std::string(kPrefix) + "more than " +
                        std::to_string(limits_.max_buffered_bytes) + " bytes of rows to hold");
    }
    return;
  }
  takeRow(shard, std::move(*row));
}

void ResultMerger::onEnd(Shard& shard) {
  shard.ended = true;
  if (state_ == State::kDescribing && allDescribedOrEnded()) return startMerging();
  if (state_ != State::kMerging) return;
  if (plan_.kind == MergeKind::kSorted) drainSorted();
  if (state_ == State::kMerging && allEnded()) finish();
}

bool ResultMerger::allDescribedOrEnded() const {
  return std::all_of(shards_.begin(), shards_.end(),
                     [](const Shard& s) { return s.described || s.ended; });
}

bool ResultMerger::allEnded() const {
  return std::all_of(shards_.begin(), shards_.end(), [](const Shard& s) { return s.ended; });
}

// Every shard must describe the same columns; the first one's description is the client's.
bool ResultMerger::checkShapes() {
  const Shard* first = nullptr;
  for (const Shard& shard : shards_) {
    if (!shard.described) continue;
    if (first == nullptr) {
      first = &shard;
      continue;
    }
    const bool same =
        shard.fields.size() == first->fields.size() &&
        std::equal(shard.fields.begin(), shard.fields.end(), first->fields.begin(), sameShape);
    if (!same) {
      fail("42804", std::string(kPrefix) +
                        "the shards returned different result columns (names, types or formats); "
                        "their schemas differ");
      return false;
    }
  }
  if (first != nullptr) columns_ = first->fields;
  if (first != nullptr && columns_.size() < plan_.hidden_columns) {
    fail("XX000", std::string(kPrefix) + "the shards' result lacks the planner's hidden columns");
    return false;
  }
  visible_ = columns_.size() - (first != nullptr ? plan_.hidden_columns : 0);
  return true;
}

bool ResultMerger::resolveKeys(const std::vector<FieldDescription>& fields) {
  for (const SortKey& key : plan_.sort) {
    const size_t column =
        key.column.from_end ? columns_.size() - 1 - key.column.index : key.column.index;
    if (key.column.from_end ? key.column.index >= columns_.size() : column >= visible_) {
      fail("42P10", "ORDER BY position " + std::to_string(column + 1) + " is not in select list");
      return false;
    }
    const FieldDescription& field = fields[column];
    const ValueOrder order = valueOrderOf(field.type_oid);
    if (order == ValueOrder::kUnsupported) {
      fail("0A000", std::string(kPrefix) + "ORDER BY on values of type OID " +
                        std::to_string(field.type_oid) +
                        (field.format != 0 ? " in binary format" : "") +
                        " is not supported across shards");
      return false;
    }
    keys_.push_back({column, order, field.type_oid, field.format != 0, key});
  }
  return true;
}

void ResultMerger::startMerging() {
  if (!checkShapes()) return;
  const bool described =
      std::any_of(shards_.begin(), shards_.end(), [](const Shard& s) { return s.described; });
  std::vector<FieldDescription> client(columns_.begin(), columns_.begin() + visible_);
  if (described && plan_.kind == MergeKind::kAggregate) {
    groups_.emplace(plan_, columns_, visible_);
    if (std::optional<MergeError> error = groups_->checkColumns()) {
      return fail(error->sqlstate, error->message);
    }
    client = groups_->clientColumns();
  }
  if (described && !resolveKeys(plan_.kind == MergeKind::kAggregate ? client : columns_)) return;
  if (described && send_description_) appendRowDescription(&output_, client);
  setState(State::kMerging);
  buffered_bytes_ = 0;
  for (Shard& shard : shards_) {
    std::deque<DataRow> waiting;
    waiting.swap(shard.rows);
    for (DataRow& row : waiting) {
      if (state_ != State::kMerging) return;
      takeRow(shard, std::move(row));
    }
  }
  if (state_ != State::kMerging) return;
  if (plan_.kind == MergeKind::kSorted) drainSorted();
  if (state_ == State::kMerging && allEnded()) finish();
}

void ResultMerger::takeRow(Shard& shard, DataRow row) {
  if (plan_.kind == MergeKind::kAggregate) {
    if (std::optional<MergeError> error = groups_->add(row)) {
      return fail(error->sqlstate, error->message);
    }
    if (groups_->groups() > limits_.max_groups || groups_->bytes() > limits_.max_buffered_bytes) {
      fail("54000", std::string(kPrefix) + "more than " + std::to_string(limits_.max_groups) +
                        " groups or " + std::to_string(limits_.max_buffered_bytes) +
                        " bytes of groups to merge");
    }
    return;
  }
  if (plan_.kind != MergeKind::kSorted) return emitRow(row);
  buffered_bytes_ += row.payload().size();
  shard.rows.push_back(std::move(row));
  if (buffered_bytes_ > limits_.max_buffered_bytes) {
    return fail("54000", std::string(kPrefix) + "more than " +
                             std::to_string(limits_.max_buffered_bytes) +
                             " bytes of rows waiting for the ORDER BY merge");
  }
  drainSorted();
}

template <typename RowA, typename RowB>
int ResultMerger::compareRows(const RowA& a, const RowB& b) const {
  for (const ResolvedKey& k : keys_) {
    const std::optional<std::string_view> x = valueAt(a, k.column);
    const std::optional<std::string_view> y = valueAt(b, k.column);
    if (!x || !y) {
      if (!x && !y) continue;
      return (!x == k.key.nulls_first) ? -1 : 1;
    }
    const int order =
        k.binary ? compareBinaryValues(k.type_oid, *x, *y) : compareValues(k.order, *x, *y);
    if (order != 0) return k.key.descending ? -order : order;
  }
  return 0;
}

// A row can go out once every shard has a row waiting or has ended: the smallest head is
// then the smallest row still to come. Ties go to the lower shard (a stable merge).
void ResultMerger::drainSorted() {
  while (state_ == State::kMerging) {
    Shard* best = nullptr;
    for (Shard& shard : shards_) {
      if (shard.rows.empty()) {
        if (!shard.ended) return;
        continue;
      }
      if (best == nullptr || compareRows(shard.rows.front(), best->rows.front()) < 0) best = &shard;
    }
    if (best == nullptr) return;
    buffered_bytes_ -= best->rows.front().payload().size();
    emitRow(best->rows.front());
    best->rows.pop_front();
  }
}

void ResultMerger::emitRow(const DataRow& row) {
  if (skipped_ < static_cast<uint64_t>(bounds_.offset)) {
    ++skipped_;
    return;
  }
  if (bounds_.limit && sent_ >= static_cast<uint64_t>(*bounds_.limit)) return;
  ++sent_;
  if (visible_ == row.size()) {
    output_.push_back('D');
    appendInt32(&output_, static_cast<int32_t>(row.payload().size() + 4));
    output_ += row.payload();
    return;
  }
  std::vector<std::optional<std::string_view>> values;
  for (size_t i = 0; i < visible_; ++i) values.push_back(row.value(i));
  appendDataRow(&output_, values);
}

void ResultMerger::emitValues(const std::vector<std::optional<std::string_view>>& values) {
  if (skipped_ < static_cast<uint64_t>(bounds_.offset)) {
    ++skipped_;
    return;
  }
  if (bounds_.limit && sent_ >= static_cast<uint64_t>(*bounds_.limit)) return;
  ++sent_;
  appendDataRow(&output_, values);
}

void ResultMerger::finishGroups() {
  std::vector<std::vector<std::optional<std::string>>> rows;
  if (std::optional<MergeError> error = groups_->finish(&rows)) {
    return fail(error->sqlstate, error->message);
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [this](const auto& a, const auto& b) { return compareRows(a, b) < 0; });
  for (const auto& row : rows) {
    std::vector<std::optional<std::string_view>> values;
    for (const auto& value : row) {
      values.push_back(value ? std::optional<std::string_view>(*value) : std::nullopt);
    }
    emitValues(values);
  }
}

// "SELECT n" counts the rows sent; writes (allow_unordered) add up the shards' counts.
std::string ResultMerger::completionTag() const {
  const bool described =
      std::any_of(shards_.begin(), shards_.end(), [](const Shard& s) { return s.described; });
  const std::string& first = shards_.front().tag;
  const size_t space = first.rfind(' ');
  if (space == std::string::npos) return first;
  const std::string prefix = first.substr(0, space);
  if (described && prefix == "SELECT") return "SELECT " + std::to_string(sent_);
  uint64_t total = 0;
  for (const Shard& shard : shards_) {
    const size_t at = shard.tag.rfind(' ');
    if (at == std::string::npos || shard.tag.substr(0, at) != prefix) return first;
    total +=
        static_cast<uint64_t>(parseInt64(std::string_view(shard.tag).substr(at + 1)).value_or(0));
  }
  return prefix + " " + std::to_string(total);
}

void ResultMerger::finish() {
  if (plan_.kind == MergeKind::kAggregate && groups_) finishGroups();
  if (state_ != State::kMerging) return;
  if (std::all_of(shards_.begin(), shards_.end(), [](const Shard& s) { return s.empty_query; })) {
    output_ += std::string("I\0\0\0\4", 5);
  } else {
    appendCommandComplete(&output_, completionTag());
  }
  setState(State::kFinished);
}

}  // namespace sg::pg::scatter

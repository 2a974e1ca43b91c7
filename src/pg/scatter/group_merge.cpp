#include "pg/scatter/group_merge.h"

#include "pg/scatter/binary_value.h"
#include "pg/wire.h"

namespace sg::pg::scatter {

namespace {

constexpr std::string_view kPrefix = "scalegate: cross-shard query: ";

MergeError notSupported(const std::string& what) {
  return {"0A000", std::string(kPrefix) + what + " across shards"};
}

bool isSummable(uint32_t oid) {
  return oid == type_oid::kInt8 || oid == type_oid::kNumeric || oid == type_oid::kFloat8 ||
         oid == type_oid::kFloat4;
}

}  // namespace

GroupTable::GroupTable(const ScatterPlan& plan, std::vector<FieldDescription> columns,
                       size_t visible)
    : plan_(plan), columns_(std::move(columns)), visible_(visible) {}

ColumnRole GroupTable::roleOf(size_t column) const {
  return plan_.aggregate.empty() ? ColumnRole::kGroupKey : plan_.aggregate[column].role;
}

std::optional<MergeError> GroupTable::checkColumns() const {
  if (!plan_.aggregate.empty() && plan_.aggregate.size() != visible_) {
    return MergeError{"XX000", std::string(kPrefix) + "the shards' result has " +
                                   std::to_string(visible_) + " columns, the plan " +
                                   std::to_string(plan_.aggregate.size())};
  }
  for (size_t i = 0; i < visible_; ++i) {
    const ColumnRole role = roleOf(i);
    const FieldDescription& field = columns_[i];
    if (role == ColumnRole::kGroupKey) continue;
    const std::string oid = std::to_string(field.type_oid);
    if ((role == ColumnRole::kSum || role == ColumnRole::kAvg) && !isSummable(field.type_oid)) {
      return notSupported("sum and avg over values of type OID " + oid + " are not supported");
    }
    if (role == ColumnRole::kAvg && field.type_oid == type_oid::kFloat4) {
      return notSupported("avg(real) is not supported (cast to double precision)");
    }
    if ((role == ColumnRole::kMin || role == ColumnRole::kMax) &&
        valueOrderOf(field.type_oid) == ValueOrder::kUnsupported) {
      return notSupported("min and max over values of type OID " + oid + " are not supported");
    }
  }
  return std::nullopt;
}

std::vector<FieldDescription> GroupTable::clientColumns() const {
  std::vector<FieldDescription> fields(columns_.begin(), columns_.begin() + visible_);
  for (size_t i = 0; i < visible_; ++i) {
    if (roleOf(i) != ColumnRole::kAvg) continue;
    // avg of integers and numerics is numeric, of float8 is float8 (sum's type on the shard).
    const bool real = fields[i].type_oid == type_oid::kFloat8;
    fields[i].type_oid = real ? type_oid::kFloat8 : type_oid::kNumeric;
    fields[i].type_size = real ? 8 : -1;
    fields[i].type_modifier = -1;
    fields[i].table_oid = 0;
    fields[i].column_number = 0;
  }
  return fields;
}

// Length-prefixed key values; numeric keys normalized so 1.0 and 1.00 are one group, as
// numeric equality makes them on one server (and float -0 and 0; binary floats and numerics
// are read as their text first). Other keys group by their text or binary value: equal for
// equal values of the types the merger knows.
std::string GroupTable::keyOf(const DataRow& row) const {
  std::string key;
  for (size_t i = 0; i < visible_; ++i) {
    if (roleOf(i) != ColumnRole::kGroupKey) continue;
    const std::optional<std::string_view> value = row.value(i);
    if (!value) {
      appendInt32(&key, -1);
      continue;
    }
    const uint32_t oid = columns_[i].type_oid;
    const bool is_float = oid == type_oid::kFloat8 || oid == type_oid::kFloat4;
    std::string text(*value);
    if (columns_[i].format != 0 && (is_float || oid == type_oid::kNumeric)) {
      text = binaryToText(oid, *value).value_or(text);
    }
    if (is_float && text == "-0") text = "0";  // -0 = 0 for float equality
    if (oid == type_oid::kNumeric) {
      if (NumericText::parse(text)) {
        while (text.find('.') != std::string::npos && (text.back() == '0' || text.back() == '.')) {
          const bool point = text.back() == '.';
          text.pop_back();
          if (point) break;
        }
        if (text == "-0") text = "0";
      }
    }
    appendInt32(&key, static_cast<int32_t>(text.size()));
    key += text;
  }
  return key;
}

std::optional<MergeError> GroupTable::add(const DataRow& row) {
  if (row.size() != columns_.size()) {
    return MergeError{"08P01", std::string(kPrefix) + "a shard's row does not match its columns"};
  }
  const std::string key = keyOf(row);
  auto [at, inserted] = index_.try_emplace(key, groups_.size());
  if (inserted) {
    groups_.push_back(Group{std::vector<Accumulator>(visible_)});
    bytes_ += key.size() + visible_ * sizeof(Accumulator) + 64;
  }
  Group& group = groups_[at->second];
  for (size_t i = 0; i < visible_; ++i) {
    if (std::optional<MergeError> error = fold(group.columns[i], i, row)) return error;
  }
  return std::nullopt;
}

std::optional<MergeError> GroupTable::addToSum(Accumulator& into, uint32_t type_oid,
                                               std::string_view text) const {
  const bool first = !into.has_value;
  into.has_value = true;
  switch (type_oid) {
    case type_oid::kInt8: {
      const std::optional<int64_t> value = parseInt64(text);
      if (!value) break;
      into.integer += *value;
      return std::nullopt;
    }
    case type_oid::kNumeric: {
      const std::optional<NumericText> value = NumericText::parse(text);
      if (!value) break;
      into.numeric = first ? *value : NumericText::add(into.numeric, *value);
      return std::nullopt;
    }
    case type_oid::kFloat4: {
      const std::optional<float> value = parseFloat4(text);
      if (!value) break;
      into.real4 += *value;  // float4 arithmetic, as float4pl sums on one server
      return std::nullopt;
    }
    default: {  // float8 (checkColumns allowed no other type)
      const std::optional<double> value = parseFloat8(text);
      if (!value) break;
      into.real += *value;
      return std::nullopt;
    }
  }
  return MergeError{"22P02", std::string(kPrefix) + "a shard returned \"" + std::string(text) +
                                 "\" for a sum of type OID " + std::to_string(type_oid)};
}

std::optional<MergeError> GroupTable::fold(Accumulator& into, size_t column,
                                           const DataRow& row) const {
  const std::optional<std::string_view> value = row.value(column);
  const ColumnRole role = roleOf(column);
  if (role == ColumnRole::kGroupKey) {
    if (!into.has_value && value) into.text = std::string(*value);
    into.has_value = true;
    return std::nullopt;
  }
  if (role == ColumnRole::kAvg) {
    const size_t count_column = plan_.aggregate[column].count_column;
    const std::optional<std::string> count = textOf(count_column, row.value(count_column));
    into.count += count ? parseInt64(*count).value_or(0) : 0;
  }
  if (!value) return std::nullopt;  // sum, min, max and avg skip a shard's NULL (no rows)
  const uint32_t oid = columns_[column].type_oid;
  if (role == ColumnRole::kMin || role == ColumnRole::kMax) {
    const int order = !into.text ? 0
                      : columns_[column].format != 0
                          ? compareBinaryValues(oid, *value, *into.text)
                          : compareValues(valueOrderOf(oid), *value, *into.text);
    if (!into.text || (role == ColumnRole::kMin ? order < 0 : order > 0)) {
      into.text = std::string(*value);
    }
    into.has_value = true;
    return std::nullopt;
  }
  const std::optional<std::string> text = textOf(column, value);
  if (!text) {
    return MergeError{"22P02", std::string(kPrefix) +
                                   "a shard sent a malformed binary value of type OID " +
                                   std::to_string(oid)};
  }
  return addToSum(into, role == ColumnRole::kCount ? type_oid::kInt8 : oid, *text);
}

// A count, sum or avg's value as text: binary values decoded to the text form the
// arithmetic reads (nullopt for NULL or a malformed binary value).
std::optional<std::string> GroupTable::textOf(size_t column,
                                              std::optional<std::string_view> value) const {
  if (!value) return std::nullopt;
  if (columns_[column].format == 0) return std::string(*value);
  return binaryToText(columns_[column].type_oid, *value);
}

// A computed count, sum or avg goes out in the column's format (its client type for avg);
// keys, min and max are a shard's own value, already in that format.
std::optional<MergeError> GroupTable::output(const Accumulator& from, size_t column,
                                             const FieldDescription& client,
                                             std::optional<std::string>* value) const {
  if (std::optional<MergeError> error = outputText(from, column, value)) return error;
  const ColumnRole role = roleOf(column);
  const bool computed =
      role == ColumnRole::kCount || role == ColumnRole::kSum || role == ColumnRole::kAvg;
  if (!computed || client.format == 0 || !*value) return std::nullopt;
  const uint32_t oid = role == ColumnRole::kCount ? type_oid::kInt8 : client.type_oid;
  *value = textToBinary(oid, **value);
  if (!*value) {
    return MergeError{"XX000", std::string(kPrefix) + "cannot send a merged value of type OID " +
                                   std::to_string(oid) + " in binary format"};
  }
  return std::nullopt;
}

std::optional<MergeError> GroupTable::outputText(const Accumulator& from, size_t column,
                                                 std::optional<std::string>* text) const {
  const ColumnRole role = roleOf(column);
  const uint32_t oid = columns_[column].type_oid;
  *text = std::nullopt;
  if (role == ColumnRole::kGroupKey || role == ColumnRole::kMin || role == ColumnRole::kMax) {
    *text = from.text;
    return std::nullopt;
  }
  if (role == ColumnRole::kCount) {
    *text = NumericText::fromInt(from.integer).toString();
    return std::nullopt;
  }
  if (role == ColumnRole::kAvg) {
    if (from.count == 0 || !from.has_value) return std::nullopt;
    if (oid == type_oid::kFloat8) {
      *text = formatFloat8(from.real / static_cast<double>(from.count));
      return std::nullopt;
    }
    const NumericText sum =
        oid == type_oid::kInt8 ? NumericText::fromInt(from.integer) : from.numeric;
    *text = NumericText::divide(sum, NumericText::fromInt(from.count))->toString();
    return std::nullopt;
  }
  if (!from.has_value) return std::nullopt;
  if (oid == type_oid::kInt8) {
    if (from.integer > INT64_MAX || from.integer < INT64_MIN) {
      return MergeError{"22003", "bigint out of range"};
    }
    *text = NumericText::fromInt(from.integer).toString();
  } else if (oid == type_oid::kNumeric) {
    *text = from.numeric.toString();
  } else if (oid == type_oid::kFloat8) {
    *text = formatFloat8(from.real);
  } else {
    *text = formatFloat4(from.real4);
  }
  return std::nullopt;
}

std::optional<MergeError> GroupTable::finish(
    std::vector<std::vector<std::optional<std::string>>>* rows) const {
  rows->clear();
  if (groups_.empty() && !plan_.grouped) {
    std::vector<std::optional<std::string>> row(visible_);
    for (size_t i = 0; i < visible_; ++i) {
      if (roleOf(i) != ColumnRole::kCount) continue;
      row[i] = columns_[i].format == 0 ? "0" : *textToBinary(type_oid::kInt8, "0");
    }
    rows->push_back(std::move(row));
    return std::nullopt;
  }
  const std::vector<FieldDescription> client = clientColumns();
  for (const Group& group : groups_) {
    std::vector<std::optional<std::string>> row(visible_);
    for (size_t i = 0; i < visible_; ++i) {
      if (std::optional<MergeError> error = output(group.columns[i], i, client[i], &row[i])) {
        return error;
      }
    }
    rows->push_back(std::move(row));
  }
  return std::nullopt;
}

}  // namespace sg::pg::scatter

#include "pg/scatter/result_rows.h"

#include "pg/wire.h"

namespace sg::pg::scatter {

bool sameShape(const FieldDescription& a, const FieldDescription& b) {
  return a.name == b.name && a.type_oid == b.type_oid && a.type_size == b.type_size &&
         a.type_modifier == b.type_modifier && a.format == b.format;
}

std::optional<std::vector<FieldDescription>> parseRowDescription(std::string_view payload) {
  PayloadReader reader(payload);
  int16_t count = 0;
  if (!reader.readInt16(&count) || count < 0) return std::nullopt;
  std::vector<FieldDescription> fields(static_cast<size_t>(count));
  for (FieldDescription& field : fields) {
    std::string_view name;
    int32_t type_oid = 0;
    if (!reader.readString(&name) || !reader.readInt32(&field.table_oid) ||
        !reader.readInt16(&field.column_number) || !reader.readInt32(&type_oid) ||
        !reader.readInt16(&field.type_size) || !reader.readInt32(&field.type_modifier) ||
        !reader.readInt16(&field.format)) {
      return std::nullopt;
    }
    field.name = std::string(name);
    field.type_oid = static_cast<uint32_t>(type_oid);
  }
  if (!reader.atEnd()) return std::nullopt;
  return fields;
}

void appendRowDescription(std::string* out, const std::vector<FieldDescription>& fields) {
  std::string body;
  appendInt16(&body, static_cast<int16_t>(fields.size()));
  for (const FieldDescription& field : fields) {
    body += field.name;
    body.push_back('\0');
    appendInt32(&body, field.table_oid);
    appendInt16(&body, field.column_number);
    appendInt32(&body, static_cast<int32_t>(field.type_oid));
    appendInt16(&body, field.type_size);
    appendInt32(&body, field.type_modifier);
    appendInt16(&body, field.format);
  }
  out->push_back('T');
  appendInt32(out, static_cast<int32_t>(body.size() + 4));
  *out += body;
}

std::optional<DataRow> DataRow::parse(std::string payload) {
  DataRow row;
  PayloadReader reader(payload);
  int16_t count = 0;
  if (!reader.readInt16(&count) || count < 0) return std::nullopt;
  row.values_.resize(static_cast<size_t>(count));
  for (Span& span : row.values_) {
    if (!reader.readInt32(&span.length)) return std::nullopt;
    span.offset = static_cast<int32_t>(payload.size() - reader.remaining());
    std::string_view bytes;
    if (span.length >= 0 && !reader.readBytes(static_cast<size_t>(span.length), &bytes)) {
      return std::nullopt;
    }
    if (span.length < -1) return std::nullopt;
  }
  if (!reader.atEnd()) return std::nullopt;
  row.payload_ = std::move(payload);
  return row;
}

std::optional<std::string_view> DataRow::value(size_t column) const {
  const Span& span = values_.at(column);
  if (span.length < 0) return std::nullopt;
  return std::string_view(payload_).substr(static_cast<size_t>(span.offset),
                                           static_cast<size_t>(span.length));
}

void appendDataRow(std::string* out, const std::vector<std::optional<std::string_view>>& values) {
  size_t length = 4 + 2;
  for (const auto& value : values) length += 4 + (value ? value->size() : 0);
  out->push_back('D');
  appendInt32(out, static_cast<int32_t>(length));
  appendInt16(out, static_cast<int16_t>(values.size()));
  for (const auto& value : values) {
    appendInt32(out, value ? static_cast<int32_t>(value->size()) : -1);
    if (value) *out += *value;
  }
}

}  // namespace sg::pg::scatter

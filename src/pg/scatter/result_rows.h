#pragma once
// RowDescription and DataRow messages as the merger reads and writes them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::pg::scatter {

struct FieldDescription {
  std::string name;
  int32_t table_oid = 0;
  int16_t column_number = 0;
  uint32_t type_oid = 0;
  int16_t type_size = 0;
  int32_t type_modifier = 0;
  int16_t format = 0;  // 0 text, 1 binary
};

// The same column as far as the client can tell (table OIDs differ between databases).
bool sameShape(const FieldDescription& a, const FieldDescription& b);

std::optional<std::vector<FieldDescription>> parseRowDescription(std::string_view payload);
void appendRowDescription(std::string* out, const std::vector<FieldDescription>& fields);

// One DataRow, its payload kept and its values located once.
class DataRow {
 public:
  static std::optional<DataRow> parse(std::string payload);
  size_t size() const { return values_.size(); }
  // nullopt for NULL.
  std::optional<std::string_view> value(size_t column) const;
  const std::string& payload() const { return payload_; }

 private:
  struct Span {
    int32_t offset = 0;
    int32_t length = -1;  // -1: NULL
  };
  std::string payload_;
  std::vector<Span> values_;
};

void appendDataRow(std::string* out, const std::vector<std::optional<std::string_view>>& values);

}  // namespace sg::pg::scatter

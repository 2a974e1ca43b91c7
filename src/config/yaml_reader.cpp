#include "config/yaml_reader.h"

#include <algorithm>
#include <array>
#include <limits>

#include "config/units.h"

namespace sg::config::detail {

namespace {

constexpr size_t kMaxQuoted = 80;
constexpr size_t kMaxReason = 240;
constexpr size_t kMaxSuggestLength = 64;

int oneBased(int zero_based) { return zero_based < 0 ? 0 : zero_based + 1; }

std::string joinPath(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// Levenshtein distance, for "did you mean" on misspelt keys.
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view key, const std::vector<std::string_view>& allowed) {
  if (key.size() > kMaxSuggestLength) return "";
  std::string_view best;
  size_t best_distance = std::max<size_t>(2, key.size() / 3) + 1;
  for (std::string_view candidate : allowed) {
    size_t distance = editDistance(key, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best.empty() ? "" : "; did you mean '" + std::string(best) + "'?";
}

std::string joinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// True for "<digits><suffix>" with a known suffix: such text failed only because it is too big.
template <size_t N>
bool isNumberWithUnit(std::string_view text, const std::array<std::string_view, N>& suffixes) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return false;
  std::string_view suffix = text.substr(digits);
  return std::find(suffixes.begin(), suffixes.end(), suffix) != suffixes.end();
}

const std::string* scalarOrReport(ErrorSink& errors, const Field& field,
                                  std::string_view expected) {
  if (!field.value.IsScalar()) {
    errors.add(field.mark(), field.path,
               "expected " + std::string(expected) + ", got " + describeNode(field.value));
    return nullptr;
  }
  return &field.value.Scalar();
}

}  // namespace

void ErrorSink::add(const YAML::Mark& mark, const std::string& message) {
  if (errors_.size() >= kMaxErrors) {
    truncated_ = true;
    return;
  }
  errors_.push_back(ConfigError{file_, oneBased(mark.line), oneBased(mark.column), message});
}

void ErrorSink::add(const YAML::Mark& mark, const std::string& path, const std::string& message) {
  add(mark, path.empty() ? message : path + ": " + message);
}

std::vector<ConfigError> ErrorSink::take() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  if (truncated_) {
    errors_.push_back(
        ConfigError{file_, 0, 0, "too many errors; stopped after " + std::to_string(kMaxErrors)});
  }
  return std::move(errors_);
}

YAML::Mark Field::mark() const {
  if (has_key && (!value.IsDefined() || value.IsNull())) return key.Mark();
  return value.Mark();
}

MapReader::MapReader(ErrorSink& errors, const Field& field,
                     std::initializer_list<std::string_view> allowed)
    : errors_(errors), self_(field), allowed_(allowed) {
  if (!field.value.IsMap()) {
    errors_.add(field.mark(), field.path, "expected a map, got " + describeNode(field.value));
    return;
  }
  valid_ = true;
  for (auto it = field.value.begin(); it != field.value.end(); ++it)
    checkKey(it->first, it->second);
}

void MapReader::checkKey(const YAML::Node& key, const YAML::Node& value) {
  if (!key.IsScalar()) {
    const YAML::Node& at = key.IsNull() ? value : key;
    errors_.add(at.Mark(), self_.path, "keys must be plain words, got " + describeNode(key));
    return;
  }
  const std::string& name = key.Scalar();
  if (std::find(allowed_.begin(), allowed_.end(), name) == allowed_.end()) {
    reportUnknown(key, name);
    return;
  }
  for (const Field& seen : fields_) {
    if (seen.key.Scalar() != name) continue;
    errors_.add(key.Mark(), joinPath(self_.path, name),
                "duplicate key " + quoted(name) + " (first set on line " +
                    std::to_string(oneBased(seen.key.Mark().line)) + ")");
    return;
  }
  fields_.push_back(Field{key, value, joinPath(self_.path, name), true});
}

void MapReader::reportUnknown(const YAML::Node& key, const std::string& name) {
  std::string message = "unknown key " + quoted(name);
  if (name == "<<") {
    message += " (YAML merge keys are not supported)";
  } else {
    message += suggestion(name, allowed_);
  }
  message += " (valid keys: " + joinNames(allowed_) + ")";
  errors_.add(key.Mark(), joinPath(self_.path, name), message);
}

const Field* MapReader::find(std::string_view key) const {
  for (const Field& field : fields_) {
    if (field.key.Scalar() == key) return &field;
  }
  return nullptr;
}

const Field* MapReader::require(std::string_view key) {
  if (!valid_) return nullptr;
  const Field* field = find(key);
  if (field == nullptr) {
    errors_.add(self_.mark(), self_.path, "missing required key '" + std::string(key) + "'");
  }
  return field;
}

std::vector<Field> sequenceItems(ErrorSink& errors, const Field& field) {
  std::vector<Field> items;
  if (!field.value.IsSequence()) {
    errors.add(field.mark(), field.path, "expected a list, got " + describeNode(field.value));
    return items;
  }
  size_t index = 0;
  for (auto it = field.value.begin(); it != field.value.end(); ++it, ++index) {
    items.push_back(
        Field{YAML::Node(), *it, field.path + "[" + std::to_string(index) + "]", false});
  }
  return items;
}

std::string describeNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "an empty value";
    case YAML::NodeType::Scalar:
      return quoted(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string quoted(std::string_view text) { return "'" + printable(text, kMaxQuoted) + "'"; }

std::string printable(std::string_view text, size_t limit) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == limit) {
      out += "...";
      break;
    }
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += static_cast<char>(byte);
    }
  }
  return out;
}

bool readString(ErrorSink& errors, const Field* field, std::string* out) {
  if (field == nullptr) return false;
  const std::string* text = scalarOrReport(errors, *field, "a string");
  if (text == nullptr) return false;
  *out = *text;
  return true;
}

bool readBool(ErrorSink& errors, const Field* field, bool* out) {
  if (field == nullptr) return false;
  const std::string* text = scalarOrReport(errors, *field, "true or false");
  if (text == nullptr) return false;
  // Only YAML 1.2's spellings: "yes"/"on"/"y" being booleans surprises people.
  if (*text == "true" || *text == "True" || *text == "TRUE") {
    *out = true;
  } else if (*text == "false" || *text == "False" || *text == "FALSE") {
    *out = false;
  } else {
    errors.add(field->mark(), field->path, "expected true or false, got " + quoted(*text));
    return false;
  }
  return true;
}

bool readUint(ErrorSink& errors, const Field* field, uint64_t min, uint64_t max, uint64_t* out) {
  if (field == nullptr) return false;
  std::string expected = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  const std::string* text = scalarOrReport(errors, *field, expected);
  if (text == nullptr) return false;
  auto value = parseUnsigned(*text);
  if (!value || *value < min || *value > max) {
    errors.add(field->mark(), field->path, "expected " + expected + ", got " + quoted(*text));
    return false;
  }
  *out = *value;
  return true;
}

bool readUint32(ErrorSink& errors, const Field* field, uint32_t min, uint32_t max, uint32_t* out) {
  uint64_t value = 0;
  if (!readUint(errors, field, min, max, &value)) return false;
  *out = static_cast<uint32_t>(value);
  return true;
}

bool readDuration(ErrorSink& errors, const Field* field, Duration* out, bool allow_zero) {
  if (field == nullptr) return false;
  const std::string* text = scalarOrReport(errors, *field, "a duration (e.g. 250ms, 2s, 1m)");
  if (text == nullptr) return false;
  auto value = parseDuration(*text);
  if (!value) {
    static constexpr std::array<std::string_view, 4> kUnits{"ms", "s", "m", "h"};
    errors.add(field->mark(), field->path,
               isNumberWithUnit(*text, kUnits)
                   ? "duration " + quoted(*text) + " is too large"
                   : "invalid duration " + quoted(*text) + " (use e.g. 250ms, 2s, 1m)");
    return false;
  }
  if (!allow_zero && *value == Duration::zero()) {
    errors.add(field->mark(), field->path, "must be greater than zero");
    return false;
  }
  *out = *value;
  return true;
}

bool readSize(ErrorSink& errors, const Field* field, uint64_t min, uint64_t max, uint64_t* out) {
  if (field == nullptr) return false;
  const std::string* text = scalarOrReport(errors, *field, "a size (e.g. 512, 16KiB, 1MiB)");
  if (text == nullptr) return false;
  auto value = parseSize(*text);
  if (!value) {
    static constexpr std::array<std::string_view, 11> kUnits{"",   "B",   "K", "KB", "KiB", "M",
                                                             "MB", "MiB", "G", "GB", "GiB"};
    errors.add(field->mark(), field->path,
               isNumberWithUnit(*text, kUnits)
                   ? "size " + quoted(*text) + " is too large"
                   : "invalid size " + quoted(*text) + " (use e.g. 512, 16KiB, 1MiB)");
    return false;
  }
  if (*value < min || *value > max) {
    errors.add(field->mark(), field->path,
               "size " + quoted(*text) + " must be between " + formatSize(min) + " and " +
                   formatSize(max));
    return false;
  }
  *out = *value;
  return true;
}

bool readAddress(ErrorSink& errors, const Field* field, net::Address* out) {
  if (field == nullptr) return false;
  const std::string* text = scalarOrReport(errors, *field, "an address (e.g. 127.0.0.1:8080)");
  if (text == nullptr) return false;
  std::string reason;
  // Control bytes (NUL above all) would be cut off by the C socket API, silently turning
  // "127.0.0.1\0junk" into a valid address.
  bool clean = std::none_of(text->begin(), text->end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  auto address = clean ? net::Address::parse(*text, &reason) : std::nullopt;
  if (!address) {
    if (!clean) reason = "it contains control characters";
    errors.add(field->mark(), field->path,
               "invalid address " + quoted(*text) + ": " + printable(reason, kMaxReason));
    return false;
  }
  *out = *address;
  return true;
}

}  // namespace sg::config::detail

#pragma once
// Internal helpers for walking a yaml-cpp tree against the config schema: an error sink
// that keeps every error with its position, a map reader that rejects unknown and
// duplicate keys, and typed scalar readers. Nothing here throws for bad input; every
// problem becomes a ConfigError and the walk carries on so all errors are reported at once.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace sg::config::detail {

// Past this many errors more are dropped: aliases let a tiny file expand into millions of
// nodes, and nobody reads the thousandth error anyway.
inline constexpr size_t kMaxErrors = 1000;

class ErrorSink {
 public:
  explicit ErrorSink(std::string file) : file_(std::move(file)) {}

  // mark is yaml-cpp's 0-based position; stored 1-based (0 when yaml-cpp has none).
  void add(const YAML::Mark& mark, const std::string& message);
  // "path: message", or just message when path is empty.
  void add(const YAML::Mark& mark, const std::string& path, const std::string& message);

  bool empty() const { return errors_.empty(); }
  size_t count() const { return errors_.size(); }
  // Every error, sorted by position (stable, so one node's errors keep walk order).
  std::vector<ConfigError> take();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
  bool truncated_ = false;
};

// The text's single YAML document (null for empty text). nullopt, with errors reported, for
// malformed YAML or more than one document.
std::optional<YAML::Node> parseDocument(const std::string& text, ErrorSink& errors);

// One value found in the tree: its key node (undefined for sequence items) and its path.
struct Field {
  YAML::Node key;
  YAML::Node value;
  std::string path;
  bool has_key = false;

  // Where to point an error about this value. yaml-cpp gives an empty value the position
  // of the *next* token, so for those the key is the honest place.
  YAML::Mark mark() const;
};

// Checks that a node is a map whose keys are unique strings from an allowed set; every
// violation is reported. Lookups afterwards see only the valid, first-seen keys.
class MapReader {
 public:
  MapReader(ErrorSink& errors, const Field& field, std::initializer_list<std::string_view> allowed);

  bool valid() const { return valid_; }
  const Field& self() const { return self_; }
  // nullptr when absent.
  const Field* find(std::string_view key) const;
  // Like find, but reports "missing required key" at the map when absent.
  const Field* require(std::string_view key);

 private:
  void checkKey(const YAML::Node& key, const YAML::Node& value);
  void reportUnknown(const YAML::Node& key, const std::string& name);

  ErrorSink& errors_;
  Field self_;
  std::vector<std::string_view> allowed_;
  std::vector<Field> fields_;
  bool valid_ = false;
};

// A sequence's items as Fields named "path[i]". Reports and returns nothing when the
// value is not a sequence.
std::vector<Field> sequenceItems(ErrorSink& errors, const Field& field);

// "a map", "a list", "a string", "an empty value": for "expected X, got Y" messages.
std::string describeNode(const YAML::Node& node);
// User text made safe to print: quoted, control bytes escaped, long text cut short.
std::string quoted(std::string_view text);
// The same without the quotes, cut at limit bytes.
std::string printable(std::string_view text, size_t limit);

// Typed readers. Each reports an error and leaves *out unchanged when the value is invalid;
// a null field pointer (key absent) is a no-op returning false.
bool readString(ErrorSink& errors, const Field* field, std::string* out);
bool readBool(ErrorSink& errors, const Field* field, bool* out);
bool readUint(ErrorSink& errors, const Field* field, uint64_t min, uint64_t max, uint64_t* out);
bool readUint32(ErrorSink& errors, const Field* field, uint32_t min, uint32_t max, uint32_t* out);
// allow_zero = false for timeouts where zero would fail every attempt at once.
bool readDuration(ErrorSink& errors, const Field* field, Duration* out, bool allow_zero = true);
bool readSize(ErrorSink& errors, const Field* field, uint64_t min, uint64_t max, uint64_t* out);
bool readAddress(ErrorSink& errors, const Field* field, net::Address* out);

}  // namespace sg::config::detail

// route_shard_keys: prints the shard keys (shard_key.h) of each statement text on stdin (texts
// separated by NUL bytes), one JSON object a line, for tests/integration/test_pg_shard_key.py
// and for looking by hand:
//   printf 'select * from orders where customer_id = 5' |
//     build/src/pg/route/route_shard_keys customer_id orders,items
// Arguments: the key column, then (optional) the sharded tables, comma-separated.
#include <iostream>
#include <iterator>
#include <string>

#include "pg/route/shard_key.h"

namespace {

using namespace sg::pg::route;

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
  return out + '"';
}

const char* kindName(KeyValueKind kind) {
  switch (kind) {
    case KeyValueKind::kInteger:
      return "integer";
    case KeyValueKind::kNumeric:
      return "numeric";
    case KeyValueKind::kString:
      return "string";
    case KeyValueKind::kBoolean:
      return "boolean";
    case KeyValueKind::kParameter:
      return "parameter";
    case KeyValueKind::kParameterArray:
      return "parameter_array";
  }
  return "?";
}

std::string json(const std::vector<KeyValue>& values) {
  std::string out = "[";
  for (const KeyValue& v : values) {
    if (out.size() > 1) out += ',';
    out += "{\"kind\":" + quoted(kindName(v.kind)) + ",\"text\":" + quoted(v.text) +
           ",\"type\":" + quoted(v.type) + ",\"param\":" + std::to_string(v.param) + "}";
  }
  return out + "]";
}

std::string json(const ShardKeys& keys) {
  const char* scope = keys.scope == KeyScope::kKeys        ? "keys"
                      : keys.scope == KeyScope::kAllShards ? "all"
                                                           : "none";
  return std::string("{\"scope\":") + quoted(scope) + ",\"values\":" + json(keys.values) +
         ",\"rows\":" + json(keys.insert_rows) +
         ",\"sets_key\":" + (keys.sets_key ? "true" : "false") +
         ",\"reason\":" + quoted(keys.reason) + "}";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: route_shard_keys KEY_COLUMN [TABLE,TABLE,...] < texts\n";
    return 2;
  }
  ShardKeySpec spec{argv[1], {}};
  if (argc > 2) {
    const std::string tables = argv[2];
    size_t begin = 0;
    while (begin <= tables.size()) {
      size_t end = tables.find(',', begin);
      if (end == std::string::npos) end = tables.size();
      if (end > begin) spec.tables.push_back(tables.substr(begin, end - begin));
      begin = end + 1;
    }
  }
  const std::string input(std::istreambuf_iterator<char>(std::cin), {});
  size_t begin = 0;
  while (begin <= input.size()) {
    size_t end = input.find('\0', begin);
    if (end == std::string::npos) end = input.size();
    const TextShardKeys keys =
        findShardKeys(std::string_view(input).substr(begin, end - begin), spec);
    std::cout << "{\"parse_error\":" << (keys.parse_error ? "true" : "false")
              << ",\"combined\":" << json(keys.combined) << "}\n";
    begin = end + 1;
  }
  return 0;
}

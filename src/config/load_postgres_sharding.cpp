// A database's sharding: its `shards` (each a primary, replicas and dbname), the `sharding` key
// and function, and what happens to statements without a key (`cross_shard`). The shard
// function is made here, so a bad range or list is a load error, not a surprise at run time.
#include <algorithm>
#include <string_view>

#include "config/load.h"

namespace sg::config::detail {

namespace {

namespace shard = pg::shard;
using Sharding = PostgresShardingConfig;

constexpr uint32_t kMaxShards = 4096;

void loadShard(ErrorSink& errors, const Field& item, const MapReader& database_map,
               const PostgresDatabaseConfig& database, PostgresShardConfig* out) {
  MapReader map(errors, item, {"primary", "replicas", "dbname"});
  if (!map.valid()) return;
  readAddress(errors, map.require("primary"), &out->primary);
  out->dbname = database.dbname;
  const Field* dbname = map.find("dbname");
  if (readString(errors, dbname, &out->dbname) && out->dbname.empty())
    errors.add(dbname->mark(), dbname->path, "must not be empty");
  // The database's read/write splitting keys hold for every shard, over its own replicas.
  out->routing = database.routing;
  out->routing.replicas.clear();
  readReplicas(errors, map.find("replicas"), &out->routing.replicas);
  if (database_map.find("read_write_split") == nullptr)
    out->routing.read_write_split = !out->routing.replicas.empty();
}

void loadShards(ErrorSink& errors, const Field& field, const MapReader& database_map,
                PostgresDatabaseConfig* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (field.value.IsSequence() && items.empty())
    errors.add(field.mark(), field.path, "must list at least one shard");
  if (items.size() > kMaxShards) {
    errors.add(
        field.mark(), field.path,
        "lists " + std::to_string(items.size()) + " shards; at most " + std::to_string(kMaxShards));
    return;
  }
  for (const Field& item : items) {
    PostgresShardConfig shard_config;
    loadShard(errors, item, database_map, *out, &shard_config);
    auto& shards = out->sharding.shards;
    for (size_t i = 0; i < shards.size(); ++i) {
      if (shards[i].primary == shard_config.primary && shards[i].dbname == shard_config.dbname &&
          shard_config.primary.length() != 0) {
        errors.add(item.mark(), item.path,
                   "is the same server and dbname as shards[" + std::to_string(i) + "]");
        break;
      }
    }
    shards.push_back(std::move(shard_config));
  }
}

// A string, or a list of strings (several columns).
bool readNameList(ErrorSink& errors, const Field& field, std::vector<std::string>* out) {
  std::vector<Field> items;
  if (field.value.IsSequence()) {
    items = sequenceItems(errors, field);
    if (items.empty()) errors.add(field.mark(), field.path, "must name at least one column");
  } else {
    items.push_back(field);
  }
  bool ok = !items.empty();
  for (const Field& item : items) {
    std::string name;
    if (!readString(errors, &item, &name)) {
      ok = false;
    } else if (name.empty()) {
      errors.add(item.mark(), item.path, "must not be empty");
      ok = false;
    } else if (std::find(out->begin(), out->end(), name) != out->end()) {
      errors.add(item.mark(), item.path, "column " + quoted(name) + " is named twice");
      ok = false;
    } else {
      out->push_back(std::move(name));
    }
  }
  return ok;
}

// `tables`: a list of table names, each once.
void readTableList(ErrorSink& errors, const Field& field, std::vector<std::string>* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (field.value.IsSequence() && items.empty())
    errors.add(field.mark(), field.path, "must name at least one table");
  for (const Field& item : items) {
    std::string name;
    if (!readString(errors, &item, &name)) continue;
    if (name.empty()) {
      errors.add(item.mark(), item.path, "must not be empty");
    } else if (std::find(out->begin(), out->end(), name) != out->end()) {
      errors.add(item.mark(), item.path, "table " + quoted(name) + " is named twice");
    } else {
      out->push_back(std::move(name));
    }
  }
}

bool readKeyType(ErrorSink& errors, const Field& field, shard::KeyType* out) {
  std::string name;
  if (!readString(errors, &field, &name)) return false;
  if (shard::parseKeyType(name, out)) return true;
  errors.add(field.mark(), field.path,
             "unknown type " + quoted(name) +
                 " (one of: bigint, integer, smallint, text, varchar, character, uuid, boolean, "
                 "date, timestamp)");
  return false;
}

// One type for every key column, or a list with one per column; bigint when absent.
bool readKeyTypes(ErrorSink& errors, const Field* field, size_t columns,
                  std::vector<shard::KeyType>* out) {
  out->assign(columns, shard::KeyType::kBigint);
  if (field == nullptr) return true;
  if (!field->value.IsSequence()) {
    shard::KeyType type{};
    if (!readKeyType(errors, *field, &type)) return false;
    out->assign(columns, type);
    return true;
  }
  std::vector<Field> items = sequenceItems(errors, *field);
  if (items.size() != columns) {
    errors.add(field->mark(), field->path,
               "lists " + std::to_string(items.size()) + " types for a key of " +
                   std::to_string(columns) + " column(s)");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < items.size(); ++i) ok &= readKeyType(errors, items[i], &(*out)[i]);
  return ok;
}

bool readValue(ErrorSink& errors, const Field& field, shard::KeyType type, shard::KeyValue* out) {
  std::string text;
  if (!readString(errors, &field, &text)) return false;
  auto decoded = shard::decodeKey(type, text, shard::Format::kText);
  if (auto* error = std::get_if<shard::KeyError>(&decoded)) {
    errors.add(field.mark(), field.path, error->message);
    return false;
  }
  *out = std::move(std::get<shard::KeyValue>(decoded));
  return true;
}

bool readBound(ErrorSink& errors, const Field& field, shard::KeyType type, shard::RangeBound* out) {
  if (field.value.IsScalar()) {
    std::string word = lowerCase(field.value.Scalar());
    if (word == "minvalue" || word == "maxvalue") {
      out->kind = word == "minvalue" ? shard::RangeBound::Kind::kMinValue
                                     : shard::RangeBound::Kind::kMaxValue;
      return true;
    }
  }
  out->kind = shard::RangeBound::Kind::kValue;
  return readValue(errors, field, type, &out->value);
}

// A shard number that names one of the database's shards.
bool readShardNumber(ErrorSink& errors, const Field* field, uint32_t shards, uint32_t* out) {
  if (!readUint32(errors, field, 0, kMaxShards, out)) return false;
  if (*out < shards) return true;
  errors.add(field->mark(), field->path,
             "names shard " + std::to_string(*out) + ", but the database has " +
                 std::to_string(shards) + " shards (0 to " + std::to_string(shards - 1) + ")");
  return false;
}

bool readRangeMap(ErrorSink& errors, const Field& item, shard::KeyType type, uint32_t shards,
                  shard::RangeSpec* out) {
  MapReader map(errors, item, {"shard", "from", "to"});
  if (!map.valid()) return false;
  const Field* shard_field = map.require("shard");
  const Field* from = map.require("from");
  const Field* to = map.require("to");
  bool ok = shard_field != nullptr && from != nullptr && to != nullptr;
  ok = ok && readShardNumber(errors, shard_field, shards, &out->shard);
  ok = ok && readBound(errors, *from, type, &out->from);
  return ok && readBound(errors, *to, type, &out->to);
}

// `ranges`: maps {shard, from, to}, or upper bounds (shard i holds the keys from bound i-1,
// or MINVALUE, up to bound i).
bool readRanges(ErrorSink& errors, const Field& field, shard::KeyType type, uint32_t shards,
                std::vector<shard::RangeSpec>* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (items.empty()) {
    if (field.value.IsSequence()) errors.add(field.mark(), field.path, "must list a range");
    return false;
  }
  const bool bounds = items.front().value.IsScalar();
  shard::RangeBound previous{shard::RangeBound::Kind::kMinValue, {}};
  bool ok = true;
  for (uint32_t i = 0; i < items.size(); ++i) {
    const Field& item = items[i];
    if (item.value.IsScalar() != bounds) {
      errors.add(item.mark(), item.path,
                 "mixes upper bounds and {shard, from, to} ranges; write all one way");
      return false;
    }
    shard::RangeSpec range;
    if (!bounds) {
      if (readRangeMap(errors, item, type, shards, &range)) {
        out->push_back(range);
      } else {
        ok = false;
      }
      continue;
    }
    range = {i, previous, {}};
    if (!readBound(errors, item, type, &range.to)) {
      ok = false;
    } else if (i >= shards) {
      errors.add(item.mark(), item.path,
                 "is the upper bound of shard " + std::to_string(i) + ", but the database has " +
                     std::to_string(shards) + " shards");
      ok = false;
    } else {
      out->push_back(range);
      previous = range.to;
    }
  }
  return ok;
}

bool readLists(ErrorSink& errors, const Field& field, shard::KeyType type, uint32_t shards,
               std::vector<shard::ListEntry>* out) {
  if (!field.value.IsMap()) {
    errors.add(field.mark(), field.path,
               "expected a map of key value to shard number, got " + describeNode(field.value));
    return false;
  }
  bool ok = true;
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary proxy, so references would dangle.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    const std::string path = field.path + "." + (key.IsScalar() ? key.Scalar() : "?");
    shard::ListEntry entry;
    const Field key_field{key, key, path, true};
    const Field shard_field{key, value, path, true};
    if (!readValue(errors, key_field, type, &entry.value) ||
        !readShardNumber(errors, &shard_field, shards, &entry.shard)) {
      ok = false;
      continue;
    }
    for (const auto& earlier : *out) {
      if (shard::compareKeys(type, earlier.value, entry.value) == 0) {
        errors.add(key.Mark(), path,
                   "the value " + quoted(shard::formatKey(type, entry.value)) + " is listed twice");
        ok = false;
      }
    }
    out->push_back(std::move(entry));
  }
  return ok;
}

void readMethod(ErrorSink& errors, const Field* field, shard::Method* out, bool* ok) {
  std::string name;
  if (field == nullptr) return;
  if (!readString(errors, field, &name)) {
    *ok = false;
  } else if (!shard::parseMethod(name, out)) {
    errors.add(field->mark(), field->path,
               "unknown function " + quoted(name) + " (one of: hash, range, list)");
    *ok = false;
  }
}

// The keys that belong to one function only, and what each function needs.
bool checkFunctionKeys(ErrorSink& errors, MapReader& map, shard::Method method) {
  bool ok = true;
  auto refuse = [&](std::string_view key, std::string_view function) {
    const Field* field = map.find(key);
    if (field == nullptr) return;
    errors.add(field->mark(), field->path, "is for function: " + std::string(function) + " only");
    ok = false;
  };
  if (method != shard::Method::kRange) refuse("ranges", "range");
  if (method != shard::Method::kList) {
    refuse("lists", "list");
    refuse("default", "list");
  }
  if (method == shard::Method::kRange) ok &= map.require("ranges") != nullptr;
  if (method == shard::Method::kList && map.find("default") == nullptr)
    ok &= map.require("lists") != nullptr;
  const Field* key = map.find("key");
  if (method != shard::Method::kHash && key != nullptr && key->value.IsSequence() &&
      key->value.size() > 1) {
    errors.add(key->mark(), key->path, "range and list sharding take a key of one column");
    ok = false;
  }
  return ok;
}

bool readFunctionValues(ErrorSink& errors, MapReader& map, shard::ShardingSpec* spec) {
  bool ok = true;
  const shard::KeyType type = spec->key_types.front();
  if (const Field* ranges = map.find("ranges"))
    ok &= readRanges(errors, *ranges, type, spec->shards, &spec->ranges);
  if (const Field* lists = map.find("lists"))
    ok &= readLists(errors, *lists, type, spec->shards, &spec->lists);
  uint32_t default_shard = 0;
  if (const Field* field = map.find("default")) {
    if (readShardNumber(errors, field, spec->shards, &default_shard)) {
      spec->default_shard = default_shard;
    } else {
      ok = false;
    }
  }
  return ok;
}

void loadShardingMap(ErrorSink& errors, const Field& field, Sharding* out) {
  MapReader map(errors, field, {"key", "function", "type", "ranges", "lists", "default", "tables"});
  if (!map.valid()) return;
  if (const Field* tables = map.find("tables")) readTableList(errors, *tables, &out->tables);
  shard::ShardingSpec& spec = out->spec;
  spec.shards = static_cast<uint32_t>(out->shards.size());
  bool ok = true;
  const Field* key = map.require("key");
  ok &= key != nullptr && readNameList(errors, *key, &out->key);
  readMethod(errors, map.find("function"), &spec.method, &ok);
  ok &=
      readKeyTypes(errors, map.find("type"), std::max<size_t>(out->key.size(), 1), &spec.key_types);
  // Without shards (reported with `shards`) no shard number could be checked.
  if (!ok || spec.shards == 0) return;
  if (!checkFunctionKeys(errors, map, spec.method)) return;
  if (!readFunctionValues(errors, map, &spec)) return;
  // What is left: ranges that are empty or overlap (positions: the ranges' indices).
  auto made = shard::ShardFunction::make(spec);
  if (made.function == nullptr) {
    const Field& at = map.find("ranges") != nullptr ? *map.find("ranges") : field;
    errors.add(at.mark(), at.path, made.error);
    return;
  }
  out->function = std::move(made.function);
}

void refuseWithShards(ErrorSink& errors, const MapReader& map, std::string_view key,
                      const std::string& message) {
  if (const Field* field = map.find(key)) errors.add(field->mark(), field->path, message);
}

}  // namespace

void loadPostgresSharding(ErrorSink& errors, const MapReader& map, PostgresDatabaseConfig* out) {
  const Field* shards = map.find("shards");
  const Field* sharding = map.find("sharding");
  const Field* cross_shard = map.find("cross_shard");
  if (shards == nullptr) {
    const std::string message = "is for a sharded database (one with shards)";
    refuseWithShards(errors, map, "sharding", message);
    refuseWithShards(errors, map, "cross_shard", message);
    return;
  }
  refuseWithShards(errors, map, "primary",
                   "a sharded database has a primary per shard (shards[].primary), "
                   "not one of its own");
  refuseWithShards(errors, map, "replicas",
                   "a sharded database lists replicas per shard (shards[].replicas)");
  loadShards(errors, *shards, map, out);
  if (sharding == nullptr) {
    errors.add(shards->mark(), shards->path,
               "needs sharding (its key and function) to choose a shard for a statement");
  } else {
    loadShardingMap(errors, *sharding, &out->sharding);
  }
  std::string mode;
  if (readString(errors, cross_shard, &mode) &&
      !parseCrossShard(mode, &out->sharding.cross_shard)) {
    errors.add(cross_shard->mark(), cross_shard->path,
               "unknown value " + quoted(mode) + " (one of: deny, allow, allow_unordered)");
  }
}

}  // namespace sg::config::detail

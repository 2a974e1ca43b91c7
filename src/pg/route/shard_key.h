#pragma once
// Which sharding-key values a statement can touch (issue 17, sharding): read from PostgreSQL
// 15's parse tree (libpg_query protobuf), so the caller can send the statement to the shards
// that hold those keys, or to all of them when the statement does not say. The rules, in short
// (docs/postgres.md, "Finding the sharding key", has them in full):
//   - Each SELECT/UPDATE/DELETE scope (the statement itself, and each subquery and CTE) is read
//     on its own; the statement's keys are the union of its scopes' keys. A scope that reads a
//     sharded table without constraining its key makes the whole statement "all shards".
//   - A scope's constraint is its WHERE and the ON clauses of its inner joins: `key = value`
//     (either side), `key IN (values)`, `key = ANY(ARRAY[values])`, `key = ANY($n)`. AND
//     narrows (to what every constraining conjunct allows), OR unions (only when every
//     disjunct constrains the key), NOT, `<`, BETWEEN, LIKE, IS NULL and anything else do not
//     constrain. Range constraints are not read (a range-sharded key compared with `<` is all
//     shards).
//   - Several sharded tables in one scope: each must be constrained, itself or through key
//     equalities (`a.key = b.key` in WHERE or any join's ON, `USING (key)`, NATURAL JOIN).
//   - INSERT ... VALUES: the key's value in each row, by its position in the column list. An
//     INSERT without a column list, or whose list lacks the key, or INSERT ... SELECT, is
//     "all shards" with a reason: the caller refuses it (the finder does not know the table's
//     column order or defaults).
//   - A value is a constant (integer, numeric, string, boolean) with an optional explicit cast,
//     or a parameter $n (the caller reads it from the Bind). `= ANY($n)` is a parameter array:
//     the caller decodes the bound array and takes each element as a key.
// Precedence with the proxy's hints (the classifier reports them, see shardSource below): a
// comment's shard=N, then its sharding_key=V, then the session's SET scalegate.shard, then
// SET scalegate.sharding_key, and only then the keys found here.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pg/route/classifier.h"
#include "pg/route/statement_class.h"
#include "pg/route/text_lru.h"

namespace sg::pg::route {

// What the finder looks for in one database.
struct ShardKeySpec {
  // The key column's name as PostgreSQL stores it: an unquoted identifier in a statement is
  // folded to lower case before it is compared (Customer_Id matches customer_id; the quoted
  // "Customer_Id" does not).
  std::string column;
  // The sharded tables' names (unqualified; a table of that name in any schema). Empty: every
  // table is taken to be sharded. Tables not listed (reference tables, present on every shard)
  // never make a statement span shards.
  std::vector<std::string> tables;
};

enum class KeyValueKind : uint8_t {
  kInteger,         // an integer constant in decimal, '-' for negative ("5", "-5", big ones too)
  kNumeric,         // a constant with a fraction or an exponent ("1.5", "1e3")
  kString,          // a string constant, its value after escapes ('5', E'\x35', $$5$$): "5"
  kBoolean,         // true or false
  kParameter,       // $n: the caller reads the Bind's value n
  kParameterArray,  // = ANY($n): the caller decodes the bound array n; each element is a key
};

struct KeyValue {
  KeyValueKind kind = KeyValueKind::kInteger;
  std::string text;   // the constant's text as the type's input function reads it; "" for $n
  int32_t param = 0;  // n of $n (from 1)
  // An explicit cast's type as the parser names it, pg_catalog. dropped ('5'::bigint and
  // int8 '5' give "int8"; 'x'::text gives "text"); empty when there is none. For a parameter
  // array, the element type of `$1::int8[]`.
  std::string type;
  bool operator==(const KeyValue&) const = default;
};

enum class KeyScope : uint8_t {
  kKeys,            // only rows whose key is one of `values`; none: no row (any one shard)
  kAllShards,       // the statement does not say: every shard (`reason` says why)
  kNoShardedTable,  // touches no sharded table (SELECT 1, BEGIN, a reference table)
};

struct ShardKeys {
  KeyScope scope = KeyScope::kNoShardedTable;
  std::vector<KeyValue> values;  // kKeys: distinct values, in the order first found
  // INSERT ... VALUES: the key of each row, in row order (so the caller can split a multi-row
  // INSERT or refuse one that spans shards).
  std::vector<KeyValue> insert_rows;
  // UPDATE ... SET key = or ON CONFLICT DO UPDATE SET key =: a row may move to another shard;
  // the caller refuses it unless all shards are one.
  bool sets_key = false;
  std::string reason;  // why kAllShards, for the caller's error message and logs
  // The first table the statement writes (INSERT/UPDATE/DELETE target) that is not sharded:
  // a reference table with a copy on every shard, which one statement cannot keep equal. The
  // caller refuses the statement unless a hint or setting names the shard. Empty: none.
  std::string writes_unsharded;
  bool operator==(const ShardKeys&) const = default;
};

// The keys of each statement of the text, and of the whole text (their union).
struct TextShardKeys {
  std::vector<ShardKeys> statements;
  ShardKeys combined;
  bool parse_error = false;  // combined is then all shards; the server reports the error
};

// From a parse tree already made (the classifier's, when it carries this result).
TextShardKeys findShardKeys(const PgQuery__ParseResult& tree, const ShardKeySpec& spec);

// Parses the text (libpg_query, with the classifier's limits for deep or long input) and finds
// its keys. Never throws and never crashes on any input.
TextShardKeys findShardKeys(std::string_view sql, const ShardKeySpec& spec);

// Where a statement's shard comes from, strongest first: an explicit hint wins over the keys
// found in the statement (the user knows where the row is, e.g. for a function call that
// hides the key).
enum class ShardSource : uint8_t {
  kCommentShard,   // /* scalegate: shard=N */
  kCommentKey,     // /* scalegate: sharding_key=V */
  kSessionShard,   // SET scalegate.shard = N, still in effect
  kSessionKey,     // SET scalegate.sharding_key = 'v', still in effect
  kStatementKeys,  // the ShardKeys found here
};
ShardSource shardSource(const StatementClass& verdict, bool session_shard_set,
                        bool session_key_set);

// A worker's cache of results per statement text, like StatementClassifier (one per worker and
// database spec, no locks). Its key is the whole text: unlike the classifier's verdict, the
// keys depend on the constants, so texts differing only in constants are separate entries
// (statements with parameters, the extended protocol's usual form, share one).
class ShardKeyFinder {
 public:
  ShardKeyFinder(ShardKeySpec spec, size_t max_entries, size_t max_bytes);
  ShardKeyFinder(const ShardKeyFinder&) = delete;
  ShardKeyFinder& operator=(const ShardKeyFinder&) = delete;

  std::shared_ptr<const TextShardKeys> find(std::string_view sql);

  // The verdict and the keys of a text with at most one parse: when both caches miss, the
  // classifier's parse tree serves the finder too; when only this cache misses (a known
  // statement shape with new constants), the finder parses.
  struct Found {
    std::shared_ptr<const StatementClass> verdict;
    std::shared_ptr<const TextShardKeys> keys;
  };
  Found find(std::string_view sql, StatementClassifier& classifier);

  const ShardKeySpec& spec() const { return spec_; }
  uint64_t hits() const { return cache_.hits(); }
  uint64_t misses() const { return cache_.misses(); }
  uint64_t evictions() const { return cache_.evictions(); }
  size_t entries() const { return cache_.entries(); }
  size_t bytes() const { return cache_.bytes(); }

 private:
  static size_t keysBytes(const TextShardKeys& keys);

  ShardKeySpec spec_;
  TextLru<TextShardKeys> cache_;
};

}  // namespace sg::pg::route

// libFuzzer target for classifyStatement and findShardKeys: any text, no crash, no leak (ASan),
// and these invariants: text that does not parse goes to the primary; a primary hint is obeyed;
// the comment lexer finds exactly the comments PostgreSQL's own scanner (pg_query_scan)
// reports; and the shard keys of the whole text are the union of its statements' keys.
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pg/route/shard_key.h"
#include "pg/route/statement_class.h"

namespace {

using namespace sg::pg::route;

[[noreturn]] void invariantFailed(const char* what, const std::string& sql) {
  std::fprintf(stderr, "invariant failed: %s\ninput: %s\n", what, sql.c_str());
  std::abort();
}

void compareWithScanner(const std::string& sql) {
  PgQueryScanResult scanned = pg_query_scan(sql.c_str());
  if (scanned.error == nullptr) {
    PgQuery__ScanResult* result = pg_query__scan_result__unpack(
        nullptr, scanned.pbuf.len, reinterpret_cast<const uint8_t*>(scanned.pbuf.data));
    if (result != nullptr) {
      std::vector<CommentSpan> expected;
      for (size_t i = 0; i < result->n_tokens; ++i) {
        const PgQuery__ScanToken* token = result->tokens[i];
        if (token->token == PG_QUERY__TOKEN__SQL_COMMENT ||
            token->token == PG_QUERY__TOKEN__C_COMMENT) {
          expected.push_back({static_cast<size_t>(token->start), static_cast<size_t>(token->end)});
        }
      }
      pg_query__scan_result__free_unpacked(result, nullptr);
      if (findComments(sql) != expected) invariantFailed("comments differ from pg_query_scan", sql);
    }
  }
  pg_query_free_scan_result(scanned);
}

// The text's keys are all shards when any statement's are, else the union of theirs; all
// shards always says why.
const ShardKeySpec kShardSpec{"customer_id", {"orders", "items", "t"}};

// Keys read from the classifier's parse tree (one parse for both) are the keys of a parse of
// their own.
void compareSharedParse(const std::string& sql, const TextShardKeys& own) {
  static StatementClassifier classifier(std::make_shared<const FunctionAllowList>(), 64, 1 << 20);
  static ShardKeyFinder finder(kShardSpec, 64, 1 << 20);
  const ShardKeyFinder::Found found = finder.find(sql, classifier);
  const TextShardKeys& shared = *found.keys;
  if (shared.parse_error != own.parse_error || shared.combined.scope != own.combined.scope ||
      (!own.parse_error &&
       (shared.combined != own.combined || shared.statements != own.statements))) {
    invariantFailed("keys from the classifier's tree differ from the finder's own", sql);
  }
}

void checkShardKeys(const std::string& sql) {
  const TextShardKeys keys = findShardKeys(sql, kShardSpec);
  compareSharedParse(sql, keys);
  const ShardKeys& all = keys.combined;
  if (keys.parse_error && all.scope != KeyScope::kAllShards) {
    invariantFailed("shard keys of a text that does not parse are not all shards", sql);
  }
  if (all.scope == KeyScope::kAllShards && all.reason.empty()) {
    invariantFailed("all shards without a reason", sql);
  }
  bool any_all = false, any_keys = false;
  for (const ShardKeys& one : keys.statements) {
    any_all = any_all || one.scope == KeyScope::kAllShards;
    any_keys = any_keys || one.scope == KeyScope::kKeys;
    if (one.scope != KeyScope::kKeys && (!one.values.empty() || !one.insert_rows.empty())) {
      invariantFailed("values outside a key result", sql);
    }
    for (const KeyValue& value : one.values) {
      if (all.scope == KeyScope::kKeys &&
          std::find(all.values.begin(), all.values.end(), value) == all.values.end()) {
        invariantFailed("a statement's key missing from the text's", sql);
      }
    }
  }
  const KeyScope expected = any_all    ? KeyScope::kAllShards
                            : any_keys ? KeyScope::kKeys
                                       : KeyScope::kNoShardedTable;
  if (!keys.parse_error && all.scope != expected) {
    invariantFailed("the text's shard scope is not its statements' union", sql);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const FunctionAllowList functions({"my_func"});
  std::string sql(reinterpret_cast<const char*>(data), size);
  sql = sql.substr(0, sql.find('\0'));  // as the wire protocol reads it
  const StatementClass verdict = classifyStatement(sql, functions);
  if (verdict.parse_error && verdict.target != Target::kPrimary) {
    invariantFailed("a parse error not routed to the primary", sql);
  }
  if (verdict.hint == RouteHint::kPrimary && verdict.target != Target::kPrimary) {
    invariantFailed("a primary hint not obeyed", sql);
  }
  if (verdict.target == Target::kReplicaOk && verdict.sticky) {
    invariantFailed("sticky session state on a replica", sql);
  }
  compareWithScanner(sql);
  checkShardKeys(sql);
  return 0;
}

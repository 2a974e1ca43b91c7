// libFuzzer target for classifyStatement: any text, no crash, no leak (ASan), and these
// invariants: text that does not parse goes to the primary; a primary hint is obeyed; and the
// comment lexer finds exactly the comments PostgreSQL's own scanner (pg_query_scan) reports.
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <cstdio>
#include <cstdlib>
#include <string>

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
  return 0;
}

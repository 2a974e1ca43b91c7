#include "pg/route/pg_tree.h"

#include <pg_query.h>

#include "pg/route/deep_stack.h"

namespace sg::pg::route::tree {

namespace {

// libpg_query's protobuf output recurses without a depth check and computes each nested
// message's size again at every level (time quadratic in the depth): texts whose nesting
// estimate (scanSql) passes kMaxNestingEstimate are not parsed. Up to kInlineNestingEstimate
// the parse runs on the caller's stack (well under 1 MB); deeper, on a thread with
// kDeepParseStackBytes (deep_stack.h). Past kMaxParsedBytes nothing is read.
constexpr size_t kMaxNestingEstimate = 3000;
constexpr size_t kInlineNestingEstimate = 300;
constexpr size_t kDeepParseStackBytes = size_t{64} << 20;
constexpr size_t kMaxParsedBytes = size_t{1} << 20;

bool parseAndUse(const std::string& sql, const ParseTreeUse& use, std::string& error) {
  PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql.c_str());
  PgQuery__ParseResult* result = nullptr;
  if (parsed.error == nullptr) {
    result = pg_query__parse_result__unpack(
        nullptr, parsed.parse_tree.len, reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
  }
  if (result == nullptr) {
    error = parsed.error != nullptr ? parsed.error->message : "unreadable parse tree";
    pg_query_free_protobuf_parse_result(parsed);
    return false;
  }
  pg_query_free_protobuf_parse_result(parsed);
  use(*result);
  pg_query__parse_result__free_unpacked(result, nullptr);
  return true;
}

}  // namespace

ParseOutcome withParseTree(std::string_view sql, const ParseTreeUse& use, std::string& error,
                           SqlScan* scan) {
  sql = sql.substr(0, sql.find('\0'));  // the wire protocol's strings end at a NUL
  if (sql.size() > kMaxParsedBytes) {
    error = "too long to parse";
    return ParseOutcome::kTooLong;
  }
  SqlScan own_scan;
  SqlScan& scanned = scan != nullptr ? *scan : own_scan;
  scanned = scanSql(sql);
  if (scanned.nesting_estimate > kMaxNestingEstimate) {
    error = "nesting too deep to parse";
    return ParseOutcome::kTooDeep;
  }
  const std::string text(sql);
  bool parsed = false;
  if (scanned.nesting_estimate <= kInlineNestingEstimate) {
    parsed = parseAndUse(text, use, error);
  } else if (!runWithStack(kDeepParseStackBytes, [&] { parsed = parseAndUse(text, use, error); })) {
    error = "no thread to parse a long text";
    return ParseOutcome::kNoThread;
  }
  return parsed ? ParseOutcome::kParsed : ParseOutcome::kRejected;
}

}  // namespace sg::pg::route::tree

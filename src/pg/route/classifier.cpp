#include "pg/route/classifier.h"

namespace sg::pg::route {

StatementClassifier::StatementClassifier(std::shared_ptr<const FunctionAllowList> functions,
                                         size_t max_entries, size_t max_bytes)
    : functions_(std::move(functions)), cache_(max_entries, max_bytes) {}

// What a verdict holds on the heap, roughly.
size_t StatementClassifier::verdictBytes(const StatementClass& verdict) {
  size_t bytes = sizeof(StatementClass) + verdict.reason.size() +
                 verdict.txn.size() * sizeof(TxnControl) + verdict.setting_error.size() +
                 verdict.show_setting.size();
  if (verdict.sharding_key_hint) bytes += verdict.sharding_key_hint->size();
  return bytes;
}

// The cache key: the text with its constants blanked, so that statements differing only in
// their literals (an application that does not use parameters, pgbench -M simple) share one
// verdict instead of one parse each. No verdict depends on a constant's value except the
// proxy's own SET scalegate.* (and set_config of it): a text mentioning scalegate stays whole.
std::string StatementClassifier::verdictKey(std::string_view sql) {
  if (containsScalegate(sql)) return std::string(sql);
  std::vector<CommentSpan> literals = scanSql(sql).literals;
  std::string key;
  key.reserve(sql.size());
  size_t done = 0;
  for (const CommentSpan& literal : literals) {
    key.append(sql.substr(done, literal.begin - done));
    key.push_back('\x01');  // cannot stand outside a constant in SQL text
    done = literal.end;
  }
  key.append(sql.substr(done));
  return key;
}

std::shared_ptr<const StatementClass> StatementClassifier::classify(
    std::string_view text, const ParseTreeReader& also_read) {
  const std::string key = verdictKey(text);
  if (auto verdict = cache_.find(key)) return verdict;
  auto verdict =
      std::make_shared<const StatementClass>(classifyStatement(text, *functions_, also_read));
  cache_.store(key, verdict, verdictBytes(*verdict));
  return verdict;
}

}  // namespace sg::pg::route

#include "pg/route/classifier.h"

namespace sg::pg::route {

StatementClassifier::StatementClassifier(std::shared_ptr<const FunctionAllowList> functions,
                                         size_t max_entries, size_t max_bytes)
    : functions_(std::move(functions)), max_entries_(max_entries), max_bytes_(max_bytes) {}

// What an entry holds on the heap, roughly: the text twice over the hash node's overhead is
// not counted, the list and hash nodes are (a few pointers each).
size_t StatementClassifier::entryBytes(std::string_view sql, const StatementClass& verdict) {
  constexpr size_t kNodes = sizeof(Entry) + 4 * sizeof(void*) + sizeof(std::string_view) +
                            sizeof(std::list<Entry>::iterator) + 2 * sizeof(void*);
  size_t bytes = kNodes + sql.size() + sizeof(StatementClass) + verdict.reason.size() +
                 verdict.txn.size() * sizeof(TxnControl) + verdict.setting_error.size();
  if (verdict.sharding_key_hint) bytes += verdict.sharding_key_hint->size();
  return bytes;
}

void StatementClassifier::evictUntilFits(size_t incoming_bytes) {
  while (!lru_.empty() &&
         (lru_.size() + 1 > max_entries_ || bytes_ + incoming_bytes > max_bytes_)) {
    const Entry& victim = lru_.back();
    index_.erase(victim.sql);
    bytes_ -= victim.bytes;
    lru_.pop_back();
    ++evictions_;
  }
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
  const std::string_view sql = key;
  if (auto found = index_.find(sql); found != index_.end()) {
    ++hits_;
    lru_.splice(lru_.begin(), lru_, found->second);
    return found->second->verdict;
  }
  ++misses_;
  auto verdict =
      std::make_shared<const StatementClass>(classifyStatement(text, *functions_, also_read));
  const size_t bytes = entryBytes(sql, *verdict);
  if (max_entries_ == 0 || bytes > max_bytes_) return verdict;
  evictUntilFits(bytes);
  lru_.push_front(Entry{std::string(sql), verdict, bytes});
  index_.emplace(lru_.front().sql, lru_.begin());
  bytes_ += bytes;
  return verdict;
}

}  // namespace sg::pg::route

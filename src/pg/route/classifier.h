#pragma once
// A worker's cache of statement verdicts, so a statement text is parsed once, not per
// execution. One per worker thread, no locks; the allow-list is shared (immutable).
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pg/route/function_allow_list.h"
#include "pg/route/statement_class.h"

namespace sg::pg::route {

class StatementClassifier {
 public:
  // Least recently used verdicts go first once either bound is passed. A text whose entry
  // alone exceeds max_bytes is classified but not kept.
  StatementClassifier(std::shared_ptr<const FunctionAllowList> functions, size_t max_entries,
                      size_t max_bytes);
  StatementClassifier(const StatementClassifier&) = delete;
  StatementClassifier& operator=(const StatementClassifier&) = delete;

  // The verdict for the text; shared, so the caller may keep it (per prepared statement) after
  // the cache has dropped it. Texts that differ only in their constants share a verdict. On a
  // miss, also_read gets the parse tree (ShardKeyFinder::find reads it).
  std::shared_ptr<const StatementClass> classify(std::string_view sql,
                                                 const ParseTreeReader& also_read = {});

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t evictions() const { return evictions_; }
  size_t entries() const { return lru_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::string sql;  // the key; the index holds views of it (list nodes do not move)
    std::shared_ptr<const StatementClass> verdict;
    size_t bytes = 0;
  };
  static size_t entryBytes(std::string_view sql, const StatementClass& verdict);
  static std::string verdictKey(std::string_view sql);
  void evictUntilFits(size_t incoming_bytes);

  std::shared_ptr<const FunctionAllowList> functions_;
  size_t max_entries_;
  size_t max_bytes_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace sg::pg::route

#pragma once
// A worker's cache of statement verdicts, so a statement text is parsed once, not per
// execution. One per worker thread, no locks; the allow-list is shared (immutable).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pg/route/function_allow_list.h"
#include "pg/route/statement_class.h"
#include "pg/route/text_lru.h"

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

  uint64_t hits() const { return cache_.hits(); }
  uint64_t misses() const { return cache_.misses(); }
  uint64_t evictions() const { return cache_.evictions(); }
  size_t entries() const { return cache_.entries(); }
  size_t bytes() const { return cache_.bytes(); }

 private:
  static size_t verdictBytes(const StatementClass& verdict);
  static std::string verdictKey(std::string_view sql);

  std::shared_ptr<const FunctionAllowList> functions_;
  TextLru<StatementClass> cache_;
};

}  // namespace sg::pg::route

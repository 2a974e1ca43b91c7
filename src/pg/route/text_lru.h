#pragma once
// A per-worker cache of results computed from a statement text (verdicts, sharding keys),
// least recently used first out once either bound (entries, bytes) is passed. No locks: one
// per worker thread. Values are shared, so a caller may keep one after the cache dropped it.
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sg::pg::route {

template <typename Value>
class TextLru {
 public:
  TextLru(size_t max_entries, size_t max_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}
  TextLru(const TextLru&) = delete;
  TextLru& operator=(const TextLru&) = delete;

  // The value kept for `key` (now the most recently used), or null; counted as a hit or miss.
  std::shared_ptr<const Value> find(std::string_view key) {
    auto found = index_.find(key);
    if (found == index_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, found->second);
    return found->second->value;
  }

  // Keeps `value` for `key`; `value_bytes` is what the value holds on the heap, roughly. An
  // entry larger than the byte bound alone is not kept.
  void store(std::string_view key, std::shared_ptr<const Value> value, size_t value_bytes) {
    const size_t bytes = kNodeBytes + key.size() + value_bytes;
    if (max_entries_ == 0 || bytes > max_bytes_) return;
    while (!lru_.empty() && (lru_.size() + 1 > max_entries_ || bytes_ + bytes > max_bytes_)) {
      index_.erase(lru_.back().key);
      bytes_ -= lru_.back().bytes;
      lru_.pop_back();
      ++evictions_;
    }
    lru_.push_front(Entry{std::string(key), std::move(value), bytes});
    index_.emplace(lru_.front().key, lru_.begin());
    bytes_ += bytes;
  }

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t evictions() const { return evictions_; }
  size_t entries() const { return lru_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::string key;  // the index holds views of it (list nodes do not move)
    std::shared_ptr<const Value> value;
    size_t bytes = 0;
  };
  // The list and hash nodes around an entry (a few pointers each); the key's text is added.
  static constexpr size_t kNodeBytes =
      sizeof(Entry) + 4 * sizeof(void*) + sizeof(std::string_view) +
      sizeof(typename std::list<Entry>::iterator) + 2 * sizeof(void*);

  size_t max_entries_;
  size_t max_bytes_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace sg::pg::route

#pragma once
// A byte buffer with a read position and a write position: bytes in [begin, end) are
// data not yet consumed; [end, capacity) is free space for the next read. Compacts by
// moving data to the front only when the free tail is too small, so the common case
// (the whole message arrives and is consumed) never copies.
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace sg::net {

class Buffer {
 public:
  explicit Buffer(size_t capacity)
      : data_(capacity > 0 ? new char[capacity] : nullptr), capacity_(capacity) {}

  const char* data() const { return data_.get() + begin_; }
  char* data() { return data_.get() + begin_; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  std::string_view view() const { return {data(), size()}; }

  void consume(size_t n) {
    begin_ += n;
    if (begin_ >= end_) begin_ = end_ = 0;
  }
  // Makes at least `min_free` bytes writable at the tail, compacting or growing (up to
  // `max_capacity`). Returns the writable span size.
  size_t reserve(size_t min_free, size_t max_capacity);
  char* writePtr() { return data_.get() + end_; }
  size_t writable() const { return capacity_ - end_; }
  void commit(size_t n) { end_ += n; }
  size_t capacity() const { return capacity_; }
  // Drops `n` bytes at offset `at` (relative to data()), closing the gap. Used to remove
  // chunk framing in place when re-framing a chunked body for an HTTP/1.0 client.
  void erase(size_t at, size_t n) {
    std::memmove(data() + at, data() + at + n, size() - at - n);
    end_ -= n;
  }
  void clear() { begin_ = end_ = 0; }

  // Storage lent by a BufferPool: an idle connection's buffer gives its storage back and
  // costs nothing until its next bytes arrive.
  bool hasStorage() const { return capacity_ != 0; }
  std::unique_ptr<char[]> releaseStorage(size_t* capacity) {
    *capacity = capacity_;
    begin_ = end_ = capacity_ = 0;
    return std::move(data_);
  }
  void adoptStorage(std::unique_ptr<char[]> storage, size_t capacity) {
    data_ = std::move(storage);
    capacity_ = capacity;
    begin_ = end_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace sg::net

#pragma once
// Per-worker storage for connection buffers, lent while a connection has bytes in flight
// and taken back when it goes idle, as HAProxy's and nginx's buffer pools do: ten thousand
// idle keep-alive connections then hold no buffer at all. Storage of the standard size is
// kept for reuse (up to `keep` blocks); a buffer that grew past it is freed.
#include <cstddef>
#include <memory>
#include <vector>

#include "net/buffer.h"

namespace sg::net {

class BufferPool {
 public:
  BufferPool(size_t block_size, size_t keep) : block_size_(block_size), keep_(keep) {}

  size_t blockSize() const { return block_size_; }
  // Gives a storage-less buffer a block (a no-op when it has storage).
  void lend(Buffer* buffer) {
    if (buffer->hasStorage()) return;
    if (free_.empty()) {
      buffer->adoptStorage(std::unique_ptr<char[]>(new char[block_size_]), block_size_);
      return;
    }
    buffer->adoptStorage(std::move(free_.back()), block_size_);
    free_.pop_back();
  }
  // Takes an empty buffer's storage back (a no-op when it still holds bytes).
  void reclaim(Buffer* buffer) {
    if (!buffer->empty() || !buffer->hasStorage()) return;
    size_t capacity = 0;
    auto storage = buffer->releaseStorage(&capacity);
    if (capacity == block_size_ && free_.size() < keep_) free_.push_back(std::move(storage));
  }
  size_t pooled() const { return free_.size(); }

 private:
  size_t block_size_;
  size_t keep_;
  std::vector<std::unique_ptr<char[]>> free_;
};

}  // namespace sg::net

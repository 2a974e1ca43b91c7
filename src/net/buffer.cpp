#include "net/buffer.h"

#include <algorithm>

namespace sg::net {

size_t Buffer::reserve(size_t min_free, size_t max_capacity) {
  if (writable() >= min_free) return writable();
  size_t used = size();
  if (capacity_ - used >= min_free) {
    std::memmove(data_.get(), data(), used);
  } else if (capacity_ < max_capacity) {
    size_t new_capacity = std::min(max_capacity, std::max(capacity_ * 2, used + min_free));
    std::unique_ptr<char[]> bigger(new char[new_capacity]);
    if (used > 0) std::memcpy(bigger.get(), data(), used);
    data_ = std::move(bigger);
    capacity_ = new_capacity;
  } else {
    std::memmove(data_.get(), data(), used);
  }
  begin_ = 0;
  end_ = used;
  return writable();
}

}  // namespace sg::net

#pragma once
// A fixed-capacity ring of the most recent values: pushing onto a full ring drops the
// oldest, so a series' memory is bounded by its capacity whatever the uptime.
#include <cstddef>
#include <vector>

namespace sg::admin {

template <typename T>
class Ring {
 public:
  explicit Ring(size_t capacity) : slots_(capacity == 0 ? 1 : capacity) {}

  void push(T value) {
    slots_[(start_ + size_) % slots_.size()] = std::move(value);
    if (size_ < slots_.size()) {
      ++size_;
    } else {
      start_ = (start_ + 1) % slots_.size();
    }
  }
  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  // i = 0 is the oldest value kept.
  const T& at(size_t i) const { return slots_[(start_ + i) % slots_.size()]; }

 private:
  std::vector<T> slots_;
  size_t start_ = 0;
  size_t size_ = 0;
};

}  // namespace sg::admin

#include "compress/compressor_pool.h"

#include <utility>

namespace sg::compress {

CompressorPool::CompressorPool(size_t max_idle, size_t max_idle_bytes)
    : max_idle_(max_idle), max_idle_bytes_(max_idle_bytes) {
  // Reserved up front so release() never allocates.
  gzip_.reserve(max_idle_);
  brotli_.reserve(max_idle_);
  cold_.reserve(max_idle_);
}

std::unique_ptr<Compressor> CompressorPool::take(List* list) {
  std::unique_ptr<Compressor> compressor = std::move(list->back());
  list->pop_back();
  idle_bytes_ -= compressor->memoryBytes();
  ++stats_.reused;
  return compressor;
}

std::unique_ptr<Compressor> CompressorPool::acquire(Encoding encoding, int level) {
  List* same_kind = encoding == Encoding::kBrotli ? &brotli_ : &gzip_;
  std::unique_ptr<Compressor> compressor;
  if (!same_kind->empty()) {
    compressor = take(same_kind);
  } else if (!cold_.empty()) {
    compressor = take(&cold_);
  } else {
    // Not one of the other kind: converting it would free the state its next response
    // wants, to save one small allocation here.
    compressor = std::make_unique<Compressor>();
    ++stats_.created;
  }
  if (!compressor->reset(encoding, level)) {
    release(std::move(compressor));
    return nullptr;
  }
  return compressor;
}

void CompressorPool::release(std::unique_ptr<Compressor> compressor) {
  if (!compressor) return;
  compressor->park();
  List* list = compressor->holdsGzipState()     ? &gzip_
               : compressor->holdsBrotliCache() ? &brotli_
                                                : &cold_;
  const size_t bytes = compressor->memoryBytes();
  if (list->size() >= max_idle_ || idle_bytes_ + bytes > max_idle_bytes_) {
    ++stats_.dropped;
    return;  // compressor is destroyed here
  }
  idle_bytes_ += bytes;
  list->push_back(std::move(compressor));
}

}  // namespace sg::compress

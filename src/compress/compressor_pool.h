#pragma once
// A worker's idle compressors, so a response neither allocates nor page-faults in fresh
// encoder memory. Single-threaded: each worker owns one pool. Gzip compressors come back
// with zlib's state (deflateReset); brotli ones with their encoder's large tables cached
// (brotli has no reset; reusing the tables is what makes it cheap, see compress_bench).
// Idle compressors are kept per kind so a gzip response never evicts brotli tables and
// the reverse.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "compress/compressor.h"

namespace sg::compress {

class CompressorPool {
 public:
  // Idle compressors kept per kind, and the memory they may hold in all. Each gzip one
  // holds 262 KiB; a brotli one 0.1 (quality 1) to 2 MiB (the cache cap), ~0.65-1.2 MiB at
  // quality 4 after 10 KiB responses.
  static constexpr size_t kDefaultMaxIdle = 8;
  static constexpr size_t kDefaultMaxIdleBytes = 8 * 1024 * 1024;

  struct Stats {
    uint64_t created = 0;  // compressors allocated because none was idle
    uint64_t reused = 0;   // acquisitions served from the idle lists
    uint64_t dropped = 0;  // released over the count or byte bound, so destroyed
  };

  explicit CompressorPool(size_t max_idle = kDefaultMaxIdle,
                          size_t max_idle_bytes = kDefaultMaxIdleBytes);

  // A compressor reset for a new stream, or nullptr when reset failed (bad level, no
  // memory); never throws for those.
  std::unique_ptr<Compressor> acquire(Encoding encoding, int level);
  // Takes back a compressor in any state (finished, failed, or abandoned mid-stream).
  void release(std::unique_ptr<Compressor> compressor);

  size_t idleCount() const { return gzip_.size() + brotli_.size() + cold_.size(); }
  size_t idleMemoryBytes() const { return idle_bytes_; }
  const Stats& stats() const { return stats_; }

 private:
  using List = std::vector<std::unique_ptr<Compressor>>;
  std::unique_ptr<Compressor> take(List* list);

  size_t max_idle_;
  size_t max_idle_bytes_;
  size_t idle_bytes_ = 0;  // memoryBytes() of every idle compressor
  List gzip_;              // hold zlib state
  List brotli_;            // hold cached brotli tables
  List cold_;              // hold nothing (failed before allocating, or never used)
  Stats stats_;
};

}  // namespace sg::compress

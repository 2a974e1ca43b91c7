#pragma once
// A streaming gzip or brotli compressor for one response body at a time. Output is
// appended to a net::Buffer; errors are return values (see error()). A Compressor is
// reused across responses through reset() (see CompressorPool): gzip keeps zlib's ~262 KiB
// of state (deflateReset); brotli has no reset, so the encoder is rebuilt each time but its
// large tables are recycled from the previous one instead of being returned to malloc.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "compress/negotiate.h"
#include "net/buffer.h"

struct z_stream_s;
struct BrotliEncoderStateStruct;

namespace sg::compress {

enum class CompressError {
  kNone,
  kBadArgument,  // identity, or a level out of range
  kOutOfMemory,  // the library could not allocate its state
  kBadState,     // call out of order: before reset(), or after finish()
  kOutputFull,   // the output buffer reached kMaxOutputCapacity
  kLibrary,      // zlib or brotli reported an error
};

class Compressor {
 public:
  // Output buffers grow up to this; callers drain `out` between calls.
  static constexpr size_t kMaxOutputCapacity = 64 * 1024 * 1024;
  // Brotli window: 2^18 = 256 KiB. Measured at quality 4 on 1 MiB of JSON: 4.2 MiB of
  // encoder memory instead of 14.7 MiB with the default 4 MiB window, ratio within 1% on
  // pages up to 2 MiB (6% worse only on a 5 MiB search index).
  static constexpr int kBrotliWindowBits = 18;

  Compressor();
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // Starts a new stream. `level` is 1..9 for gzip, 0..11 for brotli. Discards any stream
  // in progress. Returns false (and error() says why) when the stream cannot start.
  bool reset(Encoding encoding, int level);
  // Appends compressed bytes for `input`; may append nothing until enough input arrives.
  bool compress(std::string_view input, net::Buffer* out);
  // Appends everything needed to decode all input given so far (gzip Z_SYNC_FLUSH, brotli
  // FLUSH); for streamed responses such as server-sent events. Costs a few bytes each.
  bool flush(net::Buffer* out);
  // Ends the stream (gzip trailer, brotli last meta-block).
  bool finish(net::Buffer* out);
  // Ends the brotli encoder (its tables stay cached for the next brotli reset); gzip
  // state is kept as it is. Called when the compressor goes back to a pool.
  void park();
  // Frees everything except what an active stream uses.
  void dropCache();

  Encoding encoding() const { return encoding_; }
  bool active() const { return state_ == State::kActive; }
  bool finished() const { return state_ == State::kFinished; }
  // True when input was given since the last flush (or reset): part of it may still be held
  // by the library, and a flush would emit it.
  bool holdsUnflushedInput() const { return unflushed_; }
  CompressError error() const { return error_; }
  // True while zlib state is kept for the next gzip reset().
  bool holdsGzipState() const { return zlib_ != nullptr; }
  // True while tables from a finished brotli encoder are kept for the next one.
  bool holdsBrotliCache() const { return cached_count_ > 0; }

  // Bytes held for zlib/brotli right now (in use or cached), counted by its allocator.
  size_t memoryBytes() const { return memory_bytes_; }
  size_t peakMemoryBytes() const { return peak_memory_bytes_; }
  // Blocks taken from malloc over this compressor's life, and blocks served from the cache.
  uint64_t allocationCount() const { return allocation_count_; }
  uint64_t recycledCount() const { return recycled_count_; }
  uint64_t bytesIn() const { return bytes_in_; }
  uint64_t bytesOut() const { return bytes_out_; }

 private:
  enum class State { kIdle, kActive, kFinished, kFailed };
  enum class Mode { kProcess, kFlush, kFinish };
  struct CachedBlock {
    void* block = nullptr;  // as returned by malloc (size header included)
    size_t size = 0;        // as requested by the library
  };
  // Brotli at quality 4 allocates ~20 blocks, three of them 120-580 KiB; only blocks this
  // big are worth keeping (small ones are cheap from malloc's free lists). The byte cap
  // bounds what an idle compressor holds after a long stream grew its tables.
  static constexpr size_t kCacheMinBlock = 32 * 1024;
  static constexpr size_t kCacheSlots = 8;
  static constexpr size_t kCacheMaxBytes = 2 * 1024 * 1024;

  bool resetGzip(int level);
  bool resetBrotli(int level);
  bool run(std::string_view input, Mode mode, net::Buffer* out);
  bool runGzip(std::string_view input, Mode mode, net::Buffer* out);
  bool runBrotli(std::string_view input, Mode mode, net::Buffer* out);
  bool reserveOutput(net::Buffer* out);
  bool fail(CompressError error);
  void endGzip();
  void endBrotli(bool keep_tables);
  void* takeCached(size_t size);
  bool putCached(void* block, size_t size);

  static void* allocate(void* opaque, size_t size);
  static void deallocate(void* opaque, void* address);

  State state_ = State::kIdle;
  bool unflushed_ = false;
  Encoding encoding_ = Encoding::kIdentity;
  CompressError error_ = CompressError::kNone;
  std::unique_ptr<z_stream_s> zlib_;  // initialised with deflateInit2 when non-null
  int gzip_level_ = 0;
  BrotliEncoderStateStruct* brotli_ = nullptr;
  int brotli_quality_ = -1;  // quality the cached blocks were sized for
  bool recycle_ = false;     // set while a finished brotli encoder frees its blocks
  std::array<CachedBlock, kCacheSlots> cache_{};
  size_t cached_count_ = 0;
  size_t cached_bytes_ = 0;
  size_t memory_bytes_ = 0;
  size_t peak_memory_bytes_ = 0;
  uint64_t allocation_count_ = 0;
  uint64_t recycled_count_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace sg::compress

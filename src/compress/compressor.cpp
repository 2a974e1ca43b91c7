#include "compress/compressor.h"

#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

namespace sg::compress {
namespace {

constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip wrapper
constexpr int kGzipMemLevel = 8;          // zlib's default: 128 KiB of hash chains
constexpr size_t kOutputChunk = 16 * 1024;
// Every block handed to zlib/brotli is preceded by its size, so the compressor can count
// the memory it holds; 16 keeps the max_align_t alignment malloc gave.
constexpr size_t kHeaderSize = 16;
static_assert(kHeaderSize >= sizeof(size_t) && kHeaderSize % alignof(std::max_align_t) == 0);

Bytef* asBytes(const char* data) {
  // zlib's next_in is not const-qualified; deflate never writes through it.
  return reinterpret_cast<Bytef*>(const_cast<char*>(data));
}

}  // namespace

Compressor::Compressor() = default;

Compressor::~Compressor() {
  endGzip();
  endBrotli(false);
  dropCache();
}

void* Compressor::allocate(void* opaque, size_t size) {
  auto* self = static_cast<Compressor*>(opaque);
  if (void* cached = self->takeCached(size)) return static_cast<char*>(cached) + kHeaderSize;
  if (size > SIZE_MAX - kHeaderSize) return nullptr;
  void* block = std::malloc(size + kHeaderSize);
  if (block == nullptr) return nullptr;
  *static_cast<size_t*>(block) = size;
  self->memory_bytes_ += size;
  self->peak_memory_bytes_ = std::max(self->peak_memory_bytes_, self->memory_bytes_);
  ++self->allocation_count_;
  return static_cast<char*>(block) + kHeaderSize;
}

void Compressor::deallocate(void* opaque, void* address) {
  if (address == nullptr) return;
  auto* self = static_cast<Compressor*>(opaque);
  void* block = static_cast<char*>(address) - kHeaderSize;
  const size_t size = *static_cast<size_t*>(block);
  if (self->putCached(block, size)) return;
  self->memory_bytes_ -= size;
  std::free(block);
}

void* Compressor::takeCached(size_t size) {
  for (size_t i = 0; i < cached_count_; ++i) {
    if (cache_[i].size != size) continue;
    void* block = cache_[i].block;
    cached_bytes_ -= size;
    cache_[i] = cache_[--cached_count_];
    ++recycled_count_;
    return block;
  }
  return nullptr;
}

bool Compressor::putCached(void* block, size_t size) {
  if (!recycle_ || size < kCacheMinBlock || cached_count_ == kCacheSlots ||
      cached_bytes_ + size > kCacheMaxBytes) {
    return false;
  }
  cache_[cached_count_++] = CachedBlock{block, size};
  cached_bytes_ += size;
  return true;
}

void Compressor::dropCache() {
  for (size_t i = 0; i < cached_count_; ++i) {
    memory_bytes_ -= cache_[i].size;
    std::free(cache_[i].block);
  }
  cached_count_ = 0;
  cached_bytes_ = 0;
}

bool Compressor::fail(CompressError error) {
  error_ = error;
  state_ = State::kFailed;
  return false;
}

void Compressor::endGzip() {
  if (!zlib_) return;
  deflateEnd(zlib_.get());
  zlib_.reset();
}

void Compressor::endBrotli(bool keep_tables) {
  if (brotli_ == nullptr) return;
  // Only blocks freed here are cached: the final tables, which the next encoder of the
  // same quality asks for again. Blocks freed mid-stream (a ring buffer outgrown) are not.
  recycle_ = keep_tables;
  BrotliEncoderDestroyInstance(brotli_);
  recycle_ = false;
  brotli_ = nullptr;
}

void Compressor::park() {
  endBrotli(true);
  if (encoding_ == Encoding::kBrotli) state_ = State::kIdle;
}

bool Compressor::reset(Encoding encoding, int level) {
  error_ = CompressError::kNone;
  unflushed_ = false;
  bytes_in_ = 0;
  bytes_out_ = 0;
  encoding_ = encoding;
  switch (encoding) {
    case Encoding::kGzip:
      return resetGzip(level);
    case Encoding::kBrotli:
      return resetBrotli(level);
    case Encoding::kIdentity:
      break;
  }
  return fail(CompressError::kBadArgument);
}

bool Compressor::resetGzip(int level) {
  if (level < 1 || level > 9) return fail(CompressError::kBadArgument);
  // Hold one kind of state at a time.
  endBrotli(false);
  dropCache();
  if (zlib_) {
    // deflateReset keeps the window and hash allocations; only the level may differ.
    if (deflateReset(zlib_.get()) != Z_OK) return fail(CompressError::kLibrary);
    if (level != gzip_level_ && deflateParams(zlib_.get(), level, Z_DEFAULT_STRATEGY) != Z_OK) {
      return fail(CompressError::kLibrary);
    }
  } else {
    zlib_ = std::make_unique<z_stream>();
    zlib_->zalloc = [](voidpf opaque, uInt items, uInt size) -> voidpf {
      return allocate(opaque, static_cast<size_t>(items) * size);
    };
    zlib_->zfree = [](voidpf opaque, voidpf address) { deallocate(opaque, address); };
    zlib_->opaque = this;
    const int rc = deflateInit2(zlib_.get(), level, Z_DEFLATED, kGzipWindowBits, kGzipMemLevel,
                                Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
      zlib_.reset();  // deflateInit2 frees what it allocated on failure
      return fail(rc == Z_MEM_ERROR ? CompressError::kOutOfMemory : CompressError::kLibrary);
    }
  }
  gzip_level_ = level;
  state_ = State::kActive;
  return true;
}

bool Compressor::resetBrotli(int level) {
  if (level < BROTLI_MIN_QUALITY || level > BROTLI_MAX_QUALITY) {
    return fail(CompressError::kBadArgument);
  }
  endGzip();
  endBrotli(level == brotli_quality_);
  if (level != brotli_quality_) dropCache();  // table sizes depend on the quality
  brotli_quality_ = level;
  brotli_ = BrotliEncoderCreateInstance(&Compressor::allocate, &Compressor::deallocate, this);
  if (brotli_ == nullptr) return fail(CompressError::kOutOfMemory);
  // Generic mode: text mode changed no output byte at qualities 1, 4 and 5 on JSON, and
  // the default types include binary formats (wasm, fonts).
  if (!BrotliEncoderSetParameter(brotli_, BROTLI_PARAM_QUALITY, static_cast<uint32_t>(level)) ||
      !BrotliEncoderSetParameter(brotli_, BROTLI_PARAM_LGWIN, kBrotliWindowBits) ||
      !BrotliEncoderSetParameter(brotli_, BROTLI_PARAM_MODE, BROTLI_MODE_GENERIC)) {
    endBrotli(false);
    return fail(CompressError::kLibrary);
  }
  state_ = State::kActive;
  return true;
}

bool Compressor::compress(std::string_view input, net::Buffer* out) {
  if (state_ != State::kActive) return fail(CompressError::kBadState);
  if (input.empty()) return true;
  return run(input, Mode::kProcess, out);
}

bool Compressor::flush(net::Buffer* out) {
  if (state_ != State::kActive) return fail(CompressError::kBadState);
  return run({}, Mode::kFlush, out);
}

bool Compressor::finish(net::Buffer* out) {
  if (state_ != State::kActive) return fail(CompressError::kBadState);
  if (!run({}, Mode::kFinish, out)) return false;
  state_ = State::kFinished;
  return true;
}

bool Compressor::run(std::string_view input, Mode mode, net::Buffer* out) {
  const size_t before = out->size();
  const bool ok =
      encoding_ == Encoding::kGzip ? runGzip(input, mode, out) : runBrotli(input, mode, out);
  bytes_out_ += out->size() - before;
  if (ok) bytes_in_ += input.size();
  if (ok) unflushed_ = mode == Mode::kProcess && (unflushed_ || !input.empty());
  return ok;
}

bool Compressor::reserveOutput(net::Buffer* out) {
  if (out->reserve(kOutputChunk, kMaxOutputCapacity) == 0) return fail(CompressError::kOutputFull);
  return true;
}

bool Compressor::runGzip(std::string_view input, Mode mode, net::Buffer* out) {
  z_stream* z = zlib_.get();
  const int flush = mode == Mode::kFinish  ? Z_FINISH
                    : mode == Mode::kFlush ? Z_SYNC_FLUSH
                                           : Z_NO_FLUSH;
  z->next_in = asBytes(input.data());
  size_t remaining = input.size();
  for (;;) {
    if (!reserveOutput(out)) return false;
    // zlib counts in uInt, so very large inputs and buffers go through in slices.
    const uInt in_slice = static_cast<uInt>(std::min<size_t>(remaining, UINT_MAX));
    const uInt out_space = static_cast<uInt>(std::min<size_t>(out->writable(), UINT_MAX));
    z->avail_in = in_slice;
    z->next_out = reinterpret_cast<Bytef*>(out->writePtr());
    z->avail_out = out_space;
    const int rc = deflate(z, remaining > in_slice ? Z_NO_FLUSH : flush);
    const size_t produced = out_space - z->avail_out;
    const size_t consumed = in_slice - z->avail_in;
    out->commit(produced);
    remaining -= consumed;
    if (rc == Z_STREAM_END) return true;
    // Z_BUF_ERROR only means "no progress possible", e.g. a flush with nothing new.
    if (rc != Z_OK && rc != Z_BUF_ERROR) return fail(CompressError::kLibrary);
    if (flush == Z_FINISH) {
      if (produced == 0 && consumed == 0) return fail(CompressError::kLibrary);
      continue;
    }
    // Done once all input is taken and deflate stopped with output space to spare.
    if (remaining == 0 && z->avail_out != 0) return true;
  }
}

bool Compressor::runBrotli(std::string_view input, Mode mode, net::Buffer* out) {
  const BrotliEncoderOperation op = mode == Mode::kFinish  ? BROTLI_OPERATION_FINISH
                                    : mode == Mode::kFlush ? BROTLI_OPERATION_FLUSH
                                                           : BROTLI_OPERATION_PROCESS;
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(input.data());
  size_t avail_in = input.size();
  for (;;) {
    if (!reserveOutput(out)) return false;
    const size_t out_space = out->writable();
    uint8_t* next_out = reinterpret_cast<uint8_t*>(out->writePtr());
    size_t avail_out = out_space;
    if (!BrotliEncoderCompressStream(brotli_, op, &avail_in, &next_in, &avail_out, &next_out,
                                     nullptr)) {
      return fail(CompressError::kLibrary);
    }
    out->commit(out_space - avail_out);
    if (op == BROTLI_OPERATION_FINISH) {
      if (BrotliEncoderIsFinished(brotli_)) return true;
    } else if (avail_in == 0 && !BrotliEncoderHasMoreOutput(brotli_)) {
      return true;
    }
  }
}

}  // namespace sg::compress

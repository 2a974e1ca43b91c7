#pragma once
// Incremental chunked transfer-coding decoder (RFC 9112 7.1). The proxy forwards chunked
// bodies byte for byte, so this mostly finds where the body ends; it can also hand back the
// payload runs, for re-framing to an HTTP/1.0 client.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sg::http {

class ChunkedDecoder {
 public:
  enum class Status { kNeedMore, kDone, kError };

  // Consumes bytes from `input` starting at its beginning. Stops after consuming either all
  // of `input`, the end of the body (returns kDone; trailers and final CRLF included), or
  // one run of payload bytes, which *payload then views (empty otherwise). *consumed is the
  // number of bytes of `input` used. Call again with the rest to continue.
  // On kError, *consumed is the offset of the offending byte; the decoder stays in error
  // (feed returns kError and consumes nothing) until reset(). After kDone, feed consumes
  // nothing and returns kDone: bytes after the body belong to the next message.
  Status feed(std::string_view input, size_t* consumed, std::string_view* payload);

  void reset();
  bool done() const { return state_ == State::kDone; }
  // From now on the trailer section's field lines ("name: value\r\n" each, as received) are
  // appended to *sink, for a client that gets them in another form (HTTP/2 HEADERS); the
  // proxy's HTTP/1.1 path forwards them byte for byte and keeps none. Survives reset().
  void keepTrailers(std::string* sink) { trailers_ = sink; }

  // Limits that make hostile framing cheap to reject.
  static constexpr size_t kMaxChunkLineExtension = 4096;  // bytes of chunk extensions per line
  // Chunk extensions over the whole body may exceed the payload before them by at most this
  // many bytes, so tiny chunks with long extensions cannot multiply the wire bytes, while
  // real uses (signed uploads such as S3's aws-chunked: ~90 bytes per chunk of 8 KiB or more)
  // stay far inside it.
  static constexpr size_t kExtensionAllowance = size_t{8} * 1024;
  static constexpr size_t kMaxTrailerBytes = size_t{16} * 1024;  // bytes after the last-chunk line
  static constexpr uint32_t kMaxSizeDigits = 16;                 // hex digits of a chunk-size

 private:
  enum class State : uint8_t {
    kSize,
    kSizeBws,
    kExtension,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailerLineStart,
    kTrailerName,
    kTrailerLine,
    kTrailerLf,
    kFinalLf,
    kDone,
    kError
  };
  bool step(char c);  // one framing byte outside data, extension and trailer-line runs
  size_t scanExtension(std::string_view input, size_t pos);
  size_t scanTrailerLine(std::string_view input, size_t pos);
  bool countTrailer(size_t n);
  bool endSizeLine();
  void keepTrailerByte(char c);

  State state_ = State::kSize;
  uint64_t remaining_ = 0;  // bytes left in the current chunk
  uint32_t size_digits_ = 0;
  size_t extension_bytes_ = 0;         // on the current size line
  uint64_t body_extension_bytes_ = 0;  // on every size line so far
  uint64_t payload_bytes_ = 0;         // chunk-data bytes so far
  size_t trailer_bytes_ = 0;
  std::string* trailers_ = nullptr;  // see keepTrailers
};

}  // namespace sg::http

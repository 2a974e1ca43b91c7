#pragma once
// Response compression (listener or route key `compression`): the encoding is negotiated
// when the request arrives, decided when the response head arrives, and the body is
// compressed as it streams, re-framed as chunks for HTTP/1.1 clients.
#include <memory>
#include <string_view>

#include "compress/compressor.h"
#include "net/buffer.h"
#include "proxy/phase.h"

namespace sg::proxy {

class Exchange;
struct ClientResponseContext;

class CompressionPhase {
 public:
  explicit CompressionPhase(Exchange& exchange) : ex_(exchange) {}

  // Request phase: Accept-Encoding against the route's algorithms.
  Verdict negotiate();
  // Response phase (also for cached responses): whether this body is compressed, and
  // whether the response varies on Accept-Encoding.
  Verdict decide(ClientResponseContext* context);

  bool active() const { return compressor_ != nullptr; }
  net::Buffer* output() { return compressed_.get(); }
  // Moves the body bytes at the front of the upstream buffer towards the client (as they
  // are, or compressed). False when the framing is broken or the compressor failed.
  bool takeResponseBody();
  // The body ended (possibly with the upstream's close) but the compressed stream has not.
  bool endPending() const;
  // The upstream has no more bytes ready: what the compressor holds goes out. True when
  // output was queued; false when there was nothing to flush or the compressor failed
  // (the client connection is then closed).
  bool flushStream();
  // A stored response's body, compressed whole into output().
  bool compressWhole(std::string_view body);
  void release() {
    if (compressor_) returnCompressor();
  }

 private:
  void returnCompressor();
  bool compressBody(size_t payload_bytes);
  bool emit(std::string_view input, bool end, bool flush);
  void frameChunk(size_t header_at, size_t produced);

  Exchange& ex_;
  compress::Encoding accepted_ = compress::Encoding::kIdentity;
  std::unique_ptr<compress::Compressor> compressor_;  // set while this response is compressed
  std::unique_ptr<net::Buffer> compressed_;           // compressed body waiting to be sent
};

}  // namespace sg::proxy

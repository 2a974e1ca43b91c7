// Response compression (docs/life-of-a-request.md, "Compression"): the encoding is
// negotiated when the request arrives, decided when the response head arrives, and the body
// is compressed as it streams, re-framed as chunks for HTTP/1.1 clients.
#include "proxy/compression_phase.h"

#include <array>
#include <span>

#include "compress/compressor.h"
#include "compress/negotiate.h"
#include "compress/response_head.h"
#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/router.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

constexpr size_t kMaxAcceptLines = 8;
constexpr size_t kOutputChunk = 16 * 1024;
constexpr size_t kOutputMax = 256 * 1024;  // compressing at most one upstream read at a time
// Chunk sizes are written as 8 hex digits (leading zeros are valid chunk-size syntax) so
// the size can be filled in after the compressor wrote the data, without a copy.
constexpr size_t kChunkHeader = 10;  // "0000abcd\r\n"

std::optional<std::string_view> responseHeader(const http::ResponseHead& response,
                                               std::string_view name) {
  for (const auto& header : response.headers) {
    if (equalsIgnoreCase(header.name, name)) return header.value;
  }
  return std::nullopt;
}

// Statuses whose body is the representation itself: partial content and bodiless statuses
// are never compressed.
bool compressibleStatus(int status) {
  return status >= 200 && status != 204 && status != 206 && status != 304;
}

}  // namespace

Verdict CompressionPhase::negotiate() {
  accepted_ = compress::Encoding::kIdentity;
  if (ex_.route->compression == nullptr) return Verdict::kContinue;
  std::array<std::string_view, kMaxAcceptLines> values{};
  size_t count = 0;
  for (const auto& header : ex_.request.headers) {
    if (count < kMaxAcceptLines && equalsIgnoreCase(header.name, "accept-encoding"))
      values[count++] = header.value;
  }
  accepted_ =
      compress::negotiate(std::span(values.data(), count), ex_.route->compression->algorithms);
  return Verdict::kContinue;
}

// Called with the final response head. Sets whether the body will be compressed, and
// whether the response varies on Accept-Encoding (it does whenever it could have been
// compressed for some client, so caches keep the variants apart).
Verdict CompressionPhase::decide(ClientResponseContext* context) {
  const config::CompressionConfig* config = ex_.route->compression;
  const http::ResponseHead& response = ex_.response;
  if (config == nullptr || !compressibleStatus(response.status) || ex_.request_upgrade)
    return Verdict::kContinue;
  auto type = responseHeader(response, "content-type");
  if (!type || !compress::contentTypeAllowed(*type, config->content_types))
    return Verdict::kContinue;
  auto coding = responseHeader(response, "content-encoding");
  if (coding && compress::alreadyEncoded(*coding)) return Verdict::kContinue;
  auto cache_control = responseHeader(response, "cache-control");
  if (cache_control && compress::hasNoTransform(*cache_control)) return Verdict::kContinue;
  bool known_small =
      response.body == http::BodyKind::kNone || (response.body == http::BodyKind::kContentLength &&
                                                 response.content_length < config->min_size);
  if (known_small && !ex_.request_is_head) return Verdict::kContinue;
  context->vary_accept_encoding = true;
  if (accepted_ == compress::Encoding::kIdentity || ex_.request_is_head) return Verdict::kContinue;
  int level = accepted_ == compress::Encoding::kGzip ? config->gzip_level : config->brotli_quality;
  compressor_ = ex_.worker->compressors().acquire(accepted_, level);
  // No memory for the compressor: the body goes as it is.
  if (!compressor_) return Verdict::kContinue;
  context->content_encoding = compress::encodingToken(accepted_);
  if (!compressed_) compressed_ = std::make_unique<net::Buffer>(kOutputChunk);
  compressed_->clear();
  ex_.listener->compressed_responses->inc();
  ex_.dechunk = true;  // the framer hands over bare payload; the output is re-framed
  return Verdict::kContinue;
}

// Compresses the payload bytes at the front of the upstream buffer (chunk framing already
// removed by the framer) and consumes them. The stream ends with the body, and is flushed
// when the read that brought these bytes drained the upstream's socket: a stream of small
// chunks reaches the client as it is produced, and a fast upstream's body is flushed only
// as often as its socket runs dry. Returns false when the compressor failed (the response
// is cut: the client sees it).
bool CompressionPhase::compressBody(size_t payload_bytes) {
  UpstreamConn* upstream = ex_.phases.upstream.connection();
  net::Buffer& input = upstream->input();
  const bool drained = !upstream->readable && !ex_.phases.upstream.eof();
  const bool ok =
      emit(std::string_view(input.data(), payload_bytes), ex_.response_body.done(), drained);
  input.consume(payload_bytes);
  return ok;
}

// The upstream has no more bytes ready (pumpResponse found its socket drained): what the
// compressor still holds goes out now. Returns true when output was queued for the client;
// false when there was nothing to flush, or the compressor failed (the session is closed).
bool CompressionPhase::flushStream() {
  if (!compressor_ || !compressor_->holdsUnflushedInput() || compressor_->finished()) return false;
  if (emit({}, false, true)) return true;
  ex_.closeClient();
  return false;
}

// Runs the compressor over `input`, then ends (`end`) or flushes (`flush`) the stream, and
// queues the output for the client: framed as one chunk for HTTP/1.1 clients.
bool CompressionPhase::emit(std::string_view input, bool end, bool flush) {
  const bool chunked = ex_.client_minor >= 1;
  const size_t start = compressed_->size();
  if (chunked) {
    compressed_->reserve(kChunkHeader, kOutputMax);
    compressed_->commit(kChunkHeader);
  }
  const size_t before = compressed_->size();
  bool ok = compressor_->compress(input, compressed_.get());
  if (ok && end) {
    ok = compressor_->finish(compressed_.get());
  } else if (ok && flush) {
    ok = compressor_->flush(compressed_.get());
  }
  if (!ok) return false;
  ex_.listener->compress_bytes_in->inc(input.size());
  const size_t produced = compressed_->size() - before;
  ex_.listener->compress_bytes_out->inc(produced);
  if (chunked) frameChunk(start, produced);
  ex_.to_client.addBody(compressed_->size() - start);
  return true;
}

void CompressionPhase::frameChunk(size_t header_at, size_t produced) {
  if (produced == 0) {
    compressed_->erase(header_at, kChunkHeader);
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    char* header = compressed_->data() + header_at;
    for (int i = 7; i >= 0; --i, produced >>= 4) header[i] = kHex[produced & 0xf];
    header[8] = '\r';
    header[9] = '\n';
    compressed_->reserve(2, kOutputMax + 2);
    std::memcpy(compressed_->writePtr(), "\r\n", 2);
    compressed_->commit(2);
  }
  if (ex_.response_body.done()) {
    compressed_->reserve(5, kOutputMax + 7);
    std::memcpy(compressed_->writePtr(), "0\r\n\r\n", 5);
    compressed_->commit(5);
  }
}

bool CompressionPhase::takeResponseBody() {
  net::Buffer& input = ex_.phases.upstream.connection()->input();
  size_t body = 0;
  if (!input.empty() && ex_.response_body.scan(&input, 0, &body) == BodyFramer::Result::kError) {
    return false;
  }
  if (ex_.phases.cache.storing() && body > 0)
    ex_.phases.cache.captureForStore({input.data(), body});
  if (!compressor_) {
    ex_.to_client.addBody(body);
    return true;
  }
  if (body == 0 && !endPending()) return true;
  return compressBody(body);
}

bool CompressionPhase::endPending() const {
  return compressor_ && ex_.response_body.done() && !compressor_->finished();
}

bool CompressionPhase::compressWhole(std::string_view body) {
  return compressor_->compress(body, compressed_.get()) && compressor_->finish(compressed_.get());
}

void CompressionPhase::returnCompressor() {
  ex_.worker->compressors().release(std::move(compressor_));
}

}  // namespace sg::proxy

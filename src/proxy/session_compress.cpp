// Response compression of a session (listener or route key `compression`): the encoding
// is negotiated when the request arrives, decided when the response head arrives, and
// the body is compressed as it streams, re-framed as chunks for HTTP/1.1 clients.
#include <array>
#include <span>

#include "compress/compressor.h"
#include "compress/negotiate.h"
#include "compress/response_head.h"
#include "proxy/router.h"
#include "proxy/session.h"
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

void Session::negotiateEncoding(const http::RequestHead& request) {
  accepted_encoding_ = compress::Encoding::kIdentity;
  if (route_->compression == nullptr) return;
  std::array<std::string_view, kMaxAcceptLines> values{};
  size_t count = 0;
  for (const auto& header : request.headers) {
    if (count < kMaxAcceptLines && equalsIgnoreCase(header.name, "accept-encoding"))
      values[count++] = header.value;
  }
  accepted_encoding_ =
      compress::negotiate(std::span(values.data(), count), route_->compression->algorithms);
}

// Called with the final response head. Sets whether the body will be compressed, and
// whether the response varies on Accept-Encoding (it does whenever it could have been
// compressed for some client, so caches keep the variants apart).
void Session::decideCompression(ClientResponseContext* context) {
  const config::CompressionConfig* config = route_->compression;
  if (config == nullptr || !compressibleStatus(response_.status) || request_upgrade_) return;
  auto type = responseHeader(response_, "content-type");
  if (!type || !compress::contentTypeAllowed(*type, config->content_types)) return;
  auto coding = responseHeader(response_, "content-encoding");
  if (coding && compress::alreadyEncoded(*coding)) return;
  auto cache_control = responseHeader(response_, "cache-control");
  if (cache_control && compress::hasNoTransform(*cache_control)) return;
  bool known_small = response_.body == http::BodyKind::kNone ||
                     (response_.body == http::BodyKind::kContentLength &&
                      response_.content_length < config->min_size);
  if (known_small && !request_is_head_) return;
  context->vary_accept_encoding = true;
  if (accepted_encoding_ == compress::Encoding::kIdentity || request_is_head_) return;
  int level =
      accepted_encoding_ == compress::Encoding::kGzip ? config->gzip_level : config->brotli_quality;
  compressor_ = worker_->compressors().acquire(accepted_encoding_, level);
  if (!compressor_) return;  // no memory for the compressor: the body goes as it is
  context->content_encoding = compress::encodingToken(accepted_encoding_);
  if (!compressed_) compressed_ = std::make_unique<net::Buffer>(kOutputChunk);
  compressed_->clear();
  listener_->compressed_responses->inc();
}

// Compresses the payload bytes at the front of the upstream buffer (chunk framing already
// removed by the framer) and consumes them. The stream ends with the body, and is flushed
// when the read that brought these bytes drained the upstream's socket: a stream of small
// chunks reaches the client as it is produced, and a fast upstream's body is flushed only
// as often as its socket runs dry. Returns false when the compressor failed (the response
// is cut: the client sees it).
bool Session::compressBody(size_t payload_bytes) {
  net::Buffer& input = upstream_->input();
  const bool drained = !upstream_->readable && !upstream_eof_;
  const bool ok =
      emitCompressed(std::string_view(input.data(), payload_bytes), response_body_.done(), drained);
  input.consume(payload_bytes);
  return ok;
}

// The upstream has no more bytes ready (pumpResponse found its socket drained): what the
// compressor still holds goes out now. Returns true when output was queued for the client;
// false when there was nothing to flush, or the compressor failed (the session is closed).
bool Session::flushCompressedStream() {
  if (!compressor_ || !compressor_->holdsUnflushedInput() || compressor_->finished()) return false;
  if (emitCompressed({}, false, true)) return true;
  close();
  return false;
}

// Runs the compressor over `input`, then ends (`end`) or flushes (`flush`) the stream, and
// queues the output for the client: framed as one chunk for HTTP/1.1 clients.
bool Session::emitCompressed(std::string_view input, bool end, bool flush) {
  const bool chunked = client_minor_ >= 1;
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
  listener_->compress_bytes_in->inc(input.size());
  const size_t produced = compressed_->size() - before;
  listener_->compress_bytes_out->inc(produced);
  if (chunked) frameChunk(start, produced);
  to_client_.addBody(compressed_->size() - start);
  return true;
}

void Session::frameChunk(size_t header_at, size_t produced) {
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
  if (response_body_.done()) {
    compressed_->reserve(5, kOutputMax + 7);
    std::memcpy(compressed_->writePtr(), "0\r\n\r\n", 5);
    compressed_->commit(5);
  }
}

bool Session::takeResponseBody() {
  size_t body = 0;
  if (!upstream_->input().empty() &&
      response_body_.scan(&upstream_->input(), 0, &body) == BodyFramer::Result::kError) {
    return false;
  }
  if (cache_.store_head && body > 0) captureForStore({upstream_->input().data(), body});
  if (!compressor_) {
    to_client_.addBody(body);
    return true;
  }
  if (body == 0 && !compressionEndPending()) return true;
  return compressBody(body);
}

// The body ended (possibly with the upstream's close) but the compressed stream has not.
bool Session::compressionEndPending() const {
  return compressor_ && response_body_.done() && !compressor_->finished();
}

void Session::releaseCompressor() {
  if (compressor_) worker_->compressors().release(std::move(compressor_));
}

}  // namespace sg::proxy

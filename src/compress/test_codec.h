#pragma once
// Test-only decoders: gunzip with zlib's inflate, brotli with BrotliDecoderDecompressStream.
#include <brotli/decode.h>
#include <zlib.h>

#include <string>
#include <string_view>

#include "compress/negotiate.h"

namespace sg::compress::testing {

struct Decoded {
  bool ok = false;        // no decoder error
  bool complete = false;  // the stream ended (gzip trailer / brotli last block seen)
  std::string data;
  size_t trailing = 0;  // bytes left after the end of the stream
};

inline Decoded gunzip(std::string_view input) {
  Decoded result;
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return result;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  z.avail_in = static_cast<uInt>(input.size());
  char chunk[16384];
  int rc = Z_OK;
  do {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof(chunk);
    rc = inflate(&z, Z_SYNC_FLUSH);
    result.data.append(chunk, sizeof(chunk) - z.avail_out);
  } while (rc == Z_OK && (z.avail_in > 0 || z.avail_out == 0));
  result.complete = rc == Z_STREAM_END;
  result.ok = rc == Z_STREAM_END || rc == Z_OK || rc == Z_BUF_ERROR;
  result.trailing = z.avail_in;
  inflateEnd(&z);
  return result;
}

inline Decoded unbrotli(std::string_view input) {
  Decoded result;
  BrotliDecoderState* state = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  size_t avail_in = input.size();
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(input.data());
  BrotliDecoderResult rc = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
  char chunk[16384];
  size_t avail_out = 0;
  // With the input used up the decoder says NEEDS_MORE_INPUT even when it still holds
  // output that did not fit, so a full chunk also means "call again".
  while (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT ||
         (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && avail_out == 0)) {
    avail_out = sizeof(chunk);
    uint8_t* next_out = reinterpret_cast<uint8_t*>(chunk);
    rc = BrotliDecoderDecompressStream(state, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    result.data.append(chunk, sizeof(chunk) - avail_out);
  }
  result.complete = rc == BROTLI_DECODER_RESULT_SUCCESS;
  result.ok = rc != BROTLI_DECODER_RESULT_ERROR;
  result.trailing = avail_in;
  BrotliDecoderDestroyInstance(state);
  return result;
}

inline Decoded decode(Encoding encoding, std::string_view input) {
  return encoding == Encoding::kBrotli ? unbrotli(input) : gunzip(input);
}

}  // namespace sg::compress::testing

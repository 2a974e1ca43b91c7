// Chunked transfer-coding decoder (RFC 9112 7.1):
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
// Framing bytes go through step() one at a time; data, extension and trailer-line runs are
// handled in bulk. Every byte is judged alone, so any split of the input gives the same result.
#include "http/chunked.h"

#include <array>

#include "http/chars.h"

namespace sg::http {
namespace {

constexpr uint8_t kNotHex = 0xFF;

constexpr std::array<uint8_t, 256> makeHexTable() {
  std::array<uint8_t, 256> table{};
  for (size_t c = 0; c < 256; ++c) {
    if (c >= '0' && c <= '9') {
      table[c] = static_cast<uint8_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      table[c] = static_cast<uint8_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      table[c] = static_cast<uint8_t>(c - 'A' + 10);
    } else {
      table[c] = kNotHex;
    }
  }
  return table;
}

constexpr std::array<uint8_t, 256> kHexValue = makeHexTable();

}  // namespace

void ChunkedDecoder::reset() {
  state_ = State::kSize;
  remaining_ = 0;
  size_digits_ = 0;
  extension_bytes_ = 0;
  body_extension_bytes_ = 0;
  payload_bytes_ = 0;
  trailer_bytes_ = 0;
}

// The LF of a size line: its extensions count against the body's allowance.
bool ChunkedDecoder::endSizeLine() {
  body_extension_bytes_ += extension_bytes_;
  size_digits_ = 0;
  extension_bytes_ = 0;
  state_ = remaining_ != 0 ? State::kData : State::kTrailerLineStart;
  return body_extension_bytes_ <= kExtensionAllowance + payload_bytes_;
}

bool ChunkedDecoder::countTrailer(size_t n) {
  trailer_bytes_ += n;
  return trailer_bytes_ <= kMaxTrailerBytes;
}

// A framing byte about to go through step(): kept when it belongs to a trailer field line
// (its name, the ':' and the LF that ends it; the final CRLF is not a field line).
void ChunkedDecoder::keepTrailerByte(char c) {
  const bool field_byte = state_ == State::kTrailerName || state_ == State::kTrailerLf ||
                          (state_ == State::kTrailerLineStart && c != '\r');
  if (field_byte) trailers_->push_back(c);
}

bool ChunkedDecoder::step(char ch) {
  switch (state_) {
    case State::kSize: {
      const uint8_t d = kHexValue[static_cast<unsigned char>(ch)];
      if (d != kNotHex) {
        if (size_digits_ == kMaxSizeDigits) return false;
        remaining_ = (remaining_ << 4) | d;
        ++size_digits_;
        return true;
      }
      if (size_digits_ == 0) return false;
      if (ch == '\r') {
        state_ = State::kSizeLf;
      } else if (ch == ';' || detail::isOws(ch)) {
        state_ = ch == ';' ? State::kExtension : State::kSizeBws;
        extension_bytes_ = 1;
      } else {
        return false;
      }
      return true;
    }
    case State::kSizeBws:  // whitespace after the size is only allowed before a ';'
      if (ch != ';' && !detail::isOws(ch)) return false;
      if (ch == ';') state_ = State::kExtension;
      return ++extension_bytes_ <= kMaxChunkLineExtension;
    case State::kSizeLf:
      return ch == '\n' && endSizeLine();
    case State::kDataCr:
      state_ = State::kDataLf;
      return ch == '\r';
    case State::kDataLf:
      state_ = State::kSize;
      return ch == '\n';
    case State::kTrailerLineStart:
      if (ch == '\r') {
        state_ = State::kFinalLf;
      } else if (detail::isTchar(ch)) {
        state_ = State::kTrailerName;
      } else {
        return false;  // includes obs-fold (SP/HTAB) and bare LF
      }
      return countTrailer(1);
    case State::kTrailerName:
      if (ch == ':') {
        state_ = State::kTrailerLine;
      } else if (!detail::isTchar(ch)) {
        return false;
      }
      return countTrailer(1);
    case State::kTrailerLf:
      state_ = State::kTrailerLineStart;
      return ch == '\n' && countTrailer(1);
    case State::kFinalLf:
      state_ = State::kDone;
      return ch == '\n';
    default:
      return false;
  }
}

// chunk-ext bytes up to the CR that ends the size line. Returns the next position; on a bad
// byte or too long an extension, sets kError and returns the offending byte's position.
size_t ChunkedDecoder::scanExtension(std::string_view input, size_t pos) {
  const size_t n = input.size();
  for (; pos < n; ++pos) {
    const char c = input[pos];
    if (c == '\r') {
      state_ = State::kSizeLf;
      return pos + 1;
    }
    if (!detail::isFieldValue(c) || ++extension_bytes_ > kMaxChunkLineExtension) {
      state_ = State::kError;
      return pos;
    }
  }
  return pos;
}

// Trailer field value bytes up to the CR that ends the line; same contract as scanExtension.
size_t ChunkedDecoder::scanTrailerLine(std::string_view input, size_t pos) {
  const size_t n = input.size();
  for (; pos < n; ++pos) {
    const char c = input[pos];
    if (!countTrailer(1)) break;
    if (c == '\r') {
      state_ = State::kTrailerLf;
      return pos + 1;
    }
    if (!detail::isFieldValue(c)) break;
  }
  if (pos < n) state_ = State::kError;
  return pos;
}

ChunkedDecoder::Status ChunkedDecoder::feed(std::string_view input, size_t* consumed,
                                            std::string_view* payload) {
  *payload = {};
  size_t pos = 0;
  const size_t n = input.size();
  while (pos < n && state_ != State::kError && state_ != State::kDone) {
    switch (state_) {
      case State::kData: {
        const uint64_t available = n - pos;
        const auto take = static_cast<size_t>(remaining_ < available ? remaining_ : available);
        *payload = input.substr(pos, take);
        remaining_ -= take;
        payload_bytes_ += take;
        if (remaining_ == 0) state_ = State::kDataCr;
        *consumed = pos + take;
        return Status::kNeedMore;
      }
      case State::kExtension:
        pos = scanExtension(input, pos);
        break;
      case State::kTrailerLine: {
        const size_t start = pos;
        pos = scanTrailerLine(input, pos);
        if (trailers_ != nullptr) trailers_->append(input.substr(start, pos - start));
        break;
      }
      default:
        if (trailers_ != nullptr) keepTrailerByte(input[pos]);
        if (!step(input[pos])) {
          state_ = State::kError;
        } else {
          ++pos;
        }
        break;
    }
  }
  *consumed = pos;
  if (state_ == State::kDone) return Status::kDone;
  return state_ == State::kError ? Status::kError : Status::kNeedMore;
}

}  // namespace sg::http

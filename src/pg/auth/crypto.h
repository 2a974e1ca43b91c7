#pragma once
// The cryptographic primitives PostgreSQL authentication needs, over OpenSSL 3 (EVP/HMAC/PBKDF2),
// plus the strict base64 SCRAM uses. No state: every call stands alone.
#include <array>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sg::pg {

inline constexpr size_t kSha256Size = 32;
using Sha256Digest = std::array<unsigned char, kSha256Size>;

// Fills a buffer with unpredictable bytes. Injectable so tests can pin nonces and salts; the
// default (an empty function means the default too) is OpenSSL's RAND_bytes.
using RandomFn = std::function<void(unsigned char* out, size_t size)>;
void secureRandom(unsigned char* out, size_t size);  // RAND_bytes; aborts if the CSPRNG fails

Sha256Digest sha256(std::string_view data);
Sha256Digest hmacSha256(std::string_view key, std::string_view data);
// PBKDF2-HMAC-SHA-256 with a 32-byte output: SCRAM's Hi(password, salt, iterations).
Sha256Digest pbkdf2Sha256(std::string_view password, std::string_view salt, int iterations);
// Lower-case hex MD5 (32 characters).
std::string md5Hex(std::string_view data);

// Equality that takes the same time wherever the first difference is (CRYPTO_memcmp), so a
// proof or response cannot be guessed byte by byte from timing. Different sizes are unequal.
bool constantTimeEqual(std::string_view a, std::string_view b);

inline std::string_view asView(const Sha256Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

// Standard base64 (RFC 4648 alphabet, '=' padding). Decoding is strict: the length must be a
// multiple of 4, padding only at the end, no whitespace, and unused bits of the last symbol must be
// zero — SCRAM attributes are compared byte for byte, so a lenient decoder would accept two
// spellings of one value.
std::string base64Encode(std::string_view data);
bool base64Decode(std::string_view text, std::string* out);

}  // namespace sg::pg

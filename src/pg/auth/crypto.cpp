#include "pg/auth/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "base/hex.h"

namespace sg::pg {

void secureRandom(unsigned char* out, size_t size) {
  // A failing CSPRNG leaves nothing safe to do: a predictable nonce or salt would be worse than
  // stopping.
  if (size > 0 && RAND_bytes(out, static_cast<int>(size)) != 1) {
    std::fputs("scalegate: RAND_bytes failed\n", stderr);
    std::abort();
  }
}

namespace {

// One-shot digest through EVP; the algorithms used here cannot fail short of memory exhaustion.
template <size_t N>
std::array<unsigned char, N> digest(const EVP_MD* md, std::string_view data) {
  std::array<unsigned char, N> out{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &size, md, nullptr) != 1 || size != N) {
    std::abort();
  }
  return out;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Sha256Digest sha256(std::string_view data) { return digest<kSha256Size>(EVP_sha256(), data); }

Sha256Digest hmacSha256(std::string_view key, std::string_view data) {
  Sha256Digest out{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &size) == nullptr ||
      size != kSha256Size) {
    std::abort();
  }
  return out;
}

Sha256Digest pbkdf2Sha256(std::string_view password, std::string_view salt, int iterations) {
  Sha256Digest out{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    std::abort();
  }
  return out;
}

std::string md5Hex(std::string_view data) {
  auto raw = digest<16>(EVP_md5(), data);
  return base::hexEncode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

bool constantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t group = (static_cast<unsigned char>(data[i]) << 16) |
                     (static_cast<unsigned char>(data[i + 1]) << 8) |
                     static_cast<unsigned char>(data[i + 2]);
    out.push_back(kAlphabet[(group >> 18) & 63]);
    out.push_back(kAlphabet[(group >> 12) & 63]);
    out.push_back(kAlphabet[(group >> 6) & 63]);
    out.push_back(kAlphabet[group & 63]);
  }
  size_t tail = data.size() - i;
  if (tail > 0) {
    uint32_t group = static_cast<unsigned char>(data[i]) << 16;
    if (tail == 2) group |= static_cast<unsigned char>(data[i + 1]) << 8;
    out.push_back(kAlphabet[(group >> 18) & 63]);
    out.push_back(kAlphabet[(group >> 12) & 63]);
    out.push_back(tail == 2 ? kAlphabet[(group >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool base64Decode(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() % 4 != 0) return false;
  out->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    size_t padding = 0;
    if (last) padding = (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=');
    uint32_t group = 0;
    for (size_t k = 0; k < 4 - padding; ++k) {
      int value = base64Value(text[i + k]);
      if (value < 0) return false;  // also '=' anywhere but the end
      group |= static_cast<uint32_t>(value) << (18 - 6 * k);
    }
    // The bits a padded group does not use must be zero, or two texts would decode alike.
    if ((padding == 1 && (group & 0xff) != 0) || (padding == 2 && (group & 0xffff) != 0)) {
      return false;
    }
    out->push_back(static_cast<char>(group >> 16));
    if (padding < 2) out->push_back(static_cast<char>((group >> 8) & 0xff));
    if (padding < 1) out->push_back(static_cast<char>(group & 0xff));
  }
  return true;
}

}  // namespace sg::pg

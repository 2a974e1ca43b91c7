#include "pg/auth/crypto.h"

#include <gtest/gtest.h>

#include "base/hex.h"

namespace sg::pg {
namespace {

using base::hexEncode;

TEST(PgAuthCrypto, DigestsMatchKnownAnswers) {
  EXPECT_EQ(hexEncode(asView(sha256("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(hexEncode(asView(hmacSha256("Jefe", "what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 7914 section 11 (first 32 bytes), and a 4096-iteration case.
  EXPECT_EQ(hexEncode(asView(pbkdf2Sha256("passwd", "salt", 1))),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
  EXPECT_EQ(hexEncode(asView(pbkdf2Sha256("password", "salt", 4096))),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  EXPECT_EQ(md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(PgAuthCrypto, Base64RoundTripsEveryTailLength) {
  // RFC 4648 section 10 vectors.
  const std::pair<std::string, std::string> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : cases) {
    EXPECT_EQ(base64Encode(plain), encoded);
    std::string decoded;
    ASSERT_TRUE(base64Decode(encoded, &decoded)) << encoded;
    EXPECT_EQ(decoded, plain);
  }
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  std::string decoded;
  ASSERT_TRUE(base64Decode(base64Encode(binary), &decoded));
  EXPECT_EQ(decoded, binary);
}

TEST(PgAuthCrypto, Base64DecodeIsStrict) {
  std::string out;
  EXPECT_FALSE(base64Decode("Zg", &out));        // missing padding
  EXPECT_FALSE(base64Decode("Zg=", &out));       // length not a multiple of 4
  EXPECT_FALSE(base64Decode("Z===", &out));      // too much padding
  EXPECT_FALSE(base64Decode("Zg==Zm9v", &out));  // padding before the end
  EXPECT_FALSE(base64Decode("Zm9v\n", &out));    // whitespace
  EXPECT_FALSE(base64Decode("Zm-v", &out));      // URL-safe alphabet
  EXPECT_FALSE(base64Decode("Zh==", &out));      // nonzero unused bits: another spelling of "f"
  EXPECT_FALSE(base64Decode("Zm9=", &out));
  EXPECT_FALSE(base64Decode("Z=g=", &out));
}

TEST(PgAuthCrypto, ConstantTimeEqualComparesContentAndSize) {
  EXPECT_TRUE(constantTimeEqual("abc", "abc"));
  EXPECT_FALSE(constantTimeEqual("abc", "abd"));
  EXPECT_FALSE(constantTimeEqual("abc", "abcd"));
  EXPECT_TRUE(constantTimeEqual("", ""));
}

TEST(PgAuthCrypto, SecureRandomFillsTheBuffer) {
  std::array<unsigned char, 32> a{};
  std::array<unsigned char, 32> b{};
  secureRandom(a.data(), a.size());
  secureRandom(b.data(), b.size());
  EXPECT_NE(a, b);  // 2^-256 chance of a false failure
}

}  // namespace
}  // namespace sg::pg

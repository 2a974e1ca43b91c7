#include "pg/auth/md5_auth.h"

#include <gtest/gtest.h>

#include "pg/wire.h"

namespace sg::pg {
namespace {

// Known answers computed with Python's hashlib:
//   "md5" + md5(b"secret" + b"md5user").hexdigest()
//   "md5" + md5(b"2aea4196...b0c6" + bytes([1, 2, 3, 4])).hexdigest()
constexpr std::string_view kSecret = "md52aea419619857e8a27f0f7aa641db0c6";
constexpr std::string_view kResponse = "md56b614f1bd5dc8478f5705c783c9bbdc0";
constexpr unsigned char kSalt[4] = {1, 2, 3, 4};

TEST(PgAuthMd5, StoredSecretMatchesPostgres) { EXPECT_EQ(md5Secret("md5user", "secret"), kSecret); }

TEST(PgAuthMd5, ResponseFromPlaintextOrFromTheSecretAlone) {
  EXPECT_EQ(md5Response("md5user", "secret", kSalt), kResponse);
  EXPECT_EQ(md5Response("md5user", kSecret, kSalt), kResponse);
  const unsigned char other_salt[4] = {1, 2, 3, 5};
  EXPECT_NE(md5Response("md5user", "secret", other_salt), kResponse);
  // The user name is part of the hash.
  EXPECT_NE(md5Response("other", "secret", kSalt), kResponse);
}

TEST(PgAuthMd5, ScramOrEmptySecretsCannotAnswer) {
  EXPECT_FALSE(md5Response("u", "SCRAM-SHA-256$4096:c2FsdA==$x:y", kSalt).has_value());
  EXPECT_FALSE(md5Response("u", "", kSalt).has_value());
}

TEST(PgAuthMd5, VerifyAcceptsOnlyTheRightResponse) {
  EXPECT_TRUE(md5Verify("md5user", "secret", kSalt, kResponse));
  EXPECT_TRUE(md5Verify("md5user", kSecret, kSalt, kResponse));
  EXPECT_FALSE(md5Verify("md5user", "Secret", kSalt, kResponse));
  EXPECT_FALSE(md5Verify("md5user", kSecret, kSalt, "md56b614f1bd5dc8478f5705c783c9bbdc1"));
  EXPECT_FALSE(md5Verify("md5user", kSecret, kSalt, ""));
  EXPECT_FALSE(md5Verify("md5user", "", kSalt, md5Response("md5user", "x", kSalt).value()));
}

TEST(PgAuthMd5, SecretShapeIsPostgresOwn) {
  EXPECT_TRUE(isMd5Secret(kSecret));
  EXPECT_FALSE(isMd5Secret("md52AEA419619857E8A27F0F7AA641DB0C6"));  // upper case: plaintext
  EXPECT_FALSE(isMd5Secret("md52aea419619857e8a27f0f7aa641db0c"));   // 31 digits
  EXPECT_FALSE(isMd5Secret("md52aea419619857e8a27f0f7aa641db0cg"));
  EXPECT_FALSE(isMd5Secret("xyz2aea419619857e8a27f0f7aa641db0c6"));
}

TEST(PgAuthMd5, PasswordMessageFraming) {
  std::string out;
  appendPasswordMessage(&out, "md5abc");
  Message message;
  size_t consumed = 0;
  std::string error;
  ASSERT_EQ(parseMessage(out, 1024, &message, &consumed, &error), ParseStatus::kDone);
  EXPECT_EQ(message.type, 'p');
  EXPECT_EQ(consumed, out.size());
  EXPECT_EQ(message.payload, std::string_view("md5abc\0", 7));
}

}  // namespace
}  // namespace sg::pg

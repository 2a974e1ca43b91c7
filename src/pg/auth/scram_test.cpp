#include "pg/auth/scram.h"

#include <gtest/gtest.h>

#include "pg/auth/md5_auth.h"
#include "pg/wire.h"

namespace sg::pg {
namespace {

// RFC 7677 section 3. The server signature ends in ...Rsjl95G4= (checked against the RFC text and
// recomputed with Python's hashlib/hmac).
constexpr std::string_view kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcSaltB64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// What PostgreSQL would store for "pencil" with the RFC's salt (StoredKey:ServerKey by hashlib).
constexpr std::string_view kRfcVerifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

ScramVerifier rfcVerifier() {
  std::string salt;
  EXPECT_TRUE(base64Decode(kRfcSaltB64, &salt));
  return makeScramVerifier("pencil", salt, 4096);
}

ScramVerifier parsed(std::string_view text) {
  ScramVerifier verifier;
  std::string error;
  EXPECT_TRUE(parseScramVerifier(text, &verifier, &error)) << error;
  return verifier;
}

// Runs a whole exchange; returns the first non-kOk status (or kOk) and which step said it.
struct Outcome {
  ScramStatus status = ScramStatus::kOk;
  std::string step;
  std::string error;
};

Outcome exchange(ScramClient& client, ScramServer& server) {
  Outcome out;
  std::string server_first;
  std::string client_final;
  std::string server_final;
  if ((out.status = server.clientFirst(client.clientFirst(), &server_first, &out.error)) !=
      ScramStatus::kOk) {
    out.step = "clientFirst";
  } else if ((out.status = client.serverFirst(server_first, &client_final, &out.error)) !=
             ScramStatus::kOk) {
    out.step = "serverFirst";
  } else if ((out.status = server.clientFinal(client_final, &server_final, &out.error)) !=
             ScramStatus::kOk) {
    out.step = "clientFinal";
  } else if ((out.status = client.serverFinal(server_final, &out.error)) != ScramStatus::kOk) {
    out.step = "serverFinal";
  }
  return out;
}

TEST(PgAuthScram, ClientReproducesRfc7677) {
  ScramClient client = ScramClient::withPassword("pencil");
  client.setUserName("user");
  client.pinNonceForTest(std::string(kRfcClientNonce));
  EXPECT_EQ(client.clientFirst(), kRfcClientFirst);
  std::string client_final;
  std::string error;
  ASSERT_EQ(client.serverFirst(kRfcServerFirst, &client_final, &error), ScramStatus::kOk) << error;
  EXPECT_EQ(client_final, kRfcClientFinal);
  EXPECT_EQ(client.serverFinal(kRfcServerFinal, &error), ScramStatus::kOk) << error;
}

TEST(PgAuthScram, ClientRefusesAServerSignatureOffByOneBit) {
  ScramClient client = ScramClient::withPassword("pencil");
  client.pinNonceForTest(std::string(kRfcClientNonce));
  client.setUserName("user");
  client.clientFirst();
  std::string client_final;
  std::string error;
  ASSERT_EQ(client.serverFirst(kRfcServerFirst, &client_final, &error), ScramStatus::kOk);
  // 'l' -> 'm' flips one bit of the signature.
  EXPECT_EQ(client.serverFinal("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjm95G4=", &error),
            ScramStatus::kFailed);
  EXPECT_NE(error.find("signature"), std::string::npos) << error;
}

TEST(PgAuthScram, ServerReproducesRfc7677) {
  ScramServer server(rfcVerifier());
  server.pinNonceForTest(std::string(kRfcServerNonce));
  std::string server_first;
  std::string server_final;
  std::string error;
  ASSERT_EQ(server.clientFirst(kRfcClientFirst, &server_first, &error), ScramStatus::kOk) << error;
  EXPECT_EQ(server_first, kRfcServerFirst);
  ASSERT_EQ(server.clientFinal(kRfcClientFinal, &server_final, &error), ScramStatus::kOk) << error;
  EXPECT_EQ(server_final, kRfcServerFinal);
  EXPECT_TRUE(server.authenticated());
  // The recovered ClientKey is HMAC(SaltedPassword, "Client Key").
  std::string salt;
  ASSERT_TRUE(base64Decode(kRfcSaltB64, &salt));
  EXPECT_EQ(server.clientKey(),
            hmacSha256(asView(pbkdf2Sha256("pencil", salt, 4096)), "Client Key"));
}

TEST(PgAuthScram, VerifierFormatsAndParsesLikePostgres) {
  EXPECT_EQ(formatScramVerifier(rfcVerifier()), kRfcVerifier);
  ScramVerifier verifier = parsed(kRfcVerifier);
  EXPECT_EQ(verifier.iterations, 4096);
  EXPECT_EQ(verifier.salt.size(), 16u);
  EXPECT_EQ(verifier.stored_key, rfcVerifier().stored_key);
  EXPECT_EQ(verifier.server_key, rfcVerifier().server_key);
}

TEST(PgAuthScram, MalformedVerifiersAreRefused) {
  const std::string keys =
      "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  const std::string bad[] = {
      "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,           // another mechanism
      "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,            // zero iterations
      "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,           // negative
      "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,  // beyond int32
      "SCRAM-SHA-256$4096:" + keys,                                 // empty salt
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=" + keys,          // bad base64 salt
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7Bke:wfPLwcE6nTWhTAmQ7tl2"
      "KeoiWGPlZqQxSrmfPwDl2dU=",  // short StoredKey
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
      "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys,  // no ':'
  };
  for (const std::string& text : bad) {
    ScramVerifier verifier;
    std::string error;
    EXPECT_FALSE(parseScramVerifier(text, &verifier, &error)) << text;
    EXPECT_FALSE(error.empty());
  }
}

TEST(PgAuthScram, RoundTripWithPlaintextPasswordThroughTheCache) {
  ScramVerifierCache cache;
  ScramVerifier verifier;
  std::string error;
  ASSERT_TRUE(scramVerifierForSecret("alice", "s3cret", &cache, &verifier, &error)) << error;
  ScramServer server(verifier);
  ScramClient client = ScramClient::withPassword("s3cret");
  Outcome outcome = exchange(client, server);
  EXPECT_EQ(outcome.status, ScramStatus::kOk) << outcome.step << ": " << outcome.error;
  EXPECT_TRUE(server.authenticated());
}

TEST(PgAuthScram, RoundTripWithAStoredVerifier) {
  ScramVerifierCache cache;
  ScramVerifier verifier;
  std::string error;
  ASSERT_TRUE(scramVerifierForSecret("user", kRfcVerifier, &cache, &verifier, &error)) << error;
  EXPECT_EQ(cache.size(), 0u);  // a verifier needs no PBKDF2 on the proxy
  ScramServer server(verifier);
  ScramClient client = ScramClient::withPassword("pencil");
  Outcome outcome = exchange(client, server);
  EXPECT_EQ(outcome.status, ScramStatus::kOk) << outcome.step << ": " << outcome.error;
}

TEST(PgAuthScram, WrongPasswordFailsAtTheProof) {
  ScramServer server(parsed(kRfcVerifier));
  ScramClient client = ScramClient::withPassword("pencil2");
  Outcome outcome = exchange(client, server);
  EXPECT_EQ(outcome.status, ScramStatus::kFailed);
  EXPECT_EQ(outcome.step, "clientFinal");
  EXPECT_FALSE(server.authenticated());
  // A failed exchange is over: nothing more is accepted.
  std::string out;
  std::string error;
  EXPECT_NE(server.clientFinal("c=biws,r=x,p=x", &out, &error), ScramStatus::kOk);
}

TEST(PgAuthScram, PassThroughLogsInWithTheRecoveredClientKey) {
  ScramVerifier verifier = parsed(kRfcVerifier);
  // The client authenticates to the proxy, which keeps no password, only the verifier.
  ScramServer proxy(verifier);
  ScramClient app = ScramClient::withPassword("pencil");
  Outcome to_proxy = exchange(app, proxy);
  ASSERT_EQ(to_proxy.status, ScramStatus::kOk) << to_proxy.step << ": " << to_proxy.error;
  // The proxy logs in to a server holding the same verifier with the recovered ClientKey.
  ScramServer postgres(verifier);
  ScramClient proxy_login = ScramClient::withKeys(verifier, proxy.clientKey());
  Outcome to_server = exchange(proxy_login, postgres);
  EXPECT_EQ(to_server.status, ScramStatus::kOk) << to_server.step << ": " << to_server.error;
  EXPECT_TRUE(postgres.authenticated());
}

TEST(PgAuthScram, PassThroughToAServerWithAnotherSaltFailsClearly) {
  ScramVerifier verifier = parsed(kRfcVerifier);
  ScramServer proxy(verifier);
  ScramClient app = ScramClient::withPassword("pencil");
  ASSERT_EQ(exchange(app, proxy).status, ScramStatus::kOk);
  // Same password, re-hashed by the server with its own salt.
  ScramServer postgres(makeScramVerifier("pencil", "another salt....", 4096));
  ScramClient proxy_login = ScramClient::withKeys(verifier, proxy.clientKey());
  Outcome outcome = exchange(proxy_login, postgres);
  EXPECT_EQ(outcome.status, ScramStatus::kFailed);
  EXPECT_EQ(outcome.step, "serverFirst");
  EXPECT_NE(outcome.error.find("differs"), std::string::npos) << outcome.error;
}

TEST(PgAuthScram, ImpostorKnowingOnlyStoredKeyIsUnmasked) {
  // A server that stole StoredKey can check the client's proof, but cannot sign without ServerKey.
  ScramVerifier stolen = parsed(kRfcVerifier);
  stolen.server_key = sha256("guess");
  ScramServer impostor(stolen);
  ScramClient client = ScramClient::withPassword("pencil");
  Outcome outcome = exchange(client, impostor);
  EXPECT_TRUE(impostor.authenticated());
  EXPECT_EQ(outcome.status, ScramStatus::kFailed);
  EXPECT_EQ(outcome.step, "serverFinal");
}

TEST(PgAuthScram, NoncesComeFromTheInjectedRandomness) {
  int calls = 0;
  RandomFn counting = [&calls](unsigned char* out, size_t size) {
    ++calls;
    for (size_t i = 0; i < size; ++i) out[i] = 0xfb;  // base64 "+/v7..."
  };
  ScramServer server(parsed(kRfcVerifier), counting);
  std::string server_first;
  std::string error;
  ASSERT_EQ(server.clientFirst("n,,n=,r=abc", &server_first, &error), ScramStatus::kOk) << error;
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(server_first, "r=abc+/v7+/v7+/v7+/v7+/v7+/v7,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  ScramClient client = ScramClient::withPassword("pw", counting);
  EXPECT_EQ(client.clientFirst(), "n,,n=,r=+/v7+/v7+/v7+/v7+/v7+/v7");
  EXPECT_EQ(calls, 2);
}

TEST(PgAuthScram, ClientNameIsEscapedAndIgnoredByTheServer) {
  ScramClient client = ScramClient::withPassword("pencil");
  client.setUserName("a,b=c");
  client.pinNonceForTest("N");
  EXPECT_EQ(client.clientFirst(), "n,,n=a=2Cb=3Dc,r=N");
  ScramServer server(parsed(kRfcVerifier));
  ScramClient named = ScramClient::withPassword("pencil");
  named.setUserName("somebody else");
  EXPECT_EQ(exchange(named, server).status, ScramStatus::kOk);
}

ScramStatus clientFirstStatus(std::string_view message, std::string* error) {
  ScramServer server(parsed(kRfcVerifier));
  std::string out;
  return server.clientFirst(message, &out, error);
}

TEST(PgAuthScram, ServerRefusesMalformedClientFirst) {
  const std::string_view bad[] = {
      "",                                  // empty
      "n",                                 // header cut short
      "x,,n=,r=abc",                       // unknown cbind flag
      "p=tls-server-end-point,,n=,r=abc",  // channel binding: no PLUS offered
      "n,a=bob,n=,r=abc",                  // authorization identity
      "n,,m=ext,n=,r=abc",                 // mandatory extension
      "n,,n=user",                         // missing nonce
      "n,,n=user,",                        // trailing comma
      "n,,r=abc",                          // missing user attribute
      "n,,n=,r=",                          // empty nonce
      "n,,n=,r=a\x7f"
      "b",               // nonce not printable
      "n,,n=,r=abc,=x",  // malformed extension
      "n,,n=,r=abc,xx",  // malformed extension
  };
  for (std::string_view message : bad) {
    std::string error;
    EXPECT_EQ(clientFirstStatus(message, &error), ScramStatus::kMalformed) << message;
    EXPECT_FALSE(error.empty()) << message;
  }
  std::string error;
  EXPECT_EQ(clientFirstStatus("p=tls-server-end-point,,n=,r=abc", &error), ScramStatus::kMalformed);
  EXPECT_NE(error.find("channel binding"), std::string::npos) << error;
  // Extensions after the nonce are allowed.
  EXPECT_EQ(clientFirstStatus("n,,n=,r=abc,x=1", &error), ScramStatus::kOk) << error;
}

// The server after a good client-first for nonce "abc" + pinned "XYZ", with gs2 flag `flag`.
struct StartedServer {
  explicit StartedServer(std::string_view flag = "n") : server(parsed(kRfcVerifier)) {
    server.pinNonceForTest("XYZ");
    std::string out;
    std::string error;
    EXPECT_EQ(server.clientFirst(std::string(flag) + ",,n=,r=abc", &out, &error), ScramStatus::kOk);
  }
  ScramStatus final(std::string_view message, std::string* error) {
    std::string out;
    return server.clientFinal(message, &out, error);
  }
  ScramServer server;
};

TEST(PgAuthScram, ServerRefusesMalformedClientFinal) {
  const std::string proof = "p=" + base64Encode(std::string(32, 'x'));
  const std::string bad[] = {
      "",                                            // empty
      "c=biws",                                      // no nonce
      "c=biws,r=abcXYZ",                             // no proof
      "r=abcXYZ,c=biws," + proof,                    // attributes out of order
      "c=eSws,r=abcXYZ," + proof,                    // "y,," binding after a "n,," header
      "c=biws,r=abcXYQ," + proof,                    // wrong nonce
      "c=biws,r=abc," + proof,                       // only the client's part of the nonce
      "c=biws,r=abcXYZ,p=not*base64",                // bad base64
      "c=biws,r=abcXYZ,p=" + base64Encode("short"),  // proof of the wrong size
      "c=biws,r=abcXYZ," + proof + ",x=1",           // proof not last
      "c=biws,r=abcXYZ," + proof + ",",              // trailing comma
  };
  for (const std::string& message : bad) {
    StartedServer started;
    std::string error;
    EXPECT_EQ(started.final(message, &error), ScramStatus::kMalformed) << message;
    EXPECT_FALSE(error.empty()) << message;
    EXPECT_FALSE(started.server.authenticated());
  }
  // Well formed with an extension before the proof, but a wrong proof: an auth failure.
  StartedServer started;
  std::string error;
  EXPECT_EQ(started.final("c=biws,r=abcXYZ,x=1," + proof, &error), ScramStatus::kFailed);
}

TEST(PgAuthScram, ClientThatCouldBindIsAccepted) {
  // "y,,": the client supports channel binding but thinks the server does not (true here).
  StartedServer started("y");
  std::string error;
  EXPECT_EQ(started.final("c=biws,r=abcXYZ,p=" + base64Encode(std::string(32, 'x')), &error),
            ScramStatus::kMalformed);  // c= must repeat "y,,"
  ScramServer server(parsed(kRfcVerifier));
  std::string server_first;
  ASSERT_EQ(server.clientFirst("y,,n=,r=abc", &server_first, &error), ScramStatus::kOk);
  // Build the right proof by hand: a ScramClient always sends "n,,", so compute from the keys.
  std::string nonce = server_first.substr(2, server_first.find(',') - 2);
  std::string without_proof = "c=eSws,r=" + nonce;
  std::string auth_message = "n=,r=abc," + server_first + "," + without_proof;
  std::string salt;
  ASSERT_TRUE(base64Decode(kRfcSaltB64, &salt));
  ScramKey client_key = hmacSha256(asView(pbkdf2Sha256("pencil", salt, 4096)), "Client Key");
  ScramKey signature = hmacSha256(asView(sha256(asView(client_key))), auth_message);
  ScramKey proof{};
  for (size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ signature[i];
  std::string server_final;
  EXPECT_EQ(server.clientFinal(without_proof + ",p=" + base64Encode(asView(proof)), &server_final,
                               &error),
            ScramStatus::kOk)
      << error;
  EXPECT_EQ(server.clientKey(), client_key);
}

TEST(PgAuthScram, ServerRefusesMessagesOutOfOrder) {
  ScramServer server(parsed(kRfcVerifier));
  std::string out;
  std::string error;
  EXPECT_EQ(server.clientFinal(kRfcClientFinal, &out, &error), ScramStatus::kMalformed);
  ScramClient client = ScramClient::withPassword("pencil");
  EXPECT_EQ(client.serverFirst(kRfcServerFirst, &out, &error), ScramStatus::kMalformed);
  EXPECT_EQ(client.serverFinal(kRfcServerFinal, &error), ScramStatus::kMalformed);
}

ScramStatus serverFirstStatus(std::string_view message, std::string* error) {
  ScramClient client = ScramClient::withPassword("pencil");
  client.pinNonceForTest("abc");
  client.clientFirst();
  std::string out;
  return client.serverFirst(message, &out, error);
}

TEST(PgAuthScram, ClientRefusesBadServerFirst) {
  const std::pair<std::string_view, ScramStatus> cases[] = {
      {"", ScramStatus::kMalformed},
      {"s=c2FsdA==,i=4096", ScramStatus::kMalformed},               // missing nonce
      {"r=abcXYZ,i=4096", ScramStatus::kMalformed},                 // missing salt
      {"r=abcXYZ,s=c2FsdA==", ScramStatus::kMalformed},             // missing iterations
      {"m=x,r=abcXYZ,s=c2FsdA==,i=4096", ScramStatus::kMalformed},  // mandatory extension
      {"r=abdXYZ,s=c2FsdA==,i=4096", ScramStatus::kFailed},         // not our nonce
      {"r=abc,s=c2FsdA==,i=4096", ScramStatus::kFailed},            // nothing added to it
      {"r=XYZabc,s=c2FsdA==,i=4096", ScramStatus::kFailed},         // ours, but not first
      {"r=abcXYZ,s=c2FsdA=,i=4096", ScramStatus::kMalformed},       // bad base64
      {"r=abcXYZ,s=,i=4096", ScramStatus::kMalformed},              // empty salt
      {"r=abcXYZ,s=c2FsdA==,i=0", ScramStatus::kMalformed},
      {"r=abcXYZ,s=c2FsdA==,i=-5", ScramStatus::kMalformed},
      {"r=abcXYZ,s=c2FsdA==,i=4k", ScramStatus::kMalformed},
      {"r=abcXYZ,s=c2FsdA==,i=99999999999", ScramStatus::kMalformed},
      {"r=abcXYZ,s=c2FsdA==,i=100001", ScramStatus::kFailed},  // over the cap
  };
  for (const auto& [message, expected] : cases) {
    std::string error;
    EXPECT_EQ(serverFirstStatus(message, &error), expected) << message;
    EXPECT_FALSE(error.empty()) << message;
  }
  std::string error;
  EXPECT_EQ(serverFirstStatus("r=abcXYZ,s=c2FsdA==,i=1,x=ext", &error), ScramStatus::kOk) << error;
  EXPECT_EQ(serverFirstStatus("r=abcXYZ,s=c2FsdA==,i=100001", &error), ScramStatus::kFailed);
  EXPECT_NE(error.find("100000"), std::string::npos) << error;
}

TEST(PgAuthScram, ClientRefusesBadServerFinal) {
  const std::pair<std::string_view, ScramStatus> cases[] = {
      {"", ScramStatus::kMalformed},
      {"v=", ScramStatus::kMalformed},
      {"v=not*base64", ScramStatus::kMalformed},
      {"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", ScramStatus::kMalformed},
      {"e=invalid-proof", ScramStatus::kFailed},
  };
  for (const auto& [message, expected] : cases) {
    ScramClient client = ScramClient::withPassword("pencil");
    client.setUserName("user");
    client.pinNonceForTest(std::string(kRfcClientNonce));
    client.clientFirst();
    std::string out;
    std::string error;
    ASSERT_EQ(client.serverFirst(kRfcServerFirst, &out, &error), ScramStatus::kOk);
    EXPECT_EQ(client.serverFinal(message, &error), expected) << message;
    EXPECT_FALSE(error.empty()) << message;
  }
}

TEST(PgAuthScram, SecretsThatCannotServeScram) {
  ScramVerifierCache cache;
  ScramVerifier verifier;
  std::string error;
  EXPECT_FALSE(scramVerifierForSecret("u", md5Secret("u", "pw"), &cache, &verifier, &error));
  EXPECT_NE(error.find("md5"), std::string::npos) << error;
  EXPECT_FALSE(scramVerifierForSecret("u", "", &cache, &verifier, &error));
  EXPECT_FALSE(
      scramVerifierForSecret("u", "SCRAM-SHA-256$4096:bad$bad:bad", &cache, &verifier, &error));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(PgAuthScram, CacheKeepsOneSaltPerUserUntilThePasswordChanges) {
  int salts = 0;
  ScramVerifierCache cache([&salts](unsigned char* out, size_t size) {
    ++salts;
    for (size_t i = 0; i < size; ++i) out[i] = static_cast<unsigned char>(salts + i);
  });
  ScramVerifier first = cache.get("alice", "one");
  ScramVerifier again = cache.get("alice", "one");
  EXPECT_EQ(salts, 1);
  EXPECT_EQ(first.salt, again.salt);
  EXPECT_EQ(first.stored_key, again.stored_key);
  EXPECT_EQ(first.iterations, kScramDefaultIterations);
  EXPECT_EQ(first.salt.size(), kScramSaltSize);
  ScramVerifier changed = cache.get("alice", "two");
  EXPECT_EQ(salts, 2);
  EXPECT_NE(changed.stored_key, first.stored_key);
  EXPECT_EQ(changed.stored_key, makeScramVerifier("two", changed.salt, 4096).stored_key);
  cache.get("bob", "two");
  EXPECT_EQ(cache.size(), 2u);
}

TEST(PgAuthSasl, InitialResponseRoundTripsThroughTheWire) {
  std::string out;
  appendSaslInitialResponse(&out, kScramSha256Mechanism, kRfcClientFirst);
  Message message;
  size_t consumed = 0;
  std::string error;
  ASSERT_EQ(parseMessage(out, 1024, &message, &consumed, &error), ParseStatus::kDone) << error;
  EXPECT_EQ(message.type, 'p');
  EXPECT_EQ(consumed, out.size());
  SaslInitialResponse initial;
  ASSERT_TRUE(parseSaslInitialResponse(message.payload, &initial, &error)) << error;
  EXPECT_EQ(initial.mechanism, kScramSha256Mechanism);
  ASSERT_TRUE(initial.data.has_value());
  EXPECT_EQ(*initial.data, kRfcClientFirst);

  out.clear();
  appendSaslResponse(&out, kRfcClientFinal);
  ASSERT_EQ(parseMessage(out, 1024, &message, &consumed, &error), ParseStatus::kDone) << error;
  std::string_view data;
  ASSERT_TRUE(parseSaslResponse(message.payload, &data, &error)) << error;
  EXPECT_EQ(data, kRfcClientFinal);
}

std::string initialPayload(std::string_view mechanism, int32_t length, std::string_view data) {
  std::string payload(mechanism);
  payload.push_back('\0');
  appendInt32(&payload, length);
  payload.append(data);
  return payload;
}

TEST(PgAuthSasl, InitialResponseParsing) {
  SaslInitialResponse initial;
  std::string error;
  ASSERT_TRUE(parseSaslInitialResponse(initialPayload("SCRAM-SHA-256", -1, ""), &initial, &error));
  EXPECT_FALSE(initial.data.has_value());
  ASSERT_TRUE(parseSaslInitialResponse(initialPayload("SCRAM-SHA-256", 0, ""), &initial, &error));
  EXPECT_EQ(initial.data, std::string_view());

  EXPECT_FALSE(parseSaslInitialResponse("", &initial, &error));
  EXPECT_FALSE(parseSaslInitialResponse("SCRAM-SHA-256", &initial, &error));  // no NUL
  EXPECT_FALSE(parseSaslInitialResponse(std::string("SCRAM-SHA-256\0\0\0", 16), &initial,
                                        &error));  // length cut short
  EXPECT_FALSE(parseSaslInitialResponse(initialPayload("M", 5, "abcd"), &initial, &error));
  EXPECT_FALSE(parseSaslInitialResponse(initialPayload("M", 3, "abcd"), &initial, &error));
  EXPECT_FALSE(parseSaslInitialResponse(initialPayload("M", -2, ""), &initial, &error));
  EXPECT_FALSE(parseSaslInitialResponse(initialPayload("M", -1, "x"), &initial, &error));
  EXPECT_FALSE(error.empty());

  std::string_view data;
  EXPECT_FALSE(parseSaslResponse("", &data, &error));
}

TEST(PgAuthSasl, MechanismList) {
  std::vector<std::string_view> mechanisms;
  std::string error;
  // The list is views into the body, which must outlive it.
  const std::string body("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0", 34);
  ASSERT_TRUE(parseSaslMechanisms(body, &mechanisms, &error)) << error;
  ASSERT_EQ(mechanisms.size(), 2u);
  EXPECT_EQ(mechanisms[0], "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(mechanisms[1], kScramSha256Mechanism);
  EXPECT_FALSE(parseSaslMechanisms(std::string("\0", 1), &mechanisms, &error));   // none
  EXPECT_FALSE(parseSaslMechanisms(std::string("A\0", 2), &mechanisms, &error));  // no end
  EXPECT_FALSE(parseSaslMechanisms(std::string("A\0\0x", 4), &mechanisms, &error));
  EXPECT_FALSE(parseSaslMechanisms("", &mechanisms, &error));
}

}  // namespace
}  // namespace sg::pg

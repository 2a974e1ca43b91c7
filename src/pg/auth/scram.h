#pragma once
// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it
// (https://www.postgresql.org/docs/15/sasl-authentication.html), for both sides of the proxy:
// ScramServer authenticates a client, ScramClient logs in to a PostgreSQL server.
//
// Like PostgreSQL without SCRAM-SHA-256-PLUS: no channel binding. A client's gs2 header must be
// "n,," or "y,," (the client could bind but believes the server cannot — true, we offer no PLUS);
// "p=..." is refused, as is an authorization identity ("a=") or a mandatory extension ("m=").
// The user name inside client-first-message is ignored, as PostgreSQL does: the user is the one
// of the startup packet.
//
// SASLprep (RFC 4013): PostgreSQL normalizes a password that is valid UTF-8 and uses the raw
// bytes when normalization fails. Here a password is always used as raw bytes. For ASCII
// passwords (by far the common case) that is exactly what PostgreSQL does, since SASLprep leaves
// ASCII unchanged; a non-ASCII password whose NFKC form differs from its bytes (compatibility
// characters, non-ASCII spaces, decomposed accents) would produce a different key than
// PostgreSQL's, so such passwords should be stored as SCRAM verifiers made by PostgreSQL itself.
#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pg/auth/crypto.h"

namespace sg::pg {

inline constexpr std::string_view kScramSha256Mechanism = "SCRAM-SHA-256";
// PostgreSQL's defaults for verifiers it makes (scram_iterations, SCRAM_DEFAULT_SALT_LEN).
inline constexpr int kScramDefaultIterations = 4096;
inline constexpr size_t kScramSaltSize = 16;
// The most PBKDF2 iterations ScramClient computes for a server's challenge. PBKDF2 runs on a
// worker's event loop: 4096 iterations take about 1.3 ms on this machine, so 100,000 is about
// 23 ms of a stalled loop per server login — well above PostgreSQL's default and common hardened
// settings, while a hostile or misconfigured server announcing 2^31 cannot stall a worker for
// minutes. (Verifiers in the user list are not capped: checking a client costs no PBKDF2.)
inline constexpr int kScramMaxIterations = 100000;

using ScramKey = Sha256Digest;

// A stored SCRAM secret: SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>.
struct ScramVerifier {
  int iterations = 0;
  std::string salt;  // raw bytes
  ScramKey stored_key{};
  ScramKey server_key{};
};

// True when `text` has the shape of a SCRAM verifier (its prefix); parseScramVerifier says if it
// is a valid one.
bool looksLikeScramVerifier(std::string_view text);
bool parseScramVerifier(std::string_view text, ScramVerifier* out, std::string* error);
std::string formatScramVerifier(const ScramVerifier& verifier);
// The verifier PostgreSQL would store for `password` with this salt and iteration count.
ScramVerifier makeScramVerifier(std::string_view password, std::string_view salt, int iterations);

// Verifiers made from plaintext passwords of the user list, one per user with its own random
// salt, so PBKDF2 runs once per user and password instead of once per connection (PostgreSQL too
// keeps one salt per user). Thread-safe; a changed password (a reloaded list) makes a new one.
class ScramVerifierCache {
 public:
  explicit ScramVerifierCache(RandomFn random = {});
  ScramVerifier get(std::string_view user, std::string_view password);
  size_t size() const;

 private:
  struct Entry {
    std::string password;
    ScramVerifier verifier;
  };
  RandomFn random_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

// The verifier to check a client against, from a user list secret: a SCRAM verifier as it is, a
// plaintext password through `cache`. An md5 secret cannot serve SCRAM, and an empty password
// never authenticates (as in PostgreSQL): false and *error.
bool scramVerifierForSecret(std::string_view user, std::string_view secret,
                            ScramVerifierCache* cache, ScramVerifier* out, std::string* error);

enum class ScramStatus : uint8_t {
  kOk,
  kMalformed,  // a protocol violation: a client gets SQLSTATE 08P01, a server connection closes
  kFailed,     // authentication failed: wrong password (28P01), or an impostor/mismatched server
};

// The proxy authenticating a client. One object per authentication exchange:
//   clientFirst(client-first-message) -> server-first-message   (send in SASLContinue)
//   clientFinal(client-final-message) -> server-final-message   (send in SASLFinal, then AuthOk)
// On anything but kOk, *error says why (for the log; the client gets the usual SQLSTATE 28P01
// "password authentication failed for user ..." or 08P01) and the exchange is over.
class ScramServer {
 public:
  explicit ScramServer(ScramVerifier verifier, RandomFn random = {});

  ScramStatus clientFirst(std::string_view message, std::string* server_first, std::string* error);
  ScramStatus clientFinal(std::string_view message, std::string* server_final, std::string* error);

  bool authenticated() const { return state_ == State::kDone; }
  // After success: the ClientKey recovered from the client's proof (ClientProof XOR
  // ClientSignature). With it and the verifier's ServerKey the proxy can log in to a server that
  // stores the same verifier, without knowing the password (PgBouncer's SCRAM pass-through).
  const ScramKey& clientKey() const { return client_key_; }
  const ScramVerifier& verifier() const { return verifier_; }

  // Tests only: the server part of the nonce (RFC vectors use nonces that are not base64).
  void pinNonceForTest(std::string nonce) { pinned_nonce_ = std::move(nonce); }

 private:
  enum class State : uint8_t { kFirst, kFinal, kDone, kFailed };
  ScramStatus fail(ScramStatus status, std::string message, std::string* error);

  ScramVerifier verifier_;
  RandomFn random_;
  State state_ = State::kFirst;
  std::string pinned_nonce_;
  std::string cbind_b64_;  // the gs2 header the client sent, base64: what c= must repeat
  std::string nonce_;      // client nonce + server nonce
  std::string client_first_bare_;
  std::string server_first_;
  ScramKey client_key_{};
};

// The proxy logging in to a server as a client:
//   clientFirst() -> client-first-message                       (send in SASLInitialResponse)
//   serverFirst(server-first-message) -> client-final-message   (from SASLContinue; send in
//                                                                SASLResponse)
//   serverFinal(server-final-message)                           (from SASLFinal)
// Only a server that knows the verifier passes serverFinal: an impostor gets kFailed.
class ScramClient {
 public:
  // From the user's plaintext password.
  static ScramClient withPassword(std::string password, RandomFn random = {});
  // Pass-through: the ClientKey a ScramServer recovered from a client, and the verifier it was
  // checked against (its ServerKey proves the server; its salt and iteration count must be what
  // the server announces, or the server holds another secret and the login cannot succeed).
  static ScramClient withKeys(const ScramVerifier& verifier, const ScramKey& client_key,
                              RandomFn random = {});

  std::string clientFirst();
  ScramStatus serverFirst(std::string_view message, std::string* client_final, std::string* error);
  ScramStatus serverFinal(std::string_view message, std::string* error);

  // The user name put in client-first-message. PostgreSQL ignores it and libpq sends it empty, so
  // that is the default; RFC test vectors need "user".
  void setUserName(std::string user) { user_ = std::move(user); }
  // Tests only: the client nonce (RFC vectors use nonces that are not base64).
  void pinNonceForTest(std::string nonce) { pinned_nonce_ = std::move(nonce); }

 private:
  enum class State : uint8_t { kStart, kFirst, kFinal, kDone, kFailed };
  ScramClient() = default;
  ScramStatus fail(ScramStatus status, std::string message, std::string* error);
  bool deriveKeys(std::string_view salt, int iterations, std::string* error);

  RandomFn random_;
  State state_ = State::kStart;
  std::string password_;                   // withPassword
  std::optional<ScramVerifier> verifier_;  // withKeys
  std::string user_;
  std::string pinned_nonce_;
  std::string client_nonce_;
  std::string client_first_bare_;
  ScramKey client_key_{};
  ScramKey server_key_{};
  std::string auth_message_;
};

// SASL on the wire (https://www.postgresql.org/docs/15/protocol-message-formats.html). Parsed
// fields are views into the payload, which must outlive them. The mechanism name is the caller's
// to check (kScramSha256Mechanism is the only one offered).
struct SaslInitialResponse {
  std::string_view mechanism;
  std::optional<std::string_view> data;  // absent when the length is -1 (no initial response)
};
// The payload of a SASLInitialResponse ('p'): String mechanism, Int32 length or -1, Byte[n].
bool parseSaslInitialResponse(std::string_view payload, SaslInitialResponse* out,
                              std::string* error);
// The payload of a SASLResponse ('p'): the data itself; an empty one is an error.
bool parseSaslResponse(std::string_view payload, std::string_view* data, std::string* error);
// The mechanisms of an AuthenticationSASL ('R', code 10): `body` is the payload after the Int32
// code, a list of Strings ended by an empty one.
bool parseSaslMechanisms(std::string_view body, std::vector<std::string_view>* out,
                         std::string* error);
// The frontend messages the proxy sends to a server ('p' both).
void appendSaslInitialResponse(std::string* out, std::string_view mechanism, std::string_view data);
void appendSaslResponse(std::string* out, std::string_view data);

}  // namespace sg::pg

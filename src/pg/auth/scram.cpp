#include "pg/auth/scram.h"

#include <charconv>
#include <utility>

#include "pg/auth/md5_auth.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

constexpr std::string_view kVerifierPrefix = "SCRAM-SHA-256$";
constexpr size_t kNonceRandomBytes = 18;  // as PostgreSQL: 24 base64 characters

void fillRandom(const RandomFn& random, unsigned char* out, size_t size) {
  if (random) {
    random(out, size);
  } else {
    secureRandom(out, size);
  }
}

std::string makeNonce(const RandomFn& random) {
  std::array<unsigned char, kNonceRandomBytes> raw{};
  fillRandom(random, raw.data(), raw.size());
  return base64Encode({reinterpret_cast<const char*>(raw.data()), raw.size()});
}

// RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII but ','.
bool isPrintableNonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

ScramKey xorKeys(const ScramKey& a, const ScramKey& b) {
  ScramKey out{};
  for (size_t i = 0; i < out.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

bool decodeKey(std::string_view b64, ScramKey* out) {
  std::string raw;
  if (!base64Decode(b64, &raw) || raw.size() != out->size()) return false;
  std::copy(raw.begin(), raw.end(), out->begin());
  return true;
}

// A decimal count in [1, max], digits only.
bool parseIterations(std::string_view text, int max, int* out) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  long long value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value < 1 || value > max) return false;
  *out = static_cast<int>(value);
  return true;
}

// Walks "k=value,k=value,..." one attribute at a time. An attribute is one ASCII letter, '=' and
// a value running to the next ',' (values never contain ',': nonces exclude it, base64 lacks it,
// and saslname escapes it as =2C).
class AttributeReader {
 public:
  explicit AttributeReader(std::string_view text) : rest_(text) {}
  bool atEnd() const { return rest_.empty(); }
  size_t offset(std::string_view whole) const { return whole.size() - rest_.size(); }
  char peekKey() const { return rest_.empty() ? '\0' : rest_[0]; }

  // Reads the next attribute, which must be `key`.
  bool expect(char key, std::string_view* value, std::string* error) {
    char got = 0;
    if (!next(&got, value, error)) return false;
    if (got != key) {
      *error = std::string("expected attribute '") + key + "', got '" + got + "'";
      return false;
    }
    return true;
  }

  bool next(char* key, std::string_view* value, std::string* error) {
    if (rest_.size() < 2 || rest_[1] != '=' || !isAsciiLetter(rest_[0])) {
      *error = rest_.empty() ? "message ends early" : "malformed attribute";
      return false;
    }
    *key = rest_[0];
    size_t comma = rest_.find(',');
    *value = rest_.substr(2, comma == std::string_view::npos ? std::string_view::npos : comma - 2);
    rest_ = comma == std::string_view::npos ? std::string_view{} : rest_.substr(comma + 1);
    if (comma != std::string_view::npos && rest_.empty()) {
      *error = "trailing ','";
      return false;
    }
    return true;
  }

 private:
  static bool isAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  std::string_view rest_;
};

// saslname (RFC 5802 5.1): ',' and '=' are written =2C and =3D.
std::string escapeSaslName(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

bool looksLikeScramVerifier(std::string_view text) { return text.starts_with(kVerifierPrefix); }

bool parseScramVerifier(std::string_view text, ScramVerifier* out, std::string* error) {
  if (!looksLikeScramVerifier(text)) {
    *error = "not a SCRAM-SHA-256 verifier";
    return false;
  }
  std::string_view rest = text.substr(kVerifierPrefix.size());
  size_t colon1 = rest.find(':');
  size_t dollar = rest.find('$');
  size_t colon2 = dollar == std::string_view::npos ? dollar : rest.find(':', dollar);
  if (colon1 == std::string_view::npos || dollar == std::string_view::npos ||
      colon2 == std::string_view::npos || colon1 > dollar) {
    *error = "SCRAM verifier is not <iterations>:<salt>$<StoredKey>:<ServerKey>";
    return false;
  }
  ScramVerifier verifier;
  if (!parseIterations(rest.substr(0, colon1), INT32_MAX, &verifier.iterations)) {
    *error = "SCRAM verifier has a bad iteration count";
    return false;
  }
  if (!base64Decode(rest.substr(colon1 + 1, dollar - colon1 - 1), &verifier.salt) ||
      verifier.salt.empty()) {
    *error = "SCRAM verifier has a bad salt (base64)";
    return false;
  }
  if (!decodeKey(rest.substr(dollar + 1, colon2 - dollar - 1), &verifier.stored_key) ||
      !decodeKey(rest.substr(colon2 + 1), &verifier.server_key)) {
    *error = "SCRAM verifier has a bad StoredKey or ServerKey (32 bytes, base64)";
    return false;
  }
  *out = std::move(verifier);
  return true;
}

std::string formatScramVerifier(const ScramVerifier& verifier) {
  return std::string(kVerifierPrefix) + std::to_string(verifier.iterations) + ":" +
         base64Encode(verifier.salt) + "$" + base64Encode(asView(verifier.stored_key)) + ":" +
         base64Encode(asView(verifier.server_key));
}

ScramVerifier makeScramVerifier(std::string_view password, std::string_view salt, int iterations) {
  Sha256Digest salted = pbkdf2Sha256(password, salt, iterations);
  ScramVerifier verifier;
  verifier.iterations = iterations;
  verifier.salt = std::string(salt);
  verifier.stored_key = sha256(asView(hmacSha256(asView(salted), "Client Key")));
  verifier.server_key = hmacSha256(asView(salted), "Server Key");
  return verifier;
}

ScramVerifierCache::ScramVerifierCache(RandomFn random) : random_(std::move(random)) {}

ScramVerifier ScramVerifierCache::get(std::string_view user, std::string_view password) {
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(user));
    if (it != entries_.end() && constantTimeEqual(it->second.password, password)) {
      return it->second.verifier;
    }
  }
  // PBKDF2 outside the lock: two first logins of one user may both compute; the last one stays.
  std::array<unsigned char, kScramSaltSize> salt{};
  fillRandom(random_, salt.data(), salt.size());
  ScramVerifier verifier = makeScramVerifier(
      password, {reinterpret_cast<const char*>(salt.data()), salt.size()}, kScramDefaultIterations);
  std::lock_guard lock(mutex_);
  entries_[std::string(user)] = Entry{std::string(password), verifier};
  return verifier;
}

size_t ScramVerifierCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

bool scramVerifierForSecret(std::string_view user, std::string_view secret,
                            ScramVerifierCache* cache, ScramVerifier* out, std::string* error) {
  if (looksLikeScramVerifier(secret)) return parseScramVerifier(secret, out, error);
  if (isMd5Secret(secret)) {
    *error = "user \"" + std::string(user) + "\" has an md5 secret, which cannot do SCRAM";
    return false;
  }
  if (secret.empty()) {
    *error = "user \"" + std::string(user) + "\" has an empty password";
    return false;
  }
  *out = cache->get(user, secret);
  return true;
}

ScramServer::ScramServer(ScramVerifier verifier, RandomFn random)
    : verifier_(std::move(verifier)), random_(std::move(random)) {}

ScramStatus ScramServer::fail(ScramStatus status, std::string message, std::string* error) {
  state_ = State::kFailed;
  *error = std::move(message);
  return status;
}

ScramStatus ScramServer::clientFirst(std::string_view message, std::string* server_first,
                                     std::string* error) {
  if (state_ != State::kFirst)
    return fail(ScramStatus::kMalformed, "unexpected SCRAM message", error);
  // gs2-header: cbind-flag "," [authzid] ","
  std::string_view header;
  if (message.starts_with("n,") || message.starts_with("y,")) {
    header = message.substr(0, 2);
  } else if (message.starts_with("p=")) {
    return fail(ScramStatus::kMalformed,
                "client requires SCRAM channel binding, but SCRAM-SHA-256-PLUS is not offered",
                error);
  } else {
    return fail(ScramStatus::kMalformed, "malformed SCRAM gs2 header", error);
  }
  std::string_view rest = message.substr(2);
  if (rest.starts_with("a=")) {
    return fail(ScramStatus::kMalformed, "SCRAM authorization identity is not supported", error);
  }
  if (!rest.starts_with(","))
    return fail(ScramStatus::kMalformed, "malformed SCRAM gs2 header", error);
  cbind_b64_ = base64Encode(std::string(header) + ",");
  client_first_bare_ = std::string(rest.substr(1));

  AttributeReader reader(client_first_bare_);
  std::string_view user;
  std::string_view client_nonce;
  std::string why;
  if (reader.peekKey() == 'm') {
    return fail(ScramStatus::kMalformed, "SCRAM mandatory extensions are not supported", error);
  }
  // The user name is ignored: the startup packet's user is the one authenticated.
  if (!reader.expect('n', &user, &why) || !reader.expect('r', &client_nonce, &why)) {
    return fail(ScramStatus::kMalformed, "malformed SCRAM client-first-message: " + why, error);
  }
  if (!isPrintableNonce(client_nonce)) {
    return fail(ScramStatus::kMalformed, "SCRAM client nonce is empty or not printable", error);
  }
  // Optional extensions after the nonce are allowed and ignored, but must be well formed.
  while (!reader.atEnd()) {
    char key = 0;
    std::string_view value;
    if (!reader.next(&key, &value, &why)) {
      return fail(ScramStatus::kMalformed, "malformed SCRAM client-first-message: " + why, error);
    }
  }
  nonce_ = std::string(client_nonce) + (pinned_nonce_.empty() ? makeNonce(random_) : pinned_nonce_);
  server_first_ = "r=" + nonce_ + ",s=" + base64Encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  *server_first = server_first_;
  state_ = State::kFinal;
  return ScramStatus::kOk;
}

ScramStatus ScramServer::clientFinal(std::string_view message, std::string* server_final,
                                     std::string* error) {
  if (state_ != State::kFinal)
    return fail(ScramStatus::kMalformed, "unexpected SCRAM message", error);
  AttributeReader reader(message);
  std::string_view cbind;
  std::string_view nonce;
  std::string why;
  if (!reader.expect('c', &cbind, &why) || !reader.expect('r', &nonce, &why)) {
    return fail(ScramStatus::kMalformed, "malformed SCRAM client-final-message: " + why, error);
  }
  if (cbind != cbind_b64_) {
    return fail(ScramStatus::kMalformed, "SCRAM channel binding does not match the gs2 header",
                error);
  }
  if (nonce != nonce_) return fail(ScramStatus::kMalformed, "SCRAM nonce does not match", error);
  // Extensions may sit between the nonce and the proof, which comes last.
  size_t proof_at = 0;
  std::string_view proof_b64;
  while (true) {
    proof_at = reader.offset(message);
    char key = 0;
    std::string_view value;
    if (!reader.next(&key, &value, &why)) {
      return fail(ScramStatus::kMalformed, "malformed SCRAM client-final-message: " + why, error);
    }
    if (key == 'p') {
      proof_b64 = value;
      break;
    }
  }
  ScramKey proof{};
  if (!reader.atEnd()) return fail(ScramStatus::kMalformed, "SCRAM proof is not last", error);
  if (!decodeKey(proof_b64, &proof)) {
    return fail(ScramStatus::kMalformed, "SCRAM proof is not 32 bytes of base64", error);
  }
  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(message.substr(0, proof_at - 1));
  ScramKey client_signature = hmacSha256(asView(verifier_.stored_key), auth_message);
  ScramKey client_key = xorKeys(proof, client_signature);
  if (!constantTimeEqual(asView(sha256(asView(client_key))), asView(verifier_.stored_key))) {
    return fail(ScramStatus::kFailed, "SCRAM proof does not match (wrong password)", error);
  }
  client_key_ = client_key;
  *server_final =
      "v=" + base64Encode(asView(hmacSha256(asView(verifier_.server_key), auth_message)));
  state_ = State::kDone;
  return ScramStatus::kOk;
}

ScramClient ScramClient::withPassword(std::string password, RandomFn random) {
  ScramClient client;
  client.password_ = std::move(password);
  client.random_ = std::move(random);
  return client;
}

ScramClient ScramClient::withKeys(const ScramVerifier& verifier, const ScramKey& client_key,
                                  RandomFn random) {
  ScramClient client;
  client.verifier_ = verifier;
  client.client_key_ = client_key;
  client.server_key_ = verifier.server_key;
  client.random_ = std::move(random);
  return client;
}

ScramStatus ScramClient::fail(ScramStatus status, std::string message, std::string* error) {
  state_ = State::kFailed;
  *error = std::move(message);
  return status;
}

std::string ScramClient::clientFirst() {
  client_nonce_ = pinned_nonce_.empty() ? makeNonce(random_) : pinned_nonce_;
  client_first_bare_ = "n=" + escapeSaslName(user_) + ",r=" + client_nonce_;
  state_ = State::kFirst;
  return "n,," + client_first_bare_;
}

bool ScramClient::deriveKeys(std::string_view salt, int iterations, std::string* error) {
  if (verifier_) {
    // Pass-through: the keys only work against a server holding this very verifier.
    if (!constantTimeEqual(salt, verifier_->salt) || iterations != verifier_->iterations) {
      *error = "the server's SCRAM secret (salt, iterations) differs from the proxy's verifier";
      return false;
    }
    return true;
  }
  if (iterations > kScramMaxIterations) {
    *error = "server asks for " + std::to_string(iterations) + " SCRAM iterations, more than " +
             std::to_string(kScramMaxIterations);
    return false;
  }
  Sha256Digest salted = pbkdf2Sha256(password_, salt, iterations);
  client_key_ = hmacSha256(asView(salted), "Client Key");
  server_key_ = hmacSha256(asView(salted), "Server Key");
  return true;
}

ScramStatus ScramClient::serverFirst(std::string_view message, std::string* client_final,
                                     std::string* error) {
  if (state_ != State::kFirst)
    return fail(ScramStatus::kMalformed, "unexpected SCRAM message", error);
  AttributeReader reader(message);
  if (reader.peekKey() == 'm') {
    return fail(ScramStatus::kMalformed, "server sent a SCRAM mandatory extension", error);
  }
  std::string_view nonce;
  std::string_view salt_b64;
  std::string_view iterations_text;
  std::string why;
  if (!reader.expect('r', &nonce, &why) || !reader.expect('s', &salt_b64, &why) ||
      !reader.expect('i', &iterations_text, &why)) {
    return fail(ScramStatus::kMalformed, "malformed SCRAM server-first-message: " + why, error);
  }
  // Anything after the iteration count is an extension we do not know: ignored, as the RFC says.
  if (!nonce.starts_with(client_nonce_) || nonce.size() == client_nonce_.size() ||
      !isPrintableNonce(nonce)) {
    return fail(ScramStatus::kFailed, "SCRAM server nonce does not extend ours", error);
  }
  std::string salt;
  if (!base64Decode(salt_b64, &salt) || salt.empty()) {
    return fail(ScramStatus::kMalformed, "SCRAM salt is empty or not base64", error);
  }
  int iterations = 0;
  if (!parseIterations(iterations_text, INT32_MAX, &iterations)) {
    return fail(ScramStatus::kMalformed, "SCRAM iteration count is not a positive number", error);
  }
  if (!deriveKeys(salt, iterations, &why)) return fail(ScramStatus::kFailed, why, error);

  std::string without_proof = "c=biws,r=" + std::string(nonce);
  auth_message_ = client_first_bare_ + "," + std::string(message) + "," + without_proof;
  ScramKey stored_key = sha256(asView(client_key_));
  ScramKey proof = xorKeys(client_key_, hmacSha256(asView(stored_key), auth_message_));
  *client_final = without_proof + ",p=" + base64Encode(asView(proof));
  state_ = State::kFinal;
  return ScramStatus::kOk;
}

ScramStatus ScramClient::serverFinal(std::string_view message, std::string* error) {
  if (state_ != State::kFinal)
    return fail(ScramStatus::kMalformed, "unexpected SCRAM message", error);
  AttributeReader reader(message);
  char key = 0;
  std::string_view value;
  std::string why;
  if (!reader.next(&key, &value, &why)) {
    return fail(ScramStatus::kMalformed, "malformed SCRAM server-final-message: " + why, error);
  }
  if (key == 'e') {
    return fail(ScramStatus::kFailed, "server refused SCRAM: " + std::string(value), error);
  }
  ScramKey signature{};
  if (key != 'v' || !decodeKey(value, &signature)) {
    return fail(ScramStatus::kMalformed, "malformed SCRAM server-final-message", error);
  }
  ScramKey expected = hmacSha256(asView(server_key_), auth_message_);
  if (!constantTimeEqual(asView(signature), asView(expected))) {
    return fail(ScramStatus::kFailed, "SCRAM server signature is wrong (not the real server?)",
                error);
  }
  state_ = State::kDone;
  return ScramStatus::kOk;
}

bool parseSaslInitialResponse(std::string_view payload, SaslInitialResponse* out,
                              std::string* error) {
  PayloadReader reader(payload);
  int32_t length = 0;
  if (!reader.readString(&out->mechanism) || !reader.readInt32(&length)) {
    *error = "malformed SASLInitialResponse";
    return false;
  }
  out->data.reset();
  if (length == -1) {
    if (!reader.atEnd()) {
      *error = "SASLInitialResponse has bytes after an absent response";
      return false;
    }
    return true;
  }
  std::string_view data;
  if (length < 0 || !reader.readBytes(static_cast<size_t>(length), &data) || !reader.atEnd()) {
    *error = "SASLInitialResponse length does not match its message";
    return false;
  }
  out->data = data;
  return true;
}

bool parseSaslResponse(std::string_view payload, std::string_view* data, std::string* error) {
  if (payload.empty()) {
    *error = "empty SASLResponse";
    return false;
  }
  *data = payload;
  return true;
}

bool parseSaslMechanisms(std::string_view body, std::vector<std::string_view>* out,
                         std::string* error) {
  out->clear();
  PayloadReader reader(body);
  std::string_view name;
  while (reader.readString(&name)) {
    if (name.empty()) {
      if (reader.atEnd() && !out->empty()) return true;
      break;
    }
    out->push_back(name);
  }
  *error = "malformed AuthenticationSASL mechanism list";
  return false;
}

void appendSaslInitialResponse(std::string* out, std::string_view mechanism,
                               std::string_view data) {
  out->push_back('p');
  appendInt32(out, static_cast<int32_t>(4 + mechanism.size() + 1 + 4 + data.size()));
  out->append(mechanism);
  out->push_back('\0');
  appendInt32(out, static_cast<int32_t>(data.size()));
  out->append(data);
}

void appendSaslResponse(std::string* out, std::string_view data) {
  out->push_back('p');
  appendInt32(out, static_cast<int32_t>(4 + data.size()));
  out->append(data);
}

}  // namespace sg::pg

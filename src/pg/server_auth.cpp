#include "pg/server_auth.h"

#include "pg/auth/md5_auth.h"
#include "pg/auth/scram.h"
#include "pg/pool.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

constexpr int32_t kAuthOk = 0;
constexpr int32_t kAuthCleartext = 3;
constexpr int32_t kAuthMd5 = 5;
constexpr int32_t kAuthSasl = 10;
constexpr int32_t kAuthSaslContinue = 11;
constexpr int32_t kAuthSaslFinal = 12;

bool startScram(Pool& pool, std::string_view body, std::unique_ptr<ScramClient>* scram,
                std::string* reply, std::string* error) {
  std::vector<std::string_view> mechanisms;
  if (!parseSaslMechanisms(body, &mechanisms, error)) return false;
  bool offered = false;
  for (auto mechanism : mechanisms) offered = offered || mechanism == kScramSha256Mechanism;
  if (!offered) {
    *error = "the server offers no SASL mechanism the proxy knows (SCRAM-SHA-256)";
    return false;
  }
  const std::string secret = pool.serverSecret();
  if (looksLikeScramVerifier(secret)) {
    ScramVerifier verifier;
    if (!parseScramVerifier(secret, &verifier, error)) return false;
    ScramKey client_key;
    if (!pool.passThroughKey(&client_key)) {
      *error = "the server asks for SCRAM and only a SCRAM verifier is known for user " +
               pool.serverUser() + ": a client must log in with SCRAM first (or give a password)";
      return false;
    }
    *scram = std::make_unique<ScramClient>(ScramClient::withKeys(verifier, client_key));
  } else if (isMd5Secret(secret) || secret.empty()) {
    *error = "the server asks for SCRAM and no password is known for user " + pool.serverUser();
    return false;
  } else {
    *scram = std::make_unique<ScramClient>(ScramClient::withPassword(secret));
  }
  appendSaslInitialResponse(reply, kScramSha256Mechanism, (*scram)->clientFirst());
  return true;
}

}  // namespace

bool answerServerAuth(Pool& pool, std::string_view payload, std::unique_ptr<ScramClient>* scram,
                      std::string* reply, std::string* error) {
  PayloadReader reader(payload);
  int32_t code = 0;
  if (!reader.readInt32(&code)) {
    *error = "malformed authentication request";
    return false;
  }
  std::string_view body = payload.substr(4);
  const std::string secret = pool.serverSecret();
  switch (code) {
    case kAuthOk:
      return true;
    case kAuthCleartext:
      if (secret.empty() || isMd5Secret(secret) || looksLikeScramVerifier(secret)) {
        *error = "the server asks for a cleartext password and none is known for user " +
                 pool.serverUser();
        return false;
      }
      appendPasswordMessage(reply, secret);
      return true;
    case kAuthMd5: {
      if (body.size() != kMd5SaltSize) {
        *error = "malformed md5 authentication request";
        return false;
      }
      auto response = md5Response(pool.serverUser(), secret,
                                  reinterpret_cast<const unsigned char*>(body.data()));
      if (!response) {
        *error = "the server asks for md5 and no password or md5 secret is known for user " +
                 pool.serverUser();
        return false;
      }
      appendPasswordMessage(reply, *response);
      return true;
    }
    case kAuthSasl:
      return startScram(pool, body, scram, reply, error);
    case kAuthSaslContinue: {
      std::string client_final;
      if (!*scram || (*scram)->serverFirst(body, &client_final, error) != ScramStatus::kOk)
        return *error = "SCRAM: " + *error, false;
      appendSaslResponse(reply, client_final);
      return true;
    }
    case kAuthSaslFinal:
      if (!*scram || (*scram)->serverFinal(body, error) != ScramStatus::kOk)
        return *error = "SCRAM: " + *error, false;
      return true;
    default:
      *error = "the server asks for an authentication method the proxy does not support (code " +
               std::to_string(code) + ")";
      return false;
  }
}

std::string errorMessageText(std::string_view payload) {
  std::string message;
  std::string sqlstate;
  size_t at = 0;
  while (at < payload.size() && payload[at] != '\0') {
    char field = payload[at++];
    size_t end = payload.find('\0', at);
    if (end == std::string_view::npos) break;
    if (field == 'M') message.assign(payload.substr(at, end - at));
    if (field == 'C') sqlstate.assign(payload.substr(at, end - at));
    at = end + 1;
  }
  return sqlstate.empty() ? message : message + " [" + sqlstate + "]";
}

}  // namespace sg::pg

#pragma once
// The proxy's side of a server's authentication requests (cleartext, md5, SCRAM-SHA-256), with
// the pool's secret for its server user: a plaintext password, an md5 secret, or a SCRAM
// verifier together with the ClientKey a client proved (SCRAM pass-through).
#include <memory>
#include <string>
#include <string_view>

namespace sg::pg {

class Pool;
class ScramClient;

// Answers one AuthenticationRequest ('R' payload). *reply gets the message to send (empty for
// AuthenticationOk). False with *error when the request cannot be answered.
bool answerServerAuth(Pool& pool, std::string_view payload, std::unique_ptr<ScramClient>* scram,
                      std::string* reply, std::string* error);

// The text of an ErrorResponse's M field ("" when absent), with its SQLSTATE in brackets.
std::string errorMessageText(std::string_view payload);

}  // namespace sg::pg

// The HTTP listener's TLS context: one SSL_CTX per certificate, the first the default. The
// servername callback (on the default context) moves a connection to the certificate its SNI
// names; session tickets and the session cache stay the default context's, so resumption
// works whichever certificate was picked, and all workers share the ticket keys.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "net/tls.h"

namespace sg::net {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string opensslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    text += text.empty() ? buffer : std::string("; ") + buffer;
  }
  return text;
}

// The DNS names of a certificate's subjectAltName, else its common name (as browsers did).
std::vector<std::string> certificateNames(SSL_CTX* ctx) {
  std::vector<std::string> names;
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type != GEN_DNS) continue;
    const ASN1_STRING* text = name->d.dNSName;
    names.push_back(lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                           static_cast<size_t>(ASN1_STRING_length(text))}));
  }
  GENERAL_NAMES_free(sans);
  if (!names.empty()) return names;
  char common[256];
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, common,
                                sizeof(common)) > 0)
    names.push_back(lower(common));
  return names;
}

int onServerName(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* context = static_cast<const TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;  // the default certificate
  SSL_CTX* chosen = context->contextForName(name);
  if (chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;
}

int onAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
           const unsigned char* in, unsigned int in_length, void* arg) {
  const auto* context = static_cast<const TlsContext*>(arg);
  std::string_view chosen = context->selectAlpn(in, in_length);
  // None in common: go on without ALPN (HTTP/1.1), as nginx does.
  if (chosen.empty()) return SSL_TLSEXT_ERR_NOACK;
  *out = reinterpret_cast<const unsigned char*>(chosen.data());
  *out_length = static_cast<unsigned char>(chosen.size());
  return SSL_TLSEXT_ERR_OK;
}

// What every certificate's context shares: versions, ciphers, client certificates.
bool configure(SSL_CTX* ctx, const TlsListenerOptions& options, std::string* error) {
  SSL_CTX_set_min_proto_version(ctx,
                                options.min_version != 0 ? options.min_version : TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Read-ahead: one read(2) takes a record's header and body (and what follows) instead of
  // two reads per record. Safe here: a TLS stream is read until it reports nothing more
  // (Stream::shortReadDrains), so nothing is left behind in OpenSSL's buffer unnoticed.
  SSL_CTX_set_read_ahead(ctx, 1);
  if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, options.ciphers.c_str()) != 1)
    return *error = "no usable cipher in '" + options.ciphers + "'", false;
  if (!options.ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, options.ciphersuites.c_str()) != 1)
    return *error = "no usable TLS 1.3 cipher suite in '" + options.ciphersuites + "'", false;
  const auto& id = options.session_id;
  SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(id.data()),
                                 static_cast<unsigned int>(std::min<size_t>(id.size(), 32)));
  if (options.client_ca.empty()) return true;
  if (SSL_CTX_load_verify_locations(ctx, options.client_ca.c_str(), nullptr) != 1)
    return *error = "cannot load the CA file '" + options.client_ca + "': " + opensslErrors(),
           false;
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca.c_str());
  if (names == nullptr) return *error = "no CA certificate in '" + options.client_ca + "'", false;
  SSL_CTX_set_client_CA_list(ctx, names);
  int mode = SSL_VERIFY_PEER;
  if (options.client_cert_required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  return true;
}

}  // namespace

bool tlsNameMatches(std::string_view pattern, std::string_view server_name) {
  std::string name = lower(server_name);
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    size_t dot = name.find('.');
    return dot != std::string::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
  }
  return pattern == name;
}

std::shared_ptr<const TlsContext> TlsContext::makeListener(const TlsListenerOptions& options,
                                                           std::string* error) {
  ERR_clear_error();
  if (options.certificates.empty()) return *error = "no certificate", nullptr;
  std::shared_ptr<TlsContext> context;
  for (size_t i = 0; i < options.certificates.size(); ++i) {
    if (i == 0) {
      SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
      if (ctx == nullptr) return *error = "cannot make a TLS context", nullptr;
      context.reset(new TlsContext(ctx, true, TlsVerify::kNone));
    }
    if (!context->addCertificate(options, i, error)) return nullptr;
  }
  SSL_CTX* ctx = context->ctx_;
  if (!options.session_tickets) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, 20000);
  if (options.certificates.size() > 1) {
    SSL_CTX_set_tlsext_servername_callback(ctx, onServerName);
    SSL_CTX_set_tlsext_servername_arg(ctx, context.get());
  }
  for (const std::string& protocol : options.alpn) {
    if (!protocol.empty() && protocol.size() < 256) context->alpn_.push_back(protocol);
  }
  // On every context: after SNI moved a connection, the chosen one's callback runs.
  for (const NamedContext& named : context->named_)
    SSL_CTX_set_alpn_select_cb(named.ctx, onAlpn, context.get());
  return context;
}

bool TlsContext::addCertificate(const TlsListenerOptions& options, size_t index,
                                std::string* error) {
  SSL_CTX* ctx = index == 0 ? ctx_ : SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return *error = "cannot make a TLS context", false;
  named_.push_back({{}, ctx});  // owned from here on (the first one as ctx_)
  const auto& files = options.certificates[index];
  if (!configure(ctx, options, error)) return false;
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1)
    return *error = "cannot load the certificate '" + files.cert_file + "': " + opensslErrors(),
           false;
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    std::string detail = opensslErrors();
    bool mismatch = detail.find("values mismatch") != std::string::npos;
    *error = mismatch ? "the private key '" + files.key_file +
                            "' does not match the certificate '" + files.cert_file + "'"
                      : "cannot load the private key '" + files.key_file + "': " + detail;
    return false;
  }
  named_.back().names = certificateNames(ctx);
  return true;
}

SSL_CTX* TlsContext::contextForName(std::string_view server_name) const {
  for (const NamedContext& named : named_) {  // exact names first, as nginx does
    for (const std::string& name : named.names)
      if (!name.empty() && name[0] != '*' && tlsNameMatches(name, server_name)) return named.ctx;
  }
  for (const NamedContext& named : named_) {
    for (const std::string& name : named.names)
      if (!name.empty() && name[0] == '*' && tlsNameMatches(name, server_name)) return named.ctx;
  }
  return ctx_;
}

std::string_view TlsContext::selectAlpn(const unsigned char* offered, unsigned int length) const {
  for (const std::string& protocol : alpn_) {
    for (unsigned int i = 0; i < length;) {
      unsigned int size = offered[i];
      if (i + 1 + size > length) break;
      if (size == protocol.size() && std::memcmp(offered + i + 1, protocol.data(), size) == 0)
        return protocol;
      i += 1 + size;
    }
  }
  return {};
}

}  // namespace sg::net

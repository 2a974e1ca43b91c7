#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

namespace sg::net {

namespace {

// OpenSSL's queued errors, oldest first ("" when none).
std::string takeErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

std::string failure(const std::string& what, const std::string& file) {
  std::string errors = takeErrors();
  std::string text = what;
  if (!file.empty()) text += " '" + file + "'";
  return errors.empty() ? text : text + ": " + errors;
}

bool isIpLiteral(std::string_view host) {
  std::string text(host);
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), address) == 1 ||
         inet_pton(AF_INET6, text.c_str(), address) == 1;
}

// A few words for why a handshake failed, from a small fixed set (a metric label).
const char* shortReason(unsigned long code, int ssl_error) {
  if (code == 0)
    return ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN ? "closed"
                                                                                : "other";
  if (ERR_GET_LIB(code) != ERR_LIB_SSL) return "other";
  int reason = ERR_GET_REASON(code);
  switch (reason) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return "plain_http";
    case SSL_R_NO_SHARED_CIPHER:
      return "no_shared_cipher";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
      return "protocol_version";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "no_client_certificate";
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return "bad_client_certificate";
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return "closed";
    default:
      break;
  }
  // The peer's alert (SSL_AD_REASON_OFFSET + the alert number).
  if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) return "alert";
  return "other";
}

SSL_CTX* newContext(const SSL_METHOD* method) {
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Partial and moving writes: the output queue is a string that grows between retries.
  // Released buffers: an idle connection keeps no TLS record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // A peer that closes without close_notify is an ordinary close (the protocols carried here
  // frame their own messages, so a truncation cannot pass unnoticed).
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  return ctx;
}

bool loadCertificate(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                     std::string* error) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    *error = failure("cannot load the certificate", cert);
    return false;
  }
  bool loaded = SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1;
  if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
    *error = failure("cannot load the private key", key);
    return false;
  }
  if (!loaded || SSL_CTX_check_private_key(ctx) != 1) {
    *error = failure("the private key '" + key + "' does not match the certificate", cert);
    return false;
  }
  return true;
}

// The SSL's TlsSessionCache, set by useSessionCache (ex_data index made once).
int sessionCacheIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL hands over a new session (TLS 1.3: a ticket read after the handshake). Returning 1
// keeps the reference; 0 lets OpenSSL free it (a connection without a cache).
int onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* cache = static_cast<TlsSessionCache*>(SSL_get_ex_data(ssl, sessionCacheIndex()));
  if (cache == nullptr || SSL_SESSION_is_resumable(session) != 1) return 0;
  cache->store(session);
  return 1;
}

}  // namespace

void TlsSessionCache::store(SSL_SESSION* session) {
  clear();
  session_ = session;
}

void TlsSessionCache::clear() {
  if (session_ != nullptr) SSL_SESSION_free(session_);
  session_ = nullptr;
}

TlsContext::~TlsContext() {
  for (const NamedContext& named : named_)
    if (named.ctx != ctx_) SSL_CTX_free(named.ctx);
  SSL_CTX_free(ctx_);
}

std::string TlsContext::ticketKeys() const {
  std::string keys(kTicketKeysSize, '\0');
  if (SSL_CTX_get_tlsext_ticket_keys(ctx_, keys.data(), static_cast<long>(keys.size())) != 1)
    return "";
  return keys;
}

bool TlsContext::setTicketKeys(std::string_view keys) const {
  if (keys.size() != kTicketKeysSize) return false;
  std::string copy(keys);  // OpenSSL's macro takes a non-const pointer
  // Every certificate's context: after SNI picked one, its keys may serve the tickets.
  for (const NamedContext& named : named_) {
    if (SSL_CTX_set_tlsext_ticket_keys(named.ctx, copy.data(), static_cast<long>(copy.size())) != 1)
      return false;
  }
  return true;
}

std::shared_ptr<const TlsContext> TlsContext::makeServer(const TlsServerOptions& options,
                                                         std::string* error) {
  ERR_clear_error();
  SSL_CTX* ctx = newContext(TLS_server_method());
  if (ctx == nullptr) return *error = failure("cannot make a TLS context", ""), nullptr;
  std::shared_ptr<const TlsContext> context(new TlsContext(ctx, true, options.verify));
  if (!loadCertificate(ctx, options.cert_file, options.key_file, error)) return nullptr;
  // No session tickets: nothing to resume across a pooler, and no writes after the handshake.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  if (options.verify != TlsVerify::kNone) {
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1)
      return *error = failure("cannot load the CA file", options.ca_file), nullptr;
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca_file.c_str());
    if (names == nullptr) return *error = failure("no CA certificate in", options.ca_file), nullptr;
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return context;
}

std::shared_ptr<const TlsContext> TlsContext::makeClient(const TlsClientOptions& options,
                                                         std::string* error) {
  ERR_clear_error();
  SSL_CTX* ctx = newContext(TLS_client_method());
  if (ctx == nullptr) return *error = failure("cannot make a TLS context", ""), nullptr;
  std::shared_ptr<const TlsContext> context(new TlsContext(ctx, false, options.verify));
  if (options.min_version != 0) SSL_CTX_set_min_proto_version(ctx, options.min_version);
  // Sessions are kept by the caller (TlsSessionCache), per server, not in OpenSSL's cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, onNewSession);
  if (!options.cert_file.empty() &&
      !loadCertificate(ctx, options.cert_file, options.key_file, error))
    return nullptr;
  if (options.verify == TlsVerify::kNone) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return context;
  }
  bool loaded = options.ca_file.empty()
                    ? SSL_CTX_set_default_verify_paths(ctx) == 1
                    : SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) == 1;
  if (!loaded) return *error = failure("cannot load the CA file", options.ca_file), nullptr;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return context;
}

std::unique_ptr<TlsSession> TlsSession::make(const TlsContext& context, int fd,
                                             std::string_view host, std::string* error) {
  ERR_clear_error();
  SSL* ssl = SSL_new(context.native());
  if (ssl == nullptr) return *error = failure("cannot make a TLS session", ""), nullptr;
  std::unique_ptr<TlsSession> session(new TlsSession(ssl));
  if (SSL_set_fd(ssl, fd) != 1) return *error = failure("cannot attach TLS", ""), nullptr;
  if (context.isServer()) {
    SSL_set_accept_state(ssl);
    return session;
  }
  SSL_set_connect_state(ssl);
  std::string name(host);
  bool ip = isIpLiteral(name);
  if (!name.empty() && !ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (context.verify() == TlsVerify::kFull) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    bool set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                  : SSL_set1_host(ssl, name.c_str()) == 1;
    if (name.empty() || !set)
      return *error = failure("cannot check the certificate for host '" + name + "'", ""), nullptr;
  }
  return session;
}

TlsSession::~TlsSession() {
  // OpenSSL drops from the session cache the session of a connection freed without a
  // close_notify sent. Most HTTP clients just close the socket, and an idle keep-alive
  // connection is closed by timeout, so without this a listener with `session_tickets: false`
  // (or a TLS 1.2 client without tickets) could almost never resume. A session that failed is
  // already gone (a fatal alert removes it), as nginx relies on too.
  if (SSL_is_init_finished(ssl_)) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_);
}

TlsSession::Step TlsSession::classify(int result) {
  int code = SSL_get_error(ssl_, result);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      return want_ = Step::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return want_ = Step::kWantWrite;
    default:
      break;
  }
  want_ = Step::kDone;
  reason_ = shortReason(ERR_peek_error(), code);
  // Closed before sending a byte: a TCP probe (a load balancer's check), not a handshake.
  if (BIO_number_read(SSL_get_rbio(ssl_)) == 0) reason_.clear();
  error_ = takeErrors();
  if (code == SSL_ERROR_SYSCALL && error_.empty())
    error_ = errno != 0 ? std::strerror(errno) : "connection closed";
  if (code == SSL_ERROR_ZERO_RETURN) error_ = "connection closed";
  long verified = SSL_get_verify_result(ssl_);
  if (verified != X509_V_OK) {
    std::string reason = X509_verify_cert_error_string(verified);
    error_ = error_.empty() ? "certificate: " + reason : error_ + " (certificate: " + reason + ")";
  }
  if (error_.empty()) error_ = "TLS error " + std::to_string(code);
  return Step::kFailed;
}

TlsSession::Step TlsSession::handshake() {
  ERR_clear_error();
  int result = SSL_do_handshake(ssl_);
  if (result == 1) return want_ = Step::kDone;
  return classify(result);
}

ssize_t TlsSession::read(char* data, size_t size) {
  ERR_clear_error();
  size_t n = 0;
  if (SSL_read_ex(ssl_, data, size, &n) == 1) {
    want_ = Step::kDone;
    return static_cast<ssize_t>(n);
  }
  int code = SSL_get_error(ssl_, 0);
  if (code == SSL_ERROR_ZERO_RETURN) return 0;
  return classify(0) == Step::kFailed ? -2 : -1;
}

ssize_t TlsSession::write(const char* data, size_t size) {
  ERR_clear_error();
  size_t n = 0;
  if (SSL_write_ex(ssl_, data, size, &n) == 1) {
    want_ = Step::kDone;
    return static_cast<ssize_t>(n);
  }
  return classify(0) == Step::kFailed ? -2 : -1;
}

void TlsSession::useSessionCache(TlsSessionCache* cache) {
  SSL_set_ex_data(ssl_, sessionCacheIndex(), cache);
  if (cache->get() != nullptr) SSL_set_session(ssl_, cache->get());
}

bool TlsSession::resumed() const { return SSL_session_reused(ssl_) == 1; }

bool TlsSession::pending() const { return SSL_pending(ssl_) > 0; }

void TlsSession::shutdown() {
  ERR_clear_error();
  if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string_view TlsSession::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &data, &length);
  return data == nullptr ? std::string_view()
                         : std::string_view(reinterpret_cast<const char*>(data), length);
}

std::string_view TlsSession::serverName() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? std::string_view() : std::string_view(name);
}

std::string TlsSession::description() const {
  if (!SSL_is_init_finished(ssl_)) return "";
  std::string text = SSL_get_version(ssl_);
  text += "/";
  text += SSL_get_cipher_name(ssl_);
  int group = SSL_get_negotiated_group(ssl_);
  if (group > 0 && (group & TLSEXT_nid_unknown) == 0) {
    if (const char* name = OBJ_nid2sn(group)) text += std::string("/ECDH=") + name;
  }
  return text;
}

}  // namespace sg::net

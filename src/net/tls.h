#pragma once
// Non-blocking TLS over a socket the caller owns (OpenSSL 3). A TlsContext is made once from
// configuration and shared read-only by every connection; a TlsSession is one connection's
// state: handshake steps, reads and writes that report what they wait for, and a description
// of what was negotiated. Nothing here knows about the protocol carried inside.
// OpenSSL writes to the socket with write(2): the process must ignore SIGPIPE (scalegate does).
#include <openssl/types.h>
#include <sys/types.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// Declared in <openssl/ssl.h>, not types.h: named here without pulling in all of OpenSSL.
using SSL_SESSION = struct ssl_session_st;

namespace sg::net {

// How the side that connects checks the peer, and whether a server asks for client certificates.
enum class TlsVerify {
  kNone,  // encrypted, the peer's certificate is not checked
  kCa,    // the chain must lead to a trusted CA
  kFull,  // kCa, and (connecting side) the certificate names the host or IP connected to
};

struct TlsServerOptions {
  std::string cert_file;  // PEM chain, the server's certificate first
  std::string key_file;   // PEM private key
  std::string ca_file;    // CAs for client certificates (needed unless verify is kNone)
  TlsVerify verify = TlsVerify::kNone;  // kCa/kFull: a client certificate is required
};

struct TlsClientOptions {
  TlsVerify verify = TlsVerify::kNone;
  std::string ca_file;    // empty: the system's default trust store
  std::string cert_file;  // optional client certificate (with key_file)
  std::string key_file;
  int min_version = 0;  // TLS1_2_VERSION or TLS1_3_VERSION; 0 = TLS 1.2
};

// The session a client saved for one server: tickets the server sends land here and the next
// connection to that server resumes from it (an abbreviated handshake). One per server per
// thread; it must outlive the TlsSessions that use it.
class TlsSessionCache {
 public:
  TlsSessionCache() = default;
  ~TlsSessionCache() { clear(); }
  TlsSessionCache(const TlsSessionCache&) = delete;
  TlsSessionCache& operator=(const TlsSessionCache&) = delete;
  TlsSessionCache(TlsSessionCache&& other) noexcept : session_(other.session_) {
    other.session_ = nullptr;
  }

  void store(SSL_SESSION* session);  // takes the reference
  SSL_SESSION* get() const { return session_; }
  void clear();

 private:
  SSL_SESSION* session_ = nullptr;
};

// An HTTP listener's side (tls_listener.cpp): several certificates picked by SNI, ALPN,
// session resumption, protocol and cipher choices.
struct TlsListenerOptions {
  struct Certificate {
    std::string cert_file;
    std::string key_file;
  };
  std::vector<Certificate> certificates;  // the first is the default (no SNI, no match)
  int min_version = 0;                    // TLS1_2_VERSION or TLS1_3_VERSION (0: 1.2)
  std::string ciphers;                    // TLS 1.2 cipher list (empty: OpenSSL's default)
  std::string ciphersuites;               // TLS 1.3 suites (empty: OpenSSL's default)
  std::vector<std::string> alpn;          // the server's preference, among what it can serve
  bool session_tickets = true;
  std::string client_ca;  // non-empty: client certificates are asked for and checked
  bool client_cert_required = true;
  std::string session_id;  // names the listener's sessions (resumption stays within it)
};

class TlsContext {
 public:
  // Null with *error (naming the file) when a file cannot be read or the key does not match.
  static std::shared_ptr<const TlsContext> makeServer(const TlsServerOptions& options,
                                                      std::string* error);
  static std::shared_ptr<const TlsContext> makeClient(const TlsClientOptions& options,
                                                      std::string* error);
  static std::shared_ptr<const TlsContext> makeListener(const TlsListenerOptions& options,
                                                        std::string* error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool isServer() const { return server_; }
  TlsVerify verify() const { return verify_; }
  SSL_CTX* native() const { return ctx_; }
  // The certificate's context for a server name (SNI): an exact name or a wildcard of one of
  // the certificates, else the default one (native()).
  SSL_CTX* contextForName(std::string_view server_name) const;
  // The ALPN protocol chosen among the client's offer (wire format), or "" for none.
  std::string_view selectAlpn(const unsigned char* offered, unsigned int length) const;
  // A listener's session ticket keys (name, HMAC and AES keys: kTicketKeysSize bytes), so that
  // a successor process resumes the sessions of tickets this one issued. setTicketKeys() is
  // for a context no connection uses yet; false when `keys` is not such a key set.
  static constexpr size_t kTicketKeysSize = 80;
  std::string ticketKeys() const;
  bool setTicketKeys(std::string_view keys) const;

 private:
  TlsContext(SSL_CTX* ctx, bool server, TlsVerify verify)
      : ctx_(ctx), server_(server), verify_(verify) {}
  struct NamedContext {
    std::vector<std::string> names;  // lower case; "*.example.com" for a wildcard
    SSL_CTX* ctx;                    // owned (the first one is ctx_)
  };
  bool addCertificate(const TlsListenerOptions& options, size_t index, std::string* error);
  SSL_CTX* ctx_;
  bool server_;
  TlsVerify verify_;
  std::vector<NamedContext> named_;  // listener contexts, in the configured order
  std::vector<std::string> alpn_;
};

// Whether a server name matches a certificate name (exact, or "*.x" for one more label).
bool tlsNameMatches(std::string_view pattern, std::string_view server_name);

// TlsSession::failureReason() is one of these.
inline constexpr std::array<std::string_view, 8> kTlsFailureReasons = {"closed",
                                                                       "plain_http",
                                                                       "no_shared_cipher",
                                                                       "protocol_version",
                                                                       "no_client_certificate",
                                                                       "bad_client_certificate",
                                                                       "alert",
                                                                       "other"};

class TlsSession {
 public:
  enum class Step { kDone, kWantRead, kWantWrite, kFailed };

  // A session on `fd` (not owned). For a connecting context, `host` is the name or IP the
  // certificate must carry (kFull) and, when a name, the SNI sent. Null with *error on failure.
  static std::unique_ptr<TlsSession> make(const TlsContext& context, int fd, std::string_view host,
                                          std::string* error);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // One handshake step; call again on kWantRead/kWantWrite when the socket is ready.
  Step handshake();
  // Like net::readSome: bytes read (> 0), 0 at the peer's close, -1 when nothing can be read
  // now (wantsWrite() tells whether the socket must become writable first), -2 on an error.
  ssize_t read(char* data, size_t size);
  // Bytes written (> 0), -1 when blocked (wantsRead() tells whether on readability), -2 on error.
  ssize_t write(const char* data, size_t size);
  // Decrypted bytes held inside OpenSSL: a reader must not treat the socket as drained.
  bool pending() const;
  bool wantsRead() const { return want_ == Step::kWantRead; }
  bool wantsWrite() const { return want_ == Step::kWantWrite; }
  // Sends close_notify, without waiting for the peer's.
  void shutdown();
  // Client side: offers the session saved in `cache` (if any), and saves new ones there.
  void useSessionCache(TlsSessionCache* cache);
  // The ALPN protocol agreed ("" when none) and whether the handshake resumed a saved session.
  std::string_view alpn() const;
  bool resumed() const;
  // The server name the client asked for (SNI), "" when none.
  std::string_view serverName() const;
  // A short, bounded name for why the handshake failed (for a metric label).
  const std::string& failureReason() const { return reason_; }
  // "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519", as PgBouncer shows it.
  std::string description() const;
  // Why the last step failed (OpenSSL's error queue and the verification result).
  const std::string& error() const { return error_; }

 private:
  explicit TlsSession(SSL* ssl) : ssl_(ssl) {}
  Step classify(int result);
  SSL* ssl_;
  Step want_ = Step::kDone;
  std::string error_;
  std::string reason_;
};

}  // namespace sg::net

#pragma once
// Non-blocking TLS over a socket the caller owns (OpenSSL 3). A TlsContext is made once from
// configuration and shared read-only by every connection; a TlsSession is one connection's
// state: handshake steps, reads and writes that report what they wait for, and a description
// of what was negotiated. Nothing here knows about the protocol carried inside.
// OpenSSL writes to the socket with write(2): the process must ignore SIGPIPE (scalegate does).
#include <openssl/types.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

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

class TlsContext {
 public:
  // Null with *error (naming the file) when a file cannot be read or the key does not match.
  static std::shared_ptr<const TlsContext> makeServer(const TlsServerOptions& options,
                                                      std::string* error);
  static std::shared_ptr<const TlsContext> makeClient(const TlsClientOptions& options,
                                                      std::string* error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool isServer() const { return server_; }
  TlsVerify verify() const { return verify_; }
  SSL_CTX* native() const { return ctx_; }

 private:
  TlsContext(SSL_CTX* ctx, bool server, TlsVerify verify)
      : ctx_(ctx), server_(server), verify_(verify) {}
  SSL_CTX* ctx_;
  bool server_;
  TlsVerify verify_;
};

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
  // The handshake resumed a saved session.
  bool resumed() const;
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
};

}  // namespace sg::net

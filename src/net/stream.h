#pragma once
// A connected socket as the proxy reads and writes it: plain, or TLS over it. Connections
// (client and upstream) do all their I/O through a Stream, so the request path does not care
// which one it has. The Stream owns the socket and the TLS session; moving it moves both (a
// connection handed to another worker or generation keeps its TLS state).
#include <sys/types.h>
#include <sys/uio.h>

#include <memory>

#include "net/tls.h"

namespace sg::net {

// An in-memory byte channel in place of a socket: an HTTP/2 stream gives the request path its
// request as HTTP/1.1 bytes and takes the response the same way. Same results as Stream's
// read and writeVec; close() tells the channel its user is done with it.
class Channel {
 public:
  virtual ssize_t read(char* data, size_t size) = 0;
  virtual ssize_t writeVec(const iovec* iov, int count) = 0;
  virtual void close() = 0;

 protected:
  ~Channel() = default;
};

class Stream {
 public:
  Stream() = default;
  explicit Stream(int fd) : fd_(fd) {}
  Stream(int fd, std::unique_ptr<TlsSession> tls) : fd_(fd), tls_(std::move(tls)) {}
  // A channel-backed stream (fd() is -1); the channel outlives it or is told by close().
  explicit Stream(Channel* channel) : channel_(channel) {}
  ~Stream() { close(); }
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int fd() const { return fd_; }
  bool open() const { return fd_ >= 0 || channel_ != nullptr; }
  Channel* channel() const { return channel_; }
  TlsSession* tls() const { return tls_.get(); }
  // Adds TLS to a plain stream (after accept or connect, before the handshake).
  void attachTls(std::unique_ptr<TlsSession> tls) { tls_ = std::move(tls); }

  // As net::readSome: bytes read (> 0), 0 at the peer's close, -1 when nothing can be read
  // now, -2 on an error (the connection is unusable).
  ssize_t read(char* data, size_t size);
  // As net::writeVec: bytes written (>= 0; fewer than offered means the socket is full and
  // EPOLLOUT will follow), -1 on an error.
  ssize_t writeVec(const iovec* iov, int count);
  // On a plain socket a short read means the socket is drained (the loop is edge-triggered).
  // TLS returns one record per read and may buffer more: read until -1.
  // A channel's short read also drains it: its owner signals EPOLLIN when more arrives.
  bool shortReadDrains() const { return tls_ == nullptr; }
  // Gives up the socket without closing it (the TLS session, if any, is freed).
  int release();
  // Closes the socket (TLS: without close_notify; use tls()->shutdown() first for one).
  void close();

 private:
  ssize_t writeTls(const iovec* iov, int count);

  int fd_ = -1;
  std::unique_ptr<TlsSession> tls_;
  Channel* channel_ = nullptr;
};

}  // namespace sg::net

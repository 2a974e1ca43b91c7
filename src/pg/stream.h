#pragma once
// One non-blocking socket with an input buffer and an output queue, as both kinds of
// PostgreSQL connection use it. The input buffer's storage is lent by the worker's buffer
// pool while bytes are in flight, so an idle client costs no buffer. After startTls() reads and
// writes go through the TLS session; a plain stream pays one branch for that.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/buffer.h"
#include "net/buffer_pool.h"
#include "net/tls.h"

namespace sg::pg {

class Stream {
 public:
  // kDataDrained: bytes arrived and the read was short, so the socket is empty (edge-triggered
  // loops need not read again: a later byte raises a new edge). Saves a read per message.
  enum class Read { kData, kDataDrained, kDrained, kClosed, kError };

  Stream() = default;
  explicit Stream(int fd) : fd_(fd) {}
  ~Stream() { close(); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int fd() const { return fd_; }
  void close();

  // One read into the input buffer (growing it up to `max_buffer`). kDrained: the socket
  // had nothing (EAGAIN); kData: some bytes arrived (call again until kDrained).
  Read readOnce(net::BufferPool& pool, size_t max_buffer);
  net::Buffer& in() { return in_; }
  // Gives the input buffer's storage back when it is empty.
  void reclaim(net::BufferPool& pool) { pool.reclaim(&in_); }

  // From now on bytes are encrypted (the handshake is the caller's: tls()->handshake()).
  void startTls(std::unique_ptr<net::TlsSession> tls) { tls_ = std::move(tls); }
  net::TlsSession* tls() const { return tls_.get(); }
  // TLS may need the opposite direction: a read that waits for writability, or a write that
  // waits for readability. Adds the event the waiting side needs to `events` (epoll bits).
  uint32_t crossEvents(uint32_t events) const;

  std::string& out() { return out_; }
  void append(std::string_view bytes) { out_.append(bytes); }
  // Writes what is queued. False on a write error; blocked() tells whether bytes remain.
  bool flush();
  bool blocked() const { return !out_.empty(); }
  // Frees the output queue's storage once it is empty (an idle connection should not keep the
  // capacity its last reply needed).
  void trimOutput() {
    if (out_.empty() && out_.capacity() > 15) std::string().swap(out_);
  }
  size_t queued() const { return out_.size(); }

 private:
  Read readTls(size_t room);
  bool flushTls();
  void flushed(size_t sent);

  int fd_ = -1;
  std::unique_ptr<net::TlsSession> tls_;
  net::Buffer in_{0};
  std::string out_;
};

}  // namespace sg::pg

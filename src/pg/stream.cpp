#include "pg/stream.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "net/socket.h"

namespace sg::pg {

void Stream::close() {
  if (tls_ != nullptr) {
    tls_->shutdown();  // close_notify, best effort: the socket closes either way
    tls_.reset();
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Stream::Read Stream::readOnce(net::BufferPool& pool, size_t max_buffer) {
  pool.lend(&in_);
  size_t room = in_.reserve(4096, max_buffer);
  if (room == 0) return Read::kData;  // full: the caller consumes before reading more
  if (tls_ != nullptr) return readTls(room);
  ssize_t n = net::readSome(fd_, in_.writePtr(), room);
  if (n > 0) {
    in_.commit(static_cast<size_t>(n));
    return static_cast<size_t>(n) < room ? Read::kDataDrained : Read::kData;
  }
  if (n == -1) return Read::kDrained;
  return n == 0 ? Read::kClosed : Read::kError;
}

// Never kDataDrained: a short TLS read says nothing about the socket (the next record may be
// there already, or decrypted bytes wait inside OpenSSL), so the caller reads until kDrained.
Stream::Read Stream::readTls(size_t room) {
  ssize_t n = tls_->read(in_.writePtr(), room);
  if (n > 0) {
    in_.commit(static_cast<size_t>(n));
    return Read::kData;
  }
  if (n == -1) return Read::kDrained;
  return n == 0 ? Read::kClosed : Read::kError;
}

uint32_t Stream::crossEvents(uint32_t events) const {
  if (tls_->wantsWrite() && (events & EPOLLOUT) != 0) events |= EPOLLIN;
  if (tls_->wantsRead() && (events & EPOLLIN) != 0 && !out_.empty()) events |= EPOLLOUT;
  return events;
}

bool Stream::flush() {
  if (tls_ != nullptr) return flushTls();
  size_t sent = 0;
  while (sent < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    out_.erase(0, sent);
    return false;
  }
  flushed(sent);
  return true;
}

// A write that blocked is retried with the same bytes at the front of the queue (OpenSSL asks
// for that; the queue may have grown and moved meanwhile, which the session allows).
bool Stream::flushTls() {
  size_t sent = 0;
  while (sent < out_.size()) {
    ssize_t n = tls_->write(out_.data() + sent, out_.size() - sent);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n == -1) break;
    out_.erase(0, sent);
    return false;
  }
  flushed(sent);
  return true;
}

void Stream::flushed(size_t sent) {
  if (sent == out_.size()) {
    out_.clear();
    // A large response leaves a large string behind; an idle connection should not keep it.
    if (out_.capacity() > 64 * 1024) std::string().swap(out_);
  } else {
    out_.erase(0, sent);
  }
}

}  // namespace sg::pg

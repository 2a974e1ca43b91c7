#include "pg/stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "net/socket.h"

namespace sg::pg {

void Stream::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Stream::Read Stream::readOnce(net::BufferPool& pool, size_t max_buffer) {
  pool.lend(&in_);
  size_t room = in_.reserve(4096, max_buffer);
  if (room == 0) return Read::kData;  // full: the caller consumes before reading more
  ssize_t n = net::readSome(fd_, in_.writePtr(), room);
  if (n > 0) {
    in_.commit(static_cast<size_t>(n));
    return static_cast<size_t>(n) < room ? Read::kDataDrained : Read::kData;
  }
  if (n == -1) return Read::kDrained;
  return n == 0 ? Read::kClosed : Read::kError;
}

bool Stream::flush() {
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
  if (sent == out_.size()) {
    out_.clear();
    // A large response leaves a large string behind; an idle connection should not keep it.
    if (out_.capacity() > 64 * 1024) std::string().swap(out_);
  } else {
    out_.erase(0, sent);
  }
  return true;
}

}  // namespace sg::pg

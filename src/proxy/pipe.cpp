#include "proxy/pipe.h"

#include <sys/uio.h>

#include "net/socket.h"

namespace sg::proxy {

Pipe::Flush Pipe::flush(int fd, net::Buffer* source) {
  while (!idle()) {
    iovec iov[2];
    int count = 0;
    size_t head_left = head_.size() - head_sent_;
    if (head_left > 0) iov[count++] = {head_.data() + head_sent_, head_left};
    if (body_ready_ > 0) iov[count++] = {source->data(), body_ready_};
    ssize_t written = net::writeVec(fd, iov, count);
    if (written < 0) return Flush::kError;
    if (written == 0) return Flush::kBlocked;
    size_t n = static_cast<size_t>(written);
    bytes_sent_ += n;
    size_t from_head = n < head_left ? n : head_left;
    head_sent_ += from_head;
    n -= from_head;
    if (n > 0) {
      source->consume(n);
      body_ready_ -= n;
    }
    // A short write means the socket buffer is full: wait for EPOLLOUT rather than
    // paying for a send that would fail with EAGAIN.
    if (!idle()) return Flush::kBlocked;
  }
  return Flush::kDone;
}

}  // namespace sg::proxy

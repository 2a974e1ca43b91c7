#include "proxy/pipe.h"

#include <sys/uio.h>

namespace sg::proxy {

Pipe::Flush Pipe::flush(net::Stream& to, net::Buffer* source) {
  while (!idle()) {
    iovec iov[2];
    int count = 0;
    size_t head_left = head_.size() - head_sent_;
    if (head_left > 0) iov[count++] = {head_.data() + head_sent_, head_left};
    if (body_ready_ > 0) {
      char* body = borrowing_ ? const_cast<char*>(borrowed_.data()) : source->data();
      iov[count++] = {body, body_ready_};
    }
    ssize_t written = to.writeVec(iov, count);
    if (written < 0) return Flush::kError;
    if (written == 0) return Flush::kBlocked;
    size_t n = static_cast<size_t>(written);
    bytes_sent_ += n;
    size_t from_head = n < head_left ? n : head_left;
    head_sent_ += from_head;
    n -= from_head;
    if (n > 0) consumeBody(source, n);
    // A short write means the socket buffer is full: wait for EPOLLOUT rather than
    // paying for a send that would fail with EAGAIN.
    if (!idle()) return Flush::kBlocked;
  }
  return Flush::kDone;
}

void Pipe::consumeBody(net::Buffer* source, size_t n) {
  body_ready_ -= n;
  if (!borrowing_) {
    source->consume(n);
    return;
  }
  borrowed_.remove_prefix(n);
  if (body_ready_ == 0) borrowing_ = false;
}

void Pipe::restartWith(size_t head_size, std::string_view replay, net::Buffer* source) {
  if (body_ready_ > 0) consumeBody(source, body_ready_);
  head_.resize(head_size);
  head_.append(replay);
  head_sent_ = 0;
}

void Pipe::discard(net::Buffer* source, const std::function<void(std::string_view)>* sink) {
  if (sink != nullptr) {
    if (head_sent_ < head_.size()) (*sink)(std::string_view(head_).substr(head_sent_));
    if (body_ready_ > 0) {
      (*sink)(borrowing_ ? borrowed_.substr(0, body_ready_)
                         : std::string_view(source->data(), body_ready_));
    }
  }
  bytes_sent_ += head_.size() - head_sent_ + body_ready_;
  head_sent_ = head_.size();
  if (body_ready_ > 0) consumeBody(source, body_ready_);
}

}  // namespace sg::proxy

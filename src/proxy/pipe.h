#pragma once
// One direction of a proxied exchange: a head the gateway wrote, followed by body bytes
// that sit at the front of the source connection's read buffer. Both go out in a single
// sendmsg so a small response costs one syscall.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "net/buffer.h"
#include "net/stream.h"

namespace sg::proxy {

class Pipe {
 public:
  enum class Flush { kDone, kBlocked, kError };

  // Sends pending head bytes, then `body_ready` bytes from the front of `source`
  // (consuming them). kDone means nothing is left pending.
  Flush flush(net::Stream& to, net::Buffer* source);

  // Sends what flush() would, to nowhere (a session without a client: background refresh).
  // With `sink`, it is given those bytes first (a queue delivery keeps its response).
  void discard(net::Buffer* source, const std::function<void(std::string_view)>* sink = nullptr);

  bool idle() const { return head_sent_ == head_.size() && body_ready_ == 0; }
  // The body is `bytes` (owned by the caller until the pipe is idle) instead of the source
  // buffer's front: a response served from the cache goes out without a copy.
  void borrowBody(std::string_view bytes) {
    borrowed_ = bytes;
    borrowing_ = true;
    body_ready_ = bytes.size();
  }
  std::string& head() { return head_; }
  void addBody(size_t bytes) { body_ready_ += bytes; }
  size_t bodyReady() const { return body_ready_; }
  uint64_t bytesSent() const { return bytes_sent_; }
  // Bytes handed to the pipe and not sent yet (head and body).
  uint64_t bytesQueued() const { return head_.size() - head_sent_ + body_ready_; }
  void resetCount() { bytes_sent_ = 0; }
  void reset() {
    head_.clear();
    head_sent_ = 0;
    body_ready_ = 0;
    borrowing_ = false;
  }
  // The head is kept after it is sent (until reset) so a retry can send it again.
  void rewindHead() { head_sent_ = 0; }
  // Starts the pipe over for another try: the head becomes its first `head_size` bytes
  // followed by `replay`, every body byte accepted so far. Accepted bytes not yet sent are
  // in `replay` too, so they leave the front of `source` here: each body byte goes out
  // exactly once per try.
  void restartWith(size_t head_size, std::string_view replay, net::Buffer* source);
  bool headUntouched() const { return head_sent_ == 0; }

 private:
  void consumeBody(net::Buffer* source, size_t n);

  std::string head_;
  size_t head_sent_ = 0;
  size_t body_ready_ = 0;
  uint64_t bytes_sent_ = 0;
  std::string_view borrowed_;
  bool borrowing_ = false;
};

}  // namespace sg::proxy

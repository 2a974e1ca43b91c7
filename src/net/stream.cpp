#include "net/stream.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "net/socket.h"

namespace sg::net {

namespace {

// One TLS record's worth of plaintext: what a write hands OpenSSL at a time.
constexpr size_t kRecordPlaintext = 16 * 1024;

}  // namespace

Stream::Stream(Stream&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      tls_(std::move(other.tls_)),
      channel_(std::exchange(other.channel_, nullptr)) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    tls_ = std::move(other.tls_);
    channel_ = std::exchange(other.channel_, nullptr);
  }
  return *this;
}

ssize_t Stream::read(char* data, size_t size) {
  if (channel_ != nullptr) return channel_->read(data, size);
  if (tls_) return tls_->read(data, size);
  return readSome(fd_, data, size);
}

ssize_t Stream::writeVec(const iovec* iov, int count) {
  if (channel_ != nullptr) return channel_->writeVec(iov, count);
  if (tls_) return writeTls(iov, count);
  return net::writeVec(fd_, iov, count);
}

// OpenSSL has no gathering write. Pieces that fit in one record are copied together so a
// small response (head + body) is one record and one send; larger data goes a record at a
// time. A write OpenSSL could not finish must be retried with at least the same bytes: the
// caller offers the same data again (plus what it added since), and the chunk taken here
// from it is never shorter than before.
ssize_t Stream::writeTls(const iovec* iov, int count) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  char gathered[kRecordPlaintext];
  size_t offset = 0;
  int index = 0;
  size_t within = 0;  // offset inside iov[index]
  while (offset < total) {
    size_t chunk = std::min(kRecordPlaintext, total - offset);
    const char* data = static_cast<const char*>(iov[index].iov_base) + within;
    if (iov[index].iov_len - within < chunk) {
      size_t copied = 0;
      for (int i = index; copied < chunk; ++i) {
        size_t from = i == index ? within : 0;
        size_t n = std::min(iov[i].iov_len - from, chunk - copied);
        std::memcpy(gathered + copied, static_cast<const char*>(iov[i].iov_base) + from, n);
        copied += n;
      }
      data = gathered;
    }
    ssize_t written = tls_->write(data, chunk);
    if (written == -2) return offset > 0 ? static_cast<ssize_t>(offset) : -1;
    if (written < 0) break;  // blocked: the socket (or, rarely, a read) must be ready first
    offset += static_cast<size_t>(written);
    within += static_cast<size_t>(written);
    while (index < count && within >= iov[index].iov_len && offset < total) {
      within -= iov[index].iov_len;
      ++index;
    }
  }
  return static_cast<ssize_t>(offset);
}

int Stream::release() {
  tls_.reset();
  return std::exchange(fd_, -1);
}

void Stream::close() {
  if (channel_ != nullptr) std::exchange(channel_, nullptr)->close();
  tls_.reset();
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

}  // namespace sg::net

#include "queue/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sg::queue {

namespace {

bool sameFile(int a, int b) {
  struct stat first {};
  struct stat second {};
  return fstat(a, &first) == 0 && fstat(b, &second) == 0 && first.st_dev == second.st_dev &&
         first.st_ino == second.st_ino;
}

StoreError lockError(const std::string& lock_path, const std::string& what) {
  return StoreError{ErrorKind::kStorage, lock_path + ": " + what};
}

}  // namespace

Result<FileLock> FileLock::acquire(const std::string& db_path, std::span<const int> handed) {
  const std::string lock_path = db_path + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return lockError(lock_path, std::string("cannot open: ") + std::strerror(errno));
  for (int candidate : handed) {
    if (!sameFile(fd, candidate)) continue;
    ::close(fd);
    int shared = fcntl(candidate, F_DUPFD_CLOEXEC, 0);
    if (shared < 0) return lockError(lock_path, std::string("dup: ") + std::strerror(errno));
    return FileLock(shared, true);
  }
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return FileLock(fd, false);
  int error = errno;
  ::close(fd);
  if (error == EWOULDBLOCK) {
    return lockError(lock_path,
                     "locked: another process (a second gateway?) delivers from this queue's "
                     "file; give each gateway its own path, or use store: redis to share a queue");
  }
  return lockError(lock_path, std::string("flock: ") + std::strerror(error));
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

FileLock::FileLock(FileLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), handed_over_(other.handed_over_) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    handed_over_ = other.handed_over_;
  }
  return *this;
}

}  // namespace sg::queue

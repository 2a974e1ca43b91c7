#pragma once
// Who may deliver from a queue's SQLite file: the gateway holding "<file>.lock" (flock). SQLite
// itself is opened in normal locking mode, so that during a binary upgrade (app/upgrade.h) the
// draining process settles the deliveries it has in flight and commits the enqueues of its last
// requests while its successor already serves from the same file. The predecessor passes its
// lock's descriptor on: both then hold the one lock (flock belongs to the open file, not the
// process), and it stays held while either runs. Any other process that opens the file is
// refused, so a second gateway configured with the same path cannot deliver its jobs twice.
#include <span>
#include <string>

#include "queue/store_error.h"

namespace sg::queue {

class FileLock {
 public:
  // Takes the lock of `db_path` ("<db_path>.lock", created if missing). When one of `handed`
  // (descriptors passed by the process this one replaces; not owned) is that lock, this shares
  // it instead: handedOver() then says so.
  static Result<FileLock> acquire(const std::string& db_path, std::span<const int> handed);
  FileLock() = default;
  ~FileLock();
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // The descriptor to pass to a successor (open while this lock is).
  int fd() const { return fd_; }
  // The lock came from the process this one replaces, which may still have jobs in flight.
  bool handedOver() const { return handed_over_; }

 private:
  FileLock(int fd, bool handed_over) : fd_(fd), handed_over_(handed_over) {}
  int fd_ = -1;
  bool handed_over_ = false;
};

}  // namespace sg::queue

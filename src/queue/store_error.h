#pragma once
// Errors of the job store as values (no exceptions on the data path): a kind the caller
// branches on, and a message for logs and admin answers that names the file and SQLite's
// own words.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sg::queue {

enum class ErrorKind : uint8_t {
  kFull,        // max_length reached and overflow is `reject`: answer 503 + Retry-After
  kClosed,      // the store was closed
  kNotFound,    // no job with that id
  kWrongState,  // the job is not in a state the operation applies to (or the attempt is stale)
  kStorage,     // SQLite failed: I/O error, disk full, corrupt or locked file, bad schema
  kNoRandom,    // the kernel gave no random bytes for a job id
  kInvalid,     // a bad argument or option
};

struct StoreError {
  ErrorKind kind = ErrorKind::kStorage;
  std::string message;
  // The same call may succeed later (the queue drains, the disk frees up); a 503 with
  // Retry-After fits. False for errors that only a change of input or config fixes.
  bool retry_later = false;
};

inline std::string_view errorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kFull:
      return "full";
    case ErrorKind::kClosed:
      return "closed";
    case ErrorKind::kNotFound:
      return "not_found";
    case ErrorKind::kWrongState:
      return "wrong_state";
    case ErrorKind::kStorage:
      return "storage";
    case ErrorKind::kNoRandom:
      return "no_random";
    case ErrorKind::kInvalid:
      return "invalid";
  }
  return "unknown";
}

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT(google-explicit-constructor)
  Result(StoreError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const StoreError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, StoreError> v_;
};

// The result of an operation that returns nothing but may fail.
using Status = Result<std::monostate>;
inline Status okStatus() { return Status(std::monostate{}); }

}  // namespace sg::queue

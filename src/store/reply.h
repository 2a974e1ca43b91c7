#pragma once
// A Redis reply as the store hands it to its users, or the reason there is none. A view
// over hiredis's parsed reply: valid only during the handler call that receives it.
#include <cstddef>
#include <cstdint>
#include <string_view>

struct redisReply;

namespace sg::store {

enum class ReplyStatus : uint8_t {
  kOk,           // a reply (possibly nil) that is not an error reply
  kError,        // an error reply from Redis (-ERR, -WRONGTYPE, ...)
  kTimeout,      // no reply within the store's `timeout`
  kUnavailable,  // no connection to send it on, or the connection failed before the reply
};

class Reply {
 public:
  Reply(ReplyStatus status, const redisReply* raw, std::string_view reason)
      : status_(status), raw_(raw), reason_(reason) {}
  static Reply failed(ReplyStatus status, std::string_view reason) {
    return {status, nullptr, reason};
  }
  static Reply of(const redisReply* raw);

  ReplyStatus status() const { return status_; }
  bool ok() const { return status_ == ReplyStatus::kOk; }
  bool isNil() const;
  bool isInteger() const;
  bool isString() const;  // a bulk string or a status (+OK)
  bool isArray() const;
  int64_t integer() const;            // 0 unless isInteger()
  std::string_view string() const;    // bulk or status text; empty otherwise
  size_t size() const;                // array elements; 0 unless isArray()
  Reply element(size_t index) const;  // an out-of-range element is a nil-like kOk reply
  // Why this is not kOk: Redis's error text, or the store's own reason.
  std::string_view error() const;

 private:
  ReplyStatus status_;
  const redisReply* raw_;
  std::string_view reason_;
};

// Receives replies on the worker's loop thread. `cookie` is the caller's, passed through.
class ReplyHandler {
 public:
  virtual void onReply(uint64_t cookie, const Reply& reply) = 0;

 protected:
  ~ReplyHandler() = default;
};

}  // namespace sg::store

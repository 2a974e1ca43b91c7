#include "store/reply.h"

#include <hiredis/hiredis.h>

namespace sg::store {

Reply Reply::of(const redisReply* raw) {
  if (raw->type == REDIS_REPLY_ERROR)
    return {ReplyStatus::kError, raw, std::string_view(raw->str, raw->len)};
  return {ReplyStatus::kOk, raw, {}};
}

bool Reply::isNil() const { return ok() && (raw_ == nullptr || raw_->type == REDIS_REPLY_NIL); }
bool Reply::isInteger() const {
  return ok() && raw_ != nullptr && raw_->type == REDIS_REPLY_INTEGER;
}
bool Reply::isArray() const { return ok() && raw_ != nullptr && raw_->type == REDIS_REPLY_ARRAY; }

bool Reply::isString() const {
  return ok() && raw_ != nullptr &&
         (raw_->type == REDIS_REPLY_STRING || raw_->type == REDIS_REPLY_STATUS);
}

int64_t Reply::integer() const { return isInteger() ? raw_->integer : 0; }

std::string_view Reply::string() const {
  return isString() ? std::string_view(raw_->str, raw_->len) : std::string_view();
}

size_t Reply::size() const { return isArray() ? raw_->elements : 0; }

Reply Reply::element(size_t index) const {
  if (index >= size()) return {ReplyStatus::kOk, nullptr, {}};
  return of(raw_->element[index]);
}

std::string_view Reply::error() const { return reason_; }

}  // namespace sg::store

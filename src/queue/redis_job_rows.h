#pragma once
// Reading the Redis job store's replies: job rows (redis_job_scripts.h's field order), ids
// rebuilt from a row number and the stored secret, and replies as store errors.
#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "queue/job.h"
#include "queue/store_error.h"

namespace sg::queue {

// States as the scripts take them: a number, or the states an event applies to ("0,2"),
// and the state it leads to (job.h's table).
std::string stateText(JobState state);
std::string fromStates(JobEvent event);
std::string toState(JobEvent event);

std::string_view replyText(const redisReply* reply);           // bulk, status or verbatim text
std::optional<int64_t> replyInteger(const redisReply* reply);  // an integer, or digits
bool replyIsArray(const redisReply* reply, size_t min_size = 0);

// The id of job `seq` whose secret is stored as 32 hex digits; nothing if malformed.
std::optional<std::string> redisJobId(int64_t seq, std::string_view secret_hex);
// The secret part of a well-formed id, as stored.
inline std::string_view secretHex(std::string_view id) { return id.substr(kJobSeqDigits); }

// A job from its row number and the values of kJobFields, starting at `values[first]`.
std::optional<Job> jobFromValues(int64_t seq, const redisReply* values, size_t first,
                                 const std::string& queue);
// A claim's or listing's row: {seq, fields...}.
std::optional<Job> jobFromRow(const redisReply* row, const std::string& queue);

// An error reply (or an unexpected one) as the store's error.
StoreError replyError(const redisReply* reply, std::string_view what);
StoreError malformed(std::string_view what);

}  // namespace sg::queue

#include "queue/redis_job_rows.h"

#include <charconv>

#include "queue/redis_job_scripts.h"

namespace sg::queue {

std::string stateText(JobState state) { return std::to_string(static_cast<int>(state)); }

std::string fromStates(JobEvent event) {
  std::string list;
  for (JobState state : statesFor(event)) {
    if (!list.empty()) list += ',';
    list += stateText(state);
  }
  return list;
}

std::string toState(JobEvent event) {
  return stateText(*nextState(statesFor(event).front(), event));
}

std::string_view replyText(const redisReply* reply) {
  if (reply == nullptr) return {};
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return {reply->str, reply->len};
    default:
      return {};
  }
}

std::optional<int64_t> replyInteger(const redisReply* reply) {
  if (reply == nullptr) return std::nullopt;
  if (reply->type == REDIS_REPLY_INTEGER) return reply->integer;
  std::string_view text = replyText(reply);
  int64_t value = 0;
  auto parsed = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

bool replyIsArray(const redisReply* reply, size_t min_size) {
  return reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements >= min_size;
}

std::optional<std::string> redisJobId(int64_t seq, std::string_view secret_hex) {
  if (seq <= 0 || seq > kMaxJobSeq || secret_hex.size() != 2 * kJobSecretBytes) return std::nullopt;
  std::string id = formatJobId(seq, JobSecret{}).substr(0, kJobSeqDigits);
  id.append(secret_hex);
  if (!isJobId(id)) return std::nullopt;
  return id;
}

namespace {

// kJobFields' positions.
enum Field : size_t {
  kSecret,
  kState,
  kAttempts,
  kCreated,
  kUpdated,
  kNext,
  kStarted,
  kMethod,
  kTarget,
  kHeaders,
  kBody,
  kIdemKey,
  kError,
  kResultStatus,
  kResultHeaders,
  kResultBody,
  kResultOmitted,
  kResultSize,
  kDeadReason,
  kUpstream,
  kGroup,
  kGroupMembers,  // read by the group script, not into Job
};
static_assert(kGroupMembers + 1 == kJobFieldCount);

}  // namespace

std::optional<Job> jobFromValues(int64_t seq, const redisReply* values, size_t first,
                                 const std::string& queue) {
  if (!replyIsArray(values, first + kJobFieldCount)) return std::nullopt;
  auto at = [&](Field field) { return values->element[first + field]; };
  auto number = [&](Field field) { return replyInteger(at(field)).value_or(0); };
  Job job;
  auto id = redisJobId(seq, replyText(at(kSecret)));
  auto state = replyInteger(at(kState));
  if (!id || !state || *state < 0 || *state >= kJobStateCount) return std::nullopt;
  job.id = std::move(*id);
  job.queue = queue;
  job.state = static_cast<JobState>(*state);
  job.attempts = static_cast<uint32_t>(number(kAttempts));
  job.created_ms = number(kCreated);
  job.updated_ms = number(kUpdated);
  job.next_attempt_ms = number(kNext);
  job.started_ms = number(kStarted);
  job.request.method = replyText(at(kMethod));
  job.request.target = replyText(at(kTarget));
  auto headers = decodeHeaders(replyText(at(kHeaders)));
  if (!headers) return std::nullopt;
  job.request.headers = std::move(*headers);
  job.request.body = replyText(at(kBody));
  if (at(kIdemKey)->type == REDIS_REPLY_STRING) job.idempotency_key = replyText(at(kIdemKey));
  job.last_error = replyText(at(kError));
  if (auto status = replyInteger(at(kResultStatus))) {
    JobResult result;
    result.status = static_cast<int>(*status);
    auto result_headers = decodeHeaders(replyText(at(kResultHeaders)));
    if (!result_headers) return std::nullopt;
    result.headers = std::move(*result_headers);
    result.body = replyText(at(kResultBody));
    result.body_omitted = number(kResultOmitted) != 0;
    result.body_size = static_cast<uint64_t>(number(kResultSize));
    job.result = std::move(result);
  }
  job.dead_reason = replyText(at(kDeadReason));
  job.upstream = replyText(at(kUpstream));
  job.group_seq = number(kGroup);
  return job;
}

std::optional<Job> jobFromRow(const redisReply* row, const std::string& queue) {
  if (!replyIsArray(row, 1 + kJobFieldCount)) return std::nullopt;
  auto seq = replyInteger(row->element[0]);
  if (!seq) return std::nullopt;
  return jobFromValues(*seq, row, 1, queue);
}

StoreError replyError(const redisReply* reply, std::string_view what) {
  if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
    return StoreError{ErrorKind::kStorage,
                      "redis: " + std::string(what) + ": " + std::string(reply->str, reply->len),
                      true};
  }
  return malformed(what);
}

StoreError malformed(std::string_view what) {
  return StoreError{ErrorKind::kStorage, "redis: unexpected reply " + std::string(what), true};
}

}  // namespace sg::queue

// The Redis job store's dispatcher, sweep and admin calls (redis_job_store.h).
#include <algorithm>

#include "queue/redis_job_rows.h"
#include "queue/redis_job_scripts.h"
#include "queue/redis_job_store.h"
#include "queue/redis_link.h"
#include "store/resp.h"

namespace sg::queue {

namespace {

constexpr size_t kScriptBatch = 1000;  // what one purge, expiry or dead-letter script handles
constexpr int kMaxScriptRounds = 100;  // ...and how many of them one call runs at most

const std::string kDead = stateText(JobState::kDead);

StoreError notFound(std::string_view id) {
  return StoreError{ErrorKind::kNotFound, "no job " + std::string(id)};
}

// A settle or cancel script's answer: 0 done, 1 no such job, 2 wrong state or attempt.
Status scriptStatus(const redisReply* reply, std::string_view id, std::string_view operation) {
  auto code = replyInteger(reply);
  if (!code) return replyError(reply, operation);
  if (*code == 1) return notFound(id);
  if (*code == 2) {
    return StoreError{ErrorKind::kWrongState,
                      "job " + std::string(id) + " is not in a state to " + std::string(operation)};
  }
  return okStatus();
}

std::string_view claimWhich(ClaimAttempts which) {
  switch (which) {
    case ClaimAttempts::kFirst:
      return "first";
    case ClaimAttempts::kLater:
      return "later";
    case ClaimAttempts::kAny:
      break;
  }
  return "any";
}

struct SettleArgs {
  std::string kind;
  JobEvent event = JobEvent::kComplete;
  std::string reason;
};

SettleArgs settleArgs(const Settlement& settlement) {
  if (!settlement.failure) return {"ok", JobEvent::kComplete, {}};
  switch (settlement.failure->kind) {
    case FailNext::Kind::kRetry:
      return {"retry", JobEvent::kRetry, {}};
    case FailNext::Kind::kFail:
      return {"fail", JobEvent::kFail, {}};
    case FailNext::Kind::kDead:
      break;
  }
  return {"dead", JobEvent::kKill, "attempts exhausted"};
}

}  // namespace

std::string RedisJobStore::settleCommand(Settlement& settlement, const std::string& now_text) {
  const SettleArgs how = settleArgs(settlement);
  if (settlement.result) {
    settlement.result = storableResult(std::move(*settlement.result), options_.max_result_size);
  } else if (!settlement.failure) {
    settlement.result = JobResult{};  // a completion always has a result, as in SQLite
  }
  const JobResult* result = settlement.result ? &*settlement.result : nullptr;
  const std::string seq = std::to_string(parseJobId(settlement.id)->seq);
  const std::string attempt = std::to_string(settlement.attempt);
  const std::string retry_at =
      std::to_string(settlement.failure ? settlement.failure->retry_at_ms : 0);
  const std::string status = result ? std::to_string(result->status) : "";
  const std::string headers = result ? encodeHeaders(result->headers) : "";
  const std::string size = result ? std::to_string(result->body_size) : "0";
  const std::string from = fromStates(how.event);
  const std::string to = toState(how.event);
  const std::string_view args[] = {
      kDead,
      now_text,
      seq,
      secretHex(settlement.id),
      attempt,
      how.kind,
      retry_at,
      settlement.failure ? std::string_view(settlement.error) : std::string_view(),
      how.reason,
      result ? "1" : "0",
      status,
      headers,
      result ? std::string_view(result->body) : "",
      result && result->body_omitted ? "1" : "0",
      size,
      from,
      to};
  return RedisLink::evalsha(redisScripts().settle, prefix_, args);
}

std::string RedisJobStore::countsCommand() const {
  const std::string_view args[] = {kDead};
  return RedisLink::evalsha(redisScripts().counts, prefix_, args);
}

Result<DispatchRound> RedisJobStore::settleAndClaim(std::span<Settlement> ended, int64_t now_ms,
                                                    std::span<const ClaimRequest> claims) {
  const std::string now_text = std::to_string(now_ms);
  DispatchRound round;
  round.settled.assign(ended.size(), okStatus());
  std::vector<std::string> commands;
  std::vector<size_t> settle_index;  // the settlement each settle command is for
  for (size_t i = 0; i < ended.size(); ++i) {
    if (!parseJobId(ended[i].id)) {
      round.settled[i] = notFound(ended[i].id);
      continue;
    }
    settle_index.push_back(i);
    commands.push_back(settleCommand(ended[i], now_text));
  }
  static const std::string claim_from = fromStates(JobEvent::kClaim);
  static const std::string claim_to = toState(JobEvent::kClaim);
  for (const ClaimRequest& claim : claims) {
    const std::string max = std::to_string(claim.max);
    const std::string_view args[] = {kDead,      now_text, consumer_, max, claimWhich(claim.which),
                                     claim_from, claim_to};
    commands.push_back(RedisLink::evalsha(redisScripts().claim, prefix_, args));
  }
  commands.push_back(countsCommand());
  std::unique_lock lock(link_mutex_);
  auto replies = link_->run(commands);
  lock.unlock();
  if (!replies.ok()) return replies.error();
  size_t next = 0;
  for (size_t index : settle_index) {
    round.settled[index] = scriptStatus(replies.value()[next++].get(), ended[index].id, "settle");
  }
  for (size_t c = 0; c < claims.size(); ++c) {
    const redisReply* reply = replies.value()[next++].get();
    if (!replyIsArray(reply)) return replyError(reply, "to a claim");
    for (size_t i = 0; i < reply->elements; ++i) {
      auto job = jobFromRow(reply->element[i], options_.queue);
      // Marked running already: if it cannot be read, the visibility timeout retries it.
      if (job) round.claimed.push_back(std::move(*job));
    }
  }
  storeCounts(replies.value()[next].get());
  return round;
}

// {{state, n, ...}, when the oldest queued job was queued}
void RedisJobStore::storeCounts(const redisReply* reply) {
  if (!replyIsArray(reply, 2) || !replyIsArray(reply->element[0])) return;
  const redisReply* pairs = reply->element[0];
  uint64_t by_state[kJobStateCount] = {};
  for (size_t i = 0; i + 1 < pairs->elements; i += 2) {
    auto state = replyInteger(pairs->element[i]);
    auto n = replyInteger(pairs->element[i + 1]);
    if (state && n && *state >= 0 && *state < kJobStateCount) {
      by_state[*state] = static_cast<uint64_t>(std::max<int64_t>(0, *n));
    }
  }
  for (int s = 0; s < kJobStateCount; ++s) counts_[s].store(by_state[s]);
  oldest_queued_ms_.store(replyInteger(reply->element[1]).value_or(0));
}

Status RedisJobStore::refreshCounts(int64_t /*now_ms*/) {
  auto reply = runOne(countsCommand());
  if (!reply.ok()) return reply.error();
  if (!replyIsArray(reply.value().get(), 2)) return replyError(reply.value().get(), "to counts");
  storeCounts(reply.value().get());
  return okStatus();
}

QueueCounts RedisJobStore::counts(int64_t now_ms) const {
  QueueCounts counts;
  for (int s = 0; s < kJobStateCount; ++s) counts.by_state[s] = counts_[s].load();
  const int64_t oldest = oldest_queued_ms_.load();
  if (oldest > 0 && counts.by_state[static_cast<int>(JobState::kQueued)] > 0) {
    counts.oldest_queued_age_ms = std::max<int64_t>(0, now_ms - oldest);
  }
  return counts;
}

Result<ReplyPtr> RedisJobStore::runOne(std::string command) {
  std::lock_guard lock(link_mutex_);
  return link_->runOne(std::move(command));
}

// Runs a script that handles up to kScriptBatch items until it handles fewer.
Result<uint64_t> RedisJobStore::repeatScript(const LuaScript& script,
                                             std::span<const std::string_view> args,
                                             std::string_view what) {
  uint64_t total = 0;
  for (int round = 0; round < kMaxScriptRounds; ++round) {
    auto reply = runOne(RedisLink::evalsha(script, prefix_, args));
    if (!reply.ok()) return reply.error();
    auto n = replyInteger(reply.value().get());
    if (!n) return replyError(reply.value().get(), what);
    total += static_cast<uint64_t>(*n);
    if (static_cast<size_t>(*n) < kScriptBatch) break;
  }
  return total;
}

Result<uint64_t> RedisJobStore::expire(int64_t now_ms, int64_t message_ttl_ms) {
  const std::string now_text = std::to_string(now_ms);
  const std::string cutoff = std::to_string(now_ms - message_ttl_ms);
  static const std::string from = fromStates(JobEvent::kExpire);
  const std::string_view args[] = {kDead, now_text, cutoff, from};
  return repeatScript(redisScripts().expire, args, "to an expiry");
}

Result<uint64_t> RedisJobStore::stalled(int64_t now_ms, int64_t visibility_timeout_ms) {
  const std::string now_text = std::to_string(now_ms);
  const std::string timeout = std::to_string(std::max<int64_t>(0, visibility_timeout_ms));
  const std::string max_attempts = std::to_string(options_.max_attempts);
  static const std::string from = fromStates(JobEvent::kStall);
  static const std::string to = toState(JobEvent::kStall);
  const std::string_view args[] = {kDead, now_text, consumer_, timeout, max_attempts, from, to};
  const std::string commands[] = {RedisLink::evalsha(redisScripts().stalled, prefix_, args),
                                  countsCommand()};
  std::unique_lock lock(link_mutex_);
  auto replies = link_->run(commands);
  lock.unlock();
  if (!replies.ok()) return replies.error();
  storeCounts(replies.value()[1].get());
  auto n = replyInteger(replies.value()[0].get());
  if (!n) return replyError(replies.value()[0].get(), "to a stall check");
  return static_cast<uint64_t>(*n);
}

Result<uint64_t> RedisJobStore::purgeResults(int64_t now_ms) {
  const std::string cutoff = std::to_string(now_ms - options_.result_ttl_ms);
  const std::string_view args[] = {kDead, cutoff};
  return repeatScript(redisScripts().purge, args, "to a purge");
}

// HMGET of a job's kJobFields, in order (what jobFromValues reads).
std::string RedisJobStore::jobFieldsCommand(int64_t seq) const {
  const std::string job_key = key("j:" + std::to_string(seq));
  std::vector<std::string_view> argv{"HMGET", job_key};
  for (const char* field : kJobFields) argv.emplace_back(field);
  std::string command;
  store::appendCommand(&command, argv);
  return command;
}

Result<Job> RedisJobStore::get(std::string_view id) {
  auto parsed = parseJobId(id);
  if (!parsed) return notFound(id);
  auto reply = runOne(jobFieldsCommand(parsed->seq));
  if (!reply.ok()) return reply.error();
  const redisReply* values = reply.value().get();
  if (!replyIsArray(values, kJobFieldCount)) return replyError(values, "to a job lookup");
  const std::string_view stored = replyText(values->element[0]);
  // The random part compared in constant time: a made-up id is simply not found.
  if (stored.size() != secretHex(id).size() || !sameSecret(stored, secretHex(id))) {
    return notFound(id);
  }
  auto job = jobFromValues(parsed->seq, values, 0, options_.queue);
  if (!job) return malformed("to a job lookup (a stored job is malformed)");
  return std::move(*job);
}

// One script reads the head and its members together (one round trip, one moment). The
// head's secret is checked here as get() checks it; members carry their own ids.
Result<std::vector<Job>> RedisJobStore::group(std::string_view head_id) {
  auto parsed = parseJobId(head_id);
  if (!parsed) return notFound(head_id);
  const std::string seq = std::to_string(parsed->seq);
  const std::string_view args[] = {kDead, seq};
  auto reply = runOne(RedisLink::evalsha(redisScripts().group, prefix_, args));
  if (!reply.ok()) return reply.error();
  const redisReply* rows = reply.value().get();
  if (!replyIsArray(rows)) return replyError(rows, "to a group lookup");
  if (rows->elements == 0) return notFound(head_id);
  const redisReply* head_row = rows->element[0];
  if (!replyIsArray(head_row, 1 + kJobFieldCount)) return malformed("to a group lookup");
  const std::string_view stored = replyText(head_row->element[1]);
  if (stored.size() != secretHex(head_id).size() || !sameSecret(stored, secretHex(head_id))) {
    return notFound(head_id);
  }
  auto head = jobFromRow(head_row, options_.queue);
  if (!head) return malformed("to a group lookup (a stored job is malformed)");
  std::vector<Job> members;
  if (head->group_seq != parsed->seq) return members;  // a single job, or not the head
  members.push_back(std::move(*head));
  for (size_t i = 1; i < rows->elements; ++i) {
    const redisReply* row = rows->element[i];
    // A member purged (result_ttl) or discarded before the head has no fields left.
    if (replyIsArray(row, 2) && row->element[1]->type == REDIS_REPLY_NIL) continue;
    auto member = jobFromRow(row, options_.queue);
    if (!member) return malformed("to a group lookup (a stored member is malformed)");
    members.push_back(std::move(*member));
  }
  return members;
}

Result<std::optional<JobResult>> RedisJobStore::result(std::string_view id) {
  auto job = get(id);
  if (!job.ok()) return job.error();
  return std::move(job.value().result);
}

Status RedisJobStore::cancel(std::string_view id) {
  auto job = get(id);  // checks the id in constant time before the script compares it
  if (!job.ok()) return job.error();
  const std::string now_text = std::to_string(now());
  const std::string seq = std::to_string(parseJobId(id)->seq);
  static const std::string from = fromStates(JobEvent::kCancel);
  static const std::string to = toState(JobEvent::kCancel);
  const std::string_view args[] = {kDead, now_text, seq, secretHex(id), from, to};
  auto reply = runOne(RedisLink::evalsha(redisScripts().cancel, prefix_, args));
  if (!reply.ok()) return reply.error();
  return scriptStatus(reply.value().get(), id, "cancel");
}

Result<std::vector<Job>> RedisJobStore::listDead(size_t limit) {
  std::vector<Job> jobs;
  if (limit == 0) return jobs;
  std::string range;
  const std::string dead_key = key("dead");
  const std::string stop = std::to_string(limit - 1);
  store::appendCommand(&range, {"ZRANGE", dead_key, "0", stop});
  auto seqs = runOne(std::move(range));
  if (!seqs.ok()) return seqs.error();
  const redisReply* list = seqs.value().get();
  if (!replyIsArray(list)) return replyError(list, "to a dead-letter listing");
  std::vector<std::string> commands;
  std::vector<int64_t> numbers;
  for (size_t i = 0; i < list->elements; ++i) {
    auto seq = replyInteger(list->element[i]);
    if (!seq) continue;
    numbers.push_back(*seq);
    commands.push_back(jobFieldsCommand(*seq));
  }
  if (commands.empty()) return jobs;
  std::unique_lock lock(link_mutex_);
  auto replies = link_->run(commands);
  lock.unlock();
  if (!replies.ok()) return replies.error();
  for (size_t i = 0; i < numbers.size(); ++i) {
    auto job = jobFromValues(numbers[i], replies.value()[i].get(), 0, options_.queue);
    if (job && job->state == JobState::kDead) jobs.push_back(std::move(*job));
  }
  return jobs;
}

Result<uint64_t> RedisJobStore::moveDead(std::span<const std::string> ids, bool all, bool replay) {
  const std::string now_text = std::to_string(now());
  static const std::string from = fromStates(JobEvent::kReplay);
  static const std::string to = toState(JobEvent::kReplay);
  std::vector<std::string> owned;  // the row numbers the arguments point into
  owned.reserve(ids.size());
  std::vector<std::string_view> args{kDead, now_text, replay ? "1" : "0", from, to};
  const std::string_view what = replay ? "to a replay" : "to a discard";
  if (all) return repeatScript(redisScripts().dead, args, what);
  for (const std::string& id : ids) {
    auto key = parseJobId(id);
    if (!key) continue;  // not an id: skipped, as the SQLite store skips it
    owned.push_back(std::to_string(key->seq));
    args.push_back(owned.back());
    args.push_back(secretHex(id));
  }
  if (owned.empty()) return uint64_t{0};
  auto reply = runOne(RedisLink::evalsha(redisScripts().dead, prefix_, args));
  if (!reply.ok()) return reply.error();
  auto n = replyInteger(reply.value().get());
  if (!n) return replyError(reply.value().get(), what);
  return static_cast<uint64_t>(*n);
}

Result<uint64_t> RedisJobStore::replayDead(std::span<const std::string> ids) {
  return moveDead(ids, false, true);
}
Result<uint64_t> RedisJobStore::replayAllDead() { return moveDead({}, true, true); }
Result<uint64_t> RedisJobStore::discardDead(std::span<const std::string> ids) {
  return moveDead(ids, false, false);
}
Result<uint64_t> RedisJobStore::discardAllDead() { return moveDead({}, true, false); }

}  // namespace sg::queue

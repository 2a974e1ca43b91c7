#include "queue/redis_job_store.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "queue/redis_job_rows.h"
#include "queue/redis_job_scripts.h"
#include "queue/redis_link.h"
#include "store/resp.h"

namespace sg::queue {

namespace {

std::string defaultConsumer() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  auto secret = newJobSecret();
  std::string random = secret ? formatJobId(1, *secret).substr(kJobSeqDigits, 8) : "0";
  return std::string(host[0] != '\0' ? host : "gateway") + "-" + std::to_string(::getpid()) + "-" +
         random;
}

}  // namespace

Result<std::unique_ptr<RedisJobStore>> RedisJobStore::open(StoreOptions options,
                                                           RedisStoreOptions redis) {
  if (options.queue.empty() || options.queue.find_first_of("{}") != std::string::npos) {
    return StoreError{ErrorKind::kInvalid, "a Redis queue needs a name without braces"};
  }
  if (redis.server.type == config::StoreConfig::Type::kNone) {
    return StoreError{ErrorKind::kInvalid, "store: redis needs the top-level store"};
  }
  std::unique_ptr<RedisJobStore> store(new RedisJobStore(std::move(options), std::move(redis)));
  store->writer_ = std::thread([raw = store.get()] { raw->writerLoop(); });
  return store;
}

RedisJobStore::RedisJobStore(StoreOptions options, RedisStoreOptions redis)
    : options_(std::move(options)),
      redis_(std::move(redis)),
      consumer_(redis_.consumer.empty() ? defaultConsumer() : redis_.consumer),
      prefix_("sg:q:{" + options_.queue + "}:") {
  const auto scripts = redisScripts().all();
  link_ = std::make_unique<RedisLink>(redis_.server, redis_.timeout, redis_.reconnect_interval,
                                      scripts);
  writer_link_ = std::make_unique<RedisLink>(redis_.server, redis_.timeout,
                                             redis_.reconnect_interval, scripts);
}

RedisJobStore::~RedisJobStore() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

int64_t RedisJobStore::now() const {
  if (options_.clock) return options_.clock();
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string RedisJobStore::key(std::string_view suffix) const {
  return prefix_ + std::string(suffix);
}

void RedisJobStore::enqueue(Job job, EnqueueCallback done) {
  // One secret per member, drawn here so the writer thread only talks to Redis.
  std::vector<JobSecret> secrets(std::max<size_t>(1, job.fanout.size()));
  for (JobSecret& secret : secrets) {
    auto drawn = newJobSecret();
    if (!drawn) {
      done(EnqueueOutcome{{}, false, StoreError{ErrorKind::kNoRandom, "getrandom failed", true}});
      return;
    }
    secret = *drawn;
  }
  {
    std::unique_lock lock(queue_mutex_);
    if (stopping_) {
      lock.unlock();
      done(EnqueueOutcome{{}, false, StoreError{ErrorKind::kClosed, "the queue store is closing"}});
      return;
    }
    pending_.push_back({std::move(job), std::move(secrets), std::move(done)});
  }
  queue_cv_.notify_one();
}

// Everything that waits goes in one pipeline: while Redis answers one, the next gathers.
void RedisJobStore::writerLoop() {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, nothing left
      const size_t take = std::min(pending_.size(), std::max<size_t>(1, options_.max_batch));
      for (size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    commitBatch(batch);
    batch.clear();
  }
}

// The enqueue script's answer: {0, seq} stored, {1, seq, secret} the idempotency key's job,
// {2} full.
EnqueueOutcome RedisJobStore::enqueueOutcome(const redisReply* reply, const JobSecret& secret) {
  EnqueueOutcome outcome;
  const int64_t code =
      replyIsArray(reply, 1) ? replyInteger(reply->element[0]).value_or(-1) : int64_t{-1};
  const int64_t seq =
      replyIsArray(reply, 2) ? replyInteger(reply->element[1]).value_or(0) : int64_t{0};
  if (code == 0 && seq > 0 && seq <= kMaxJobSeq) {
    outcome.id = formatJobId(seq, secret);
  } else if (code == 1 && replyIsArray(reply, 3)) {
    auto id = redisJobId(seq, replyText(reply->element[2]));
    if (id) {
      outcome.id = std::move(*id);
      outcome.existing = true;
    } else {
      outcome.error = malformed("to an enqueue (a stored job is malformed)");
    }
  } else if (code == 2) {
    outcome.error = StoreError{ErrorKind::kFull,
                               "queue '" + options_.queue + "' is full (max_length " +
                                   std::to_string(options_.max_length) + ")",
                               true};
  } else {
    outcome.error = replyError(reply, "to an enqueue");
  }
  return outcome;
}

void RedisJobStore::commitBatch(std::vector<Pending>& batch) {
  const std::string now_text = std::to_string(now());
  const std::string max_length = std::to_string(options_.max_length);
  const std::string result_ttl = std::to_string(std::max<int64_t>(1, options_.result_ttl_ms));
  const std::string drop = options_.overflow == Overflow::kDropOldest ? "1" : "0";
  static const std::string queued = stateText(JobState::kQueued);
  static const std::string retrying = stateText(JobState::kRetrying);
  static const std::string drop_from = fromStates(JobEvent::kDropOldest);
  static const std::string dead = stateText(JobState::kDead);
  std::vector<std::string> commands;
  commands.reserve(batch.size());
  for (const Pending& pending : batch) {
    std::vector<std::string> secrets;  // hex, as stored
    secrets.reserve(pending.secrets.size());
    for (const JobSecret& secret : pending.secrets) {
      secrets.push_back(formatJobId(1, secret).substr(kJobSeqDigits));
    }
    const std::string headers = encodeHeaders(pending.job.request.headers);
    // "k" + the key, so that an empty key is a key too; "" is none.
    const std::string idem =
        pending.job.idempotency_key ? "k" + *pending.job.idempotency_key : std::string();
    std::vector<std::string_view> args = {dead,
                                          now_text,
                                          secrets[0],
                                          pending.job.request.method,
                                          pending.job.request.target,
                                          headers,
                                          pending.job.request.body,
                                          idem,
                                          max_length,
                                          drop,
                                          result_ttl,
                                          queued,
                                          retrying,
                                          drop_from};
    // A fan-out: each member's secret and upstream, in list order (one script stores them
    // all: nothing else runs on Redis in between).
    const std::vector<std::string>& upstreams = pending.job.fanout;
    for (size_t i = 0; i < upstreams.size() && i < secrets.size(); ++i) {
      args.push_back(secrets[i]);
      args.push_back(upstreams[i]);
    }
    commands.push_back(RedisLink::evalsha(redisScripts().enqueue, prefix_, args));
  }
  auto replies = writer_link_->run(commands);
  for (size_t i = 0; i < batch.size(); ++i) {
    EnqueueOutcome outcome;
    if (replies.ok()) {
      outcome = enqueueOutcome(replies.value()[i].get(), batch[i].secrets[0]);
    } else {
      outcome.error = replies.error();
    }
    batch[i].done(std::move(outcome));
  }
}

}  // namespace sg::queue

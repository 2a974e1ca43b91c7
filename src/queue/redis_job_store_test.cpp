// RedisJobStore against real redis-server processes: the JobStore contract that the SQLite
// store's tests assert (sqlite_job_store_test.cpp, job_flow_test.cpp), plus what only Redis
// has: instances sharing a queue, takeover after the visibility timeout, Redis gone and back.
// Times come from a fake clock passed as now_ms, except the visibility timeout: XAUTOCLAIM
// measures idle time with Redis's own clock, so those tests sleep past a small real timeout.
#include "queue/redis_job_store_test_support.h"

namespace sg::queue {
namespace {

TEST_F(RedisJobStoreTest, EnqueueThenGetRoundTripsTheRequestWithASqliteLikeId) {
  ASSERT_NE(store_, nullptr);
  Job job;
  job.request.method = "PATCH";
  job.request.target = "/api/orders/%00?q=\xff&x=\"y\"";
  job.request.headers = {
      {"X-Empty", ""}, {"x-dup", "a"}, {"X-Dup", "b"}, {"X-Bin", std::string("\0\x01\xfe\r\n", 5)}};
  job.request.body.assign(std::string("\0\0\xff\xfe binary \r\n\0", 15));
  for (int i = 0; i < 256; ++i) job.request.body.push_back(static_cast<char>(i));
  job.idempotency_key = std::string("key\0with-nul", 12);
  auto outcome = enqueueAndWait(*store_, job);
  ASSERT_TRUE(outcome.ok()) << outcome.error->message;
  EXPECT_FALSE(outcome.existing);
  EXPECT_TRUE(isJobId(outcome.id)) << outcome.id;  // 44 hex, as SQLite's
  Job got = getOk(outcome.id);
  EXPECT_EQ(got.id, outcome.id);
  EXPECT_EQ(got.request, job.request);
  EXPECT_EQ(got.idempotency_key, job.idempotency_key);
  EXPECT_EQ(got.queue, "orders");
  EXPECT_EQ(got.state, JobState::kQueued);
  EXPECT_EQ(got.attempts, 0u);
  for (int64_t ms : {got.created_ms, got.updated_ms, got.next_attempt_ms})
    EXPECT_EQ(ms, clock_.now());
  EXPECT_EQ(got.started_ms, 0);
  EXPECT_FALSE(got.result.has_value());
  EXPECT_EQ(store_->recoveredAtOpen(), 0u);
  // The job lives under the queue's hash tag.
  EXPECT_EQ(parseJobId(outcome.id)->seq, 1);
  EXPECT_EQ(store::testing::trim(server_->cli("EXISTS 'sg:q:{orders}:j:1'")), "1");
  // Ids are row numbers in order with random parts; the counter lives in Redis.
  std::string second = add("b");
  EXPECT_EQ(parseJobId(second)->seq, 2);
  EXPECT_NE(second.substr(kJobSeqDigits), outcome.id.substr(kJobSeqDigits));
  reopen();
  EXPECT_EQ(parseJobId(add("c"))->seq, 3);
}

TEST_F(RedisJobStoreTest, ClaimThenSucceedKeepsTheResultUpToMaxResultSize) {
  options_.max_result_size = 10;
  reopen();
  const int64_t t0 = clock_.now();
  std::string id = add("a");
  clock_.advance(100);
  Job job = claimOne();
  EXPECT_EQ(job.id, id);
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.attempts, 1u);
  EXPECT_EQ(job.started_ms, t0 + 100);
  EXPECT_EQ(job.request.body, "a");
  EXPECT_TRUE(claim(10).empty());  // nothing else is ready
  clock_.advance(50);
  JobResult result{201, {{"Location", "/orders/7"}}, "{\"id\":7}"};
  auto settled = settle(succeeded(job, result));
  ASSERT_TRUE(settled.ok()) << settled.error().message;
  Job done = getOk(id);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.created_ms, t0);
  EXPECT_EQ(done.started_ms, t0 + 100);
  EXPECT_EQ(done.updated_ms, t0 + 150);
  auto stored = store_->result(id);
  ASSERT_TRUE(stored.ok() && stored.value().has_value());
  EXPECT_EQ(stored.value()->status, 201);
  EXPECT_EQ(stored.value()->body, "{\"id\":7}");
  EXPECT_EQ(stored.value()->headers, result.headers);
  EXPECT_FALSE(stored.value()->body_omitted);
  // A second answer for the same delivery changes nothing.
  auto again = settle(succeeded(job, JobResult{500, {}, "other"}));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kWrongState);
  EXPECT_EQ(store_->result(id).value()->status, 201);
  EXPECT_TRUE(claim(10).empty());  // a succeeded job is not delivered again
  // A body over max_result_size is not kept; its size is.
  std::string big = add("big");
  Job next = claimOne();
  ASSERT_TRUE(settle(succeeded(next, JobResult{200, {{"A", "b"}}, "0123456789A"})).ok());
  auto capped = store_->result(big).value();
  ASSERT_TRUE(capped.has_value());
  EXPECT_EQ(capped->status, 200);
  EXPECT_EQ(capped->headers.size(), 1u);
  EXPECT_TRUE(capped->body_omitted);
  EXPECT_EQ(capped->body, "");
  EXPECT_EQ(capped->body_size, 11u);
}

TEST_F(RedisJobStoreTest, RetryWaitsForItsTimeThenDiesIntoTheDeadList) {
  std::string id = add("r");
  Job first = claimOne();
  const int64_t retry_at = clock_.now() + 2000;
  ASSERT_TRUE(settle(failedWith(first, FailNext::retryAt(retry_at), "upstream 503")).ok());
  Job retrying = getOk(id);
  EXPECT_EQ(retrying.state, JobState::kRetrying);
  EXPECT_EQ(retrying.next_attempt_ms, retry_at);
  EXPECT_EQ(retrying.last_error, "upstream 503");
  EXPECT_EQ(countsNow().depth(), 1u);
  clock_.advance(1999);
  EXPECT_TRUE(claim(10).empty());
  clock_.advance(1);
  Job second = claimOne();
  EXPECT_EQ(second.id, id);
  EXPECT_EQ(second.attempts, 2u);
  EXPECT_EQ(second.started_ms, clock_.now());
  ASSERT_TRUE(settle(failedWith(second, FailNext::dead(), "upstream 503 again")).ok());
  Job dead = getOk(id);
  EXPECT_EQ(dead.state, JobState::kDead);
  EXPECT_EQ(dead.dead_reason, "attempts exhausted");
  EXPECT_EQ(dead.last_error, "upstream 503 again");
  auto listed = store_->listDead(10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].id, id);
  EXPECT_EQ(countsNow().dead(), 1u);
  EXPECT_TRUE(claim(10).empty());
}

// The dispatcher's round: every kind of settlement, then the next claim.
TEST_F(RedisJobStoreTest, SettleAndClaimSettlesEachKindThenClaims) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(add(std::to_string(i)));
  std::vector<Job> first = claim(4);
  ASSERT_EQ(first.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(first[i].id, ids[i]);
  clock_.advance(20);
  std::vector<Settlement> ended = {
      succeeded(first[0], JobResult{201, {{"Location", "/o/1"}}, "made"}),
      failedWith(first[1], FailNext::retryAt(clock_.now() + 500), "upstream 503"),
      failedWith(first[2], FailNext::failed(), "upstream 400", JobResult{400, {}, "bad"}),
      failedWith(first[3], FailNext::dead(), "upstream 502"),
  };
  const ClaimRequest claims[] = {{3, ClaimAttempts::kAny}};
  auto round = store_->settleAndClaim(ended, clock_.now(), claims);
  ASSERT_TRUE(round.ok()) << round.error().message;
  ASSERT_EQ(round.value().settled.size(), 4u);
  for (const Status& s : round.value().settled) EXPECT_TRUE(s.ok());
  // The retried job waits for its next attempt: only the two never tried are claimed.
  ASSERT_EQ(round.value().claimed.size(), 2u);
  EXPECT_EQ(round.value().claimed[0].id, ids[4]);
  EXPECT_EQ(round.value().claimed[1].id, ids[5]);
  // The round refreshed counts() (no refreshCounts here).
  QueueCounts counts = store_->counts(clock_.now());
  EXPECT_EQ(counts.inFlight(), 2u);
  EXPECT_EQ(counts.dead(), 1u);
  EXPECT_EQ(counts.depth(), 1u);  // the retrying job
  EXPECT_EQ(stateOf(ids[0]), JobState::kSucceeded);
  EXPECT_EQ(store_->result(ids[0]).value()->body, "made");
  Job retrying = getOk(ids[1]);
  EXPECT_EQ(retrying.state, JobState::kRetrying);
  EXPECT_EQ(retrying.next_attempt_ms, clock_.now() + 500);
  Job failed = getOk(ids[2]);  // FailNext::failed keeps the upstream's answer
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.last_error, "upstream 400");
  ASSERT_TRUE(failed.result.has_value());
  EXPECT_EQ(failed.result->status, 400);
  EXPECT_EQ(failed.result->body, "bad");
  EXPECT_EQ(getOk(ids[3]).dead_reason, "attempts exhausted");
}

// A superseded attempt's settlement is reported alone and changes nothing.
TEST_F(RedisJobStoreTest, StaleAttemptIsRefusedAndLeavesTheJobAlone) {
  std::string stale = add("s");
  std::string fine = add("f");
  std::vector<Job> first = claim(2);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(settle(failedWith(first[0], FailNext::retryAt(clock_.now()), "503")).ok());
  Job second = claimOne();  // attempt 2 of `stale`
  ASSERT_EQ(second.id, stale);
  ASSERT_EQ(second.attempts, 2u);
  std::string next = add("n");
  std::vector<Settlement> ended = {
      succeeded(first[0], JobResult{200, {}, "late"}),  // attempt 1: superseded
      {forge(fine), 1, FailNext::dead(), "x", std::nullopt},
      succeeded(first[1]),
  };
  const ClaimRequest claims[] = {{5, ClaimAttempts::kAny}};
  auto round = store_->settleAndClaim(ended, clock_.now(), claims);
  ASSERT_TRUE(round.ok()) << round.error().message;
  const auto& settled = round.value().settled;
  ASSERT_EQ(settled.size(), 3u);
  ASSERT_FALSE(settled[0].ok());
  EXPECT_EQ(settled[0].error().kind, ErrorKind::kWrongState);
  ASSERT_FALSE(settled[1].ok());
  EXPECT_EQ(settled[1].error().kind, ErrorKind::kNotFound);
  EXPECT_TRUE(settled[2].ok()) << settled[2].error().message;
  ASSERT_EQ(round.value().claimed.size(), 1u);
  EXPECT_EQ(round.value().claimed[0].id, next);
  Job still = getOk(stale);
  EXPECT_EQ(still.state, JobState::kRunning);
  EXPECT_EQ(still.attempts, 2u);
  EXPECT_FALSE(still.result.has_value());
  EXPECT_EQ(stateOf(fine), JobState::kSucceeded);
  auto result = store_->result(fine);  // a completion without an answer still has a result
  EXPECT_TRUE(result.ok() && result.value().has_value());
  // A made-up attempt number (ahead of the job's) is refused too.
  Settlement ahead = succeeded(second);
  ahead.attempt = 3;
  auto refused = settle(ahead);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kWrongState);
  // The current attempt still settles.
  ASSERT_TRUE(settle(succeeded(second, JobResult{200, {}, "ok"})).ok());
  EXPECT_EQ(store_->result(stale).value()->body, "ok");
}

TEST_F(RedisJobStoreTest, IdempotencyKeyReturnsTheExistingJob) {
  options_.result_ttl_ms = 60'000;
  reopen();
  auto first = enqueueAndWait(*store_, requestJob("one", "key-1"));
  ASSERT_TRUE(first.ok()) << first.error->message;
  EXPECT_FALSE(first.existing);
  clock_.advance(1'000);
  auto second = enqueueAndWait(*store_, requestJob("two", "key-1"));
  ASSERT_TRUE(second.ok()) << second.error->message;
  EXPECT_TRUE(second.existing);
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(getOk(first.id).request.body, "one");
  auto other = enqueueAndWait(*store_, requestJob("three", "key-2"));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other.existing);
  EXPECT_NE(other.id, first.id);
  EXPECT_EQ(countsNow().depth(), 2u);
  // The key stays bound to the job after it ran.
  Job job = claimOne();
  ASSERT_TRUE(settle(succeeded(job, JobResult{200, {}, "done"})).ok());
  auto third = enqueueAndWait(*store_, requestJob("four", "key-1"));
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third.existing);
  EXPECT_EQ(third.id, first.id);
}

TEST_F(RedisJobStoreTest, IdempotencyHoldsWithinOneWriterBatch) {
  options_.max_wait = std::chrono::milliseconds(50);
  reopen();
  std::promise<void> all_done;
  std::vector<EnqueueOutcome> outcomes(20);
  std::atomic<int> left{20};
  for (int i = 0; i < 20; ++i) {
    store_->enqueue(requestJob("same", "dup"), [&, i](EnqueueOutcome o) {
      outcomes[i] = std::move(o);
      if (--left == 0) all_done.set_value();
    });
  }
  all_done.get_future().wait();
  int fresh = 0;
  for (const auto& o : outcomes) {
    ASSERT_TRUE(o.ok()) << o.error->message;
    EXPECT_EQ(o.id, outcomes[0].id);
    fresh += o.existing ? 0 : 1;
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(countsNow().depth(), 1u);
}

TEST_F(RedisJobStoreTest, OverflowRejectRefusesWithFull) {
  options_.max_length = 3;
  options_.overflow = Overflow::kReject;
  reopen();
  for (int i = 0; i < 3; ++i) add("j");
  auto refused = enqueueAndWait(*store_, requestJob("over"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error->kind, ErrorKind::kFull);
  EXPECT_TRUE(refused.error->retry_later);
  EXPECT_TRUE(refused.id.empty()) << refused.id;
  EXPECT_EQ(countsNow().depth(), 3u);
  // A running job does not count: claiming one makes room.
  claimOne();
  auto fits = enqueueAndWait(*store_, requestJob("fits"));
  EXPECT_TRUE(fits.ok()) << fits.error->message;
  EXPECT_FALSE(enqueueAndWait(*store_, requestJob("over again")).ok());
}

TEST_F(RedisJobStoreTest, OverflowDropOldestDeadLettersTheOldest) {
  options_.max_length = 2;
  options_.overflow = Overflow::kDropOldest;
  reopen();
  std::string oldest = add("1");
  clock_.advance(1);
  std::string second = add("2");
  clock_.advance(1);
  std::string third = add("3");
  ASSERT_FALSE(third.empty());
  Job dropped = getOk(oldest);
  EXPECT_EQ(dropped.state, JobState::kDead);
  EXPECT_NE(dropped.dead_reason.find("drop_oldest"), std::string::npos) << dropped.dead_reason;
  EXPECT_EQ(stateOf(second), JobState::kQueued);
  EXPECT_EQ(stateOf(third), JobState::kQueued);
  QueueCounts counts = countsNow();
  EXPECT_EQ(counts.depth(), 2u);
  EXPECT_EQ(counts.dead(), 1u);
  // The dropped job is not delivered.
  std::vector<Job> claimed = claim(10);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].id, second);
  EXPECT_EQ(claimed[1].id, third);
}

TEST_F(RedisJobStoreTest, ExpireDeadLettersJobsQueuedTooLong) {
  std::string old_id = add("old");
  clock_.advance(30'000);
  std::string young = add("young");
  clock_.advance(31'000);
  auto expired = store_->expire(clock_.now(), 60'000);
  ASSERT_TRUE(expired.ok()) << expired.error().message;
  EXPECT_EQ(expired.value(), 1u);
  Job dead = getOk(old_id);
  EXPECT_EQ(dead.state, JobState::kDead);
  EXPECT_NE(dead.dead_reason.find("message_ttl"), std::string::npos) << dead.dead_reason;
  EXPECT_EQ(stateOf(young), JobState::kQueued);
  std::vector<Job> claimed = claim(10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, young);
  EXPECT_EQ(store_->expire(clock_.now(), 60'000).value(), 0u);
}

TEST_F(RedisJobStoreTest, CancelOnlyWhileQueued) {
  std::string queued = add("q");
  std::string running = add("r");
  ASSERT_TRUE(store_->cancel(queued).ok());
  Job cancelled = getOk(queued);
  EXPECT_EQ(cancelled.state, JobState::kFailed);
  EXPECT_EQ(cancelled.last_error, "cancelled");
  Job job = claimOne();  // the cancelled job is skipped
  EXPECT_EQ(job.id, running);
  auto refused = store_->cancel(running);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kWrongState);
  EXPECT_EQ(stateOf(running), JobState::kRunning);
  auto twice = store_->cancel(queued);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().kind, ErrorKind::kWrongState);
  EXPECT_EQ(store_->cancel(forge(running)).error().kind, ErrorKind::kNotFound);
  EXPECT_TRUE(claim(10).empty());
}

TEST_F(RedisJobStoreTest, DeadLettersListReplayDiscard) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(add(std::to_string(i)));
    Job job = claimOne();
    clock_.advance(1);
    ASSERT_TRUE(settle(failedWith(job, FailNext::dead(), "boom")).ok());
  }
  auto dead = store_->listDead(10);
  ASSERT_TRUE(dead.ok()) << dead.error().message;
  ASSERT_EQ(dead.value().size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(dead.value()[i].id, ids[i]);  // oldest death first
  EXPECT_EQ(store_->listDead(2).value().size(), 2u);
  std::vector<std::string> replay = {ids[0], ids[1], "not-a-job", forge(ids[2])};
  auto replayed_n = store_->replayDead(replay);
  ASSERT_TRUE(replayed_n.ok()) << replayed_n.error().message;
  EXPECT_EQ(replayed_n.value(), 2u);
  Job replayed = getOk(ids[0]);
  EXPECT_EQ(replayed.state, JobState::kQueued);
  EXPECT_EQ(replayed.attempts, 0u);
  EXPECT_EQ(replayed.dead_reason, "");
  EXPECT_EQ(replayed.next_attempt_ms, clock_.now());
  EXPECT_EQ(stateOf(ids[2]), JobState::kDead);
  std::vector<std::string> discard = {ids[2], ids[0]};  // ids[0] is no longer dead: kept
  ASSERT_EQ(store_->discardDead(discard).value(), 1u);
  EXPECT_EQ(store_->get(ids[2]).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(stateOf(ids[0]), JobState::kQueued);
  EXPECT_EQ(countsNow().dead(), 1u);
  ASSERT_EQ(store_->replayAllDead().value(), 1u);
  EXPECT_EQ(countsNow().depth(), 3u);
  // Replayed jobs are delivered again, as first attempts.
  std::vector<Job> claimed = claim(10);
  ASSERT_EQ(claimed.size(), 3u);
  for (const Job& job : claimed) {
    EXPECT_EQ(job.attempts, 1u);
    ASSERT_TRUE(settle(failedWith(job, FailNext::dead(), "again")).ok());
  }
  ASSERT_EQ(store_->discardAllDead().value(), 3u);
  EXPECT_EQ(countsNow().dead(), 0u);
  EXPECT_TRUE(store_->listDead(10).value().empty());
}

TEST_F(RedisJobStoreTest, PurgeDropsEndedJobsAfterResultTtl) {
  options_.result_ttl_ms = 1'000;
  reopen();
  std::string done = add("done");
  std::string failed = add("failed");
  std::string waiting = add("waiting");
  std::vector<Job> jobs = claim(2);
  ASSERT_EQ(jobs.size(), 2u);
  ASSERT_TRUE(settle(succeeded(jobs[0], JobResult{204, {}, ""})).ok());
  ASSERT_TRUE(settle(failedWith(jobs[1], FailNext::failed(), "400")).ok());
  clock_.advance(999);
  EXPECT_EQ(store_->purgeResults(clock_.now()).value(), 0u);
  EXPECT_EQ(stateOf(done), JobState::kSucceeded);
  clock_.advance(2);
  auto purged = store_->purgeResults(clock_.now());
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_EQ(purged.value(), 2u);
  EXPECT_EQ(store_->get(done).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(store_->result(failed).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(stateOf(waiting), JobState::kQueued);
  QueueCounts counts = countsNow();
  EXPECT_EQ(counts.by_state[static_cast<int>(JobState::kSucceeded)], 0u);
  EXPECT_EQ(counts.by_state[static_cast<int>(JobState::kFailed)], 0u);
  EXPECT_EQ(counts.depth(), 1u);
}

TEST_F(RedisJobStoreTest, CountsAfterRefresh) {
  EXPECT_EQ(countsNow().oldest_queued_age_ms, 0);
  add("a");
  clock_.advance(700);
  add("b");
  clock_.advance(300);
  QueueCounts counts = countsNow();
  EXPECT_EQ(counts.by_state[static_cast<int>(JobState::kQueued)], 2u);
  EXPECT_EQ(counts.depth(), 2u);
  EXPECT_EQ(counts.inFlight(), 0u);
  EXPECT_EQ(counts.oldest_queued_age_ms, 1000);
  claimOne();
  counts = countsNow();
  EXPECT_EQ(counts.inFlight(), 1u);
  EXPECT_EQ(counts.depth(), 1u);
  EXPECT_EQ(counts.oldest_queued_age_ms, 300);
  EXPECT_TRUE(claim(0, ClaimAttempts::kFirst).empty());  // max 0 takes nothing
}

// A batching queue claims a batch (first attempts of the oldest one's method and target)
// apart from later attempts (kLater: retries only), in one round.
TEST_F(RedisJobStoreTest, ClaimsABatchApartFromLaterAttempts) {
  std::string retried = add("r");
  EXPECT_TRUE(claim(10, ClaimAttempts::kLater).empty());  // only a first attempt waits
  Job job = claimOne();
  ASSERT_TRUE(settle(failedWith(job, FailNext::retryAt(clock_.now() + 100), "503")).ok());
  EXPECT_TRUE(claim(10, ClaimAttempts::kLater).empty());  // the retry is not due yet
  clock_.advance(100);
  // Unread stream entries cannot be taken out of order: a batch is the oldest first attempt
  // and the ones right behind it with its method and target (docs/async-routes.md).
  std::string a1 = add("1", "/a");
  std::string a2 = add("2", "/a");
  std::string b1 = add("3", "/b");
  std::string a3 = add("4", "/a");
  std::vector<Job> batch = claim(10, ClaimAttempts::kFirst);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].id, a1);
  EXPECT_EQ(batch[1].id, a2);
  EXPECT_EQ(batch[0].attempts, 1u);
  EXPECT_EQ(stateOf(b1), JobState::kQueued);         // another target ends the batch
  EXPECT_EQ(stateOf(retried), JobState::kRetrying);  // kFirst leaves later attempts
  const ClaimRequest claims[] = {{1, ClaimAttempts::kFirst}, {5, ClaimAttempts::kLater}};
  auto round = store_->settleAndClaim({}, clock_.now(), claims);
  ASSERT_TRUE(round.ok()) << round.error().message;
  ASSERT_EQ(round.value().claimed.size(), 2u);
  EXPECT_EQ(round.value().claimed[0].id, b1);
  EXPECT_EQ(round.value().claimed[1].id, retried);
  EXPECT_EQ(round.value().claimed[1].attempts, 2u);
  EXPECT_EQ(stateOf(a3), JobState::kQueued);
  batch = claim(1, ClaimAttempts::kFirst);  // max 1: the batch is cut at max
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].id, a3);
}

// Knowing a job's number is not enough: every by-id call needs its random part.
TEST_F(RedisJobStoreTest, WrongOrMadeUpIdsAreNotFound) {
  std::string real = add("mine");
  std::string zeros = real.substr(0, kJobSeqDigits) + std::string(32, '0');
  std::string unknown_seq = "0000000000ff" + real.substr(kJobSeqDigits);
  std::string upper = real;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // clang-format off
  const std::string bad[] = {forge(real), zeros, unknown_seq, "", real.substr(0, kJobIdLength - 1),
      real + "0", real.substr(kJobSeqDigits), upper, "000000000000" + real.substr(kJobSeqDigits),
      "ffffffffffffffffffffffffffffffff"};
  // clang-format on
  for (const std::string& id : bad) {
    SCOPED_TRACE(id);
    auto got = store_->get(id);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().kind, ErrorKind::kNotFound);
    EXPECT_EQ(store_->result(id).error().kind, ErrorKind::kNotFound);
    EXPECT_EQ(store_->cancel(id).error().kind, ErrorKind::kNotFound);
  }
  Job job = claimOne();
  ASSERT_EQ(job.id, real);
  for (const std::string& id : bad) {
    SCOPED_TRACE(id);
    auto settled = settle({id, 1, std::nullopt, {}, JobResult{200, {}, "stolen"}});
    ASSERT_FALSE(settled.ok());
    EXPECT_EQ(settled.error().kind, ErrorKind::kNotFound);
  }
  ASSERT_TRUE(settle(failedWith(job, FailNext::dead(), "boom")).ok());
  std::vector<std::string> ids(std::begin(bad), std::end(bad));
  EXPECT_EQ(store_->replayDead(ids).value(), 0u);
  EXPECT_EQ(store_->discardDead(ids).value(), 0u);
  // The real id still works, and the forged calls did not touch the job.
  Job got = getOk(real);
  EXPECT_EQ(got.state, JobState::kDead);
  EXPECT_FALSE(got.result.has_value());
}

// Two gateway instances (two consumers of the group) on one Redis share the queue's jobs.
TEST_F(RedisJobStoreTest, TwoInstancesShareTheQueue) {
  auto a = open("instance-a");
  auto b = open("instance-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->consumer(), "instance-a");
  EXPECT_NE(store_->consumer(), a->consumer());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(enqueueAndWait(*a, requestJob(std::to_string(i))).id);
  for (int i = 3; i < 6; ++i) ids.push_back(enqueueAndWait(*b, requestJob(std::to_string(i))).id);
  EXPECT_EQ(parseJobId(ids[5])->seq, 6);  // one counter for both
  std::vector<Job> by_a = claim(*a, 2);
  std::vector<Job> by_b = claim(*b, 10);
  ASSERT_EQ(by_a.size(), 2u);
  ASSERT_EQ(by_b.size(), 4u);
  EXPECT_EQ(by_a[0].id, ids[0]);
  EXPECT_EQ(by_a[1].id, ids[1]);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(by_b[i].id, ids[2 + i]);
  EXPECT_TRUE(claim(*a, 10).empty());
  // Either instance settles what it claimed and reads any job.
  ASSERT_TRUE(settle(*b, succeeded(by_b[0], JobResult{200, {}, "b"})).ok());
  ASSERT_TRUE(settle(*a, succeeded(by_a[0], JobResult{200, {}, "a"})).ok());
  EXPECT_EQ(a->result(ids[2]).value()->body, "b");
  EXPECT_EQ(b->get(ids[0]).value().state, JobState::kSucceeded);
  // A retry of a's job may go to b.
  ASSERT_TRUE(settle(*a, failedWith(by_a[1], FailNext::retryAt(clock_.now()), "503")).ok());
  std::vector<Job> retried = claim(*b, 10);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].id, ids[1]);
  EXPECT_EQ(retried[0].attempts, 2u);
}

// A delivery claimed by an instance that never settles it (it died) is taken over by another
// instance's stalled() once it has been pending for the visibility timeout.
TEST_F(RedisJobStoreTest, StalledDeliveryIsTakenOverByAnotherInstance) {
  auto a = open("instance-a");
  auto b = open("instance-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::string id = add("slow");
  Job first = claimOne(*a);
  ASSERT_EQ(first.id, id);
  auto early = b->stalled(clock_.now(), kVisibilityMs);
  ASSERT_TRUE(early.ok()) << early.error().message;
  EXPECT_EQ(early.value(), 0u);
  EXPECT_EQ(stateOf(id), JobState::kRunning);
  std::this_thread::sleep_for(kPastVisibility);
  clock_.advance(kPastVisibility.count());
  auto taken = b->stalled(clock_.now(), kVisibilityMs);
  ASSERT_TRUE(taken.ok()) << taken.error().message;
  EXPECT_EQ(taken.value(), 1u);
  Job stalled = getOk(id);
  EXPECT_EQ(stalled.state, JobState::kRetrying);  // retried at once
  EXPECT_EQ(stalled.attempts, 1u);
  EXPECT_EQ(stalled.next_attempt_ms, clock_.now());
  EXPECT_NE(stalled.last_error.find("stalled"), std::string::npos) << stalled.last_error;
  EXPECT_EQ(b->counts(clock_.now()).depth(), 1u);                  // stalled() refreshed the counts
  EXPECT_EQ(b->stalled(clock_.now(), kVisibilityMs).value(), 0u);  // counted once
  Job second = claimOne(*b);
  EXPECT_EQ(second.id, id);
  EXPECT_EQ(second.attempts, 2u);
  // The old instance's late answer is refused; b's settles.
  auto late = settle(*a, succeeded(first, JobResult{200, {}, "late"}));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().kind, ErrorKind::kWrongState);
  ASSERT_TRUE(settle(*b, succeeded(second, JobResult{200, {}, "ok"})).ok());
  EXPECT_EQ(store_->result(id).value()->body, "ok");
}

TEST_F(RedisJobStoreTest, StalledOnTheLastAttemptGoesDead) {
  options_.max_attempts = 1;
  reopen();
  auto b = open("instance-b");
  ASSERT_NE(b, nullptr);
  std::string id = add("slow");
  Job job = claimOne();
  ASSERT_EQ(job.id, id);
  std::this_thread::sleep_for(kPastVisibility);
  clock_.advance(kPastVisibility.count());
  ASSERT_EQ(b->stalled(clock_.now(), kVisibilityMs).value(), 1u);
  Job dead = getOk(id);
  EXPECT_EQ(dead.state, JobState::kDead);
  EXPECT_NE(dead.dead_reason.find("stalled"), std::string::npos) << dead.dead_reason;
  EXPECT_TRUE(claim(*b, 10).empty());
  auto listed = b->listDead(10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].id, id);
}

// Unlike SQLite, a restarted instance does not requeue what it was running: the job waits for
// the visibility timeout like any other instance's.
TEST_F(RedisJobStoreTest, RunningJobsAreNotRequeuedAtReopen) {
  std::string running = add("running");
  std::string waiting = add("waiting");
  ASSERT_EQ(claimOne().id, running);
  reopen();
  EXPECT_EQ(store_->recoveredAtOpen(), 0u);
  EXPECT_EQ(stateOf(running), JobState::kRunning);
  std::vector<Job> claimed = claim(10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, waiting);
  std::this_thread::sleep_for(kPastVisibility);
  clock_.advance(kPastVisibility.count());
  ASSERT_EQ(store_->stalled(clock_.now(), kVisibilityMs).value(), 2u);  // both past vt
  claimed = claim(10);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].attempts, 2u);
  EXPECT_EQ(claimed[1].attempts, 2u);
}

TEST_F(RedisJobStoreTest, OpenSucceedsWithoutRedis) {
  store_.reset();
  const uint16_t port = server_->port();
  const RedisStoreOptions redis = redisOptions();
  server_.reset();  // nothing listens on the port now
  auto opened = RedisJobStore::open(options_, redis);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  store_ = std::move(opened.value());
  auto refused = enqueueAndWait(*store_, requestJob("x"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error->kind, ErrorKind::kStorage);
  EXPECT_TRUE(refused.error->retry_later);
  EXPECT_EQ(store_->expire(clock_.now(), 1000).error().kind, ErrorKind::kStorage);
  server_ = std::make_unique<RedisServer>(std::vector<std::string>{}, port);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // past reconnect_interval
  auto stored = enqueueAndWait(*store_, requestJob("y"));
  ASSERT_TRUE(stored.ok()) << stored.error->message;
  Job job = claimOne();
  EXPECT_EQ(job.id, stored.id);
}

// Redis stops and starts again on the same port (appendonly: its data survives); the same
// store answers storage errors meanwhile and works again without being reopened.
TEST_F(RedisJobStoreTest, RedisGoneThenBackOnTheSamePort) {
  store_.reset();
  TempDir data;
  server_ = std::make_unique<RedisServer>(std::vector<std::string>{
      "--appendonly", "yes", "--appendfsync", "always", "--dir", data.path()});
  store_ = open();
  ASSERT_NE(store_, nullptr);
  std::string before = add("before");
  std::string running = add("running");
  ASSERT_EQ(claimOne().id, before);
  server_->stop();
  auto refused = enqueueAndWait(*store_, requestJob("while down"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error->kind, ErrorKind::kStorage);
  EXPECT_TRUE(refused.error->retry_later);
  const ClaimRequest claims[] = {{10, ClaimAttempts::kAny}};
  auto round = store_->settleAndClaim({}, clock_.now(), claims);
  ASSERT_FALSE(round.ok());
  EXPECT_EQ(round.error().kind, ErrorKind::kStorage);
  EXPECT_EQ(store_->get(before).error().kind, ErrorKind::kStorage);
  EXPECT_EQ(store_->stalled(clock_.now(), kVisibilityMs).error().kind, ErrorKind::kStorage);
  server_->start();
  // The next call reconnects (at most every reconnect_interval): allow a few looks.
  bool back = false;
  for (int i = 0; i < 40 && !back; ++i) {
    back = store_->get(before).ok();
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(back) << "the store did not reconnect within 2 s";
  EXPECT_EQ(stateOf(before), JobState::kRunning);
  EXPECT_EQ(stateOf(running), JobState::kQueued);
  auto after = enqueueAndWait(*store_, requestJob("after"));
  ASSERT_TRUE(after.ok()) << after.error->message;
  EXPECT_EQ(parseJobId(after.id)->seq, 3);  // the counter survived (the refused job took none)
  std::vector<Job> claimed = claim(10);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].id, running);
  EXPECT_EQ(claimed[1].id, after.id);
  for (const Job& job : claimed) ASSERT_TRUE(settle(succeeded(job)).ok());
  EXPECT_EQ(countsNow().inFlight(), 1u);  // `before`, still pending from the first life
}

}  // namespace
}  // namespace sg::queue

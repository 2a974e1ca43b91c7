// The dispatcher's and the admin API's calls: claim, settle, retry, dead letters, expiry,
// stalled deliveries, cancel, purge.
#include "queue/queue_test_support.h"

namespace sg::queue {
namespace {

using testing::enqueueSync;
using testing::FakeClock;
using testing::openOrDie;
using testing::optionsFor;
using testing::requestJob;
using testing::TempDir;

class JobFlowTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = openOrDie(options_); }
  std::string add(std::string body) {
    auto outcome = enqueueSync(*store_, requestJob(std::move(body)));
    EXPECT_TRUE(outcome.ok());
    return outcome.id;
  }
  Job claimOne() {
    auto claimed = store_->claimReady(clock_.now(), 1);
    EXPECT_TRUE(claimed.ok());
    EXPECT_EQ(claimed.ok() ? claimed.value().size() : 0u, 1u);
    return claimed.ok() && !claimed.value().empty() ? claimed.value()[0] : Job{};
  }
  JobState stateOf(const std::string& id) { return store_->get(id).value().state; }

  TempDir dir_;
  FakeClock clock_;
  StoreOptions options_ = optionsFor(dir_, clock_);
  std::unique_ptr<SqliteJobStore> store_;
};

TEST_F(JobFlowTest, ClaimCompleteWithTimestamps) {
  int64_t t0 = clock_.now();
  std::string id = add("a");
  clock_.advance(100);
  Job job = claimOne();
  EXPECT_EQ(job.id, id);
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.attempts, 1u);
  EXPECT_EQ(job.started_ms, t0 + 100);
  EXPECT_EQ(job.request.body, "a");
  EXPECT_TRUE(store_->claimReady(clock_.now(), 10).value().empty());  // nothing else ready

  clock_.advance(50);
  JobResult result{201, {{"Location", "/orders/7"}}, "{\"id\":7}"};
  ASSERT_TRUE(store_->complete(id, job.attempts, result).ok());
  Job done = store_->get(id).value();
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
  auto again = store_->complete(id, job.attempts, result);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kWrongState);
}

TEST_F(JobFlowTest, ClaimsOldestFirstUpToMax) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(add(std::to_string(i)));
    clock_.advance(1);
  }
  auto claimed = store_->claimReady(clock_.now(), 3);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed.value().size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(claimed.value()[i].id, ids[i]);
  EXPECT_EQ(store_->counts(clock_.now()).inFlight(), 3u);
}

TEST_F(JobFlowTest, RetryWaitsForNextAttemptThenDies) {
  std::string id = add("r");
  Job first = claimOne();
  int64_t retry_at = clock_.now() + 2000;
  ASSERT_TRUE(store_->fail(id, first.attempts, "upstream 503", FailNext::retryAt(retry_at)).ok());
  Job retrying = store_->get(id).value();
  EXPECT_EQ(retrying.state, JobState::kRetrying);
  EXPECT_EQ(retrying.next_attempt_ms, retry_at);
  EXPECT_EQ(retrying.last_error, "upstream 503");
  EXPECT_EQ(store_->counts(clock_.now()).depth(), 1u);

  clock_.advance(1999);
  EXPECT_TRUE(store_->claimReady(clock_.now(), 10).value().empty());
  clock_.advance(1);
  Job second = claimOne();
  EXPECT_EQ(second.attempts, 2u);
  ASSERT_TRUE(store_->fail(id, second.attempts, "upstream 503 again", FailNext::dead()).ok());
  Job dead = store_->get(id).value();
  EXPECT_EQ(dead.state, JobState::kDead);
  EXPECT_EQ(dead.dead_reason, "attempts exhausted");
  EXPECT_EQ(dead.last_error, "upstream 503 again");
  EXPECT_EQ(store_->counts(clock_.now()).dead(), 1u);
}

TEST_F(JobFlowTest, NonRetryableFailureEndsFailed) {
  std::string id = add("f");
  Job job = claimOne();
  ASSERT_TRUE(store_->fail(id, job.attempts, "upstream 400", FailNext::failed()).ok());
  EXPECT_EQ(stateOf(id), JobState::kFailed);
}

TEST_F(JobFlowTest, StaleAttemptCannotSettle) {
  std::string id = add("s");
  Job first = claimOne();
  clock_.advance(10'000);
  ASSERT_EQ(store_->stalled(clock_.now(), 5'000).value(), 1u);
  Job second = claimOne();
  auto late = store_->complete(id, first.attempts, JobResult{200, {}, "late"});
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().kind, ErrorKind::kWrongState);
  EXPECT_NE(late.error().message.find("running (attempt 2)"), std::string::npos)
      << late.error().message;
  EXPECT_TRUE(store_->complete(id, second.attempts, JobResult{200, {}, "ok"}).ok());
  EXPECT_EQ(store_->fail("ffffffffffffffffffffffffffffffff", 1, "x", FailNext::dead()).error().kind,
            ErrorKind::kNotFound);
}

TEST_F(JobFlowTest, ResultBodyOverTheCapIsNotKept) {
  store_.reset();
  options_.max_result_size = 10;
  store_ = openOrDie(options_);
  std::string id = add("c");
  Job job = claimOne();
  ASSERT_TRUE(store_->complete(id, job.attempts, JobResult{200, {{"A", "b"}}, "0123456789A"}).ok());
  auto result = store_->result(id).value();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->headers.size(), 1u);
  EXPECT_TRUE(result->body_omitted);
  EXPECT_EQ(result->body, "");
  EXPECT_EQ(result->body_size, 11u);
}

// A failed delivery keeps the upstream's answer, under the same size rule as complete(); a
// later failure without an answer clears it (the result is always the last delivery's).
TEST_F(JobFlowTest, FailKeepsTheUpstreamAnswer) {
  store_.reset();
  options_.max_result_size = 10;
  store_ = openOrDie(options_);

  std::string failed = add("f");
  Job job = claimOne();
  JobResult not_found{404, {{"Content-Type", "text/plain"}}, "no such"};
  ASSERT_TRUE(
      store_->fail(failed, job.attempts, "status 404", FailNext::failed(), &not_found).ok());
  Job settled = store_->get(failed).value();
  EXPECT_EQ(settled.state, JobState::kFailed);
  EXPECT_EQ(settled.last_error, "status 404");
  ASSERT_TRUE(settled.result.has_value());
  EXPECT_EQ(settled.result->status, 404);
  EXPECT_EQ(settled.result->headers, not_found.headers);
  EXPECT_EQ(settled.result->body, "no such");
  EXPECT_EQ(settled.result->body_size, 7u);
  EXPECT_FALSE(settled.result->body_omitted);

  std::string dead = add("d");
  job = claimOne();
  JobResult big{503, {}, "0123456789A"};
  ASSERT_TRUE(
      store_->fail(dead, job.attempts, "status 503", FailNext::retryAt(clock_.now()), &big).ok());
  auto retrying = store_->get(dead).value();
  EXPECT_EQ(retrying.state, JobState::kRetrying);
  ASSERT_TRUE(retrying.result.has_value());
  EXPECT_EQ(retrying.result->status, 503);
  EXPECT_TRUE(retrying.result->body_omitted);
  EXPECT_EQ(retrying.result->body, "");
  EXPECT_EQ(retrying.result->body_size, 11u);

  job = claimOne();
  ASSERT_TRUE(
      store_->fail(dead, job.attempts, "connect refused", FailNext::retryAt(clock_.now())).ok());
  EXPECT_FALSE(store_->result(dead).value().has_value());

  job = claimOne();
  JobResult omitted{502, {}, ""};
  omitted.body_omitted = true;  // as ResponseCapture gives it: empty body, the full size
  omitted.body_size = 5000;
  ASSERT_TRUE(store_->fail(dead, job.attempts, "status 502", FailNext::dead(), &omitted).ok());
  Job killed = store_->get(dead).value();
  EXPECT_EQ(killed.state, JobState::kDead);
  EXPECT_EQ(killed.dead_reason, "attempts exhausted");
  ASSERT_TRUE(killed.result.has_value());
  EXPECT_EQ(killed.result->status, 502);
  EXPECT_TRUE(killed.result->body_omitted);
  EXPECT_EQ(killed.result->body_size, 5000u);
}

TEST_F(JobFlowTest, CompleteKeepsAnOmittedBodysSize) {
  std::string id = add("o");
  Job job = claimOne();
  JobResult omitted{200, {}, ""};
  omitted.body_omitted = true;
  omitted.body_size = 3u << 20;
  ASSERT_TRUE(store_->complete(id, job.attempts, omitted).ok());
  auto result = store_->result(id).value();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->body_omitted);
  EXPECT_EQ(result->body_size, 3u << 20);
}

TEST_F(JobFlowTest, ExpireDeadLettersJobsQueuedTooLong) {
  std::string old_id = add("old");
  clock_.advance(30'000);
  std::string young = add("young");
  clock_.advance(31'000);
  auto expired = store_->expire(clock_.now(), 60'000);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired.value(), 1u);
  Job dead = store_->get(old_id).value();
  EXPECT_EQ(dead.state, JobState::kDead);
  EXPECT_NE(dead.dead_reason.find("message_ttl"), std::string::npos);
  EXPECT_EQ(stateOf(young), JobState::kQueued);
}

TEST_F(JobFlowTest, StalledDeliveriesAreRetriedThenDeadAtMaxAttempts) {
  store_.reset();
  options_.max_attempts = 2;
  store_ = openOrDie(options_);
  std::string id = add("slow");
  std::string fresh = add("fresh");
  claimOne();
  clock_.advance(4'000);
  claimOne();  // `fresh` started 4 s later
  clock_.advance(2'000);
  ASSERT_EQ(store_->stalled(clock_.now(), 5'000).value(), 1u);
  Job stalled = store_->get(id).value();
  EXPECT_EQ(stalled.state, JobState::kRetrying);
  EXPECT_EQ(stalled.next_attempt_ms, clock_.now());
  EXPECT_NE(stalled.last_error.find("stalled"), std::string::npos);
  EXPECT_EQ(stateOf(fresh), JobState::kRunning);

  Job second = claimOne();
  EXPECT_EQ(second.attempts, 2u);
  clock_.advance(6'000);
  ASSERT_EQ(store_->stalled(clock_.now(), 5'000).value(), 2u);  // both: `id` dies, `fresh` retries
  EXPECT_EQ(stateOf(id), JobState::kDead);
  EXPECT_EQ(stateOf(fresh), JobState::kRetrying);
}

TEST_F(JobFlowTest, DeadLettersListReplayDiscard) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(add(std::to_string(i)));
    Job job = claimOne();
    clock_.advance(1);
    ASSERT_TRUE(store_->fail(job.id, job.attempts, "boom", FailNext::dead()).ok());
  }
  auto dead = store_->listDead(10);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead.value().size(), 4u);
  EXPECT_EQ(dead.value()[0].id, ids[0]);
  EXPECT_EQ(store_->listDead(2).value().size(), 2u);

  std::vector<std::string> replay = {ids[0], ids[1], "not-a-job"};
  ASSERT_EQ(store_->replayDead(replay).value(), 2u);
  Job replayed = store_->get(ids[0]).value();
  EXPECT_EQ(replayed.state, JobState::kQueued);
  EXPECT_EQ(replayed.attempts, 0u);
  EXPECT_EQ(replayed.dead_reason, "");
  EXPECT_EQ(replayed.next_attempt_ms, clock_.now());

  std::vector<std::string> discard = {ids[2], ids[0]};  // ids[0] is no longer dead: kept
  ASSERT_EQ(store_->discardDead(discard).value(), 1u);
  EXPECT_EQ(store_->get(ids[2]).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(stateOf(ids[0]), JobState::kQueued);
  EXPECT_EQ(store_->counts(clock_.now()).dead(), 1u);

  ASSERT_EQ(store_->replayAllDead().value(), 1u);
  EXPECT_EQ(store_->counts(clock_.now()).depth(), 3u);
  auto claimed = store_->claimReady(clock_.now(), 10);
  ASSERT_TRUE(claimed.ok());
  for (const Job& job : claimed.value()) {
    ASSERT_TRUE(store_->fail(job.id, job.attempts, "again", FailNext::dead()).ok());
  }
  ASSERT_EQ(store_->discardAllDead().value(), 3u);
  EXPECT_EQ(store_->counts(clock_.now()).dead(), 0u);
}

TEST_F(JobFlowTest, CancelOnlyWhileQueued) {
  std::string queued = add("q");
  std::string running = add("r");
  ASSERT_TRUE(store_->cancel(queued).ok());
  Job cancelled = store_->get(queued).value();
  EXPECT_EQ(cancelled.state, JobState::kFailed);
  EXPECT_EQ(cancelled.last_error, "cancelled");
  claimOne();
  auto refused = store_->cancel(running);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kWrongState);
  EXPECT_EQ(store_->cancel("00000000000000000000000000000000").error().kind, ErrorKind::kNotFound);
}

TEST_F(JobFlowTest, PurgeDropsEndedJobsAfterResultTtl) {
  store_.reset();
  options_.result_ttl_ms = 1'000;
  store_ = openOrDie(options_);
  std::string done = add("done");
  std::string waiting = add("waiting");
  Job job = claimOne();
  ASSERT_TRUE(store_->complete(done, job.attempts, JobResult{204, {}, ""}).ok());
  clock_.advance(999);
  EXPECT_EQ(store_->purgeResults(clock_.now()).value(), 0u);
  clock_.advance(2);
  EXPECT_EQ(store_->purgeResults(clock_.now()).value(), 1u);
  EXPECT_EQ(store_->get(done).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(stateOf(waiting), JobState::kQueued);
}

// The dispatcher's round: every kind of settlement and the next claim in one transaction.
TEST_F(JobFlowTest, SettleAndClaimSettlesEachKindThenClaims) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(add(std::to_string(i)));
  auto first = store_->claimReady(clock_.now(), 4);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first.value().size(), 4u);
  clock_.advance(20);
  std::vector<Settlement> ended = {
      {ids[0], 1, std::nullopt, {}, JobResult{201, {{"Location", "/o/1"}}, "made"}},
      {ids[1], 1, FailNext::retryAt(clock_.now() + 500), "upstream 503", std::nullopt},
      {ids[2], 1, FailNext::failed(), "upstream 400", JobResult{400, {}, "bad"}},
      {ids[3], 1, FailNext::dead(), "upstream 502", std::nullopt},
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

  EXPECT_EQ(stateOf(ids[0]), JobState::kSucceeded);
  EXPECT_EQ(store_->result(ids[0]).value()->body, "made");
  Job retrying = store_->get(ids[1]).value();
  EXPECT_EQ(retrying.state, JobState::kRetrying);
  EXPECT_EQ(retrying.next_attempt_ms, clock_.now() + 500);
  EXPECT_EQ(retrying.last_error, "upstream 503");
  EXPECT_EQ(stateOf(ids[2]), JobState::kFailed);
  EXPECT_EQ(store_->result(ids[2]).value()->status, 400);
  EXPECT_EQ(store_->get(ids[3]).value().dead_reason, "attempts exhausted");
  QueueCounts counts = store_->counts(clock_.now());
  EXPECT_EQ(counts.inFlight(), 2u);
  EXPECT_EQ(counts.dead(), 1u);
  EXPECT_EQ(counts.depth(), 1u);  // the retrying job
}

// A settlement that no longer applies is reported and leaves the rest of the round alone.
TEST_F(JobFlowTest, SettleAndClaimReportsSupersededAttemptsAlone) {
  std::string stale = add("s");
  std::string fine = add("f");
  ASSERT_EQ(store_->claimReady(clock_.now(), 2).value().size(), 2u);
  clock_.advance(10'000);
  ASSERT_EQ(store_->stalled(clock_.now(), 5'000).value(), 2u);  // both retried at once
  auto again = store_->claimReady(clock_.now(), 2);             // attempt 2 of both
  ASSERT_EQ(again.value().size(), 2u);
  std::string next = add("n");
  std::vector<Settlement> ended = {
      {stale, 1, std::nullopt, {}, JobResult{200, {}, "late"}},  // superseded by attempt 2
      {"ffffffffffffffffffffffffffffffff", 1, FailNext::dead(), "x", std::nullopt},
      {fine, 2, std::nullopt, {}, std::nullopt},
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
  EXPECT_TRUE(settled[2].ok());
  EXPECT_EQ(stateOf(stale), JobState::kRunning);
  EXPECT_EQ(stateOf(fine), JobState::kSucceeded);
  auto result = store_->result(fine);  // a completion without an answer still has a result
  ASSERT_TRUE(result.ok() && result.value().has_value());
  ASSERT_EQ(round.value().claimed.size(), 1u);
  EXPECT_EQ(round.value().claimed[0].id, next);
  // Nothing to settle and no room: the round changes nothing.
  auto empty = store_->settleAndClaim({}, clock_.now(), {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().settled.empty());
  EXPECT_TRUE(empty.value().claimed.empty());
}

// A batching queue claims a batch (first attempts of the oldest one's method and target)
// apart from later attempts, in one round.
TEST_F(JobFlowTest, ClaimsABatchApartFromLaterAttempts) {
  std::string retried = add("r");
  Job job = claimOne();
  ASSERT_TRUE(store_->fail(retried, job.attempts, "503", FailNext::retryAt(clock_.now())).ok());
  auto addTo = [&](std::string target, std::string body) {
    Job j = testing::requestJob(std::move(body));
    j.request.target = std::move(target);
    auto outcome = enqueueSync(*store_, std::move(j));
    EXPECT_TRUE(outcome.ok());
    return outcome.id;
  };
  std::string a1 = addTo("/a", "1");
  std::string b1 = addTo("/b", "2");
  std::string a2 = addTo("/a", "3");
  std::string b2 = addTo("/b", "4");
  auto batch = store_->claimReady(clock_.now(), 10, ClaimAttempts::kFirst);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch.value().size(), 2u);
  EXPECT_EQ(batch.value()[0].id, a1);
  EXPECT_EQ(batch.value()[1].id, a2);
  EXPECT_EQ(batch.value()[0].attempts, 1u);
  const ClaimRequest claims[] = {{1, ClaimAttempts::kFirst}, {5, ClaimAttempts::kLater}};
  auto round = store_->settleAndClaim({}, clock_.now(), claims);
  ASSERT_TRUE(round.ok());
  ASSERT_EQ(round.value().claimed.size(), 2u);
  EXPECT_EQ(round.value().claimed[0].id, b1);  // max 1: the batch is cut at max
  EXPECT_EQ(round.value().claimed[1].id, retried);
  EXPECT_EQ(round.value().claimed[1].attempts, 2u);
  EXPECT_EQ(store_->get(b2).value().state, JobState::kQueued);
}

}  // namespace
}  // namespace sg::queue

// Storage: round trips, durability across reopen, recovery, idempotency, overflow.
#include "queue/sqlite_job_store.h"

#include <cctype>
#include <string>
#include <vector>

#include "queue/queue_test_support.h"

namespace sg::queue {
namespace {

using testing::enqueueSync;
using testing::FakeClock;
using testing::openOrDie;
using testing::optionsFor;
using testing::requestJob;
using testing::TempDir;

class JobStoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  FakeClock clock_;
  StoreOptions options_ = optionsFor(dir_, clock_);
};

TEST_F(JobStoreTest, RoundTripsBinaryBodyAndOddHeaders) {
  auto store = openOrDie(options_);
  Job job;
  job.request.method = "PATCH";
  job.request.target = "/api/orders/%00?q=\xff&x=\"y\"";
  job.request.headers = {{"X-Empty", ""},
                         {"x-dup", "a"},
                         {"X-Dup", "b"},
                         {"X-Bin", std::string("\0\x01\xfe\r\n", 5)},
                         {"Content-Type", "application/octet-stream"}};
  job.request.body.assign(std::string("\0\0\xff\xfe binary \r\n\0", 15));
  for (int i = 0; i < 256; ++i) job.request.body.push_back(static_cast<char>(i));
  job.idempotency_key = std::string("key\0with-nul", 12);
  auto outcome = enqueueSync(*store, job);
  ASSERT_TRUE(outcome.ok()) << outcome.error->message;
  EXPECT_FALSE(outcome.existing);
  EXPECT_TRUE(isJobId(outcome.id));

  auto got = store->get(outcome.id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got.value().request, job.request);
  EXPECT_EQ(got.value().idempotency_key, job.idempotency_key);
  EXPECT_EQ(got.value().queue, "orders");
  EXPECT_EQ(got.value().state, JobState::kQueued);
  EXPECT_EQ(got.value().attempts, 0u);
  EXPECT_EQ(got.value().created_ms, clock_.now());
  EXPECT_EQ(got.value().updated_ms, clock_.now());
  EXPECT_EQ(got.value().next_attempt_ms, clock_.now());
  EXPECT_EQ(got.value().started_ms, 0);
  EXPECT_FALSE(got.value().result.has_value());
}

TEST_F(JobStoreTest, EmptyBodyStaysEmptyAndUnknownIdIsNotFound) {
  auto store = openOrDie(options_);
  auto outcome = enqueueSync(*store, requestJob(""));
  ASSERT_TRUE(outcome.ok());
  auto got = store->get(outcome.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().request.body, "");
  auto missing = store->get("0000000000ff" + outcome.id.substr(kJobSeqDigits));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

TEST_F(JobStoreTest, IdsAreRowNumbersInOrderWithRandomParts) {
  auto store = openOrDie(options_);
  auto a = enqueueSync(*store, requestJob("a"));
  auto b = enqueueSync(*store, requestJob("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(isJobId(a.id)) << a.id;
  ASSERT_TRUE(isJobId(b.id)) << b.id;
  EXPECT_EQ(parseJobId(a.id)->seq, 1);
  EXPECT_EQ(parseJobId(b.id)->seq, 2);
  EXPECT_NE(a.id.substr(kJobSeqDigits), b.id.substr(kJobSeqDigits));
  // A number is not given out again, even after the newest job is gone.
  ASSERT_TRUE(store->cancel(a.id).ok());
  auto claimed = store->claimReady(clock_.now(), 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed.value().size(), 1u);
  EXPECT_EQ(claimed.value()[0].id, b.id);
  ASSERT_TRUE(store->fail(b.id, 1, "boom", FailNext::dead()).ok());
  ASSERT_EQ(store->discardAllDead().value(), 1u);
  store.reset();
  store = openOrDie(options_);
  auto c = enqueueSync(*store, requestJob("c"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(parseJobId(c.id)->seq, 3);
}

// Knowing (or guessing) a job's number is not enough: every by-id call needs its random part.
TEST_F(JobStoreTest, ForgedIdWithRightNumberIsNotFound) {
  auto store = openOrDie(options_);
  auto real = enqueueSync(*store, requestJob("mine"));
  ASSERT_TRUE(real.ok());
  std::string forged = real.id;
  forged.back() = forged.back() == '0' ? '1' : '0';  // one bit of 128 off
  std::string zeros = real.id.substr(0, kJobSeqDigits) + std::string(32, '0');
  for (const std::string& id : {forged, zeros}) {
    SCOPED_TRACE(id);
    auto got = store->get(id);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().kind, ErrorKind::kNotFound);
    EXPECT_EQ(store->result(id).error().kind, ErrorKind::kNotFound);
    EXPECT_EQ(store->cancel(id).error().kind, ErrorKind::kNotFound);
  }
  auto claimed = store->claimReady(clock_.now(), 1);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed.value().size(), 1u);
  auto settle = store->complete(forged, 1, JobResult{200, {}, "stolen"});
  ASSERT_FALSE(settle.ok());
  EXPECT_EQ(settle.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(store->fail(forged, 1, "x", FailNext::dead()).error().kind, ErrorKind::kNotFound);
  ASSERT_TRUE(store->fail(real.id, 1, "boom", FailNext::dead()).ok());
  std::vector<std::string> ids = {forged, zeros};
  EXPECT_EQ(store->replayDead(ids).value(), 0u);
  EXPECT_EQ(store->discardDead(ids).value(), 0u);
  // The real id still works, and the job was not touched by the forged calls.
  auto got = store->get(real.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().state, JobState::kDead);
  EXPECT_FALSE(got.value().result.has_value());
}

TEST_F(JobStoreTest, MalformedIdsAreNotFound) {
  auto store = openOrDie(options_);
  auto real = enqueueSync(*store, requestJob("x"));
  ASSERT_TRUE(real.ok());
  std::string upper = real.id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string bad[] = {"",
                             real.id.substr(0, kJobIdLength - 1),
                             real.id + "0",
                             real.id.substr(kJobSeqDigits),  // the random part alone
                             upper,
                             "000000000000" + real.id.substr(kJobSeqDigits),
                             std::string(real.id).replace(3, 1, "\0", 1),
                             "%" + real.id.substr(1)};
  for (const std::string& id : bad) {
    SCOPED_TRACE(id);
    EXPECT_EQ(store->get(id).error().kind, ErrorKind::kNotFound);
    EXPECT_EQ(store->cancel(id).error().kind, ErrorKind::kNotFound);
    EXPECT_EQ(store->complete(id, 1, JobResult{}).error().kind, ErrorKind::kNotFound);
  }
  std::vector<std::string> ids(std::begin(bad), std::end(bad));
  EXPECT_EQ(store->discardDead(ids).value(), 0u);
  EXPECT_EQ(store->get(real.id).value().state, JobState::kQueued);
}

TEST_F(JobStoreTest, JobSurvivesCloseAndReopen) {
  std::string id;
  {
    auto store = openOrDie(options_);
    auto outcome = enqueueSync(*store, requestJob("{\"order\":1}"));
    ASSERT_TRUE(outcome.ok());
    id = outcome.id;
  }
  auto store = openOrDie(options_);
  auto got = store->get(id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got.value().request.body, "{\"order\":1}");
  EXPECT_EQ(store->counts(clock_.now()).depth(), 1u);
  EXPECT_EQ(store->recoveredAtOpen(), 0u);
}

TEST_F(JobStoreTest, PendingEnqueuesAreCommittedAtClose) {
  std::atomic<int> ok{0};
  {
    auto store = openOrDie(options_);
    for (int i = 0; i < 100; ++i) {
      store->enqueue(requestJob("x"), [&ok](const EnqueueOutcome& o) { ok += o.ok() ? 1 : 0; });
    }
  }
  EXPECT_EQ(ok.load(), 100);
  auto store = openOrDie(options_);
  EXPECT_EQ(store->counts(clock_.now()).depth(), 100u);
}

TEST_F(JobStoreTest, CallbacksMayCallBackIntoTheStore) {
  auto store = openOrDie(options_);
  std::promise<JobState> seen;
  store->enqueue(requestJob("re"), [&](const EnqueueOutcome& outcome) {
    ASSERT_TRUE(outcome.ok());
    auto job = store->get(outcome.id);  // no store lock is held during callbacks
    seen.set_value(job.ok() ? job.value().state : JobState::kDead);
    store->enqueue(requestJob("from a callback"), [](const EnqueueOutcome&) {});
  });
  EXPECT_EQ(seen.get_future().get(), JobState::kQueued);
}

TEST_F(JobStoreTest, RunningJobsAreRequeuedAtOpenWithTheirAttemptCounted) {
  std::string a;
  std::string b;
  {
    auto store = openOrDie(options_);
    a = enqueueSync(*store, requestJob("a")).id;
    b = enqueueSync(*store, requestJob("b")).id;
    auto claimed = store->claimReady(clock_.now(), 1);
    ASSERT_TRUE(claimed.ok());
    ASSERT_EQ(claimed.value().size(), 1u);
    EXPECT_EQ(claimed.value()[0].id, a);
  }  // the "gateway" dies with `a` in flight
  clock_.advance(5000);
  auto store = openOrDie(options_);
  EXPECT_EQ(store->recoveredAtOpen(), 1u);
  auto got = store->get(a);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().state, JobState::kQueued);
  EXPECT_EQ(got.value().attempts, 1u);
  EXPECT_EQ(got.value().next_attempt_ms, clock_.now());
  EXPECT_NE(got.value().last_error.find("interrupted"), std::string::npos);
  auto again = store->claimReady(clock_.now(), 10);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again.value().size(), 2u);
  EXPECT_EQ(again.value()[0].id, b);  // b was ready earlier than the requeued a
  EXPECT_EQ(again.value()[1].id, a);
  EXPECT_EQ(again.value()[1].attempts, 2u);
}

TEST_F(JobStoreTest, IdempotencyKeyReturnsTheSameJobWithinResultTtl) {
  options_.result_ttl_ms = 60'000;
  auto store = openOrDie(options_);
  auto first = enqueueSync(*store, requestJob("one", "key-1"));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first.existing);
  clock_.advance(59'000);
  auto second = enqueueSync(*store, requestJob("two", "key-1"));
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second.existing);
  EXPECT_EQ(second.id, first.id);
  auto other = enqueueSync(*store, requestJob("three", "key-2"));
  EXPECT_FALSE(other.existing);
  EXPECT_EQ(store->counts(clock_.now()).depth(), 2u);

  clock_.advance(2'000);  // key-1's job is now older than result_ttl: the key is free again
  auto third = enqueueSync(*store, requestJob("four", "key-1"));
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third.existing);
  EXPECT_NE(third.id, first.id);
  EXPECT_FALSE(store->get(first.id).value().idempotency_key.has_value());
}

TEST_F(JobStoreTest, IdempotencyHoldsWithinOneBatch) {
  options_.max_wait = std::chrono::milliseconds(50);
  auto store = openOrDie(options_);
  std::promise<void> all_done;
  std::vector<EnqueueOutcome> outcomes(20);
  std::atomic<int> left{20};
  for (int i = 0; i < 20; ++i) {
    store->enqueue(requestJob("same", "dup"), [&, i](EnqueueOutcome o) {
      outcomes[i] = std::move(o);
      if (--left == 0) all_done.set_value();
    });
  }
  all_done.get_future().wait();
  int fresh = 0;
  for (const auto& o : outcomes) {
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.id, outcomes[0].id);
    fresh += o.existing ? 0 : 1;
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(store->counts(clock_.now()).depth(), 1u);
}

TEST_F(JobStoreTest, OverflowRejectRefusesWithFull) {
  options_.max_length = 3;
  options_.overflow = Overflow::kReject;
  auto store = openOrDie(options_);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(enqueueSync(*store, requestJob("j")).ok());
  auto refused = enqueueSync(*store, requestJob("over"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error->kind, ErrorKind::kFull);
  EXPECT_TRUE(refused.error->retry_later);
  EXPECT_FALSE(store->get(refused.id).ok());
  EXPECT_EQ(store->counts(clock_.now()).depth(), 3u);
  // A running job does not count: claiming one makes room.
  ASSERT_TRUE(store->claimReady(clock_.now(), 1).ok());
  EXPECT_TRUE(enqueueSync(*store, requestJob("fits")).ok());
}

TEST_F(JobStoreTest, SetLimitsAppliesANewMaxLengthToTheOpenStore) {
  options_.max_length = 1;
  options_.overflow = Overflow::kReject;
  auto store = openOrDie(options_);
  ASSERT_TRUE(enqueueSync(*store, requestJob("1")).ok());
  ASSERT_FALSE(enqueueSync(*store, requestJob("over")).ok());
  StoreOptions wider = options_;
  wider.max_length = 2;
  store->setLimits(wider);  // what an in-process reload does with the file still open
  EXPECT_TRUE(enqueueSync(*store, requestJob("2")).ok());
  EXPECT_FALSE(enqueueSync(*store, requestJob("3")).ok());
  EXPECT_EQ(store->counts(clock_.now()).depth(), 2u);
}

TEST_F(JobStoreTest, OverflowDropOldestDeadLettersTheOldest) {
  options_.max_length = 2;
  options_.overflow = Overflow::kDropOldest;
  auto store = openOrDie(options_);
  std::string oldest = enqueueSync(*store, requestJob("1")).id;
  clock_.advance(1);
  std::string second = enqueueSync(*store, requestJob("2")).id;
  clock_.advance(1);
  auto third = enqueueSync(*store, requestJob("3"));
  ASSERT_TRUE(third.ok());
  auto dropped = store->get(oldest);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped.value().state, JobState::kDead);
  EXPECT_NE(dropped.value().dead_reason.find("drop_oldest"), std::string::npos);
  EXPECT_EQ(store->get(second).value().state, JobState::kQueued);
  auto counts = store->counts(clock_.now());
  EXPECT_EQ(counts.depth(), 2u);
  EXPECT_EQ(counts.dead(), 1u);
}

TEST_F(JobStoreTest, CountsAndOldestQueuedAge) {
  auto store = openOrDie(options_);
  EXPECT_EQ(store->counts(clock_.now()).oldest_queued_age_ms, 0);
  enqueueSync(*store, requestJob("a"));
  clock_.advance(700);
  enqueueSync(*store, requestJob("b"));
  clock_.advance(300);
  auto counts = store->counts(clock_.now());
  EXPECT_EQ(counts.by_state[static_cast<int>(JobState::kQueued)], 2u);
  EXPECT_EQ(counts.oldest_queued_age_ms, 1000);
  ASSERT_TRUE(store->claimReady(clock_.now(), 1).ok());
  counts = store->counts(clock_.now());
  EXPECT_EQ(counts.inFlight(), 1u);
  EXPECT_EQ(counts.depth(), 1u);
  EXPECT_EQ(counts.oldest_queued_age_ms, 300);
}

// Fan-out: a member per target, stored together; the head's id is the group's.
TEST_F(JobStoreTest, FanOutStoresAMemberPerUpstream) {
  auto store = openOrDie(options_);
  Job fan = requestJob("event", "key-f");
  fan.fanout = {"billing", "audit", "log"};
  auto head = enqueueSync(*store, fan);
  ASSERT_TRUE(head.ok()) << head.error->message;
  auto members = store->group(head.id);
  ASSERT_TRUE(members.ok()) << members.error().message;
  ASSERT_EQ(members.value().size(), 3u);
  const int64_t head_seq = parseJobId(head.id)->seq;
  const char* upstreams[] = {"billing", "audit", "log"};
  for (size_t i = 0; i < 3; ++i) {
    const Job& member = members.value()[i];
    EXPECT_EQ(member.upstream, upstreams[i]);
    EXPECT_EQ(member.group_seq, head_seq);
    EXPECT_EQ(member.request, fan.request);
    EXPECT_EQ(member.state, JobState::kQueued);
    EXPECT_EQ(member.idempotency_key.has_value(), i == 0);  // the head only
  }
  EXPECT_EQ(members.value()[0].id, head.id);
  EXPECT_NE(members.value()[1].id, members.value()[2].id);
  EXPECT_EQ(store->counts(clock_.now()).depth(), 3u);
  // Only the head names the group; a member, a single job and a forged id do not.
  EXPECT_TRUE(store->group(members.value()[1].id).value().empty());
  auto single = enqueueSync(*store, requestJob("single"));
  EXPECT_TRUE(store->group(single.id).value().empty());
  EXPECT_EQ(store->get(single.id).value().group_seq, 0);
  std::string forged = head.id;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(store->group(forged).error().kind, ErrorKind::kNotFound);
  // The key returns the head, and stores nothing more.
  auto again = enqueueSync(*store, fan);
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.id, head.id);
  EXPECT_EQ(store->counts(clock_.now()).depth(), 4u);
}

// A fan-out job counts once against max_length; then all of its members are stored.
TEST_F(JobStoreTest, FanOutCountsOnceAgainstMaxLength) {
  options_.max_length = 2;
  auto store = openOrDie(options_);
  ASSERT_TRUE(enqueueSync(*store, requestJob("one")).ok());
  Job fan = requestJob("fan");
  fan.fanout = {"a", "b", "c"};
  ASSERT_TRUE(enqueueSync(*store, fan).ok());
  EXPECT_EQ(store->counts(clock_.now()).depth(), 4u);
  auto full = enqueueSync(*store, fan);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error->kind, ErrorKind::kFull);
}

// A batch is one request to one upstream: members of other upstreams are not in it.
TEST_F(JobStoreTest, BatchClaimsDoNotMixUpstreams) {
  auto store = openOrDie(options_);
  Job fan = requestJob("fan");
  fan.fanout = {"a", "b"};
  auto first = enqueueSync(*store, fan);
  auto second = enqueueSync(*store, fan);
  auto batch = store->claimReady(clock_.now(), 10, ClaimAttempts::kFirst);
  ASSERT_TRUE(batch.ok()) << batch.error().message;
  ASSERT_EQ(batch.value().size(), 2u);
  for (const Job& job : batch.value()) EXPECT_EQ(job.upstream, "a");
  auto rest = store->claimReady(clock_.now(), 10, ClaimAttempts::kFirst);
  ASSERT_EQ(rest.value().size(), 2u);
  for (const Job& job : rest.value()) EXPECT_EQ(job.upstream, "b");
  EXPECT_EQ(batch.value()[0].id, first.id);
  EXPECT_EQ(rest.value()[0].group_seq, parseJobId(first.id)->seq);
  EXPECT_EQ(rest.value()[1].group_seq, parseJobId(second.id)->seq);
}

}  // namespace
}  // namespace sg::queue

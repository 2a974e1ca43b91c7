// Fan-out in the Redis job store: members stored together, group(), idempotency, max_length,
// batches per upstream, members that retry and die on their own.
#include "queue/redis_job_store_test_support.h"

namespace sg::queue {
namespace {

// Fan-out (route async.fanout): one member job per upstream, stored by one script.
class RedisFanOutTest : public RedisJobStoreTest {
 protected:
  EnqueueOutcome fanOut(std::vector<std::string> upstreams, std::string body = "f",
                        std::optional<std::string> key = std::nullopt) {
    Job job = requestJob(std::move(body), std::move(key));
    job.fanout = std::move(upstreams);
    return enqueueAndWait(*store_, std::move(job));
  }
  std::string fanOutOk(std::vector<std::string> upstreams, std::string body = "f") {
    auto outcome = fanOut(std::move(upstreams), std::move(body));
    EXPECT_TRUE(outcome.ok()) << (outcome.ok() ? "" : outcome.error->message);
    return outcome.id;
  }
  std::vector<Job> groupOk(const std::string& head) {
    auto members = store_->group(head);
    EXPECT_TRUE(members.ok()) << (members.ok() ? "" : members.error().message);
    return members.ok() ? members.value() : std::vector<Job>{};
  }
};

TEST_F(RedisFanOutTest, EnqueueStoresOneMemberPerUpstreamInListOrder) {
  std::string single = add("single");
  Job job = requestJob("payload");
  job.request.headers.push_back({"X-Bin", std::string("\0\xff", 2)});
  job.fanout = {"billing", "audit", "crm"};
  auto outcome = enqueueAndWait(*store_, job);
  ASSERT_TRUE(outcome.ok()) << outcome.error->message;
  EXPECT_FALSE(outcome.existing);
  ASSERT_TRUE(isJobId(outcome.id)) << outcome.id;
  EXPECT_EQ(parseJobId(outcome.id)->seq, 2);  // the head: the first member
  std::vector<Job> members = groupOk(outcome.id);
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].id, outcome.id);
  for (size_t i = 0; i < members.size(); ++i) {
    SCOPED_TRACE(i);
    const Job& m = members[i];
    EXPECT_TRUE(isJobId(m.id)) << m.id;
    EXPECT_EQ(parseJobId(m.id)->seq, static_cast<int64_t>(2 + i));
    EXPECT_EQ(m.upstream, job.fanout[i]);
    EXPECT_EQ(m.group_seq, 2);
    EXPECT_EQ(m.request, job.request);
    EXPECT_EQ(m.state, JobState::kQueued);
    EXPECT_EQ(m.attempts, 0u);
    EXPECT_EQ(getOk(m.id).upstream, job.fanout[i]);  // each member by its own id
  }
  // Each member has its own random part.
  EXPECT_NE(members[0].id.substr(kJobSeqDigits), members[1].id.substr(kJobSeqDigits));
  EXPECT_NE(members[1].id.substr(kJobSeqDigits), members[2].id.substr(kJobSeqDigits));
  EXPECT_EQ(store::testing::trim(server_->cli("HGET 'sg:q:{orders}:j:2' gm")), "2,3,4");
  Job lone = getOk(single);
  EXPECT_EQ(lone.upstream, "");
  EXPECT_EQ(lone.group_seq, 0);
  EXPECT_EQ(countsNow().depth(), 4u);  // members are jobs
  EXPECT_EQ(parseJobId(add("next"))->seq, 5);
  // Claims carry each member's upstream and group (what delivery routes by).
  std::vector<Job> claimed = claim(10);
  ASSERT_EQ(claimed.size(), 5u);
  EXPECT_EQ(claimed[0].id, single);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(claimed[1 + i].id, members[i].id);
    EXPECT_EQ(claimed[1 + i].upstream, job.fanout[i]);
    EXPECT_EQ(claimed[1 + i].group_seq, 2);
  }
  EXPECT_EQ(claimed[4].upstream, "");
}

TEST_F(RedisFanOutTest, GroupOfHeadMemberSingleAndForgedIds) {
  std::string head = fanOutOk({"billing", "audit"});
  std::string single = add("single");
  std::vector<Job> members = groupOk(head);
  ASSERT_EQ(members.size(), 2u);
  auto of_member = store_->group(members[1].id);  // a member that is not the head
  ASSERT_TRUE(of_member.ok()) << of_member.error().message;
  EXPECT_TRUE(of_member.value().empty());
  auto of_single = store_->group(single);
  ASSERT_TRUE(of_single.ok()) << of_single.error().message;
  EXPECT_TRUE(of_single.value().empty());
  std::string unknown_seq = "0000000000ff" + head.substr(kJobSeqDigits);
  for (const std::string& id :
       {forge(head), forge(members[1].id), unknown_seq, std::string("not-a-job"), std::string()}) {
    SCOPED_TRACE(id);
    auto got = store_->group(id);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().kind, ErrorKind::kNotFound);
  }
  // A purged member is left out; the rest of the group is still read.
  options_.result_ttl_ms = 1'000;
  reopen();
  std::vector<Job> claimed = claim(10);
  ASSERT_EQ(claimed.size(), 3u);
  ASSERT_EQ(claimed[1].id, members[1].id);
  ASSERT_TRUE(settle(succeeded(claimed[1], JobResult{200, {}, "audit ok"})).ok());
  clock_.advance(1'001);
  ASSERT_EQ(store_->purgeResults(clock_.now()).value(), 1u);
  members = groupOk(head);
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].id, head);
}

TEST_F(RedisFanOutTest, IdempotencyRepeatReturnsTheHead) {
  options_.result_ttl_ms = 60'000;
  reopen();
  auto first = fanOut({"billing", "audit"}, "one", "key-1");
  ASSERT_TRUE(first.ok()) << first.error->message;
  EXPECT_FALSE(first.existing);
  auto again = fanOut({"billing", "audit"}, "two", "key-1");
  ASSERT_TRUE(again.ok()) << again.error->message;
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.id, first.id);
  auto single_again = enqueueAndWait(*store_, requestJob("three", "key-1"));
  ASSERT_TRUE(single_again.ok());
  EXPECT_EQ(single_again.id, first.id);
  std::vector<Job> members = groupOk(first.id);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].idempotency_key, "key-1");  // kept on the head only
  EXPECT_FALSE(members[1].idempotency_key.has_value());
  EXPECT_EQ(members[1].request.body, "one");
  EXPECT_EQ(countsNow().depth(), 2u);  // nothing more stored
}

TEST_F(RedisFanOutTest, MaxLengthCountsAFanOutOnce) {
  options_.max_length = 3;
  options_.overflow = Overflow::kReject;
  reopen();
  add("1");
  add("2");
  // Depth 2 < 3: the fan-out fits, all its members stored (depth passes max_length).
  std::string head = fanOutOk({"billing", "audit", "crm"});
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(groupOk(head).size(), 3u);
  EXPECT_EQ(countsNow().depth(), 5u);
  auto refused = fanOut({"billing", "audit"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error->kind, ErrorKind::kFull);
  EXPECT_FALSE(enqueueAndWait(*store_, requestJob("over")).ok());
  EXPECT_EQ(countsNow().depth(), 5u);  // all or none: no member of the refused one
}

TEST_F(RedisFanOutTest, MaxLengthDropOldestDropsOneJobForAFanOut) {
  options_.max_length = 2;
  options_.overflow = Overflow::kDropOldest;
  reopen();
  std::string oldest = add("1");
  std::string second = add("2");
  std::string head = fanOutOk({"billing", "audit"});
  EXPECT_EQ(stateOf(oldest), JobState::kDead);
  EXPECT_EQ(stateOf(second), JobState::kQueued);
  EXPECT_EQ(groupOk(head).size(), 2u);
  QueueCounts counts = countsNow();
  EXPECT_EQ(counts.depth(), 3u);
  EXPECT_EQ(counts.dead(), 1u);
}

// A batch is first attempts of one method, target and upstream: members of one fan-out (one
// request, other upstreams) never share a batch.
TEST_F(RedisFanOutTest, FirstAttemptBatchNeverMixesUpstreams) {
  std::string b1 = fanOutOk({"billing"});
  std::string b2 = fanOutOk({"billing"});
  std::string both = fanOutOk({"audit", "billing"});
  std::string single = add("single");
  std::vector<std::vector<Job>> batches;
  for (int i = 0; i < 6; ++i) {
    std::vector<Job> batch = claim(10, ClaimAttempts::kFirst);
    if (batch.empty()) break;
    for (const Job& job : batch) {
      EXPECT_EQ(job.upstream, batch[0].upstream) << job.id;
      EXPECT_EQ(job.request.target, batch[0].request.target);
    }
    batches.push_back(std::move(batch));
  }
  ASSERT_EQ(batches.size(), 4u);
  ASSERT_EQ(batches[0].size(), 2u);
  EXPECT_EQ(batches[0][0].id, b1);
  EXPECT_EQ(batches[0][1].id, b2);
  ASSERT_EQ(batches[1].size(), 1u);
  EXPECT_EQ(batches[1][0].id, both);
  EXPECT_EQ(batches[1][0].upstream, "audit");
  ASSERT_EQ(batches[2].size(), 1u);
  EXPECT_EQ(batches[2][0].upstream, "billing");
  EXPECT_EQ(batches[2][0].group_seq, parseJobId(both)->seq);
  ASSERT_EQ(batches[3].size(), 1u);
  EXPECT_EQ(batches[3][0].id, single);
  // A replayed member keeps its upstream in its batch key.
  ASSERT_TRUE(settle(failedWith(batches[2][0], FailNext::dead(), "502")).ok());
  ASSERT_TRUE(settle(failedWith(batches[3][0], FailNext::dead(), "502")).ok());
  ASSERT_EQ(store_->replayAllDead().value(), 2u);
  std::vector<Job> replayed = claim(10, ClaimAttempts::kFirst);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[0].upstream, "billing");
  EXPECT_EQ(claim(10, ClaimAttempts::kFirst).size(), 1u);
}

TEST_F(RedisFanOutTest, MembersRetryAndDieIndependently) {
  options_.max_attempts = 2;
  reopen();
  std::string head = fanOutOk({"billing", "audit"});
  std::vector<Job> first = claim(10);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(first[0].id, head);
  ASSERT_TRUE(settle(failedWith(first[0], FailNext::retryAt(clock_.now() + 100), "503")).ok());
  ASSERT_TRUE(settle(succeeded(first[1], JobResult{200, {}, "audited"})).ok());
  std::vector<Job> members = groupOk(head);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].state, JobState::kRetrying);
  EXPECT_EQ(members[0].last_error, "503");
  EXPECT_EQ(members[1].state, JobState::kSucceeded);
  EXPECT_EQ(members[1].result->body, "audited");
  clock_.advance(100);
  Job second = claimOne();
  EXPECT_EQ(second.id, head);
  EXPECT_EQ(second.upstream, "billing");
  EXPECT_EQ(second.attempts, 2u);
  ASSERT_TRUE(settle(failedWith(second, FailNext::dead(), "503 again")).ok());
  members = groupOk(head);
  EXPECT_EQ(members[0].state, JobState::kDead);
  EXPECT_EQ(members[0].attempts, 2u);
  EXPECT_EQ(members[1].state, JobState::kSucceeded);
  EXPECT_EQ(members[1].attempts, 1u);
  auto dead = store_->listDead(10);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead.value().size(), 1u);
  EXPECT_EQ(dead.value()[0].id, head);
  EXPECT_EQ(dead.value()[0].upstream, "billing");
  // A cancel reaches one member: the other is running.
  std::string next = fanOutOk({"billing", "audit"});
  Job running = claimOne();
  EXPECT_EQ(running.id, next);
  std::vector<Job> group = groupOk(next);
  ASSERT_EQ(group.size(), 2u);
  EXPECT_EQ(store_->cancel(group[0].id).error().kind, ErrorKind::kWrongState);
  ASSERT_TRUE(store_->cancel(group[1].id).ok());
  group = groupOk(next);
  EXPECT_EQ(group[0].state, JobState::kRunning);
  EXPECT_EQ(group[1].state, JobState::kFailed);
}

}  // namespace
}  // namespace sg::queue

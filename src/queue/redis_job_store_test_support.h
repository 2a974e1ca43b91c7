#pragma once
// Shared by the Redis job store tests: real redis-server processes, a fake clock passed as
// now_ms, and the store fixture. Test support only (an anonymous namespace per test file).
#include <atomic>
#include <cctype>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "queue/queue_test_support.h"
#include "queue/redis_job_store.h"
#include "store/test_redis.h"

namespace sg::queue {
namespace {

using sg::store::testing::RedisServer;
using testing::FakeClock;
using testing::requestJob;
using testing::TempDir;

constexpr int64_t kVisibilityMs = 200;  // real milliseconds (Redis's clock)
constexpr auto kPastVisibility = std::chrono::milliseconds(350);

EnqueueOutcome enqueueAndWait(JobStore& store, Job job) {
  std::promise<EnqueueOutcome> promise;
  auto future = promise.get_future();
  store.enqueue(std::move(job),
                [&promise](EnqueueOutcome outcome) { promise.set_value(std::move(outcome)); });
  return future.get();
}

Settlement succeeded(const Job& job, std::optional<JobResult> result = std::nullopt) {
  return {job.id, job.attempts, std::nullopt, {}, std::move(result)};
}

Settlement failedWith(const Job& job, FailNext next, std::string error,
                      std::optional<JobResult> result = std::nullopt) {
  return {job.id, job.attempts, next, std::move(error), std::move(result)};
}

// The same id with one bit of its 128 random bits flipped.
std::string forge(const std::string& id) {
  std::string forged = id;
  forged.back() = forged.back() == '0' ? '1' : '0';
  return forged;
}

class RedisJobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = open(); }

  RedisStoreOptions redisOptions(const std::string& consumer = "") const {
    RedisStoreOptions r;
    r.server.type = config::StoreConfig::Type::kRedis;
    std::string error;
    r.server.address = net::Address::parse(server_->address(), &error).value();
    r.reconnect_interval = std::chrono::milliseconds(50);
    r.consumer = consumer;
    return r;
  }
  std::unique_ptr<RedisJobStore> open(const std::string& consumer = "") {
    auto store = RedisJobStore::open(options_, redisOptions(consumer));
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store.value()) : nullptr;
  }
  void reopen() {
    store_.reset();
    store_ = open();
    ASSERT_NE(store_, nullptr);
  }

  std::string add(std::string body, std::string target = "/api/orders") {
    Job job = requestJob(std::move(body));
    job.request.target = std::move(target);
    auto outcome = enqueueAndWait(*store_, std::move(job));
    EXPECT_TRUE(outcome.ok()) << (outcome.ok() ? "" : outcome.error->message);
    return outcome.id;
  }
  std::vector<Job> claim(JobStore& store, size_t max, ClaimAttempts which = ClaimAttempts::kAny) {
    const ClaimRequest claims[] = {{max, which}};
    auto round = store.settleAndClaim({}, clock_.now(), claims);
    EXPECT_TRUE(round.ok()) << (round.ok() ? "" : round.error().message);
    return round.ok() ? round.value().claimed : std::vector<Job>{};
  }
  std::vector<Job> claim(size_t max, ClaimAttempts which = ClaimAttempts::kAny) {
    return claim(*store_, max, which);
  }
  Job claimOne(JobStore& store) {
    auto claimed = claim(store, 1);
    EXPECT_EQ(claimed.size(), 1u);
    return claimed.empty() ? Job{} : claimed[0];
  }
  Job claimOne() { return claimOne(*store_); }
  Status settle(JobStore& store, Settlement settlement) {
    std::vector<Settlement> ended{std::move(settlement)};
    auto round = store.settleAndClaim(ended, clock_.now(), {});
    if (!round.ok()) return round.error();
    EXPECT_EQ(round.value().settled.size(), 1u);
    return round.value().settled.at(0);
  }
  Status settle(Settlement settlement) { return settle(*store_, std::move(settlement)); }
  Job getOk(const std::string& id) {
    auto got = store_->get(id);
    EXPECT_TRUE(got.ok()) << id << ": " << (got.ok() ? "" : got.error().message);
    return got.ok() ? got.value() : Job{};
  }
  JobState stateOf(const std::string& id) { return getOk(id).state; }
  QueueCounts countsNow() {
    auto refreshed = store_->refreshCounts(clock_.now());
    EXPECT_TRUE(refreshed.ok()) << (refreshed.ok() ? "" : refreshed.error().message);
    return store_->counts(clock_.now());
  }

  std::unique_ptr<RedisServer> server_ = std::make_unique<RedisServer>();
  FakeClock clock_;
  StoreOptions options_ = [this] {
    StoreOptions o;
    o.queue = "orders";
    o.max_wait = std::chrono::microseconds(0);
    o.clock = clock_.fn();
    return o;
  }();
  std::unique_ptr<RedisJobStore> store_;
};

}  // namespace
}  // namespace sg::queue

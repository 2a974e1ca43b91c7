// The queue file's lock (file_lock.h) as a binary upgrade uses it: the process replaced passes
// its lock on, and both use the file until it has settled what it had in flight.
#include "queue/file_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue_test_support.h"

namespace sg::queue {
namespace {

using testing::enqueueSync;
using testing::FakeClock;
using testing::openOrDie;
using testing::optionsFor;
using testing::requestJob;
using testing::TempDir;

class FileLockTest : public ::testing::Test {
 protected:
  TempDir dir_;
  FakeClock clock_;
  StoreOptions options_ = optionsFor(dir_, clock_);
};

JobState stateOf(SqliteJobStore& store, const std::string& id) {
  auto job = store.get(id);
  EXPECT_TRUE(job.ok()) << (job.ok() ? "" : job.error().message);
  return job.ok() ? job.value().state : JobState::kDead;
}

TEST_F(FileLockTest, TheSuccessorSharesTheFileWhileThePredecessorSettles) {
  auto predecessor = openOrDie(options_);
  ASSERT_TRUE(predecessor);
  EXPECT_FALSE(predecessor->lock().handedOver());
  std::string in_flight = enqueueSync(*predecessor, requestJob("in flight")).id;
  std::string waiting = enqueueSync(*predecessor, requestJob("waiting")).id;
  auto claimed = predecessor->claimReady(clock_.now(), 1);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed.value().size(), 1u);

  StoreOptions handed = options_;
  handed.handed_locks = {-1, predecessor->lock().fd()};
  auto successor = openOrDie(handed);
  ASSERT_TRUE(successor);
  EXPECT_TRUE(successor->lock().handedOver());
  // The predecessor still delivers it: not queued again.
  EXPECT_EQ(successor->recoveredAtOpen(), 0u);
  EXPECT_EQ(stateOf(*successor, in_flight), JobState::kRunning);

  // Both write: the predecessor's last enqueue and its settlement, the successor's enqueue.
  std::string late = enqueueSync(*predecessor, requestJob("late")).id;
  std::string fresh = enqueueSync(*successor, requestJob("fresh")).id;
  ASSERT_FALSE(late.empty());
  ASSERT_FALSE(fresh.empty());
  ASSERT_TRUE(predecessor->complete(in_flight, 1, JobResult{200, {}, "done"}).ok());
  predecessor.reset();
  EXPECT_EQ(stateOf(*successor, in_flight), JobState::kSucceeded);
  auto rest = successor->claimReady(clock_.now(), 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest.value().size(), 3u);
  EXPECT_EQ(rest.value()[0].id, waiting);
  EXPECT_EQ(rest.value()[1].id, late);
  EXPECT_EQ(rest.value()[2].id, fresh);

  // The predecessor gone, the lock is still held: a third process is refused.
  auto third = SqliteJobStore::open(options_);
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.error().message.find(".lock: locked"), std::string::npos)
      << third.error().message;
  // Until the successor goes too; its deliveries are then queued again.
  successor.reset();
  auto next = openOrDie(options_);
  ASSERT_TRUE(next);
  EXPECT_FALSE(next->lock().handedOver());
  EXPECT_EQ(next->recoveredAtOpen(), 3u);
}

TEST_F(FileLockTest, ADescriptorOfAnotherFileIsNotTheLock) {
  auto holder = openOrDie(options_);
  ASSERT_TRUE(holder);
  int other = ::open(dir_.file("other.db.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(other, 0);
  StoreOptions handed = options_;
  handed.handed_locks = {other};
  auto refused = SqliteJobStore::open(handed);
  ::close(other);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("locked"), std::string::npos) << refused.error().message;
}

TEST_F(FileLockTest, AnUnwritableLockFileIsNamed) {
  ASSERT_EQ(::mkdir((options_.path + ".lock").c_str(), 0700), 0);
  auto refused = SqliteJobStore::open(options_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find(options_.path + ".lock: cannot open"), std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace sg::queue

// Files the store cannot use give an error value naming the path and SQLite's reason.
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "queue/queue_test_support.h"

namespace sg::queue {
namespace {

using testing::FakeClock;
using testing::TempDir;

StoreError openError(const StoreOptions& options) {
  auto store = SqliteJobStore::open(options);
  EXPECT_FALSE(store.ok());
  if (store.ok()) return StoreError{};
  std::printf("open error: %s\n", store.error().message.c_str());  // what an operator sees
  return store.error();
}

TEST(OpenErrors, GarbageFileIsNotADatabase) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  {
    std::ofstream out(options.path, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 7919) & 0xFF));
  }
  StoreError error = openError(options);
  EXPECT_EQ(error.kind, ErrorKind::kStorage);
  EXPECT_NE(error.message.find(options.path), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("not a database"), std::string::npos) << error.message;
}

TEST(OpenErrors, DamagedPagesAreFoundAtOpen) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  {
    auto store = testing::openOrDie(options);
    ASSERT_TRUE(store);
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE(testing::enqueueSync(*store, testing::requestJob(std::string(500, 'b'))).ok());
    }
  }  // closing checkpoints the WAL into the file
  {
    std::fstream file(options.path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(std::streamoff{3} * 4096);
    for (int i = 0; i < 3 * 4096; ++i) file.put(static_cast<char>((i * 131) & 0xFF));
  }
  StoreError error = openError(options);
  EXPECT_EQ(error.kind, ErrorKind::kStorage);
  EXPECT_NE(error.message.find(options.path), std::string::npos) << error.message;
}

TEST(OpenErrors, PathInReadOnlyDirectory) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  std::string ro = dir.file("ro");
  ASSERT_EQ(mkdir(ro.c_str(), 0555), 0);
  // root ignores directory modes; /proc refuses file creation to everyone.
  options.path = geteuid() == 0 ? "/proc/sg-queue-test/orders.db" : ro + "/orders.db";
  StoreError error = openError(options);
  EXPECT_EQ(error.kind, ErrorKind::kStorage);
  EXPECT_NE(error.message.find(options.path), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("unable to open"), std::string::npos) << error.message;
}

TEST(OpenErrors, DirectoryInsteadOfFile) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  options.path = dir.path();
  StoreError error = openError(options);
  EXPECT_EQ(error.kind, ErrorKind::kStorage);
  EXPECT_NE(error.message.find(dir.path()), std::string::npos) << error.message;
}

TEST(OpenErrors, SecondOpenerIsLockedOut) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  auto first = testing::openOrDie(options);
  ASSERT_TRUE(first);
  StoreError error = openError(options);
  EXPECT_EQ(error.kind, ErrorKind::kStorage);
  EXPECT_NE(error.message.find("locked"), std::string::npos) << error.message;
}

TEST(OpenErrors, FileOfAnotherQueue) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  { ASSERT_TRUE(testing::openOrDie(options)); }
  options.queue = "payments";
  StoreError error = openError(options);
  EXPECT_NE(error.message.find("holds queue 'orders'"), std::string::npos) << error.message;
}

// Caps the size of any file this process writes (RLIMIT_FSIZE), as a full disk would; writes
// past it fail with EFBIG instead of raising SIGXFSZ.
class FileSizeCap {
 public:
  explicit FileSizeCap(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit cap = saved_;
    cap.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &cap);
  }
  ~FileSizeCap() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }
  FileSizeCap(const FileSizeCap&) = delete;
  FileSizeCap& operator=(const FileSizeCap&) = delete;

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
};

TEST(RuntimeErrors, FullDiskFailsTheBatchAsAValueAndTheStoreRecovers) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  auto store = testing::openOrDie(options);
  ASSERT_TRUE(store);
  ASSERT_TRUE(testing::enqueueSync(*store, testing::requestJob("before")).ok());
  std::optional<StoreError> failure;
  {
    FileSizeCap cap(256 * 1024);
    for (int i = 0; i < 200 && !failure; ++i) {
      auto outcome = testing::enqueueSync(*store, testing::requestJob(std::string(8192, 'z')));
      if (!outcome.ok()) failure = outcome.error;
    }
  }
  ASSERT_TRUE(failure.has_value()) << "the cap never made a write fail";
  std::printf("run-time error: %s\n", failure->message.c_str());
  EXPECT_EQ(failure->kind, ErrorKind::kStorage);
  EXPECT_TRUE(failure->retry_later);
  EXPECT_NE(failure->message.find(options.path), std::string::npos) << failure->message;
  // With room again the same store accepts jobs, and what it acknowledged is there.
  auto after = testing::enqueueSync(*store, testing::requestJob("after"));
  ASSERT_TRUE(after.ok()) << after.error->message;
  store.reset();
  auto reopened = testing::openOrDie(options);
  ASSERT_TRUE(reopened);
  EXPECT_TRUE(reopened->get(after.id).ok());
}

TEST(OpenErrors, MissingOptions) {
  StoreOptions options;
  EXPECT_EQ(openError(options).kind, ErrorKind::kInvalid);
}

TEST(OpenErrors, FileWithForeignSchemaVersion) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  { ASSERT_TRUE(testing::openOrDie(options)); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  StoreError error = openError(options);
  EXPECT_NE(error.message.find("schema version 99"), std::string::npos) << error.message;
}

// A file made by a build before row-number ids (version 1: a jobs.id column, no secret) is
// refused with the reason, and left as it was.
TEST(OpenErrors, VersionOneFileIsRefused) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
  const char* v1 =
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
      "INSERT INTO meta VALUES ('schema_version', '1'), ('queue', 'orders');"
      "CREATE TABLE jobs(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL);"
      "INSERT INTO jobs(id, queue) VALUES ('0123456789abcdef0123456789abcdef', 'orders');";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  StoreError error = openError(options);
  EXPECT_EQ(error.kind, ErrorKind::kStorage);
  EXPECT_NE(error.message.find("schema version 1 is not supported (this build: 3)"),
            std::string::npos)
      << error.message;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
  int tables = -1;
  sqlite3_exec(
      db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
      [](void* out, int, char** values, char**) {
        *static_cast<int*>(out) = std::atoi(values[0]);
        return 0;
      },
      &tables, nullptr);
  sqlite3_close(db);
  EXPECT_EQ(tables, 2);  // meta and jobs: nothing of a later version was added
}

// A version 2 file (before fan-out) gets the fan-out columns at open and keeps its jobs.
TEST(OpenErrors, VersionTwoFileIsMigrated) {
  TempDir dir;
  FakeClock clock;
  auto options = testing::optionsFor(dir, clock);
  std::string id;
  {
    auto store = testing::openOrDie(options);
    ASSERT_TRUE(store);
    id = testing::enqueueSync(*store, testing::requestJob("old")).id;
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
  const char* to_v2 =
      "DROP INDEX jobs_group; ALTER TABLE jobs DROP COLUMN group_seq;"
      "ALTER TABLE jobs DROP COLUMN upstream;"
      "UPDATE meta SET value = '2' WHERE key = 'schema_version';";
  ASSERT_EQ(sqlite3_exec(db, to_v2, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto store = testing::openOrDie(options);
  ASSERT_TRUE(store);
  auto old = store->get(id);
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old.value().request.body, "old");
  EXPECT_EQ(old.value().upstream, "");
  EXPECT_EQ(old.value().group_seq, 0);
  Job fan = testing::requestJob("new");
  fan.fanout = {"billing", "audit"};
  auto head = testing::enqueueSync(*store, fan);
  ASSERT_TRUE(head.ok()) << head.error->message;
  auto members = store->group(head.id);
  ASSERT_TRUE(members.ok()) << members.error().message;
  EXPECT_EQ(members.value().size(), 2u);
}

}  // namespace
}  // namespace sg::queue

#pragma once
// Cache warming (route key `cache: {warm: ...}`): at start-up and on POST /admin/cache/warm,
// each warm route's URLs are fetched through the route as a client's GET would be, so that
// their responses are stored as any miss stores them. The requests run on the workers'
// loops (Worker::startWarm), at most `concurrency` of them in flight per route; the runner
// only hands out URLs and counts outcomes. Nothing here blocks a listener: start() returns
// once the first requests are handed to the workers.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "metrics/metrics.h"

namespace sg::proxy {

class SharedState;
class Worker;
struct Route;
struct SharedListener;

// A warm URL as a request: the Host header value and the request target.
struct WarmTarget {
  std::string host;
  std::string target;  // "/path?query"
};

// "/path?query" (Host: `default_host`) or "http://host[:port]/path?query"; nullopt with
// *error set for anything else (other schemes, whitespace or control bytes, a fragment).
std::optional<WarmTarget> parseWarmUrl(std::string_view url, std::string_view default_host,
                                       std::string* error);
// "GET <target> HTTP/1.1\r\nHost: <host>\r\n\r\n".
std::string warmRequestHead(const WarmTarget& target);

// The URLs of a `file`: one a line; blank lines and lines starting with '#' (after
// leading blanks) are skipped, surrounding blanks trimmed.
struct WarmFileLine {
  size_t number = 0;  // 1-based
  std::string text;
};
// false with *error set when the file cannot be read.
bool readWarmFile(const std::string& path, std::vector<WarmFileLine>* lines, std::string* error);

class CacheWarmer {
 public:
  explicit CacheWarmer(SharedState& shared);
  CacheWarmer(const CacheWarmer&) = delete;
  CacheWarmer& operator=(const CacheWarmer&) = delete;

  // The workers that run the requests (Gateway::start); none: start() refuses.
  void attach(std::vector<Worker*> workers);
  // No more requests are started (Gateway::stop, before the workers go away).
  void stop();

  enum class Status : uint8_t { kStarted, kNoWarmRoutes, kRunning, kNoWorkers };
  struct Started {
    Status status = Status::kStarted;
    size_t routes = 0;  // routes with `warm`
    size_t urls = 0;    // valid URLs handed out (invalid ones are counted, not sent)
  };
  // Any thread. Reads every `file` now, then hands the first requests to the workers.
  Started start();
  bool running() const;
  size_t warmRoutes() const { return jobs_.size(); }

 private:
  struct Job {
    const config::RouteCacheConfig::Warm* warm = nullptr;
    SharedListener* listener = nullptr;
    std::string name;          // the route's, for logs and metrics
    std::string default_host;  // the listener's address, for "/path" URLs
    metrics::Counter* ok = nullptr;
    metrics::Counter* failed = nullptr;
    metrics::Counter* invalid = nullptr;
    // Set by start() while nothing is in flight, then read under mutex_.
    std::vector<std::string> urls;
    std::vector<WarmTarget> targets;
    size_t next = 0;
    uint32_t in_flight = 0;
    uint64_t ok_count = 0;
    uint64_t failed_count = 0;
  };
  void prepare(Job& job);
  void addUrl(Job& job, const std::string& url, std::string_view where);
  // Under mutex_: hands out URLs while the job has room, and notes the end of the run.
  void dispatch(size_t job_index);
  void requestDone(size_t job_index, size_t url_index, int status);
  void finishIfIdle();

  SharedState& shared_;
  std::vector<Job> jobs_;  // fixed after construction, one per warm route
  mutable std::mutex mutex_;
  std::vector<Worker*> workers_;  // guarded by mutex_
  size_t next_worker_ = 0;
  bool running_ = false;
  bool stopped_ = false;
};

}  // namespace sg::proxy

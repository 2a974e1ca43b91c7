#pragma once
// Async-route callbacks (route key `async.callback`, docs/async-routes.md): when a job that
// came with an accepted X-Callback-Url ends through a delivery outcome, the gateway POSTs the
// job's state and result to that URL, signed with the route's secret.
//
// The pure parts (URL checks, signature, request bytes) are free functions for the tests;
// CallbackSender is the per-queue thread that sends. Callbacks are best effort: they live in
// memory only, so a gateway stopped or killed before one went out never sends it.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "queue/job.h"

namespace sg::queue {

// The request header a client names its callback in.
inline constexpr std::string_view kCallbackUrlField = "X-Callback-Url";
inline constexpr size_t kMaxCallbackUrlLength = 2048;

// An accepted callback URL: http://host[:port]/path?query.
struct CallbackUrl {
  std::string host;  // lower-case; an IPv6 literal is canonical and keeps its brackets ("[::1]")
  uint16_t port = 80;
  std::string target;     // path and query; "/" when the URL has no path
  std::string hostField;  // the Host header value: host, plus ":port" when not 80
};

// Parses `text` as an absolute http:// URL without user information or fragment. On failure
// returns nothing and sets *why to a reason fit for a 400 answer.
std::optional<CallbackUrl> parseCallbackUrl(std::string_view text, std::string* why);
// Exact match of the (lower-case) host against the route's allow list; the port is free.
bool callbackHostAllowed(std::string_view host, const std::vector<std::string>& allow);
// Both checks: nothing when `text` may be used, else the reason for the 400.
std::optional<std::string> checkCallbackUrl(std::string_view text,
                                            const std::vector<std::string>& allow);

// The route's secret_file: the whole file minus trailing newlines (CR or LF). False with
// *error set when it is missing, unreadable or empty.
bool readCallbackSecret(const std::string& path, std::string* secret, std::string* error);

// Lower-case hex of HMAC-SHA256(key, data).
std::string hmacSha256Hex(std::string_view key, std::string_view data);
// X-Scalegate-Signature's value: "sha256=" + hex HMAC-SHA256(secret, timestamp "." body).
std::string callbackSignature(std::string_view secret, int64_t unix_seconds, std::string_view body);

// {"id","queue","state","attempts","result"}: result is the object GET /jobs/{id}/result
// gives (jobResultJson), or null when the job has none.
std::string callbackBody(std::string_view job_id, std::string_view queue, JobState state,
                         uint32_t attempts, const JobResult* result,
                         std::string_view upstream = {});
// The whole POST: request line, Host, Content-Type, Content-Length, Connection: close,
// User-Agent, X-Scalegate-Job-Id, -Timestamp, -Signature, then the body.
std::string callbackRequest(const CallbackUrl& url, std::string_view job_id, std::string_view body,
                            int64_t unix_seconds, std::string_view secret);
// The status of a response head ("HTTP/1.1 204 ..."), 0 when it is not one.
int responseStatus(std::string_view head);

// One callback to send.
struct CallbackItem {
  CallbackUrl url;
  std::string job_id;
  std::string body;
  std::shared_ptr<const std::string> secret;  // the route's; shared by all its callbacks
};

enum class CallbackResult : uint8_t { kSent, kFailed, kDropped };

struct CallbackSenderOptions {
  std::string queue;                            // for log lines
  size_t max_pending = 10'000;                  // beyond: new callbacks are dropped (counted)
  uint32_t tries = 3;                           // in all, first one included
  std::vector<int64_t> backoff_ms{1000, 2000};  // before the 2nd, 3rd... try
  int64_t connect_timeout_ms = 5000;
  int64_t io_timeout_ms = 10'000;             // SO_SNDTIMEO / SO_RCVTIMEO
  std::function<void(CallbackResult)> count;  // any thread; may be empty
};

// One thread per queue. Sends one callback at a time with blocking sockets; a callback
// waiting for its next try does not hold up the others (it waits in a due-time list), but a
// slow receiver delays the ones behind it by up to connect + 2 × io timeout per try.
class CallbackSender {
 public:
  explicit CallbackSender(CallbackSenderOptions options);
  ~CallbackSender();
  CallbackSender(const CallbackSender&) = delete;
  CallbackSender& operator=(const CallbackSender&) = delete;

  void start();
  // Any thread, never blocks on the network: queues `item`, or drops it when max_pending
  // callbacks wait already. False when dropped.
  bool push(CallbackItem item);
  // Stops the thread (a send in progress is cut short) and drops what is still pending.
  void stop();

  // One try: true when the receiver answered 2xx. Public for tests.
  static bool sendOnce(const CallbackItem& item, const CallbackSenderOptions& options,
                       const std::function<void(int)>& on_socket, const std::atomic<bool>& stopping,
                       std::string* error);

 private:
  struct Pending {
    CallbackItem item;
    uint32_t tries = 0;  // made so far
    int64_t due_ms = 0;  // steady clock
  };
  void run();
  void count(CallbackResult result);
  void setSocket(int fd);

  CallbackSenderOptions options_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> ready_;
  std::vector<Pending> waiting_;  // failed tries waiting for their backoff (unordered, small)
  int socket_ = -1;               // the socket being used, so stop() can cut it short
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace sg::queue

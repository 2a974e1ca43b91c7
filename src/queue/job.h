#pragma once
// A job of an async route: the stored request, where it is in its life, and its result.
// Its state changes only through nextState(): the store derives every state-changing SQL
// statement from that one table, so a transition not listed there cannot happen.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::queue {

enum class JobState : uint8_t {
  kQueued = 0,     // waiting for its first delivery
  kRunning = 1,    // claimed by the dispatcher, delivery in flight
  kRetrying = 2,   // a delivery failed; waits for next_attempt_at
  kSucceeded = 3,  // delivered; the result is kept until result_ttl
  kFailed = 4,     // ended without success and not dead-lettered (a non-retryable
                   // failure, or cancelled while queued)
  kDead = 5,       // in the dead-letter list: attempts exhausted, expired, dropped, stalled
};
inline constexpr int kJobStateCount = 6;

// What happens to a job; each event moves it from some states to one state.
enum class JobEvent : uint8_t {
  kClaim,       // queued | retrying -> running (attempt + 1)
  kComplete,    // running -> succeeded
  kRetry,       // running -> retrying
  kFail,        // running -> failed (not retryable)
  kKill,        // running -> dead (last attempt failed)
  kStall,       // running -> retrying (ran past the visibility timeout)
  kStallDead,   // running -> dead (stalled on its last attempt)
  kRecover,     // running -> queued (found running at open: the gateway died mid-delivery)
  kExpire,      // queued -> dead (not started within message_ttl)
  kDropOldest,  // queued -> dead (overflow: drop_oldest)
  kCancel,      // queued -> failed
  kReplay,      // dead -> queued (attempts reset)
};
inline constexpr int kJobEventCount = 12;

// The one transition table: the state `event` moves a job in `from` to, or nothing when the
// event does not apply to that state.
std::optional<JobState> nextState(JobState from, JobEvent event);
// The states an event applies to, in enum order (what a statement's WHERE clause lists).
std::vector<JobState> statesFor(JobEvent event);

std::string_view jobStateName(JobState state);  // "queued", "running", ...
std::optional<JobState> parseJobState(std::string_view name);

// One header field as received; bytes kept as they came (any octets, duplicates, order).
struct HeaderLine {
  std::string name;
  std::string value;
  bool operator==(const HeaderLine&) const = default;
};

struct StoredRequest {
  std::string method;
  std::string target;
  std::vector<HeaderLine> headers;
  std::string body;  // bytes, not text
  bool operator==(const StoredRequest&) const = default;
};

struct JobResult {
  int status = 0;
  std::vector<HeaderLine> headers;
  std::string body;
  // The upstream's body was larger than max_result_size: it is not kept (a cut-off body
  // would look complete to whoever reads it); body is empty and body_size says how large
  // it was.
  bool body_omitted = false;
  uint64_t body_size = 0;
  bool operator==(const JobResult&) const = default;
};

// A result as stored: a body over max_result_size is not kept (a cut-off body would look
// complete). A result that already says its body was omitted (ResponseCapture) stays so.
JobResult storableResult(JobResult result, uint64_t max_result_size);

struct Job {
  std::string id;  // kJobIdLength lowercase hex characters: see formatJobId
  std::string queue;
  JobState state = JobState::kQueued;
  uint32_t attempts = 0;  // deliveries started
  // Milliseconds since the Unix epoch; started_ms is 0 until the first claim.
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t next_attempt_ms = 0;
  int64_t started_ms = 0;
  StoredRequest request;
  std::optional<std::string> idempotency_key;
  std::string last_error;
  std::optional<JobResult> result;
  std::string dead_reason;
  // Fan-out (route async.fanout): one member job per target upstream, stored together; the
  // first member is the group's head (its id is what the client gets).
  std::string upstream;   // this member's target upstream; empty: the route's own
  int64_t group_seq = 0;  // the head's row number (the head's own for the head); 0: no group
  std::vector<std::string> fanout;  // enqueue input only: the targets (empty: a single job)
};

// A job id is its row number (12 hex digits) followed by 128 random bits (32 hex digits).
// The row number finds the row without an index on random keys (whose inserts touch pages
// all over the file, so enqueues slowed as the queue grew); the random part, compared in
// constant time, keeps ids unguessable: a wrong or made-up id is simply not found.
inline constexpr size_t kJobSeqDigits = 12;
inline constexpr size_t kJobSecretBytes = 16;
inline constexpr size_t kJobIdLength = kJobSeqDigits + 2 * kJobSecretBytes;  // 44
inline constexpr int64_t kMaxJobSeq = (int64_t{1} << (4 * kJobSeqDigits)) - 1;
using JobSecret = std::array<unsigned char, kJobSecretBytes>;

// The parts of a well-formed id.
struct JobKey {
  int64_t seq = 0;  // 1..kMaxJobSeq
  JobSecret secret{};
};

// A job's random part from the kernel's CSPRNG (getrandom). Returns nothing if the kernel
// cannot supply random bytes: ids must be unguessable, so there is no weaker fallback.
std::optional<JobSecret> newJobSecret();
// Requires 0 < seq <= kMaxJobSeq.
std::string formatJobId(int64_t seq, const JobSecret& secret);
// Nothing unless `text` is exactly kJobIdLength lowercase hex digits with a row number > 0.
std::optional<JobKey> parseJobId(std::string_view text);
inline bool isJobId(std::string_view text) { return parseJobId(text).has_value(); }
// Constant-time equality of two random parts (their length is not secret; their bytes are).
bool sameSecret(std::string_view a, std::string_view b);

// Header lists as one blob for storage: per field, u32 name length, u32 value length (both
// little-endian), then the bytes. decodeHeaders returns nothing on a malformed blob.
std::string encodeHeaders(const std::vector<HeaderLine>& headers);
std::optional<std::vector<HeaderLine>> decodeHeaders(std::string_view blob);

}  // namespace sg::queue

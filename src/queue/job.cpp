#include "queue/job.h"

#include <sys/random.h>

#include <cassert>
#include <cerrno>

namespace sg::queue {

std::optional<JobState> nextState(JobState from, JobEvent event) {
  using S = JobState;
  switch (event) {
    case JobEvent::kClaim:
      if (from == S::kQueued || from == S::kRetrying) return S::kRunning;
      break;
    case JobEvent::kComplete:
      if (from == S::kRunning) return S::kSucceeded;
      break;
    case JobEvent::kRetry:
    case JobEvent::kStall:
      if (from == S::kRunning) return S::kRetrying;
      break;
    case JobEvent::kFail:
      if (from == S::kRunning) return S::kFailed;
      break;
    case JobEvent::kKill:
    case JobEvent::kStallDead:
      if (from == S::kRunning) return S::kDead;
      break;
    case JobEvent::kRecover:
      if (from == S::kRunning) return S::kQueued;
      break;
    case JobEvent::kExpire:
    case JobEvent::kDropOldest:
      if (from == S::kQueued) return S::kDead;
      break;
    case JobEvent::kCancel:
      if (from == S::kQueued) return S::kFailed;
      break;
    case JobEvent::kReplay:
      if (from == S::kDead) return S::kQueued;
      break;
  }
  return std::nullopt;
}

std::vector<JobState> statesFor(JobEvent event) {
  std::vector<JobState> states;
  for (int s = 0; s < kJobStateCount; ++s) {
    if (nextState(static_cast<JobState>(s), event)) states.push_back(static_cast<JobState>(s));
  }
  return states;
}

namespace {
constexpr std::array<std::string_view, kJobStateCount> kStateNames = {
    "queued", "running", "retrying", "succeeded", "failed", "dead"};
}  // namespace

std::string_view jobStateName(JobState state) {
  auto index = static_cast<size_t>(state);
  return index < kStateNames.size() ? kStateNames[index] : "unknown";
}

std::optional<JobState> parseJobState(std::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<JobState>(i);
  }
  return std::nullopt;
}

std::optional<JobSecret> newJobSecret() {
  JobSecret bytes{};
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    got += static_cast<size_t>(n);
  }
  return bytes;
}

namespace {
constexpr char kHex[] = "0123456789abcdef";

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not ours: one id, one spelling
}
}  // namespace

std::string formatJobId(int64_t seq, const JobSecret& secret) {
  assert(seq > 0 && seq <= kMaxJobSeq);
  std::string id(kJobIdLength, '0');
  auto v = static_cast<uint64_t>(seq);
  for (size_t i = kJobSeqDigits; i-- > 0; v >>= 4) id[i] = kHex[v & 0xF];
  for (size_t i = 0; i < secret.size(); ++i) {
    id[kJobSeqDigits + 2 * i] = kHex[secret[i] >> 4];
    id[kJobSeqDigits + 2 * i + 1] = kHex[secret[i] & 0xF];
  }
  return id;
}

std::optional<JobKey> parseJobId(std::string_view text) {
  if (text.size() != kJobIdLength) return std::nullopt;
  JobKey key;
  uint64_t seq = 0;
  for (size_t i = 0; i < kJobSeqDigits; ++i) {
    int d = hexValue(text[i]);
    if (d < 0) return std::nullopt;
    seq = (seq << 4) | static_cast<uint64_t>(d);
  }
  if (seq == 0) return std::nullopt;
  key.seq = static_cast<int64_t>(seq);
  for (size_t i = 0; i < kJobSecretBytes; ++i) {
    int hi = hexValue(text[kJobSeqDigits + 2 * i]);
    int lo = hexValue(text[kJobSeqDigits + 2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key.secret[i] = static_cast<unsigned char>((hi << 4) | lo);
  }
  return key;
}

bool sameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // No early exit: the time taken must not say how many leading bytes matched.
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  // volatile: keep the compiler from turning the loop back into an early-exit compare.
  volatile unsigned char result = diff;
  return result == 0;
}

namespace {

void putU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

bool getU32(std::string_view& in, uint32_t& v) {
  if (in.size() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(4);
  return true;
}

}  // namespace

std::string encodeHeaders(const std::vector<HeaderLine>& headers) {
  size_t size = 0;
  for (const auto& h : headers) size += 8 + h.name.size() + h.value.size();
  std::string out;
  out.reserve(size);
  for (const auto& h : headers) {
    putU32(out, static_cast<uint32_t>(h.name.size()));
    putU32(out, static_cast<uint32_t>(h.value.size()));
    out += h.name;
    out += h.value;
  }
  return out;
}

std::optional<std::vector<HeaderLine>> decodeHeaders(std::string_view blob) {
  std::vector<HeaderLine> headers;
  while (!blob.empty()) {
    uint32_t name_len = 0;
    uint32_t value_len = 0;
    if (!getU32(blob, name_len) || !getU32(blob, value_len)) return std::nullopt;
    if (blob.size() < static_cast<size_t>(name_len) + value_len) return std::nullopt;
    HeaderLine h;
    h.name.assign(blob.substr(0, name_len));
    h.value.assign(blob.substr(name_len, value_len));
    blob.remove_prefix(static_cast<size_t>(name_len) + value_len);
    headers.push_back(std::move(h));
  }
  return headers;
}

JobResult storableResult(JobResult result, uint64_t max_result_size) {
  if (!result.body_omitted && result.body.size() > max_result_size) {
    result.body_size = result.body.size();
    result.body_omitted = true;
  } else if (!result.body_omitted) {
    result.body_size = result.body.size();
  }
  if (result.body_omitted) result.body.clear();
  return result;
}

}  // namespace sg::queue

#include "queue/job.h"

#include <sys/random.h>

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

std::optional<std::string> newJobId() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(kJobIdLength, '0');
  for (size_t i = 0; i < sizeof(bytes); ++i) {
    id[2 * i] = kHex[bytes[i] >> 4];
    id[2 * i + 1] = kHex[bytes[i] & 0xF];
  }
  return id;
}

bool isJobId(std::string_view text) {
  if (text.size() != kJobIdLength) return false;
  for (char c : text) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!hex) return false;
  }
  return true;
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

}  // namespace sg::queue

#include "queue/job_json.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <chrono>
#include <cstdio>

namespace sg::queue {

namespace {

// The length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not one.
size_t validSequence(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return len;
}

// How many bytes a maximal invalid subsequence at the start of `s` spans (Unicode's
// "substitution of maximal subparts": a truncated but well-begun sequence is one U+FFFD).
size_t invalidRun(std::string_view s) {
  size_t n = 1;
  unsigned char b0 = static_cast<unsigned char>(s[0]);
  size_t len = b0 >= 0xC2 && b0 <= 0xDF   ? 2
               : b0 >= 0xE0 && b0 <= 0xEF ? 3
               : b0 >= 0xF0 && b0 <= 0xF4 ? 4
                                          : 1;
  // Extend over continuation bytes while a prefix of the sequence could still be valid.
  while (n < len && n < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[n]);
    if (b < 0x80 || b > 0xBF) break;
    if (n == 1) {
      if ((b0 == 0xE0 && b < 0xA0) || (b0 == 0xED && b > 0x9F) || (b0 == 0xF0 && b < 0x90) ||
          (b0 == 0xF4 && b > 0x8F)) {
        break;
      }
    }
    ++n;
  }
  return n;
}

boost::json::string text(std::string_view bytes) {
  return boost::json::string(isValidUtf8(bytes) ? std::string(bytes) : sanitizeUtf8(bytes));
}

void addStatus(boost::json::object& out, const Job& job) {
  out["id"] = text(job.id);
  out["queue"] = text(job.queue);
  out["state"] = jobStateName(job.state);
  out["attempts"] = job.attempts;
  out["created_at"] = formatRfc3339Ms(job.created_ms);
  out["updated_at"] = formatRfc3339Ms(job.updated_ms);
  if (job.started_ms != 0) {
    out["started_at"] = formatRfc3339Ms(job.started_ms);
  } else {
    out["started_at"] = nullptr;
  }
  if (job.state == JobState::kRetrying)
    out["next_attempt_at"] = formatRfc3339Ms(job.next_attempt_ms);
  if (job.last_error.empty()) {
    out["last_error"] = nullptr;
  } else {
    out["last_error"] = text(job.last_error);
  }
  if (job.state == JobState::kDead) out["dead_reason"] = text(job.dead_reason);
  if (!job.upstream.empty()) out["upstream"] = text(job.upstream);
}

// What every fan-out listing says of a member: its upstream, id and state.
boost::json::object memberJson(const Job& member) {
  return boost::json::object{{"upstream", text(member.upstream)},
                             {"id", text(member.id)},
                             {"state", jobStateName(member.state)}};
}

}  // namespace

std::string formatRfc3339Ms(int64_t epoch_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(epoch_ms)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> time{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                static_cast<int>(time.subseconds().count()));
  return buf;
}

bool isValidUtf8(std::string_view bytes) {
  while (!bytes.empty()) {
    size_t n = validSequence(bytes);
    if (n == 0) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

std::string sanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty()) {
    size_t n = validSequence(bytes);
    if (n != 0) {
      out.append(bytes.substr(0, n));
    } else {
      n = invalidRun(bytes);
      out.append("\xEF\xBF\xBD");
    }
    bytes.remove_prefix(n);
  }
  return out;
}

std::string base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += rest == 2 ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

boost::json::object jobStatusJson(const Job& job) {
  boost::json::object out;
  addStatus(out, job);
  return out;
}

JobState fanOutState(const std::vector<Job>& members) {
  bool all_ended = true;
  bool all_succeeded = true;
  bool any[kJobStateCount] = {};
  for (const Job& member : members) {
    any[static_cast<int>(member.state)] = true;
    all_succeeded = all_succeeded && member.state == JobState::kSucceeded;
    all_ended = all_ended && (member.state == JobState::kSucceeded ||
                              member.state == JobState::kFailed || member.state == JobState::kDead);
  }
  if (all_succeeded) return JobState::kSucceeded;
  if (all_ended)
    return any[static_cast<int>(JobState::kDead)] ? JobState::kDead : JobState::kFailed;
  for (JobState state : {JobState::kRunning, JobState::kRetrying}) {
    if (any[static_cast<int>(state)]) return state;
  }
  // Some ended, the rest wait for a first delivery: the group is under way.
  return any[static_cast<int>(JobState::kSucceeded)] || any[static_cast<int>(JobState::kFailed)] ||
                 any[static_cast<int>(JobState::kDead)]
             ? JobState::kRunning
             : JobState::kQueued;
}

boost::json::object fanOutStatusJson(const Job& head, const std::vector<Job>& members) {
  boost::json::object out;
  Job group = head;
  group.state = fanOutState(members);
  group.attempts = 0;
  for (const Job& member : members) {
    group.attempts += member.attempts;
    group.updated_ms = std::max(group.updated_ms, member.updated_ms);
  }
  group.upstream.clear();
  group.last_error.clear();
  addStatus(out, group);
  boost::json::array list;
  for (const Job& member : members) {
    boost::json::object item = memberJson(member);
    item["attempts"] = member.attempts;
    item["last_error"] = member.last_error.empty() ? boost::json::value(nullptr)
                                                   : boost::json::value(text(member.last_error));
    list.push_back(std::move(item));
  }
  out["fanout"] = std::move(list);
  return out;
}

boost::json::object fanOutResultJson(const std::vector<Job>& members) {
  boost::json::array list;
  for (const Job& member : members) {
    boost::json::object item = memberJson(member);
    item["result"] = member.result ? boost::json::value(jobResultJson(*member.result))
                                   : boost::json::value(nullptr);
    list.push_back(std::move(item));
  }
  return boost::json::object{{"fanout", std::move(list)}};
}

boost::json::object jobResultJson(const JobResult& result) {
  boost::json::object out;
  out["status"] = result.status;
  boost::json::array headers;
  headers.reserve(result.headers.size());
  for (const HeaderLine& line : result.headers) {
    headers.push_back(boost::json::array{text(line.name), text(line.value)});
  }
  out["headers"] = std::move(headers);
  const bool utf8 = isValidUtf8(result.body);
  out["body"] =
      utf8 ? boost::json::string(result.body) : boost::json::string(base64Encode(result.body));
  out["body_encoding"] = utf8 ? "utf-8" : "base64";
  out["body_omitted"] = result.body_omitted;
  out["body_size"] = result.body_size;
  return out;
}

boost::json::object deadListJson(std::string_view queue, const std::vector<Job>& jobs) {
  boost::json::object out;
  out["queue"] = text(queue);
  boost::json::array list;
  list.reserve(jobs.size());
  for (const Job& job : jobs) {
    boost::json::object item;
    addStatus(item, job);
    item["method"] = text(job.request.method);
    item["target"] = text(job.request.target);
    list.push_back(std::move(item));
  }
  out["jobs"] = std::move(list);
  return out;
}

}  // namespace sg::queue

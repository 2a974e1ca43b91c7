#include "proxy/cache_warm.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "proxy/shared_state.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

std::optional<WarmTarget> parseWarmUrl(std::string_view url, std::string_view default_host,
                                       std::string* error) {
  // Whatever reaches the request head must not be able to end a line or a field.
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      *error = "whitespace or a control byte in the URL";
      return std::nullopt;
    }
  }
  if (auto hash = url.find('#'); hash != std::string_view::npos) url = url.substr(0, hash);
  WarmTarget out;
  if (!url.empty() && url.front() == '/') {
    out.host = std::string(default_host);
    out.target = std::string(url);
    return out;
  }
  constexpr std::string_view kScheme = "http://";
  if (!startsWithIgnoreCase(url, kScheme)) {
    *error = "expected /path or http://host[:port]/path";
    return std::nullopt;
  }
  url.remove_prefix(kScheme.size());
  const size_t end = url.find_first_of("/?");
  const std::string_view authority = url.substr(0, end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    *error = "expected a host (without user information) after http://";
    return std::nullopt;
  }
  out.host = std::string(authority);
  const std::string_view rest = end == std::string_view::npos ? "" : url.substr(end);
  if (rest.empty() || rest.front() == '?') out.target = "/";
  out.target.append(rest);
  return out;
}

std::string warmRequestHead(const WarmTarget& target) {
  std::string head;
  head.reserve(target.target.size() + target.host.size() + 32);
  head.append("GET ").append(target.target).append(" HTTP/1.1\r\nHost: ");
  head.append(target.host).append("\r\n\r\n");
  return head;
}

bool readWarmFile(const std::string& path, std::vector<WarmFileLine>* lines, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = std::strerror(errno);
    return false;
  }
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    const std::string_view text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    lines->push_back({number, std::string(text)});
  }
  if (in.bad()) {
    *error = "read error";
    return false;
  }
  return true;
}

CacheWarmer::CacheWarmer(SharedState& shared) : shared_(shared) {
  for (auto& listener : shared_.listeners()) {
    for (const Route& route : listener.router.routes()) {
      const auto& cache = route.config->cache;
      if (!cache || !cache->enabled || !cache->warm) continue;
      Job job;
      job.warm = &*cache->warm;
      job.listener = &listener;
      job.name = route.config->name;
      job.default_host = listener.config->address.toString();
      auto counter = [&](const char* result) {
        return &shared_.registry().counter(
            "scalegate_cache_warm_requests_total",
            "Cache warming requests by route and result: ok (2xx/3xx), failed (another status "
            "or no response), invalid (a URL that could not be sent, or an unreadable file).",
            {{"route", job.name}, {"result", result}});
      };
      job.ok = counter("ok");
      job.failed = counter("failed");
      job.invalid = counter("invalid");
      jobs_.push_back(std::move(job));
    }
  }
}

void CacheWarmer::attach(std::vector<Worker*> workers) {
  std::lock_guard lock(mutex_);
  workers_ = std::move(workers);
}

void CacheWarmer::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
}

bool CacheWarmer::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

CacheWarmer::Started CacheWarmer::start() {
  Started started;
  started.routes = jobs_.size();
  {
    std::lock_guard lock(mutex_);
    if (jobs_.empty()) return {Status::kNoWarmRoutes, 0, 0};
    if (running_) return {Status::kRunning, jobs_.size(), 0};
    if (workers_.empty() || stopped_) return {Status::kNoWorkers, jobs_.size(), 0};
    running_ = true;  // from here no other start() touches the jobs
  }
  // Nothing is in flight while running_ was false, so the lists are rebuilt without the lock
  // (the files are read here, not under it).
  for (Job& job : jobs_) {
    prepare(job);
    started.urls += job.targets.size();
  }
  std::lock_guard lock(mutex_);
  for (size_t j = 0; j < jobs_.size(); ++j) {
    spdlog::info("cache warm: route {}: {} URLs, {} at a time", jobs_[j].name,
                 jobs_[j].targets.size(), jobs_[j].warm->concurrency);
    dispatch(j);
  }
  finishIfIdle();
  return started;
}

void CacheWarmer::prepare(Job& job) {
  job.urls.clear();
  job.targets.clear();
  job.next = 0;
  job.in_flight = 0;
  job.ok_count = job.failed_count = 0;
  for (const std::string& url : job.warm->urls) addUrl(job, url, "urls");
  if (job.warm->file.empty()) return;
  std::vector<WarmFileLine> lines;
  std::string error;
  if (!readWarmFile(job.warm->file, &lines, &error)) {
    spdlog::warn("cache warm: route {}: cannot read {}: {}", job.name, job.warm->file, error);
    job.invalid->inc();
    return;
  }
  for (const WarmFileLine& line : lines) {
    addUrl(job, line.text, fmt::format("{} line {}", job.warm->file, line.number));
  }
}

void CacheWarmer::addUrl(Job& job, const std::string& url, std::string_view where) {
  std::string error;
  auto target = parseWarmUrl(url, job.default_host, &error);
  if (!target) {
    spdlog::warn("cache warm: route {}: {}: invalid URL \"{}\": {}", job.name, where, url, error);
    job.invalid->inc();
    return;
  }
  job.urls.push_back(url);
  job.targets.push_back(std::move(*target));
}

void CacheWarmer::dispatch(size_t job_index) {
  Job& job = jobs_[job_index];
  while (!stopped_ && !shared_.draining && job.in_flight < job.warm->concurrency &&
         job.next < job.targets.size()) {
    const size_t url_index = job.next++;
    ++job.in_flight;
    Worker* worker = workers_[next_worker_++ % workers_.size()];
    worker->post([this, worker, job_index, url_index,
                  head = warmRequestHead(jobs_[job_index].targets[url_index])]() mutable {
      worker->startWarm(
          jobs_[job_index].listener, std::move(head),
          [this, job_index, url_index](int status) { requestDone(job_index, url_index, status); });
    });
  }
}

void CacheWarmer::requestDone(size_t job_index, size_t url_index, int status) {
  std::lock_guard lock(mutex_);
  Job& job = jobs_[job_index];
  --job.in_flight;
  if (status >= 200 && status < 400) {
    job.ok->inc();
    ++job.ok_count;
  } else {
    job.failed->inc();
    ++job.failed_count;
    const std::string reason =
        status == 0 ? std::string("no complete response") : fmt::format("status {}", status);
    spdlog::warn("cache warm: route {}: {} failed: {}", job.name, job.urls[url_index], reason);
  }
  dispatch(job_index);
  finishIfIdle();
}

void CacheWarmer::finishIfIdle() {
  if (!running_) return;
  for (const Job& job : jobs_) {
    if (job.in_flight > 0) return;
    // Stopping or draining: what was not handed out is dropped.
    if (job.next < job.targets.size() && !stopped_ && !shared_.draining) return;
  }
  running_ = false;
  for (const Job& job : jobs_) {
    spdlog::info("cache warm: route {}: done, {} ok, {} failed", job.name, job.ok_count,
                 job.failed_count);
  }
}

}  // namespace sg::proxy

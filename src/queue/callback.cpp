#include "queue/callback.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "queue/job_json.h"

namespace sg::queue {

namespace {

constexpr std::string_view kNotAbsolute =
    "X-Callback-Url must be an absolute http:// URL (http://host[:port]/path)";
constexpr size_t kMaxResponseHead = 8 * 1024;  // enough for a status line and some fields
constexpr int64_t kPollSliceMs = 100;          // connect waits in slices to notice stop()

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (lower(text[i]) != prefix[i]) return false;
  }
  return true;
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

int64_t steadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

int64_t unixSeconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::optional<CallbackUrl> fail(std::string* why, std::string_view reason) {
  *why = std::string(reason);
  return std::nullopt;
}

}  // namespace

std::optional<CallbackUrl> parseCallbackUrl(std::string_view text, std::string* why) {
  if (text.size() > kMaxCallbackUrlLength) {
    return fail(
        why, "X-Callback-Url is longer than " + std::to_string(kMaxCallbackUrlLength) + " bytes");
  }
  // Only visible ASCII: nothing that could end or bend the request line we will write.
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f)
      return fail(why, "X-Callback-Url must not contain spaces, control or non-ASCII bytes");
  }
  if (startsWithNoCase(text, "https://")) return fail(why, "https callbacks are not supported yet");
  if (!startsWithNoCase(text, "http://")) return fail(why, kNotAbsolute);
  if (text.find('#') != std::string_view::npos)
    return fail(why, "X-Callback-Url must not contain a fragment ('#')");
  std::string_view rest = text.substr(7);
  const size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos)
    return fail(why, "X-Callback-Url must not contain user information ('user@')");
  if (authority.empty()) return fail(why, "X-Callback-Url has no host");

  CallbackUrl url;
  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(why, "X-Callback-Url: unclosed '[' in host");
    const std::string literal(authority.substr(1, close - 1));
    in6_addr address{};
    if (literal.empty() || inet_pton(AF_INET6, literal.c_str(), &address) != 1)
      return fail(why, "X-Callback-Url: not an IPv6 address between '[' and ']'");
    // Canonical (lower-case, zeros compressed), as the config's allow list holds it.
    char canonical[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(AF_INET6, &address, canonical, sizeof(canonical)) == nullptr)
      return fail(why, "X-Callback-Url: not an IPv6 address between '[' and ']'");
    url.host = "[" + std::string(canonical) + "]";
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(why, "X-Callback-Url: unexpected text after ']'");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    const std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) return fail(why, "X-Callback-Url has no host");
    for (char c : host) url.host.push_back(lower(c));
    if (!std::all_of(url.host.begin(), url.host.end(), isNameChar) || url.host.front() == '.' ||
        url.host.back() == '.' || url.host.find("..") != std::string::npos)
      return fail(why, "X-Callback-Url: the host is not a host name or IPv4 address");
    // All digits and dots: it must be a real dotted quad (no "999.1.1.1", no "10.1").
    if (std::all_of(url.host.begin(), url.host.end(),
                    [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
      in_addr address{};
      if (inet_pton(AF_INET, url.host.c_str(), &address) != 1)
        return fail(why, "X-Callback-Url: the host is not a valid IPv4 address");
    }
  }
  if (has_port) {
    if (port_text.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; }))
      return fail(why, "X-Callback-Url: the port must be a number from 1 to 65535");
    const int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535)
      return fail(why, "X-Callback-Url: the port must be a number from 1 to 65535");
    url.port = static_cast<uint16_t>(port);
  }
  url.target =
      target.empty() || target.front() == '?' ? "/" + std::string(target) : std::string(target);
  url.hostField = url.port == 80 ? url.host : url.host + ":" + std::to_string(url.port);
  return url;
}

bool callbackHostAllowed(std::string_view host, const std::vector<std::string>& allow) {
  return std::find(allow.begin(), allow.end(), host) != allow.end();
}

std::optional<std::string> checkCallbackUrl(std::string_view text,
                                            const std::vector<std::string>& allow) {
  std::string why;
  const auto url = parseCallbackUrl(text, &why);
  if (!url) return why;
  if (!callbackHostAllowed(url->host, allow))
    return "X-Callback-Url: host " + url->host + " is not in this route's callback allow list";
  return std::nullopt;
}

bool readCallbackSecret(const std::string& path, std::string* secret, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read secret_file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read secret_file " + path;
    return false;
  }
  std::string text = contents.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) {
    *error = "secret_file " + path + " is empty";
    return false;
  }
  *secret = std::move(text);
  return true;
}

std::string hmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

std::string callbackSignature(std::string_view secret, int64_t unix_seconds,
                              std::string_view body) {
  std::string signed_text = std::to_string(unix_seconds);
  signed_text.push_back('.');
  signed_text.append(body);
  return "sha256=" + hmacSha256Hex(secret, signed_text);
}

std::string callbackBody(std::string_view job_id, std::string_view queue, JobState state,
                         uint32_t attempts, const JobResult* result, std::string_view upstream) {
  boost::json::object body{
      {"id", job_id}, {"queue", queue}, {"state", jobStateName(state)}, {"attempts", attempts}};
  if (!upstream.empty()) body["upstream"] = upstream;  // a fan-out member
  if (result != nullptr) {
    body["result"] = jobResultJson(*result);
  } else {
    body["result"] = nullptr;
  }
  return boost::json::serialize(body);
}

std::string callbackRequest(const CallbackUrl& url, std::string_view job_id, std::string_view body,
                            int64_t unix_seconds, std::string_view secret) {
  std::string out;
  out.reserve(320 + url.target.size() + body.size());
  out.append("POST ").append(url.target).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(url.hostField).append("\r\n");
  out.append("Content-Type: application/json\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out.append("Connection: close\r\nUser-Agent: scalegate\r\n");
  out.append("X-Scalegate-Job-Id: ").append(job_id).append("\r\n");
  out.append("X-Scalegate-Timestamp: ").append(std::to_string(unix_seconds)).append("\r\n");
  out.append("X-Scalegate-Signature: ")
      .append(callbackSignature(secret, unix_seconds, body))
      .append("\r\n\r\n");
  out.append(body);
  return out;
}

int responseStatus(std::string_view head) {
  // "HTTP/1.x SSS" at least.
  if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') return 0;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return 0;
    status = status * 10 + (head[i] - '0');
  }
  if (head.size() > 12 && head[12] != ' ' && head[12] != '\r') return 0;
  return status >= 100 ? status : 0;
}

// ---------------------------------------------------------------------------------------
// CallbackSender

CallbackSender::CallbackSender(CallbackSenderOptions options) : options_(std::move(options)) {
  if (options_.tries == 0) options_.tries = 1;
}

CallbackSender::~CallbackSender() { stop(); }

void CallbackSender::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void CallbackSender::count(CallbackResult result) {
  if (options_.count) options_.count(result);
}

bool CallbackSender::push(CallbackItem item) {
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    stopping = stopping_;
    if (!stopping && ready_.size() + waiting_.size() < options_.max_pending) {
      ready_.push_back({std::move(item), 0, 0});
      cv_.notify_one();
      return true;
    }
  }
  count(CallbackResult::kDropped);
  if (stopping) {
    spdlog::warn("queue {}: callback for job {} dropped: stopping", options_.queue, item.job_id);
  } else {
    spdlog::warn("queue {}: callback for job {} dropped: {} callbacks are pending already",
                 options_.queue, item.job_id, options_.max_pending);
  }
  return false;
}

void CallbackSender::setSocket(int fd) {
  std::lock_guard lock(mutex_);
  socket_ = fd;
}

void CallbackSender::stop() {
  size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    // Wakes a send or receive blocked on a slow receiver (connect polls in short slices).
    if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mutex_);
    dropped = ready_.size() + waiting_.size();
    ready_.clear();
    waiting_.clear();
  }
  if (dropped > 0) {
    for (size_t i = 0; i < dropped; ++i) count(CallbackResult::kDropped);
    spdlog::warn("queue {}: {} callbacks still pending at shutdown were dropped", options_.queue,
                 dropped);
  }
}

void CallbackSender::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const int64_t now = steadyMs();
    int64_t next_due = INT64_MAX;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->due_ms <= now) {
        ready_.push_back(std::move(*it));
        it = waiting_.erase(it);
      } else {
        next_due = std::min(next_due, it->due_ms);
        ++it;
      }
    }
    if (ready_.empty()) {
      if (next_due == INT64_MAX) {
        cv_.wait(lock);
      } else {
        cv_.wait_for(lock, std::chrono::milliseconds(next_due - now));
      }
      continue;
    }
    Pending pending = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    std::string error;
    const bool sent = sendOnce(
        pending.item, options_, [this](int fd) { setSocket(fd); }, stopping_, &error);
    ++pending.tries;
    if (sent) {
      count(CallbackResult::kSent);
    } else if (pending.tries >= options_.tries) {
      count(CallbackResult::kFailed);
      spdlog::warn("queue {}: callback for job {} to {}{} failed after {} tries: {}",
                   options_.queue, pending.item.job_id, pending.item.url.hostField,
                   pending.item.url.target, pending.tries, error);
    } else {
      spdlog::debug("queue {}: callback for job {} try {} failed: {}", options_.queue,
                    pending.item.job_id, pending.tries, error);
    }
    lock.lock();
    if (!sent && pending.tries < options_.tries) {
      const auto& backoff = options_.backoff_ms;
      const int64_t delay =
          backoff.empty() ? 0 : backoff[std::min<size_t>(pending.tries - 1, backoff.size() - 1)];
      pending.due_ms = steadyMs() + delay;
      waiting_.push_back(std::move(pending));  // dropped (counted) by stop() if it comes first
    }
  }
}

namespace {

// Closes the socket and tells the sender it is gone (before the number can be reused).
class SocketGuard {
 public:
  SocketGuard(int fd, const std::function<void(int)>& on_socket) : fd_(fd), on_socket_(on_socket) {
    if (on_socket_) on_socket_(fd_);
  }
  ~SocketGuard() {
    if (on_socket_) on_socket_(-1);
    ::close(fd_);
  }
  SocketGuard(const SocketGuard&) = delete;
  SocketGuard& operator=(const SocketGuard&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
  const std::function<void(int)>& on_socket_;
};

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Non-blocking connect, polled in slices up to the timeout; true when connected.
bool connectWithin(int fd, const addrinfo& address, int64_t timeout_ms,
                   const std::atomic<bool>& stopping, std::string* error) {
  if (::connect(fd, address.ai_addr, address.ai_addrlen) == 0) return true;
  if (errno != EINPROGRESS) {
    *error = errnoText("connect");
    return false;
  }
  const int64_t deadline = steadyMs() + timeout_ms;
  for (;;) {
    if (stopping.load()) {
      *error = "stopping";
      return false;
    }
    const int64_t left = deadline - steadyMs();
    if (left <= 0) {
      *error = "connect timed out";
      return false;
    }
    pollfd pfd{fd, POLLOUT, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::min(left, kPollSliceMs)));
    if (ready < 0 && errno != EINTR) {
      *error = errnoText("poll");
      return false;
    }
    if (ready > 0) break;
  }
  int so_error = 0;
  socklen_t length = sizeof(so_error);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length) != 0 || so_error != 0) {
    *error = std::string("connect: ") + std::strerror(so_error != 0 ? so_error : errno);
    return false;
  }
  return true;
}

bool exchange(int fd, const std::string& request, int64_t io_timeout_ms, std::string* head,
              std::string* error) {
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval tv{};
  tv.tv_sec = io_timeout_ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((io_timeout_ms % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = errno == EAGAIN || errno == EWOULDBLOCK ? "send timed out" : errnoText("send");
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  char buffer[2048];
  while (head->size() < kMaxResponseHead && head->find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = errno == EAGAIN || errno == EWOULDBLOCK ? "no answer in time" : errnoText("recv");
      return false;
    }
    if (n == 0) break;  // closed: judge what came
    head->append(buffer, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

bool CallbackSender::sendOnce(const CallbackItem& item, const CallbackSenderOptions& options,
                              const std::function<void(int)>& on_socket,
                              const std::atomic<bool>& stopping, std::string* error) {
  std::string host = item.url.host;
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int resolved =
      ::getaddrinfo(host.c_str(), std::to_string(item.url.port).c_str(), &hints, &found);
  if (resolved != 0) {
    *error = "cannot resolve " + host + ": " + gai_strerror(resolved);
    return false;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd = ::socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = errnoText("socket");
      continue;
    }
    SocketGuard guard(fd, on_socket);
    if (!connectWithin(fd, *address, options.connect_timeout_ms, stopping, error)) {
      if (stopping.load()) return false;
      continue;  // the next address, if any
    }
    if (stopping.load()) {
      *error = "stopping";
      return false;
    }
    // Signed when sent: a retry carries a fresh timestamp.
    const std::string request = callbackRequest(item.url, item.job_id, item.body, unixSeconds(),
                                                item.secret ? *item.secret : std::string());
    std::string head;
    if (!exchange(fd, request, options.io_timeout_ms, &head, error)) return false;
    const int status = responseStatus(head);
    if (status >= 200 && status < 300) return true;
    *error = status == 0 ? "no HTTP response" : "answered " + std::to_string(status);
    return false;
  }
  return false;
}

}  // namespace sg::queue

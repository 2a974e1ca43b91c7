#include "app/upgrade.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "metrics/totals.h"
#include "net/fd_passing.h"
#include "net/socket.h"
#include "net/spawn_guard.h"
#include "proxy/gateway.h"

extern char** environ;

namespace sg::app {

namespace {

constexpr int kLinkFd = 3;  // where the successor finds its end of the link
constexpr const char* kLinkVariable = "SCALEGATE_UPGRADE_FD";
constexpr std::string_view kListen = "listen ";
constexpr std::string_view kListened = "listened";
constexpr std::string_view kState = "state";
constexpr std::string_view kMetrics = "metrics";
constexpr std::string_view kHistory = "history";
constexpr std::string_view kQueueLock = "queue-lock";
constexpr std::string_view kReady = "ready";
// How long a successor's admin listener waits for the predecessor's counts since the hand-over
// (it sends them as soon as it no longer answers the admin port, well within this).
constexpr int64_t kCountedOnMs = 3000;

// The environment with SCALEGATE_UPGRADE_FD=3 added (replacing an inherited one).
std::vector<std::string> successorEnvironment() {
  std::vector<std::string> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, kLinkVariable, std::strlen(kLinkVariable)) != 0)
      variables.emplace_back(*entry);
  }
  variables.push_back(std::string(kLinkVariable) + "=" + std::to_string(kLinkFd));
  return variables;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& text : strings) out.push_back(text.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn with the child's end of the link on fd 3 (dup2 clears close-on-exec there) and
// the signal state a fresh process expects (this one blocks its shutdown signals).
int spawnSuccessor(const std::string& executable, std::vector<std::string> argv, int link,
                   pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, link, kLinkFd);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  std::vector<std::string> environment = successorEnvironment();
  auto arguments = pointers(argv);
  auto variables = pointers(environment);
  net::SpawnGuard guard;
  int error = posix_spawn(pid, executable.c_str(), &actions, &attributes, arguments.data(),
                          variables.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  return error;
}

// Waits for the successor's "ready"; false when it closed the link (exited) or time ran out.
bool awaitReady(int link, int64_t timeout_ms, std::string* error) {
  pollfd wait{link, POLLIN, 0};
  int polled;
  do {
    polled = poll(&wait, 1, static_cast<int>(timeout_ms));
  } while (polled < 0 && errno == EINTR);
  if (polled == 0) return *error = "it did not get ready in time", false;
  std::string message;
  int fd = net::receiveDescriptor(link, &message);
  if (fd >= 0) ::close(fd);
  if (fd == -2) return *error = "it exited before it was ready (see its log lines)", false;
  if (message.rfind(kReady, 0) != 0) return *error = "it answered '" + message + "'", false;
  return true;
}

// Each part of HandedState goes in a memory file: no size limit on one message, one copy.
// Without it the successor starts without that part (a warning); false only when the link
// itself fails.
bool sendMemoryFile(int link, std::string_view message, const std::string& bytes) {
  if (bytes.empty()) return true;
  int file = memfd_create("scalegate-handed-state", MFD_CLOEXEC);
  if (file < 0) {
    spdlog::warn("the {} is not passed on: memfd_create: {}", message, std::strerror(errno));
    return true;
  }
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(file, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  bool sent = true;
  if (written == bytes.size()) {
    sent = net::sendDescriptor(link, file, message);
  } else {
    spdlog::warn("the {} is not passed on: write: {}", message, std::strerror(errno));
  }
  ::close(file);
  return sent;
}

// The whole file from its start (the sender's offset is at its end: they share it).
bool readMemoryFile(int file, std::string* out) {
  struct stat info {};
  if (fstat(file, &info) != 0) return false;
  out->resize(static_cast<size_t>(info.st_size));
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = ::pread(file, out->data() + done, out->size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// What the predecessor counted (metrics/totals.h); none, with a warning, when unreadable.
std::vector<metrics::SeriesTotal> readMetricTotals(int file, std::string_view when) {
  std::string bytes, error;
  std::vector<metrics::SeriesTotal> totals;
  if (!readMemoryFile(file, &bytes) || !metrics::decodeTotals(bytes, &totals, &error)) {
    spdlog::warn("the metric totals of the process replaced {} are unreadable: {}", when,
                 error.empty() ? std::strerror(errno) : error);
  }
  return totals;
}

// True when a message is waiting on `fd` within `limit_ms` (or the link closed).
bool awaitMessage(int fd, int64_t limit_ms) {
  pollfd wait{fd, POLLIN, 0};
  int polled;
  do {
    polled = poll(&wait, 1, static_cast<int>(std::max<int64_t>(limit_ms, 0)));
  } while (polled < 0 && errno == EINTR);
  return polled != 0;
}

void stopFailedSuccessor(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
}

}  // namespace

bool startSuccessor(const std::string& executable, const std::vector<std::string>& argv,
                    const std::vector<net::ListeningSocket>& sockets, const HandedState& state,
                    int64_t ready_timeout_ms, Successor* successor, std::string* error) {
  int link[2];
  if (!net::seqPacketPair(link)) return *error = std::strerror(errno), false;
  pid_t pid = -1;
  int spawned = spawnSuccessor(executable, argv, link[1], &pid);
  ::close(link[1]);
  if (spawned != 0) {
    ::close(link[0]);
    return *error = "cannot start " + executable + ": " + std::strerror(spawned), false;
  }
  bool sent = true;
  for (const auto& socket : sockets)
    sent = sent && net::sendDescriptor(link[0], socket.fd, std::string(kListen) + socket.address);
  sent = sent && sendMemoryFile(link[0], kState, state.running_state);
  sent = sent && sendMemoryFile(link[0], kMetrics, state.metric_totals);
  sent = sent && sendMemoryFile(link[0], kHistory, state.history);
  for (int lock : state.queue_locks) sent = sent && net::sendDescriptor(link[0], lock, kQueueLock);
  sent = sent && net::sendDescriptor(link[0], -1, kListened);
  if (!sent || !awaitReady(link[0], ready_timeout_ms, error)) {
    if (!sent) *error = std::string("cannot pass the listening sockets: ") + std::strerror(errno);
    ::close(link[0]);
    stopFailedSuccessor(pid);
    return false;
  }
  // A worker passing a connection must never wait long on a successor that stopped reading.
  timeval limit{1, 0};
  setsockopt(link[0], SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  successor->pid = pid;
  successor->link = link[0];
  return true;
}

std::unique_ptr<PredecessorLink> PredecessorLink::fromEnvironment(
    net::InheritedListeners* inherited, std::string* error) {
  const char* value = std::getenv(kLinkVariable);
  if (value == nullptr) return nullptr;
  int fd = std::atoi(value);
  unsetenv(kLinkVariable);  // not for the processes this one starts
  if (fd <= STDERR_FILENO || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    *error = std::string(kLinkVariable) + " does not name an open socket";
    return nullptr;
  }
  std::unique_ptr<PredecessorLink> link(new PredecessorLink(fd));
  for (;;) {
    std::string message;
    int socket = net::receiveDescriptor(fd, &message);
    if (message == kListened) break;
    if (socket == -2) {
      *error = std::string(
                   "the process being replaced broke off while passing its listening "
                   "sockets (link closed: ") +
               std::strerror(errno) + ")";
      return nullptr;
    }
    if (socket >= 0 && message.rfind(kListen, 0) == 0) {
      std::string address = message.substr(kListen.size()), refused;
      if (!inherited->add(address, socket, &refused))
        spdlog::warn("ignored the socket passed for {}: {}", address, refused);
    } else if (socket >= 0 && (message == kState || message == kHistory)) {
      std::string& into = message == kState ? link->running_state_ : link->history_;
      if (!readMemoryFile(socket, &into)) {
        spdlog::warn("could not read the {} of the process being replaced", message);
        into.clear();
      }
      ::close(socket);
    } else if (socket >= 0 && message == kQueueLock) {
      link->queue_locks_.push_back(socket);
    } else if (socket >= 0 && message == kMetrics) {
      link->metric_totals_ = readMetricTotals(socket, "at the hand-over");
      link->passes_metric_totals_ = true;
      ::close(socket);
    } else {
      // What a newer predecessor sends that this version does not know: skipped, so a binary
      // upgrade to an older version still works.
      if (socket >= 0) ::close(socket);
      spdlog::warn("ignored '{}' from the process being replaced", message.substr(0, 64));
    }
  }
  return link;
}

PredecessorLink::~PredecessorLink() {
  stop();
  closeQueueLocks();
  ::close(fd_);
}

void PredecessorLink::closeQueueLocks() {
  for (int lock : queue_locks_) ::close(lock);
  queue_locks_.clear();
}

bool sendMetricTotals(int link, const std::string& totals) {
  return sendMemoryFile(link, kMetrics, totals);
}

void PredecessorLink::ready(GatewayAccess with_gateway, std::function<void()> counted_on) {
  std::string message = std::string(kReady) + " " + std::to_string(getpid());
  if (!net::sendDescriptor(fd_, -1, message))
    spdlog::warn("could not tell the process being replaced that this one is ready");
  thread_ = std::thread(
      [this, with_gateway = std::move(with_gateway), counted_on = std::move(counted_on)]() mutable {
        adoptConnections(with_gateway, std::move(counted_on));
      });
}

void PredecessorLink::adoptConnections(const GatewayAccess& with_gateway,
                                       std::function<void()> counted_on) {
  auto counted = [&counted_on] {
    if (counted_on) counted_on();
    counted_on = nullptr;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCountedOnMs);
  size_t adopted = 0;
  for (;;) {
    if (counted_on) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (!awaitMessage(fd_, left.count())) {
        spdlog::warn("the process replaced did not pass its counts within {} ms", kCountedOnMs);
        counted();
      }
    }
    std::string message;
    int fd = net::receiveDescriptor(fd_, &message);
    if (fd == -2) break;  // the predecessor has exited (or stop())
    if (fd < 0) continue;
    if (message == kMetrics) {
      auto totals = readMetricTotals(fd, "since the hand-over");
      ::close(fd);
      size_t count = totals.size();
      size_t left = 0;
      with_gateway([&totals, &left](proxy::Gateway& gateway) {
        left = gateway.shared().registry().addTotals(std::move(totals)).size();
      });
      spdlog::info("added what the process replaced counted {} ({} series, {} not here)",
                   counted_on ? "until it handed the admin port over" : "while it drained", count,
                   left);
      counted();
      continue;
    }
    if (message.rfind(net::kConnectionMessage, 0) != 0) {
      ::close(fd);
      continue;
    }
    with_gateway([&](proxy::Gateway& gateway) {
      if (gateway.adopt(fd, message.substr(net::kConnectionMessage.size()))) ++adopted;
    });
  }
  counted();
  spdlog::info("took over {} idle connection(s) from the process it replaced", adopted);
  std::lock_guard lock(mutex_);
  done_ = true;
  done_cv_.notify_all();
}

void PredecessorLink::finish(int64_t limit_ms) {
  if (!thread_.joinable()) return;
  {
    std::unique_lock lock(mutex_);
    done_cv_.wait_for(lock, std::chrono::milliseconds(limit_ms), [this] { return done_; });
  }
  stop();
}

void PredecessorLink::stop() {
  if (!thread_.joinable()) return;
  ::shutdown(fd_, SHUT_RDWR);  // ends the blocking receive
  thread_.join();
}

}  // namespace sg::app

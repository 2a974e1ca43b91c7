#include "autoscale/process_actuator.h"

#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "autoscale/spawn.h"
#include "net/event_loop.h"

namespace sg::autoscale {

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A port nothing listens on now (the kernel's pick); 0 when none could be had.
uint16_t freeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    port = ntohs(address.sin_port);
  close(fd);
  return port;
}

bool accepts(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address = loopback(port);
  bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return connected;
}

std::string addressOf(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

}  // namespace

ProcessActuator::ProcessActuator(std::string command, std::chrono::milliseconds drain_timeout,
                                 discovery::Registry& registry, std::string service,
                                 proxy::SharedUpstream& upstream)
    : command_(std::move(command)),
      drain_timeout_ms_(drain_timeout.count()),
      registry_(registry),
      service_(std::move(service)),
      upstream_(upstream) {}

ProcessActuator::~ProcessActuator() {
  for (Copy& copy : copies_) {
    if (copy.state != State::kStopping) signalCopy(copy, SIGTERM, State::kStopping, 0);
  }
  const int64_t deadline = net::monotonicMillis() + kKillAfterMs;
  while (!copies_.empty() && net::monotonicMillis() < deadline) {
    reap();
    if (!copies_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (Copy& copy : copies_) {
    kill(-copy.pid, SIGKILL);
    waitpid(copy.pid, nullptr, 0);
  }
}

const char* ProcessActuator::stateName(State state) {
  switch (state) {
    case State::kStarting:
      return "starting";
    case State::kServing:
      return "serving";
    case State::kDraining:
      return "draining";
    case State::kStopping:
      return "stopping";
  }
  return "unknown";
}

uint32_t ProcessActuator::running() const {
  return static_cast<uint32_t>(std::count_if(copies_.begin(), copies_.end(), [](const Copy& c) {
    return c.state == State::kStarting || c.state == State::kServing;
  }));
}

boost::json::array ProcessActuator::describe() const {
  std::lock_guard lock(description_mutex_);
  return description_;
}

void ProcessActuator::step(uint32_t desired, int64_t now_ms) {
  reap();
  for (Copy& copy : copies_) advance(copy, now_ms);
  // Extras go newest first, copies still starting before serving ones.
  for (auto state : {State::kStarting, State::kServing}) {
    for (auto it = copies_.rbegin(); it != copies_.rend() && running() > desired; ++it) {
      if (it->state == state) beginRemoval(*it, now_ms);
    }
  }
  while (running() < desired) {
    const uint32_t before = running();
    start(now_ms);
    if (running() == before) break;  // could not start one: try again next step
  }
  boost::json::array description;
  for (const Copy& copy : copies_) {
    description.push_back(boost::json::object{
        {"port", copy.port}, {"pid", copy.pid}, {"state", stateName(copy.state)}});
  }
  std::lock_guard lock(description_mutex_);
  description_ = std::move(description);
}

void ProcessActuator::start(int64_t now_ms) {
  const uint16_t port = freeLoopbackPort();
  if (port == 0) return;
  Copy copy;
  copy.port = port;
  copy.id = "process-" + std::to_string(port);
  copy.since_ms = now_ms;
  const std::string command = fillPlaceholder(command_, "{port}", port);
  if (int error = spawnShell(command, -1, &copy.pid); error != 0) {
    spdlog::error("autoscale {}: cannot run `{}`: {}", upstream_.config->name, command,
                  std::strerror(error));
    return;
  }
  spdlog::info("autoscale {}: started `{}` (pid {})", upstream_.config->name, command, copy.pid);
  copies_.push_back(std::move(copy));
}

// Copies that ended on their own are deregistered and forgotten.
void ProcessActuator::reap() {
  std::erase_if(copies_, [this](Copy& copy) {
    int status = 0;
    if (waitpid(copy.pid, &status, WNOHANG) != copy.pid) return false;
    registry_.remove(service_, copy.id);
    if (copy.state != State::kStopping) {
      spdlog::warn("autoscale {}: copy on port {} (pid {}) exited ({})", upstream_.config->name,
                   copy.port, copy.pid,
                   WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                     : "signal " + std::to_string(WTERMSIG(status)));
    }
    return true;
  });
}

void ProcessActuator::advance(Copy& copy, int64_t now_ms) {
  switch (copy.state) {
    case State::kStarting:
      if (accepts(copy.port)) {
        discovery::InstanceSpec spec;
        std::string error;
        spec.address = *net::Address::parse(addressOf(copy.port), &error);
        spec.address_text = addressOf(copy.port);
        spec.ttl_ms = kRegistrationTtlMs;
        registry_.put(service_, copy.id, spec);
        copy.state = State::kServing;
        copy.since_ms = now_ms;
      } else if (now_ms - copy.since_ms > kStartTimeoutMs) {
        spdlog::warn("autoscale {}: copy on port {} never listened; stopping it",
                     upstream_.config->name, copy.port);
        signalCopy(copy, SIGTERM, State::kStopping, now_ms);
      }
      return;
    case State::kServing:
      // Evicted (its health check failed, or it missed heartbeats): replaced.
      if (!registry_.heartbeat(service_, copy.id)) beginRemoval(copy, now_ms);
      return;
    case State::kDraining:
      if (!inUpstream(addressOf(copy.port)) || now_ms - copy.since_ms > drain_timeout_ms_)
        signalCopy(copy, SIGTERM, State::kStopping, now_ms);
      return;
    case State::kStopping:
      if (now_ms - copy.since_ms > kKillAfterMs) kill(-copy.pid, SIGKILL);
      return;
  }
}

void ProcessActuator::beginRemoval(Copy& copy, int64_t now_ms) {
  registry_.remove(service_, copy.id);
  copy.state = State::kDraining;
  copy.since_ms = now_ms;
}

void ProcessActuator::signalCopy(Copy& copy, int signal, State next, int64_t now_ms) {
  registry_.remove(service_, copy.id);
  kill(-copy.pid, signal);
  copy.state = next;
  copy.since_ms = now_ms;
}

// Whether the upstream still has the server (a drained one leaves its slot).
bool ProcessActuator::inUpstream(const std::string& address) const {
  if (!upstream_.slots) return false;
  for (const auto& entry : upstream_.slots->list(net::monotonicMillis())) {
    if (entry.address == address) return true;
  }
  return false;
}

}  // namespace sg::autoscale

#pragma once
// The `process` actuator, the embedded default for one machine: it runs copies of a command
// with {port} filled in (a free loopback port each), registers each copy in the service
// registry once it accepts connections (the upstream's `discovery: {registry: SERVICE}` then
// sends it traffic, in slow start), heartbeats them, and removes extras by deregistering them
// first: the upstream drains the server (requests in flight finish), and only then is the copy
// stopped (SIGTERM to its process group, SIGKILL 5 s later). A copy that exits, never
// listens, or is evicted from the registry (a failed health check) is stopped and replaced at
// the next step.
#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "discovery/registry.h"
#include "proxy/shared_state.h"

namespace sg::autoscale {

class ProcessActuator {
 public:
  ProcessActuator(std::string command, std::chrono::milliseconds drain_timeout,
                  discovery::Registry& registry, std::string service,
                  proxy::SharedUpstream& upstream);
  ~ProcessActuator();  // every copy is deregistered and stopped
  ProcessActuator(const ProcessActuator&) = delete;
  ProcessActuator& operator=(const ProcessActuator&) = delete;

  // Moves toward `desired` copies: called once per evaluation (every second), on one thread.
  void step(uint32_t desired, int64_t now_ms);
  // Copies starting or serving (those being removed are not counted); step()'s thread only.
  uint32_t running() const;
  // [{"port", "pid", "state"}] as of the last step, for the dashboard and /admin/autoscale;
  // any thread.
  boost::json::array describe() const;

  static constexpr int64_t kStartTimeoutMs = 30'000;  // a copy must listen by then
  static constexpr int64_t kKillAfterMs = 5'000;      // SIGTERM, then SIGKILL
  static constexpr int64_t kRegistrationTtlMs = 10'000;

 private:
  enum class State { kStarting, kServing, kDraining, kStopping };
  struct Copy {
    pid_t pid = 0;
    uint16_t port = 0;
    std::string id;  // its instance id in the registry
    State state = State::kStarting;
    int64_t since_ms = 0;  // when it entered `state`
  };
  static const char* stateName(State state);
  void start(int64_t now_ms);
  void reap();
  void advance(Copy& copy, int64_t now_ms);
  void beginRemoval(Copy& copy, int64_t now_ms);
  void signalCopy(Copy& copy, int signal, State next, int64_t now_ms);
  bool inUpstream(const std::string& address) const;

  const std::string command_;
  const int64_t drain_timeout_ms_;
  discovery::Registry& registry_;
  const std::string service_;
  proxy::SharedUpstream& upstream_;
  std::vector<Copy> copies_;
  // What describe() shows, copied at the end of each step; the lock is taken for nothing else.
  mutable std::mutex description_mutex_;
  boost::json::array description_;
};

}  // namespace sg::autoscale

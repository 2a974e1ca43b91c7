#pragma once
// The `exec` actuator: runs the configured command through /bin/sh with {desired} filled
// in, on a thread of its own (never on a worker or the evaluation thread), kills it (its
// process group) past the timeout, and keeps its exit status and the tail of its stderr.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace sg::autoscale {

inline constexpr size_t kStderrTail = 2048;  // bytes of a run's stderr kept

struct ExecRun {
  uint32_t desired = 0;
  std::string command;     // as run, {desired} filled in
  int64_t started_ms = 0;  // unix ms
  int64_t duration_ms = 0;
  int exit_status = -1;  // the exit code; -1 when killed or not started
  int signal = 0;        // the signal that ended it, if any
  bool timed_out = false;
  std::string error;        // why it could not be started
  std::string stderr_tail;  // the last kStderrTail bytes it wrote to stderr
  bool ok() const { return exit_status == 0 && !timed_out && error.empty(); }
};

// The command with every {desired} replaced by `desired`.
std::string fillDesired(const std::string& command, uint32_t desired);

class ExecActuator {
 public:
  ExecActuator(std::string command, int64_t timeout_ms);
  ~ExecActuator();  // a command still running is killed
  ExecActuator(const ExecActuator&) = delete;
  ExecActuator& operator=(const ExecActuator&) = delete;

  bool busy() const { return busy_.load(); }
  // Starts one run; false when one is still running.
  bool start(uint32_t desired, int64_t wall_ms);
  // A finished run not taken yet.
  std::optional<ExecRun> takeFinished();

 private:
  void run(ExecRun run);
  // Runs the child to its end or the deadline; fills the run's status, stderr and timing.
  void supervise(int pid, int stderr_fd, ExecRun& run);

  const std::string command_;
  const int64_t timeout_ms_;
  std::atomic<bool> busy_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::optional<ExecRun> finished_;
  std::thread thread_;
};

}  // namespace sg::autoscale

#include "autoscale/exec_actuator.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "autoscale/spawn.h"

namespace sg::autoscale {

namespace {

int64_t steadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void keepTail(std::string& tail, const char* data, size_t size) {
  tail.append(data, size);
  if (tail.size() > kStderrTail) tail.erase(0, tail.size() - kStderrTail);
}

}  // namespace

std::string fillDesired(const std::string& command, uint32_t desired) {
  return fillPlaceholder(command, "{desired}", desired);
}

ExecActuator::ExecActuator(std::string command, int64_t timeout_ms)
    : command_(std::move(command)), timeout_ms_(timeout_ms) {}

ExecActuator::~ExecActuator() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

bool ExecActuator::start(uint32_t desired, int64_t wall_ms) {
  if (busy_.exchange(true)) return false;
  if (thread_.joinable()) thread_.join();  // the previous run's thread has ended
  ExecRun run;
  run.desired = desired;
  run.command = fillDesired(command_, desired);
  run.started_ms = wall_ms;
  thread_ = std::thread([this, run = std::move(run)]() mutable { this->run(std::move(run)); });
  return true;
}

std::optional<ExecRun> ExecActuator::takeFinished() {
  std::lock_guard lock(mutex_);
  std::optional<ExecRun> out = std::move(finished_);
  finished_.reset();
  return out;
}

void ExecActuator::run(ExecRun run) {
  const int64_t started = steadyMs();
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    run.error = std::string("pipe: ") + std::strerror(errno);
  } else {
    pid_t pid = 0;
    int error = spawnShell(run.command, pipe_fds[1], &pid);
    close(pipe_fds[1]);
    if (error != 0) {
      run.error = std::string("cannot run /bin/sh: ") + std::strerror(error);
    } else {
      supervise(pid, pipe_fds[0], run);
    }
    close(pipe_fds[0]);
  }
  run.duration_ms = steadyMs() - started;
  {
    std::lock_guard lock(mutex_);
    finished_ = std::move(run);
  }
  busy_ = false;
}

void ExecActuator::supervise(int pid, int stderr_fd, ExecRun& run) {
  const int64_t deadline = steadyMs() + timeout_ms_;
  bool open = true;
  int status = 0;
  bool exited = false;
  while (!exited) {
    if (stopping_ || steadyMs() >= deadline) {
      // Only the group this run started: the shell and whatever it launched.
      kill(-pid, SIGKILL);
      run.timed_out = !stopping_;
      waitpid(pid, &status, 0);
      exited = true;
      break;
    }
    if (open) {
      pollfd entry{stderr_fd, POLLIN, 0};
      if (poll(&entry, 1, 20) > 0) {
        char buffer[1024];
        ssize_t got = read(stderr_fd, buffer, sizeof buffer);
        if (got > 0) keepTail(run.stderr_tail, buffer, size_t(got));
        if (got == 0) open = false;
      }
    } else {
      usleep(10'000);
    }
    exited = waitpid(pid, &status, WNOHANG) == pid;
  }
  // What the shell wrote just before it ended (a child of its own may keep the pipe open:
  // only what is there now is read).
  pollfd entry{stderr_fd, POLLIN, 0};
  while (open && poll(&entry, 1, 0) > 0) {
    char buffer[1024];
    ssize_t got = read(stderr_fd, buffer, sizeof buffer);
    if (got <= 0) break;
    keepTail(run.stderr_tail, buffer, size_t(got));
  }
  if (WIFEXITED(status) && !run.timed_out) run.exit_status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
}

}  // namespace sg::autoscale

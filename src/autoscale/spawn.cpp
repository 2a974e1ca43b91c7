#include "autoscale/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include "net/spawn_guard.h"

extern char** environ;

namespace sg::autoscale {

// The gateway blocks SIGTERM/SIGINT and ignores SIGPIPE; the child gets the defaults back.
int spawnShell(const std::string& command, int stderr_fd, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::string shell = "/bin/sh";
  std::string flag = "-c";
  std::string text = command;
  char* argv[] = {shell.data(), flag.data(), text.data(), nullptr};
  net::SpawnGuard guard;  // see spawn_guard.h
  int error = posix_spawn(pid, "/bin/sh", &actions, &attributes, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  return error;
}

std::string fillPlaceholder(const std::string& command, std::string_view placeholder,
                            uint64_t value) {
  std::string out;
  size_t from = 0;
  for (size_t at = command.find(placeholder); at != std::string::npos;
       at = command.find(placeholder, from)) {
    out.append(command, from, at - from);
    out += std::to_string(value);
    from = at + placeholder.size();
  }
  out.append(command, from, std::string::npos);
  return out;
}

}  // namespace sg::autoscale

#pragma once
// Running actuators' commands: /bin/sh -c COMMAND in a process group of its own (so the
// whole group can be signalled), with the signal state a fresh process expects.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace sg::autoscale {

// stdin and stdout on /dev/null; stderr into `stderr_fd`, or the gateway's own when -1.
// Returns 0, or the errno posix_spawn gave.
int spawnShell(const std::string& command, int stderr_fd, pid_t* pid);

// `command` with every `placeholder` ("{desired}", "{port}") replaced by `value`.
std::string fillPlaceholder(const std::string& command, std::string_view placeholder,
                            uint64_t value);

}  // namespace sg::autoscale

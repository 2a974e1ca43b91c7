#pragma once
// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, when systemd set it
// (Type=notify). Tells systemd when the gateway is ready and, after a reload or upgrade, which
// process is now the service's main process.
#include <string_view>

namespace sg::app {

// False when there is no NOTIFY_SOCKET or the datagram could not be sent.
bool notifySystemd(std::string_view state);

}  // namespace sg::app

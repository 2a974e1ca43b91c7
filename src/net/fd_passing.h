#pragma once
// Passing open sockets between processes over a Unix socket (SCM_RIGHTS), with a short text
// payload saying what the socket is. Used to hand listening sockets and idle client
// connections to the process that replaces this one (binary upgrade, reload).
#include <string>
#include <string_view>

namespace sg::net {

// A connected pair of SOCK_SEQPACKET Unix sockets (message boundaries kept, close-on-exec).
bool seqPacketPair(int fds[2]);
// Sends `fd` (-1: none) with `payload` as one message. False on an error (errno kept).
bool sendDescriptor(int socket, int fd, std::string_view payload);
// Receives one message: its descriptor (close-on-exec), or -1 when it carried none; -2 when
// the peer closed or on an error. Blocking unless the socket is non-blocking (then -3: nothing
// yet). Payloads longer than `max_payload` are cut.
int receiveDescriptor(int socket, std::string* payload, size_t max_payload = 4096);

// The message that passes a client connection, naming the listener it belongs to.
constexpr std::string_view kConnectionMessage = "conn ";
inline bool passConnection(int link, int fd, std::string_view listener) {
  return sendDescriptor(link, fd, std::string(kConnectionMessage) + std::string(listener));
}

}  // namespace sg::net

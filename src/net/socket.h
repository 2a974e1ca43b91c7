#pragma once
// Thin wrappers over the socket calls the loop needs, returning values instead of throwing.
#include <sys/types.h>
#include <sys/uio.h>

#include <string>

#include "net/address.h"

namespace sg::net {

// Non-blocking, close-on-exec listening socket with SO_REUSEADDR and SO_REUSEPORT.
// Returns the fd, or -1 with *error set.
int listenSocket(const Address& address, int backlog, std::string* error);
// TCP_DEFER_ACCEPT: the listener wakes only once a connection has sent data (or `seconds`
// have passed), so a protocol whose client speaks first costs one wake-up per connection
// instead of two (the handshake's ACK, then the first packet).
bool deferAccept(int fd, int seconds);
// Starts a non-blocking connect. Returns the fd (connect may be in progress) or -1.
int connectSocket(const Address& address, int* error_code);
// Bytes read (>0), 0 on EOF, -1 on EAGAIN, -2 on error (errno kept).
ssize_t readSome(int fd, char* data, size_t size);
// A lingering close: reads and drops what the peer still sends (a bounded number of reads per
// call). False once the peer has closed (or the connection broke); true when more may come.
bool discardReadable(int fd);
// Bytes written (>=0; 0 means the socket is full), or -1 on error (errno kept).
ssize_t writeVec(int fd, const iovec* iov, int count);
void setNoDelay(int fd);
// SO_KEEPALIVE, and the probe timing where a value is above zero (else the system's).
struct KeepAlive {
  bool enabled = false;
  int idle_seconds = 0;
  int interval_seconds = 0;
  int probes = 0;
};
void setKeepAlive(int fd, const KeepAlive& keepalive);
// The pending socket error after an asynchronous connect (0 when connected).
int socketError(int fd);
Address peerAddress(int fd);
Address localAddress(int fd);

}  // namespace sg::net

#pragma once
// What a server connection works for while it is attached: today always a client (ClientConn);
// a scatter-gather query will give one client several servers at once, each working for a leg
// of that query. ServerConn calls nothing else on it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sg::pg {

class ServerPeer {
 public:
  // Replies (or part of a large one) from the server, to pass on.
  virtual void deliver(std::string_view bytes) = 0;
  // A reply the proxy gives itself, in order: ParseComplete, CloseComplete, or the next error
  // the proxy found itself.
  virtual void deliverLocalReply(char type) = 0;
  // The server skipped a message the proxy meant to answer with an error (after an earlier one).
  virtual void dropLocalError() = 0;
  // A DataRow or ErrorResponse of auth_query: read by the proxy, never passed on.
  virtual void onLookupReply(char type, std::string_view payload) = 0;
  // After a ReadyForQuery: true when the server was released (the caller must not touch it).
  virtual bool onServerReady() = 0;
  // The server read what it had: write out what was delivered.
  virtual void flushToClient() = 0;
  // The server's queue for the server drained: more may be sent.
  virtual void onServerWritable() = 0;
  // A session parameter the server reported (ParameterStatus, or the proxy's SHOW of it).
  virtual void rememberParam(const std::string& name, const std::string& value) = 0;
  // Bytes delivered and not yet written out; past a limit the server stops reading ...
  virtual size_t backlog() const = 0;
  // ... until the peer, once it has written, makes the server read again.
  virtual void waitForDrain() = 0;
  // Ends the client's session with a FATAL error (a transaction in statement pooling mode).
  virtual void closeWithError(std::string_view sqlstate, const std::string& message) = 0;
  // The primary's WAL insert position after a write transaction (empty: unknown).
  virtual void onCommitLsn(std::string_view text) = 0;
  // The server connection closed while attached.
  virtual void onServerLost(const std::string& why) = 0;
  // The client the work is for (SHOW SERVERS' link column).
  virtual uint64_t clientId() const = 0;

 protected:
  ~ServerPeer() = default;
};

}  // namespace sg::pg

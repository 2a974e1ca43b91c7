#pragma once
// What the admin console's commands read and change: SHOW's rows (PgBouncer's columns) and
// the pool actions (PAUSE, RESUME, RECONNECT, KILL, DISABLE, ENABLE).
#include <cstdint>
#include <string>

namespace sg::pg {

class PgService;

// SHOW <what> (upper case) from the shared state. False with *error for an unknown name.
// `now_ms` is the calling worker's clock (waiting times).
bool writeShow(PgService& service, const std::string& what, int64_t now_ms, std::string* out,
               std::string* error);

// SHOW CLIENTS / SERVERS: each worker lists its own connections on its own loop; the rows go
// back to the admin client `client_id` on worker `home` (AdminSession::finishCollected).
void collectConnections(PgService& service, uint32_t home, uint64_t client_id, bool clients);

// Whether a pool of `database` ("" for any) has a server attached to a client, and whether
// all of them are paused (PAUSE waits while both hold).
bool serversInUse(PgService& service, const std::string& database);
bool poolsPaused(PgService& service, const std::string& database);

class AdminActions {
 public:
  explicit AdminActions(PgService& service) : service_(service) {}
  // `database` empty: every pool (PAUSE, RESUME, RECONNECT); KILL, DISABLE and ENABLE need one.
  // PAUSE, like RECONNECT, closes idle servers and those released later (PgBouncer's PAUSE
  // disconnects from the servers); RESUME connects again as clients need.
  bool apply(const std::string& verb, const std::string& database, std::string* error);

 private:
  PgService& service_;
};

}  // namespace sg::pg

#pragma once
// The admin console: `psql -U admin scalegate` (or database `pgbouncer`). It answers
// PgBouncer's SHOW commands with PgBouncer's column names, so dashboards and exporters written
// for PgBouncer read it, and its PAUSE, RESUME, RECONNECT, KILL, RELOAD and SHUTDOWN.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/buffer.h"
#include "net/timer.h"

namespace sg::pg {

class ClientConn;

// A result set in the text format: a RowDescription, DataRows, a CommandComplete.
class ResultWriter {
 public:
  ResultWriter(std::string* out, const std::vector<std::string>& columns,
               const std::vector<bool>& numeric);
  void row(const std::vector<std::string>& values);
  void finish(std::string_view tag);

 private:
  std::string* out_;
  size_t columns_;
  size_t rows_ = 0;
};

class AdminSession final : public net::TimerHandler {
 public:
  explicit AdminSession(ClientConn* client) : client_(client) {}
  // ParameterStatus, BackendKeyData and ReadyForQuery after AuthenticationOk.
  void welcome(std::string* out);
  // Handles every whole message in `in`. False when the connection closed.
  bool processInput(net::Buffer& in);
  // A collected answer (SHOW CLIENTS / SERVERS gather rows on every worker) is ready.
  void finishCollected(const std::string& result);
  // Nothing is on its way to the client (it may move to a new configuration generation).
  bool idle() const { return !waiting_; }
  // PAUSE answers once no server of its pools runs a transaction (polled).
  void onTimer(net::Timer* timer) override;

 private:
  void runQuery(std::string_view sql, std::string* out);
  void runCommand(const std::vector<std::string>& words, std::string* out);
  void show(const std::string& what, std::string* out);
  bool stats_only() const;

  ClientConn* client_;
  bool waiting_ = false;  // a collected answer (or PAUSE's completion) is on its way
  std::string pausing_;   // the database PAUSE waits for ("" for every one)
  net::Timer pause_timer_{this};
};

}  // namespace sg::pg

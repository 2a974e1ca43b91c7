#include "pg/admin_console.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "app/cli.h"
#include "pg/admin_rows.h"
#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

void appendCString(std::string* out, std::string_view text) {
  out->append(text);
  out->push_back('\0');
}

void patchLength(std::string* out, size_t start) {
  auto length = static_cast<uint32_t>(out->size() - start - 1);
  (*out)[start + 1] = static_cast<char>(length >> 24);
  (*out)[start + 2] = static_cast<char>(length >> 16);
  (*out)[start + 3] = static_cast<char>(length >> 8);
  (*out)[start + 4] = static_cast<char>(length);
}

std::vector<std::string> splitWords(std::string_view sql) {
  std::vector<std::string> words;
  std::string word;
  for (char c : sql) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
      continue;
    }
    word.push_back(c);
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

constexpr int64_t kPausePollMs = 20;

}  // namespace

ResultWriter::ResultWriter(std::string* out, const std::vector<std::string>& columns,
                           const std::vector<bool>& numeric)
    : out_(out), columns_(columns.size()) {
  size_t start = out_->size();
  out_->push_back('T');
  appendInt32(out_, 0);
  appendInt16(out_, static_cast<int16_t>(columns.size()));
  for (size_t i = 0; i < columns.size(); ++i) {
    bool number = i < numeric.size() && numeric[i];
    appendCString(out_, columns[i]);
    appendInt32(out_, 0);                 // table
    appendInt16(out_, 0);                 // column
    appendInt32(out_, number ? 20 : 25);  // int8 or text
    appendInt16(out_, number ? 8 : -1);   // size
    appendInt32(out_, -1);                // modifier
    appendInt16(out_, 0);                 // text format
  }
  patchLength(out_, start);
}

void ResultWriter::row(const std::vector<std::string>& values) {
  size_t start = out_->size();
  out_->push_back('D');
  appendInt32(out_, 0);
  appendInt16(out_, static_cast<int16_t>(columns_));
  for (size_t i = 0; i < columns_; ++i) {
    if (i >= values.size()) {
      appendInt32(out_, -1);  // NULL
      continue;
    }
    appendInt32(out_, static_cast<int32_t>(values[i].size()));
    out_->append(values[i]);
  }
  patchLength(out_, start);
  ++rows_;
}

void ResultWriter::finish(std::string_view tag) { appendCommandComplete(out_, tag); }

void AdminSession::welcome(std::string* out) {
  appendParameterStatus(out, "server_version", std::string(app::kVersion) + "/scalegate");
  appendParameterStatus(out, "client_encoding", "UTF8");
  appendParameterStatus(out, "server_encoding", "UTF8");
  appendParameterStatus(out, "DateStyle", "ISO");
  appendParameterStatus(out, "standard_conforming_strings", "on");
  appendParameterStatus(out, "integer_datetimes", "on");
  appendBackendKeyData(out, 0, 0);
  appendReadyForQuery(out, 'I');
}

bool AdminSession::stats_only() const {
  const auto& admins = client_->worker()->config().admin_users;
  return std::find(admins.begin(), admins.end(), client_->user()) == admins.end();
}

bool AdminSession::processInput(net::Buffer& in) {
  while (!waiting_ && client_->state() == ClientConn::State::kAdmin) {
    Message message;
    size_t consumed = 0;
    std::string error;
    ParseStatus status = parseMessage(in.view(), 1024 * 1024, &message, &consumed, &error);
    if (status == ParseStatus::kNeedMore) return false;
    if (status == ParseStatus::kError) return client_->failProtocol(error);
    std::string out;
    if (message.type == 'X') {
      client_->close();
      return false;
    }
    if (message.type == 'Q') {
      std::string_view sql = message.payload;
      if (!sql.empty() && sql.back() == '\0') sql.remove_suffix(1);
      runQuery(sql, &out);
    } else {
      appendErrorResponse(&out, "ERROR", "0A000",
                          "the admin console understands simple queries only");
      appendReadyForQuery(&out, 'I');
    }
    in.consume(consumed);
    client_->stream_.append(out);
    if (client_->state() != ClientConn::State::kAdmin) return false;
  }
  return false;
}

void AdminSession::runQuery(std::string_view sql, std::string* out) {
  auto words = splitWords(sql);
  if (words.empty()) {
    out->append(std::string_view("I\0\0\0\4", 5));  // EmptyQueryResponse
    appendReadyForQuery(out, 'I');
    return;
  }
  runCommand(words, out);
  if (!waiting_) appendReadyForQuery(out, 'I');
}

void AdminSession::runCommand(const std::vector<std::string>& words, std::string* out) {
  std::string verb = upper(words[0]);
  std::string target = words.size() > 1 ? words[1] : "";
  auto& service = client_->worker()->service();
  if (verb == "SHOW") {
    if (words.size() < 2) {
      appendErrorResponse(out, "ERROR", "42601", "SHOW needs an argument (SHOW HELP lists them)");
      return;
    }
    return show(upper(words[1]), out);
  }
  if (stats_only()) {
    appendErrorResponse(out, "ERROR", "42501", "admin access needed for " + verb);
    return;
  }
  AdminActions actions(service);
  std::string error;
  if (verb == "PAUSE" || verb == "RESUME" || verb == "RECONNECT" || verb == "KILL" ||
      verb == "DISABLE" || verb == "ENABLE") {
    if (!actions.apply(verb, target, &error)) {
      appendErrorResponse(out, "ERROR", "42000", error);
      return;
    }
    if (verb == "PAUSE" && serversInUse(service, target)) {
      // As PgBouncer: the command returns once running transactions have finished.
      waiting_ = true;
      pausing_ = target;
      client_->worker()->loop().timers().arm(pause_timer_, kPausePollMs);
      return;
    }
    appendCommandComplete(out, verb);
    return;
  }
  if (verb == "RELOAD") {
    if (!service.reload(&error)) {
      appendErrorResponse(out, "ERROR", "F0000", "RELOAD: " + error);
      return;
    }
    appendCommandComplete(out, "RELOAD");
    return;
  }
  if (verb == "SHUTDOWN") {
    appendCommandComplete(out, "SHUTDOWN");
    ::kill(::getpid(), SIGTERM);  // the same graceful drain as a SIGTERM from outside
    return;
  }
  appendErrorResponse(out, "ERROR", "42601", "unknown admin command: " + words[0]);
}

void AdminSession::show(const std::string& what, std::string* out) {
  auto& service = client_->worker()->service();
  if (what == "CLIENTS" || what == "SERVERS") {
    waiting_ = true;
    collectConnections(service, client_->worker()->index(), client_->id(), what == "CLIENTS");
    return;
  }
  std::string error;
  if (!writeShow(service, what, client_->worker()->now(), out, &error))
    appendErrorResponse(out, "ERROR", "42601", error);
}

void AdminSession::onTimer(net::Timer* /*timer*/) {
  auto& service = client_->worker()->service();
  if (serversInUse(service, pausing_) && poolsPaused(service, pausing_)) {
    client_->worker()->loop().timers().arm(pause_timer_, kPausePollMs);
    return;
  }
  std::string done;
  appendCommandComplete(&done, "PAUSE");
  finishCollected(done);
}

void AdminSession::finishCollected(const std::string& result) {
  waiting_ = false;
  client_->stream_.append(result);
  appendReadyForQuery(&client_->stream_.out(), 'I');
  client_->processInput();
}

}  // namespace sg::pg

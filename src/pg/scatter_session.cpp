#include "pg/scatter_session.h"

#include <spdlog/spdlog.h>

#include "pg/client_conn.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/server_conn.h"
#include "pg/wire.h"

namespace sg::pg {

ScatterLeg::ScatterLeg(ScatterSession* session, size_t index, Pool* pool)
    : session_(session), index_(index), pool_(pool), id_(ServerWaiter::newId()) {}

void ScatterLeg::onServerAttached(ServerConn* server) {
  server_ = server;
  setState(State::kRunning);
  if (session_->failed()) {
    // The session failed while this server was on its way: it ran nothing, it goes back.
    return finish();
  }
  PgWorker& worker = session_->worker();
  query_start_ms_ = worker.now();
  pool_->stats().queries.inc(1);
  pool_->stats().bytes_received.inc(session_->legMessages().size());
  session_->client().replayParamsOn(server);
  server->send(session_->legMessages());
  if (session_->extended()) server->expect(ServerConn::Pending::kParse);
  server->expect(ServerConn::Pending::kSync);
  server->flush();
}

void ScatterLeg::onServerUnavailable(std::string_view sqlstate, const std::string& message) {
  setState(State::kDone);
  session_->worker().unregisterWaiter(this);
  session_->onLegFailed(sqlstate, message);
  session_->onLegDone();
}

// Frames the server's bytes into whole messages; an oversized one fails the query and is
// skipped (the merger needs whole rows).
void ScatterLeg::deliver(std::string_view bytes) {
  pool_->stats().bytes_sent.inc(bytes.size());
  if (skip_remaining_ > 0) {
    size_t n = std::min(skip_remaining_, bytes.size());
    skip_remaining_ -= n;
    bytes.remove_prefix(n);
  }
  if (bytes.empty()) return;
  std::string_view rest = bytes;
  if (!buffer_.empty()) {
    buffer_.append(bytes);
    rest = buffer_;
  }
  while (rest.size() >= 5) {
    const size_t total = static_cast<size_t>(readBigEndian32(rest.data() + 1)) + 1;
    if (total > ScatterSession::kMaxLegMessage + 5) {
      session_->onLegFailed("54000", "scalegate: a shard's reply to a cross-shard query is " +
                                         std::to_string(total) + " bytes; at most " +
                                         std::to_string(ScatterSession::kMaxLegMessage) +
                                         " bytes per row can be merged");
      skip_remaining_ = total - std::min(total, rest.size());
      rest = {};
      break;
    }
    if (total > rest.size()) break;
    onMessage(rest[0], rest.substr(5, total - 5));
    rest.remove_prefix(total);
  }
  std::string left(rest);
  buffer_.swap(left);
}

void ScatterLeg::onMessage(char type, std::string_view payload) {
  session_->onLegMessage(index_, type, payload);
}

bool ScatterLeg::onServerReady() {
  if (server_ == nullptr || server_->pendingCount() > 0) return false;
  pool_->stats().query_micros.inc(
      static_cast<uint64_t>(session_->worker().now() - query_start_ms_) * 1000);
  pool_->stats().transactions.inc(1);
  finish();
  return true;
}

// Its server goes back to the pool, and the session hears. A server sent a cancel request is
// closed instead: the request may reach it late and cancel another client's query.
void ScatterLeg::finish() {
  ServerConn* server = server_;
  server_ = nullptr;
  setState(State::kDone);
  session_->worker().unregisterWaiter(this);
  if (server != nullptr) {
    server->attach(nullptr);  // closed rather than kept (draining, lifetime): not this leg's loss
    if (server->reusable() && !cancel_sent_) {
      session_->worker().releaseServer(server);
    } else {
      server->close(cancel_sent_ ? "cancelled for a failed cross-shard query"
                                 : "a cross-shard query left it unclean");
    }
  }
  session_->onLegDone();
}

void ScatterLeg::flushToClient() { session_->client().flushToClient(); }

// The client's backlog, or (when the merger holds many of this shard's rows) a size past the
// server's limit, so the server stops reading until resumed.
size_t ScatterLeg::backlog() const {
  if (session_->holdsTooMany(index_)) return SIZE_MAX / 2;
  return session_->clientBacklog();
}

void ScatterLeg::closeWithError(std::string_view sqlstate, const std::string& message) {
  session_->onLegFailed(sqlstate, message);
}

void ScatterLeg::onServerLost(const std::string& why) {
  server_ = nullptr;
  setState(State::kDone);
  session_->worker().unregisterWaiter(this);
  session_->onLegFailed("08006", "scalegate: a shard's server connection was lost: " + why);
  session_->onLegDone();
}

uint64_t ScatterLeg::clientId() const { return session_->client().id(); }

void ScatterLeg::request() {
  requested_ = true;
  session_->worker().registerWaiter(this);
  session_->worker().requestServer(this);
}

void ScatterLeg::cancel() {
  if (state_ == State::kWaiting) {
    // Withdrawn: no server will come. Otherwise one is on its way and goes back at attach.
    if (!requested_ || session_->worker().withdraw(this)) {
      setState(State::kDone);
      session_->worker().unregisterWaiter(this);
      session_->onLegDone();
    }
    return;
  }
  if (state_ == State::kRunning && server_ != nullptr && !cancel_sent_) {
    cancel_sent_ = true;
    session_->worker().sendCancel(*server_);
  }
}

void ScatterLeg::abandon() {
  if (state_ == State::kWaiting && requested_) session_->worker().withdraw(this);
  if (state_ != State::kDone && requested_) session_->worker().unregisterWaiter(this);
  ServerConn* server = server_;
  server_ = nullptr;
  setState(State::kDone);
  if (server != nullptr) {
    server->attach(nullptr);
    server->close("the client left during a cross-shard query");
  }
}

void ScatterLeg::resume() {
  if (!paused_ || server_ == nullptr) return;
  paused_ = false;
  server_->onEvents(EPOLLIN);
}

ScatterSession::ScatterSession(ClientConn* client, ScatterRequest request)
    : client_(client),
      worker_(client->worker()),
      request_(std::move(request)),
      merger_(request_.plan, request_.bounds, request_.pools.size()) {
  if (!request_.client_described) merger_.omitRowDescription();
  for (size_t i = 0; i < request_.pools.size(); ++i)
    legs_.push_back(std::make_unique<ScatterLeg>(this, i, request_.pools[i]));
}

ScatterSession::~ScatterSession() {
  if (resume_scheduled_) worker_->loop().unschedule(this);
}

void ScatterSession::start() {
  starting_ = true;
  for (auto& leg : legs_) {
    if (leg->state() == ScatterLeg::State::kWaiting) leg->request();
  }
  starting_ = false;
  finishIfDone();
}

void ScatterSession::onLegMessage(size_t leg, char type, std::string_view payload) {
  if (failed_ || over_) return;  // the client has its error (or left): the rest is drained
  if (type == 'n' && request_.client_described && !no_data_sent_) {
    // A statement without rows (a write): the client's Describe gets NoData once.
    no_data_sent_ = true;
    client_->scatterOutput(std::string_view("n\0\0\0\4", 5));
    return;
  }
  merger_.onMessage(leg, type, payload);
  pumpOutput();
  for (size_t i = 0; i < legs_.size(); ++i) {
    // A leg held back for its rows may read again once the others caught up.
    if (legs_[i]->paused() && !holdsTooMany(i) && clientBacklog() <= kClientBacklogLimit)
      scheduleResume();
  }
}

void ScatterSession::onLegFailed(std::string_view sqlstate, const std::string& message) {
  if (failed_ || over_) return;
  failed_ = true;
  scheduleResume();  // paused legs drain to their ReadyForQuery
  std::string error;
  appendErrorResponse(&error, "ERROR", sqlstate, message);
  client_->scatterOutput(error);
  cancelLegs();
}

void ScatterSession::pumpOutput() {
  std::string out = merger_.takeOutput();
  if (!out.empty()) client_->scatterOutput(out);
  if (merger_.failed() && !failed_) {
    failed_ = true;
    scheduleResume();
    cancelLegs();
  }
}

// The query failed: the other shards stop what they run (their servers are drained to their
// ReadyForQuery, then released) and the waiting legs give up.
void ScatterSession::cancelLegs() {
  for (auto& leg : legs_) leg->cancel();
}

void ScatterSession::onLegDone() { finishIfDone(); }

void ScatterSession::finishIfDone() {
  if (over_ || starting_) return;
  for (auto& leg : legs_) {
    if (leg->state() != ScatterLeg::State::kDone) return;
  }
  over_ = true;
  if (!failed_ && !merger_.finished()) {
    std::string error;
    appendErrorResponse(&error, "ERROR", "XX000",
                        "scalegate: a shard's answer to a cross-shard query ended early");
    client_->scatterOutput(error);
  }
  std::string ready;
  appendReadyForQuery(&ready, 'I');
  client_->scatterOutput(ready);
  client_->onScatterOver();
}

bool ScatterSession::holdsTooMany(size_t leg) const {
  return !failed_ && merger_.bufferedRows(leg) > kMaxHeldRows;
}

size_t ScatterSession::clientBacklog() const { return client_->backlog(); }

void ScatterSession::onClientDrained() { scheduleResume(); }

// Paused legs read again at the end of this loop batch (not from inside another server's
// reply processing), those the client's backlog or the merger's held rows still allow.
void ScatterSession::scheduleResume() {
  if (resume_scheduled_ || over_) return;
  resume_scheduled_ = true;
  worker_->loop().atBatchEnd(this);
}

void ScatterSession::onBatchEnd() {
  resume_scheduled_ = false;
  if (over_) return;
  for (size_t i = 0; i < legs_.size() && !over_; ++i) {
    ScatterLeg& leg = *legs_[i];
    if (!leg.paused() || clientBacklog() > kClientBacklogLimit || holdsTooMany(i)) continue;
    leg.resume();
  }
}

void ScatterSession::onWaitTimeout() {
  for (size_t i = 0; i < legs_.size(); ++i) {
    if (legs_[i]->state() != ScatterLeg::State::kWaiting) continue;
    request_.pools[i]->stats().query_wait_timeouts.inc(1);
    return onLegFailed("08P01",
                       "scalegate: query_wait_timeout: a shard's pool gave no server "
                       "for a cross-shard query in time");
  }
}

void ScatterSession::abandon() {
  over_ = true;
  for (auto& leg : legs_) leg->abandon();
}

}  // namespace sg::pg

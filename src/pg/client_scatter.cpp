// ClientConn: a statement of a sharded database that names no shard, or keys on several, runs on
// those shards at once as a scatter-gather query (scatter_session.h): planned by
// scatter::planScatter under the database's cross_shard, merged into one answer. A simple
// Query with one statement, or an extended batch Parse, Bind, Describe, Execute, Sync (a
// statement prepared earlier too); never inside a transaction (no two-phase commit).

#include <algorithm>

#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/pool.h"
#include "pg/scatter_session.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

struct BatchMessage {
  char type = 0;
  std::string_view payload;
};

// The messages at the head of `input` up to and including a Sync (or a Flush: asyncpg prepares
// with Parse, Describe, Flush); false when it has not arrived yet. *size: their bytes.
bool readBatch(std::string_view input, std::vector<BatchMessage>* out, size_t* size) {
  std::string_view rest = input;
  while (rest.size() >= 5) {
    const int32_t length = readBigEndian32(rest.data() + 1);
    if (length < 4 || static_cast<size_t>(length) + 1 > rest.size()) return false;
    out->push_back({rest[0], rest.substr(5, static_cast<size_t>(length) - 4)});
    rest.remove_prefix(static_cast<size_t>(length) + 1);
    if (out->back().type == 'S' || out->back().type == 'H') {
      *size = input.size() - rest.size();
      return true;
    }
  }
  return false;
}

void appendMessage(std::string* out, char type, std::initializer_list<std::string_view> parts) {
  size_t size = 4;
  for (std::string_view part : parts) size += part.size();
  out->push_back(type);
  appendInt32(out, static_cast<int32_t>(size));
  for (std::string_view part : parts) out->append(part);
}

// What every leg runs for an extended-protocol scatter: the shard SQL unnamed with the client's
// parameter types, its Bind values and formats, Describe portal (the merger needs every
// RowDescription), Execute of all rows, Sync.
void appendLegBatch(std::string* out, std::string_view sql, std::string_view types,
                    std::string_view values) {
  const std::string_view nul("\0", 1);
  appendMessage(out, 'P', {nul, sql, nul, types});
  appendMessage(out, 'B', {nul, nul, values});
  appendMessage(out, 'D', {"P", nul});
  appendMessage(out, 'E', {nul, std::string_view("\0\0\0\0", 4)});
  appendMessage(out, 'S', {});
}

scatter::CrossShardPolicy policyOf(config::PostgresShardingConfig::CrossShard mode, bool keyless) {
  using Mode = config::PostgresShardingConfig::CrossShard;
  if (mode == Mode::kAllowUnordered) return scatter::CrossShardPolicy::kAllowUnordered;
  // deny refuses statements without a key; keys on several shards are still merged.
  if (mode == Mode::kDeny && keyless) return scatter::CrossShardPolicy::kDeny;
  return scatter::CrossShardPolicy::kMerge;
}

// A Bind's parameter values as text (for LIMIT / OFFSET $n): binary integers decoded. Reads
// what follows the portal and statement names. False when malformed.
bool boundParams(std::string_view rest, std::vector<std::optional<std::string>>* params) {
  PayloadReader reader(rest);
  int16_t formats = 0, count = 0;
  if (!reader.readInt16(&formats) || formats < 0) return false;
  std::vector<int16_t> codes(static_cast<size_t>(formats));
  for (auto& code : codes) {
    if (!reader.readInt16(&code)) return false;
  }
  if (!reader.readInt16(&count) || count < 0) return false;
  for (int16_t i = 0; i < count; ++i) {
    int32_t length = 0;
    std::string_view bytes;
    if (!reader.readInt32(&length)) return false;
    if (length < 0) {
      params->push_back(std::nullopt);
      continue;
    }
    if (!reader.readBytes(static_cast<size_t>(length), &bytes)) return false;
    const int16_t code = codes.empty() ? 0 : codes.size() == 1 ? codes[0] : codes[i];
    if (code != 1 || (length != 2 && length != 4 && length != 8)) {
      params->emplace_back(bytes);
      continue;
    }
    int64_t value = static_cast<int8_t>(bytes[0]);  // big-endian, sign from the first byte
    for (size_t b = 1; b < bytes.size(); ++b) value = value * 256 + static_cast<uint8_t>(bytes[b]);
    params->emplace_back(std::to_string(value));
  }
  return true;
}

}  // namespace

// A statement whose keys span `spread`: a scatter starts (kScatter), or it is refused, or (an
// extended batch not whole yet) more input is needed; a Parse without a Bind in its batch is
// only prepared: the current shard describes it (kChosen), the Bind that runs it scatters.
ClientConn::ShardChoice ClientConn::scatterStatement(char type, std::string_view payload,
                                                     std::string_view text,
                                                     const ShardSpread& spread) {
  if (type != 'Q' && type != 'P' && type != 'B') return ShardChoice::kChosen;
  std::vector<BatchMessage> batch;
  size_t batch_size = payload.size() + 5;
  if (type != 'Q') {
    const auto& in = stream_.in();
    if (!readBatch({in.data(), in.size()}, &batch, &batch_size)) return ShardChoice::kNeedMore;
    bool binds = std::any_of(batch.begin(), batch.end(),
                             [](const BatchMessage& m) { return m.type == 'B'; });
    if (!binds) {
      prepare_flush_ = batch.back().type == 'H' && type == 'P' && !payload.empty() &&
                       payload[0] != '\0';  // named (see bindAfterParse)
      return ShardChoice::kChosen;
    }
  }
  const auto& sharding = database_config_->sharding;
  auto planned = worker_->scatterPlan(text, policyOf(sharding.cross_shard, spread.keyless));
  if (!planned->plan) {
    refuseStatement(type, {planned->error.sqlstate, planned->error.message});
    return ShardChoice::kRefused;
  }
  ScatterRequest request;
  request.plan = *planned->plan;
  if (!scatterPools(type, payload, spread, &request)) {
    refuseStatement(type, {"08006", "no replica can take reads now (primary_reads: exclude)"});
    return ShardChoice::kRefused;
  }
  if (type != 'Q') return scatterExtended(&request);
  scatter::PlanError error;
  auto bounds = scatter::resolveBounds(request.plan, {}, &error);
  if (!bounds) {
    refuseStatement(type, {error.sqlstate, error.message});
    return ShardChoice::kRefused;
  }
  request.bounds = *bounds;
  appendQuery(&request.leg_messages, request.plan.shard_sql);
  return startScatter(std::move(request), batch_size);
}

// Each shard's pool, routed as a transaction on that shard would be (a read may go to one of
// its replicas when the database splits reads); a statement reading no table runs on one shard
// only. False when a read has nowhere to go (primary_reads: exclude, no replica).
bool ClientConn::scatterPools(char type, std::string_view payload, const ShardSpread& spread,
                              ScatterRequest* request) {
  const uint32_t current = current_shard_;
  for (uint32_t shard : spread.shards) {
    current_shard_ = shard;
    request->pools.push_back(routeTransaction(type, payload));
    if (request->plan.kind == scatter::MergeKind::kAnyOneShard) break;
  }
  current_shard_ = current;
  return std::find(request->pools.begin(), request->pools.end(), nullptr) == request->pools.end();
}

// The batch at the head of the input: [Parse] Bind [Describe portal] Execute(all rows) Sync. The
// proxy answers ParseComplete and BindComplete; every shard runs the plan's SQL unnamed with the
// client's parameter types, values and result formats.
ClientConn::ShardChoice ClientConn::scatterExtended(ScatterRequest* request) {
  const scatter::ScatterPlan& plan = request->plan;
  const auto& in = stream_.in();
  std::vector<BatchMessage> batch;
  size_t batch_size = 0;
  readBatch({in.data(), in.size()}, &batch, &batch_size);
  const shard::KeyError shape{"0A000",
                              "scalegate: a statement across shards runs only as one Parse, "
                              "Bind, Describe portal, Execute (all rows), Sync"};
  size_t at = 0;
  const BatchMessage* parse = batch[at].type == 'P' ? &batch[at++] : nullptr;
  const BatchMessage* bind = batch[at].type == 'B' ? &batch[at++] : nullptr;
  const BatchMessage* describe = batch[at].type == 'D' ? &batch[at++] : nullptr;
  const BatchMessage* execute = batch[at].type == 'E' ? &batch[at++] : nullptr;
  PayloadReader bind_reader(bind != nullptr ? bind->payload : std::string_view());
  std::string_view portal, statement, portal_name;
  int32_t max_rows = 0;
  PayloadReader execute_reader(execute != nullptr ? execute->payload : std::string_view());
  if (bind == nullptr || execute == nullptr || at + 1 != batch.size() || batch[at].type != 'S' ||
      (describe != nullptr && describe->payload.substr(0, 1) != "P") ||
      !bind_reader.readString(&portal) || !bind_reader.readString(&statement) ||
      !execute_reader.readString(&portal_name) || !execute_reader.readInt32(&max_rows) ||
      max_rows != 0) {
    refuseStatement(batch[0].type, shape);
    return ShardChoice::kRefused;
  }
  std::string_view types;
  if (!scatterParameterTypes(parse != nullptr ? parse->payload : std::string_view(), statement,
                             &types))
    return ShardChoice::kRefused;
  std::string_view values = bind->payload.substr(portal.size() + 1 + statement.size() + 1);
  std::vector<std::optional<std::string>> params;
  scatter::PlanError error;
  std::optional<scatter::ResolvedBounds> bounds;
  if (boundParams(values, &params)) bounds = scatter::resolveBounds(plan, params, &error);
  if (!bounds) {
    if (error.message.empty()) error = {"08P01", "malformed Bind message"};
    refuseStatement(batch[0].type, {error.sqlstate, error.message});
    return ShardChoice::kRefused;
  }
  request->bounds = *bounds;
  request->extended = true;
  request->client_described = describe != nullptr;
  appendLegBatch(&request->leg_messages, plan.shard_sql, types, values);
  if (parse != nullptr) stream_.append(std::string_view("1\0\0\0\4", 5));
  stream_.append(std::string_view("2\0\0\0\4", 5));
  return startScatter(std::move(*request), batch_size);
}

// The parameter types of the statement a scatter's Bind runs: from the batch's Parse (`parse`,
// empty when none; a named one is remembered for later Binds), or from the statement prepared
// earlier. False when refused (an ERROR went out).
bool ClientConn::scatterParameterTypes(std::string_view parse, std::string_view statement,
                                       std::string_view* types) {
  std::string_view body;
  if (!parse.empty()) {
    std::string_view name = parse.substr(0, parse.find('\0'));
    body = parse.substr(name.size() + 1);
    if (!name.empty()) {
      if (findStatement(name) != nullptr || worker_->config().max_prepared_statements == 0) {
        refuseStatement(
            'P', {"42P05", "prepared statement \"" + std::string(name) + "\" already exists"});
        return false;
      }
      statementTable()[std::string(name)] = worker_->service().internStatement(body);
    }
  } else {
    if (const auto* found = findStatement(statement)) body = (*found)->body;
  }
  const size_t query_end = body.find('\0');
  *types = query_end == std::string_view::npos ? std::string_view("\0\0", 2)
                                               : body.substr(query_end + 1);
  return true;
}

ClientConn::ShardChoice ClientConn::startScatter(ScatterRequest request, size_t consumed) {
  stream_.in().consume(consumed);
  armWaitTimer();  // query_wait_timeout for the legs still waiting for a server
  request_start_ms_ = worker_->now();
  scatter_ = std::make_unique<ScatterSession>(this, std::move(request));
  setState(State::kScatter);
  scatter_starting_ = true;
  scatter_->start();
  scatter_starting_ = false;
  return ShardChoice::kScatter;
}

void ClientConn::scatterOutput(std::string_view bytes) { stream_.append(bytes); }

// The scatter's ReadyForQuery is out: the client is read again (its next messages may already
// be in the input buffer).
void ClientConn::onScatterOver() {
  worker_->loop().dispose(scatter_.release());
  setState(State::kIdle);
  armIdleTimers();
  if (worker_->draining()) {
    // As after a transaction: the statement that was running has ended; the client moves or
    // goes now.
    flushToClient();
    if (state_ != State::kClosed) retire();
    if (state_ == State::kClosed) return;
  }
  if (scatter_starting_) return;  // forwardMessages goes on with the input
  processInput();
  if (state_ == State::kIdle && read_pending_) readInput();
}

}  // namespace sg::pg

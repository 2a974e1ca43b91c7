// ClientConn: which shard of a sharded database runs the client's next transaction. Decided
// before a server is asked for, from (strongest first) a comment hint, SET scalegate.shard /
// sharding_key, or the sharding key's values in the statement (constants, or $n read from the
// Bind). A statement whose keys are on several shards, or on none it can tell, is refused here
// with an ERROR (the session goes on) until scatter-gather is wired in.
#include "pg/client_conn.h"
#include "pg/pg_service.h"
#include "pg/pg_worker.h"
#include "pg/route/classifier.h"
#include "pg/route/shard_key.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

// One bound parameter of a Bind payload: its bytes (nullopt: NULL) and format.
struct BoundValue {
  std::optional<std::string_view> value;
  shard::Format format = shard::Format::kText;
};

bool readBoundValue(std::string_view bind, int32_t number, BoundValue* out) {
  PayloadReader reader(bind);
  std::string_view portal, statement;
  int16_t formats = 0, count = 0;
  if (!reader.readString(&portal) || !reader.readString(&statement) || !reader.readInt16(&formats))
    return false;
  std::vector<int16_t> codes(static_cast<size_t>(std::max<int16_t>(formats, 0)));
  for (auto& code : codes) {
    if (!reader.readInt16(&code)) return false;
  }
  if (!reader.readInt16(&count) || number < 1 || number > count) return false;
  for (int32_t i = 1; i <= number; ++i) {
    int32_t length = 0;
    std::string_view bytes;
    if (!reader.readInt32(&length)) return false;
    if (length >= 0 && !reader.readBytes(static_cast<size_t>(length), &bytes)) return false;
    if (i < number) continue;
    int16_t code = codes.empty() ? 0 : codes.size() == 1 ? codes[0] : codes[i - 1];
    out->format = code == 1 ? shard::Format::kBinary : shard::Format::kText;
    out->value = length < 0 ? std::nullopt : std::optional<std::string_view>(bytes);
  }
  return true;
}

bool needsParameter(const route::ShardKeys& keys) {
  for (const auto* list : {&keys.values, &keys.insert_rows}) {
    for (const route::KeyValue& key : *list) {
      if (key.kind == route::KeyValueKind::kParameter ||
          key.kind == route::KeyValueKind::kParameterArray)
        return true;
    }
  }
  return false;
}

}  // namespace

// The Bind that follows the Parse at the head of the input, within the same batch (a driver
// sends Parse, Bind, Describe, Execute, Sync together, not always in one packet). Empty with
// *complete false: not read yet; empty with *complete true: the batch has none (a prepare,
// ended by Sync or by Flush: asyncpg sends Parse, Describe, Flush and waits).
std::string_view ClientConn::bindAfterParse(bool* complete) {
  const auto& in = stream_.in();
  std::string_view rest(in.data(), in.size());
  *complete = true;
  while (rest.size() >= 5) {
    const int32_t length = readBigEndian32(rest.data() + 1);
    if (length < 4 || static_cast<size_t>(length) + 1 > rest.size()) break;
    if (rest[0] == 'B') return rest.substr(5, static_cast<size_t>(length) - 4);
    if (rest[0] == 'S' || rest[0] == 'H') return {};  // a Flush: the client waits (asyncpg)
    rest.remove_prefix(static_cast<size_t>(length) + 1);
  }
  *complete = false;
  return {};
}

// The shard of one key value found in the statement; an error message when it has none.
std::variant<uint32_t, shard::KeyError> ClientConn::shardOfKey(const route::KeyValue& key,
                                                               std::string_view bind) const {
  const auto& function = *database_config_->sharding.function;
  if (key.kind != route::KeyValueKind::kParameter) {
    if (key.kind == route::KeyValueKind::kParameterArray) {
      return shard::KeyError{"0A000", "a sharding key bound as an array spans shards"};
    }
    return function.shardOf(key.text, shard::Format::kText);
  }
  BoundValue bound;
  if (bind.empty() || !readBoundValue(bind, key.param, &bound)) {
    return shard::KeyError{"08P01", "the sharding key's parameter $" + std::to_string(key.param) +
                                        " is not in the batch's Bind"};
  }
  if (!bound.value) return function.shardOfNull();
  return function.shardOf(*bound.value, bound.format);
}

// The shard of a statement's keys: one shard, or an error (several shards, or all of them).
std::variant<uint32_t, shard::KeyError> ClientConn::shardOfKeys(const route::ShardKeys& keys,
                                                                std::string_view bind) const {
  if (keys.scope == route::KeyScope::kNoShardedTable) return current_shard_;
  if (keys.scope == route::KeyScope::kAllShards) {
    return shard::KeyError{"0A000", "scalegate: the statement does not name one shard (" +
                                        keys.reason +
                                        "); cross-shard queries are not supported yet"};
  }
  std::optional<uint32_t> shard;
  const auto& values = keys.insert_rows.empty() ? keys.values : keys.insert_rows;
  for (const route::KeyValue& key : values) {
    auto one = shardOfKey(key, bind);
    if (std::holds_alternative<shard::KeyError>(one)) return one;
    if (shard && *shard != std::get<uint32_t>(one)) {
      return shard::KeyError{"0A000", keys.insert_rows.empty()
                                          ? "scalegate: the statement's keys are on several "
                                            "shards; cross-shard queries are not supported yet"
                                          : "scalegate: the rows of one INSERT go to different "
                                            "shards: send one INSERT per shard"};
    }
    shard = std::get<uint32_t>(one);
  }
  return shard.value_or(current_shard_);
}

// Chooses current_shard_ for the transaction starting with this message: kChosen; kRefused
// (an ERROR went out; the caller drops the message); kNeedMore (the key is a parameter whose
// Bind has not arrived: read on).
ClientConn::ShardChoice ClientConn::chooseShard(char type, std::string_view payload,
                                                bool in_transaction) {
  const auto& sharding = database_config_->sharding;
  // A deferred BEGIN waits for a message that decides the shard (client_transaction.cpp).
  if (!in_transaction) hold_begin_ = type != 'Q' && type != 'B' && type != 'F';
  std::string_view text = type == 'B' ? boundStatementText(payload) : statementText(type, payload);
  if (type == 'B' && text.empty()) text = undecidedParseText(payload);
  if (type == 'P') undecided_parse_.clear();
  if (text.empty()) return ShardChoice::kChosen;  // keeps the current shard
  auto found = worker_->shardKeys(*database_config_).find(text, worker_->classifier());
  const route::StatementClass& verdict = *found.verdict;
  std::string_view bind = type == 'B' ? payload : std::string_view();
  bool batch_complete = true;
  if (type == 'P') bind = bindAfterParse(&batch_complete);
  std::variant<uint32_t, shard::KeyError> chosen = current_shard_;
  switch (
      route::shardSource(verdict, shard_setting_.has_value(), sharding_key_setting_.has_value())) {
    case route::ShardSource::kCommentShard:
      chosen = *verdict.shard_hint;
      break;
    case route::ShardSource::kCommentKey:
      chosen = sharding.function->shardOf(*verdict.sharding_key_hint, shard::Format::kText);
      break;
    case route::ShardSource::kSessionShard:
      chosen = *shard_setting_;
      break;
    case route::ShardSource::kSessionKey:
      chosen = sharding.function->shardOf(*sharding_key_setting_, shard::Format::kText);
      break;
    case route::ShardSource::kStatementKeys:
      if (type == 'P' && bind.empty() && needsParameter(found.keys->combined)) {
        // Prepared without a Bind in its batch: the Bind that runs it chooses the shard.
        if (!batch_complete) return ShardChoice::kNeedMore;
        if (payload[0] == '\0') undecided_parse_.assign(payload);  // unnamed: kept for its Bind
        return ShardChoice::kChosen;
      }
      chosen = shardOfKeys(found.keys->combined, bind);
      break;
  }
  if (auto* error = std::get_if<shard::KeyError>(&chosen)) {
    return refuseShard(type, *error, in_transaction);
  }
  const uint32_t shard = std::get<uint32_t>(chosen);
  if (shard >= sharding.shards.size()) {
    return refuseShard(
        type,
        {"22023", "scalegate: there is no shard " + std::to_string(shard) + " (shards 0 to " +
                      std::to_string(sharding.shards.size() - 1) + ")"},
        in_transaction);
  }
  if (in_transaction) return keepTransactionShard(type, shard);
  current_shard_ = shard;
  hold_begin_ = false;
  return ShardChoice::kChosen;
}

// An ERROR for a statement the proxy will not run; a simple Query ends with ReadyForQuery, an
// extended batch is skipped up to its Sync (as a server does after an error).
void ClientConn::refuseStatement(char type, const shard::KeyError& error) {
  appendErrorResponse(&stream_.out(), "ERROR", error.sqlstate, error.message);
  if (type == 'Q') {
    appendReadyForQuery(&stream_.out(), transaction_status_);
  } else {
    proxy_failed_ = true;
  }
}

}  // namespace sg::pg

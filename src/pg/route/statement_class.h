#pragma once
// The read/write verdict for one statement text (a simple Query's whole text, or a Parse's
// statement): where it may run, what it does to the transaction and session, and the proxy's
// own hints and settings found in it. Computed from PostgreSQL 15's parse tree (libpg_query);
// StatementClassifier (classifier.h) caches it per text.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pg/route/comment_hints.h"
#include "pg/route/function_allow_list.h"

struct PgQuery__ParseResult;  // pg_query/pg_query.pb-c.h

namespace sg::pg::route {

enum class Target : uint8_t {
  kReplicaOk,  // reads only: a replica may run it (outside a read-write transaction)
  kPrimary,
};

enum class TxnControlKind : uint8_t {
  kBegin,     // BEGIN and START TRANSACTION
  kCommit,    // COMMIT and END
  kRollback,  // ROLLBACK and ABORT
  kSavepoint,
  kRelease,
  kRollbackTo,
  kPrepareTransaction,
  kCommitPrepared,
  kRollbackPrepared,
  kSetTransaction,             // SET TRANSACTION ... (the current transaction)
  kSetSessionCharacteristics,  // SET SESSION CHARACTERISTICS AS TRANSACTION ... (later ones)
};

enum class TxnAccess : uint8_t { kUnspecified, kReadOnly, kReadWrite };

struct TxnControl {
  TxnControlKind kind = TxnControlKind::kBegin;
  TxnAccess access = TxnAccess::kUnspecified;  // READ ONLY / READ WRITE when given
  bool chain = false;                          // COMMIT / ROLLBACK AND CHAIN
  bool operator==(const TxnControl&) const = default;
};

// SET scalegate.route = primary | replica | auto (RESET and DEFAULT mean auto).
enum class RouteSetting : uint8_t { kPrimary, kReplica, kAuto };

// SET scalegate.shard = N / scalegate.sharding_key = 'v'; nullopt values are RESET or DEFAULT.
struct ShardSetting {
  std::optional<uint32_t> shard;
  bool operator==(const ShardSetting&) const = default;
};
struct ShardingKeySetting {
  std::optional<std::string> key;
  bool operator==(const ShardingKeySetting&) const = default;
};

// SET scalegate.lsn = 'X/Y': this client's reads wait for replicas to replay that WAL
// position (read_your_writes: lsn), e.g. a position another connection wrote at. nullopt:
// RESET or DEFAULT.
struct LsnSetting {
  std::optional<uint64_t> lsn;
  bool operator==(const LsnSetting&) const = default;
};

struct StatementClass {
  Target target = Target::kPrimary;
  // The primary verdict rests only on things not known to be read-only (a function off the
  // allow-list, EXECUTE of a prepared statement, a plain BEGIN): a replica hint moved it, or
  // the caller's scalegate.route = replica may. False for certain writes, DDL, locks and
  // session changes, which no hint or setting moves.
  bool replica_overridable = false;
  // Session state changed (session SET/RESET, PREPARE, LISTEN, temporary table, WITH HOLD
  // cursor, session advisory lock, ...): the client must stay on the primary from now on.
  bool sticky = false;
  std::vector<TxnControl> txn;                   // transaction control statements, in text order
  std::optional<RouteHint> hint;                 // from a comment
  std::optional<uint32_t> shard_hint;            // from a comment (no routing by it yet)
  std::optional<std::string> sharding_key_hint;  // from a comment (no routing by it yet)
  // SET/RESET of the proxy's own scalegate.* settings: the caller applies them and never
  // sends them to a server.
  std::optional<RouteSetting> set_route;
  std::optional<ShardSetting> set_shard;
  std::optional<ShardingKeySetting> set_sharding_key;
  std::optional<LsnSetting> set_lsn;
  // SHOW scalegate.lsn / scalegate.route: the caller answers with its value.
  std::string show_setting;
  // Every statement of the text is a scalegate.* setting: the caller answers it (SET)
  // without a server.
  bool proxy_only = false;
  // A scalegate.* setting the caller must refuse with this message (unknown name, bad value,
  // SET LOCAL, or mixed with statements for the server).
  std::string setting_error;
  bool parse_error = false;  // routed to the primary, whose parser answers the error
  size_t statements = 0;     // statements in the text
  std::string reason;        // short, for logs and tests: "write: UpdateStmt", "FOR UPDATE"
};

// Called with the text's parse tree when the text parses, before the tree is freed, so that
// another reader of the same text (the shard key finder, shard_key.h) needs no parse of its own.
using ParseTreeReader = std::function<void(const PgQuery__ParseResult&)>;

// Never throws and never crashes on any input (libpg_query reports its own errors, including
// its stack depth limit). Thread-safe: libpg_query keeps its memory context per thread.
StatementClass classifyStatement(std::string_view sql, const FunctionAllowList& functions,
                                 const ParseTreeReader& also_read = {});

// PostgreSQL's text form of a WAL position (pg_lsn): two hexadecimal halves, "16/B374D848".
bool parseLsn(std::string_view text, uint64_t* out);
std::string formatLsn(uint64_t lsn);

}  // namespace sg::pg::route

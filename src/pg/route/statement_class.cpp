#include "pg/route/statement_class.h"

// Parse trees come from pg_query_parse_protobuf, read through protobuf-c's generated structs,
// rather than pg_query_parse's JSON read with Boost.JSON. Measured (route_bench), JSON is about
// 3x cheaper uncached (6 us against 18 us for a point select), but: protobuf is what
// pg_query_deparse_protobuf takes (the later scatter-gather rewrites); the descriptors let one
// generic walk reach every child of every node type (the JSON form leaves typed fields such as
// larg and into_clause without their type name); and the verdict cache makes the parse a cost
// per distinct text, not per execution. docs/postgres.md has the figures.
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "pg/route/pg_tree.h"

namespace sg::pg::route {

namespace {

// Far deeper than any real query; a guard for this walk's recursion (the parser has its own
// stack depth check). Deeper trees go to the primary.
constexpr int kMaxWalkDepth = 20000;

using tree::as;
using tree::is;
using tree::Message;
using tree::nodeValue;
using tree::stringValue;

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// A constant's text (strings and identifiers as written, integers in decimal); nullopt for
// anything else.
std::optional<std::string> constantText(const PgQuery__Node* node) {
  const Message* m = nodeValue(node);
  if (m == nullptr) return std::nullopt;
  if (is(m, pg_query__string__descriptor)) {
    return std::string(reinterpret_cast<const PgQuery__String*>(m)->sval);
  }
  if (is(m, pg_query__integer__descriptor)) {
    return std::to_string(reinterpret_cast<const PgQuery__Integer*>(m)->ival);
  }
  if (!is(m, pg_query__a__const__descriptor)) return std::nullopt;
  const auto* constant = reinterpret_cast<const PgQuery__AConst*>(m);
  switch (constant->val_case) {
    case PG_QUERY__A__CONST__VAL_SVAL:
      return std::string(constant->sval->sval);
    case PG_QUERY__A__CONST__VAL_IVAL:
      return std::to_string(constant->ival->ival);
    case PG_QUERY__A__CONST__VAL_FVAL:
      return std::string(constant->fval->fval);
    case PG_QUERY__A__CONST__VAL_BOOLVAL:
      return constant->boolval->boolval ? "true" : "false";
    default:
      return std::nullopt;
  }
}

// DefElem's boolean as PostgreSQL's defGetBoolean reads it; no argument means true.
std::optional<bool> defElemBool(const PgQuery__DefElem* def) {
  if (def->arg == nullptr) return true;
  const std::optional<std::string> text = constantText(def->arg);
  if (!text) return std::nullopt;
  for (const char* yes : {"true", "on", "1"}) {
    if (equalsIgnoringCase(*text, yes)) return true;
  }
  for (const char* no : {"false", "off", "0"}) {
    if (equalsIgnoringCase(*text, no)) return false;
  }
  return std::nullopt;
}

const PgQuery__DefElem* asDefElem(const PgQuery__Node* node) {
  return as<PgQuery__DefElem>(node, pg_query__def_elem__descriptor);
}

// READ ONLY / READ WRITE among transaction options (BEGIN, SET TRANSACTION, ...).
TxnAccess accessOf(PgQuery__Node* const* options, size_t count) {
  TxnAccess access = TxnAccess::kUnspecified;
  for (size_t i = 0; i < count; ++i) {
    const PgQuery__DefElem* def = asDefElem(options[i]);
    if (def == nullptr || std::strcmp(def->defname, "transaction_read_only") != 0) continue;
    const std::optional<bool> read_only = defElemBool(def);
    if (read_only) access = *read_only ? TxnAccess::kReadOnly : TxnAccess::kReadWrite;
  }
  return access;
}

bool isTemporary(const PgQuery__RangeVar* relation) {
  return relation != nullptr && relation->relpersistence != nullptr &&
         relation->relpersistence[0] == 't';
}

// What the statements of one text need, gathered statement by statement.
struct Verdict {
  bool primary = false;
  bool certain = false;  // some reason no hint or route setting may override
  bool sticky = false;
  std::string reason;  // the first certain reason, else the first uncertain one

  void needPrimary(std::string_view why, bool certain_write) {
    if (!primary || (certain_write && !certain)) reason = std::string(why);
    primary = true;
    certain = certain || certain_write;
  }
  void needSticky(std::string_view why) {
    needPrimary(why, true);
    sticky = true;
  }
};

}  // namespace

namespace {

class TextClassifier {
 public:
  TextClassifier(const FunctionAllowList& functions, StatementClass& out)
      : functions_(functions), out_(out) {}

  void classifyTopLevel(const PgQuery__Node* node) {
    const Message* stmt = nodeValue(node);
    if (stmt == nullptr) return;
    if (is(stmt, pg_query__variable_set_stmt__descriptor)) {
      const auto* set = reinterpret_cast<const PgQuery__VariableSetStmt*>(stmt);
      if (isProxySetting(set->name)) return proxySetting(set);
    }
    if (is(stmt, pg_query__variable_show_stmt__descriptor)) {
      const auto* show = reinterpret_cast<const PgQuery__VariableShowStmt*>(stmt);
      if (isProxySetting(show->name)) return proxyShow(show->name);
    }
    classify(stmt);
  }

  const Verdict& verdict() const { return verdict_; }
  size_t proxySettings() const { return proxy_settings_; }

 private:
  // One statement; also the statement inside EXPLAIN ANALYZE, COPY (...) TO and DECLARE.
  void classify(const Message* stmt) {
    const auto& d = *stmt->descriptor;
    if (&d == &pg_query__select_stmt__descriptor) return walk(stmt);
    if (&d == &pg_query__insert_stmt__descriptor || &d == &pg_query__update_stmt__descriptor ||
        &d == &pg_query__delete_stmt__descriptor || &d == &pg_query__merge_stmt__descriptor) {
      verdict_.needPrimary(std::string("write: ") + d.short_name, true);
      return walk(stmt);
    }
    if (&d == &pg_query__explain_stmt__descriptor) {
      return explain(reinterpret_cast<const PgQuery__ExplainStmt*>(stmt));
    }
    if (&d == &pg_query__copy_stmt__descriptor) {
      return copy(reinterpret_cast<const PgQuery__CopyStmt*>(stmt));
    }
    if (&d == &pg_query__transaction_stmt__descriptor) {
      return transaction(reinterpret_cast<const PgQuery__TransactionStmt*>(stmt));
    }
    if (&d == &pg_query__variable_set_stmt__descriptor) {
      return variableSet(reinterpret_cast<const PgQuery__VariableSetStmt*>(stmt));
    }
    if (&d == &pg_query__declare_cursor_stmt__descriptor) {
      return declareCursor(reinterpret_cast<const PgQuery__DeclareCursorStmt*>(stmt));
    }
    // SHOW, and cursor commands (a cursor lives in its transaction, which the caller tracks).
    if (&d == &pg_query__variable_show_stmt__descriptor ||
        &d == &pg_query__fetch_stmt__descriptor || &d == &pg_query__close_portal_stmt__descriptor) {
      return;
    }
    if (&d == &pg_query__execute_stmt__descriptor) {
      return verdict_.needPrimary("EXECUTE of a prepared statement", false);
    }
    if (&d == &pg_query__prepare_stmt__descriptor || &d == &pg_query__deallocate_stmt__descriptor ||
        &d == &pg_query__discard_stmt__descriptor || &d == &pg_query__listen_stmt__descriptor ||
        &d == &pg_query__unlisten_stmt__descriptor || &d == &pg_query__load_stmt__descriptor) {
      return verdict_.needSticky(std::string("session state: ") + d.short_name);
    }
    if (&d == &pg_query__create_table_as_stmt__descriptor) {
      const auto* create = reinterpret_cast<const PgQuery__CreateTableAsStmt*>(stmt);
      if (create->into != nullptr && isTemporary(create->into->rel)) {
        return verdict_.needSticky("temporary table");
      }
    }
    if (&d == &pg_query__create_stmt__descriptor &&
        isTemporary(reinterpret_cast<const PgQuery__CreateStmt*>(stmt)->relation)) {
      return verdict_.needSticky("temporary table");
    }
    // DDL, LOCK, NOTIFY, DO, CALL, VACUUM, ANALYZE, CHECKPOINT, ... and anything newer.
    verdict_.needPrimary(std::string("write: ") + d.short_name, true);
  }

  // EXPLAIN runs its statement only with ANALYZE; without, it only needs the statement to
  // exist where it runs (EXPLAIN EXECUTE needs the session that prepared it).
  void explain(const PgQuery__ExplainStmt* stmt) {
    const Message* inner = nodeValue(stmt->query);
    if (inner == nullptr) return;
    bool analyze = false;
    for (size_t i = 0; i < stmt->n_options; ++i) {
      const PgQuery__DefElem* def = asDefElem(stmt->options[i]);
      if (def != nullptr && std::strcmp(def->defname, "analyze") == 0) {
        analyze = defElemBool(def).value_or(true);
      }
    }
    if (analyze) return classify(inner);
    if (is(inner, pg_query__execute_stmt__descriptor)) {
      verdict_.needPrimary("EXPLAIN EXECUTE of a prepared statement", false);
    }
  }

  void copy(const PgQuery__CopyStmt* stmt) {
    if (stmt->is_from) return verdict_.needPrimary("COPY FROM", true);
    // TO a server file or program: a side effect on that server, so the primary's.
    if (stmt->is_program || (stmt->filename != nullptr && stmt->filename[0] != '\0')) {
      return verdict_.needPrimary("COPY TO a server file or program", true);
    }
    if (const Message* query = nodeValue(stmt->query)) classify(query);
  }

  void declareCursor(const PgQuery__DeclareCursorStmt* stmt) {
    constexpr int32_t kCursorOptHold = 0x0020;  // PostgreSQL's CURSOR_OPT_HOLD
    if (stmt->options & kCursorOptHold) return verdict_.needSticky("DECLARE ... WITH HOLD");
    if (const Message* query = nodeValue(stmt->query)) classify(query);
  }

  void transaction(const PgQuery__TransactionStmt* stmt);
  void variableSet(const PgQuery__VariableSetStmt* stmt);
  static bool isProxySetting(const char* name);
  void proxySetting(const PgQuery__VariableSetStmt* stmt);
  void proxyShow(const std::string& name);
  void settingError(std::string message);

  void walk(const Message* root) { visit(root, root, 0); }
  void visit(const Message* root, const Message* m, int depth);
  void inspect(const Message* root, const Message* m);
  void functionCall(const PgQuery__FuncCall* call);

  const FunctionAllowList& functions_;
  StatementClass& out_;
  Verdict verdict_;
  size_t proxy_settings_ = 0;
};

void TextClassifier::transaction(const PgQuery__TransactionStmt* stmt) {
  TxnControl control;
  control.chain = stmt->chain;
  switch (stmt->kind) {
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
      control.kind = TxnControlKind::kBegin;
      control.access = accessOf(stmt->options, stmt->n_options);
      // A transaction not declared READ ONLY may write: what follows it belongs to the primary.
      if (control.access != TxnAccess::kReadOnly) {
        verdict_.needPrimary("read-write transaction", false);
      }
      break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
      control.kind = TxnControlKind::kCommit;
      break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
      control.kind = TxnControlKind::kRollback;
      break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT:
      control.kind = TxnControlKind::kSavepoint;
      break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
      control.kind = TxnControlKind::kRelease;
      break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
      control.kind = TxnControlKind::kRollbackTo;
      break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE:
      control.kind = TxnControlKind::kPrepareTransaction;
      verdict_.needPrimary("PREPARE TRANSACTION", true);
      break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED:
      control.kind = TxnControlKind::kCommitPrepared;
      verdict_.needPrimary("COMMIT PREPARED", true);
      break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
      control.kind = TxnControlKind::kRollbackPrepared;
      verdict_.needPrimary("ROLLBACK PREPARED", true);
      break;
    default:
      return verdict_.needPrimary("write: TransactionStmt", true);
  }
  out_.txn.push_back(control);
}

void TextClassifier::variableSet(const PgQuery__VariableSetStmt* stmt) {
  const std::string_view name = stmt->name != nullptr ? stmt->name : "";
  if (stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI && name == "TRANSACTION") {
    const TxnAccess access = accessOf(stmt->args, stmt->n_args);
    out_.txn.push_back({TxnControlKind::kSetTransaction, access, false});
    if (access == TxnAccess::kReadWrite) verdict_.needPrimary("read-write transaction", false);
    return;
  }
  if (stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI &&
      name == "SESSION CHARACTERISTICS") {
    out_.txn.push_back(
        {TxnControlKind::kSetSessionCharacteristics, accessOf(stmt->args, stmt->n_args), false});
    return verdict_.needSticky("SET SESSION CHARACTERISTICS");
  }
  if (stmt->is_local) return;  // ends with the transaction; runs where the transaction runs
  if (stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) {
    return verdict_.needSticky("session RESET ALL");
  }
  const bool reset = stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET;
  verdict_.needSticky(std::string(reset ? "session RESET " : "session SET ") + std::string(name));
}

bool TextClassifier::isProxySetting(const char* name) {
  return name != nullptr && std::strncmp(name, "scalegate.", 10) == 0;
}

void TextClassifier::settingError(std::string message) {
  if (out_.setting_error.empty()) out_.setting_error = std::move(message);
}

void TextClassifier::proxySetting(const PgQuery__VariableSetStmt* stmt) {
  ++proxy_settings_;
  const std::string name = stmt->name;
  if (stmt->is_local) return settingError("SET LOCAL is not supported for " + name);
  const bool to_default = stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
                          stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT;
  std::optional<std::string> value;
  if (!to_default) {
    if (stmt->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE || stmt->n_args != 1 ||
        !(value = constantText(stmt->args[0]))) {
      return settingError(name + " takes one value");
    }
  }
  if (name == "scalegate.route") {
    if (!value || equalsIgnoringCase(*value, "auto")) {
      out_.set_route = RouteSetting::kAuto;
    } else if (equalsIgnoringCase(*value, "primary")) {
      out_.set_route = RouteSetting::kPrimary;
    } else if (equalsIgnoringCase(*value, "replica")) {
      out_.set_route = RouteSetting::kReplica;
    } else {
      settingError("scalegate.route must be primary, replica or auto");
    }
  } else if (name == "scalegate.shard") {
    ShardSetting setting;
    if (value) {
      const bool digits = !value->empty() && value->size() <= 9 &&
                          value->find_first_not_of("0123456789") == std::string::npos;
      if (!digits) return settingError("scalegate.shard must be a shard number");
      setting.shard = static_cast<uint32_t>(std::stoul(*value));
    }
    out_.set_shard = setting;
  } else if (name == "scalegate.sharding_key") {
    out_.set_sharding_key = ShardingKeySetting{value};
  } else if (name == "scalegate.lsn") {
    uint64_t lsn = 0;
    if (value && !parseLsn(*value, &lsn)) {
      return settingError("scalegate.lsn must be a WAL position such as 0/16B3748");
    }
    out_.set_lsn = LsnSetting{value ? std::optional<uint64_t>(lsn) : std::nullopt};
  } else {
    settingError("unknown setting " + name);
  }
}

void TextClassifier::proxyShow(const std::string& name) {
  ++proxy_settings_;
  if (name != "scalegate.lsn" && name != "scalegate.route") {
    return settingError("unknown setting " + name);
  }
  if (out_.show_setting.empty()) out_.show_setting = name;
}

// Every child message, through protobuf-c's descriptors: a node type added to the grammar
// cannot hide a subquery or a function call from this walk.
void TextClassifier::visit(const Message* root, const Message* m, int depth) {
  if (depth > kMaxWalkDepth) return verdict_.needPrimary("nesting too deep to classify", true);
  if (is(m, pg_query__node__descriptor)) {
    const Message* value = nodeValue(reinterpret_cast<const PgQuery__Node*>(m));
    if (value != nullptr) visit(root, value, depth + 1);
    return;
  }
  inspect(root, m);
  tree::forEachChildMessage(m, nullptr,
                            [&](const Message* child) { visit(root, child, depth + 1); });
}

void TextClassifier::inspect(const Message* root, const Message* m) {
  const ProtobufCMessageDescriptor* d = m->descriptor;
  if (d == &pg_query__func_call__descriptor) {
    return functionCall(reinterpret_cast<const PgQuery__FuncCall*>(m));
  }
  if (d == &pg_query__select_stmt__descriptor) {
    const auto* select = reinterpret_cast<const PgQuery__SelectStmt*>(m);
    if (select->into_clause != nullptr) {
      if (isTemporary(select->into_clause->rel)) return verdict_.needSticky("temporary table");
      verdict_.needPrimary("SELECT INTO", true);
    }
    for (size_t i = 0; i < select->n_locking_clause; ++i) {
      const auto* clause = as<PgQuery__LockingClause>(select->locking_clause[i],
                                                      pg_query__locking_clause__descriptor);
      if (clause == nullptr) continue;
      switch (clause->strength) {
        case PG_QUERY__LOCK_CLAUSE_STRENGTH__LCS_FORKEYSHARE:
          verdict_.needPrimary("FOR KEY SHARE", true);
          break;
        case PG_QUERY__LOCK_CLAUSE_STRENGTH__LCS_FORSHARE:
          verdict_.needPrimary("FOR SHARE", true);
          break;
        case PG_QUERY__LOCK_CLAUSE_STRENGTH__LCS_FORNOKEYUPDATE:
          verdict_.needPrimary("FOR NO KEY UPDATE", true);
          break;
        default:
          verdict_.needPrimary("FOR UPDATE", true);
      }
    }
    return;
  }
  // A data-modifying statement below the top: WITH x AS (INSERT/UPDATE/DELETE ...), at any depth.
  if (m != root &&
      (d == &pg_query__insert_stmt__descriptor || d == &pg_query__update_stmt__descriptor ||
       d == &pg_query__delete_stmt__descriptor || d == &pg_query__merge_stmt__descriptor)) {
    verdict_.needPrimary(std::string("writing CTE: ") + d->short_name, true);
  }
}

void TextClassifier::functionCall(const PgQuery__FuncCall* call) {
  if (call->n_funcname == 0) return;
  std::string qualifier;
  for (size_t i = 0; i + 1 < call->n_funcname; ++i) {
    if (!qualifier.empty()) qualifier += '.';
    qualifier += stringValue(call->funcname[i]);
  }
  const std::string_view name = stringValue(call->funcname[call->n_funcname - 1]);
  const auto full = [&] {
    return qualifier.empty() ? std::string(name) : qualifier + "." + std::string(name);
  };
  switch (functions_.lookup(qualifier, name)) {
    case FunctionKind::kReadOnly:
      return;
    case FunctionKind::kUnknown:
      return verdict_.needPrimary("function " + full(), false);
    case FunctionKind::kWrites:
      return verdict_.needPrimary("function " + full(), true);
    case FunctionKind::kSessionState:
      return verdict_.needSticky("function " + full());
  }
}

// The whole text's verdict, then the comment hint applied to it.
void finish(const TextClassifier& classifier, StatementClass& out) {
  const Verdict& verdict = classifier.verdict();
  out.sticky = verdict.sticky;
  const size_t settings = classifier.proxySettings();
  out.proxy_only = settings > 0 && settings == out.statements;
  if (settings > 0 && !out.proxy_only && out.setting_error.empty()) {
    out.setting_error = "scalegate.* settings must be sent in a query of their own";
  }
  if (verdict.primary) {
    out.target = Target::kPrimary;
    out.replica_overridable = !verdict.certain;
    out.reason = verdict.reason;
  } else {
    out.target = Target::kReplicaOk;
    out.reason = out.statements == 0 ? "empty query" : out.proxy_only ? "proxy setting" : "read";
  }
}

// A primary hint always wins. A replica hint moves only what is primary for want of knowledge
// (replica_overridable); a certain write, a session change or a parse error stays on the
// primary, and the reason says the hint was refused.
void applyHint(StatementClass& out) {
  if (!out.hint) return;
  if (*out.hint == RouteHint::kPrimary) {
    if (out.target != Target::kPrimary) out.reason = "hint: primary";
    out.target = Target::kPrimary;
    out.replica_overridable = false;
    return;
  }
  if (out.target != Target::kPrimary) return;
  if (out.replica_overridable) {
    out.target = Target::kReplicaOk;
    out.reason = "hint: replica over " + out.reason;
    return;
  }
  out.reason = "replica hint refused: " + out.reason;
}

// `primary` is a reserved word of PostgreSQL's grammar (PRIMARY KEY), so its parser rejects
// SET scalegate.route = primary unless the value is quoted. This recognizes that one statement
// (comments allowed) when the parser has refused the text.
bool isUnquotedPrimaryRouteSet(std::string_view sql) {
  std::string text(sql);
  for (const CommentSpan& comment : findComments(sql)) {
    std::fill(text.begin() + comment.begin, text.begin() + comment.end, ' ');
  }
  std::vector<std::string> tokens;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '=' || c == ';') {
      flush();
      if (c == '=' || c == ';') tokens.emplace_back(1, c);
    } else {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  flush();
  while (!tokens.empty() && tokens.back() == ";") tokens.pop_back();
  if (tokens.size() == 5 && tokens[1] == "session") tokens.erase(tokens.begin() + 1);
  return tokens.size() == 4 && tokens[0] == "set" && tokens[1] == "scalegate.route" &&
         (tokens[2] == "=" || tokens[2] == "to") && tokens[3] == "primary";
}

// Every statement of a parsed text, then the reader that shares its tree, then the verdict.
void classifyTree(const PgQuery__ParseResult& tree, const FunctionAllowList& functions,
                  StatementClass& out, const ParseTreeReader& also_read) {
  TextClassifier classifier(functions, out);
  out.statements = tree.n_stmts;
  for (size_t i = 0; i < tree.n_stmts; ++i) {
    if (tree.stmts[i] != nullptr) classifier.classifyTopLevel(tree.stmts[i]->stmt);
  }
  if (also_read) also_read(tree);
  finish(classifier, out);
}

void parseFailed(std::string_view sql, StatementClass& out) {
  if (isUnquotedPrimaryRouteSet(sql)) {
    out.statements = 1;
    out.set_route = RouteSetting::kPrimary;
    out.proxy_only = true;
    out.target = Target::kReplicaOk;
    out.reason = "proxy setting";
    return;
  }
  out.parse_error = true;
  out.target = Target::kPrimary;
  out.reason = "parse error: " + out.reason;
}

}  // namespace

bool parseLsn(std::string_view text, uint64_t* out) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 8 || text.size() - slash - 1 == 0 ||
      text.size() - slash - 1 > 8) {
    return false;
  }
  uint64_t high = 0, low = 0;
  auto hex = [](std::string_view digits, uint64_t* value) {
    for (char c : digits) {
      int digit = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
      if (digit < 0) return false;
      *value = *value * 16 + static_cast<uint64_t>(digit);
    }
    return true;
  };
  if (!hex(text.substr(0, slash), &high) || !hex(text.substr(slash + 1), &low)) return false;
  *out = high << 32 | low;
  return true;
}

std::string formatLsn(uint64_t lsn) {
  char text[32];
  std::snprintf(text, sizeof(text), "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xFFFFFFFFu));
  return text;
}

StatementClass classifyStatement(std::string_view sql, const FunctionAllowList& functions,
                                 const ParseTreeReader& also_read) {
  // The wire protocol's strings end at a NUL; the server reads no further, nor do we.
  sql = sql.substr(0, sql.find('\0'));
  StatementClass out;
  SqlScan scan;
  std::string error;
  const auto use = [&](const PgQuery__ParseResult& tree) {
    classifyTree(tree, functions, out, also_read);
  };
  const tree::ParseOutcome outcome = tree::withParseTree(sql, use, error, &scan);
  if (outcome == tree::ParseOutcome::kTooLong) {
    out.reason = "too long to classify";
    return out;
  }
  CommentHints hints = hintsInComments(sql, scan.comments);
  out.hint = hints.route;
  out.shard_hint = hints.shard;
  out.sharding_key_hint = std::move(hints.sharding_key);
  switch (outcome) {
    case tree::ParseOutcome::kTooDeep:
      out.reason = "nesting too deep to classify";
      break;
    case tree::ParseOutcome::kNoThread:
      out.reason = "no thread to classify a long text";
      break;
    case tree::ParseOutcome::kRejected:
      out.reason = std::move(error);
      parseFailed(sql, out);
      break;
    case tree::ParseOutcome::kParsed:
    case tree::ParseOutcome::kTooLong:
      break;
  }
  applyHint(out);
  return out;
}

}  // namespace sg::pg::route

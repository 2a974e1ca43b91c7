// ClientConn: the proxy's own settings, SET / RESET / SHOW scalegate.route and scalegate.lsn,
// answered by the proxy (a server never sees them) while no server is attached: in a simple
// Query, and in the extended protocol (Parse, Bind, Describe, Execute, Close, Sync of a
// statement whose text is only such settings; JDBC and asyncpg send them so).
#include "pg/admin_console.h"
#include "pg/client_conn.h"
#include "pg/pg_worker.h"
#include "pg/route/classifier.h"
#include "pg/route/comment_hints.h"
#include "pg/wire.h"

namespace sg::pg {

namespace {

constexpr std::string_view kSettingPrefix = "scalegate.";

void appendDataRow(std::string* out, std::string_view value) {
  std::string payload;
  appendInt16(&payload, 1);
  appendInt32(&payload, static_cast<int32_t>(value.size()));
  payload.append(value);
  out->push_back('D');
  appendInt32(out, static_cast<int32_t>(payload.size() + 4));
  out->append(payload);
}

void appendEmpty(std::string* out, char type) { out->append({type, 0, 0, 0, 4}); }

}  // namespace

// A simple Query of scalegate.* settings: CommandComplete (or the SHOW's row) and
// ReadyForQuery, or the setting's error. False: not such a query (most often the text does not
// even mention scalegate: no parse).
bool ClientConn::answerProxySetting(std::string_view query_payload) {
  std::string_view text = query_payload.substr(0, query_payload.find('\0'));
  auto verdict = proxyVerdict(text);
  if (verdict == nullptr) return false;
  auto& out = stream_.out();
  if (!verdict->setting_error.empty()) {
    appendErrorResponse(&out, "ERROR", "22023", verdict->setting_error);
  } else if (!verdict->show_setting.empty()) {
    ResultWriter result(&out, {verdict->show_setting.substr(kSettingPrefix.size())}, {});
    result.row({proxyShowValue(verdict->show_setting)});
    result.finish("SHOW");
  } else {
    applyProxySettings(*verdict);
    for (size_t i = 0; i < verdict->statements; ++i) appendCommandComplete(&out, "SET");
  }
  appendReadyForQuery(&out, transaction_status_);
  return true;
}

// The verdict of a text made only of scalegate.* settings (or refused as one); null otherwise.
std::shared_ptr<const route::StatementClass> ClientConn::proxyVerdict(std::string_view text) {
  if (!route::containsScalegate(text)) return nullptr;
  auto verdict = worker_->classifier().classify(text);
  if (!verdict->proxy_only && verdict->setting_error.empty()) return nullptr;
  return verdict;
}

void ClientConn::applyProxySettings(const route::StatementClass& verdict) {
  if (verdict.set_route) route_setting_ = *verdict.set_route;
  if (verdict.set_lsn) carried_lsn_ = verdict.set_lsn->lsn.value_or(0);
  if (verdict.set_shard) shard_setting_ = verdict.set_shard->shard;
  if (verdict.set_sharding_key) {
    const auto& key = verdict.set_sharding_key->key;
    sharding_key_setting_ = key ? std::make_unique<const std::string>(*key) : nullptr;
  }
}

// SHOW scalegate.lsn: the position this client's reads wait for, to hand to another connection
// (SET scalegate.lsn there); 0/0 before any write. SHOW scalegate.route: the setting.
std::string ClientConn::proxyShowValue(const std::string& name) const {
  if (name == "scalegate.lsn") {
    return route::formatLsn(last_write_lsn_ == kLsnUnknown ? carried_lsn_ : neededLsn());
  }
  return route_setting_ == route::RouteSetting::kPrimary   ? "primary"
         : route_setting_ == route::RouteSetting::kReplica ? "replica"
                                                           : "auto";
}

// One extended-protocol message while no server is attached; true when answered here. A
// batch that mixes these statements with others goes to a server from its first other message
// on (what was answered here came first, so the order holds).
bool ClientConn::answerProxyMessage(char type, std::string_view payload) {
  auto& out = stream_.out();
  if (proxy_failed_) {  // after an error, as a server does: everything up to Sync is skipped
    if (type == 'S') {
      proxy_failed_ = proxy_batch_ = false;
      appendReadyForQuery(&out, transaction_status_);
    }
    return true;
  }
  PayloadReader reader(payload);
  std::string_view first, second;
  switch (type) {
    case 'P':
      return reader.readString(&first) && reader.readString(&second) &&
             proxyParse(std::string(first), second);
    case 'B':
      return reader.readString(&first) && reader.readString(&second) &&
             proxyBind(std::string(first), std::string(second));
    case 'D':
    case 'C':
      if (payload.empty() || !reader.readBytes(1, &first) || !reader.readString(&second))
        return false;
      return proxyDescribeOrClose(type, first[0], std::string(second));
    case 'E':
      return reader.readString(&first) && proxyExecute(std::string(first));
    case 'S':
      if (!proxy_batch_) return false;
      proxy_batch_ = false;
      appendReadyForQuery(&out, transaction_status_);
      return true;
    case 'H':
      return proxy_batch_;  // Flush: what is answered is in the output already
    default:
      return false;
  }
}

bool ClientConn::proxyParse(const std::string& name, std::string_view text) {
  auto verdict = proxyVerdict(text.substr(0, text.find('\0')));
  if (verdict == nullptr) {
    // an unnamed statement replaced by one for a server
    if (proxy_tables_ != nullptr) proxy_tables_->statements.erase(name);
    return false;
  }
  proxy_batch_ = true;
  if (!verdict->setting_error.empty()) {
    appendErrorResponse(&stream_.out(), "ERROR", "22023", verdict->setting_error);
    proxy_failed_ = true;
    return true;
  }
  proxyTables().statements[name] = std::move(verdict);
  appendEmpty(&stream_.out(), '1');  // ParseComplete
  return true;
}

ClientConn::ProxyTables& ClientConn::proxyTables() {
  if (proxy_tables_ == nullptr) proxy_tables_ = std::make_unique<ProxyTables>();
  return *proxy_tables_;
}

bool ClientConn::proxyBind(const std::string& portal, const std::string& statement) {
  if (proxy_tables_ == nullptr) return false;
  auto it = proxy_tables_->statements.find(statement);
  if (it == proxy_tables_->statements.end()) {
    proxy_tables_->portals.erase(portal);
    return false;
  }
  proxy_batch_ = true;
  proxy_tables_->portals[portal] = it->second;
  appendEmpty(&stream_.out(), '2');  // BindComplete
  return true;
}

bool ClientConn::proxyDescribeOrClose(char type, char kind, const std::string& name) {
  if (proxy_tables_ == nullptr) return false;
  auto& table = kind == 'S' ? proxy_tables_->statements : proxy_tables_->portals;
  auto it = table.find(name);
  if (it == table.end()) return false;
  proxy_batch_ = true;
  auto& out = stream_.out();
  if (type == 'C') {
    table.erase(it);
    appendEmpty(&out, '3');  // CloseComplete
    return true;
  }
  if (kind == 'S') {  // ParameterDescription: no parameters
    out.append({'t', 0, 0, 0, 6, 0, 0});
  }
  const std::string& show = it->second->show_setting;
  if (show.empty()) {
    appendEmpty(&out, 'n');  // NoData
  } else {
    ResultWriter(&out, {show.substr(kSettingPrefix.size())}, {});  // RowDescription only
  }
  return true;
}

bool ClientConn::proxyExecute(const std::string& portal) {
  if (proxy_tables_ == nullptr) return false;
  auto it = proxy_tables_->portals.find(portal);
  if (it == proxy_tables_->portals.end()) return false;
  proxy_batch_ = true;
  const route::StatementClass& verdict = *it->second;
  auto& out = stream_.out();
  if (!verdict.show_setting.empty()) {
    appendDataRow(&out, proxyShowValue(verdict.show_setting));
    appendCommandComplete(&out, "SHOW");
  } else {
    applyProxySettings(verdict);
    appendCommandComplete(&out, "SET");
  }
  return true;
}

}  // namespace sg::pg

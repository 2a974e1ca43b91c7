#include "pg/route/shard_key.h"

#include <algorithm>
#include <optional>

#include "pg/route/pg_tree.h"
#include "pg/route/shard_key_values.h"

namespace sg::pg::route {

namespace {

using tree::as;
using tree::is;
using tree::Message;
using tree::nodeValue;
using tree::stringValue;

// Far deeper than any real query; deeper trees are all shards.
constexpr int kMaxDepth = 2000;

ShardKeys allShards(std::string reason) {
  ShardKeys keys;
  keys.scope = KeyScope::kAllShards;
  keys.reason = std::move(reason);
  return keys;
}

// The union of two results: the statement touches what either part touches.
void merge(ShardKeys& into, const ShardKeys& part) {
  into.sets_key = into.sets_key || part.sets_key;
  if (into.writes_unsharded.empty()) into.writes_unsharded = part.writes_unsharded;
  if (into.scope == KeyScope::kAllShards || part.scope == KeyScope::kNoShardedTable) return;
  if (part.scope == KeyScope::kAllShards) {
    into.scope = KeyScope::kAllShards;
    into.values.clear();
    into.insert_rows.clear();
    into.reason = part.reason;
    return;
  }
  into.scope = KeyScope::kKeys;
  for (const KeyValue& value : part.values) addDistinct(into.values, value);
}

// A sharded table in a scope's FROM (or an UPDATE/DELETE/INSERT target).
struct TableRef {
  std::string schema, name, alias;
  std::string_view visibleName() const { return alias.empty() ? name : alias; }
};

// One SELECT/UPDATE/DELETE level: its sharded tables, grouped into classes whose keys are
// equal (a.key = b.key, USING (key)), and each class's keys once known.
struct Scope {
  const Scope* outer = nullptr;
  std::vector<std::string> ctes;         // visible CTE names (a FROM name that is not a table)
  std::vector<TableRef> refs;            // sharded tables
  std::vector<std::string> other_names;  // other FROM items' names (they shadow outer ones)
  std::vector<size_t> parent;            // union-find over refs
  std::vector<KeySet> class_keys;        // per ref, its class's keys (once computed)

  size_t find(size_t i) const {
    while (parent[i] != i) i = parent[i];
    return i;
  }
  void join(size_t a, size_t b) { parent[find(a)] = find(b); }
  bool oneClass() const {
    for (size_t i = 1; i < refs.size(); ++i) {
      if (find(i) != find(0)) return false;
    }
    return !refs.empty();
  }
};

// A column reference resolved to a sharded table's key: the scope and the table's index.
struct KeyColumn {
  const Scope* scope = nullptr;
  size_t ref = 0;
};

class Finder {
 public:
  explicit Finder(const ShardKeySpec& spec) : spec_(spec) {}

  ShardKeys topLevel(const Message* stmt);

 private:
  ShardKeys statement(const Message* stmt, const Scope* outer, int depth);
  ShardKeys select(const PgQuery__SelectStmt* stmt, const Scope* outer, int depth);
  ShardKeys update(const PgQuery__UpdateStmt* stmt, const Scope* outer, int depth);
  ShardKeys remove(const PgQuery__DeleteStmt* stmt, const Scope* outer, int depth);
  ShardKeys insert(const PgQuery__InsertStmt* stmt, const Scope* outer, int depth);
  ShardKeys insertRows(const PgQuery__InsertStmt* stmt) const;

  // Scope building.
  Scope openScope(const PgQuery__WithClause* with, const Scope* outer, ShardKeys& keys, int depth);
  bool isShardedTable(const PgQuery__RangeVar* table, const Scope& scope) const;
  void addTarget(const PgQuery__RangeVar* table, Scope& scope, ShardKeys& keys) const;
  std::vector<const Message*> readFromAndWhere(PgQuery__Node* const* items, size_t count,
                                               const PgQuery__Node* where_clause, Scope& scope);
  std::optional<size_t> fromItem(const Message* item, Scope& scope,
                                 std::vector<const Message*>& conditions, bool inner);
  std::optional<size_t> joinItem(const PgQuery__JoinExpr* join, Scope& scope,
                                 std::vector<const Message*>& conditions, bool inner);
  void joinEqualKeys(const Message* condition, Scope& scope) const;
  ShardKeys closeScope(Scope& scope, const std::vector<const Message*>& conditions,
                       const Message* stmt, const char* skip, int depth);

  // Conditions.
  std::optional<KeyColumn> keyColumn(const Message* m, const Scope& scope) const;
  std::optional<size_t> refNamed(const Scope& scope, const PgQuery__ColumnRef* column) const;
  KeySet condition(const Message* m, const Scope& scope, size_t cls, int depth) const;
  KeySet comparison(const PgQuery__AExpr* e, const Scope& scope, size_t cls) const;
  KeySet otherSide(const Message* m, const Scope& scope) const;
  bool isKeyOf(const Message* m, const Scope& scope, size_t cls) const;

  void nested(const Message* m, const char* skip, const Scope& scope, ShardKeys& keys, int depth);

  const ShardKeySpec& spec_;
};

bool isEquals(PgQuery__Node* const* name, size_t n_name) {
  if (n_name == 2 && stringValue(name[0]) != "pg_catalog") return false;
  return (n_name == 1 || n_name == 2) && stringValue(name[n_name - 1]) == "=";
}

const PgQuery__AExpr* asEquality(const Message* m) {
  if (!is(m, pg_query__a__expr__descriptor)) return nullptr;
  const auto* e = reinterpret_cast<const PgQuery__AExpr*>(m);
  return e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP && e->lexpr != nullptr &&
                 isEquals(e->name, e->n_name)
             ? e
             : nullptr;
}

// The conjuncts of a condition: a AND (b AND c) gives a, b, c.
void conjuncts(const Message* m, std::vector<const Message*>& out, int depth) {
  const auto* b = is(m, pg_query__bool_expr__descriptor)
                      ? reinterpret_cast<const PgQuery__BoolExpr*>(m)
                      : nullptr;
  if (b == nullptr || b->boolop != PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR || depth > kMaxDepth) {
    if (m != nullptr) out.push_back(m);
    return;
  }
  for (size_t i = 0; i < b->n_args; ++i) conjuncts(nodeValue(b->args[i]), out, depth + 1);
}

ShardKeys Finder::topLevel(const Message* stmt) {
  if (stmt == nullptr) return {};
  const ProtobufCMessageDescriptor* d = stmt->descriptor;
  if (d == &pg_query__explain_stmt__descriptor) {
    return topLevel(nodeValue(reinterpret_cast<const PgQuery__ExplainStmt*>(stmt)->query));
  }
  if (d == &pg_query__declare_cursor_stmt__descriptor) {
    return topLevel(nodeValue(reinterpret_cast<const PgQuery__DeclareCursorStmt*>(stmt)->query));
  }
  if (d == &pg_query__copy_stmt__descriptor) {
    const auto* copy = reinterpret_cast<const PgQuery__CopyStmt*>(stmt);
    if (copy->query == nullptr) return allShards("COPY of a whole table");
    return topLevel(nodeValue(copy->query));
  }
  // Statements that read or write no table: the session's logic places them.
  for (const ProtobufCMessageDescriptor* none :
       {&pg_query__transaction_stmt__descriptor, &pg_query__variable_set_stmt__descriptor,
        &pg_query__variable_show_stmt__descriptor, &pg_query__fetch_stmt__descriptor,
        &pg_query__close_portal_stmt__descriptor, &pg_query__prepare_stmt__descriptor,
        &pg_query__deallocate_stmt__descriptor, &pg_query__discard_stmt__descriptor,
        &pg_query__listen_stmt__descriptor, &pg_query__unlisten_stmt__descriptor}) {
    if (d == none) return {};
  }
  if (d == &pg_query__select_stmt__descriptor &&
      reinterpret_cast<const PgQuery__SelectStmt*>(stmt)->into_clause != nullptr) {
    return allShards("SELECT INTO creates a table");
  }
  if (d == &pg_query__select_stmt__descriptor || d == &pg_query__insert_stmt__descriptor ||
      d == &pg_query__update_stmt__descriptor || d == &pg_query__delete_stmt__descriptor) {
    return statement(stmt, nullptr, 0);
  }
  if (d == &pg_query__execute_stmt__descriptor) {
    return allShards("EXECUTE of a prepared statement");
  }
  return allShards(std::string("statement ") + d->short_name);
}

ShardKeys Finder::statement(const Message* stmt, const Scope* outer, int depth) {
  if (depth > kMaxDepth) return allShards("nesting too deep");
  const ProtobufCMessageDescriptor* d = stmt->descriptor;
  if (d == &pg_query__select_stmt__descriptor) {
    return select(reinterpret_cast<const PgQuery__SelectStmt*>(stmt), outer, depth);
  }
  if (d == &pg_query__update_stmt__descriptor) {
    return update(reinterpret_cast<const PgQuery__UpdateStmt*>(stmt), outer, depth);
  }
  if (d == &pg_query__delete_stmt__descriptor) {
    return remove(reinterpret_cast<const PgQuery__DeleteStmt*>(stmt), outer, depth);
  }
  if (d == &pg_query__insert_stmt__descriptor) {
    return insert(reinterpret_cast<const PgQuery__InsertStmt*>(stmt), outer, depth);
  }
  return allShards(std::string("statement ") + d->short_name);  // MERGE in a CTE, ...
}

// A new scope with the WITH clause's CTEs read (each its own scope) and their names visible.
// A CTE sees the ones before it, and itself too in WITH RECURSIVE.
Scope Finder::openScope(const PgQuery__WithClause* with, const Scope* outer, ShardKeys& keys,
                        int depth) {
  Scope scope;
  scope.outer = outer;
  if (outer != nullptr) scope.ctes = outer->ctes;
  if (with == nullptr) return scope;
  for (size_t i = 0; i < with->n_ctes; ++i) {
    const auto* cte =
        as<PgQuery__CommonTableExpr>(with->ctes[i], pg_query__common_table_expr__descriptor);
    if (cte == nullptr) continue;
    if (with->recursive) scope.ctes.emplace_back(cte->ctename);
    Scope visible;
    visible.outer = outer;
    visible.ctes = scope.ctes;
    if (const Message* query = nodeValue(cte->ctequery)) {
      merge(keys, statement(query, &visible, depth + 1));
    }
    if (!with->recursive) scope.ctes.emplace_back(cte->ctename);
  }
  return scope;
}

bool Finder::isShardedTable(const PgQuery__RangeVar* table, const Scope& scope) const {
  const std::string_view name = table->relname;
  const bool schema = table->schemaname != nullptr && table->schemaname[0] != '\0';
  if (!schema && std::find(scope.ctes.begin(), scope.ctes.end(), name) != scope.ctes.end()) {
    return false;
  }
  // The system catalogs (drivers read pg_type to learn array and composite types) are every
  // shard's own: never sharded, whatever `tables` says.
  const std::string_view schema_name = schema ? table->schemaname : "";
  if (schema_name == "pg_catalog" || schema_name == "information_schema" ||
      (!schema && name.starts_with("pg_")))
    return false;
  return spec_.tables.empty() ||
         std::find(spec_.tables.begin(), spec_.tables.end(), name) != spec_.tables.end();
}

// An INSERT/UPDATE/DELETE target. Writing a table that is not sharded means writing every
// shard's copy of it.
void Finder::addTarget(const PgQuery__RangeVar* table, Scope& scope, ShardKeys& keys) const {
  if (table == nullptr) return;
  if (!isShardedTable(table, scope)) {
    const std::string name = table->relname;
    const bool cte = std::find(scope.ctes.begin(), scope.ctes.end(), name) != scope.ctes.end();
    if (!cte) {
      ShardKeys writes = allShards("writes " + name + ", which is not sharded");
      writes.writes_unsharded = name;
      merge(keys, writes);
    }
    return;
  }
  scope.refs.push_back({table->schemaname != nullptr ? table->schemaname : "", table->relname,
                        table->alias != nullptr ? table->alias->aliasname : ""});
  scope.parent.push_back(scope.refs.size() - 1);
}

// Adds a FROM item's sharded tables; returns the table (its index) that provides the item's
// key column, when one does. Conditions of inner joins are collected; outer joins' ON clauses
// only contribute key equalities (all conditions here are false for NULL keys, so a row an
// outer join keeps without a match cannot satisfy a key condition on the other side).
std::optional<size_t> Finder::fromItem(const Message* item, Scope& scope,
                                       std::vector<const Message*>& conditions, bool inner) {
  if (is(item, pg_query__range_var__descriptor)) {
    const auto* table = reinterpret_cast<const PgQuery__RangeVar*>(item);
    if (!isShardedTable(table, scope)) {
      scope.other_names.emplace_back(table->alias != nullptr ? table->alias->aliasname
                                                             : table->relname);
      return std::nullopt;
    }
    ShardKeys ignored;
    addTarget(table, scope, ignored);
    return scope.refs.size() - 1;
  }
  if (is(item, pg_query__join_expr__descriptor)) {
    return joinItem(reinterpret_cast<const PgQuery__JoinExpr*>(item), scope, conditions, inner);
  }
  // A subquery, function or table function: its own scopes are read by nested().
  const PgQuery__Alias* alias = nullptr;
  if (is(item, pg_query__range_subselect__descriptor)) {
    alias = reinterpret_cast<const PgQuery__RangeSubselect*>(item)->alias;
  } else if (is(item, pg_query__range_function__descriptor)) {
    alias = reinterpret_cast<const PgQuery__RangeFunction*>(item)->alias;
  }
  if (alias != nullptr) scope.other_names.emplace_back(alias->aliasname);
  return std::nullopt;
}

std::optional<size_t> Finder::joinItem(const PgQuery__JoinExpr* join, Scope& scope,
                                       std::vector<const Message*>& conditions, bool inner) {
  const bool inner_join = inner && join->jointype == PG_QUERY__JOIN_TYPE__JOIN_INNER;
  const size_t first = scope.refs.size();
  const std::optional<size_t> left = fromItem(nodeValue(join->larg), scope, conditions, inner_join);
  const std::optional<size_t> right =
      fromItem(nodeValue(join->rarg), scope, conditions, inner_join);
  bool using_key = join->is_natural;
  for (size_t i = 0; i < join->n_using_clause; ++i) {
    using_key = using_key || stringValue(join->using_clause[i]) == spec_.column;
  }
  if (using_key && left && right) scope.join(*left, *right);
  if (const Message* quals = nodeValue(join->quals)) {
    joinEqualKeys(quals, scope);
    if (inner_join) conditions.push_back(quals);
  }
  if (join->alias != nullptr) scope.other_names.emplace_back(join->alias->aliasname);
  // The join's merged key column (USING, NATURAL) stands for its tables when they are one class.
  if (scope.refs.size() == first) return std::nullopt;
  for (size_t i = first + 1; i < scope.refs.size(); ++i) {
    if (scope.find(i) != scope.find(first)) return std::nullopt;
  }
  return first;
}

// a.key = b.key among a condition's conjuncts joins their tables' classes.
void Finder::joinEqualKeys(const Message* condition, Scope& scope) const {
  std::vector<const Message*> parts;
  conjuncts(condition, parts, 0);
  for (const Message* part : parts) {
    const PgQuery__AExpr* e = asEquality(part);
    if (e == nullptr) continue;
    const std::optional<KeyColumn> a = keyColumn(nodeValue(e->lexpr), scope);
    const std::optional<KeyColumn> b = keyColumn(nodeValue(e->rexpr), scope);
    if (a && b && a->scope == &scope && b->scope == &scope) scope.join(a->ref, b->ref);
  }
}

// The table of this scope (or, for a qualified name, of an enclosing one) whose key a column
// reference names. An unqualified name is the key of this scope's only sharded table, or of
// its tables when they are all one class; otherwise it is not taken as a key.
std::optional<size_t> Finder::refNamed(const Scope& scope, const PgQuery__ColumnRef* column) const {
  if (column->n_fields == 1) {
    if (scope.refs.size() == 1 || scope.oneClass()) return 0;
    return std::nullopt;
  }
  const std::string_view qualifier = stringValue(column->fields[column->n_fields - 2]);
  const std::string_view schema =
      column->n_fields >= 3 ? stringValue(column->fields[column->n_fields - 3]) : "";
  for (size_t i = 0; i < scope.refs.size(); ++i) {
    const TableRef& ref = scope.refs[i];
    if (ref.visibleName() != qualifier) continue;
    if (!schema.empty() && (!ref.alias.empty() || (!ref.schema.empty() && ref.schema != schema))) {
      continue;
    }
    return i;
  }
  return std::nullopt;
}

std::optional<KeyColumn> Finder::keyColumn(const Message* m, const Scope& scope) const {
  if (!is(m, pg_query__column_ref__descriptor)) return std::nullopt;
  const auto* column = reinterpret_cast<const PgQuery__ColumnRef*>(m);
  if (column->n_fields == 0 || column->n_fields > 4 ||
      stringValue(column->fields[column->n_fields - 1]) != spec_.column) {
    return std::nullopt;
  }
  const std::string_view qualifier =
      column->n_fields >= 2 ? stringValue(column->fields[column->n_fields - 2]) : "";
  for (const Scope* s = &scope; s != nullptr; s = s->outer) {
    if (const std::optional<size_t> ref = refNamed(*s, column)) return KeyColumn{s, *ref};
    // An unqualified name is not followed outward, and a name this scope has for something
    // else hides an outer table of that name.
    if (qualifier.empty()) return std::nullopt;
    const auto& names = s->other_names;
    if (std::find(names.begin(), names.end(), qualifier) != names.end()) return std::nullopt;
  }
  return std::nullopt;
}

bool Finder::isKeyOf(const Message* m, const Scope& scope, size_t cls) const {
  const std::optional<KeyColumn> key = keyColumn(m, scope);
  return key && key->scope == &scope && scope.find(key->ref) == cls;
}

// What the side compared with the key allows: a value, NULL (nothing), or an enclosing
// scope's key (a correlated subquery: that scope's keys).
KeySet Finder::otherSide(const Message* m, const Scope& scope) const {
  const Term term = readTerm(m);
  if (term.kind == TermKind::kValue) return KeySet::of({term.value});
  if (term.kind == TermKind::kNull) return KeySet::of({});
  const std::optional<KeyColumn> outer = keyColumn(m, scope);
  if (outer && outer->scope != &scope) return outer->scope->class_keys[outer->ref];
  return KeySet::any();
}

KeySet Finder::comparison(const PgQuery__AExpr* e, const Scope& scope, size_t cls) const {
  const Message* left = nodeValue(e->lexpr);
  const Message* right = nodeValue(e->rexpr);
  if (!isEquals(e->name, e->n_name)) return KeySet::any();  // also NOT IN, whose name is <>
  switch (e->kind) {
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
      if (left == nullptr) return KeySet::any();
      if (isKeyOf(left, scope, cls)) return otherSide(right, scope);
      if (isKeyOf(right, scope, cls)) return otherSide(left, scope);
      return KeySet::any();
    case PG_QUERY__A__EXPR__KIND__AEXPR_IN: {
      const auto* list = is(right, pg_query__list__descriptor)
                             ? reinterpret_cast<const PgQuery__List*>(right)
                             : nullptr;
      if (list == nullptr || !isKeyOf(left, scope, cls)) return KeySet::any();
      KeySet all = KeySet::of({});
      for (size_t i = 0; i < list->n_items; ++i) {
        all = unite(all, otherSide(nodeValue(list->items[i]), scope));
      }
      return all;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY: {
      if (!isKeyOf(left, scope, cls)) return KeySet::any();
      std::optional<std::vector<KeyValue>> values = readAnyArray(right);
      return values ? KeySet::of(std::move(*values)) : KeySet::any();
    }
    default:
      return KeySet::any();
  }
}

KeySet Finder::condition(const Message* m, const Scope& scope, size_t cls, int depth) const {
  if (m == nullptr || depth > kMaxDepth) return KeySet::any();
  if (is(m, pg_query__a__expr__descriptor)) {
    return comparison(reinterpret_cast<const PgQuery__AExpr*>(m), scope, cls);
  }
  if (!is(m, pg_query__bool_expr__descriptor)) return KeySet::any();
  const auto* b = reinterpret_cast<const PgQuery__BoolExpr*>(m);
  if (b->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
    KeySet all = KeySet::any();
    for (size_t i = 0; i < b->n_args; ++i) {
      all = intersect(all, condition(nodeValue(b->args[i]), scope, cls, depth + 1));
    }
    return all;
  }
  if (b->boolop == PG_QUERY__BOOL_EXPR_TYPE__OR_EXPR && b->n_args > 0) {
    KeySet any = KeySet::of({});
    for (size_t i = 0; i < b->n_args && any.constrained; ++i) {
      any = unite(any, condition(nodeValue(b->args[i]), scope, cls, depth + 1));
    }
    return any;
  }
  return KeySet::any();  // NOT
}

// Each class's keys from the scope's conditions, then the nested scopes (subqueries, which
// may refer to these keys), skipping the statement's field `skip` (read already).
ShardKeys Finder::closeScope(Scope& scope, const std::vector<const Message*>& conditions,
                             const Message* stmt, const char* skip, int depth) {
  ShardKeys keys;
  std::vector<std::optional<KeySet>> by_class(scope.refs.size());
  for (size_t i = 0; i < scope.refs.size(); ++i) {
    std::optional<KeySet>& set = by_class[scope.find(i)];
    if (!set) {
      set = KeySet::any();
      for (const Message* c : conditions) {
        set = intersect(*set, condition(c, scope, scope.find(i), 0));
      }
    }
    scope.class_keys.push_back(*set);
  }
  for (size_t i = 0; i < scope.refs.size(); ++i) {
    const KeySet& set = scope.class_keys[i];
    if (!set.constrained) {
      merge(keys, allShards("no condition on the key of " + scope.refs[i].name));
    } else {
      ShardKeys part;
      part.scope = KeyScope::kKeys;
      part.values = set.values;
      merge(keys, part);
    }
  }
  nested(stmt, skip, scope, keys, depth);
  return keys;
}

// Every statement below m (subqueries in any clause, a FROM subquery) is a scope of its own.
void Finder::nested(const Message* m, const char* skip, const Scope& scope, ShardKeys& keys,
                    int depth) {
  if (depth > kMaxDepth) return merge(keys, allShards("nesting too deep"));
  tree::forEachChild(m, skip, [&](const Message* child) {
    const ProtobufCMessageDescriptor* d = child->descriptor;
    if (d == &pg_query__select_stmt__descriptor || d == &pg_query__insert_stmt__descriptor ||
        d == &pg_query__update_stmt__descriptor || d == &pg_query__delete_stmt__descriptor ||
        d == &pg_query__merge_stmt__descriptor) {
      return merge(keys, statement(child, &scope, depth + 1));
    }
    nested(child, nullptr, scope, keys, depth + 1);
  });
}

// The conditions of a FROM (or USING) list and a WHERE, with the key equalities they state
// recorded in the scope.
std::vector<const Message*> Finder::readFromAndWhere(PgQuery__Node* const* items, size_t count,
                                                     const PgQuery__Node* where_clause,
                                                     Scope& scope) {
  std::vector<const Message*> conditions;
  for (size_t i = 0; i < count; ++i) fromItem(nodeValue(items[i]), scope, conditions, true);
  if (const Message* where = nodeValue(where_clause)) {
    joinEqualKeys(where, scope);
    conditions.push_back(where);
  }
  return conditions;
}

ShardKeys Finder::select(const PgQuery__SelectStmt* stmt, const Scope* outer, int depth) {
  ShardKeys keys;
  Scope scope = openScope(stmt->with_clause, outer, keys, depth);
  std::vector<const Message*> conditions =
      readFromAndWhere(stmt->from_clause, stmt->n_from_clause, stmt->where_clause, scope);
  merge(keys, closeScope(scope, conditions, &stmt->base, "with_clause", depth));
  return keys;
}

// SET key = ...: the row may move to another shard, unless the new key is the one value the
// WHERE allows, or (ON CONFLICT) the inserted row's own key, excluded.key.
bool setsKey(PgQuery__Node* const* targets, size_t count, const std::string& column,
             const KeySet& where) {
  for (size_t i = 0; i < count; ++i) {
    const auto* target = as<PgQuery__ResTarget>(targets[i], pg_query__res_target__descriptor);
    if (target == nullptr || target->name == nullptr || target->name != column) continue;
    const Message* value = nodeValue(target->val);
    const Term term = readTerm(value);
    if (term.kind == TermKind::kValue && where.constrained && where.values.size() == 1 &&
        where.values[0] == term.value) {
      continue;
    }
    const auto* ref = is(value, pg_query__column_ref__descriptor)
                          ? reinterpret_cast<const PgQuery__ColumnRef*>(value)
                          : nullptr;
    if (ref != nullptr && ref->n_fields == 2 && stringValue(ref->fields[0]) == "excluded" &&
        stringValue(ref->fields[1]) == column) {
      continue;
    }
    return true;
  }
  return false;
}

ShardKeys Finder::update(const PgQuery__UpdateStmt* stmt, const Scope* outer, int depth) {
  ShardKeys keys;
  Scope scope = openScope(stmt->with_clause, outer, keys, depth);
  addTarget(stmt->relation, scope, keys);
  const bool sharded_target = !scope.refs.empty();
  std::vector<const Message*> conditions =
      readFromAndWhere(stmt->from_clause, stmt->n_from_clause, stmt->where_clause, scope);
  ShardKeys found = closeScope(scope, conditions, &stmt->base, "with_clause", depth);
  if (sharded_target) {
    found.sets_key = found.sets_key || setsKey(stmt->target_list, stmt->n_target_list, spec_.column,
                                               scope.class_keys[0]);
  }
  merge(keys, found);
  return keys;
}

ShardKeys Finder::remove(const PgQuery__DeleteStmt* stmt, const Scope* outer, int depth) {
  ShardKeys keys;
  Scope scope = openScope(stmt->with_clause, outer, keys, depth);
  addTarget(stmt->relation, scope, keys);
  std::vector<const Message*> conditions =
      readFromAndWhere(stmt->using_clause, stmt->n_using_clause, stmt->where_clause, scope);
  merge(keys, closeScope(scope, conditions, &stmt->base, "with_clause", depth));
  return keys;
}

// INSERT ... VALUES into a sharded table: each row's key, by the key's place in the column
// list.
ShardKeys Finder::insertRows(const PgQuery__InsertStmt* stmt) const {
  const auto* select =
      as<PgQuery__SelectStmt>(stmt->select_stmt, pg_query__select_stmt__descriptor);
  if (select == nullptr) return allShards("INSERT ... DEFAULT VALUES: the key is its default");
  if (select->n_values_lists == 0) {
    return allShards("INSERT ... SELECT: the rows' keys are not known before it runs");
  }
  if (stmt->n_cols == 0) {
    return allShards("INSERT without a column list: name the columns, so that the key " +
                     spec_.column + " can be found");
  }
  std::optional<size_t> position;
  for (size_t i = 0; i < stmt->n_cols; ++i) {
    const auto* col = as<PgQuery__ResTarget>(stmt->cols[i], pg_query__res_target__descriptor);
    if (col != nullptr && col->name != nullptr && col->name == spec_.column &&
        col->n_indirection == 0) {
      position = i;
    }
  }
  if (!position) return allShards("INSERT whose column list lacks the key " + spec_.column);
  ShardKeys keys;
  keys.scope = KeyScope::kKeys;
  for (size_t row = 0; row < select->n_values_lists; ++row) {
    const auto* list = as<PgQuery__List>(select->values_lists[row], pg_query__list__descriptor);
    const Term term = list != nullptr && *position < list->n_items
                          ? readTerm(nodeValue(list->items[*position]))
                          : Term{};
    if (term.kind != TermKind::kValue) {
      return allShards("INSERT row " + std::to_string(row + 1) +
                       ": the key is not a constant or parameter");
    }
    keys.insert_rows.push_back(term.value);
    addDistinct(keys.values, term.value);
  }
  return keys;
}

ShardKeys Finder::insert(const PgQuery__InsertStmt* stmt, const Scope* outer, int depth) {
  ShardKeys keys;
  Scope scope = openScope(stmt->with_clause, outer, keys, depth);
  addTarget(stmt->relation, scope, keys);
  // A subquery may name the target (ON CONFLICT ... WHERE): its key is not narrowed there.
  scope.class_keys.assign(scope.refs.size(), KeySet::any());
  if (!scope.refs.empty()) {
    ShardKeys rows = insertRows(stmt);
    const PgQuery__OnConflictClause* conflict = stmt->on_conflict_clause;
    if (conflict != nullptr) {
      rows.sets_key =
          setsKey(conflict->target_list, conflict->n_target_list, spec_.column, KeySet::any());
    }
    merge(keys, rows);
    if (keys.scope == KeyScope::kKeys) keys.insert_rows = std::move(rows.insert_rows);
  }
  nested(&stmt->base, "with_clause", scope, keys, depth);
  if (keys.scope != KeyScope::kKeys) keys.insert_rows.clear();
  return keys;
}

}  // namespace

TextShardKeys findShardKeys(const PgQuery__ParseResult& tree, const ShardKeySpec& spec) {
  TextShardKeys out;
  Finder finder(spec);
  for (size_t i = 0; i < tree.n_stmts; ++i) {
    const PgQuery__RawStmt* raw = tree.stmts[i];
    ShardKeys keys = raw != nullptr ? finder.topLevel(nodeValue(raw->stmt)) : ShardKeys{};
    merge(out.combined, keys);
    out.statements.push_back(std::move(keys));
  }
  if (out.statements.size() == 1 && out.combined.scope == KeyScope::kKeys) {
    out.combined.insert_rows = out.statements[0].insert_rows;
  }
  return out;
}

TextShardKeys findShardKeys(std::string_view sql, const ShardKeySpec& spec) {
  TextShardKeys out;
  std::string error;
  const auto use = [&](const PgQuery__ParseResult& tree) { out = findShardKeys(tree, spec); };
  if (tree::withParseTree(sql, use, error) != tree::ParseOutcome::kParsed) {
    out = TextShardKeys{};
    out.parse_error = true;
    out.combined = allShards("not parsed: " + error);
  }
  return out;
}

ShardSource shardSource(const StatementClass& verdict, bool session_shard_set,
                        bool session_key_set) {
  if (verdict.shard_hint) return ShardSource::kCommentShard;
  if (verdict.sharding_key_hint) return ShardSource::kCommentKey;
  if (session_shard_set) return ShardSource::kSessionShard;
  if (session_key_set) return ShardSource::kSessionKey;
  return ShardSource::kStatementKeys;
}

ShardKeyFinder::ShardKeyFinder(ShardKeySpec spec, size_t max_entries, size_t max_bytes)
    : spec_(std::move(spec)), cache_(max_entries, max_bytes) {}

// What a result holds on the heap, roughly.
size_t ShardKeyFinder::keysBytes(const TextShardKeys& keys) {
  size_t bytes = sizeof(TextShardKeys);
  const auto count = [&](const ShardKeys& k) {
    bytes += sizeof(ShardKeys) + k.reason.size();
    for (const KeyValue& v : k.values) bytes += sizeof(KeyValue) + v.text.size() + v.type.size();
    for (const KeyValue& v : k.insert_rows) {
      bytes += sizeof(KeyValue) + v.text.size() + v.type.size();
    }
  };
  count(keys.combined);
  for (const ShardKeys& k : keys.statements) count(k);
  return bytes;
}

std::shared_ptr<const TextShardKeys> ShardKeyFinder::find(std::string_view text) {
  const std::string_view sql = text.substr(0, text.find('\0'));
  if (auto keys = cache_.find(sql)) return keys;
  auto keys = std::make_shared<const TextShardKeys>(findShardKeys(sql, spec_));
  cache_.store(sql, keys, keysBytes(*keys));
  return keys;
}

ShardKeyFinder::Found ShardKeyFinder::find(std::string_view text, StatementClassifier& classifier) {
  const std::string_view sql = text.substr(0, text.find('\0'));
  if (auto keys = cache_.find(sql)) return {classifier.classify(sql), keys};
  std::optional<TextShardKeys> from_tree;
  const uint64_t classifier_misses = classifier.misses();
  auto verdict = classifier.classify(
      sql, [&](const PgQuery__ParseResult& tree) { from_tree = findShardKeys(tree, spec_); });
  if (!from_tree && classifier.misses() != classifier_misses) {
    // The classifier parsed nothing (a syntax error, too long, too deep): neither would we.
    from_tree = TextShardKeys{};
    from_tree->parse_error = true;
    from_tree->combined = allShards("not parsed: " + verdict->reason);
  }
  auto keys = std::make_shared<const TextShardKeys>(from_tree ? std::move(*from_tree)
                                                              : findShardKeys(sql, spec_));
  cache_.store(sql, keys, keysBytes(*keys));
  return {std::move(verdict), std::move(keys)};
}

}  // namespace sg::pg::route

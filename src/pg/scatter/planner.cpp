// planScatter: the verdict for a statement without a sharding key (scatter_plan.h).
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "pg/route/deep_stack.h"
#include "pg/scatter/parse_tree.h"
#include "pg/scatter/scatter_plan.h"

namespace sg::pg::scatter {

namespace {

using tree::as;
using tree::Message;

// Larger texts are not planned (the statement classifier already sends them to the primary
// unparsed); past kInlineParseBytes the parse runs on a thread with a deep stack, since
// libpg_query's protobuf output recurses without a depth check.
constexpr size_t kMaxPlannedBytes = size_t{1} << 20;
constexpr size_t kInlineParseBytes = 4096;
constexpr size_t kDeepParseStackBytes = size_t{64} << 20;

constexpr std::string_view kPrefix = "scalegate: cross-shard query: ";

PlanError notSupported(std::string_view what) {
  return {"0A000", std::string(kPrefix) + std::string(what) + " across shards"};
}

// Built-in aggregates other than the five the merger combines (PostgreSQL 15's pg_aggregate),
// for a clear refusal rather than silently concatenated partial aggregates.
constexpr std::array kOtherAggregates = {"array_agg",
                                         "string_agg",
                                         "json_agg",
                                         "jsonb_agg",
                                         "json_object_agg",
                                         "jsonb_object_agg",
                                         "bool_and",
                                         "bool_or",
                                         "every",
                                         "bit_and",
                                         "bit_or",
                                         "bit_xor",
                                         "stddev",
                                         "stddev_pop",
                                         "stddev_samp",
                                         "variance",
                                         "var_pop",
                                         "var_samp",
                                         "corr",
                                         "covar_pop",
                                         "covar_samp",
                                         "regr_avgx",
                                         "regr_avgy",
                                         "regr_count",
                                         "regr_intercept",
                                         "regr_r2",
                                         "regr_slope",
                                         "regr_sxx",
                                         "regr_sxy",
                                         "regr_syy",
                                         "percentile_cont",
                                         "percentile_disc",
                                         "mode",
                                         "xmlagg",
                                         "range_agg",
                                         "range_intersect_agg",
                                         "any_value",
                                         "grouping"};

std::string_view stringOf(const PgQuery__Node* node) {
  const auto* s = as<PgQuery__String>(node, pg_query__string__descriptor);
  return s != nullptr ? std::string_view(s->sval) : std::string_view();
}

// The function's name when it is unqualified or in pg_catalog; empty for other schemas.
std::string_view builtinName(const PgQuery__FuncCall* call) {
  if (call->n_funcname == 1) return stringOf(call->funcname[0]);
  if (call->n_funcname == 2 && stringOf(call->funcname[0]) == "pg_catalog") {
    return stringOf(call->funcname[1]);
  }
  return {};
}

std::optional<ColumnRole> mergeableAggregate(std::string_view name) {
  if (name == "count") return ColumnRole::kCount;
  if (name == "sum") return ColumnRole::kSum;
  if (name == "min") return ColumnRole::kMin;
  if (name == "max") return ColumnRole::kMax;
  if (name == "avg") return ColumnRole::kAvg;
  return std::nullopt;
}

bool isAggregateCall(const Message* m) {
  if (!tree::is(m, pg_query__func_call__descriptor)) return false;
  const auto* call = reinterpret_cast<const PgQuery__FuncCall*>(m);
  if (call->over != nullptr) return false;  // a window function, refused on its own
  if (call->agg_star || call->agg_distinct || call->agg_within_group || call->n_agg_order > 0 ||
      call->agg_filter != nullptr) {
    return true;
  }
  const std::string_view name = builtinName(call);
  return mergeableAggregate(name).has_value() ||
         std::find(kOtherAggregates.begin(), kOtherAggregates.end(), name) !=
             kOtherAggregates.end();
}

bool isWindowCall(const Message* m) {
  return tree::is(m, pg_query__func_call__descriptor) &&
         reinterpret_cast<const PgQuery__FuncCall*>(m)->over != nullptr;
}

bool isSubquery(const Message* m) {
  return tree::is(m, pg_query__sub_link__descriptor) ||
         tree::is(m, pg_query__range_subselect__descriptor) ||
         tree::is(m, pg_query__select_stmt__descriptor);
}

// The merge orders text bytewise: the C (or POSIX) collation's order.
bool isCollationOtherThanC(const Message* m) {
  if (!tree::is(m, pg_query__collate_clause__descriptor)) return false;
  const auto* collate = reinterpret_cast<const PgQuery__CollateClause*>(m);
  const std::string_view name =
      collate->n_collname > 0 ? stringOf(collate->collname[collate->n_collname - 1]) : "";
  return name != "C" && name != "POSIX";
}

bool isGroupingSet(const Message* m) { return tree::is(m, pg_query__grouping_set__descriptor); }

bool isStar(const PgQuery__ResTarget* target) {
  const auto* ref = as<PgQuery__ColumnRef>(target->val, pg_query__column_ref__descriptor);
  return ref != nullptr && ref->n_fields > 0 &&
         as<PgQuery__AStar>(ref->fields[ref->n_fields - 1], pg_query__a__star__descriptor) !=
             nullptr;
}

const PgQuery__ResTarget* targetAt(const PgQuery__SelectStmt* select, size_t i) {
  return as<PgQuery__ResTarget>(select->target_list[i], pg_query__res_target__descriptor);
}

// PostgreSQL's name for an unnamed result column (FigureColname), for the node types whose
// name is an identifier; "?column?" for those it leaves unnamed; nullopt where this does not
// follow PostgreSQL (the caller then cannot match a name against this column).
std::optional<std::string> figureName(const PgQuery__Node* node) {
  const Message* m = tree::nodeValue(node);
  if (const auto* ref = as<PgQuery__ColumnRef>(node, pg_query__column_ref__descriptor)) {
    const std::string_view last = ref->n_fields > 0 ? stringOf(ref->fields[ref->n_fields - 1]) : "";
    return last.empty() ? std::nullopt : std::optional<std::string>(last);
  }
  if (const auto* call = as<PgQuery__FuncCall>(node, pg_query__func_call__descriptor)) {
    if (call->n_funcname == 0) return std::nullopt;
    return std::string(stringOf(call->funcname[call->n_funcname - 1]));
  }
  if (const auto* cast = as<PgQuery__TypeCast>(node, pg_query__type_cast__descriptor)) {
    std::optional<std::string> inner = figureName(cast->arg);
    if (inner && *inner != "?column?") return inner;
    if (cast->type_name == nullptr || cast->type_name->n_names == 0) return std::nullopt;
    return std::string(stringOf(cast->type_name->names[cast->type_name->n_names - 1]));
  }
  if (tree::is(m, pg_query__case_expr__descriptor)) return "case";
  if (tree::is(m, pg_query__coalesce_expr__descriptor)) return "coalesce";
  if (tree::is(m, pg_query__a__const__descriptor) || tree::is(m, pg_query__bool_expr__descriptor) ||
      tree::is(m, pg_query__null_test__descriptor) ||
      tree::is(m, pg_query__param_ref__descriptor)) {
    return "?column?";
  }
  if (const auto* expr = as<PgQuery__AExpr>(node, pg_query__a__expr__descriptor)) {
    if (expr->kind != PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF) return "?column?";
  }
  return std::nullopt;
}

std::optional<std::string> outputName(const PgQuery__ResTarget* target) {
  if (target->name != nullptr && target->name[0] != '\0') return std::string(target->name);
  return figureName(target->val);
}

// LIMIT or OFFSET: nullopt when it is an expression the merger cannot evaluate.
std::optional<RowBound> readBound(const PgQuery__Node* node) {
  RowBound bound;
  if (node == nullptr) return bound;
  if (const auto* cast = as<PgQuery__TypeCast>(node, pg_query__type_cast__descriptor)) {
    if (as<PgQuery__ParamRef>(cast->arg, pg_query__param_ref__descriptor)) node = cast->arg;
  }
  if (const auto* param = as<PgQuery__ParamRef>(node, pg_query__param_ref__descriptor)) {
    bound.kind = RowBound::Kind::kParameter;
    bound.parameter = param->number;
    return bound;
  }
  const auto* constant = as<PgQuery__AConst>(node, pg_query__a__const__descriptor);
  if (constant == nullptr) return std::nullopt;
  if (constant->isnull) return bound;  // LIMIT ALL, LIMIT NULL, OFFSET NULL
  bound.kind = RowBound::Kind::kConstant;
  if (constant->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
    bound.value = constant->ival->ival;
    return bound;
  }
  if (constant->val_case != PG_QUERY__A__CONST__VAL_FVAL) return std::nullopt;
  const std::string_view text = constant->fval->fval;
  const auto* end = text.data() + text.size();
  int64_t value = 0;
  const auto parsed = std::from_chars(text.data(), end, value);
  if (parsed.ec != std::errc() || parsed.ptr != end) return std::nullopt;
  bound.value = value;
  return bound;
}

}  // namespace

namespace {

// Plans one SELECT, changing its tree in place for the shard SQL; changed() says whether the
// tree differs from the text.
class SelectPlanner {
 public:
  SelectPlanner(PgQuery__SelectStmt* select, ScatterPlan* plan) : s_(select), plan_(plan) {}

  std::optional<PlanError> run() {
    if (std::optional<PlanError> refused = checkShape()) return refused;
    if (s_->n_from_clause == 0) {
      plan_->kind = MergeKind::kAnyOneShard;
      return std::nullopt;
    }
    if (std::optional<PlanError> refused = readBounds()) return refused;
    const bool aggregate =
        s_->n_group_clause > 0 || s_->n_distinct_clause > 0 ||
        anyTarget([](const Message* m) { return tree::any(m, isAggregateCall); });
    return aggregate ? planAggregate() : planRows();
  }
  bool changed() const { return changed_; }

 private:
  PgQuery__SelectStmt* s_;
  ScatterPlan* plan_;
  bool changed_ = false;

  template <typename Predicate>
  bool anyTarget(Predicate predicate) const {
    for (size_t i = 0; i < s_->n_target_list; ++i) {
      if (predicate(tree::nodeValue(s_->target_list[i]))) return true;
    }
    return false;
  }

  std::optional<PlanError> checkShape() const {
    if (s_->op != PG_QUERY__SET_OPERATION__SETOP_NONE) {
      return notSupported("set operations (UNION, INTERSECT, EXCEPT) are not supported");
    }
    if (s_->into_clause != nullptr) return notSupported("SELECT INTO is not supported");
    if (s_->with_clause != nullptr) return notSupported("WITH queries are not supported");
    if (s_->n_locking_clause > 0) return notSupported("FOR UPDATE and FOR SHARE are not supported");
    if (anySubqueryBelowTop()) {
      return notSupported("subqueries are not supported");
    }
    if (s_->n_window_clause > 0 || tree::any(&s_->base, isWindowCall)) {
      return notSupported("window functions are not supported");
    }
    if (s_->having_clause != nullptr) return notSupported("HAVING is not supported");
    if (s_->limit_option == PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_WITH_TIES) {
      return notSupported("FETCH FIRST ... WITH TIES is not supported");
    }
    for (size_t i = 0; i < s_->n_group_clause; ++i) {
      if (tree::any(tree::nodeValue(s_->group_clause[i]), isGroupingSet)) {
        return notSupported("GROUPING SETS, ROLLUP and CUBE are not supported");
      }
    }
    return std::nullopt;
  }

  // Every part of the statement but the statement itself (a SelectStmt too).
  bool anySubqueryBelowTop() const {
    const auto below = [](const Message* m) { return m != nullptr && isSubquery(m); };
    for (const Message* part :
         {tree::nodeValue(s_->where_clause), tree::nodeValue(s_->having_clause),
          tree::nodeValue(s_->limit_count), tree::nodeValue(s_->limit_offset)}) {
      if (tree::any(part, below)) return true;
    }
    for (auto [nodes, count] : {std::pair{s_->target_list, s_->n_target_list},
                                {s_->from_clause, s_->n_from_clause},
                                {s_->group_clause, s_->n_group_clause},
                                {s_->sort_clause, s_->n_sort_clause},
                                {s_->distinct_clause, s_->n_distinct_clause},
                                {s_->values_lists, s_->n_values_lists}}) {
      for (size_t i = 0; i < count; ++i) {
        if (tree::any(tree::nodeValue(nodes[i]), below)) return true;
      }
    }
    return false;
  }

  std::optional<PlanError> readBounds() {
    const std::optional<RowBound> limit = readBound(s_->limit_count);
    const std::optional<RowBound> offset = readBound(s_->limit_offset);
    if (!limit || !offset) {
      return notSupported(
          "LIMIT and OFFSET other than a constant or a parameter are not supported");
    }
    if (limit->kind == RowBound::Kind::kConstant && limit->value < 0) {
      return PlanError{"2201W", "LIMIT must not be negative"};
    }
    if (offset->kind == RowBound::Kind::kConstant && offset->value < 0) {
      return PlanError{"2201X", "OFFSET must not be negative"};
    }
    plan_->limit = *limit;
    plan_->offset = *offset;
    return std::nullopt;
  }

  bool starBefore(size_t index) const {
    for (size_t i = 0; i < index && i < s_->n_target_list; ++i) {
      if (isStar(targetAt(s_, i))) return true;
    }
    return false;
  }

  // The result column ORDER BY (output names first) or GROUP BY (expressions first) means.
  // *unknown_name: a bare name matched nothing while some result column's name is unknown.
  std::optional<size_t> resolveTarget(const PgQuery__Node* expr, bool names_first,
                                      bool* unknown_name) const {
    *unknown_name = false;
    const auto* ref = as<PgQuery__ColumnRef>(expr, pg_query__column_ref__descriptor);
    const bool bare_name =
        ref != nullptr && ref->n_fields == 1 && !stringOf(ref->fields[0]).empty();
    if (!names_first) {
      if (std::optional<size_t> same = equalTarget(expr)) return same;
    }
    if (bare_name) {
      for (size_t i = 0; i < s_->n_target_list; ++i) {
        const PgQuery__ResTarget* target = targetAt(s_, i);
        if (isStar(target)) continue;
        const std::optional<std::string> name = outputName(target);
        if (!name) *unknown_name = true;
        if (name && *name == stringOf(ref->fields[0])) return i;
      }
    }
    if (names_first) return equalTarget(expr);
    return std::nullopt;
  }

  std::optional<size_t> equalTarget(const PgQuery__Node* expr) const {
    for (size_t i = 0; i < s_->n_target_list; ++i) {
      const PgQuery__ResTarget* target = targetAt(s_, i);
      if (!isStar(target) && tree::equal(tree::nodeValue(target->val), tree::nodeValue(expr)))
        return i;
    }
    return std::nullopt;
  }

  static std::optional<int64_t> position(const PgQuery__Node* expr) {
    const auto* constant = as<PgQuery__AConst>(expr, pg_query__a__const__descriptor);
    if (constant == nullptr || constant->isnull ||
        constant->val_case != PG_QUERY__A__CONST__VAL_IVAL) {
      return std::nullopt;
    }
    return constant->ival->ival;
  }

  // DESC, or USING > (PostgreSQL also takes its NULLS FIRST default from the > strategy);
  // nullopt for USING another operator.
  static std::optional<bool> direction(const PgQuery__SortBy& sort_by) {
    if (sort_by.sortby_dir != PG_QUERY__SORT_BY_DIR__SORTBY_USING) {
      return sort_by.sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
    }
    const bool builtin = sort_by.n_use_op == 1 ||
                         (sort_by.n_use_op == 2 && stringOf(sort_by.use_op[0]) == "pg_catalog");
    const std::string_view op = builtin ? stringOf(sort_by.use_op[sort_by.n_use_op - 1]) : "";
    if (op == "<") return false;
    if (op == ">") return true;
    return std::nullopt;
  }

  std::optional<PlanError> readSortBy(size_t i, const PgQuery__SortBy** sort_by,
                                      SortKey* key) const {
    *sort_by = as<PgQuery__SortBy>(s_->sort_clause[i], pg_query__sort_by__descriptor);
    if (*sort_by == nullptr) return notSupported("this ORDER BY is not supported");
    const std::optional<bool> descending = direction(**sort_by);
    if (!descending) return notSupported("ORDER BY ... USING other than < and > is not supported");
    if (tree::any(tree::nodeValue((*sort_by)->node), isCollationOtherThanC)) {
      return notSupported(
          "ORDER BY ... COLLATE other than \"C\" is not supported (the merge orders text "
          "bytewise)");
    }
    key->descending = *descending;
    key->nulls_first = (*sort_by)->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
                       ((*sort_by)->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_DEFAULT &&
                        key->descending);
    return std::nullopt;
  }

  // Plain rows: concatenated, or merged in ORDER BY order; a sort key that is not a result
  // column the planner can place gets a hidden copy at the end of the shard's result.
  std::optional<PlanError> planRows() {
    plan_->kind = s_->n_sort_clause > 0 ? MergeKind::kSorted : MergeKind::kConcatenate;
    std::vector<size_t> hidden_keys;  // plan_->sort indexes whose column is hidden
    for (size_t i = 0; i < s_->n_sort_clause; ++i) {
      const PgQuery__SortBy* sort_by = nullptr;
      SortKey key;
      if (std::optional<PlanError> refused = readSortBy(i, &sort_by, &key)) return refused;
      if (const std::optional<int64_t> at = position(sort_by->node)) {
        if (*at < 1 ||
            (!starBefore(s_->n_target_list) && *at > static_cast<int64_t>(s_->n_target_list))) {
          return PlanError{"42P10",
                           "ORDER BY position " + std::to_string(*at) + " is not in select list"};
        }
        key.column = {false, static_cast<size_t>(*at - 1)};
      } else {
        bool unknown_name = false;
        const std::optional<size_t> target = resolveTarget(sort_by->node, true, &unknown_name);
        if (!target && unknown_name) {
          return notSupported(
              "ORDER BY a name that may be an unnamed result column is not supported");
        }
        if (target && !starBefore(*target)) {
          key.column = {false, *target};
        } else {
          const PgQuery__Node* expr = target ? targetAt(s_, *target)->val : sort_by->node;
          tree::append(&s_->target_list, &s_->n_target_list, tree::makeResTarget(tree::copy(expr)));
          hidden_keys.push_back(plan_->sort.size());
          key.column = {true, hidden_keys.size() - 1};
          changed_ = true;
        }
      }
      plan_->sort.push_back(key);
    }
    for (const size_t k : hidden_keys) {  // counted from the end now that all are appended
      plan_->sort[k].column.index = hidden_keys.size() - 1 - plan_->sort[k].column.index;
    }
    plan_->hidden_columns = hidden_keys.size();
    return rewriteBoundsForShards();
  }

  static PgQuery__Node* boundNode(const RowBound& bound) {
    if (bound.kind == RowBound::Kind::kConstant) return tree::makeInteger(bound.value);
    return tree::makeInt8Cast(tree::makeParam(bound.parameter));
  }

  // A parameter the shard SQL no longer needs stays in it as OFFSET 0 * $n::bigint (0, or
  // NULL which OFFSET reads as 0): the client's Bind carries its value, and a statement must
  // take as many parameters as its Bind supplies.
  void keepParameters(std::initializer_list<const RowBound*> dropped) {
    PgQuery__Node* anchor = nullptr;
    for (const RowBound* bound : dropped) {
      if (bound->kind != RowBound::Kind::kParameter) continue;
      PgQuery__Node* zero = tree::makeTimes(tree::makeInteger(0), boundNode(*bound));
      anchor = anchor == nullptr ? zero : tree::makePlus(anchor, zero);
    }
    tree::freeNode(s_->limit_offset);
    s_->limit_offset = anchor;
  }

  // Each shard returns the first LIMIT + OFFSET rows; the merge skips OFFSET of the merged.
  std::optional<PlanError> rewriteBoundsForShards() {
    const RowBound& limit = plan_->limit;
    const RowBound& offset = plan_->offset;
    if (offset.kind == RowBound::Kind::kNone) return std::nullopt;
    PgQuery__Node* shard_limit = nullptr;
    if (limit.kind == RowBound::Kind::kConstant && offset.kind == RowBound::Kind::kConstant) {
      if (limit.value > INT64_MAX - offset.value) {
        return notSupported("LIMIT plus OFFSET past the bigint range is not supported");
      }
      shard_limit = tree::makeInteger(limit.value + offset.value);
    } else if (limit.kind != RowBound::Kind::kNone) {
      shard_limit = tree::makePlus(boundNode(limit), boundNode(offset));
    }
    tree::freeNode(s_->limit_count);
    s_->limit_count = shard_limit;
    if (limit.kind == RowBound::Kind::kNone) {
      keepParameters({&offset});  // else OFFSET is part of the new LIMIT
    } else {
      keepParameters({});
    }
    changed_ = true;
    return std::nullopt;
  }

  std::optional<PlanError> readAggregateTarget(size_t i) {
    const PgQuery__ResTarget* target = targetAt(s_, i);
    if (isStar(target)) {
      return notSupported(
          "a * in the result of a query with aggregates or DISTINCT is not supported");
    }
    const Message* val = tree::nodeValue(target->val);
    AggregateColumn column;
    if (isAggregateCall(val)) {
      const auto* call = reinterpret_cast<const PgQuery__FuncCall*>(val);
      const std::optional<ColumnRole> role = mergeableAggregate(builtinName(call));
      if (!role || call->agg_within_group) {
        return notSupported("aggregates other than count, sum, min, max and avg are not supported");
      }
      if (call->agg_distinct) {
        return notSupported(
            "aggregates over DISTINCT values (count(DISTINCT x)) are not supported");
      }
      const bool star_ok = *role == ColumnRole::kCount && call->agg_star && call->n_args == 0;
      if (!star_ok && (call->agg_star || call->n_args != 1)) {
        return notSupported("this form of " + std::string(builtinName(call)) +
                            "() is not supported");
      }
      column.role = *role;
    } else if (tree::any(val, isAggregateCall)) {
      return notSupported("aggregates inside expressions (as in sum(x) + 1) are not supported");
    }
    plan_->aggregate.push_back(column);
    return std::nullopt;
  }

  // Aggregates, GROUP BY or DISTINCT: each shard groups its rows and the merge combines
  // groups with equal keys. Every non-aggregate result column is a merge key: GROUP BY
  // items must be result columns, and a result column not in GROUP BY is constant within a
  // group (functionally dependent, or PostgreSQL refuses the query).
  std::optional<PlanError> planAggregate() {
    plan_->kind = MergeKind::kAggregate;
    const bool distinct = s_->n_distinct_clause > 0;
    if (distinct &&
        (s_->n_distinct_clause != 1 || tree::nodeValue(s_->distinct_clause[0]) != nullptr)) {
      return notSupported("DISTINCT ON is not supported");
    }
    if (distinct && (s_->n_group_clause > 0 ||
                     anyTarget([](const Message* m) { return tree::any(m, isAggregateCall); }))) {
      return notSupported("DISTINCT together with aggregates or GROUP BY is not supported");
    }
    for (size_t i = 0; !distinct && i < s_->n_target_list; ++i) {
      if (std::optional<PlanError> refused = readAggregateTarget(i)) return refused;
    }
    plan_->grouped = distinct || s_->n_group_clause > 0;
    for (size_t i = 0; i < s_->n_group_clause; ++i) {
      const std::optional<size_t> target = placeGroupItem(s_->group_clause[i]);
      if (!target || plan_->aggregate[*target].role != ColumnRole::kGroupKey) {
        return notSupported("GROUP BY on an expression not in the result is not supported");
      }
    }
    for (size_t i = 0; i < s_->n_sort_clause; ++i) {
      const PgQuery__SortBy* sort_by = nullptr;
      SortKey key;
      if (std::optional<PlanError> refused = readSortBy(i, &sort_by, &key)) return refused;
      const std::optional<size_t> target = placeAggregateSortKey(sort_by->node);
      if (!target) {
        return notSupported(
            "ORDER BY on an expression not in the result is not supported with aggregates or "
            "DISTINCT");
      }
      key.column = {false, *target};
      plan_->sort.push_back(key);
    }
    rewriteAverages();
    stripOrderAndBounds();
    return std::nullopt;
  }

  std::optional<size_t> placeGroupItem(const PgQuery__Node* item) const {
    if (const std::optional<int64_t> at = position(item)) {
      if (*at < 1 || *at > static_cast<int64_t>(s_->n_target_list)) return std::nullopt;
      return static_cast<size_t>(*at - 1);
    }
    bool unknown_name = false;
    return resolveTarget(item, false, &unknown_name);
  }

  std::optional<size_t> placeAggregateSortKey(const PgQuery__Node* expr) const {
    if (const std::optional<int64_t> at = position(expr)) {
      if (*at < 1 ||
          (!starBefore(s_->n_target_list) && *at > static_cast<int64_t>(s_->n_target_list))) {
        return std::nullopt;
      }
      return static_cast<size_t>(*at - 1);
    }
    bool unknown_name = false;
    const std::optional<size_t> target = resolveTarget(expr, true, &unknown_name);
    if (!target || starBefore(*target)) return std::nullopt;
    return target;
  }

  // avg(x) runs on the shards as sum(x) named like the avg column, plus a hidden count(x).
  void rewriteAverages() {
    const size_t visible = s_->n_target_list;
    for (size_t i = 0; i < plan_->aggregate.size(); ++i) {
      if (plan_->aggregate[i].role != ColumnRole::kAvg) continue;
      auto* target =
          tree::asMutable<PgQuery__ResTarget>(s_->target_list[i], pg_query__res_target__descriptor);
      auto* call = tree::asMutable<PgQuery__FuncCall>(target->val, pg_query__func_call__descriptor);
      auto* name = tree::asMutable<PgQuery__String>(call->funcname[call->n_funcname - 1],
                                                    pg_query__string__descriptor);
      std::free(name->sval);
      name->sval = tree::copyString("sum");
      if (target->name == nullptr || target->name[0] == '\0') {
        if (target->name != protobuf_c_empty_string) std::free(target->name);
        target->name = tree::copyString("avg");
      }
      PgQuery__Node* count =
          tree::makeCount(tree::copy(call->args[0]), tree::copy(call->agg_filter));
      tree::append(&s_->target_list, &s_->n_target_list, tree::makeResTarget(count));
      plan_->aggregate[i].count_column = s_->n_target_list - 1;
      changed_ = true;
    }
    plan_->hidden_columns = s_->n_target_list - visible;
  }

  // The merge sorts and bounds the combined groups; a shard's own would cut groups short.
  void stripOrderAndBounds() {
    if (s_->n_sort_clause > 0 || s_->limit_count != nullptr || s_->limit_offset != nullptr) {
      changed_ = true;
    }
    tree::freeNodes(&s_->sort_clause, &s_->n_sort_clause);
    tree::freeNode(s_->limit_count);
    s_->limit_count = nullptr;
    s_->limit_option = PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_DEFAULT;
    keepParameters({&plan_->limit, &plan_->offset});
  }
};

bool isWrite(const Message* stmt) {
  return tree::is(stmt, pg_query__insert_stmt__descriptor) ||
         tree::is(stmt, pg_query__update_stmt__descriptor) ||
         tree::is(stmt, pg_query__delete_stmt__descriptor) ||
         tree::is(stmt, pg_query__merge_stmt__descriptor);
}

PlanResult concatenateUnmerged(std::string_view sql, std::string reason) {
  ScatterPlan plan;
  plan.kind = MergeKind::kConcatenate;
  plan.shard_sql = std::string(sql);
  plan.unordered_reason = std::move(reason);
  return {plan, {}};
}

PlanResult planSelect(PgQuery__ParseResult* parsed, PgQuery__SelectStmt* select,
                      std::string_view sql, CrossShardPolicy policy) {
  ScatterPlan plan;
  SelectPlanner planner(select, &plan);
  if (std::optional<PlanError> refused = planner.run()) {
    if (refused->sqlstate == "0A000" && policy == CrossShardPolicy::kAllowUnordered) {
      return concatenateUnmerged(sql, refused->message);
    }
    return {std::nullopt, *refused};
  }
  if (policy == CrossShardPolicy::kDeny && plan.kind != MergeKind::kAnyOneShard) {
    return {std::nullopt,
            {"0A000", std::string(kPrefix) + "cross_shard is deny: a query without a sharding key "
                                             "is refused"}};
  }
  plan.shard_sql = std::string(sql);
  if (planner.changed()) {
    std::string error;
    std::optional<std::string> text = tree::deparse(parsed, &error);
    if (!text)
      return {std::nullopt, notSupported("this statement could not be rewritten (" + error + ")")};
    plan.shard_sql = std::move(*text);
    plan.rewritten = true;
  }
  return {plan, {}};
}

PlanResult planStatement(PgQuery__ParseResult* parsed, std::string_view sql,
                         CrossShardPolicy policy) {
  if (parsed->n_stmts == 0) {  // empty or only comments: any shard answers EmptyQueryResponse
    ScatterPlan plan;
    plan.kind = MergeKind::kAnyOneShard;
    plan.shard_sql = std::string(sql);
    return {plan, {}};
  }
  if (parsed->n_stmts > 1)
    return {std::nullopt, notSupported("several statements in one query are not supported")};
  Message* stmt = const_cast<Message*>(tree::nodeValue(parsed->stmts[0]->stmt));
  if (tree::is(stmt, pg_query__select_stmt__descriptor)) {
    return planSelect(parsed, reinterpret_cast<PgQuery__SelectStmt*>(stmt), sql, policy);
  }
  if (isWrite(stmt)) {
    if (policy == CrossShardPolicy::kAllowUnordered) {
      return concatenateUnmerged(sql, "a write without a sharding key runs on every shard");
    }
    return {std::nullopt, notSupported("a write without a sharding key is not supported")};
  }
  const std::string kind = stmt != nullptr ? stmt->descriptor->short_name : "statement";
  return {std::nullopt, notSupported(kind + " without a sharding key is not supported")};
}

PlanResult planParsed(std::string_view sql, CrossShardPolicy policy) {
  const std::string text(sql);
  PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(text.c_str());
  if (parsed.error != nullptr) {
    PlanResult result{std::nullopt, {"42601", parsed.error->message}};
    pg_query_free_protobuf_parse_result(parsed);
    return result;
  }
  PgQuery__ParseResult* tree = pg_query__parse_result__unpack(
      nullptr, parsed.parse_tree.len, reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
  pg_query_free_protobuf_parse_result(parsed);
  if (tree == nullptr) return {std::nullopt, notSupported("this statement could not be read")};
  PlanResult result = planStatement(tree, sql, policy);
  pg_query__parse_result__free_unpacked(tree, nullptr);
  return result;
}

}  // namespace

PlanResult planScatter(std::string_view sql, CrossShardPolicy policy) {
  if (sql.size() > kMaxPlannedBytes) {
    return {std::nullopt, notSupported("statements over 1 MB are not supported")};
  }
  if (sql.size() <= kInlineParseBytes) return planParsed(sql, policy);
  PlanResult result{std::nullopt, notSupported("this statement could not be planned")};
  route::runWithStack(kDeepParseStackBytes, [&] { result = planParsed(sql, policy); });
  return result;
}

std::optional<ResolvedBounds> resolveBounds(const ScatterPlan& plan,
                                            const std::vector<std::optional<std::string>>& params,
                                            PlanError* error) {
  ResolvedBounds bounds;
  const auto value = [&](const RowBound& bound, const char* what,
                         std::optional<int64_t>* out) -> bool {
    *out = std::nullopt;
    if (bound.kind == RowBound::Kind::kConstant) *out = bound.value;
    if (bound.kind != RowBound::Kind::kParameter) return true;
    if (bound.parameter < 1 || static_cast<size_t>(bound.parameter) > params.size()) {
      *error = {"08P01", "there is no parameter $" + std::to_string(bound.parameter)};
      return false;
    }
    const std::optional<std::string>& text = params[bound.parameter - 1];
    if (!text) return true;  // NULL: no limit, no offset
    int64_t parsed = 0;
    const auto result = std::from_chars(text->data(), text->data() + text->size(), parsed);
    if (result.ec != std::errc() || result.ptr != text->data() + text->size()) {
      *error = {"22P02", "invalid input syntax for type bigint: \"" + *text + "\""};
      return false;
    }
    if (parsed < 0) {
      *error = {std::string(what) == "LIMIT" ? "2201W" : "2201X",
                std::string(what) + " must not be negative"};
      return false;
    }
    *out = parsed;
    return true;
  };
  std::optional<int64_t> offset;
  if (!value(plan.limit, "LIMIT", &bounds.limit) || !value(plan.offset, "OFFSET", &offset)) {
    return std::nullopt;
  }
  bounds.offset = offset.value_or(0);
  return bounds;
}

}  // namespace sg::pg::scatter

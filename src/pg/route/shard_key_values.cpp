#include "pg/route/shard_key_values.h"

#include <algorithm>

namespace sg::pg::route {

using tree::is;
using tree::Message;
using tree::nodeValue;
using tree::stringValue;

void addDistinct(std::vector<KeyValue>& values, const KeyValue& value) {
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
}

bool provablyDifferent(const KeyValue& a, const KeyValue& b) {
  if (a.kind != b.kind || a.type != b.type || a.text == b.text) return false;
  if (a.kind == KeyValueKind::kInteger) return true;
  return a.kind == KeyValueKind::kString && (a.type == "text" || a.type == "varchar");
}

namespace {

std::vector<KeyValue> allowedBy(const KeySet& from, const KeySet& other) {
  std::vector<KeyValue> kept;
  for (const KeyValue& value : from.values) {
    const bool possible =
        std::any_of(other.values.begin(), other.values.end(),
                    [&](const KeyValue& v) { return !provablyDifferent(value, v); });
    if (possible) kept.push_back(value);
  }
  return kept;
}

// An integer constant's text as PostgreSQL's int8in would read it: no leading zeros (the
// parser keeps a constant too large for int4 as written).
bool isIntegerText(const std::string& text) {
  const size_t digits = !text.empty() && text[0] == '-' ? 1 : 0;
  return text.size() > digits && text.find_first_not_of("0123456789", digits) == std::string::npos;
}

std::string canonicalInteger(const std::string& text) {
  const bool negative = text[0] == '-';
  size_t first = negative ? 1 : 0;
  while (first + 1 < text.size() && text[first] == '0') ++first;
  std::string digits = text.substr(first);
  return negative && digits != "0" ? "-" + digits : digits;
}

// A constant's value; kOther for bit strings.
Term constant(const PgQuery__AConst* c) {
  Term term;
  if (c->isnull) {
    term.kind = TermKind::kNull;
    return term;
  }
  term.kind = TermKind::kValue;
  switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_IVAL:
      term.value.text = std::to_string(c->ival->ival);
      break;
    case PG_QUERY__A__CONST__VAL_FVAL:
      term.value.text = c->fval->fval;
      if (isIntegerText(term.value.text)) {
        term.value.text = canonicalInteger(term.value.text);
      } else {
        term.value.kind = KeyValueKind::kNumeric;
      }
      break;
    case PG_QUERY__A__CONST__VAL_SVAL:
      term.value.kind = KeyValueKind::kString;
      term.value.text = c->sval->sval;
      break;
    case PG_QUERY__A__CONST__VAL_BOOLVAL:
      term.value.kind = KeyValueKind::kBoolean;
      term.value.text = c->boolval->boolval ? "true" : "false";
      break;
    default:
      term.kind = TermKind::kOther;
  }
  return term;
}

// A cast's type when it is a plain one (no typmod, which may truncate or round, no array, no
// %TYPE), pg_catalog. dropped; nullopt otherwise.
std::optional<std::string> plainTypeName(const PgQuery__TypeName* type, bool array) {
  if (type == nullptr || type->n_names == 0 || type->n_typmods > 0 || type->pct_type ||
      type->setof || (type->n_array_bounds > 0) != array) {
    return std::nullopt;
  }
  std::string name;
  for (size_t i = 0; i < type->n_names; ++i) {
    const std::string_view part = stringValue(type->names[i]);
    if (part.empty()) return std::nullopt;
    if (i == 0 && part == "pg_catalog" && type->n_names > 1) continue;
    if (!name.empty()) name += '.';
    name += part;
  }
  return name;
}

// Integers keep their text through these casts; other casts of numbers (to bool, or of a
// numeric to an integer type, which rounds) are left to the server. A string cast to bpchar
// compares without its trailing spaces ('a '::bpchar matches 'a'), so it is not one value.
bool castKeepsText(const KeyValue& value, const std::string& type) {
  if (type == "bpchar") return false;
  if (value.kind == KeyValueKind::kString || value.kind == KeyValueKind::kParameter) return true;
  if (value.kind != KeyValueKind::kInteger) return false;
  for (const char* keeps : {"int2", "int4", "int8", "numeric", "text", "varchar"}) {
    if (type == keeps) return true;
  }
  return false;
}

// A number, or a number cast to a numeric type: what unary minus and plus apply to as the
// server would (-(5::int8) is -5::int8).
bool isNumber(const Term& term) {
  const KeyValue& v = term.value;
  if (term.kind != TermKind::kValue ||
      (v.kind != KeyValueKind::kInteger && v.kind != KeyValueKind::kNumeric)) {
    return false;
  }
  for (const char* numeric : {"", "int2", "int4", "int8", "numeric"}) {
    if (v.type == numeric) return true;
  }
  return false;
}

Term negated(Term term) {
  std::string& text = term.value.text;
  text = text[0] == '-' ? text.substr(1) : "-" + text;
  if (term.value.kind == KeyValueKind::kInteger) text = canonicalInteger(text);
  return term;
}

Term unaryOperator(const PgQuery__AExpr* e) {
  if (e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP || e->lexpr != nullptr || e->n_name != 1) {
    return {};
  }
  const std::string_view op = stringValue(e->name[0]);
  if (op != "-" && op != "+") return {};
  Term term = readTerm(nodeValue(e->rexpr));
  if (!isNumber(term)) return {};
  return op == "-" ? negated(std::move(term)) : term;
}

}  // namespace

KeySet intersect(const KeySet& a, const KeySet& b) {
  if (!a.constrained) return b;
  if (!b.constrained) return a;
  std::vector<KeyValue> from_a = allowedBy(a, b);
  std::vector<KeyValue> from_b = allowedBy(b, a);
  return KeySet::of(from_b.size() < from_a.size() ? std::move(from_b) : std::move(from_a));
}

KeySet unite(const KeySet& a, const KeySet& b) {
  if (!a.constrained || !b.constrained) return KeySet::any();
  KeySet both = a;
  for (const KeyValue& value : b.values) addDistinct(both.values, value);
  return both;
}

Term readTerm(const Message* m) {
  if (const auto* c = is(m, pg_query__a__const__descriptor)
                          ? reinterpret_cast<const PgQuery__AConst*>(m)
                          : nullptr) {
    return constant(c);
  }
  if (is(m, pg_query__param_ref__descriptor)) {
    Term term{TermKind::kValue, {}};
    term.value.kind = KeyValueKind::kParameter;
    term.value.param = reinterpret_cast<const PgQuery__ParamRef*>(m)->number;
    return term;
  }
  if (is(m, pg_query__a__expr__descriptor)) {
    return unaryOperator(reinterpret_cast<const PgQuery__AExpr*>(m));
  }
  if (!is(m, pg_query__type_cast__descriptor)) return {};
  const auto* cast = reinterpret_cast<const PgQuery__TypeCast*>(m);
  const std::optional<std::string> type = plainTypeName(cast->type_name, false);
  const Message* arg = nodeValue(cast->arg);
  if (!type ||
      !(is(arg, pg_query__a__const__descriptor) || is(arg, pg_query__param_ref__descriptor))) {
    return {};  // a cast of a cast, of an expression, or to a type with a modifier
  }
  Term term = readTerm(arg);
  if (term.kind != TermKind::kValue) return term;
  if (!castKeepsText(term.value, *type)) return {};
  term.value.type = *type;
  return term;
}

std::optional<std::vector<KeyValue>> readAnyArray(const Message* m) {
  std::string element_type;
  if (is(m, pg_query__type_cast__descriptor)) {
    const auto* cast = reinterpret_cast<const PgQuery__TypeCast*>(m);
    const std::optional<std::string> type = plainTypeName(cast->type_name, true);
    if (!type) return std::nullopt;
    element_type = *type;
    m = nodeValue(cast->arg);
  }
  if (is(m, pg_query__param_ref__descriptor)) {
    KeyValue array;
    array.kind = KeyValueKind::kParameterArray;
    array.param = reinterpret_cast<const PgQuery__ParamRef*>(m)->number;
    array.type = element_type;
    return std::vector<KeyValue>{array};
  }
  if (!is(m, pg_query__a__array_expr__descriptor)) return std::nullopt;
  const auto* array = reinterpret_cast<const PgQuery__AArrayExpr*>(m);
  std::vector<KeyValue> values;
  for (size_t i = 0; i < array->n_elements; ++i) {
    Term term = readTerm(nodeValue(array->elements[i]));
    if (term.kind == TermKind::kNull) continue;  // matches no row
    if (term.kind != TermKind::kValue) return std::nullopt;
    if (term.value.type.empty() && !element_type.empty()) {
      if (!castKeepsText(term.value, element_type)) return std::nullopt;
      term.value.type = element_type;
    }
    addDistinct(values, term.value);
  }
  return values;
}

}  // namespace sg::pg::route

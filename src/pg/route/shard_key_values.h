#pragma once
// The value side of the shard key finder (shard_key.h): reading a constant or parameter from
// the parse tree, and the set algebra AND and OR need.
#include <optional>
#include <vector>

#include "pg/route/pg_tree.h"
#include "pg/route/shard_key.h"

namespace sg::pg::route {

// The keys a condition allows: unconstrained (any key), or one of `values` (none: no row).
struct KeySet {
  bool constrained = false;
  std::vector<KeyValue> values;

  static KeySet any() { return {}; }
  static KeySet of(std::vector<KeyValue> values) { return {true, std::move(values)}; }
};

// Appends value unless an identical one is there already.
void addDistinct(std::vector<KeyValue>& values, const KeyValue& value);

// Two values that cannot be the same key whatever the column's type: two integers, or two
// strings cast to text or varchar, of different text. Anything else may be equal ('5' and 5,
// '05' and '5' for an integer column, $1 and 7).
bool provablyDifferent(const KeyValue& a, const KeyValue& b);

// A AND B: the values of each side that the other side may also allow, the smaller side's.
KeySet intersect(const KeySet& a, const KeySet& b);

// A OR B: every value of both, when both are constrained.
KeySet unite(const KeySet& a, const KeySet& b);

// What a comparison's other side is.
enum class TermKind : uint8_t { kValue, kNull, kOther };
struct Term {
  TermKind kind = TermKind::kOther;
  KeyValue value;
};

// A constant, $n, either with one explicit cast of a plain type, or a negated number: the
// forms whose value the caller can read without evaluating SQL. NULL (also cast) is kNull.
Term readTerm(const tree::Message* m);

// The elements of `= ANY(...)`: ARRAY[values] (optionally cast to an array type) gives the
// values, $n or $n::type[] a parameter array; nullopt for anything else.
std::optional<std::vector<KeyValue>> readAnyArray(const tree::Message* m);

}  // namespace sg::pg::route

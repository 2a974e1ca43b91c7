#pragma once
// Which called functions a statement may run on a replica. The classifier asks for every
// FuncCall in a parse tree; anything not known to be read-only sends the statement to the
// primary.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace sg::pg::route {

enum class FunctionKind : uint8_t {
  kReadOnly,      // built-in read-only function, or one the user listed
  kUnknown,       // not known to be read-only (any user function): primary, a hint may override
  kWrites,        // known to write (nextval, setval, lo_import, ...): primary, no hint overrides
  kSessionState,  // changes session state (set_config, session advisory locks): primary, sticky
};

// The built-in list is PostgreSQL 15's documented functions (manual chapter 9: math, string,
// pattern matching, formatting, date/time, enum, arrays, ranges, JSON, text search, UUID,
// aggregates, window functions, set-returning functions, system information and object size)
// that neither write, take locks, change settings nor fail on a hot standby; volatile ones
// that only read (random, clock_timestamp, gen_random_uuid) are in. Left out on purpose:
// currval/lastval (session sequence state), txid_current and pg_current_xact_id (assign a
// transaction id), pg_current_wal_lsn (fails in recovery), dblink and anything from an
// extension. Immutable for the lifetime of a config snapshot; shared by the workers.
class FunctionAllowList {
 public:
  // `extra`: names the user declares read-only, "name" or "schema.name" (case-insensitive).
  // A bare name matches unqualified calls and pg_catalog.name; a schema-qualified call outside
  // pg_catalog matches only an entry with that schema. User entries win over the built-in
  // write list (the user said so).
  explicit FunctionAllowList(const std::vector<std::string>& extra = {});

  // `qualifier`: the name parts before the function's own name joined by '.' ("" when the call
  // is unqualified); `name`: the last part. Both compared case-insensitively.
  FunctionKind lookup(std::string_view qualifier, std::string_view name) const;

  size_t userEntries() const { return extra_.size(); }

 private:
  std::unordered_set<std::string> extra_;  // lower-case "name" or "schema.name"
};

// The built-in lists, lower-case (exposed for tests: sorted, no overlap).
const std::vector<std::string_view>& builtinReadOnlyFunctions();
const std::vector<std::string_view>& builtinWritingFunctions();
const std::vector<std::string_view>& builtinSessionStateFunctions();

}  // namespace sg::pg::route

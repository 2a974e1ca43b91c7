#pragma once
// The proxy's comment hints: /* scalegate: primary */, -- scalegate: replica,
// /* scalegate: shard=3, sharding_key='abc' */. PostgreSQL's parser drops comments, so a small
// lexer finds them. It is hand-written rather than pg_query_scan because it is cheap enough
// to run on every uncached statement (no protobuf output, and nothing at all when the text has
// no "scalegate"), and it still works on text that does not scan (an unterminated string):
// the hints of such text are still honoured. Its comments agree with pg_query_scan's (the unit
// test and the fuzz target compare them). standard_conforming_strings is assumed on (the
// default since PostgreSQL 9.1): in '...' a backslash is an ordinary character.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::pg::route {

enum class RouteHint : uint8_t { kPrimary, kReplica };

struct CommentHints {
  std::optional<RouteHint> route;           // primary wins over replica when both are given
  std::optional<uint32_t> shard;            // the last shard=N given
  std::optional<std::string> sharding_key;  // the last sharding_key=V given
  bool operator==(const CommentHints&) const = default;
};

// A comment's bytes in the text, delimiters included (for a line comment, up to but not
// including the newline).
struct CommentSpan {
  size_t begin = 0, end = 0;
  bool operator==(const CommentSpan&) const = default;
};

// Every comment outside string literals, quoted identifiers and dollar-quoted bodies. Block
// comments nest as in PostgreSQL; an unterminated one runs to the end of the text.
std::vector<CommentSpan> findComments(std::string_view sql);

// One pass of the lexer: the comments, and an upper estimate of how deep the parse tree of
// any statement in the text can nest (see NestingEstimate in the .cpp), used to keep texts
// that would nest deeper than libpg_query handles well away from it.
struct SqlScan {
  std::vector<CommentSpan> comments;
  size_t nesting_estimate = 0;
  // String constants ('..', E'..', B'..', X'..', N'..', U&'..', $tag$..$tag$, prefix included)
  // and numeric constants, in text order: what a verdict never depends on (the cache key
  // blanks them).
  std::vector<CommentSpan> literals;
};
SqlScan scanSql(std::string_view sql);

// Whether the text mentions "scalegate" in any case (a cheap test before looking for hints).
bool containsScalegate(std::string_view sql);

// The hints in the given comments of `sql` (from scanSql).
CommentHints hintsInComments(std::string_view sql, const std::vector<CommentSpan>& comments);

// The hints in all comments of `sql`. Items after "scalegate:" are separated by commas or
// spaces; unknown items and malformed values are ignored (the comment is the user's).
CommentHints findCommentHints(std::string_view sql);

}  // namespace sg::pg::route

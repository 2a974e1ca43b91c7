#include "pg/route/pg_tree.h"

#include <pg_query.h>

#include "pg/route/comment_hints.h"
#include "pg/route/deep_stack.h"

namespace sg::pg::route::tree {

namespace {

// The classifier's limits (statement_class.cpp explains them): libpg_query's protobuf output
// recurses without a depth check, and costs time quadratic in the depth.
constexpr size_t kMaxNestingEstimate = 3000;
constexpr size_t kInlineNestingEstimate = 300;
constexpr size_t kDeepParseStackBytes = size_t{64} << 20;
constexpr size_t kMaxParsedBytes = size_t{1} << 20;

bool parseAndUse(const std::string& sql,
                 const std::function<void(const PgQuery__ParseResult&)>& use, std::string& error) {
  PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql.c_str());
  PgQuery__ParseResult* result = nullptr;
  if (parsed.error == nullptr) {
    result = pg_query__parse_result__unpack(
        nullptr, parsed.parse_tree.len, reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
  }
  if (result == nullptr) {
    error = parsed.error != nullptr ? parsed.error->message : "unreadable parse tree";
    pg_query_free_protobuf_parse_result(parsed);
    return false;
  }
  pg_query_free_protobuf_parse_result(parsed);
  use(*result);
  pg_query__parse_result__free_unpacked(result, nullptr);
  return true;
}

}  // namespace

void forEachChild(const Message* m, const char* skip,
                  const std::function<void(const Message*)>& visit) {
  const auto* base = reinterpret_cast<const char*>(m);
  const ProtobufCMessageDescriptor& d = *m->descriptor;
  const auto unwrap = [&](const Message* child) {
    if (is(child, pg_query__node__descriptor)) {
      child = nodeValue(reinterpret_cast<const PgQuery__Node*>(child));
    }
    if (child != nullptr) visit(child);
  };
  for (unsigned i = 0; i < d.n_fields; ++i) {
    const ProtobufCFieldDescriptor& field = d.fields[i];
    if (field.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (skip != nullptr && std::strcmp(field.name, skip) == 0) continue;
    if (field.label == PROTOBUF_C_LABEL_REPEATED) {
      const size_t count = *reinterpret_cast<const size_t*>(base + field.quantifier_offset);
      const auto* items = *reinterpret_cast<const Message* const* const*>(base + field.offset);
      for (size_t j = 0; j < count; ++j) unwrap(items[j]);
      continue;
    }
    if ((field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *reinterpret_cast<const uint32_t*>(base + field.quantifier_offset) != field.id) {
      continue;  // another member of the oneof is set
    }
    unwrap(*reinterpret_cast<const Message* const*>(base + field.offset));
  }
}

bool withParseTree(std::string_view sql,
                   const std::function<void(const PgQuery__ParseResult&)>& use,
                   std::string& error) {
  sql = sql.substr(0, sql.find('\0'));  // the wire protocol's strings end at a NUL
  if (sql.size() > kMaxParsedBytes) {
    error = "too long to parse";
    return false;
  }
  const size_t nesting = scanSql(sql).nesting_estimate;
  if (nesting > kMaxNestingEstimate) {
    error = "nesting too deep to parse";
    return false;
  }
  const std::string text(sql);
  if (nesting <= kInlineNestingEstimate) return parseAndUse(text, use, error);
  bool parsed = false;
  if (!runWithStack(kDeepParseStackBytes, [&] { parsed = parseAndUse(text, use, error); })) {
    error = "no thread to parse a long text";
  }
  return parsed;
}

}  // namespace sg::pg::route::tree

#pragma once
// The one home of the readers of libpg_query's protobuf parse trees (protobuf-c structs): the
// statement classifier, the shard key finder and the scatter planner read trees through these.
// Also the guarded parse of the classifier and the shard key finder: text past 1 MB or nesting
// past the estimate it refuses is not parsed, deep text is parsed on a large stack. (The scatter
// planner parses with guards of its own: it changes the tree, and plans nesting they refuse.)
#include <pg_query/pg_query.pb-c.h>

#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "pg/route/comment_hints.h"

namespace sg::pg::route::tree {

using Message = ProtobufCMessage;

inline bool is(const Message* m, const ProtobufCMessageDescriptor& descriptor) {
  return m != nullptr && m->descriptor == &descriptor;
}

// The message a Node holds (every member of its oneof is a message pointer), or null.
inline const Message* nodeValue(const PgQuery__Node* node) {
  if (node == nullptr || node->node_case == PG_QUERY__NODE__NODE__NOT_SET) return nullptr;
  const Message* value = nullptr;  // memcpy: reading the union through its first member
  std::memcpy(&value, &node->alias, sizeof value);
  return value;
}

// The node's message as T when it is one (descriptor checked), else null.
template <typename T>
const T* as(const PgQuery__Node* node, const ProtobufCMessageDescriptor& descriptor) {
  const Message* m = nodeValue(node);
  return is(m, descriptor) ? reinterpret_cast<const T*>(m) : nullptr;
}

// A String node's text, or "" for anything else.
inline std::string_view stringValue(const PgQuery__Node* node) {
  const auto* s = as<PgQuery__String>(node, pg_query__string__descriptor);
  return s != nullptr ? std::string_view(s->sval) : std::string_view();
}

// Calls visit(child) for every non-null child message of m, Node wrappers as they are, in field
// order, skipping fields whose name is `skip` (may be null). Through the descriptors, so no node
// type can hide a subquery from a walk. A template: the classifier's walk is on its hot path.
template <typename Visit>
void forEachChildMessage(const Message* m, const char* skip, Visit&& visit) {
  const auto* base = reinterpret_cast<const char*>(m);
  const ProtobufCMessageDescriptor& d = *m->descriptor;
  for (unsigned i = 0; i < d.n_fields; ++i) {
    const ProtobufCFieldDescriptor& field = d.fields[i];
    if (field.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (skip != nullptr && std::strcmp(field.name, skip) == 0) continue;
    if (field.label == PROTOBUF_C_LABEL_REPEATED) {
      const size_t count = *reinterpret_cast<const size_t*>(base + field.quantifier_offset);
      const auto* items = *reinterpret_cast<const Message* const* const*>(base + field.offset);
      for (size_t j = 0; j < count; ++j) {
        if (items[j] != nullptr) visit(items[j]);
      }
      continue;
    }
    if ((field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *reinterpret_cast<const uint32_t*>(base + field.quantifier_offset) != field.id) {
      continue;  // another member of the oneof is set
    }
    const auto* child = *reinterpret_cast<const Message* const*>(base + field.offset);
    if (child != nullptr) visit(child);
  }
}

// As forEachChildMessage, with each Node replaced by the message it holds (empty Nodes skipped).
template <typename Visit>
void forEachChild(const Message* m, const char* skip, Visit&& visit) {
  forEachChildMessage(m, skip, [&](const Message* child) {
    if (is(child, pg_query__node__descriptor)) {
      child = nodeValue(reinterpret_cast<const PgQuery__Node*>(child));
    }
    if (child != nullptr) visit(child);
  });
}

// What withParseTree did with a text.
enum class ParseOutcome {
  kParsed,    // use(tree) ran
  kRejected,  // the parser refused the text (a syntax error) or its tree was unreadable
  kTooLong,   // past 1 MB: neither scanned nor parsed
  kTooDeep,   // nesting estimate past what the parse can afford: scanned, not parsed
  kNoThread,  // no thread with a large stack for a deeply nested text
};

using ParseTreeUse = std::function<void(const PgQuery__ParseResult&)>;

// Parses sql (up to its first NUL) and calls use(tree) with the unpacked tree, on the thread
// that parsed it (a deep tree needs that thread's stack); anything else leaves the reason in
// `error`. When `scan` is not null it receives scanSql's result for the text (all but kTooLong
// fill it), so a caller that reads comments too scans the text once.
ParseOutcome withParseTree(std::string_view sql, const ParseTreeUse& use, std::string& error,
                           SqlScan* scan = nullptr);

}  // namespace sg::pg::route::tree

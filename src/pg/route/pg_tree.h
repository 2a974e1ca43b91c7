#pragma once
// Small readers for libpg_query's protobuf parse trees (protobuf-c structs), and a parse with
// the same guards as the classifier's (statement_class.cpp): text past 1 MB or nesting past
// the estimate it refuses is not parsed, deep text is parsed on a large stack. The shard key
// finder uses these; the classifier has its own copies (left as they are).
#include <pg_query/pg_query.pb-c.h>

#include <cstring>
#include <functional>
#include <string>
#include <string_view>

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

// Calls visit(child) for every child message of m (Nodes unwrapped), in field order, skipping
// fields whose name is `skip` (may be null). Through the descriptors, so no node type can hide
// a subquery from a walk.
void forEachChild(const Message* m, const char* skip,
                  const std::function<void(const Message*)>& visit);

// Parses sql and calls use(tree) with the unpacked tree; false, with the reason in `error`,
// when the text is not parsed (a syntax error, too long, too deeply nested).
bool withParseTree(std::string_view sql,
                   const std::function<void(const PgQuery__ParseResult&)>& use, std::string& error);

}  // namespace sg::pg::route::tree

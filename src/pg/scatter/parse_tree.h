#pragma once
// Changing libpg_query's protobuf parse trees (protobuf-c structs) for the planner; the readers
// (is, nodeValue, as, the child walk) are route's (pg/route/pg_tree.h). New nodes are allocated as
// protobuf-c's default allocator does (malloc), so the tree's own free (free_unpacked) releases
// them with the rest; a node taken out of the tree is freed with freeNode.
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <optional>
#include <string>
#include <string_view>

#include "pg/route/pg_tree.h"

namespace sg::pg::scatter::tree {

using route::tree::as;
using route::tree::is;
using route::tree::Message;
using route::tree::nodeValue;

template <typename T>
T* asMutable(PgQuery__Node* node, const ProtobufCMessageDescriptor& descriptor) {
  return const_cast<T*>(as<T>(node, descriptor));
}

// Deep equality that ignores `location` fields (the same expression written twice).
bool equal(const Message* a, const Message* b);

// Calls visit on every message under `root` (root included) until it returns true; depth
// past kMaxDepth counts as found (the caller refuses such trees).
bool any(const Message* root, bool (*visit)(const Message*));

PgQuery__Node* copy(const PgQuery__Node* node);
void freeNode(PgQuery__Node* node);
void freeNodes(PgQuery__Node*** nodes, size_t* count);
char* copyString(std::string_view text);

// New nodes.
PgQuery__Node* wrap(Message* message);
PgQuery__Node* makeString(std::string_view text);
PgQuery__Node* makeInteger(int64_t value);  // an A_Const (a Float constant past int32)
PgQuery__Node* makeInt8Cast(PgQuery__Node* arg);
PgQuery__Node* makePlus(PgQuery__Node* left, PgQuery__Node* right);
PgQuery__Node* makeTimes(PgQuery__Node* left, PgQuery__Node* right);
PgQuery__Node* makeParam(int number);
// count(arg), with `filter` as its FILTER (WHERE ...) when not null.
PgQuery__Node* makeCount(PgQuery__Node* arg, PgQuery__Node* filter);
PgQuery__Node* makeResTarget(PgQuery__Node* val);
void append(PgQuery__Node*** nodes, size_t* count, PgQuery__Node* node);

// The deparsed statement text, or nullopt (with *error) when libpg_query refuses the tree.
std::optional<std::string> deparse(const PgQuery__ParseResult* tree, std::string* error);

}  // namespace sg::pg::scatter::tree

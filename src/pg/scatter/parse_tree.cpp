#include "pg/scatter/parse_tree.h"

#include <cstdlib>
#include <cstring>
#include <vector>

namespace sg::pg::scatter::tree {

namespace {

// A guard for the recursive walks: deeper than the trees of texts parsed on the caller's stack
// (planner.cpp), shallow enough for the deep-stack thread of longer texts.
constexpr int kMaxDepth = 100000;

template <typename T>
T* allocate(void (*init)(T*)) {
  T* m = static_cast<T*>(std::malloc(sizeof(T)));
  init(m);
  return m;
}

size_t elementSize(const ProtobufCFieldDescriptor& f) {
  switch (f.type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
      return sizeof(void*);
    case PROTOBUF_C_TYPE_BYTES:
      return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
      return 8;
    default:
      return 4;
  }
}

bool equalScalar(const ProtobufCFieldDescriptor& f, const void* a, const void* b) {
  switch (f.type) {
    case PROTOBUF_C_TYPE_STRING: {
      const char* x = *static_cast<char* const*>(a);
      const char* y = *static_cast<char* const*>(b);
      return std::strcmp(x ? x : "", y ? y : "") == 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
      const auto* x = static_cast<const ProtobufCBinaryData*>(a);
      const auto* y = static_cast<const ProtobufCBinaryData*>(b);
      return x->len == y->len && (x->len == 0 || std::memcmp(x->data, y->data, x->len) == 0);
    }
    default:  // integers, enums, bools, floats and doubles: compared as stored
      return std::memcmp(a, b, elementSize(f)) == 0;
  }
}

bool equalAt(const Message* a, const Message* b, int depth);

bool equalElement(const ProtobufCFieldDescriptor& f, const void* a, const void* b, int depth) {
  if (f.type != PROTOBUF_C_TYPE_MESSAGE) return equalScalar(f, a, b);
  return equalAt(*static_cast<const Message* const*>(a), *static_cast<const Message* const*>(b),
                 depth + 1);
}

bool equalField(const ProtobufCFieldDescriptor& f, const Message* a, const Message* b, int depth) {
  const auto* x = reinterpret_cast<const char*>(a);
  const auto* y = reinterpret_cast<const char*>(b);
  if (f.label == PROTOBUF_C_LABEL_REPEATED) {
    const size_t n = *reinterpret_cast<const size_t*>(x + f.quantifier_offset);
    if (n != *reinterpret_cast<const size_t*>(y + f.quantifier_offset)) return false;
    const char* xs = *reinterpret_cast<char* const*>(x + f.offset);
    const char* ys = *reinterpret_cast<char* const*>(y + f.offset);
    for (size_t i = 0; i < n; ++i) {
      if (!equalElement(f, xs + i * elementSize(f), ys + i * elementSize(f), depth)) return false;
    }
    return true;
  }
  if ((f.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
    const uint32_t case_a = *reinterpret_cast<const uint32_t*>(x + f.quantifier_offset);
    const uint32_t case_b = *reinterpret_cast<const uint32_t*>(y + f.quantifier_offset);
    if (case_a != case_b) return false;
    if (case_a != f.id) return true;  // another member of the oneof is set
  }
  return equalElement(f, x + f.offset, y + f.offset, depth);
}

bool equalAt(const Message* a, const Message* b, int depth) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->descriptor != b->descriptor || depth > kMaxDepth) return false;
  const ProtobufCMessageDescriptor& d = *a->descriptor;
  for (unsigned i = 0; i < d.n_fields; ++i) {
    if (std::strcmp(d.fields[i].name, "location") == 0) continue;
    if (!equalField(d.fields[i], a, b, depth)) return false;
  }
  return true;
}

bool anyAt(const Message* m, bool (*visit)(const Message*), int depth) {
  if (m == nullptr) return false;
  if (depth > kMaxDepth || visit(m)) return true;
  bool found = false;
  route::tree::forEachChildMessage(
      m, nullptr, [&](const Message* child) { found = found || anyAt(child, visit, depth + 1); });
  return found;
}

}  // namespace

bool equal(const Message* a, const Message* b) { return equalAt(a, b, 0); }

bool any(const Message* root, bool (*visit)(const Message*)) { return anyAt(root, visit, 0); }

PgQuery__Node* copy(const PgQuery__Node* node) {
  if (node == nullptr) return nullptr;
  std::vector<uint8_t> packed(pg_query__node__get_packed_size(node));
  pg_query__node__pack(node, packed.data());
  return pg_query__node__unpack(nullptr, packed.size(), packed.data());
}

void freeNode(PgQuery__Node* node) {
  if (node != nullptr) protobuf_c_message_free_unpacked(&node->base, nullptr);
}

void freeNodes(PgQuery__Node*** nodes, size_t* count) {
  for (size_t i = 0; i < *count; ++i) freeNode((*nodes)[i]);
  std::free(*nodes);
  *nodes = nullptr;
  *count = 0;
}

char* copyString(std::string_view text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

PgQuery__Node* wrap(Message* message) {
  auto* node = allocate<PgQuery__Node>(pg_query__node__init);
  const ProtobufCMessageDescriptor& d = pg_query__node__descriptor;
  for (unsigned i = 0; i < d.n_fields; ++i) {
    if (d.fields[i].descriptor != message->descriptor) continue;
    node->node_case = static_cast<PgQuery__Node__NodeCase>(d.fields[i].id);
    std::memcpy(&node->alias, &message, sizeof message);
    return node;
  }
  std::abort();  // every parse tree message type is a member of Node
}

PgQuery__Node* makeString(std::string_view text) {
  auto* s = allocate<PgQuery__String>(pg_query__string__init);
  s->sval = copyString(text);
  return wrap(&s->base);
}

PgQuery__Node* makeInteger(int64_t value) {
  auto* constant = allocate<PgQuery__AConst>(pg_query__a__const__init);
  if (value >= INT32_MIN && value <= INT32_MAX) {
    constant->val_case = PG_QUERY__A__CONST__VAL_IVAL;
    constant->ival = allocate<PgQuery__Integer>(pg_query__integer__init);
    constant->ival->ival = static_cast<int32_t>(value);
  } else {  // as PostgreSQL's own parser represents an integer past int32
    constant->val_case = PG_QUERY__A__CONST__VAL_FVAL;
    constant->fval = allocate<PgQuery__Float>(pg_query__float__init);
    constant->fval->fval = copyString(std::to_string(value));
  }
  constant->location = -1;
  return wrap(&constant->base);
}

PgQuery__Node* makeInt8Cast(PgQuery__Node* arg) {
  auto* type = allocate<PgQuery__TypeName>(pg_query__type_name__init);
  append(&type->names, &type->n_names, makeString("pg_catalog"));
  append(&type->names, &type->n_names, makeString("int8"));
  type->typemod = -1;
  type->location = -1;
  auto* cast = allocate<PgQuery__TypeCast>(pg_query__type_cast__init);
  cast->arg = arg;
  cast->type_name = type;
  cast->location = -1;
  return wrap(&cast->base);
}

namespace {

PgQuery__Node* makeOperator(std::string_view name, PgQuery__Node* left, PgQuery__Node* right) {
  auto* expr = allocate<PgQuery__AExpr>(pg_query__a__expr__init);
  expr->kind = PG_QUERY__A__EXPR__KIND__AEXPR_OP;
  append(&expr->name, &expr->n_name, makeString(name));
  expr->lexpr = left;
  expr->rexpr = right;
  expr->location = -1;
  return wrap(&expr->base);
}

}  // namespace

PgQuery__Node* makePlus(PgQuery__Node* left, PgQuery__Node* right) {
  return makeOperator("+", left, right);
}

PgQuery__Node* makeTimes(PgQuery__Node* left, PgQuery__Node* right) {
  return makeOperator("*", left, right);
}

PgQuery__Node* makeParam(int number) {
  auto* param = allocate<PgQuery__ParamRef>(pg_query__param_ref__init);
  param->number = number;
  param->location = -1;
  return wrap(&param->base);
}

PgQuery__Node* makeCount(PgQuery__Node* arg, PgQuery__Node* filter) {
  auto* call = allocate<PgQuery__FuncCall>(pg_query__func_call__init);
  append(&call->funcname, &call->n_funcname, makeString("count"));
  append(&call->args, &call->n_args, arg);
  call->agg_filter = filter;
  call->funcformat = PG_QUERY__COERCION_FORM__COERCE_EXPLICIT_CALL;
  call->location = -1;
  return wrap(&call->base);
}

PgQuery__Node* makeResTarget(PgQuery__Node* val) {
  auto* target = allocate<PgQuery__ResTarget>(pg_query__res_target__init);
  target->val = val;
  target->location = -1;
  return wrap(&target->base);
}

void append(PgQuery__Node*** nodes, size_t* count, PgQuery__Node* node) {
  auto* grown =
      static_cast<PgQuery__Node**>(std::realloc(*nodes, (*count + 1) * sizeof(PgQuery__Node*)));
  if (grown == nullptr) std::abort();
  grown[(*count)++] = node;
  *nodes = grown;
}

std::optional<std::string> deparse(const PgQuery__ParseResult* tree, std::string* error) {
  std::vector<uint8_t> packed(pg_query__parse_result__get_packed_size(tree));
  pg_query__parse_result__pack(tree, packed.data());
  PgQueryProtobuf protobuf{packed.size(), reinterpret_cast<char*>(packed.data())};
  PgQueryDeparseResult result = pg_query_deparse_protobuf(protobuf);
  std::optional<std::string> text;
  if (result.error != nullptr) {
    *error = result.error->message;
  } else {
    text = result.query;
  }
  pg_query_free_deparse_result(result);
  return text;
}

}  // namespace sg::pg::scatter::tree

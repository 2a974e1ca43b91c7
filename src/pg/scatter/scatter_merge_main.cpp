// scatter_merge: the scatter planner and merger on their own, for the integration test that
// checks them against a real PostgreSQL (tests/integration/test_pg_scatter_merge.py) and for
// looking by hand.
//   scatter_merge plan [merge|deny|allow_unordered]  < sql
//     prints "ok <kind> <rewritten> <hidden columns>" and the shard SQL on the next line, or
//     "error <sqlstate> <message>"
//   scatter_merge merge <shards> [merge|allow_unordered [parameter values...]] < input
//     input: Int32 length and the SQL, then the shards' backend messages, each preceded by
//     one byte, its shard's index; prints the client's messages (the merged answer). The
//     parameter values are the bound values of $1, $2, ... (\N for NULL), for LIMIT $n.
#include <cstring>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "pg/scatter/result_merger.h"
#include "pg/wire.h"

namespace {

using sg::pg::scatter::CrossShardPolicy;

CrossShardPolicy policyNamed(const char* name) {
  if (std::strcmp(name, "deny") == 0) return CrossShardPolicy::kDeny;
  if (std::strcmp(name, "allow_unordered") == 0) return CrossShardPolicy::kAllowUnordered;
  return CrossShardPolicy::kMerge;
}

const char* kindName(sg::pg::scatter::MergeKind kind) {
  switch (kind) {
    case sg::pg::scatter::MergeKind::kAnyOneShard:
      return "any_one_shard";
    case sg::pg::scatter::MergeKind::kConcatenate:
      return "concatenate";
    case sg::pg::scatter::MergeKind::kSorted:
      return "sorted";
    case sg::pg::scatter::MergeKind::kAggregate:
      return "aggregate";
  }
  return "?";
}

int plan(const std::string& sql, CrossShardPolicy policy) {
  const sg::pg::scatter::PlanResult result = sg::pg::scatter::planScatter(sql, policy);
  if (!result.plan) {
    std::cout << "error " << result.error.sqlstate << ' ' << result.error.message << '\n';
    return 0;
  }
  std::cout << "ok " << kindName(result.plan->kind) << ' ' << result.plan->rewritten << ' '
            << result.plan->hidden_columns << '\n'
            << result.plan->shard_sql << '\n';
  return 0;
}

int merge(const std::string& input, size_t shards, CrossShardPolicy policy,
          const std::vector<std::optional<std::string>>& params) {
  sg::pg::PayloadReader reader(input);
  int32_t sql_length = 0;
  std::string_view sql;
  if (!reader.readInt32(&sql_length) || sql_length < 0 ||
      !reader.readBytes(static_cast<size_t>(sql_length), &sql)) {
    std::cerr << "scatter_merge: bad input\n";
    return 2;
  }
  const sg::pg::scatter::PlanResult result = sg::pg::scatter::planScatter(sql, policy);
  if (!result.plan) {
    std::cerr << "scatter_merge: refused: " << result.error.message << '\n';
    return 2;
  }
  sg::pg::scatter::PlanError error;
  const auto bounds = sg::pg::scatter::resolveBounds(*result.plan, params, &error);
  if (!bounds) {
    std::cerr << "scatter_merge: " << error.message << '\n';
    return 2;
  }
  sg::pg::scatter::ResultMerger merger(*result.plan, *bounds, shards);
  std::string_view shard_byte;
  while (reader.readBytes(1, &shard_byte)) {
    std::string_view type, payload;
    int32_t length = 0;
    if (!reader.readBytes(1, &type) || !reader.readInt32(&length) || length < 4 ||
        !reader.readBytes(static_cast<size_t>(length - 4), &payload)) {
      std::cerr << "scatter_merge: bad message\n";
      return 2;
    }
    merger.onMessage(static_cast<unsigned char>(shard_byte[0]), type[0], payload);
    std::cout << merger.takeOutput();
  }
  std::cout << merger.takeOutput();
  return merger.finished() ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string input(std::istreambuf_iterator<char>(std::cin), {});
  if (argc >= 2 && std::strcmp(argv[1], "plan") == 0) {
    return plan(input, policyNamed(argc >= 3 ? argv[2] : "merge"));
  }
  if (argc >= 3 && std::strcmp(argv[1], "merge") == 0) {
    const size_t shards = std::stoul(argv[2]);
    if (shards == 0 || shards > 255) return 2;
    std::vector<std::optional<std::string>> params;
    for (int i = 4; i < argc; ++i) {
      params.push_back(std::strcmp(argv[i], "\\N") == 0 ? std::nullopt
                                                        : std::optional<std::string>(argv[i]));
    }
    return merge(input, shards, policyNamed(argc >= 4 ? argv[3] : "merge"), params);
  }
  std::cerr << "usage: scatter_merge plan [policy] < sql | scatter_merge merge <shards> [policy]\n";
  return 2;
}

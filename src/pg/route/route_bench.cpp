// Cost per statement of the read/write classification: libpg_query's parse alone (protobuf and
// JSON output, the JSON one read back with Boost.JSON as the alternative design would), the
// whole uncached classifyStatement, and a StatementClassifier cache hit.
//   build/src/pg/route/route_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "pg/route/classifier.h"

namespace {

using sg::pg::route::FunctionAllowList;
using sg::pg::route::StatementClassifier;

// A point read, a typical ORM join, a write, and a 2 kB reporting query.
const std::vector<std::string>& statements() {
  static const std::vector<std::string> texts = [] {
    std::string report =
        "with recent as (select * from orders where created_at > now() - interval '7 days')";
    for (int i = 0; i < 12; ++i) {
      report += " , c" + std::to_string(i) +
                " as (select customer_id, sum(amount) as total, "
                "count(*) as n, max(created_at) as last from recent where region = $" +
                std::to_string(i + 1) + " group by customer_id)";
    }
    report += " select * from c0 join c1 using (customer_id) order by total desc limit 100";
    return std::vector<std::string>{
        "SELECT id, name, email FROM users WHERE id = $1",
        "SELECT u.id, u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE "
        "u.created_at > $1 AND lower(u.email) LIKE $2 ORDER BY o.total DESC LIMIT 50",
        "UPDATE accounts SET balance = balance - $1 WHERE id = $2", report};
  }();
  return texts;
}

void BM_ParseProtobuf(benchmark::State& state) {
  const std::string& sql = statements()[state.range(0)];
  for (auto _ : state) {
    PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql.c_str());
    PgQuery__ParseResult* tree = pg_query__parse_result__unpack(
        nullptr, parsed.parse_tree.len, reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
    benchmark::DoNotOptimize(tree);
    pg_query__parse_result__free_unpacked(tree, nullptr);
    pg_query_free_protobuf_parse_result(parsed);
  }
}

// libpg_query's own share: parse and protobuf output, without protobuf-c's unpack.
void BM_ParseProtobufOutputOnly(benchmark::State& state) {
  const std::string& sql = statements()[state.range(0)];
  for (auto _ : state) {
    PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql.c_str());
    benchmark::DoNotOptimize(parsed.parse_tree.data);
    pg_query_free_protobuf_parse_result(parsed);
  }
}

void BM_ParseJsonOutputOnly(benchmark::State& state) {
  const std::string& sql = statements()[state.range(0)];
  for (auto _ : state) {
    PgQueryParseResult parsed = pg_query_parse(sql.c_str());
    benchmark::DoNotOptimize(parsed.parse_tree);
    pg_query_free_parse_result(parsed);
  }
}

void BM_ParseJson(benchmark::State& state) {
  const std::string& sql = statements()[state.range(0)];
  for (auto _ : state) {
    PgQueryParseResult parsed = pg_query_parse(sql.c_str());
    boost::json::value tree = boost::json::parse(parsed.parse_tree);
    benchmark::DoNotOptimize(tree);
    pg_query_free_parse_result(parsed);
  }
}

void BM_ClassifyUncached(benchmark::State& state) {
  const std::string& sql = statements()[state.range(0)];
  const FunctionAllowList functions;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sg::pg::route::classifyStatement(sql, functions));
  }
}

void BM_ClassifyCached(benchmark::State& state) {
  const std::string& sql = statements()[state.range(0)];
  StatementClassifier classifier(std::make_shared<const FunctionAllowList>(), 4096, 16 << 20);
  // A cache with a thousand others in it: libstdc++ scans a map of up to 20 entries instead of
  // hashing, which would hide the cost of hashing the text.
  for (int i = 0; i < 1000; ++i)
    classifier.classify("select * from t where id = " + std::to_string(i));
  classifier.classify(sql);
  for (auto _ : state) benchmark::DoNotOptimize(classifier.classify(sql));
}

}  // namespace

BENCHMARK(BM_ParseProtobuf)->DenseRange(0, 3);
BENCHMARK(BM_ParseProtobufOutputOnly)->DenseRange(0, 3);
BENCHMARK(BM_ParseJsonOutputOnly)->DenseRange(0, 3);
BENCHMARK(BM_ParseJson)->DenseRange(0, 3);
BENCHMARK(BM_ClassifyUncached)->DenseRange(0, 3);
BENCHMARK(BM_ClassifyCached)->DenseRange(0, 3);
BENCHMARK_MAIN();

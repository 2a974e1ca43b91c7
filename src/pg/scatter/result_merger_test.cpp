#include "pg/scatter/result_merger.h"

#include <gtest/gtest.h>

#include "pg/wire.h"

namespace sg::pg::scatter {
namespace {

using Values = std::vector<std::optional<std::string>>;

struct Column {
  const char* name;
  uint32_t type;
  int16_t format = 0;
};

std::string rowDescription(const std::vector<Column>& columns) {
  std::vector<FieldDescription> fields;
  for (const Column& c : columns) {
    FieldDescription field;
    field.name = c.name;
    field.type_oid = c.type;
    field.type_size = -1;
    field.type_modifier = -1;
    field.format = c.format;
    fields.push_back(field);
  }
  std::string message;
  appendRowDescription(&message, fields);
  return message.substr(5);
}

std::string dataRow(const Values& values) {
  std::vector<std::optional<std::string_view>> views;
  for (const auto& v : values)
    views.push_back(v ? std::optional<std::string_view>(*v) : std::nullopt);
  std::string message;
  appendDataRow(&message, views);
  return message.substr(5);
}

std::string tag(const char* text) { return std::string(text) + '\0'; }

struct Answer {
  std::vector<std::string> columns;
  std::vector<uint32_t> types;
  std::vector<Values> rows;
  std::string tag;
  std::string sqlstate;
  std::string error;
  int descriptions = 0;
  bool empty_query = false;
  int notices = 0;
};

Answer parseAnswer(std::string_view bytes) {
  Answer answer;
  while (!bytes.empty()) {
    Message m;
    size_t used = 0;
    std::string error;
    EXPECT_EQ(parseMessage(bytes, 1 << 20, &m, &used, &error), ParseStatus::kDone);
    bytes.remove_prefix(used);
    if (m.type == 'T') {
      ++answer.descriptions;
      const std::optional<std::vector<FieldDescription>> fields = parseRowDescription(m.payload);
      for (const FieldDescription& f : fields.value()) {
        answer.columns.push_back(f.name);
        answer.types.push_back(f.type_oid);
      }
    } else if (m.type == 'D') {
      const DataRow row = *DataRow::parse(std::string(m.payload));
      Values values;
      for (size_t i = 0; i < row.size(); ++i) {
        const auto v = row.value(i);
        values.push_back(v ? std::optional<std::string>(*v) : std::nullopt);
      }
      answer.rows.push_back(values);
    } else if (m.type == 'C') {
      answer.tag = std::string(m.payload.substr(0, m.payload.size() - 1));
    } else if (m.type == 'E') {
      for (std::string_view rest = m.payload; rest.size() > 1;) {
        const size_t end = rest.find('\0');
        if (rest[0] == 'C') answer.sqlstate = std::string(rest.substr(1, end - 1));
        if (rest[0] == 'M') answer.error = std::string(rest.substr(1, end - 1));
        rest.remove_prefix(end + 1);
      }
    } else if (m.type == 'I') {
      answer.empty_query = true;
    } else if (m.type == 'N') {
      ++answer.notices;
    }
  }
  return answer;
}

class MergerHarness {
 public:
  MergerHarness(const char* sql, size_t shards, MergeLimits limits = {},
                std::vector<std::optional<std::string>> params = {}) {
    const PlanResult result = planScatter(sql, CrossShardPolicy::kMerge);
    EXPECT_TRUE(result.plan) << result.error.message;
    PlanError error;
    merger_.emplace(*result.plan, *resolveBounds(*result.plan, params, &error), shards, limits);
  }
  void send(size_t shard, char type, const std::string& payload) {
    merger_->onMessage(shard, type, payload);
    output_ += merger_->takeOutput();
  }
  void describe(size_t shard, const std::vector<Column>& columns) {
    send(shard, 'T', rowDescription(columns));
  }
  void row(size_t shard, const Values& values) { send(shard, 'D', dataRow(values)); }
  void end(size_t shard, const char* command = "SELECT 0") { send(shard, 'C', tag(command)); }
  Answer answer() const { return parseAnswer(output_); }
  ResultMerger& merger() { return *merger_; }

 private:
  std::optional<ResultMerger> merger_;
  std::string output_;
};

TEST(ResultMergerTest, ConcatenationStreamsRowsAsTheyCome) {
  MergerHarness h("select id, name from t", 2);
  h.describe(0, {{"id", type_oid::kInt4}, {"name", type_oid::kText}});
  h.row(0, {"1", "a"});  // held: shard 1 has not described its columns yet
  EXPECT_EQ(h.answer().descriptions, 0);
  h.describe(1, {{"id", type_oid::kInt4}, {"name", type_oid::kText}});
  EXPECT_EQ(h.answer().rows.size(), 1u);
  h.row(1, {"2", std::nullopt});
  h.row(0, {"3", "c"});
  EXPECT_EQ(h.answer().rows.size(), 3u);
  h.end(0, "SELECT 2");
  EXPECT_FALSE(h.merger().finished());
  h.end(1, "SELECT 1");
  const Answer a = h.answer();
  EXPECT_TRUE(h.merger().finished());
  EXPECT_EQ(a.descriptions, 1);
  EXPECT_EQ(a.columns, (std::vector<std::string>{"id", "name"}));
  EXPECT_EQ(a.rows, (std::vector<Values>{{"1", "a"}, {"2", std::nullopt}, {"3", "c"}}));
  EXPECT_EQ(a.tag, "SELECT 3");
}

TEST(ResultMergerTest, OrderByIsAKWayMergeThatWaitsForEveryShard) {
  MergerHarness h("select id, v from t order by v desc, id", 3);
  for (size_t s = 0; s < 3; ++s) h.describe(s, {{"id", type_oid::kInt4}, {"v", type_oid::kInt8}});
  h.row(0, {"1", std::nullopt});  // DESC: NULLS FIRST
  h.row(0, {"4", "30"});
  h.row(1, {"2", "100"});
  EXPECT_EQ(h.answer().rows.size(), 0u);  // shard 2 may still send a larger row
  h.row(2, {"5", "30"});
  // The NULL, then shard 1's 100; shard 1 may still send a row above shard 0's 30.
  EXPECT_EQ(h.answer().rows.size(), 2u);
  h.end(1);
  EXPECT_EQ(h.answer().rows.size(), 3u);  // (4, 30) before (5, 30): id breaks the tie
  h.row(2, {"3", "5"});
  h.end(0);
  h.end(2);
  const Answer a = h.answer();
  EXPECT_EQ(a.rows, (std::vector<Values>{
                        {"1", std::nullopt}, {"2", "100"}, {"4", "30"}, {"5", "30"}, {"3", "5"}}));
  EXPECT_EQ(a.tag, "SELECT 5");
}

TEST(ResultMergerTest, TypesOrderValuesAndNullsLastByDefault) {
  MergerHarness h("select n, f, s from t order by n, f, s", 2);
  const std::vector<Column> columns = {
      {"n", type_oid::kNumeric}, {"f", type_oid::kFloat8}, {"s", type_oid::kText}};
  h.describe(0, columns);
  h.describe(1, columns);
  h.row(0, {"-10.5", "1", "x"});
  h.row(0, {"2", "NaN", "x"});
  h.row(0, {"2", std::nullopt, "x"});
  h.row(1, {"9.99", "0", "b"});
  h.row(1, {"2", "Infinity", "a"});
  h.row(1, {std::nullopt, "1", "a"});
  h.end(0);
  h.end(1);
  EXPECT_EQ(h.answer().rows, (std::vector<Values>{{"-10.5", "1", "x"},
                                                  {"2", "NaN", "x"},
                                                  {"2", std::nullopt, "x"},
                                                  {"9.99", "0", "b"},
                                                  {"2", "Infinity", "a"},
                                                  {std::nullopt, "1", "a"}}));
}

TEST(ResultMergerTest, LimitAndOffsetApplyToTheMergedRows) {
  MergerHarness h("select id from t order by id limit 3 offset 2", 2);
  h.describe(0, {{"id", type_oid::kInt4}});
  h.describe(1, {{"id", type_oid::kInt4}});
  for (const char* id : {"1", "3", "5", "7", "9"}) h.row(0, {id});
  for (const char* id : {"2", "4", "6"}) h.row(1, {id});
  h.end(0);
  h.end(1);
  const Answer a = h.answer();
  EXPECT_EQ(a.rows, (std::vector<Values>{{"3"}, {"4"}, {"5"}}));
  EXPECT_EQ(a.tag, "SELECT 3");
}

TEST(ResultMergerTest, ParameterBoundsComeFromTheBoundValues) {
  MergerHarness h("select id from t order by id limit $1 offset $2", 1, {}, {"1", "1"});
  h.describe(0, {{"id", type_oid::kInt4}});
  for (const char* id : {"1", "2", "3"}) h.row(0, {id});
  h.end(0);
  EXPECT_EQ(h.answer().rows, (std::vector<Values>{{"2"}}));
}

TEST(ResultMergerTest, HiddenSortColumnsNeverReachTheClient) {
  MergerHarness h("select name from t order by id", 2);  // shards return name, id
  const std::vector<Column> columns = {{"name", type_oid::kText}, {"id", type_oid::kInt4}};
  h.describe(0, columns);
  h.describe(1, columns);
  h.row(0, {"b", "2"});
  h.row(1, {"c", "1"});
  h.row(1, {"a", "10"});
  h.end(0);
  h.end(1);
  const Answer a = h.answer();
  EXPECT_EQ(a.columns, (std::vector<std::string>{"name"}));
  EXPECT_EQ(a.rows, (std::vector<Values>{{"c"}, {"b"}, {"a"}}));
}

TEST(ResultMergerTest, AggregatesCombineGroupsAcrossShards) {
  MergerHarness h(
      "select g, count(*), sum(i), sum(n), min(s), max(s), avg(i), avg(f) from t group by g "
      "order by g nulls first",
      2);
  const std::vector<Column> columns = {{"g", type_oid::kInt4},     {"count", type_oid::kInt8},
                                       {"sum", type_oid::kInt8},   {"sum", type_oid::kNumeric},
                                       {"min", type_oid::kText},   {"max", type_oid::kText},
                                       {"avg", type_oid::kInt8},   {"avg", type_oid::kFloat8},
                                       {"count", type_oid::kInt8}, {"count", type_oid::kInt8}};
  h.describe(0, columns);
  h.describe(1, columns);
  h.row(0, {"1", "2", "10", "1.5", "b", "d", "10", "0.5", "2", "2"});
  h.row(0, {std::nullopt, "1", "7", "2", "x", "x", "7", std::nullopt, "1", "0"});
  h.row(1, {"1", "1", "-3", "0.25", "a", "c", "-3", "1", "1", "1"});
  h.row(1, {"2", "1", std::nullopt, std::nullopt, "q", "q", std::nullopt, std::nullopt, "0", "0"});
  h.end(0);
  h.end(1);
  const Answer a = h.answer();
  EXPECT_EQ(a.types, (std::vector<uint32_t>{type_oid::kInt4, type_oid::kInt8, type_oid::kInt8,
                                            type_oid::kNumeric, type_oid::kText, type_oid::kText,
                                            type_oid::kNumeric, type_oid::kFloat8}));
  EXPECT_EQ(a.rows,
            (std::vector<Values>{
                {std::nullopt, "1", "7", "2", "x", "x", "7.0000000000000000", std::nullopt},
                {"1", "3", "7", "1.75", "a", "d", "2.3333333333333333", "0.5"},
                {"2", "1", std::nullopt, std::nullopt, "q", "q", std::nullopt, std::nullopt}}));
  EXPECT_EQ(a.tag, "SELECT 3");
}

TEST(ResultMergerTest, ZeroRowsGiveOneRowWithoutGroupByAndNoneWithIt) {
  MergerHarness plain("select count(*), sum(x) from t", 1);
  plain.describe(0, {{"count", type_oid::kInt8}, {"sum", type_oid::kInt8}});
  plain.end(0);
  EXPECT_EQ(plain.answer().rows, (std::vector<Values>{{"0", std::nullopt}}));
  MergerHarness grouped("select g, count(*) from t group by g", 2);
  grouped.describe(0, {{"g", type_oid::kInt4}, {"count", type_oid::kInt8}});
  grouped.describe(1, {{"g", type_oid::kInt4}, {"count", type_oid::kInt8}});
  grouped.end(0);
  grouped.end(1);
  EXPECT_TRUE(grouped.answer().rows.empty());
  EXPECT_EQ(grouped.answer().tag, "SELECT 0");
}

TEST(ResultMergerTest, GroupsLimitAndOffsetAfterSorting) {
  MergerHarness h("select g, count(*) from t group by g order by 2 desc, 1 limit 2 offset 1", 2);
  h.describe(0, {{"g", type_oid::kText}, {"count", type_oid::kInt8}});
  h.describe(1, {{"g", type_oid::kText}, {"count", type_oid::kInt8}});
  h.row(0, {"a", "1"});
  h.row(0, {"b", "5"});
  h.row(1, {"a", "3"});
  h.row(1, {"c", "2"});
  h.row(1, {"d", "1"});
  h.end(0);
  h.end(1);
  EXPECT_EQ(h.answer().rows, (std::vector<Values>{{"a", "4"}, {"c", "2"}}));
}

TEST(ResultMergerTest, DistinctMergesEqualRowsAndNumericKeysByValue) {
  MergerHarness h("select distinct n, s from t", 2);
  h.describe(0, {{"n", type_oid::kNumeric}, {"s", type_oid::kText}});
  h.describe(1, {{"n", type_oid::kNumeric}, {"s", type_oid::kText}});
  h.row(0, {"1.0", "x"});
  h.row(1, {"1.00", "x"});
  h.row(1, {"1.00", std::nullopt});
  h.row(0, {"10", "x"});
  h.end(0);
  h.end(1);
  EXPECT_EQ(h.answer().rows.size(), 3u);
  MergerHarness floats("select distinct f from t", 2);
  floats.describe(0, {{"f", type_oid::kFloat8}});
  floats.describe(1, {{"f", type_oid::kFloat8}});
  floats.row(0, {"-0"});
  floats.row(1, {"0"});
  floats.end(0);
  floats.end(1);
  EXPECT_EQ(floats.answer().rows, (std::vector<Values>{{"-0"}}));
}

TEST(ResultMergerTest, AnInt8SumPastTheRangeIsAnError) {
  MergerHarness h("select sum(x) from t", 2);
  h.describe(0, {{"sum", type_oid::kInt8}});
  h.describe(1, {{"sum", type_oid::kInt8}});
  h.row(0, {"9223372036854775807"});
  h.row(1, {"1"});
  h.end(0);
  h.end(1);
  EXPECT_EQ(h.answer().sqlstate, "22003");
  EXPECT_TRUE(h.merger().failed());
}

TEST(ResultMergerTest, TheFirstShardErrorIsTheAnswer) {
  MergerHarness h("select id from t order by id", 2);
  h.describe(0, {{"id", type_oid::kInt4}});
  h.describe(1, {{"id", type_oid::kInt4}});
  h.row(0, {"1"});
  std::string error;
  appendErrorResponse(&error, "ERROR", "22012", "division by zero");
  h.send(1, 'E', error.substr(5));
  EXPECT_TRUE(h.merger().finished());
  EXPECT_TRUE(h.merger().failed());
  h.row(0, {"2"});  // the rest of the other shards' answers is ignored
  h.end(0);
  const Answer a = h.answer();
  EXPECT_EQ(a.sqlstate, "22012");
  EXPECT_EQ(a.error, "division by zero");
  EXPECT_TRUE(a.tag.empty());
}

TEST(ResultMergerTest, DifferentColumnsOnTheShardsAreAnError) {
  MergerHarness h("select * from t", 2);
  h.describe(0, {{"id", type_oid::kInt4}});
  h.describe(1, {{"id", type_oid::kInt8}});
  EXPECT_EQ(h.answer().sqlstate, "42804");
  EXPECT_EQ(h.answer().descriptions, 0);
}

TEST(ResultMergerTest, EmptyShardsAndEmptyQueries) {
  MergerHarness empty_shards("select id from t order by id", 3);
  for (size_t s = 0; s < 3; ++s) empty_shards.describe(s, {{"id", type_oid::kInt4}});
  for (size_t s = 0; s < 3; ++s) empty_shards.end(s);
  EXPECT_EQ(empty_shards.answer().tag, "SELECT 0");
  EXPECT_EQ(empty_shards.answer().descriptions, 1);
  MergerHarness empty_query("select * from t", 2);
  empty_query.send(0, 'I', "");
  empty_query.send(1, 'I', "");
  EXPECT_TRUE(empty_query.answer().empty_query);
  EXPECT_TRUE(empty_query.merger().finished());
}

TEST(ResultMergerTest, NoticesPassAtOnceAndWriteTagsAddUp) {
  const PlanResult plan = planScatter("update t set a = 1", CrossShardPolicy::kAllowUnordered);
  ASSERT_TRUE(plan.plan);
  ResultMerger merger(*plan.plan, ResolvedBounds{}, 2);
  std::string notice;
  appendNoticeResponse(&notice, "NOTICE", "00000", "hello");
  merger.onMessage(0, 'N', notice.substr(5));
  merger.onMessage(0, 'C', tag("UPDATE 3"));
  merger.onMessage(1, 'C', tag("UPDATE 4"));
  const Answer a = parseAnswer(merger.takeOutput());
  EXPECT_EQ(a.notices, 1);
  EXPECT_EQ(a.tag, "UPDATE 7");
}

TEST(ResultMergerTest, GroupsPastTheLimitAreAClearError) {
  MergeLimits limits;
  limits.max_groups = 2;
  MergerHarness h("select g, count(*) from t group by g", 1, limits);
  h.describe(0, {{"g", type_oid::kInt4}, {"count", type_oid::kInt8}});
  for (const char* g : {"1", "2", "3"}) h.row(0, {g, "1"});
  EXPECT_EQ(h.answer().sqlstate, "54000");
  EXPECT_NE(h.answer().error.find("more than 2 groups"), std::string::npos);
}

TEST(ResultMergerTest, RowsWaitingForTheMergePastTheLimitAreAClearError) {
  MergeLimits limits;
  limits.max_buffered_bytes = 100;
  MergerHarness h("select s from t order by s", 2, limits);
  h.describe(0, {{"s", type_oid::kText}});
  h.describe(1, {{"s", type_oid::kText}});
  for (int i = 0; i < 10; ++i) h.row(0, {std::string(20, 'a')});
  EXPECT_TRUE(h.merger().failed());
  EXPECT_EQ(h.answer().sqlstate, "54000");
}

TEST(ResultMergerTest, UnsupportedTypesAreRefusedInEitherFormat) {
  MergerHarness binary_json("select j from t order by j", 1);
  binary_json.describe(0, {{"j", 114, 1}});
  EXPECT_EQ(binary_json.answer().sqlstate, "0A000");
  EXPECT_NE(binary_json.answer().error.find("type OID 114 in binary format"), std::string::npos);
  MergerHarness json("select j from t order by j", 1);
  json.describe(0, {{"j", 114}});
  EXPECT_EQ(json.answer().sqlstate, "0A000");
  MergerHarness binary_max("select max(j) from t", 1);
  binary_max.describe(0, {{"max", 114, 1}});
  EXPECT_NE(binary_max.answer().error.find("type OID 114"), std::string::npos);
  MergerHarness real_avg("select avg(r) from t", 1);
  real_avg.describe(0, {{"avg", type_oid::kFloat4}, {"count", type_oid::kInt8}});
  EXPECT_NE(real_avg.answer().error.find("avg(real)"), std::string::npos);
  MergerHarness binary_concat("select id from t", 1);  // passed through untouched
  binary_concat.describe(0, {{"id", type_oid::kInt4, 1}});
  binary_concat.row(0, {std::string("\0\0\0\1", 4)});
  binary_concat.end(0, "SELECT 1");
  EXPECT_EQ(binary_concat.answer().rows.size(), 1u);
}

std::string int4(int32_t v) {
  std::string out;
  appendInt32(&out, v);
  return out;
}

std::string int8(int64_t v) {
  return int4(static_cast<int32_t>(v >> 32)) + int4(static_cast<int32_t>(v));
}

TEST(ResultMergerTest, BinarySortKeysMergeInTheirTypesOrder) {
  MergerHarness h("select id from t order by id", 2);
  h.describe(0, {{"id", type_oid::kInt4, 1}});
  h.describe(1, {{"id", type_oid::kInt4, 1}});
  h.row(0, {int4(-5)});
  h.row(0, {int4(3)});
  h.row(1, {int4(-7)});
  h.row(1, {int4(1)});
  h.end(0, "SELECT 2");
  h.end(1, "SELECT 2");
  EXPECT_EQ(h.answer().rows, (std::vector<Values>{{int4(-7)}, {int4(-5)}, {int4(1)}, {int4(3)}}));
}

TEST(ResultMergerTest, BinaryAggregatesAreComputedAndSentInBinary) {
  MergerHarness h("select g, count(*), sum(x), max(x), avg(x) from t group by g order by g", 2);
  const std::vector<Column> columns = {{"g", type_oid::kInt4, 1},   {"count", type_oid::kInt8, 1},
                                       {"sum", type_oid::kInt8, 1}, {"max", type_oid::kInt4, 1},
                                       {"avg", type_oid::kInt8, 1}, {"count", type_oid::kInt8, 1}};
  h.describe(0, columns);
  h.describe(1, columns);
  h.row(0, {int4(2), int8(1), int8(4), int4(4), int8(4), int8(1)});
  h.row(0, {int4(-1), int8(2), int8(-3), int4(-1), int8(-3), int8(2)});
  h.row(1, {int4(2), int8(2), int8(6), int4(5), int8(6), int8(2)});
  h.end(0, "SELECT 2");
  h.end(1, "SELECT 1");
  const Answer a = h.answer();
  ASSERT_EQ(a.rows.size(), 2u);
  // avg over int4 is numeric: 10 / 3 = 3.3333333333333333 (weight 0, dscale 16).
  std::string avg;
  for (int v : {5, 0, 0, 16, 3, 3333, 3333, 3333, 3333}) avg += int4(v).substr(2);
  EXPECT_EQ(a.rows[0][0], int4(-1));
  EXPECT_EQ(a.rows[0][1], int8(2));
  EXPECT_EQ(a.rows[0][2], int8(-3));
  EXPECT_EQ(a.rows[0][3], int4(-1));
  std::string negative_avg;  // -1.5000000000000000
  for (int v : {2, 0, 0x4000, 16, 1, 5000}) negative_avg += int4(v).substr(2);
  EXPECT_EQ(a.rows[0][4], negative_avg);
  EXPECT_EQ(a.rows[1], (Values{int4(2), int8(3), int8(10), int4(5), avg}));
  EXPECT_EQ(a.types[4], type_oid::kNumeric);
}

TEST(ResultMergerTest, DescribeAnswersWithTheClientsColumns) {
  const PlanResult plan =
      planScatter("select g, avg(x) from t group by g", CrossShardPolicy::kMerge);
  ASSERT_TRUE(plan.plan);
  MergeError error;
  const std::optional<std::string> description = clientRowDescription(
      *plan.plan,
      rowDescription(
          {{"g", type_oid::kInt4}, {"avg", type_oid::kInt8}, {"count", type_oid::kInt8}}),
      &error);
  ASSERT_TRUE(description);
  const Answer a = parseAnswer(*description);
  EXPECT_EQ(a.columns, (std::vector<std::string>{"g", "avg"}));
  EXPECT_EQ(a.types, (std::vector<uint32_t>{type_oid::kInt4, type_oid::kNumeric}));
  EXPECT_FALSE(clientRowDescription(*plan.plan, rowDescription({{"g", type_oid::kInt4}}), &error));
}

TEST(ResultMergerTest, AnExecuteWithoutDescribeGetsRowsOnly) {
  MergerHarness h("select id from t order by id", 1);
  h.merger().omitRowDescription();
  h.describe(0, {{"id", type_oid::kInt4}});
  h.row(0, {"1"});
  h.end(0, "SELECT 1");
  EXPECT_EQ(h.answer().descriptions, 0);
  EXPECT_EQ(h.answer().rows.size(), 1u);
  EXPECT_EQ(h.answer().tag, "SELECT 1");
}

}  // namespace
}  // namespace sg::pg::scatter

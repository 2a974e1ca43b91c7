#include "pg/route/classifier.h"

#include <gtest/gtest.h>

#include <string>

namespace sg::pg::route {
namespace {

std::shared_ptr<const FunctionAllowList> defaultFunctions() {
  return std::make_shared<const FunctionAllowList>();
}

TEST(StatementClassifierTest, SecondLookupIsAHitWithTheSameVerdict) {
  StatementClassifier classifier(defaultFunctions(), 100, 1 << 20);
  const auto first = classifier.classify("update t set x = 1");
  EXPECT_EQ(first->target, Target::kPrimary);
  EXPECT_EQ(classifier.misses(), 1u);
  EXPECT_EQ(classifier.hits(), 0u);
  const auto second = classifier.classify(std::string("update t set x = 1"));
  EXPECT_EQ(second.get(), first.get());  // not parsed again
  EXPECT_EQ(classifier.hits(), 1u);
  EXPECT_EQ(classifier.entries(), 1u);
  EXPECT_GT(classifier.bytes(), 0u);
  // Another text (not only its constants) is another entry.
  EXPECT_EQ(classifier.classify("update t set y = 1")->target, Target::kPrimary);
  EXPECT_EQ(classifier.misses(), 2u);
}

TEST(StatementClassifierTest, EvictsLeastRecentlyUsedByCount) {
  StatementClassifier classifier(defaultFunctions(), 2, 1 << 20);
  classifier.classify("select a from t");
  classifier.classify("select b from t");
  classifier.classify("select a from t");  // now the b one is the oldest
  classifier.classify("select c from t");
  EXPECT_EQ(classifier.entries(), 2u);
  EXPECT_EQ(classifier.evictions(), 1u);
  const uint64_t misses = classifier.misses();
  classifier.classify("select a from t");
  classifier.classify("select c from t");
  EXPECT_EQ(classifier.misses(), misses);
  classifier.classify("select b from t");
  EXPECT_EQ(classifier.misses(), misses + 1);
}

TEST(StatementClassifierTest, EvictsByBytesAndSkipsHugeTexts) {
  const std::string long_a = "select " + std::string(3000, 'a') + " from t";
  const std::string long_b = "select " + std::string(3000, 'b') + " from t";
  StatementClassifier classifier(defaultFunctions(), 100, 5000);
  classifier.classify(long_a);
  EXPECT_EQ(classifier.entries(), 1u);
  classifier.classify(long_b);  // both do not fit in 5000 bytes
  EXPECT_EQ(classifier.entries(), 1u);
  EXPECT_EQ(classifier.evictions(), 1u);
  EXPECT_LE(classifier.bytes(), 5000u);

  const std::string huge = "select " + std::string(10000, 'c') + " from t";
  EXPECT_EQ(classifier.classify(huge)->target, Target::kReplicaOk);
  EXPECT_EQ(classifier.entries(), 1u);  // still long_b
  EXPECT_EQ(classifier.evictions(), 1u);
  classifier.classify(long_b);
  EXPECT_EQ(classifier.hits(), 1u);
}

TEST(StatementClassifierTest, TextsThatDifferOnlyInConstantsShareAVerdict) {
  StatementClassifier classifier(defaultFunctions(), 100, 1 << 20);
  const auto first =
      classifier.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;");
  for (const char* text : {"SELECT abalance FROM pgbench_accounts WHERE aid = 7;",
                           "SELECT abalance FROM pgbench_accounts WHERE aid = 1.5e3;"}) {
    EXPECT_EQ(classifier.classify(text).get(), first.get()) << text;
  }
  const auto named =
      classifier.classify("select * from t where b = 'x' and c = E'y\\'' and d = $$z$$");
  EXPECT_EQ(classifier.classify("select * from t where b = '' and c = E'' and d = $q$$q$").get(),
            named.get());
  EXPECT_EQ(classifier.misses(), 2u);
  // Not constants: identifiers, parameters, keywords, function names.
  EXPECT_NE(classifier.classify("select * from t where \"b\" = 1").get(), named.get());
  EXPECT_EQ(classifier.classify("select nextval('s')")->target, Target::kPrimary);
  EXPECT_EQ(classifier.classify("select lower('s')")->target, Target::kReplicaOk);
  // The proxy's own settings keep their values.
  EXPECT_EQ(classifier.classify("set scalegate.route = 'primary'")->set_route,
            RouteSetting::kPrimary);
  EXPECT_EQ(classifier.classify("set scalegate.route = 'replica'")->set_route,
            RouteSetting::kReplica);
}

TEST(StatementClassifierTest, AVerdictOutlivesItsEntry) {
  StatementClassifier classifier(defaultFunctions(), 1, 1 << 20);
  const auto kept = classifier.classify("select nextval('s')");
  classifier.classify("select a from t");
  EXPECT_EQ(classifier.entries(), 1u);
  EXPECT_EQ(kept->reason, "function nextval");
}

TEST(StatementClassifierTest, UsesTheGivenAllowList) {
  StatementClassifier classifier(
      std::make_shared<const FunctionAllowList>(std::vector<std::string>{"my_func"}), 10, 1 << 20);
  EXPECT_EQ(classifier.classify("select my_func()")->target, Target::kReplicaOk);
}

TEST(StatementClassifierTest, ZeroEntriesCachesNothing) {
  StatementClassifier classifier(defaultFunctions(), 0, 1 << 20);
  classifier.classify("select 1");
  classifier.classify("select 1");
  EXPECT_EQ(classifier.misses(), 2u);
  EXPECT_EQ(classifier.entries(), 0u);
}

}  // namespace
}  // namespace sg::pg::route

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
  // The key is the full text: another text is another entry.
  EXPECT_EQ(classifier.classify("update t set x = 1 ")->target, Target::kPrimary);
  EXPECT_EQ(classifier.misses(), 2u);
}

TEST(StatementClassifierTest, EvictsLeastRecentlyUsedByCount) {
  StatementClassifier classifier(defaultFunctions(), 2, 1 << 20);
  classifier.classify("select 1");
  classifier.classify("select 2");
  classifier.classify("select 1");  // now "select 2" is the oldest
  classifier.classify("select 3");
  EXPECT_EQ(classifier.entries(), 2u);
  EXPECT_EQ(classifier.evictions(), 1u);
  const uint64_t misses = classifier.misses();
  classifier.classify("select 1");
  classifier.classify("select 3");
  EXPECT_EQ(classifier.misses(), misses);
  classifier.classify("select 2");
  EXPECT_EQ(classifier.misses(), misses + 1);
}

TEST(StatementClassifierTest, EvictsByBytesAndSkipsHugeTexts) {
  const std::string long_a = "select '" + std::string(3000, 'a') + "'";
  const std::string long_b = "select '" + std::string(3000, 'b') + "'";
  StatementClassifier classifier(defaultFunctions(), 100, 5000);
  classifier.classify(long_a);
  EXPECT_EQ(classifier.entries(), 1u);
  classifier.classify(long_b);  // both do not fit in 5000 bytes
  EXPECT_EQ(classifier.entries(), 1u);
  EXPECT_EQ(classifier.evictions(), 1u);
  EXPECT_LE(classifier.bytes(), 5000u);

  const std::string huge = "select '" + std::string(10000, 'c') + "'";
  EXPECT_EQ(classifier.classify(huge)->target, Target::kReplicaOk);
  EXPECT_EQ(classifier.entries(), 1u);  // still long_b
  EXPECT_EQ(classifier.evictions(), 1u);
  classifier.classify(long_b);
  EXPECT_EQ(classifier.hits(), 1u);
}

TEST(StatementClassifierTest, AVerdictOutlivesItsEntry) {
  StatementClassifier classifier(defaultFunctions(), 1, 1 << 20);
  const auto kept = classifier.classify("select nextval('s')");
  classifier.classify("select 1");
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

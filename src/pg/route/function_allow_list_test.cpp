#include "pg/route/function_allow_list.h"

#include <gtest/gtest.h>

#include <set>

namespace sg::pg::route {
namespace {

TEST(FunctionAllowListTest, BuiltInListsAreLowerCaseAndDisjoint) {
  std::set<std::string_view> seen;
  for (const auto* list :
       {&builtinReadOnlyFunctions(), &builtinWritingFunctions(), &builtinSessionStateFunctions()}) {
    for (std::string_view name : *list) {
      EXPECT_TRUE(seen.insert(name).second) << "listed twice: " << name;
      for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << name;
    }
  }
  EXPECT_GT(builtinReadOnlyFunctions().size(), 250u);
}

TEST(FunctionAllowListTest, LookupByNameAndSchema) {
  const FunctionAllowList list({"my_func", "Reporting.Summary"});
  EXPECT_EQ(list.lookup("", "now"), FunctionKind::kReadOnly);
  EXPECT_EQ(list.lookup("pg_catalog", "NOW"), FunctionKind::kReadOnly);
  EXPECT_EQ(list.lookup("PG_CATALOG", "count"), FunctionKind::kReadOnly);
  EXPECT_EQ(list.lookup("public", "now"), FunctionKind::kUnknown);
  EXPECT_EQ(list.lookup("", "nextval"), FunctionKind::kWrites);
  EXPECT_EQ(list.lookup("pg_catalog", "setval"), FunctionKind::kWrites);
  EXPECT_EQ(list.lookup("", "pg_advisory_lock"), FunctionKind::kSessionState);
  EXPECT_EQ(list.lookup("", "set_config"), FunctionKind::kSessionState);
  EXPECT_EQ(list.lookup("", "currval"), FunctionKind::kUnknown);
  EXPECT_EQ(list.lookup("", "my_func"), FunctionKind::kReadOnly);
  EXPECT_EQ(list.lookup("pg_catalog", "my_func"), FunctionKind::kReadOnly);
  EXPECT_EQ(list.lookup("other", "my_func"), FunctionKind::kUnknown);
  EXPECT_EQ(list.lookup("reporting", "summary"), FunctionKind::kReadOnly);
  EXPECT_EQ(list.lookup("", "summary"), FunctionKind::kUnknown);
  EXPECT_EQ(list.lookup("db.reporting", "summary"), FunctionKind::kUnknown);
  EXPECT_EQ(list.userEntries(), 2u);
}

TEST(FunctionAllowListTest, UserEntriesWinOverTheWriteList) {
  const FunctionAllowList list({"nextval"});
  EXPECT_EQ(list.lookup("", "nextval"), FunctionKind::kReadOnly);
  EXPECT_EQ(FunctionAllowList().lookup("", "nextval"), FunctionKind::kWrites);
}

}  // namespace
}  // namespace sg::pg::route

#include "pg/route/comment_hints.h"

#include <gtest/gtest.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <string>
#include <vector>

namespace sg::pg::route {
namespace {

std::vector<std::string> commentTexts(std::string_view sql) {
  std::vector<std::string> out;
  for (const CommentSpan& span : findComments(sql)) {
    out.emplace_back(sql.substr(span.begin, span.end - span.begin));
  }
  return out;
}

// PostgreSQL's own scanner's comments (pg_query_scan), or nullopt when the text does not scan.
std::optional<std::vector<CommentSpan>> scannerComments(const std::string& sql) {
  PgQueryScanResult scanned = pg_query_scan(sql.c_str());
  std::optional<std::vector<CommentSpan>> out;
  if (scanned.error == nullptr) {
    PgQuery__ScanResult* result = pg_query__scan_result__unpack(
        nullptr, scanned.pbuf.len, reinterpret_cast<const uint8_t*>(scanned.pbuf.data));
    if (result != nullptr) {
      out.emplace();
      for (size_t i = 0; i < result->n_tokens; ++i) {
        const PgQuery__ScanToken* token = result->tokens[i];
        if (token->token == PG_QUERY__TOKEN__SQL_COMMENT ||
            token->token == PG_QUERY__TOKEN__C_COMMENT) {
          out->push_back({static_cast<size_t>(token->start), static_cast<size_t>(token->end)});
        }
      }
      pg_query__scan_result__free_unpacked(result, nullptr);
    }
  }
  pg_query_free_scan_result(scanned);
  return out;
}

TEST(CommentHintsTest, FindsCommentsOutsideLiterals) {
  EXPECT_EQ(commentTexts("select 1 -- a\n, 2 /* b */"),
            (std::vector<std::string>{"-- a", "/* b */"}));
  EXPECT_EQ(commentTexts("select '--x', '/*y*/', \"--z\", $$/*w*/$$, $q$--v$q$"),
            std::vector<std::string>{});
  EXPECT_EQ(commentTexts("select 'it''s' /* c */"), (std::vector<std::string>{"/* c */"}));
  EXPECT_EQ(commentTexts("select E'\\'' /* c */"), (std::vector<std::string>{"/* c */"}));
  EXPECT_EQ(commentTexts("select '\\' /* c */"), (std::vector<std::string>{"/* c */"}));
  EXPECT_EQ(commentTexts("/* a /* b */ c */ x"), (std::vector<std::string>{"/* a /* b */ c */"}));
  EXPECT_EQ(commentTexts("select a$b$ /* c */"), (std::vector<std::string>{"/* c */"}));
  EXPECT_EQ(commentTexts("select $1$a$ /* not */ $a$"), std::vector<std::string>{});
  EXPECT_EQ(commentTexts("select 1--c"), (std::vector<std::string>{"--c"}));
  EXPECT_EQ(commentTexts("select 1 +/* c */ 2"), (std::vector<std::string>{"/* c */"}));
  EXPECT_EQ(commentTexts("select U&'d\\0061t''a' /* c */"), (std::vector<std::string>{"/* c */"}));
  EXPECT_EQ(commentTexts("/* open"), (std::vector<std::string>{"/* open"}));
}

TEST(CommentHintsTest, AgreesWithPostgresScanner) {
  const std::vector<std::string> texts = {
      "select 1 -- a\n, 2 /* b */",
      "select '--x', '/*y*/', \"--z\", $$/*w*/$$, $q$--v$q$ /* after */",
      "select E'\\'' /* c */ , e'\\\\' -- d\n",
      "/* a /* b */ c */ select x -- e",
      "select a$b$ /* c */, $1 /* d */",
      "select 1 +/* c */ 2 --",
      "select U&'d\\0061t''a' /* c */, U&\"x\"\"y\" -- q\r\n select 2",
      "select b'0101' /* c */, x'1f' /* d */, n'nat' -- e",
      "select $tag$ $not$ /* no */ $tag$ /* yes */",
      "select 1.5e3/* c */, 10-- d\n",
      // found by route_classify_fuzz: "1......" is 1. and an operator, not one number
      "select 1......ding_$tpreag$..pare p as select ins--",
      "select 1..2 /* c */, .5e-3 -- d\n, 2e5/* e */",
      "select 1.....0.ding_$tpreag$..pare p as select ins--",
  };
  for (const std::string& sql : texts) {
    const auto expected = scannerComments(sql);
    ASSERT_TRUE(expected.has_value()) << sql;
    EXPECT_EQ(findComments(sql), *expected) << sql;
  }
}

TEST(CommentHintsTest, NestingEstimateIsDepthNotWidth) {
  EXPECT_EQ(scanSql("").nesting_estimate, 0u);
  EXPECT_EQ(scanSql("select 1").nesting_estimate, 1u);
  EXPECT_EQ(scanSql("select a, b, c from t").nesting_estimate, 3u);  // "c from t"
  EXPECT_EQ(scanSql("select 1+1+1+1").nesting_estimate, 4u);
  EXPECT_EQ(scanSql("select ((1))").nesting_estimate, 3u);
  EXPECT_EQ(scanSql("select f(1, 2, 3), g(4)").nesting_estimate, 3u);
  EXPECT_EQ(scanSql("select 1; select (((1)))").nesting_estimate, 4u);  // the deepest statement
  EXPECT_EQ(scanSql("select '((((', \"a\" -- ((((\n").nesting_estimate, 1u);
  EXPECT_EQ(scanSql("select ((((").nesting_estimate, 5u);  // unclosed groups still count
  std::string in_list = "select * from t where id in (0";
  for (int i = 1; i < 1000; ++i) in_list += "," + std::to_string(i);
  EXPECT_EQ(scanSql(in_list + ")").nesting_estimate, 8u);
}

TEST(CommentHintsTest, ReadsHints) {
  EXPECT_EQ(findCommentHints("/* scalegate: primary */ select 1").route, RouteHint::kPrimary);
  EXPECT_EQ(findCommentHints("select 1 -- scalegate: replica").route, RouteHint::kReplica);
  EXPECT_EQ(findCommentHints("/*scalegate:replica*/ select 1").route, RouteHint::kReplica);
  EXPECT_EQ(findCommentHints("/* Scalegate: Replica */ select 1").route, RouteHint::kReplica);
  // primary wins whatever the order
  EXPECT_EQ(findCommentHints("/* scalegate: primary */ /* scalegate: replica */").route,
            RouteHint::kPrimary);
  EXPECT_EQ(findCommentHints("/* scalegate: replica, primary */").route, RouteHint::kPrimary);

  CommentHints hints = findCommentHints("/* scalegate: shard=3 sharding_key=abc */ select 1");
  EXPECT_EQ(hints.shard, 3u);
  EXPECT_EQ(hints.sharding_key, "abc");
  EXPECT_FALSE(hints.route);
  hints = findCommentHints("/* scalegate: replica, shard = 4, sharding_key = 'a, b' */");
  EXPECT_EQ(hints.route, RouteHint::kReplica);
  EXPECT_EQ(hints.shard, 4u);
  EXPECT_EQ(hints.sharding_key, "a, b");
  hints = findCommentHints("-- scalegate: shard  =   5,replica\nselect 1");
  EXPECT_EQ(hints.shard, 5u);
  EXPECT_EQ(hints.route, RouteHint::kReplica);
}

TEST(CommentHintsTest, IgnoresWhatIsNotAHint) {
  const CommentHints none;
  EXPECT_EQ(findCommentHints("select 1"), none);
  EXPECT_EQ(findCommentHints("select '/* scalegate: primary */'"), none);
  EXPECT_EQ(findCommentHints("select $$ -- scalegate: primary\n $$"), none);
  EXPECT_EQ(findCommentHints("select \"/* scalegate: primary */\""), none);
  EXPECT_EQ(findCommentHints("/* about scalegate: primary */ select 1"), none);
  EXPECT_EQ(findCommentHints("/* scalegate: secondary */"), none);
  EXPECT_EQ(findCommentHints("/* scalegate: shard=x */"), none);
  EXPECT_EQ(findCommentHints("/* scalegate: shard=99999999999 */"), none);
  EXPECT_EQ(findCommentHints("/* scalegate: shard=-1 */"), none);
  EXPECT_EQ(findCommentHints("/* scalegate: sharding_key= */"), none);
  EXPECT_EQ(findCommentHints("/* scalegate: primaryx */"), none);
}

}  // namespace
}  // namespace sg::pg::route

#include "pg/auth/user_list.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace sg::pg {
namespace {

constexpr std::string_view kVerifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

UserList parseOk(std::string_view text) {
  UserList list;
  std::string error;
  EXPECT_TRUE(UserList::parse(text, "users.txt", &list, &error)) << error;
  return list;
}

std::string parseError(std::string_view text) {
  UserList list;
  std::string error;
  EXPECT_FALSE(UserList::parse(text, "users.txt", &list, &error)) << text;
  return error;
}

TEST(PgAuthUserList, ParsesQuotesEscapesCommentsAndTrailingText) {
  UserList list = parseOk(
      "; a comment\n"
      "# another\n"
      "\n"
      "   \t\n"
      "\"alice\" \"plain pass\"\n"
      "  \"bob\"\t\"md52aea419619857e8a27f0f7aa641db0c6\"   trailing words ignored\n"
      "\"say \"\"hi\"\"\" \"p\"\"w\"\r\n"
      "\"carol\" \"" +
      std::string(kVerifier) +
      "\"\n"
      "\"dave\" \"\"\n"
      "\"erin\"\"x\" \"#not a comment\"");  // no final newline
  EXPECT_EQ(list.size(), 6u);
  ASSERT_NE(list.find("alice"), nullptr);
  EXPECT_EQ(*list.find("alice"), "plain pass");
  EXPECT_EQ(*list.find("bob"), "md52aea419619857e8a27f0f7aa641db0c6");
  ASSERT_NE(list.find("say \"hi\""), nullptr);
  EXPECT_EQ(*list.find("say \"hi\""), "p\"w");
  EXPECT_EQ(*list.find("carol"), kVerifier);
  EXPECT_EQ(*list.find("dave"), "");
  EXPECT_EQ(*list.find("erin\"x"), "#not a comment");
  EXPECT_EQ(list.find("nobody"), nullptr);
  EXPECT_EQ(list.find("Alice"), nullptr);  // names are case-sensitive, as in PostgreSQL
}

TEST(PgAuthUserList, LaterLineWinsForARepeatedUser) {
  UserList list = parseOk("\"u\" \"first\"\n\"u\" \"second\"\n");
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(*list.find("u"), "second");
}

TEST(PgAuthUserList, BadLinesAreNamedByFileAndLine) {
  EXPECT_EQ(parseError("\"ok\" \"x\"\nalice \"pw\"\n"),
            "users.txt:2: expected a double-quoted field");
  EXPECT_EQ(parseError("# c\n\n\"alice\"\n"), "users.txt:3: expected a double-quoted field");
  EXPECT_EQ(parseError("\"alice\" pw\n"), "users.txt:1: expected a double-quoted field");
  EXPECT_EQ(parseError("\"alice\" \"pw\n\"x\" \"y\"\n"),
            "users.txt:1: unterminated double-quoted field");
  EXPECT_EQ(parseError("\"\" \"pw\"\n"), "users.txt:1: empty user name");
  std::string error = parseError("\"a\" \"b\"\n\"carol\" \"SCRAM-SHA-256$4096:bad$x:y\"\n");
  EXPECT_EQ(error.rfind("users.txt:2: user \"carol\": ", 0), 0u) << error;
}

TEST(PgAuthUserList, ClassifiesSecrets) {
  EXPECT_EQ(classifySecret("hunter2"), SecretKind::kPlain);
  EXPECT_EQ(classifySecret(""), SecretKind::kPlain);
  EXPECT_EQ(classifySecret("md52aea419619857e8a27f0f7aa641db0c6"), SecretKind::kMd5);
  EXPECT_EQ(classifySecret("md5short"), SecretKind::kPlain);
  EXPECT_EQ(classifySecret(kVerifier), SecretKind::kScram);
}

TEST(PgAuthUserList, LoadsAFileAndNamesItInErrors) {
  char path[] = "/tmp/sg_userlist_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "\"alice\" \"pw\"\n\"bob\" \"pw2\"\n";
  }
  UserList list;
  std::string error;
  ASSERT_TRUE(UserList::load(path, &list, &error)) << error;
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(*list.find("bob"), "pw2");
  {
    std::ofstream out(path);
    out << "\"alice\" \"pw\"\nbroken\n";
  }
  EXPECT_FALSE(UserList::load(path, &list, &error));
  EXPECT_EQ(error, std::string(path) + ":2: expected a double-quoted field");
  EXPECT_EQ(list.size(), 2u);  // a failed load leaves the target as it was
  std::remove(path);
  EXPECT_FALSE(UserList::load(path, &list, &error));
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

}  // namespace
}  // namespace sg::pg

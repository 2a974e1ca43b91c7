#include "queue/job.h"

#include <gtest/gtest.h>

#include <set>

namespace sg::queue {
namespace {

TEST(JobStateTable, EveryEventHasOneTargetAndKnownSources) {
  for (int e = 0; e < kJobEventCount; ++e) {
    auto event = static_cast<JobEvent>(e);
    auto from = statesFor(event);
    ASSERT_FALSE(from.empty()) << "event " << e << " applies to no state";
    auto to = nextState(from.front(), event);
    for (JobState s : from) EXPECT_EQ(nextState(s, event), to) << "event " << e;
  }
  EXPECT_EQ(statesFor(JobEvent::kClaim),
            (std::vector<JobState>{JobState::kQueued, JobState::kRetrying}));
  EXPECT_EQ(nextState(JobState::kSucceeded, JobEvent::kClaim), std::nullopt);
  EXPECT_EQ(nextState(JobState::kRetrying, JobEvent::kCancel), std::nullopt);
  EXPECT_EQ(nextState(JobState::kDead, JobEvent::kReplay), JobState::kQueued);
}

TEST(JobStateTable, NamesRoundTrip) {
  for (int s = 0; s < kJobStateCount; ++s) {
    auto state = static_cast<JobState>(s);
    EXPECT_EQ(parseJobState(jobStateName(state)), state);
  }
  EXPECT_EQ(jobStateName(JobState::kRetrying), "retrying");
  EXPECT_EQ(parseJobState("cancelled"), std::nullopt);
}

TEST(JobId, IsRowNumberThenRandomPart) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto secret = newJobSecret();
    ASSERT_TRUE(secret.has_value());
    std::string id = formatJobId(7, *secret);
    EXPECT_EQ(id.size(), kJobIdLength);
    EXPECT_EQ(id.substr(0, kJobSeqDigits), "000000000007");
    auto key = parseJobId(id);
    ASSERT_TRUE(key.has_value()) << id;
    EXPECT_EQ(key->seq, 7);
    EXPECT_EQ(key->secret, *secret);
    EXPECT_TRUE(seen.insert(id.substr(kJobSeqDigits)).second);  // 128 random bits each
  }
  JobSecret ff;
  ff.fill(0xff);
  EXPECT_EQ(formatJobId(kMaxJobSeq, ff), std::string(kJobIdLength, 'f'));
  EXPECT_EQ(parseJobId(std::string(kJobIdLength, 'f'))->seq, kMaxJobSeq);
}

TEST(JobId, MalformedIdsDoNotParse) {
  const std::string good = "00000000002a" + std::string(32, '5');
  ASSERT_TRUE(isJobId(good));
  EXPECT_FALSE(isJobId(""));
  EXPECT_FALSE(isJobId(good.substr(1)));                         // short
  EXPECT_FALSE(isJobId(good + "0"));                             // long
  EXPECT_FALSE(isJobId("00000000002A" + std::string(32, '5')));  // upper case is not ours
  EXPECT_FALSE(isJobId("00000000002a" + std::string(31, '5') + "g"));
  EXPECT_FALSE(isJobId("-0000000002a" + std::string(32, '5')));
  EXPECT_FALSE(isJobId(std::string("00000000002a") + '\0' + std::string(31, '5')));
  EXPECT_FALSE(isJobId(std::string(kJobIdLength, '0').replace(0, kJobSeqDigits, "000000000000")));
  EXPECT_FALSE(isJobId("0123456789abcdef0123456789abcdef"));  // a version-1 id
}

TEST(JobId, SameSecretComparesWholeValues) {
  EXPECT_TRUE(sameSecret("abcdefghijklmnop", "abcdefghijklmnop"));
  EXPECT_FALSE(sameSecret("abcdefghijklmnop", "abcdefghijklmnoq"));
  EXPECT_FALSE(sameSecret("bbcdefghijklmnop", "abcdefghijklmnop"));
  EXPECT_FALSE(sameSecret("abcdefghijklmnop", "abcdefghijklmno"));
  EXPECT_TRUE(sameSecret("", ""));
}

TEST(HeaderCodec, RoundTripsOddFields) {
  std::vector<HeaderLine> headers = {
      {"X-Empty", ""},
      {"", "no name"},
      {"X-Colon", "a: b: c"},
      {"X-Binary", std::string("\0\xff\r\n", 4)},
      {"x-dup", "1"},
      {"X-Dup", "2"},
      {"X-Long", std::string(70000, 'v')},
  };
  auto decoded = decodeHeaders(encodeHeaders(headers));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, headers);
  EXPECT_EQ(decodeHeaders(""), std::vector<HeaderLine>{});
}

TEST(HeaderCodec, RefusesTruncatedBlobs) {
  std::string blob = encodeHeaders({{"Name", "value"}});
  for (size_t cut = 1; cut < blob.size(); ++cut) {
    EXPECT_FALSE(decodeHeaders(blob.substr(0, cut)).has_value()) << cut;
  }
}

}  // namespace
}  // namespace sg::queue

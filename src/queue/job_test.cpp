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

TEST(JobId, Is32HexCharactersAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = newJobId();
    ASSERT_TRUE(id.has_value());
    EXPECT_TRUE(isJobId(*id)) << *id;
    EXPECT_TRUE(seen.insert(*id).second);
  }
  EXPECT_FALSE(isJobId("0123456789ABCDEF0123456789abcdef"));  // upper case is not ours
  EXPECT_FALSE(isJobId("0123456789abcdef"));
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

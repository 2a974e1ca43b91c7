#include "queue/job_json.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

namespace sg::queue {
namespace {

// 2026-12-02T21:30:00.123Z
constexpr int64_t kT = 1796247000123;

Job sampleJob(JobState state) {
  Job job;
  job.id = "0000000000010123456789abcdef0123456789abcdef";
  job.queue = "orders";
  job.state = state;
  job.attempts = 2;
  job.created_ms = kT;
  job.updated_ms = kT + 1000;
  job.next_attempt_ms = kT + 60000;
  job.started_ms = kT + 500;
  job.request.method = "POST";
  job.request.target = "/api/orders";
  job.request.headers = {{"Authorization", "Bearer secret"}};
  job.request.body = "secret body";
  return job;
}

TEST(Rfc3339, Formats) {
  EXPECT_EQ(formatRfc3339Ms(kT), "2026-12-02T21:30:00.123Z");
  EXPECT_EQ(formatRfc3339Ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatRfc3339Ms(951782400007), "2000-02-29T00:00:00.007Z");
  EXPECT_EQ(formatRfc3339Ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(JobStatusJson, RetryingJob) {
  Job job = sampleJob(JobState::kRetrying);
  job.last_error = "status 503";
  EXPECT_EQ(boost::json::serialize(jobStatusJson(job)),
            "{\"id\":\"0000000000010123456789abcdef0123456789abcdef\",\"queue\":\"orders\","
            "\"state\":\"retrying\",\"attempts\":2,\"created_at\":\"2026-12-02T21:30:00.123Z\","
            "\"updated_at\":\"2026-12-02T21:30:01.123Z\","
            "\"started_at\":\"2026-12-02T21:30:00.623Z\","
            "\"next_attempt_at\":\"2026-12-02T21:31:00.123Z\",\"last_error\":\"status 503\"}");
}

TEST(JobStatusJson, QueuedJobHasNullsAndNoOptionalFields) {
  Job job = sampleJob(JobState::kQueued);
  job.attempts = 0;
  job.started_ms = 0;
  auto json = jobStatusJson(job);
  EXPECT_TRUE(json.at("started_at").is_null());
  EXPECT_TRUE(json.at("last_error").is_null());
  EXPECT_FALSE(json.contains("next_attempt_at"));
  EXPECT_FALSE(json.contains("dead_reason"));
  EXPECT_EQ(json.at("state"), "queued");
  // Never the request.
  std::string text = boost::json::serialize(json);
  EXPECT_EQ(text.find("secret"), std::string::npos);
  EXPECT_EQ(text.find("/api/orders"), std::string::npos);
}

TEST(JobStatusJson, DeadJobHasItsReason) {
  Job job = sampleJob(JobState::kDead);
  job.last_error = "connect refused";
  job.dead_reason = "attempts exhausted";
  auto json = jobStatusJson(job);
  EXPECT_EQ(json.at("dead_reason"), "attempts exhausted");
  EXPECT_EQ(json.at("last_error"), "connect refused");
  EXPECT_FALSE(json.contains("next_attempt_at"));
}

TEST(JobResultJson, TextBody) {
  JobResult result;
  result.status = 404;
  result.headers = {{"Content-Type", "application/json"}, {"X-Dup", "1"}, {"x-dup", "2"}};
  result.body = "{\"error\":\"not found\", \"name\":\"caf\xC3\xA9\"}";
  result.body_size = result.body.size();
  auto json = jobResultJson(result);
  EXPECT_EQ(
      boost::json::serialize(json),
      "{\"status\":404,\"headers\":[[\"Content-Type\",\"application/json\"],[\"X-Dup\",\"1\"],"
      "[\"x-dup\",\"2\"]],\"body\":\"{\\\"error\\\":\\\"not found\\\", "
      "\\\"name\\\":\\\"caf\xC3\xA9\\\"}\",\"body_encoding\":\"utf-8\",\"body_omitted\":false,"
      "\"body_size\":37}");
}

TEST(JobResultJson, InvalidUtf8BodyIsBase64) {
  JobResult result;
  result.status = 200;
  result.body = std::string("\x89PNG\r\n\x1a\n\0", 9);
  result.body_size = 9;
  auto json = jobResultJson(result);
  EXPECT_EQ(json.at("body_encoding"), "base64");
  EXPECT_EQ(json.at("body"), "iVBORw0KGgoA");
  EXPECT_EQ(json.at("body_size").as_uint64(), 9u);
}

TEST(JobResultJson, OmittedBody) {
  JobResult result;
  result.status = 200;
  result.body_omitted = true;
  result.body_size = 5000000;
  auto json = jobResultJson(result);
  EXPECT_EQ(json.at("body"), "");
  EXPECT_EQ(json.at("body_encoding"), "utf-8");
  EXPECT_EQ(json.at("body_omitted"), true);
  EXPECT_EQ(json.at("body_size").as_uint64(), 5000000u);
}

TEST(JobResultJson, InvalidHeaderBytesBecomeReplacementCharacters) {
  JobResult result;
  result.status = 200;
  result.headers = {{"X-Name",
                     "a\xFF"
                     "b\xC3"}};
  auto json = jobResultJson(result);
  EXPECT_EQ(json.at("headers").as_array()[0].as_array()[1],
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("plain"));
  EXPECT_TRUE(isValidUtf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_TRUE(isValidUtf8(std::string("a\0b", 3)));
  EXPECT_FALSE(isValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(isValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(isValidUtf8("\x80"));
  EXPECT_FALSE(isValidUtf8("\xFF"));
}

TEST(Utf8, Sanitize) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(sanitizeUtf8("ok"), "ok");
  EXPECT_EQ(sanitizeUtf8("a\xE2\x82"
                         "b"),
            "a" + r + "b");                            // a truncated sequence is one
  EXPECT_EQ(sanitizeUtf8("\xC0\xAF"), r + r);          // overlong: each byte
  EXPECT_EQ(sanitizeUtf8("\xED\xA0\x80"), r + r + r);  // surrogate: each byte
  EXPECT_EQ(sanitizeUtf8("\xF0\x9F\x98"), r);
  EXPECT_EQ(sanitizeUtf8("\xC3\xA9\xFF"), "\xC3\xA9" + r);
}

TEST(Base64, Encodes) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Encode("\xFF\xFE\xFD"), "//79");
}

TEST(DeadListJson, ListsJobsWithMethodAndTarget) {
  Job a = sampleJob(JobState::kDead);
  a.dead_reason = "attempts exhausted";
  a.last_error = "status 503";
  Job b = sampleJob(JobState::kDead);
  b.id = "000000000002ffffffffffffffffffffffffffffffff";
  b.request.method = "PUT";
  b.request.target = "/t\xFF";
  b.dead_reason = "expired: not started within message_ttl";
  auto json = deadListJson("orders", {a, b});
  EXPECT_EQ(json.at("queue"), "orders");
  const auto& jobs = json.at("jobs").as_array();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].at("id"), boost::json::value(a.id));
  EXPECT_EQ(jobs[0].at("method"), "POST");
  EXPECT_EQ(jobs[0].at("target"), "/api/orders");
  EXPECT_EQ(jobs[0].at("dead_reason"), "attempts exhausted");
  EXPECT_EQ(jobs[1].at("method"), "PUT");
  EXPECT_EQ(jobs[1].at("target"), "/t\xEF\xBF\xBD");
  EXPECT_FALSE(jobs[1].as_object().contains("headers"));
  EXPECT_EQ(boost::json::serialize(json).find("secret"), std::string::npos);
  EXPECT_EQ(deadListJson("q", {}).at("jobs").as_array().size(), 0u);
}

}  // namespace
}  // namespace sg::queue

// The cluster rate limit script against apply(): a real redis-server (started here on a free
// loopback port) runs the script with a test clock, and every step of randomised traces must
// give the same granted / remaining / reset_us / retry_us as apply() on a local State. Also:
// leases (want > 1), key expiry, Redis's own clock, and the C++ helpers around the script.
#include "ratelimit/cluster_script.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ratelimit/test_support.h"

namespace sg::ratelimit {
namespace {

using testing::algorithmName;
using testing::kAllAlgorithms;
using testing::kBucketAlgorithms;
using testing::kMs;
using testing::kSecond;
using testing::rate;
using testing::TestRng;

// A moment in 2026, so that the script handles realistic (2^50.7) microsecond counts.
constexpr int64_t kEpochUs = 1'796'000'000'000'000;

int freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// Starts redis-server without persistence; returns its pid, or -1 with `error` set when the
// binary cannot be executed (reported through a close-on-exec pipe).
pid_t spawnRedis(int port, std::string* error) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + std::strerror(errno);
    return -1;
  }
  const std::string port_text = std::to_string(port);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a crashed test
    // Its start-up warnings (overcommit) would bury the test's output; a failed start shows
    // as the server exiting, and SetUp tries another port.
    const int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, STDOUT_FILENO);
    const char* argv[] = {"redis-server", "--port", port_text.c_str(), "--bind", "127.0.0.1",
                          "--save",       "",       "--appendonly",    "no",     "--loglevel",
                          "warning",      nullptr};
    ::execvp(argv[0], const_cast<char* const*>(argv));
    const int code = errno;
    [[maybe_unused]] const auto written = ::write(pipe_fds[1], &code, sizeof code);
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  int code = 0;
  const auto got = ::read(pipe_fds[0], &code, sizeof code);
  ::close(pipe_fds[0]);
  if (pid < 0 || got == sizeof code) {
    if (pid > 0) ::waitpid(pid, nullptr, 0);
    *error = "cannot run redis-server (" + std::string(std::strerror(pid < 0 ? errno : code)) +
             "): install Debian's redis-server package (scripts/install-deps.sh does)";
    return -1;
  }
  return pid;
}

using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

class ClusterScriptTest : public ::testing::TestWithParam<Algorithm> {
 protected:
  void SetUp() override {
    // A port taken between freeLoopbackPort() and redis-server's bind: try another.
    for (int attempt = 0; attempt < 5 && context_ == nullptr; ++attempt) {
      const int port = freeLoopbackPort();
      std::string error;
      pid_ = spawnRedis(port, &error);
      ASSERT_GT(pid_, 0) << error;
      connect(port);
      if (context_ == nullptr) stopServer();
    }
    ASSERT_NE(context_, nullptr) << "redis-server did not accept connections";
    Reply loaded = command({"SCRIPT", "LOAD", std::string(kClusterScript)});
    ASSERT_EQ(loaded->type, REDIS_REPLY_STRING) << loaded->str;
    sha_.assign(loaded->str, loaded->len);
  }

  void TearDown() override {
    if (context_ != nullptr) redisFree(context_);
    stopServer();
  }

  // Polls until the server answers PING (it needs a few milliseconds), or gives up after 5 s
  // or when the server exited (its port was taken).
  void connect(int port) {
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      redisContext* context = redisConnect("127.0.0.1", port);
      if (context != nullptr && context->err == 0) {
        context_ = context;
        Reply pong = command({"PING"});
        if (pong != nullptr && pong->type == REDIS_REPLY_STATUS) return;
        context_ = nullptr;
      }
      if (context != nullptr) redisFree(context);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void stopServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  Reply command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const auto& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    return Reply(reply, &freeReplyObject);
  }

  // One EVALSHA; the reply checked and decoded as the gateway will.
  ClusterResult decide(const std::string& key, const Limits& limits, uint64_t want,
                       std::optional<int64_t> now_us, Algorithm algorithm) {
    std::vector<std::string> args = {"EVALSHA", sha_, "1", key};
    appendClusterArgs(algorithm, limits, want, args, now_us);
    Reply reply = command(args);
    EXPECT_TRUE(reply != nullptr) << context_->errstr;
    if (reply == nullptr) return {};
    EXPECT_EQ(reply->type, REDIS_REPLY_ARRAY) << (reply->str != nullptr ? reply->str : "");
    std::vector<int64_t> values;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; ++i) {
      EXPECT_EQ(reply->element[i]->type, REDIS_REPLY_INTEGER);
      values.push_back(reply->element[i]->integer);
    }
    std::string why;
    const auto decoded = decodeClusterReply(values, want, &why);
    EXPECT_TRUE(decoded.has_value()) << why;
    return decoded.value_or(ClusterResult{});
  }

  int64_t pttl(const std::string& key) { return command({"PTTL", key})->integer; }

  pid_t pid_ = -1;
  redisContext* context_ = nullptr;
  std::string sha_;
};

// apply() up to `want` times at one instant, stopping at the first refusal: what the script
// must equal. `state` starts empty (a key never seen).
ClusterResult applyMany(Algorithm algorithm, const Limits& limits, std::optional<State>& state,
                        uint64_t want, int64_t now_us) {
  if (!state.has_value()) state = freshState(algorithm, limits, now_us);
  ClusterResult result;
  for (uint64_t i = 0; i < want; ++i) {
    result.outcome = apply(algorithm, limits, *state, now_us);
    if (!result.outcome.allowed) break;
    ++result.granted;
  }
  return result;
}

struct LimitCase {
  uint64_t count;
  int64_t period_ms;
  uint64_t burst;
};

// Tier-like odd rates, fractional and sub-second periods, burst above and below the count,
// count 0, and numbers close to what fitsClusterArithmetic admits.
constexpr LimitCase kLimitCases[] = {{7, 3000, 0},
                                     {100, 1000, 100},
                                     {1, 60'000, 0},
                                     {5, 1500, 0},
                                     {3, 1000, 1},
                                     {10, 1000, 25},
                                     {0, 1000, 0},
                                     {13, 700, 4},
                                     {1000, 1000, 50},
                                     {6000, 60'000, 50},
                                     {1, 3'600'000, 2},
                                     {20, 10, 3},
                                     {100'000, 86'400'000, 0},
                                     {7, 17'592'186'044, 250},
                                     {4'000'000'000, 2, 0}};

// Where the next step happens: mostly near the per-request interval, sometimes the same
// instant, slightly earlier (another gateway's request), or a period or more later.
int64_t nextNow(TestRng& rng, int64_t now, const Limits& limits) {
  const auto interval = std::max<int64_t>(
      static_cast<int64_t>(limits.period_us / std::max<uint64_t>(limits.count, 1)), 1);
  const auto period = static_cast<int64_t>(limits.period_us);
  const uint64_t pick = rng.below(100);
  if (pick < 15) return now;
  if (pick < 25) return now - static_cast<int64_t>(rng.below(static_cast<uint64_t>(interval) + 2));
  if (pick < 70)
    return now + static_cast<int64_t>(rng.below(2 * static_cast<uint64_t>(interval) + 1));
  if (pick < 92) return now + static_cast<int64_t>(rng.below(static_cast<uint64_t>(period) + 1));
  return now + static_cast<int64_t>(rng.below(3 * static_cast<uint64_t>(period) + 1));
}

uint64_t nextWant(TestRng& rng) {
  const uint64_t pick = rng.below(100);
  if (pick < 70) return 1;
  if (pick < 95) return 2 + rng.below(6);
  return 8 + rng.below(200);
}

void expectSame(const ClusterResult& script, const ClusterResult& local, const std::string& where) {
  EXPECT_EQ(script.granted, local.granted) << where;
  EXPECT_EQ(script.outcome.allowed, local.outcome.allowed) << where;
  EXPECT_EQ(script.outcome.remaining, local.outcome.remaining) << where;
  EXPECT_EQ(script.outcome.reset_us, local.outcome.reset_us) << where;
  EXPECT_EQ(script.outcome.retry_us, local.outcome.retry_us) << where;
}

TEST_P(ClusterScriptTest, MatchesApplyOnRandomTraces) {
  const Algorithm algorithm = GetParam();
  TestRng rng(0x5ca1e6a7e + static_cast<uint64_t>(algorithm));
  int case_index = 0;
  for (const LimitCase& limit_case : kLimitCases) {
    const Limits limits =
        makeLimits(algorithm, rate(limit_case.count, limit_case.period_ms), limit_case.burst);
    std::string why;
    ASSERT_TRUE(fitsClusterArithmetic(algorithm, limits, &why)) << why;
    const std::string key = clusterKey("trace", std::to_string(case_index++));
    std::optional<State> state;
    int64_t now = kEpochUs + static_cast<int64_t>(rng.below(static_cast<uint64_t>(kSecond)));
    for (int step = 0; step < 300 && !HasFailure(); ++step) {
      const uint64_t want = nextWant(rng);
      const ClusterResult local = applyMany(algorithm, limits, state, want, now);
      const ClusterResult script = decide(key, limits, want, now, algorithm);
      expectSame(script, local,
                 std::string(algorithmName(algorithm)) + " " + std::to_string(limit_case.count) +
                     " per " + std::to_string(limit_case.period_ms) + " ms burst " +
                     std::to_string(limit_case.burst) + ", step " + std::to_string(step) + " at " +
                     std::to_string(now) + ", want " + std::to_string(want));
      now = nextNow(rng, now, limits);
      ASSERT_LT(now, int64_t{1} << 52);
    }
  }
}

// Random limits over many orders of magnitude (every one that fits the script's arithmetic),
// shorter traces each: the hand-picked cases above cannot cover every gcd and rounding.
TEST_P(ClusterScriptTest, MatchesApplyOnRandomLimits) {
  const Algorithm algorithm = GetParam();
  TestRng rng(0xd1ff + static_cast<uint64_t>(algorithm));
  // Log-uniform in [1, 10^digits]: as many 3/s as 30000/day.
  const auto logUniform = [&rng](int digits) {
    uint64_t value = 1 + rng.below(9);
    for (int i = rng.below(static_cast<uint64_t>(digits)); i > 0; --i)
      value = value * 10 + rng.below(10);
    return value;
  };
  int tried = 0;
  for (int limit_index = 0; limit_index < 60; ++limit_index) {
    const uint64_t burst = rng.below(3) == 0 ? 0 : logUniform(7);
    const Limits limits =
        makeLimits(algorithm, rate(logUniform(9), static_cast<int64_t>(logUniform(10))), burst);
    if (!fitsClusterArithmetic(algorithm, limits, nullptr)) continue;
    ++tried;
    const std::string key = clusterKey("random", std::to_string(limit_index));
    std::optional<State> state;
    int64_t now = kEpochUs + static_cast<int64_t>(rng.below(static_cast<uint64_t>(kSecond)));
    for (int step = 0; step < 60 && !HasFailure(); ++step) {
      const uint64_t want = nextWant(rng);
      const ClusterResult local = applyMany(algorithm, limits, state, want, now);
      const ClusterResult script = decide(key, limits, want, now, algorithm);
      expectSame(script, local,
                 std::string(algorithmName(algorithm)) + " " + std::to_string(limits.count) +
                     " per " + std::to_string(limits.period_us) + " us burst " +
                     std::to_string(limits.burst) + ", step " + std::to_string(step) + " at " +
                     std::to_string(now) + ", want " + std::to_string(want));
      now = std::min(nextNow(rng, now, limits), (int64_t{1} << 52) - 1);
    }
  }
  EXPECT_GT(tried, 30);  // the bound refuses only the largest products
}

// A lease takes what consecutive requests would: 100/s burst 100 grants 100 of 150 at once,
// then what refilled; a huge want costs one call, not a loop over it.
TEST_P(ClusterScriptTest, LeaseGrantsConsecutiveAdmissions) {
  const Algorithm algorithm = GetParam();
  const Limits limits = makeLimits(algorithm, rate(100, 1000), 100);
  const std::string key = clusterKey("lease", "k");
  ClusterResult first = decide(key, limits, 150, kEpochUs, algorithm);
  EXPECT_EQ(first.granted, 100u);
  EXPECT_FALSE(first.outcome.allowed);
  EXPECT_GT(first.outcome.retry_us, 0);
  EXPECT_EQ(first.outcome.remaining, 0u);

  // 50 ms later: the buckets refilled 5; the window (all 100 in this window) none.
  const uint64_t refilled = algorithm == Algorithm::kSlidingWindow ? 0 : 5;
  const ClusterResult second =
      decide(key, limits, 1'000'000'000'000, kEpochUs + 50 * kMs, algorithm);
  EXPECT_EQ(second.granted, refilled);
  EXPECT_FALSE(second.outcome.allowed);

  const std::string other = clusterKey("lease", "exact");
  const ClusterResult exact = decide(other, limits, 100, kEpochUs, algorithm);
  EXPECT_EQ(exact.granted, 100u);
  EXPECT_TRUE(exact.outcome.allowed);  // the 100th was admitted: the last attempt
  EXPECT_EQ(exact.outcome.retry_us, 0);
}

// The key lives until its state would equal a fresh key's, plus the margin, and is then gone.
TEST_P(ClusterScriptTest, KeyExpiresWhenIdle) {
  const Algorithm algorithm = GetParam();
  const Limits slow = makeLimits(algorithm, rate(7, 3000), 0);
  std::optional<State> state;
  const std::string slow_key = clusterKey("expiry", "slow");
  const auto before = std::chrono::steady_clock::now();
  decide(slow_key, slow, 3, kEpochUs, algorithm);
  applyMany(algorithm, slow, state, 3, kEpochUs);
  const int64_t expected_ms = (state->idle_at - kEpochUs + kMs - 1) / kMs + kClusterExpiryMarginMs;
  const int64_t ttl = pttl(slow_key);
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - before)
                          .count();
  EXPECT_LE(ttl, expected_ms);
  EXPECT_GE(ttl, expected_ms - waited - 1);

  // Redis's clock (no override): one request on 1 per 10 ms idles within 10 ms (20 ms for the
  // window, which keeps its window and the next), so the key is gone after the margin.
  const Limits fast = makeLimits(algorithm, rate(1, 10), 0);
  const std::string fast_key = clusterKey("expiry", "fast");
  EXPECT_TRUE(decide(fast_key, fast, 1, std::nullopt, algorithm).outcome.allowed);
  EXPECT_GT(pttl(fast_key), kClusterExpiryMarginMs);
  EXPECT_LE(pttl(fast_key), kClusterExpiryMarginMs + 20);
  std::this_thread::sleep_for(std::chrono::milliseconds(kClusterExpiryMarginMs + 50));
  EXPECT_EQ(command({"EXISTS", fast_key})->integer, 0);
}

// Without a test clock the script reads TIME: a refused request's retry is measured from the
// server's now, so it is at most one interval and positive.
TEST_P(ClusterScriptTest, UsesRedisClock) {
  const Algorithm algorithm = GetParam();
  const Limits limits = makeLimits(algorithm, rate(1, 60'000), 0);
  const std::string key = clusterKey("clock", "k");
  EXPECT_EQ(decide(key, limits, 1, std::nullopt, algorithm).granted, 1u);
  const ClusterResult refused = decide(key, limits, 1, std::nullopt, algorithm);
  EXPECT_EQ(refused.granted, 0u);
  EXPECT_GT(refused.outcome.retry_us, 0);
  EXPECT_LE(refused.outcome.retry_us, 2 * 60 * kSecond);
  // A test clock decades ahead sees the state long idle: a full quota again.
  EXPECT_EQ(decide(key, limits, 5, kEpochUs * 2, algorithm).granted, 1u);
}

// count 0 refuses every request for a period and never writes a key.
TEST_P(ClusterScriptTest, CountZeroRefusesWithoutState) {
  const Algorithm algorithm = GetParam();
  const Limits limits = makeLimits(algorithm, rate(0, 1500), 0);
  const std::string key = clusterKey("zero", "k");
  const ClusterResult result = decide(key, limits, 3, kEpochUs, algorithm);
  EXPECT_EQ(result.granted, 0u);
  EXPECT_EQ(result.outcome.retry_us, 1500 * kMs);
  EXPECT_EQ(command({"EXISTS", key})->integer, 0);
}

TEST_P(ClusterScriptTest, RejectsBadArguments) {
  const Limits limits = makeLimits(GetParam(), rate(10, 1000), 0);
  std::vector<std::string> args = {"EVALSHA", sha_, "1", "k"};
  appendClusterArgs(GetParam(), limits, 1, args);
  args[4] = "leaky_bucket";
  EXPECT_EQ(command(args)->type, REDIS_REPLY_ERROR);
  args.resize(4);
  appendClusterArgs(GetParam(), limits, 1, args);
  args[4 + 7] = "0";  // want
  EXPECT_EQ(command(args)->type, REDIS_REPLY_ERROR);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, ClusterScriptTest, ::testing::ValuesIn(kAllAlgorithms),
                         testing::paramName);

TEST(ClusterArithmetic, BoundsProducts) {
  std::string why;
  // A window's count x period: 100000 a day fits, a million a day does not.
  EXPECT_TRUE(fitsClusterArithmetic(
      Algorithm::kSlidingWindow,
      makeLimits(Algorithm::kSlidingWindow, rate(100'000, 86'400'000), 0), &why));
  EXPECT_FALSE(fitsClusterArithmetic(
      Algorithm::kSlidingWindow,
      makeLimits(Algorithm::kSlidingWindow, rate(1'000'000, 86'400'000), 0), &why));
  EXPECT_NE(why.find("2^53"), std::string::npos) << why;
  for (const Algorithm algorithm : kBucketAlgorithms) {
    why.clear();
    // burst x P' of 4.4e15 (the differential case) fits; 300 instead of 250 does not.
    EXPECT_TRUE(
        fitsClusterArithmetic(algorithm, makeLimits(algorithm, rate(7, 17'592'186'044), 250), &why))
        << why;
    EXPECT_FALSE(fitsClusterArithmetic(algorithm,
                                       makeLimits(algorithm, rate(7, 17'592'186'044), 300), &why));
    EXPECT_NE(why.find("2^52"), std::string::npos) << why;
    // Everyday limits, huge bursts included.
    EXPECT_TRUE(fitsClusterArithmetic(algorithm, makeLimits(algorithm, rate(100, 1000), 1'000'000),
                                      nullptr));
    EXPECT_TRUE(fitsClusterArithmetic(algorithm, makeLimits(algorithm, rate(0, 1000), 0), nullptr));
  }
  // Sliding windows ignore the burst.
  EXPECT_TRUE(fitsClusterArithmetic(
      Algorithm::kSlidingWindow,
      makeLimits(Algorithm::kSlidingWindow, rate(7, 17'592'186'044), 300), nullptr));
}

TEST(ClusterArgs, OrderAndClock) {
  const Limits limits = makeLimits(Algorithm::kTokenBucket, rate(7, 3000), 2);
  std::vector<std::string> args = {"kept"};
  appendClusterArgs(Algorithm::kTokenBucket, limits, 5, args);
  const std::vector<std::string> expected = {"kept",   "tb", "7",       "3000000", "6000000",
                                             "857143", "7",  "3000000", "5",       ""};
  EXPECT_EQ(args, expected);
  args.clear();
  appendClusterArgs(Algorithm::kSlidingWindow, limits, 0, args, -12);
  EXPECT_EQ(args[0], "sw");
  EXPECT_EQ(args[7], "1");  // want is at least 1
  EXPECT_EQ(args[8], "-12");
  EXPECT_EQ(args.size(), kClusterArgCount);
}

TEST(ClusterReply, ChecksInvariants) {
  const int64_t allowed[] = {3, 4, 100, 0};
  const auto result = decodeClusterReply(allowed, 3);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->granted, 3u);
  EXPECT_TRUE(result->outcome.allowed);
  EXPECT_EQ(result->outcome.remaining, 4u);
  EXPECT_EQ(result->outcome.reset_us, 100);
  const int64_t refused[] = {1, 0, 100, 7};
  ASSERT_TRUE(decodeClusterReply(refused, 3).has_value());
  EXPECT_FALSE(decodeClusterReply(refused, 3)->outcome.allowed);
  EXPECT_EQ(decodeClusterReply(refused, 3)->outcome.retry_us, 7);

  std::string why;
  const int64_t too_many[] = {4, 0, 0, 0};
  EXPECT_FALSE(decodeClusterReply(too_many, 3, &why).has_value());
  EXPECT_FALSE(why.empty());
  const int64_t refused_without_retry[] = {1, 0, 100, 0};
  EXPECT_FALSE(decodeClusterReply(refused_without_retry, 3).has_value());
  const int64_t allowed_with_retry[] = {3, 0, 100, 5};
  EXPECT_FALSE(decodeClusterReply(allowed_with_retry, 3).has_value());
  const int64_t negative[] = {1, -1, 100, 5};
  EXPECT_FALSE(decodeClusterReply(negative, 3).has_value());
  const int64_t short_reply[] = {1, 0, 100};
  EXPECT_FALSE(decodeClusterReply(short_reply, 3, &why).has_value());
  EXPECT_NE(why.find("4 integers"), std::string::npos);
}

TEST(ClusterKey, OneHashTagPerBucket) {
  EXPECT_EQ(clusterKey("api", "10.0.0.1"), "sg:rl:{3:api:10.0.0.1}");
  EXPECT_NE(clusterKey("a:b", "c"), clusterKey("a", "b:c"));
  EXPECT_EQ(clusterKey("api", std::string_view("a\0}{b", 5)),
            std::string("sg:rl:{3:api:a\0}{b}", 19));

  const std::string long_key(5000, 'x');
  const std::string shortened = clusterKey("api", long_key);
  EXPECT_LT(shortened.size(), 200u);
  EXPECT_EQ(shortened, clusterKey("api", long_key));  // same on every gateway
  EXPECT_EQ(shortened.rfind("sg:rl:{3:api#5000:", 0), 0u) << shortened;
  EXPECT_EQ(shortened.back(), '}');
  std::string other = long_key;
  other.back() = 'y';
  EXPECT_NE(clusterKey("api", other), shortened);
  // A short key cannot spell a long key's name: the name is followed by '#' only there.
  EXPECT_NE(clusterKey("api", shortened.substr(13, shortened.size() - 14)), shortened);
  const std::string limit_key(kClusterMaxKeyBytes, 'z');
  EXPECT_EQ(clusterKey("n", limit_key), "sg:rl:{1:n:" + limit_key + "}");
}

}  // namespace
}  // namespace sg::ratelimit

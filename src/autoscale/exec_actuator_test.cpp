// The exec actuator with real commands: {desired} filled in, exit status and stderr tail
// kept, a command past its timeout killed, one run at a time.
#include "autoscale/exec_actuator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace sg::autoscale {
namespace {

ExecRun waitForRun(ExecActuator& actuator) {
  for (int i = 0; i < 1000; ++i) {
    if (auto run = actuator.takeFinished()) return *run;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "the command did not finish";
  return {};
}

std::string tempPath(const char* name) {
  return testing::TempDir() + "/" + name + "." + std::to_string(getpid());
}

TEST(ExecActuator, FillsEveryPlaceholder) {
  EXPECT_EQ(fillDesired("scale --to={desired} # {desired}", 7), "scale --to=7 # 7");
  EXPECT_EQ(fillDesired("{desired}", 12), "12");
  EXPECT_EQ(fillDesired("{desire}", 1), "{desire}");
}

TEST(ExecActuator, RunsTheCommandWithTheDesiredCount) {
  const std::string file = tempPath("exec_actuator_desired");
  std::remove(file.c_str());
  ExecActuator actuator("echo {desired} >> " + file, 10'000);
  ASSERT_TRUE(actuator.start(4, 1234));
  ExecRun run = waitForRun(actuator);
  EXPECT_TRUE(run.ok()) << run.error << run.stderr_tail;
  EXPECT_EQ(run.desired, 4u);
  EXPECT_EQ(run.exit_status, 0);
  EXPECT_EQ(run.started_ms, 1234);
  ASSERT_TRUE(actuator.start(6, 1235));
  waitForRun(actuator);
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "4\n6\n");
  std::remove(file.c_str());
}

TEST(ExecActuator, KeepsTheExitStatusAndTheEndOfStderr) {
  ExecActuator actuator(
      "i=0; while [ $i -lt 300 ]; do echo line$i >&2; i=$((i+1)); done; echo last {desired} >&2; "
      "exit 3",
      10'000);
  ASSERT_TRUE(actuator.start(2, 0));
  ExecRun run = waitForRun(actuator);
  EXPECT_FALSE(run.ok());
  EXPECT_EQ(run.exit_status, 3);
  EXPECT_FALSE(run.timed_out);
  EXPECT_LE(run.stderr_tail.size(), kStderrTail);
  EXPECT_EQ(run.stderr_tail.substr(run.stderr_tail.size() - 7), "last 2\n");
  EXPECT_EQ(run.stderr_tail.find("line0\n"), std::string::npos);
}

TEST(ExecActuator, KillsACommandPastItsTimeout) {
  ExecActuator actuator("sleep 30; echo {desired}", 200);
  ASSERT_TRUE(actuator.start(5, 0));
  EXPECT_TRUE(actuator.busy());
  EXPECT_FALSE(actuator.start(6, 0));  // one run at a time
  ExecRun run = waitForRun(actuator);
  EXPECT_TRUE(run.timed_out);
  EXPECT_FALSE(run.ok());
  EXPECT_EQ(run.signal, SIGKILL);
  EXPECT_FALSE(actuator.busy());
}

TEST(ExecActuator, ReportsACommandTheShellCannotRun) {
  ExecActuator actuator("/nonexistent/scale-to {desired}", 10'000);
  ASSERT_TRUE(actuator.start(3, 0));
  ExecRun run = waitForRun(actuator);
  EXPECT_EQ(run.exit_status, 127);
  EXPECT_NE(run.stderr_tail.find("/nonexistent/scale-to"), std::string::npos) << run.stderr_tail;
}

}  // namespace
}  // namespace sg::autoscale

#pragma once
// Test support: real redis-server processes on free loopback ports (stopped by pid), and
// running a worker-style event loop until a condition holds.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/event_loop.h"
#include "net/socket.h"

namespace sg::store::testing {

// A port nothing listens on right now (bind to 0, read it, close).
inline uint16_t freePort() {
  std::string error;
  auto address = net::Address::parse("127.0.0.1:0", &error);
  int fd = net::listenSocket(*address, 1, &error);
  const uint16_t port = net::localAddress(fd).port();
  ::close(fd);
  return port;
}

class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {}, uint16_t port = 0)
      : port_(port == 0 ? freePort() : port), extra_(std::move(extra)) {
    start();
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  void start() {
    dir_ = "/tmp/sg-redis-" + std::to_string(::getpid()) + "-" + std::to_string(port_);
    std::system(("mkdir -p " + dir_).c_str());
    std::vector<std::string> args{"/usr/bin/redis-server",
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--save",
                                  "",
                                  "--appendonly",
                                  "no",
                                  "--dir",
                                  dir_,
                                  "--daemonize",
                                  "no"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::freopen("/dev/null", "w", stdout);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      std::perror("exec /usr/bin/redis-server (install redis-server: scripts/install-deps.sh)");
      ::_exit(127);
    }
    waitUntilListening();
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    std::system(("rm -rf " + dir_).c_str());
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }
  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Runs redis-cli against this server; returns its output.
  std::string cli(const std::string& args) const {
    std::string command = "/usr/bin/redis-cli -p " + std::to_string(port_) + " " + args + " 2>&1";
    std::string out;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
      char buffer[4096];
      while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
      ::pclose(pipe);
    }
    return out;
  }

 private:
  void waitUntilListening() {
    for (int i = 0; i < 500; ++i) {
      const std::string pong = cli("PING");
      if (pong.find("PONG") != std::string::npos || pong.find("NOAUTH") != std::string::npos)
        return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error(
            "redis-server exited at start (is it installed? scripts/install-deps.sh)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();  // the destructor will not run for a constructor that throws
    throw std::runtime_error("redis-server did not answer PING within 5 s");
  }

  uint16_t port_;
  std::vector<std::string> extra_;
  std::string dir_;
  pid_t pid_ = -1;
};

// Runs `loop` until `done()` holds or `limit` passes; true when done() held.
class LoopRunner final : public net::TimerHandler {
 public:
  explicit LoopRunner(net::EventLoop& loop) : loop_(loop) {}
  bool runUntil(std::function<bool()> done,
                std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    done_ = std::move(done);
    deadline_ = std::chrono::steady_clock::now() + limit;
    if (done_()) return true;
    loop_.timers().arm(tick_, 2);
    loop_.run();
    tick_.cancel();
    return done_();
  }
  void onTimer(net::Timer* /*timer*/) override {
    if (done_() || std::chrono::steady_clock::now() >= deadline_) return loop_.stop();
    loop_.timers().arm(tick_, 2);
  }

 private:
  net::EventLoop& loop_;
  std::function<bool()> done_;
  std::chrono::steady_clock::time_point deadline_;
  net::Timer tick_{this};
};

// redis-cli output without its trailing newline.
inline std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

// `masters` cluster-enabled servers joined with `redis-cli --cluster create` (no replicas);
// "" once every node reports cluster_state:ok, else what went wrong.
inline std::string startCluster(std::vector<std::unique_ptr<RedisServer>>* nodes, int masters = 3) {
  for (int i = 0; i < masters; ++i) {
    nodes->push_back(std::make_unique<RedisServer>(
        std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                 "--cluster-node-timeout", "5000"}));
  }
  std::string create = "--cluster create";
  for (auto& node : *nodes) create += " " + node->address();
  create += " --cluster-replicas 0 --cluster-yes";
  const std::string out = (*nodes)[0]->cli(create);
  if (out.find("All 16384 slots covered") == std::string::npos) return out;
  for (int i = 0; i < 500; ++i) {
    bool ok = true;
    for (auto& node : *nodes)
      ok = ok && node->cli("CLUSTER INFO").find("cluster_state:ok") != std::string::npos;
    if (ok) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "the cluster did not reach cluster_state:ok";
}

}  // namespace sg::store::testing

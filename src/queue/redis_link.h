#pragma once
// One blocking connection to the Redis that holds a queue (hiredis's synchronous API), for
// threads that may block: the job store's writer and its callers. Not thread-safe: one
// thread at a time (the store locks around it).
//
// Commands go in pipelines: all written at once, one reply read per command. The link
// connects on first use and again after any failure, at most every reconnect_interval (so a
// Redis that is down costs a refused connect now and then, not one per call). After each
// connect it loads the store's Lua scripts, so EVALSHA always finds them.
//
// Redis Cluster: the queue's keys share one hash tag, so every command goes to one node. The
// link starts at a seed and follows MOVED to the node that owns the slot.
#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "queue/store_error.h"

namespace sg::queue {

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// A Lua script and its SHA1 (what EVALSHA names).
struct LuaScript {
  explicit LuaScript(std::string source);
  std::string source;
  std::string sha1;
};

class RedisLink {
 public:
  RedisLink(config::StoreConfig server, std::chrono::milliseconds timeout,
            std::chrono::milliseconds reconnect_interval, std::vector<const LuaScript*> scripts);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Sends the encoded commands (store/resp.h) in one write and reads one reply per command.
  // Error replies come back as replies (REDIS_REPLY_ERROR); a failed connection, a timeout
  // or a cluster redirection mid-pipeline is the call's error, and the link reconnects next time.
  Result<std::vector<ReplyPtr>> run(std::span<const std::string> commands);
  Result<ReplyPtr> runOne(std::string command);

  // "EVALSHA <sha> 1 <key> args..." encoded.
  static std::string evalsha(const LuaScript& script, std::string_view key,
                             std::span<const std::string_view> args);

 private:
  bool closedWhileIdle() const;
  Status connect();
  Status setUp();
  Status fail(std::string reason);
  Result<std::vector<ReplyPtr>> exchange(std::span<const std::string> commands);
  bool followMoved(const std::vector<ReplyPtr>& replies);

  config::StoreConfig server_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds reconnect_interval_;
  std::vector<const LuaScript*> scripts_;
  std::string node_;  // host:port in use (a cluster's follows MOVED)
  size_t next_seed_ = 0;
  redisContext* context_ = nullptr;
  std::chrono::steady_clock::time_point last_connect_{};
};

}  // namespace sg::queue

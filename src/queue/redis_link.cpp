#include "queue/redis_link.h"

#include <openssl/sha.h>
#include <poll.h>

#include <charconv>
#include <utility>

#include "base/hex.h"
#include "store/resp.h"

namespace sg::queue {

namespace {

timeval timevalOf(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000),
          static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
}

bool isError(const redisReply* reply, std::string_view prefix) {
  return reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
         std::string_view(reply->str, reply->len).starts_with(prefix);
}

// "MOVED 3999 127.0.0.1:6381" -> "127.0.0.1:6381".
std::string movedTarget(const redisReply* reply) {
  std::string_view text(reply->str, reply->len);
  size_t space = text.rfind(' ');
  return space == std::string_view::npos ? std::string() : std::string(text.substr(space + 1));
}

// Splits "host:port" or "[v6]:port".
bool splitNode(const std::string& node, std::string* host, int* port) {
  size_t colon = node.rfind(':');
  if (colon == std::string::npos) return false;
  *host = node.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  const char* begin = node.data() + colon + 1;
  const char* end = node.data() + node.size();
  auto parsed = std::from_chars(begin, end, *port);
  return parsed.ec == std::errc() && parsed.ptr == end && *port > 0 && *port < 65536;
}

}  // namespace

LuaScript::LuaScript(std::string text) : source(std::move(text)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source.data()), source.size(), digest);
  sha1 = base::hexEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

RedisLink::RedisLink(config::StoreConfig server, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds reconnect_interval,
                     std::vector<const LuaScript*> scripts)
    : server_(std::move(server)),
      timeout_(timeout),
      reconnect_interval_(reconnect_interval),
      scripts_(std::move(scripts)) {}

RedisLink::~RedisLink() {
  if (context_ != nullptr) redisFree(context_);
}

std::string RedisLink::evalsha(const LuaScript& script, std::string_view key,
                               std::span<const std::string_view> args) {
  std::vector<std::string_view> argv{"EVALSHA", script.sha1, "1", key};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  store::appendCommand(&out, argv);
  return out;
}

Status RedisLink::fail(std::string reason) {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
  return StoreError{ErrorKind::kStorage, "redis " + node_ + ": " + reason, true};
}

Status RedisLink::connect() {
  const auto now = std::chrono::steady_clock::now();
  if (last_connect_ != std::chrono::steady_clock::time_point{} &&
      now - last_connect_ < reconnect_interval_) {
    return StoreError{ErrorKind::kStorage, "redis " + node_ + ": not connected (retrying)", true};
  }
  last_connect_ = now;
  if (node_.empty() || server_.type == config::StoreConfig::Type::kRedisCluster) {
    if (server_.type == config::StoreConfig::Type::kRedis) {
      node_ = server_.address.toString();
    } else if (node_.empty() && !server_.seeds.empty()) {
      node_ = server_.seeds[next_seed_++ % server_.seeds.size()].toString();
    }
  }
  std::string host;
  int port = 0;
  if (!splitNode(node_, &host, &port)) return fail("bad address");
  const timeval tv = timevalOf(timeout_);
  context_ = redisConnectWithTimeout(host.c_str(), port, tv);
  if (context_ == nullptr) return fail("cannot allocate a connection");
  if (context_->err != 0) {
    std::string why = context_->errstr;
    if (server_.type == config::StoreConfig::Type::kRedisCluster) node_.clear();  // next seed
    return fail(why);
  }
  redisSetTimeout(context_, tv);
  return setUp();
}

// AUTH, SELECT, and the scripts (SCRIPT LOAD is idempotent: the same SHA1 every time).
Status RedisLink::setUp() {
  std::vector<std::string> commands;
  auto add = [&commands](std::initializer_list<std::string_view> argv) {
    store::appendCommand(&commands.emplace_back(), argv);
  };
  if (!server_.password.empty()) {
    if (server_.username.empty()) {
      add({"AUTH", server_.password});
    } else {
      add({"AUTH", server_.username, server_.password});
    }
  }
  if (server_.type == config::StoreConfig::Type::kRedis && server_.database != 0) {
    add({"SELECT", std::to_string(server_.database)});
  }
  for (const LuaScript* script : scripts_) add({"SCRIPT", "LOAD", script->source});
  auto replies = exchange(commands);
  if (!replies.ok()) return replies.error();
  for (const ReplyPtr& reply : replies.value()) {
    if (reply->type == REDIS_REPLY_ERROR) {
      return fail("setting up the connection: " + std::string(reply->str, reply->len));
    }
  }
  return okStatus();
}

Result<std::vector<ReplyPtr>> RedisLink::exchange(std::span<const std::string> commands) {
  for (const std::string& command : commands) {
    if (redisAppendFormattedCommand(context_, command.data(), command.size()) != REDIS_OK) {
      return fail(context_->errstr).error();
    }
  }
  std::vector<ReplyPtr> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      std::string why = context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
                            ? "timed out waiting for a reply"
                            : std::string(context_->errstr);
      return fail(why).error();
    }
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  return replies;
}

// A cluster answers MOVED when the queue's slot lives elsewhere. The node refused every
// command of the pipeline (one slot), so nothing ran: switch nodes and send them again.
bool RedisLink::followMoved(const std::vector<ReplyPtr>& replies) {
  if (server_.type != config::StoreConfig::Type::kRedisCluster || replies.empty()) return false;
  if (!isError(replies.front().get(), "MOVED ")) return false;
  node_ = movedTarget(replies.front().get());
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
  last_connect_ = {};  // connect to the new node at once
  return true;
}

// An idle connection Redis has closed (a restart, its `timeout`, a proxy) reads as EOF: find
// that before sending on it, so the call does not fail on a Redis that is up. Nothing else
// can be readable between pipelines (every reply was read).
bool RedisLink::closedWhileIdle() const {
  pollfd fd{context_->fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&fd, 1, 0) != 0;
}

Result<std::vector<ReplyPtr>> RedisLink::run(std::span<const std::string> commands) {
  if (context_ != nullptr && closedWhileIdle()) {
    redisFree(context_);
    context_ = nullptr;
    last_connect_ = {};  // it was up a moment ago: connect again at once
  }
  for (int hop = 0; hop < 3; ++hop) {
    if (context_ == nullptr) {
      Status connected = connect();
      if (!connected.ok()) return connected.error();
    }
    auto replies = exchange(commands);
    if (!replies.ok()) return replies.error();
    if (followMoved(replies.value())) continue;
    for (const ReplyPtr& reply : replies.value()) {
      // A moved slot mid-pipeline, or scripts flushed: some commands may have run, so the
      // call fails as a whole (the caller's retry is safe: every script checks its state).
      if (isError(reply.get(), "MOVED ") || isError(reply.get(), "ASK ") ||
          isError(reply.get(), "NOSCRIPT")) {
        return fail(std::string(reply->str, reply->len)).error();
      }
    }
    return replies;
  }
  return fail("too many cluster redirections").error();
}

Result<ReplyPtr> RedisLink::runOne(std::string command) {
  auto replies = run(std::span<const std::string>(&command, 1));
  if (!replies.ok()) return replies.error();
  return std::move(replies.value().front());
}

}  // namespace sg::queue

#pragma once
// One connection to one Redis node, driven by a worker's event loop: commands from any
// number of requests are pipelined on it, the writes of one event batch leave in one
// write, replies are matched to commands in order, every command has a deadline, and a
// lost connection is re-established with backoff. What a reply means (deliver it, follow a
// redirect, resend a script) is the owner's business (node_client / cluster_client).
#include <hiredis/read.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "net/address.h"
#include "net/event_loop.h"
#include "net/timer.h"
#include "store/reply.h"
#include "store/store_stats.h"

namespace sg::store {

class Script;

// A command on its way: encoded, with who waits for its reply.
struct Pending {
  enum class Kind : uint8_t {
    kUser,       // a feature's command: its reply goes to `handler`
    kHandshake,  // AUTH / SELECT after connecting: checked by the connection itself
    kAsking,     // ASKING before a command sent on an ASK redirect: reply dropped
    kInternal,   // the owner's own (CLUSTER SLOTS): reply goes to the owner
  };
  Kind kind = Kind::kUser;
  ReplyHandler* handler = nullptr;  // null once answered (timed out) or cancelled
  uint64_t cookie = 0;
  net::MonoMillis deadline = 0;
  std::string command;             // the encoded command, kept for a redirect or a NOSCRIPT resend
  const Script* script = nullptr;  // EVALSHA: the script to send whole on NOSCRIPT
  uint8_t redirects = 0;
};

struct ConnectionOptions {
  int64_t timeout_ms = 25;
  std::string username;
  std::string password;
  uint32_t database = 0;
};

class Connection final : public net::EventHandler,
                         public net::TimerHandler,
                         public net::BatchEndHandler {
 public:
  enum class State : uint8_t {
    kIdle,        // not started
    kConnecting,  // TCP connect and handshake in flight; commands queue behind it
    kReady,
    kBackoff,  // failed; reconnects when the backoff timer fires
    kClosed,   // shut down for good
  };

  class Owner {
   public:
    // A reply for a kUser or kInternal command still waited for (handler may be null for
    // kInternal). The owner may send more commands from here, on this or other connections.
    virtual void onReply(Connection& connection, Pending& pending, const Reply& reply) = 0;
    virtual void onStateChanged(Connection& connection) = 0;

   protected:
    ~Owner() = default;
  };

  Connection(net::EventLoop& loop, const net::Address& address, const ConnectionOptions& options,
             StoreStats& stats, Owner& owner);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  void shutdown();  // closes; every waiting command fails as kUnavailable; no reconnect
  // Queues a command (kConnecting or kReady). False when the connection cannot take it; the
  // caller decides without the store.
  bool send(Pending&& pending);
  // Forgets `handler`: its commands' replies are dropped.
  void cancel(const ReplyHandler* handler);

  State state() const { return state_; }
  const net::Address& address() const { return address_; }
  size_t waiting() const { return pending_.size(); }

  void onEvents(uint32_t events) override;
  void onTimer(net::Timer* timer) override;
  void onBatchEnd() override;

 private:
  void setState(State next);
  void connect();
  void queueHandshake();
  void fail(const std::string& why);  // closes, fails what waits, schedules a reconnect
  void closeSocket();
  void failPending(ReplyStatus status, std::string_view reason);
  void flush();
  void scheduleFlush();
  bool readReplies();
  bool takeReplies();
  void deliver(redisReply* raw);
  void expireDeadlines();
  void armDeadlineTimer();

  net::EventLoop& loop_;
  net::Address address_;
  ConnectionOptions options_;
  StoreStats& stats_;
  Owner& owner_;
  State state_ = State::kIdle;
  int fd_ = -1;
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader_;
  std::deque<Pending> pending_;  // sent or queued, in order; their replies come in this order
  size_t timed_out_ = 0;         // pending_ entries at the front already answered as timed out
  std::string out_;              // encoded commands not written yet
  size_t handshake_left_ = 0;
  bool connected_ = false;  // TCP connected (the handshake may still be running)
  bool flush_scheduled_ = false;
  bool counted_ready_ = false;
  int64_t backoff_ms_ = 0;
  net::Timer deadline_timer_{this};
  net::Timer backoff_timer_{this};
};

}  // namespace sg::store

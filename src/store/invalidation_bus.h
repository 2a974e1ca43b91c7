#pragma once
// Cluster-wide cache invalidation over Redis pub/sub. One gateway instance purges an entry:
// the bus deletes it from Redis (the shared L2) and PUBLISHes a message on a channel every
// instance subscribes to, so each drops it from its in-memory cache too.
//
// The bus runs on one background thread of its own (not a worker), so it uses hiredis's
// blocking API: a subscriber connection (a subscribed connection can run nothing else) and
// command connections (one per node in a cluster). publish() and publishAfterDeleting() only
// queue a job; the thread runs jobs in order and never retries one forever.
//
// Pub/sub delivers at most once: messages published while the subscriber is reconnecting are
// lost. A caller that must not miss any can watch subscriptions() and drop its whole
// in-memory cache when it grows past 1 (a resubscription).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.h"
#include "net/address.h"

struct redisContext;
struct redisReply;

namespace sg::store {

class InvalidationBus {
 public:
  using OnMessage = std::function<void(std::string_view message)>;  // runs on the bus thread

  static constexpr size_t kMaxQueued = 10000;  // beyond: dropped, counted as failures

  InvalidationBus(const config::StoreConfig& config, std::string channel, OnMessage on_message);
  ~InvalidationBus();  // stops and joins
  InvalidationBus(const InvalidationBus&) = delete;
  InvalidationBus& operator=(const InvalidationBus&) = delete;

  // Before start(): runs on the bus thread after each SUBSCRIBE that replaces a lost
  // subscription (messages sent meanwhile are lost: the caller drops what they might purge).
  void setOnResubscribed(std::function<void()> callback) { on_resubscribed_ = std::move(callback); }
  // Spawns the thread: connect, AUTH/SELECT as configured, SUBSCRIBE the channel.
  void start();
  void stop();

  // Thread-safe, never blocks on Redis. UNLINKs `keys` (in a cluster each on its slot's master,
  // following MOVED/ASK), then PUBLISHes `message`.
  void publish(std::vector<std::string> keys, std::string message);
  // UNLINKs every key matching the glob `pattern` (SCAN MATCH on every master), then PUBLISHes.
  void publishAfterDeleting(std::string pattern, std::string message);

  bool subscribed() const { return subscribed_.load(std::memory_order_acquire); }
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  uint64_t received() const { return received_.load(std::memory_order_relaxed); }
  uint64_t subscriptions() const { return subscriptions_.load(std::memory_order_relaxed); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Job {
    std::vector<std::string> keys;
    std::string pattern;  // non-empty: SCAN MATCH it instead of `keys`
    std::string message;
  };
  struct ContextDeleter {
    void operator()(redisContext* context) const;
  };
  struct ReplyDeleter {
    void operator()(redisReply* reply) const;
  };
  using Context = std::unique_ptr<redisContext, ContextDeleter>;
  using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;
  using Args = std::vector<std::string>;
  // A command connection, with its own reconnect backoff.
  struct Peer {
    net::Address address;
    Context context;
    Clock::time_point retry_at{};
    std::chrono::milliseconds backoff{0};
  };

  void enqueue(Job&& job);
  void wake();
  void run();
  void runJobs();
  bool runJob(const Job& job, std::string* error);

  // Subscriber.
  void connectSubscriber();
  void dropSubscriber(const std::string& why);
  void pollSubscriber(int timeout_ms);  // reads and delivers what has arrived
  void drainSubscriber();
  void pingSubscriber();

  // Commands.
  Context connect(const net::Address& address, std::string* error) const;
  Peer& peer(const net::Address& address);
  // Sends `commands` to `node` in one write and reads every reply; false (and *error) when the
  // node could not be reached or the connection failed. Error replies are the caller's.
  bool pipeline(const net::Address& node, const std::vector<Args>& commands,
                std::vector<ReplyPtr>* replies, std::string* error);
  bool unlink(std::vector<std::string> keys, std::string* error);
  bool unlinkMatching(const std::string& pattern, std::string* error);
  bool publishMessage(const std::string& message, std::string* error);
  bool loadSlots(std::string* error);
  std::vector<net::Address> knownNodes() const;
  const net::Address* ownerOf(std::string_view key) const;

  const config::StoreConfig config_;
  const bool cluster_;
  const std::string channel_;
  const OnMessage on_message_;
  std::function<void()> on_resubscribed_;
  const std::chrono::milliseconds timeout_;

  std::mutex mutex_;
  std::deque<Job> queue_;
  bool dropping_ = false;  // logging: one line per run of dropped jobs
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  std::atomic<bool> subscribed_{false};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> subscriptions_{0};

  // Bus thread only.
  Context subscriber_;
  size_t subscriber_node_ = 0;  // index into knownNodes(), rotated when a node fails
  Clock::time_point subscribe_at_{};
  std::chrono::milliseconds subscribe_backoff_{0};
  Clock::time_point last_heard_{};
  bool ping_outstanding_ = false;
  bool lost_logged_ = false;
  std::deque<Peer> peers_;             // a deque: a Peer& stays valid while others are added
  std::vector<net::Address> masters_;  // cluster: from CLUSTER SLOTS
  std::vector<int16_t> slots_;         // cluster: slot -> index into masters_, -1 unknown
  bool slots_stale_ = true;
};

}  // namespace sg::store

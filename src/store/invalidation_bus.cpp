#include "store/invalidation_bus.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "store/cluster_slots.h"

namespace sg::store {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMinTimeout{250};  // off the request path: store.timeout may be tighter
constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kMaxBackoff{3200};
constexpr int kPollMs = 50;                  // the wake eventfd makes jobs and stop() prompter
constexpr milliseconds kPingIdle{1000};      // a silent subscriber is PINGed after this
constexpr milliseconds kPingDeadline{3000};  // and dropped when still silent after this
constexpr int kMaxRedirects = 5;
constexpr size_t kUnlinkBatch = 1000;  // keys per UNLINK on a single node

timeval toTimeval(milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

milliseconds nextBackoff(milliseconds backoff) {
  return backoff.count() == 0 ? kFirstBackoff : std::min(backoff * 2, kMaxBackoff);
}

// A node named by the cluster (CLUSTER SLOTS, MOVED, ASK): an IPv6 host needs brackets.
std::optional<net::Address> nodeAddress(const std::string& host, int64_t port) {
  if (port <= 0 || port > 65535) return std::nullopt;
  std::string error;
  const bool ipv6 = host.find(':') != std::string::npos;
  return net::Address::parse((ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port), &error);
}

std::string_view text(const redisReply* reply) { return std::string_view(reply->str, reply->len); }

bool isString(const redisReply* reply) {
  return reply != nullptr &&
         (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

std::string describe(const redisReply* reply) {
  switch (reply->type) {
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(text(reply).substr(0, 200));
    case REDIS_REPLY_INTEGER:
      return "integer " + std::to_string(reply->integer);
    case REDIS_REPLY_ARRAY:
      return "an array of " + std::to_string(reply->elements);
    default:
      return "nil";
  }
}

}  // namespace

void InvalidationBus::ContextDeleter::operator()(redisContext* context) const {
  redisFree(context);
}

void InvalidationBus::ReplyDeleter::operator()(redisReply* reply) const { freeReplyObject(reply); }

InvalidationBus::InvalidationBus(const config::StoreConfig& config, std::string channel,
                                 OnMessage on_message)
    : config_(config),
      cluster_(config.type == config::StoreConfig::Type::kRedisCluster),
      channel_(std::move(channel)),
      on_message_(std::move(on_message)),
      timeout_(std::max<milliseconds>(config.timeout, kMinTimeout)) {
  if (config.type == config::StoreConfig::Type::kNone)
    throw std::invalid_argument("the invalidation bus needs a store (redis or redis_cluster)");
  if (cluster_ && config.seeds.empty())
    throw std::invalid_argument("the invalidation bus needs at least one cluster seed");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed for the invalidation bus");
}

InvalidationBus::~InvalidationBus() {
  stop();
  ::close(wake_fd_);
}

void InvalidationBus::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void InvalidationBus::stop() {
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
}

void InvalidationBus::publish(std::vector<std::string> keys, std::string message) {
  enqueue(Job{std::move(keys), {}, std::move(message)});
}

void InvalidationBus::publishAfterDeleting(std::string pattern, std::string message) {
  if (pattern.empty()) return publish({}, std::move(message));
  enqueue(Job{{}, std::move(pattern), std::move(message)});
}

void InvalidationBus::enqueue(Job&& job) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() < kMaxQueued) {
      queue_.push_back(std::move(job));
      dropping_ = false;
    } else {
      failures_.fetch_add(1, std::memory_order_relaxed);
      // One line per run of drops: a stuck bus would otherwise log every purge.
      if (!std::exchange(dropping_, true))
        spdlog::warn("store: invalidation bus queue is full ({} jobs): dropping invalidations",
                     kMaxQueued);
      return;
    }
  }
  wake();
}

void InvalidationBus::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void InvalidationBus::run() {
  // hiredis writes with write(): a peer that closed must give EPIPE here, not kill the process.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

  while (!stopping_) {
    if (!subscriber_) connectSubscriber();
    runJobs();
    if (stopping_) break;
    int wait = kPollMs;
    if (!subscriber_) {
      const auto until = std::chrono::duration_cast<milliseconds>(subscribe_at_ - Clock::now());
      wait = static_cast<int>(std::clamp<int64_t>(until.count(), 0, kPollMs));
    }
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {subscriber_ ? subscriber_->fd : -1, POLLIN, 0}};
    if (::poll(fds, 2, wait) > 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t count = 0;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof(count));
    }
    if (subscriber_ && fds[1].revents != 0) pollSubscriber(0);
    if (subscriber_) pingSubscriber();
  }

  size_t left = 0;
  {
    std::lock_guard lock(mutex_);
    left = queue_.size();
    queue_.clear();
  }
  if (left > 0) {
    failures_.fetch_add(left, std::memory_order_relaxed);
    spdlog::warn("store: invalidation bus stopped with {} invalidations not sent", left);
  }
  subscriber_.reset();
  subscribed_ = false;
  peers_.clear();
}

void InvalidationBus::runJobs() {
  while (!stopping_) {
    Job job;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string error;
    if (!runJob(job, &error)) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("store: invalidation \"{}\" failed: {}", job.message.substr(0, 200), error);
    }
    if (subscriber_) pollSubscriber(0);  // messages keep flowing between jobs
  }
}

// Deletes, then publishes even when a delete failed: the other instances' memory caches
// are still worth clearing. The job counts as failed either way.
bool InvalidationBus::runJob(const Job& job, std::string* error) {
  std::string delete_error;
  std::string publish_error;
  const bool deleted = job.pattern.empty() ? unlink(job.keys, &delete_error)
                                           : unlinkMatching(job.pattern, &delete_error);
  const bool published = publishMessage(job.message, &publish_error);
  if (!deleted) *error = "deleting: " + delete_error;
  if (!published) *error += (deleted ? "" : "; ") + ("publishing: " + publish_error);
  return deleted && published;
}

// ---- Subscriber

void InvalidationBus::connectSubscriber() {
  const auto now = Clock::now();
  if (now < subscribe_at_) return;
  const std::vector<net::Address> nodes = knownNodes();
  std::string error;
  for (size_t i = 0; i < nodes.size() && !stopping_; ++i) {
    const size_t index = (subscriber_node_ + i) % nodes.size();
    Context context = connect(nodes[index], &error);
    if (!context) continue;
    const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
    const size_t lengths[] = {9, channel_.size()};
    ReplyPtr reply(static_cast<redisReply*>(redisCommandArgv(context.get(), 2, argv, lengths)));
    if (!reply) {
      error = "SUBSCRIBE on " + nodes[index].toString() + " failed: " + context->errstr;
      continue;
    }
    // The confirmation: ["subscribe", channel, count].
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || !isString(reply->element[0]) ||
        text(reply->element[0]) != "subscribe") {
      error = nodes[index].toString() + " answered SUBSCRIBE with " + describe(reply.get());
      continue;
    }
    subscriber_ = std::move(context);
    subscriber_node_ = index;
    subscribe_backoff_ = milliseconds(0);
    last_heard_ = Clock::now();
    ping_outstanding_ = false;
    subscribed_ = true;
    const uint64_t before = subscriptions_.fetch_add(1, std::memory_order_relaxed);
    if (before > 0 && on_resubscribed_) on_resubscribed_();
    if (std::exchange(lost_logged_, false))
      spdlog::info("store: invalidation bus subscribed again on {}", nodes[index].toString());
    // Redis is evidently back: command connections need not wait out their backoff.
    for (Peer& peer : peers_) peer.retry_at = {};
    drainSubscriber();  // a message may have come in with the confirmation
    return;
  }
  subscriber_node_ = nodes.empty() ? 0 : (subscriber_node_ + 1) % nodes.size();
  subscribe_backoff_ = nextBackoff(subscribe_backoff_);
  subscribe_at_ = Clock::now() + subscribe_backoff_;
  if (!std::exchange(lost_logged_, true))
    spdlog::warn("store: invalidation bus cannot subscribe ({}); retrying with backoff", error);
}

void InvalidationBus::dropSubscriber(const std::string& why) {
  subscriber_.reset();
  subscribed_ = false;
  ++subscriber_node_;            // another node first next time (a cluster has others)
  subscribe_at_ = Clock::now();  // one immediate attempt; backoff after it fails
  slots_stale_ = true;           // a node may have died: the map may change
  if (!std::exchange(lost_logged_, true))
    spdlog::warn("store: invalidation bus lost its subscription: {}", why);
}

void InvalidationBus::pollSubscriber(int timeout_ms) {
  pollfd fd{subscriber_->fd, POLLIN, 0};
  if (::poll(&fd, 1, timeout_ms) <= 0) return;
  if (redisBufferRead(subscriber_.get()) != REDIS_OK)
    return dropSubscriber(std::string("reading from Redis failed: ") + subscriber_->errstr);
  drainSubscriber();
}

// Delivers every complete reply the reader holds.
void InvalidationBus::drainSubscriber() {
  while (subscriber_) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(subscriber_.get(), &raw) != REDIS_OK)
      return dropSubscriber(std::string("Redis sent a malformed reply: ") + subscriber_->errstr);
    if (raw == nullptr) return;
    ReplyPtr reply(static_cast<redisReply*>(raw));
    last_heard_ = Clock::now();
    ping_outstanding_ = false;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || !isString(reply->element[0])) {
      return dropSubscriber("unexpected reply on the subscriber: " + describe(reply.get()));
    }
    // ["message", channel, payload]; subscribe confirmations and ["pong", ""] are skipped.
    if (text(reply->element[0]) != "message" || reply->elements < 3 ||
        !isString(reply->element[2])) {
      continue;
    }
    try {
      on_message_(text(reply->element[2]));
    } catch (const std::exception& e) {
      spdlog::error("store: invalidation handler threw: {}", e.what());
    }
    received_.fetch_add(1, std::memory_order_relaxed);
  }
}

// A subscriber hears nothing while nobody publishes: PING tells a quiet channel from a dead
// (paused, partitioned) node whose socket never closes.
void InvalidationBus::pingSubscriber() {
  const auto silent = Clock::now() - last_heard_;
  if (ping_outstanding_) {
    if (silent > kPingDeadline) dropSubscriber("Redis did not answer PING on the subscriber");
    return;
  }
  if (silent < kPingIdle) return;
  redisAppendCommand(subscriber_.get(), "PING");
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(subscriber_.get(), &done) != REDIS_OK)
      return dropSubscriber(std::string("writing to Redis failed: ") + subscriber_->errstr);
  }
  ping_outstanding_ = true;
}

// ---- Commands

InvalidationBus::Context InvalidationBus::connect(const net::Address& address,
                                                  std::string* error) const {
  const timeval tv = toTimeval(timeout_);
  Context context(redisConnectWithTimeout(address.hostString().c_str(), address.port(), tv));
  if (!context) {
    *error = "out of memory connecting to " + address.toString();
    return nullptr;
  }
  if (context->err != 0) {
    *error = "cannot connect to " + address.toString() + ": " + context->errstr;
    return nullptr;
  }
  redisSetTimeout(context.get(), tv);
  std::vector<Args> handshake;
  if (!config_.password.empty()) {
    handshake.push_back(config_.username.empty()
                            ? Args{"AUTH", config_.password}
                            : Args{"AUTH", config_.username, config_.password});
  }
  if (!cluster_ && config_.database != 0)
    handshake.push_back({"SELECT", std::to_string(config_.database)});
  for (const Args& args : handshake) {
    const char* argv[3];
    size_t lengths[3];
    for (size_t i = 0; i < args.size(); ++i) {
      argv[i] = args[i].c_str();
      lengths[i] = args[i].size();
    }
    ReplyPtr reply(static_cast<redisReply*>(
        redisCommandArgv(context.get(), static_cast<int>(args.size()), argv, lengths)));
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
      *error = address.toString() + " refused " + args[0] + ": " +
               (reply ? describe(reply.get()) : std::string(context->errstr));
      return nullptr;
    }
  }
  return context;
}

InvalidationBus::Peer& InvalidationBus::peer(const net::Address& address) {
  for (Peer& peer : peers_) {
    if (peer.address == address) return peer;
  }
  peers_.push_back(Peer{address, nullptr, {}, milliseconds(0)});
  return peers_.back();
}

bool InvalidationBus::pipeline(const net::Address& node, const std::vector<Args>& commands,
                               std::vector<ReplyPtr>* replies, std::string* error) {
  replies->clear();
  if (commands.empty()) return true;
  Peer& peer = this->peer(node);
  auto failed = [&] {
    peer.context.reset();
    peer.backoff = nextBackoff(peer.backoff);
    peer.retry_at = Clock::now() + peer.backoff;
    return false;
  };
  // A connection kept from an earlier job may be stale (Redis restarted): one fresh try.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = !peer.context;
    if (fresh) {
      if (Clock::now() < peer.retry_at) {
        *error = node.toString() + " is unreachable (backing off)";
        return false;
      }
      peer.context = connect(node, error);
      if (!peer.context) return failed();
      peer.backoff = milliseconds(0);
    }
    redisContext* context = peer.context.get();
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const Args& args : commands) {
      argv.clear();
      lengths.clear();
      for (const std::string& arg : args) {
        argv.push_back(arg.c_str());
        lengths.push_back(arg.size());
      }
      redisAppendCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data());
    }
    replies->clear();
    while (replies->size() < commands.size()) {
      void* raw = nullptr;
      if (redisGetReply(context, &raw) != REDIS_OK || raw == nullptr) break;
      replies->emplace_back(static_cast<redisReply*>(raw));
    }
    if (replies->size() == commands.size()) return true;
    *error = node.toString() + ": " + context->errstr;
    replies->clear();
    if (fresh) return failed();
    peer.context.reset();
  }
  return false;
}

std::vector<net::Address> InvalidationBus::knownNodes() const {
  if (!cluster_) return {config_.address};
  std::vector<net::Address> nodes = config_.seeds;
  for (const net::Address& master : masters_) {
    if (std::find(nodes.begin(), nodes.end(), master) == nodes.end()) nodes.push_back(master);
  }
  return nodes;
}

const net::Address* InvalidationBus::ownerOf(std::string_view key) const {
  if (slots_.empty()) return nullptr;
  const int16_t node = slots_[keySlot(key)];
  return node < 0 ? nullptr : &masters_[static_cast<size_t>(node)];
}

// Each entry: [first slot, last slot, [master host, port, id, ...], replicas...]. An empty
// host means the node that answered.
bool InvalidationBus::loadSlots(std::string* error) {
  for (const net::Address& node : knownNodes()) {
    std::vector<ReplyPtr> replies;
    if (!pipeline(node, {{"CLUSTER", "SLOTS"}}, &replies, error)) continue;
    const redisReply* map = replies[0].get();
    if (map->type != REDIS_REPLY_ARRAY) {
      *error = node.toString() + " answered CLUSTER SLOTS with " + describe(map);
      continue;
    }
    std::vector<net::Address> masters;
    std::vector<int16_t> slots(kClusterSlots, -1);
    for (size_t i = 0; i < map->elements; ++i) {
      const redisReply* range = map->element[i];
      if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
      const redisReply* master = range->element[2];
      if (range->element[0]->type != REDIS_REPLY_INTEGER ||
          range->element[1]->type != REDIS_REPLY_INTEGER || master->type != REDIS_REPLY_ARRAY ||
          master->elements < 2 || !isString(master->element[0]) ||
          master->element[1]->type != REDIS_REPLY_INTEGER) {
        continue;
      }
      const long long first = range->element[0]->integer;
      const long long last = range->element[1]->integer;
      if (first < 0 || last >= kClusterSlots || first > last) continue;
      std::string host(text(master->element[0]));
      if (host.empty() || host == "?") host = node.hostString();
      auto address = nodeAddress(host, master->element[1]->integer);
      if (!address) continue;
      auto found = std::find(masters.begin(), masters.end(), *address);
      const auto index = static_cast<int16_t>(found - masters.begin());
      if (found == masters.end()) masters.push_back(*address);
      std::fill(slots.begin() + first, slots.begin() + last + 1, index);
    }
    if (masters.empty()) {
      *error = node.toString() + " knows no masters (CLUSTER SLOTS is empty)";
      continue;
    }
    masters_ = std::move(masters);
    slots_ = std::move(slots);
    slots_stale_ = false;
    return true;
  }
  return false;
}

bool InvalidationBus::unlink(std::vector<std::string> keys, std::string* error) {
  if (keys.empty()) return true;
  std::vector<ReplyPtr> replies;
  if (!cluster_) {
    std::vector<Args> commands;
    for (size_t i = 0; i < keys.size(); i += kUnlinkBatch) {
      Args args{"UNLINK"};
      const size_t end = std::min(keys.size(), i + kUnlinkBatch);
      for (size_t k = i; k < end; ++k) args.push_back(std::move(keys[k]));
      commands.push_back(std::move(args));
    }
    if (!pipeline(config_.address, commands, &replies, error)) return false;
    for (const ReplyPtr& reply : replies) {
      if (reply->type == REDIS_REPLY_ERROR) {
        *error = "UNLINK: " + describe(reply.get());
        return false;
      }
    }
    return true;
  }

  // Cluster: one UNLINK per key (keys of different slots cannot share one), grouped by the
  // master owning each slot, redirects followed for a few rounds.
  if (slots_stale_) loadSlots(error);  // without a map, any node: MOVED corrects it
  struct Item {
    std::string key;
    net::Address node;
    bool ask = false;
  };
  std::vector<Item> items;
  for (std::string& key : keys) {
    const net::Address* owner = ownerOf(key);
    items.push_back(Item{std::move(key), owner != nullptr ? *owner : config_.seeds.front()});
  }
  bool ok = true;
  for (int round = 0; round <= kMaxRedirects && !items.empty(); ++round) {
    std::vector<std::pair<net::Address, std::vector<Item>>> groups;  // one per node
    for (Item& item : items) {
      auto group = std::find_if(groups.begin(), groups.end(),
                                [&](const auto& g) { return g.first == item.node; });
      if (group == groups.end()) group = groups.insert(groups.end(), {item.node, {}});
      group->second.push_back(std::move(item));
    }
    std::vector<Item> again;
    for (auto& [node, group] : groups) {
      std::vector<Args> commands;
      for (const Item& item : group) {
        if (item.ask) commands.push_back({"ASKING"});
        commands.push_back({"UNLINK", item.key});
      }
      if (!pipeline(node, commands, &replies, error)) {
        ok = false;
        slots_stale_ = true;
        continue;
      }
      size_t r = 0;
      for (Item& item : group) {
        if (item.ask) ++r;  // ASKING's OK
        const redisReply* reply = replies[r++].get();
        if (reply->type != REDIS_REPLY_ERROR) continue;
        const auto redirect = parseRedirect(text(reply));
        const auto target =
            redirect ? nodeAddress(redirect->host.empty() ? node.hostString() : redirect->host,
                                   redirect->port)
                     : std::nullopt;
        if (!target) {
          *error = "UNLINK on " + node.toString() + ": " + describe(reply);
          ok = false;
          continue;
        }
        if (!redirect->ask) slots_stale_ = true;  // the map is out of date: reload next job
        again.push_back(Item{std::move(item.key), *target, redirect->ask});
      }
    }
    items = std::move(again);
  }
  if (!items.empty()) {
    *error = "UNLINK of " + items.front().key + ": too many redirections";
    ok = false;
  }
  return ok;
}

bool InvalidationBus::unlinkMatching(const std::string& pattern, std::string* error) {
  std::vector<net::Address> nodes{config_.address};
  if (cluster_) {
    if (!loadSlots(error)) return false;  // every master must be scanned: no guessing
    nodes = masters_;
  }
  bool ok = true;
  for (const net::Address& node : nodes) {
    std::string cursor = "0";
    do {
      if (stopping_) {
        *error = "the bus stopped mid-scan";
        return false;
      }
      std::vector<ReplyPtr> replies;
      if (!pipeline(node, {{"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}}, &replies, error)) {
        ok = false;
        break;
      }
      // [next cursor, [key, ...]]
      const redisReply* reply = replies[0].get();
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
          !isString(reply->element[0]) || reply->element[1]->type != REDIS_REPLY_ARRAY) {
        *error = node.toString() + " answered SCAN with " + describe(reply);
        ok = false;
        break;
      }
      cursor = std::string(text(reply->element[0]));
      std::vector<std::string> keys;
      const redisReply* found = reply->element[1];
      for (size_t i = 0; i < found->elements; ++i) {
        if (isString(found->element[i])) keys.emplace_back(text(found->element[i]));
      }
      std::string unlink_error;
      if (!unlink(std::move(keys), &unlink_error)) {
        *error = unlink_error;
        ok = false;
      }
      if (subscriber_) pollSubscriber(0);  // a long scan must not hold up messages
    } while (cursor != "0");
  }
  return ok;
}

bool InvalidationBus::publishMessage(const std::string& message, std::string* error) {
  // In a cluster PUBLISH reaches every node's subscribers from any one node.
  for (const net::Address& node : knownNodes()) {
    std::vector<ReplyPtr> replies;
    if (!pipeline(node, {{"PUBLISH", channel_, message}}, &replies, error)) continue;
    if (replies[0]->type == REDIS_REPLY_INTEGER) return true;
    *error = "PUBLISH on " + node.toString() + ": " + describe(replies[0].get());
  }
  return false;
}

}  // namespace sg::store

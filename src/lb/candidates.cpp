#include "lb/candidates.h"

#include <algorithm>
#include <cstring>

#include "lb/hash.h"

namespace sg::lb {

namespace {

// Per-server state bits, recomputed on every pick.
constexpr uint8_t kKept = 1;     // not excluded
constexpr uint8_t kHealthy = 2;  // in rotation
constexpr uint8_t kBackup = 4;   // a backup server
constexpr uint8_t kAllBits = kKept | kHealthy | kBackup;

constexpr int64_t kNotRamping = -1;
constexpr int64_t kMaxSlowStartMs = int64_t{1} << 40;  // ~35 years; keeps ramp math in range
constexpr uint32_t kMaxBalanceFactor = 100'000;        // percent

uint32_t clampWeight(uint32_t weight) noexcept {
  return std::clamp<uint32_t>(weight, 1, kMaxWeight);
}

uint8_t tierBit(Tier tier) noexcept { return tier == Tier::kBackup ? kBackup : 0; }

// Word-at-a-time byte checks: the spans are short and these run on every pick.
bool allZero(std::span<const uint8_t> bytes) noexcept {
  uint64_t any = 0;
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, bytes.data() + i, sizeof word);
    any |= word;
  }
  for (; i < bytes.size(); ++i) any |= bytes[i];
  return any == 0;
}

bool sameBytes(std::span<const uint8_t> a, const std::vector<uint8_t>& b) noexcept {
  if (a.size() != b.size()) return false;
  uint64_t diff = 0;
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t x = 0;
    uint64_t y = 0;
    std::memcpy(&x, a.data() + i, sizeof x);
    std::memcpy(&y, b.data() + i, sizeof y);
    diff |= x ^ y;
  }
  for (; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

}  // namespace

bool Candidates::admits(uint32_t server, uint64_t hash) const noexcept {
  const uint32_t ramp = ramps_[server];
  if (!admission_ || ramp >= kFullRamp) return true;
  return mix64(hash ^ (0x9e3779b97f4a7c15ULL * (server + uint64_t{1}))) % kFullRamp < ramp;
}

uint32_t Candidates::fallback(uint64_t hash, std::span<const uint32_t> in_flight) const noexcept {
  const size_t size = list_.size();
  const size_t start = mix64(hash) % size;
  for (size_t i = 0, at = start; i < size; ++i, at = at + 1 == size ? 0 : at + 1) {
    if (accepts(list_[at], hash, in_flight)) return list_[at];
  }
  for (size_t i = 0, at = start; i < size; ++i, at = at + 1 == size ? 0 : at + 1) {
    if (underLoadLimit(list_[at], in_flight)) return list_[at];
  }
  return list_[start];
}

CandidateSelector::CandidateSelector(const BalancerOptions& options,
                                     std::vector<ServerSpec> servers)
    : panic_threshold_(options.panic_threshold),
      balance_factor_(
          options.hash_balance_factor == 0
              ? 0
              : std::clamp<uint32_t>(options.hash_balance_factor, 100, kMaxBalanceFactor)),
      slow_start_ms_(std::clamp<int64_t>(options.slow_start_ms, 0, kMaxSlowStartMs)) {
  const size_t size = servers.size();
  for (size_t i = 0; i < size; ++i) {
    ServerSpec& spec = servers[i];
    keys_.push_back(spec.key.empty() ? "#" + std::to_string(i) : std::move(spec.key));
    configured_.push_back(clampWeight(spec.weight));
    tier_of_.push_back(spec.backup ? 1 : 0);
    groups_[tier_of_.back()].push_back(static_cast<uint32_t>(i));
  }
  for (size_t t = 0; t < 2; ++t) {
    lists_[t].resize(groups_[t].size());
    ends_[t].resize(groups_[t].size());
  }
  state_.assign(size, 0);
  was_healthy_.assign(size, 1);  // servers healthy at the first pick do not slow-start
  ramp_start_.assign(size, kNotRamping);
  ramps_.assign(size, kFullRamp);
  weights_.resize(size);
  for (size_t i = 0; i < size; ++i) weights_[i] = uint64_t{configured_[i]} * kFullRamp;
  refreshUniform();
  last_healthy_.assign(size, 0);
  candidates_.state_ = state_.data();
  candidates_.weights_ = weights_.data();
  candidates_.ramps_ = ramps_.data();
}

bool CandidateSelector::setWeight(uint32_t server, uint32_t weight) {
  if (configured_[server] == clampWeight(weight)) return false;
  configured_[server] = clampWeight(weight);
  weights_[server] = uint64_t{configured_[server]} * ramps_[server];
  refreshUniform();
  reusable_ = false;
  return true;
}

void CandidateSelector::refreshUniform() {
  for (size_t t = 0; t < 2; ++t) {
    const auto& group = groups_[t];
    group_uniform_[t] = std::all_of(group.begin(), group.end(), [&](uint32_t server) {
      return configured_[server] == configured_[group.front()];
    });
  }
}

const Candidates& CandidateSelector::select(const PickContext& context) noexcept {
  if (canReuse(context)) {
    if (balance_factor_ != 0) setLoadLimit(context.in_flight);
    return candidates_;
  }
  if (ramping_ > 0) updateRamps(context.now_ms);
  if (classify(context)) {  // health changed since the last pick (rare)
    observeHealth(context.healthy, context.now_ms);
    if (ramping_ > 0) updateRamps(context.now_ms);
    classify(context);
  }
  choose(context);
  remember(context);
  return candidates_;
}

// Same health as the last pick, neither pick excluding anything, and no weight moving with
// time (slow start): the candidates (and their totals) are unchanged.
bool CandidateSelector::canReuse(const PickContext& context) const noexcept {
  return reusable_ && ramping_ == 0 && sameBytes(context.healthy, last_healthy_) &&
         allZero(context.excluded) && allZero(context.removed);
}

void CandidateSelector::remember(const PickContext& context) noexcept {
  reusable_ = context.healthy.size() == last_healthy_.size() && allZero(context.excluded) &&
              allZero(context.removed);
  if (reusable_ && !last_healthy_.empty()) {
    std::memcpy(last_healthy_.data(), context.healthy.data(), last_healthy_.size());
  }
}

// One pass over the servers: state bits, healthy primaries, and the candidate lists of
// rules 1 and 2. Returns whether health differs from the last pick.
bool CandidateSelector::classify(const PickContext& context) noexcept {
  const std::span<const uint8_t> healthy = context.healthy;
  const std::span<const uint8_t> excluded = context.excluded;
  const std::span<const uint8_t> removed = context.removed;
  const auto size = static_cast<uint32_t>(state_.size());
  uint8_t changed = 0;
  uint32_t healthy_primaries = 0;
  uint32_t present_primaries = 0;
  std::array<uint32_t, 2> counts{};
  for (uint32_t i = 0; i < size; ++i) {
    const bool gone = i < removed.size() && removed[i] != 0;
    const uint8_t up = !gone && i < healthy.size() && healthy[i] != 0 ? 1 : 0;
    const bool kept = !gone && (i >= excluded.size() || excluded[i] == 0);
    const uint8_t tier = tier_of_[i];
    present_primaries += (gone ? 0 : 1) & (tier ^ 1);
    changed |= up ^ was_healthy_[i];
    state_[i] = static_cast<uint8_t>((tier != 0 ? kBackup : 0) | (up != 0 ? kHealthy : 0) |
                                     (kept ? kKept : 0));
    healthy_primaries += up & (tier ^ 1);
    const uint32_t candidate = up != 0 && kept ? 1 : 0;
    lists_[tier][counts[tier]] = i;  // within capacity: i belongs to this tier
    counts[tier] += candidate;
  }
  healthy_primaries_ = healthy_primaries;
  present_primaries_ = present_primaries;
  counts_ = counts;
  return changed != 0;
}

void CandidateSelector::choose(const PickContext& context) noexcept {
  const uint64_t primaries = present_primaries_;  // the operator's removals do not count
  const bool primaries_fit = healthy_primaries_ > 0 && uint64_t{healthy_primaries_} * 100 >=
                                                           uint64_t{panic_threshold_} * primaries;
  if (primaries_fit && counts_[0] > 0) {
    return finish(Tier::kPrimary, counts_[0], false, context.in_flight);
  }
  if (counts_[1] > 0) {
    // A healthy backup means healthy capacity exists: no panic. Backups still take traffic
    // only when no primary can (HAProxy's rule), so the few healthy primaries keep it.
    if (counts_[0] > 0) return finish(Tier::kPrimary, counts_[0], false, context.in_flight);
    return finish(Tier::kBackup, counts_[1], false, context.in_flight);
  }
  if (panic_threshold_ > 0) return choosePanic(context);
  candidates_.list_ = {};
  candidates_.panicked_ = false;
}

// Rule 3: every server of the tier that is not excluded, healthy or not.
void CandidateSelector::choosePanic(const PickContext& context) noexcept {
  const Tier tier = groups_[0].empty() ? Tier::kBackup : Tier::kPrimary;
  auto& list = lists_[index(tier)];
  uint32_t count = 0;
  for (uint32_t server : groups_[index(tier)]) {
    if ((state_[server] & kKept) != 0) list[count++] = server;
  }
  finish(tier, count, true, context.in_flight);
}

void CandidateSelector::finish(Tier tier, uint32_t count, bool panicked,
                               std::span<const uint32_t> in_flight) noexcept {
  Candidates& out = candidates_;
  out.list_ = std::span<const uint32_t>(lists_[index(tier)].data(), count);
  uint64_t* ends = ends_[index(tier)].data();
  uint64_t running = 0;
  for (uint32_t k = 0; k < count; ++k) {
    running += weights_[out.list_[k]];
    ends[k] = running;
  }
  out.ends_ = std::span<const uint64_t>(ends, count);
  out.tier_ = tier;
  out.panicked_ = panicked && count > 0;
  out.total_weight_ = running;
  out.uniform_ = group_uniform_[index(tier)] && ramping_ == 0;
  out.mask_ = panicked ? (kKept | kBackup) : kAllBits;
  out.want_ = static_cast<uint8_t>(tierBit(tier) | kKept | (panicked ? 0 : kHealthy));
  out.admission_ = ramping_ > 0 && std::any_of(out.list_.begin(), out.list_.end(),
                                               [&](uint32_t s) { return ramps_[s] >= kFullRamp; });
  setLoadLimit(in_flight);
}

void CandidateSelector::setLoadLimit(std::span<const uint32_t> in_flight) noexcept {
  Candidates& out = candidates_;
  out.load_limit_ = Candidates::kNoLimit;
  if (balance_factor_ == 0 || in_flight.empty() || out.list_.empty()) return;
  uint64_t load = 0;
  for (uint32_t server : out.list_) load += loadOf(in_flight, server);
  const uint64_t divisor = uint64_t{100} * out.list_.size();
  out.load_limit_ = (balance_factor_ * (load + 1) + divisor - 1) / divisor;
}

void CandidateSelector::observeHealth(std::span<const uint8_t> healthy, int64_t now_ms) noexcept {
  for (uint32_t i = 0; i < was_healthy_.size(); ++i) {
    const uint8_t up = i < healthy.size() && healthy[i] != 0 ? 1 : 0;
    if (up == was_healthy_[i]) continue;
    was_healthy_[i] = up;
    const bool ramping = ramp_start_[i] != kNotRamping;
    if (up != 0 && slow_start_ms_ > 0) {
      if (!ramping) ++ramping_;
      ramp_start_[i] = now_ms;
      setRamp(i, kMinRamp);
    } else if (up == 0 && ramping) {
      --ramping_;
      ramp_start_[i] = kNotRamping;
      setRamp(i, kFullRamp);
    }
  }
}

void CandidateSelector::updateRamps(int64_t now_ms) noexcept {
  for (uint32_t i = 0; i < ramp_start_.size(); ++i) {
    if (ramp_start_[i] == kNotRamping) continue;
    const int64_t elapsed = std::max<int64_t>(0, now_ms - ramp_start_[i]);
    if (elapsed >= slow_start_ms_) {
      --ramping_;
      ramp_start_[i] = kNotRamping;
      setRamp(i, kFullRamp);
      continue;
    }
    const auto ramp = static_cast<uint32_t>(elapsed * kFullRamp / slow_start_ms_);
    setRamp(i, std::max(kMinRamp, ramp));
  }
}

void CandidateSelector::setRamp(uint32_t server, uint32_t ramp) noexcept {
  ramps_[server] = ramp;
  weights_[server] = uint64_t{configured_[server]} * ramp;
}

}  // namespace sg::lb

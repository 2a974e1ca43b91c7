// Durations ("250ms", "2s", "1m", "1h", "1d") and sizes ("512", "16KiB", "64MiB").
#include "config/units.h"

#include <array>
#include <charconv>
#include <limits>

#include "config/config.h"

namespace sg::config {

namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

// Timers add durations to a nanosecond steady_clock; staying under half its range means
// "now + timeout" can never overflow, whatever the uptime.
constexpr uint64_t kMaxDurationMs =
    static_cast<uint64_t>(
        std::chrono::duration_cast<Duration>(std::chrono::nanoseconds::max()).count()) /
    2;

constexpr std::array<Unit, 5> kDurationUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

constexpr uint64_t kKiB = 1024;
// K/KB and friends mean powers of 1024 too: a header limit is never meant in 1000s.
constexpr std::array<Unit, 10> kSizeUnits{{{"B", 1},
                                           {"K", kKiB},
                                           {"KB", kKiB},
                                           {"KiB", kKiB},
                                           {"M", kKiB* kKiB},
                                           {"MB", kKiB* kKiB},
                                           {"MiB", kKiB* kKiB},
                                           {"G", kKiB* kKiB* kKiB},
                                           {"GB", kKiB* kKiB* kKiB},
                                           {"GiB", kKiB* kKiB* kKiB}}};

// Splits "16KiB" into 16 and "KiB". nullopt when there are no leading digits or they overflow.
std::optional<std::pair<uint64_t, std::string_view>> splitNumber(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto number = detail::parseUnsigned(text.substr(0, digits));
  if (!number) return std::nullopt;
  return std::make_pair(*number, text.substr(digits));
}

template <size_t N>
std::optional<uint64_t> scale(std::string_view text, const std::array<Unit, N>& units,
                              uint64_t max) {
  auto split = splitNumber(text);
  if (!split) return std::nullopt;
  for (const Unit& unit : units) {
    if (unit.suffix != split->second) continue;
    if (split->first > max / unit.factor) return std::nullopt;
    return split->first * unit.factor;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Duration> parseDuration(const std::string& text) {
  if (text == "0") return Duration::zero();  // the one unit-less value that is unambiguous
  auto ms = scale(text, kDurationUnits, kMaxDurationMs);
  if (!ms) return std::nullopt;
  return Duration(static_cast<Duration::rep>(*ms));
}

std::optional<uint64_t> parseSize(const std::string& text) {
  auto split = splitNumber(text);
  if (split && split->second.empty()) return split->first;  // bare number = bytes
  return scale(text, kSizeUnits, std::numeric_limits<uint64_t>::max());
}

namespace detail {

std::optional<uint64_t> parseUnsigned(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string formatSize(uint64_t bytes) {
  constexpr std::array<std::string_view, 4> kNames{"B", "KiB", "MiB", "GiB"};
  size_t unit = 0;
  while (unit + 1 < kNames.size() && bytes != 0 && bytes % kKiB == 0) {
    bytes /= kKiB;
    ++unit;
  }
  return std::to_string(bytes) + std::string(kNames[unit]);
}

std::string formatDuration(std::chrono::milliseconds duration) {
  auto ms = static_cast<uint64_t>(duration.count() < 0 ? 0 : duration.count());
  for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
    if (ms != 0 && ms % it->factor == 0)
      return std::to_string(ms / it->factor) + std::string(it->suffix);
  }
  return std::to_string(ms) + "ms";
}

}  // namespace detail

}  // namespace sg::config

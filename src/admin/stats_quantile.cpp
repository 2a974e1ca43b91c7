#include "admin/stats_quantile.h"

#include <algorithm>

namespace sg::admin {

std::optional<double> histogramQuantile(double q, const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& cumulative) {
  if (!(q >= 0 && q <= 1) || cumulative.size() != bounds.size() + 1 || bounds.empty())
    return std::nullopt;
  const uint64_t total = cumulative.back();
  if (total == 0) return std::nullopt;
  const double rank = q * static_cast<double>(total);
  // The first bucket whose cumulative count reaches the rank.
  size_t bucket = 0;
  while (bucket < cumulative.size() && static_cast<double>(cumulative[bucket]) < rank) ++bucket;
  if (bucket >= bounds.size()) return bounds.back();  // in +Inf: the highest finite bound
  const double upper = bounds[bucket];
  if (bucket == 0 && upper <= 0) return upper;
  const double lower = bucket == 0 ? 0.0 : bounds[bucket - 1];
  const double below = bucket == 0 ? 0.0 : static_cast<double>(cumulative[bucket - 1]);
  const double inside = static_cast<double>(cumulative[bucket]) - below;
  if (inside <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inside);
}

std::vector<uint64_t> cumulativeDelta(const std::vector<uint64_t>& now,
                                      const std::vector<uint64_t>& before) {
  if (before.size() != now.size()) return now;
  std::vector<uint64_t> out(now.size());
  for (size_t i = 0; i < now.size(); ++i) out[i] = now[i] >= before[i] ? now[i] - before[i] : 0;
  return out;
}

}  // namespace sg::admin

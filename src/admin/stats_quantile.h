#pragma once
// Quantiles of a latency histogram over an interval, computed the way Prometheus's
// histogram_quantile() does on rate()d buckets, so /admin/stats and a PromQL query over
// /metrics agree.
#include <cstdint>
#include <optional>
#include <vector>

namespace sg::admin {

// `bounds` are the finite upper bounds (ascending, seconds); `cumulative` holds one count per
// bound and then the +Inf bucket's (so cumulative.size() == bounds.size() + 1), each the
// increase over the interval. Returns the q-quantile (0 <= q <= 1) in seconds: the rank
// q * total is located in its bucket and interpolated linearly between the bucket's lower
// bound (0 for the first bucket) and its upper bound. A rank in the +Inf bucket answers the
// highest finite bound. nullopt when nothing was observed or q is outside [0, 1].
std::optional<double> histogramQuantile(double q, const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& cumulative);

// cumulative counts `now` minus `before`, element by element (clamped at 0 should a count
// ever go back, e.g. `before` empty or of another length: then `now` itself).
std::vector<uint64_t> cumulativeDelta(const std::vector<uint64_t>& now,
                                      const std::vector<uint64_t>& before);

}  // namespace sg::admin

// The dashboard's history across a process hand-over (reload, binary upgrade): the old process
// passes its series' points, the successor shows on from them (StatsSampler::exportHistory and
// importHistory). The form is the series part of GET /admin/stats with every point kept.
#include <boost/json.hpp>
#include <cmath>
#include <limits>

#include "admin/stats_sampler.h"

namespace sg::admin {

namespace json = boost::json;

namespace {

// A number, or NaN for null (a second in which nothing finished).
double numberOrNaN(const json::value& value) {
  if (value.is_null()) return std::numeric_limits<double>::quiet_NaN();
  return value.to_number<double>();
}

// The points of one series (columns, oldest first); throws when they are not well formed.
std::vector<StatsPoint> pointsOf(const json::object& columns) {
  const json::array& time = columns.at("time_ms").as_array();
  const char* names[] = {"rps", "error_rate", "p50_ms", "p95_ms", "p99_ms", "in_flight"};
  double StatsPoint::*fields[] = {&StatsPoint::rps,    &StatsPoint::error_rate,
                                  &StatsPoint::p50_ms, &StatsPoint::p95_ms,
                                  &StatsPoint::p99_ms, &StatsPoint::in_flight};
  std::vector<StatsPoint> points(time.size());
  for (size_t i = 0; i < time.size(); ++i) points[i].time_ms = time[i].to_number<int64_t>();
  for (size_t f = 0; f < std::size(names); ++f) {
    const json::array& column = columns.at(names[f]).as_array();
    if (column.size() != points.size()) throw std::invalid_argument("columns of unequal length");
    for (size_t i = 0; i < column.size(); ++i) points[i].*fields[f] = numberOrNaN(column[i]);
  }
  return points;
}

}  // namespace

std::string StatsSampler::exportHistory() const {
  return json::serialize(document(capacity_).at("series"));
}

bool StatsSampler::importHistory(std::string_view bytes, size_t* series, std::string* error) {
  *series = 0;
  boost::system::error_code parse_error;
  json::value parsed = json::parse(bytes, parse_error);
  if (parse_error || !parsed.is_object()) return *error = "not a dashboard history", false;
  std::lock_guard lock(mutex_);
  for (Entity& entity : entities_) {
    const json::value* kind = parsed.as_object().if_contains(entity.kind);
    const json::value* columns =
        kind != nullptr && kind->is_object() ? kind->as_object().if_contains(entity.name) : nullptr;
    if (columns == nullptr || !columns->is_object() || entity.ring.size() != 0) continue;
    try {
      for (const StatsPoint& point : pointsOf(columns->as_object())) entity.ring.push(point);
      ++*series;
    } catch (const std::exception& e) {
      *error = "the " + entity.kind + " series " + entity.name + " is garbled: " + e.what();
    }
  }
  return error->empty();
}

}  // namespace sg::admin

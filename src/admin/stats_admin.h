#pragma once
// GET /admin/stats (the sampler's JSON), GET /admin/stats/stream (the same as Server-Sent
// Events, one event a second) and GET /dashboard (the page that draws them).
#include <optional>

#include "admin/http_service.h"
#include "admin/stats_sampler.h"

namespace sg::admin {

// nullopt when the path is none of the three. `sampler` may be null (then the stats
// endpoints answer 503: nothing samples).
std::optional<ServiceResponse> handleStatsAdmin(StatsSampler* sampler,
                                                const http::RequestHead& request);

// One Server-Sent Events message: "event: stats\ndata: <json>\n\n".
std::string statsEvent(const StatsSampler& sampler);

}  // namespace sg::admin

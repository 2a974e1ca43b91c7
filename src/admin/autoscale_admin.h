#pragma once
// The autoscaler through the admin API:
//   GET /admin/autoscale             every autoscaled upstream: counts, metric, prediction,
//                                    the last decisions (what the dashboard reads)
//   GET /admin/autoscale/{upstream}  KEDA's metrics-api scaler document for one upstream
#include <optional>

#include "admin/http_service.h"

namespace sg::autoscale {
class Autoscaler;
}

namespace sg::admin {

// nullopt when the path is not under /admin/autoscale. `autoscaler` may be null (no
// autoscaler running): every upstream is then unknown.
std::optional<ServiceResponse> handleAutoscaleAdmin(const autoscale::Autoscaler* autoscaler,
                                                    const http::RequestHead& request);

}  // namespace sg::admin

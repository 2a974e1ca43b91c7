#pragma once
// The admin listener's endpoints: /metrics (Prometheus text) and /health (JSON).
#include "admin/http_service.h"
#include "admin/reload_admin.h"
#include "proxy/shared_state.h"

namespace sg::pg {
class PgService;
}
namespace sg::discovery {
class RegistryService;
}
namespace sg::autoscale {
class Autoscaler;
}

namespace sg::admin {

class StatsSampler;

// What the admin endpoints read and act on. Components that add endpoints add a field here.
struct AdminContext {
  proxy::SharedState* shared = nullptr;
  pg::PgService* postgres = nullptr;               // the PostgreSQL listener, when configured
  discovery::RegistryService* registry = nullptr;  // the service registry (/admin/registry)
  // Upstreams' `autoscale` (null when not running).
  autoscale::Autoscaler* autoscale = nullptr;
  StatsSampler* stats = nullptr;  // /admin/stats and its stream (stats_admin.h)
  ReloadHandler reload;           // POST /admin/reload (reload_admin.h)
};

ServiceHandler makeAdminHandler(AdminContext context);

// The /health document and its HTTP status (200 ok/degraded, 503 unavailable/draining).
ServiceResponse healthResponse(proxy::SharedState& shared, int64_t now_ms,
                               pg::PgService* postgres = nullptr);

}  // namespace sg::admin

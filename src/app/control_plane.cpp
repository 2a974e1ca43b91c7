#include "app/control_plane.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

namespace sg::app {

ControlPlane::ControlPlane(proxy::Gateway& gateway, admin::ReloadHandler reload)
    : gateway_(gateway),
      reload_(std::move(reload)),
      config_(gateway.shared().config()),
      registry_(config_.store, gateway.shared().registry(), gateway.shared().storeStats()),
      registry_upstreams_(registry_.registry(), gateway.shared()),
      autoscaler_(gateway.shared(), std::make_unique<autoscale::SystemClock>(),
                  &registry_.registry()) {}

ControlPlane::~ControlPlane() {
  stopControl();
  stop();
}

bool ControlPlane::startAdmin(std::string* error, net::InheritedListeners* inherited,
                              std::string_view history, bool accept_now) {
  registry_.start();
  if (!config_.admin.address) return true;
  admin::AdminContext context{&gateway_.shared(), gateway_.postgres()};
  context.autoscale = &autoscaler_;
  context.registry = &registry_;
  stats_ = std::make_unique<admin::StatsSampler>(gateway_.shared(), gateway_.postgres());
  context.stats = stats_.get();
  context.reload = reload_;
  bool autoscales =
      std::any_of(config_.upstreams.begin(), config_.upstreams.end(),
                  [](const auto& upstream) { return upstream.autoscale.has_value(); });
  if (autoscales) {
    stats_->setAutoscaleSource([this] { return boost::json::value(autoscaler_.dashboardJson()); });
  }
  if (!history.empty()) carryHistory(history);
  // The admin listener answers from here on, before the sampler's thread starts: sample once now
  // so /admin/stats never answers with an empty "current".
  stats_->sampleNow();
  admin_service_ = std::make_unique<admin::HttpService>(*config_.admin.address,
                                                        admin::makeAdminHandler(context));
  if (!admin_service_->start(error, inherited, accept_now)) {
    *error = "admin: " + *error;
    return false;
  }
  return true;
}

void ControlPlane::carryHistory(std::string_view history) {
  size_t series = 0;
  std::string error;
  if (!stats_->importHistory(history, &series, &error))
    spdlog::warn("the dashboard history of the process replaced is cut short: {}", error);
  spdlog::info("the dashboard shows on from the configuration replaced ({} series)", series);
}

std::string ControlPlane::statsHistory() const { return stats_ ? stats_->exportHistory() : ""; }

std::vector<net::ListeningSocket> ControlPlane::adminSocket() const {
  if (!admin_service_ || admin_service_->listeningFd() < 0) return {};
  return {{config_.admin.address->toString(), admin_service_->listeningFd()}};
}

void ControlPlane::acceptAdmin() {
  if (admin_service_) admin_service_->startAccepting();
}

void ControlPlane::handOverAdmin() {
  if (admin_service_) admin_service_->stopAccepting();
}

void ControlPlane::awaitAdminIdle(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (admin_service_ && admin_service_->openConnections() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void ControlPlane::startControl() {
  registry_upstreams_.start();
  autoscaler_.start();
  if (stats_) stats_->start();
}

void ControlPlane::stopControl() {
  autoscaler_.stop();
  registry_upstreams_.stop();
}

void ControlPlane::stop() {
  if (admin_service_) admin_service_->stop();
  if (stats_) stats_->stop();
  registry_.stop();
}

}  // namespace sg::app

#include "proxy/tls_metrics.h"

namespace sg::proxy {

std::unique_ptr<TlsMetrics> TlsMetrics::make(metrics::Registry& registry,
                                             const std::string& listener) {
  auto tls = std::make_unique<TlsMetrics>();
  const std::string handshakes = "scalegate_tls_handshakes_total";
  const std::string help = "TLS handshakes with clients, by result (ok, failed, timeout).";
  tls->ok = &registry.counter(handshakes, help, {{"listener", listener}, {"result", "ok"}});
  tls->failed = &registry.counter(handshakes, help, {{"listener", listener}, {"result", "failed"}});
  tls->timeout =
      &registry.counter(handshakes, help, {{"listener", listener}, {"result", "timeout"}});
  tls->resumed = &registry.counter("scalegate_tls_resumed_handshakes_total",
                                   "TLS handshakes that resumed a session (ticket or cache).",
                                   {{"listener", listener}});
  for (size_t i = 0; i < net::kTlsFailureReasons.size(); ++i) {
    tls->failures[i] = &registry.counter(
        "scalegate_tls_handshake_failures_total", "Failed TLS handshakes with clients, by reason.",
        {{"listener", listener}, {"reason", std::string(net::kTlsFailureReasons[i])}});
  }
  return tls;
}

void TlsMetrics::countFailure(std::string_view reason) {
  failed->inc();
  size_t index = net::kTlsFailureReasons.size() - 1;  // "other"
  for (size_t i = 0; i < net::kTlsFailureReasons.size(); ++i) {
    if (net::kTlsFailureReasons[i] == reason) index = i;
  }
  failures[index]->inc();
}

}  // namespace sg::proxy

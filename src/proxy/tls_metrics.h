#pragma once
// A TLS listener's handshake counters: scalegate_tls_handshakes_total{listener,result},
// scalegate_tls_resumed_handshakes_total{listener} and
// scalegate_tls_handshake_failures_total{listener,reason}.
#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "metrics/metrics.h"
#include "net/tls.h"

namespace sg::proxy {

struct TlsMetrics {
  static std::unique_ptr<TlsMetrics> make(metrics::Registry& registry, const std::string& listener);
  void countFailure(std::string_view reason);

  metrics::Counter* ok = nullptr;
  metrics::Counter* failed = nullptr;
  metrics::Counter* timeout = nullptr;
  metrics::Counter* resumed = nullptr;
  std::array<metrics::Counter*, net::kTlsFailureReasons.size()> failures{};
};

}  // namespace sg::proxy

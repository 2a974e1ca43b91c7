#pragma once
// Upgraded connections (WebSocket and other 101 upgrades): after the upstream's 101 the
// exchange becomes a tunnel that moves raw bytes both ways until either side closes.
namespace sg::proxy {

class Exchange;

class TunnelPhase {
 public:
  explicit TunnelPhase(Exchange& exchange) : ex_(exchange) {}
  // The upstream accepted the upgrade: relays its 101 and starts moving bytes.
  void start();
  // Moves bytes both ways until either side closes; then flushes what is left and closes.
  void pump();

 private:
  Exchange& ex_;
};

}  // namespace sg::proxy

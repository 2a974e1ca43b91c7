// Upgraded connections (WebSocket and other 101 upgrades): after the upstream's 101 the
// exchange becomes a tunnel that moves raw bytes both ways until either side closes.
#include "proxy/client_connection.h"
#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"

namespace sg::proxy {

// The upstream accepted the upgrade: the exchange succeeded (a half-open breaker's trial
// is settled now, not when the tunnel closes hours later) and becomes a tunnel.
void Exchange::startUpgrade() {
  UpstreamConn* upstream = phases.upstream.connection();
  phases.breaker.recordOutlier(101);
  if (phases.breaker.pending()) phases.breaker.settle(resilience::Outcome::kSuccess);
  upstream->server()->health.recordSuccess();
  ClientResponseContext context;
  context.tunnel = true;
  phases.cache.announce();
  context.extra_headers = extra_headers;
  writeClientResponseHead(response, context, &to_client.head());
  startTunnel();
}

void Exchange::startTunnel() {
  setState(State::kTunnel);
  response_started = true;
  status = 101;
  UpstreamConn* upstream = phases.upstream.connection();
  Pipe& to_upstream = phases.upstream.pipe();
  request_body.start(http::BodyKind::kUntilClose, 0, false);
  response_body.start(http::BodyKind::kUntilClose, 0, false);
  to_upstream.reset();
  to_upstream.addBody(input().size());
  to_client.addBody(upstream->input().size());
  phases.log.record(101);
  client->setReadable();
  upstream->readable = true;
  pumpTunnel();
}

// Moves bytes both ways until either side closes; then flushes what is left and closes.
void Exchange::pumpTunnel() {
  UpstreamConn* upstream = phases.upstream.connection();
  Pipe& to_upstream = phases.upstream.pipe();
  bool progress = true;
  while (progress && state_ == State::kTunnel) {
    progress = false;
    if (to_upstream.flush(upstream->fd(), &input()) == Pipe::Flush::kError) return closeClient();
    if (to_client.flush(client->fd(), &upstream->input()) == Pipe::Flush::kError)
      return closeClient();
    if (to_upstream.idle() && client->readable()) {
      size_t before = input().size();
      if (client->readClient()) {
        to_upstream.addBody(input().size() - before);
        progress = true;
      } else if (state_ != State::kTunnel || client->eof()) {
        if (state_ == State::kTunnel) closeClient();
        return;
      }
    }
    if (to_client.idle() && upstream->readable) {
      size_t before = upstream->input().size();
      if (phases.upstream.read()) {
        to_client.addBody(upstream->input().size() - before);
        progress = true;
      } else if (phases.upstream.eof()) {
        to_client.flush(client->fd(), &upstream->input());
        return closeClient();
      }
    }
  }
}

}  // namespace sg::proxy

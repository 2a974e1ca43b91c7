// Upgraded connections (WebSocket and other 101 upgrades): after the upstream's 101 the
// exchange becomes a tunnel that moves raw bytes both ways until either side closes.
#include "proxy/tunnel.h"

#include "proxy/client_connection.h"
#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"

namespace sg::proxy {

// The exchange succeeded (a half-open breaker's trial is settled now, not when the tunnel
// closes hours later) and becomes a tunnel.
void TunnelPhase::start() {
  Phases& phases = ex_.phases;
  UpstreamConn* upstream = phases.upstream.connection();
  phases.breaker.recordOutlier(101);
  if (phases.breaker.pending()) phases.breaker.settle(resilience::Outcome::kSuccess);
  upstream->server()->health.recordSuccess();
  ClientResponseContext context;
  context.tunnel = true;
  phases.cache.announce();
  context.extra_headers = ex_.extra_headers;
  writeClientResponseHead(ex_.response, context, ex_.clientHead());
  ex_.setState(Exchange::State::kTunnel);
  ex_.response_started = true;
  ex_.status = 101;
  Pipe& to_upstream = phases.upstream.pipe();
  ex_.request_body.start(http::BodyKind::kUntilClose, 0, false);
  ex_.response_body.start(http::BodyKind::kUntilClose, 0, false);
  to_upstream.reset();
  to_upstream.addBody(ex_.input().size());
  ex_.to_client.addBody(upstream->input().size());
  phases.log.record(101);
  ex_.client->setReadable();
  upstream->readable = true;
  pump();
}

void TunnelPhase::pump() {
  UpstreamConn* upstream = ex_.phases.upstream.connection();
  Pipe& to_upstream = ex_.phases.upstream.pipe();
  Pipe& to_client = ex_.to_client;
  ClientConnection* client = ex_.client;
  net::Buffer& input = ex_.input();
  bool progress = true;
  while (progress && ex_.state() == Exchange::State::kTunnel) {
    progress = false;
    if (to_upstream.flush(upstream->stream(), &input) == Pipe::Flush::kError)
      return ex_.closeClient();
    if (to_client.flush(client->stream(), &upstream->input()) == Pipe::Flush::kError)
      return ex_.closeClient();
    if (to_upstream.idle() && client->readable()) {
      size_t before = input.size();
      if (client->readClient()) {
        to_upstream.addBody(input.size() - before);
        progress = true;
      } else if (ex_.state() != Exchange::State::kTunnel || client->eof()) {
        if (ex_.state() == Exchange::State::kTunnel) ex_.closeClient();
        return;
      }
    }
    if (to_client.idle() && upstream->readable) {
      size_t before = upstream->input().size();
      if (ex_.phases.upstream.read()) {
        to_client.addBody(upstream->input().size() - before);
        progress = true;
      } else if (ex_.phases.upstream.eof()) {
        to_client.flush(client->stream(), &upstream->input());
        return ex_.closeClient();
      }
    }
  }
}

}  // namespace sg::proxy

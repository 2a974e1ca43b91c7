// Reading the upstream's response and relaying it: interim responses, the final head (which
// runs the route's response phases), and the body as it streams.
#include "http/parser.h"
#include "proxy/client_connection.h"
#include "proxy/exchange.h"
#include "proxy/head_writer.h"
#include "proxy/shared_state.h"
#include "proxy/upstream_conn.h"
#include "proxy/worker.h"

namespace sg::proxy {

namespace {
const http::ParseLimits kResponseLimits{64 * 1024, 256};
}  // namespace

void Exchange::pumpResponse() {
  UpstreamPhase& upstream = phases.upstream;
  CompressionPhase& compression = phases.compression;
  for (;;) {
    net::Buffer& from_upstream = upstream.connection()->input();
    // Take in buffered body bytes before flushing, so head and body go out together.
    if (response_head_done && to_client.bodyReady() == 0 &&
        (!from_upstream.empty() || compression.endPending())) {
      // Broken framing from the upstream: the client sees a cut response.
      if (!compression.takeResponseBody()) return closeClient();
      // Stored before the last bytes go out: a client that asks again as soon as it has the
      // response (on any connection or worker) finds it.
      if (response_body.done() && phases.cache.storing()) phases.cache.finishStore();
    }
    if (!to_client.idle()) {
      auto result = sendToClient(compression.active() ? compression.output() : &from_upstream);
      if (result == Pipe::Flush::kError) return closeClient();
      if (result == Pipe::Flush::kBlocked) {
        client->armIdleTimer();
        return;
      }
      client->cancelTimer();
    }
    if (response_head_done && response_body.done()) return finish();
    // Buffered bytes are parsed before reading more: reads are edge-triggered, so a final
    // response that came in the same read as a 1xx gets no new event.
    if (!response_head_done && !from_upstream.empty()) {
      HeadStep step = handleResponseHead();
      if (step == HeadStep::kStop) return;
      if (step == HeadStep::kHandled) continue;
    }
    if (!response_head_done || from_upstream.empty()) {
      if (upstream.eof()) return upstreamEnded();
      if (!upstream.read()) {
        if (upstream.eof() || compression.flushStream()) continue;  // flushed: send it
        return;  // drained for now (or the compressor failed and the client was closed)
      }
    }
  }
}

void Exchange::upstreamEnded() {
  if (!response_head_done) {
    if (phases.upstream.connection()->input().empty()) return phases.upstream.broken();
    phases.upstream.connection()->server()->errors->inc();
    return reject(502, true);  // closed in the middle of the response head
  }
  if (response_body.finishOnEof()) return pumpResponse();
  closeClient();  // truncated body: closing tells the client it is incomplete
}

Exchange::HeadStep Exchange::handleResponseHead() {
  http::ParseError error = http::ParseError::kNone;
  UpstreamConn* upstream = phases.upstream.connection();
  net::Buffer& buffer = upstream->input();
  auto parsed =
      http::parseResponseHead(buffer.view(), kResponseLimits, request_is_head, &response, &error);
  if (parsed == http::ParseStatus::kIncomplete) return HeadStep::kIncomplete;
  // A 101 answers only an upgrade request (RFC 9110 15.2.2): relaying one the client did not
  // ask for would hand it a protocol it never agreed to.
  if (parsed == http::ParseStatus::kError || (response.status == 101 && !request_upgrade)) {
    upstream->server()->errors->inc();
    reject(502, true);
    return HeadStep::kStop;
  }
  if (response.status == 101) {
    buffer.consume(response.head_length);
    phases.tunnel.start();
    return HeadStep::kStop;
  }
  if (response.status < 200) {  // 100 Continue, 103 Early Hints: relay and read on
    if (client_minor >= 1) writeClientResponseHead(response, {}, clientHead());
    buffer.consume(response.head_length);
    return HeadStep::kHandled;
  }
  return startResponse() ? HeadStep::kHandled : HeadStep::kStop;
}

// The final response head: the route's response phases run, then the head goes to the
// client. Returns false when a phase took the exchange over (a retry, a cached answer).
bool Exchange::startResponse() {
  status = response.status;
  local_answer = false;
  ClientResponseContext context;
  // HTTP/1.0 clients get a chunked body without its framing, and the connection closed.
  const bool unchunk_for_http10 = client_minor == 0 && response.body == http::BodyKind::kChunked;
  dechunk = unchunk_for_http10;  // compression sets it too: its output is re-framed
  for (ResponsePhase phase : route->phases.response) {
    if (runResponsePhase(phase, *this, &context) != Verdict::kContinue) return false;
  }
  UpstreamConn* upstream = phases.upstream.connection();
  const bool close_client =
      close_after || unchunk_for_http10 || !request_body.done() || !phases.upstream.pipe().idle() ||
      response.body == http::BodyKind::kUntilClose || worker->closesConnections() ||
      (phases.compression.active() && client_minor == 0);
  context.chunked = (response.body == http::BodyKind::kChunked && !dechunk) ||
                    (phases.compression.active() && client_minor >= 1);
  context.close = close_client;
  context.keep_alive_header = client_minor == 0 && !close_client;
  writeClientResponseHead(response, context, clientHead());
  phases.cache.afterResponseHead(&to_client.head());
  response_body.start(response.body, response.content_length, dechunk);
  upstream->input().consume(response.head_length);
  response_head_done = true;
  response_started = true;
  close_after = close_client;
  return true;
}

}  // namespace sg::proxy

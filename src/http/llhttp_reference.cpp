// Runs llhttp over a request head and collects what it saw through its callbacks.
// Two passes: the first pauses in on_headers_complete (so the head length and the state at
// that point are known); the second feeds exactly the head to a fresh parser without pausing,
// so the checks llhttp runs right after on_headers_complete (Transfer-Encoding of a request
// not ending in chunked) give their error too.
#include "http/llhttp_reference.h"

#include <llhttp.h>

#include <cstring>

namespace sg::http::reference {
namespace {

struct Collector {
  LlhttpHead* out = nullptr;
  bool in_value = false;  // the last header callback was a value (a new name starts a field)
  bool pause = true;
};

Collector* collectorOf(llhttp_t* p) { return static_cast<Collector*>(p->data); }

int onMethod(llhttp_t* p, const char* at, size_t n) {
  collectorOf(p)->out->method.append(at, n);
  return 0;
}

int onUrl(llhttp_t* p, const char* at, size_t n) {
  collectorOf(p)->out->url.append(at, n);
  return 0;
}

int onHeaderField(llhttp_t* p, const char* at, size_t n) {
  Collector* c = collectorOf(p);
  if (c->in_value || c->out->headers.empty()) c->out->headers.emplace_back();
  c->in_value = false;
  c->out->headers.back().first.append(at, n);
  return 0;
}

int onHeaderValue(llhttp_t* p, const char* at, size_t n) {
  Collector* c = collectorOf(p);
  if (c->out->headers.empty()) c->out->headers.emplace_back();  // not reached: name first
  c->in_value = true;
  c->out->headers.back().second.append(at, n);
  return 0;
}

int onHeaderFieldComplete(llhttp_t* p) {
  // A field with an empty value gets no on_header_value call; mark it so the next name starts
  // a new field.
  collectorOf(p)->in_value = true;
  return 0;
}

int onHeadersComplete(llhttp_t* p) {
  Collector* c = collectorOf(p);
  LlhttpHead* h = c->out;
  h->http_major = p->http_major;
  h->http_minor = p->http_minor;
  h->flags = p->flags;
  h->content_length = p->content_length;
  h->chunked = (p->flags & F_CHUNKED) != 0;
  h->has_content_length = (p->flags & F_CONTENT_LENGTH) != 0;
  h->has_transfer_encoding = (p->flags & F_TRANSFER_ENCODING) != 0;
  h->keep_alive = llhttp_should_keep_alive(p) != 0;
  h->upgrade = p->upgrade != 0;
  return c->pause ? HPE_PAUSED : 0;
}

const llhttp_settings_t& settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_method = onMethod;
    v.on_url = onUrl;
    v.on_header_field = onHeaderField;
    v.on_header_value = onHeaderValue;
    v.on_header_field_complete = onHeaderFieldComplete;
    v.on_headers_complete = onHeadersComplete;
    return v;
  }();
  return s;
}

void setError(const llhttp_t& parser, llhttp_errno_t err, std::string_view input, LlhttpHead* out) {
  out->verdict = LlhttpHead::Verdict::kError;
  out->error = err;
  out->error_name = llhttp_errno_name(err);
  const char* reason = llhttp_get_error_reason(&parser);
  out->error_reason = reason != nullptr ? reason : "";
  const char* pos = llhttp_get_error_pos(&parser);
  out->error_offset = pos != nullptr && pos >= input.data() && pos <= input.data() + input.size()
                          ? static_cast<size_t>(pos - input.data())
                          : input.size();
}

}  // namespace

LlhttpHead parseRequestWithLlhttp(std::string_view input) {
  LlhttpHead out;
  Collector collector{&out};
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings());
  parser.data = &collector;
  const llhttp_errno_t err = llhttp_execute(&parser, input.data(), input.size());
  if (err == HPE_OK) return out;  // the head has not ended yet
  if (err != HPE_PAUSED) {
    setError(parser, err, input, &out);
    return out;
  }
  // Paused in on_headers_complete: the error position is one past the head's final LF.
  out.head_length = static_cast<size_t>(llhttp_get_error_pos(&parser) - input.data());

  LlhttpHead again;
  Collector second{&again, false, false};
  llhttp_t check;
  llhttp_init(&check, HTTP_REQUEST, &settings());
  check.data = &second;
  const std::string_view head = input.substr(0, out.head_length);
  const llhttp_errno_t err2 = llhttp_execute(&check, head.data(), head.size());
  if (err2 != HPE_OK && err2 != HPE_PAUSED_UPGRADE) {
    setError(check, err2, input, &out);
    return out;
  }
  out.verdict = LlhttpHead::Verdict::kComplete;
  return out;
}

bool llhttpKnowsMethod(std::string_view method) {
  // HTTP_DELETE..HTTP_SOURCE are its HTTP methods; PRI is HTTP/2's preface, the rest RTSP.
  for (int m = HTTP_DELETE; m <= HTTP_SOURCE; ++m) {
    const char* name = llhttp_method_name(static_cast<llhttp_method_t>(m));
    if (name != nullptr && method == name) return true;
  }
  return false;
}

}  // namespace sg::http::reference

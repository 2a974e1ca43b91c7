// Differential libFuzzer target: the same bytes go to scalegate's request head parser
// (parser.h, default limits) and to llhttp in strict mode without lenient flags
// (llhttp_reference.h). Where both reach a verdict on the head they must agree on:
//  - accepting or rejecting it (a head one accepts and the other rejects);
//  - head length, method, target, version, header count, names and values (OWS-trimmed);
//  - body framing: chunked, or the Content-Length value (0 and absent mean no body);
//  - keep-alive and upgrade.
// A parser still waiting for bytes reaches no verdict, except that scalegate waiting where
// llhttp accepted is a disagreement. scalegate rejecting where llhttp is still waiting is not:
// llhttp stops at the first bad byte, scalegate judges whole heads.
// Every deliberate difference is skipped by knownDifference() below, which checks the
// condition of its class on the input itself; docs/parser-differences.md gives the reasons.
// Anything else prints both parsers' views and aborts. With SG_DIFF_SURVEY=1 in the
// environment it prints each new kind of disagreement (what, scalegate's error, llhttp's error)
// once and goes on, which is how the known classes were found.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "http/chars.h"
#include "http/llhttp_reference.h"
#include "http/parser.h"

namespace {

using namespace sg::http;
using reference::LlhttpHead;

std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

const char* verdictName(LlhttpHead::Verdict v) {
  switch (v) {
    case LlhttpHead::Verdict::kComplete:
      return "complete";
    case LlhttpHead::Verdict::kIncomplete:
      return "incomplete";
    case LlhttpHead::Verdict::kError:
      return "error";
  }
  return "?";
}

const char* statusName(ParseStatus s) {
  switch (s) {
    case ParseStatus::kComplete:
      return "complete";
    case ParseStatus::kIncomplete:
      return "incomplete";
    case ParseStatus::kError:
      return "error";
  }
  return "?";
}

[[noreturn]] void disagree(const char* what, std::string_view in, ParseStatus st, ParseError err,
                           const RequestHead& sg, const LlhttpHead& ll) {
  std::fprintf(stderr, "DISAGREEMENT: %s\ninput: \"%s\"\n", what, printable(in).c_str());
  std::fprintf(stderr, "scalegate: %s %.*s", statusName(st),
               static_cast<int>(errorName(err).size()), errorName(err).data());
  if (st == ParseStatus::kComplete) {
    std::fprintf(stderr,
                 " head_length=%u method=\"%s\" target=\"%s\" 1.%d headers=%zu body=%d "
                 "content_length=%llu keep_alive=%d upgrade=%d",
                 sg.head_length, printable(sg.method).c_str(), printable(sg.target).c_str(),
                 sg.version_minor, sg.headers.size(), static_cast<int>(sg.body),
                 static_cast<unsigned long long>(sg.content_length), sg.keep_alive, sg.upgrade);
  }
  std::fprintf(stderr, "\nllhttp: %s", verdictName(ll.verdict));
  if (ll.verdict == LlhttpHead::Verdict::kError) {
    std::fprintf(stderr, " %s (%s) at offset %zu", ll.error_name.c_str(), ll.error_reason.c_str(),
                 ll.error_offset);
  }
  if (ll.verdict == LlhttpHead::Verdict::kComplete) {
    std::fprintf(stderr,
                 " head_length=%zu method=\"%s\" target=\"%s\" %d.%d headers=%zu "
                 "chunked=%d content_length=%llu keep_alive=%d upgrade=%d",
                 ll.head_length, printable(ll.method).c_str(), printable(ll.url).c_str(),
                 ll.http_major, ll.http_minor, ll.headers.size(), ll.chunked,
                 static_cast<unsigned long long>(ll.content_length), ll.keep_alive, ll.upgrade);
  }
  std::fprintf(stderr, "\n");
  std::abort();
}

// Both parsers accepted the head: compare what they made of it.
const char* compareHeads(const RequestHead& sg, const LlhttpHead& ll) {
  if (sg.head_length != ll.head_length) return "head length";
  if (sg.method != ll.method) return "method";
  if (sg.target != ll.url) return "target";
  if (ll.http_major != 1 || sg.version_minor != ll.http_minor) return "version";
  if (sg.headers.size() != ll.headers.size()) return "header count";
  for (size_t i = 0; i < sg.headers.size(); ++i) {
    if (sg.headers[i].name != ll.headers[i].first) return "header name";
    if (sg.headers[i].value != detail::trimOws(ll.headers[i].second)) return "header value";
  }
  if (ll.chunked) {
    if (sg.body != BodyKind::kChunked) return "framing: llhttp chunked";
  } else if (ll.content_length > 0) {
    if (sg.body != BodyKind::kContentLength || sg.content_length != ll.content_length) {
      return "framing: Content-Length";
    }
  } else if (sg.body != BodyKind::kNone) {
    return "framing: llhttp no body";
  }
  if (sg.keep_alive != ll.keep_alive) return "keep-alive";
  if (sg.upgrade != ll.upgrade) return "upgrade";
  return nullptr;
}

// ---- Deliberate differences (docs/parser-differences.md) ------------------------------------
// Each class is recognised from the input or from llhttp's view of it, never from scalegate's
// error code alone, so a scalegate bug that happens to carry the same code is still reported.

constexpr uint16_t kLlhttpConnectionClose = 0x2;  // llhttp's F_CONNECTION_CLOSE

size_t firstNonEmptyLine(std::string_view head) {
  size_t pos = 0;
  while (head.substr(pos, 2) == "\r\n") pos += 2;
  return pos;
}

bool isHost(std::string_view name) { return detail::equalsLower(name, "host"); }

size_t countFields(const LlhttpHead& ll, std::string_view lower_name) {
  size_t n = 0;
  for (const auto& [name, value] : ll.headers) n += detail::equalsLower(name, lower_name) ? 1 : 0;
  return n;
}

bool validHostBytes(std::string_view v) {
  for (const char c : v) {
    if (!detail::hasClass(c, detail::kClassHost)) return false;
  }
  return true;
}

// scalegate's absolute-form: http(s)://authority[/...|?...] with a non-empty uri-host[:port]
// authority (no userinfo).
bool acceptableAbsoluteForm(std::string_view url) {
  size_t scheme = 0;
  if (url.size() > 7 && detail::equalsLower(url.substr(0, 7), "http://")) scheme = 7;
  if (url.size() > 8 && detail::equalsLower(url.substr(0, 8), "https://")) scheme = 8;
  if (scheme == 0) return false;
  const std::string_view rest = url.substr(scheme);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  return !authority.empty() && validHostBytes(authority);
}

bool isOriginOrAsterisk(const LlhttpHead& ll) {
  return (!ll.url.empty() && ll.url[0] == '/') || (ll.url == "*" && ll.method == "OPTIONS");
}

// Line-level reasons for scalegate to reject a head llhttp accepts (`head` as llhttp delimited
// it).
const char* stricterLines(std::string_view head, const LlhttpHead& ll) {
  // Line endings: scalegate takes only CRLF (RFC 9112 2.2 lets a recipient accept a bare LF;
  // a gateway must not, the upstream may read the lines differently). llhttp takes a bare LF
  // as a line end, and skips bare CRs before the request line.
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) return "bare LF or CR";
    if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) return "bare LF or CR";
  }
  // Request line: exactly one SP between its parts (RFC 9112 3); llhttp takes runs of SP.
  const size_t line_start = firstNonEmptyLine(head);
  const std::string_view line = head.substr(line_start, head.find("\r\n", line_start) - line_start);
  if (line.find("  ") != std::string_view::npos) return "several SP in the request line";
  // HTTP/0.9-style request line without a version (llhttp reports 0.9).
  if (ll.http_major == 0 && ll.http_minor == 9) return "request line without version";
  const std::string_view version = line.substr(line.rfind(' ') + 1);
  if (version != "HTTP/1.0" && version != "HTTP/1.1") return "version other than HTTP/1.0/1.1";
  // obs-fold: a field line starting with SP/HTAB (RFC 9112 5.2: reject or unfold; we reject).
  if (head.find("\r\n ") != std::string_view::npos ||
      head.find("\r\n\t") != std::string_view::npos) {
    return "obs-fold";
  }
  return nullptr;
}

// Why scalegate may reject a head llhttp accepts.
const char* stricterThanLlhttp(std::string_view head, const LlhttpHead& ll) {
  if (const char* why = stricterLines(head, ll)) return why;
  for (const auto& [name, value] : ll.headers) {
    if (name.empty()) return "empty field name";  // llhttp 8 accepts ": x"
  }
  if (ll.headers.size() > ParseLimits{}.max_headers) return "header count limit";
  if (head.size() > ParseLimits{}.max_head_size) return "head size limit";
  const size_t hosts = countFields(ll, "host");
  const bool absolute = !ll.url.empty() && ll.url[0] != '/' && ll.url != "*";
  if (hosts > 1 || (hosts == 0 && ll.http_minor == 1 && !absolute)) {
    return "Host missing in HTTP/1.1 or repeated";  // RFC 9112 3.2: MUST 400
  }
  for (const auto& [name, value] : ll.headers) {
    if (isHost(name) && !validHostBytes(detail::trimOws(value))) return "Host not uri-host[:port]";
  }
  if (!isOriginOrAsterisk(ll) && !acceptableAbsoluteForm(ll.url)) {
    return "target not origin-form, OPTIONS *, or http(s) absolute-form";
  }
  if (countFields(ll, "transfer-encoding") > 0) {
    // Requests: exactly one Transfer-Encoding field, exactly "chunked", HTTP/1.1 only (llhttp
    // also takes an empty field, or "gzip, chunked").
    if (ll.http_minor == 0) return "Transfer-Encoding in HTTP/1.0";
    if (countFields(ll, "transfer-encoding") != 1) return "Transfer-Encoding other than chunked";
    for (const auto& [name, value] : ll.headers) {
      if (detail::equalsLower(name, "transfer-encoding") &&
          !detail::equalsLower(detail::trimOws(value), "chunked")) {
        return "Transfer-Encoding other than chunked";
      }
    }
  }
  if (ll.has_content_length && ll.content_length > 0x7FFFFFFFFFFFFFFFULL) {
    return "Content-Length above 2^63-1";
  }
  return nullptr;
}

// A Connection token llhttp acts on (close, keep-alive, upgrade) followed by HTAB: list
// elements are separated by OWS "," OWS (RFC 9110 5.6.1), and OWS includes HTAB, but llhttp
// only takes SP there and then does not see the token.
bool connectionTokenBeforeHtab(const LlhttpHead& ll) {
  for (const auto& field : ll.headers) {
    if (!detail::equalsLower(field.first, "connection")) continue;
    const std::string_view value = field.second;
    bool found = false;
    detail::forEachListElement(value, [&found, value](std::string_view token) {
      const bool acted_on = detail::equalsLower(token, "close") ||
                            detail::equalsLower(token, "keep-alive") ||
                            detail::equalsLower(token, "upgrade");
      const char* after = token.data() + token.size();
      const char* end = value.data() + value.size();
      for (; acted_on && after < end && detail::isOws(*after); ++after) {
        found = found || *after == '\t';
      }
    });
    if (found) return true;
  }
  return false;
}

// Whether a field of `kind` has an HTAB in the OWS after its value.
bool htabAfterValue(const RequestHead& sg, HeaderKind kind) {
  for (const Header& h : sg.headers) {
    if (h.kind != kind) continue;
    // The value's view lies inside the head, where its line's CR follows the trailing OWS.
    for (const char* p = h.value.data() + h.value.size(); detail::isOws(*p); ++p) {
      if (*p == '\t') return true;
    }
  }
  return false;
}

// Why scalegate may accept a head llhttp rejects.
const char* laxerThanLlhttp(const RequestHead& sg, const LlhttpHead& ll) {
  // RFC 9110 9.1: a method is any token, and the gateway forwards what it does not know.
  // llhttp knows a fixed list (and RTSP's methods only with an RTSP version).
  if ((ll.error_name == "HPE_INVALID_METHOD" || ll.error_name == "HPE_INVALID_CONSTANT") &&
      !reference::llhttpKnowsMethod(sg.method)) {
    return "method not in llhttp's HTTP list";
  }
  // Field values exclude OWS on both sides (RFC 9110 5.5); llhttp rejects a Content-Length
  // or a Transfer-Encoding followed by HTAB.
  if (ll.error_name == "HPE_INVALID_CONTENT_LENGTH" &&
      htabAfterValue(sg, HeaderKind::kContentLength))
    return "HTAB after the Content-Length value";
  if (ll.error_name == "HPE_INVALID_TRANSFER_ENCODING" &&
      htabAfterValue(sg, HeaderKind::kTransferEncoding))
    return "HTAB after the Transfer-Encoding value";
  // RFC 9110 8.6: a list of identical Content-Length values, or several identical fields, may
  // be taken as that one value (the proxy then forwards one normalised field).
  size_t lengths = 0;
  bool list = false;
  for (const Header& h : sg.headers) {
    if (h.kind != HeaderKind::kContentLength) continue;
    ++lengths;
    list = list || h.value.find(',') != std::string_view::npos;
  }
  if ((lengths > 1 || list) && (ll.error_name == "HPE_UNEXPECTED_CONTENT_LENGTH" ||
                                ll.error_name == "HPE_INVALID_CONTENT_LENGTH")) {
    return "repeated or listed identical Content-Length";
  }
  return nullptr;
}

const char* knownDifference(std::string_view in, ParseStatus st, const RequestHead& sg,
                            const LlhttpHead& ll) {
  if (st == ParseStatus::kError && ll.verdict == LlhttpHead::Verdict::kComplete) {
    return stricterThanLlhttp(in.substr(0, ll.head_length), ll);
  }
  // llhttp reserves PRI for the HTTP/2 connection preface (it rejects "PRI / HTTP/1.1", or
  // waits for the preface's "SM" line); to HTTP/1.1 PRI is just a token.
  if (st == ParseStatus::kComplete && sg.method == "PRI" &&
      (ll.verdict == LlhttpHead::Verdict::kIncomplete || ll.error_name == "HPE_INVALID_VERSION")) {
    return "PRI method";
  }
  if (st == ParseStatus::kComplete && ll.verdict == LlhttpHead::Verdict::kError) {
    return laxerThanLlhttp(sg, ll);
  }
  if (st == ParseStatus::kComplete && ll.verdict == LlhttpHead::Verdict::kComplete) {
    // RFC 9110 7.8: Upgrade is ignored in an HTTP/1.0 request; llhttp honours it.
    if (sg.version_minor == 0 && ll.upgrade && !sg.upgrade) return "Upgrade in HTTP/1.0";
    // llhttp turns the connection into a tunnel after any CONNECT head. scalegate's parser
    // takes "CONNECT /x" (origin-form) as a plain request and the session refuses every
    // CONNECT with 400 and closes (authority-form is already refused here).
    if (sg.method == "CONNECT" && (sg.keep_alive != ll.keep_alive || sg.upgrade != ll.upgrade)) {
      return "CONNECT refused after parsing";
    }
    if ((sg.keep_alive != ll.keep_alive || sg.upgrade != ll.upgrade) &&
        connectionTokenBeforeHtab(ll)) {
      return "HTAB after a Connection token";
    }
    // llhttp reads Proxy-Connection as Connection; scalegate drops it as hop-by-hop and
    // non-standard (RFC 9110 7.6.1 does not define it; nginx ignores it too).
    if ((sg.keep_alive != ll.keep_alive || sg.upgrade != ll.upgrade) &&
        countFields(ll, "proxy-connection") > 0) {
      return "Proxy-Connection read as Connection";
    }
    // "close" means close (RFC 9112 9.6) whatever else is listed; llhttp's HTTP/1.0 keep-alive
    // looks only for "keep-alive".
    if (sg.version_minor == 0 && ll.keep_alive && !sg.keep_alive &&
        (ll.flags & kLlhttpConnectionClose) != 0) {
      return "HTTP/1.0 Connection with both close and keep-alive";
    }
  }
  return nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  RequestHead sg;
  ParseError err = ParseError::kNone;
  const ParseStatus st = parseRequestHead(in, ParseLimits{}, &sg, &err);
  const LlhttpHead ll = reference::parseRequestWithLlhttp(in);

  const char* what = nullptr;
  const bool ll_complete = ll.verdict == LlhttpHead::Verdict::kComplete;
  if (st == ParseStatus::kIncomplete) {
    if (ll_complete) what = "llhttp accepted a head scalegate is still waiting for";
  } else if (st == ParseStatus::kError) {
    if (ll_complete) what = "scalegate rejected a head llhttp accepted";
  } else if (ll.verdict == LlhttpHead::Verdict::kError) {
    what = "scalegate accepted a head llhttp rejected";
  } else if (!ll_complete) {
    what = "scalegate accepted a head llhttp is still waiting for";
  } else {
    what = compareHeads(sg, ll);
  }
  if (what == nullptr || knownDifference(in, st, sg, ll) != nullptr) return 0;
  static const bool survey = std::getenv("SG_DIFF_SURVEY") != nullptr;
  if (!survey) disagree(what, in, st, err, sg, ll);
  static std::set<std::string> seen;
  const std::string kind = std::string(what) + " | " + std::string(errorName(err)) + " | " +
                           ll.error_name + " " + ll.error_reason;
  if (seen.insert(kind).second) {
    std::fprintf(stderr, "SURVEY %s\n  input: \"%s\"\n", kind.c_str(), printable(in).c_str());
  }
  return 0;
}

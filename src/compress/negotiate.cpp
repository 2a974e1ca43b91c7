#include "compress/negotiate.h"

#include "compress/field_list.h"

namespace sg::compress {
namespace {

using detail::equalsIgnoreCase;

constexpr int kNotListed = -1;
constexpr int kQMax = 1000;

// q-values listed for the codings the gateway knows; kNotListed when absent.
struct Weights {
  int gzip = kNotListed;
  int brotli = kNotListed;
  int identity = kNotListed;
  int any = kNotListed;  // "*"
};

void record(int* slot, int q) {
  // A coding listed twice keeps its highest weight: the client can decode it either way.
  if (q > *slot) *slot = q;
}

// Reads one list member "coding *( OWS ';' OWS param )" into `weights`. A member whose q
// is malformed is ignored as a whole; other parameters are ignored.
void readMember(std::string_view member, Weights* weights) {
  const size_t semicolon = member.find(';');  // a coding is a token: no quotes to skip
  const std::string_view coding = detail::trimOws(member.substr(0, semicolon));
  int q = kQMax;
  if (semicolon != std::string_view::npos) {
    detail::forEachMember(member.substr(semicolon + 1), ';', [&](std::string_view param) {
      const size_t eq = param.find('=');
      if (eq == std::string_view::npos) return;
      if (!equalsIgnoreCase(detail::trimOws(param.substr(0, eq)), "q")) return;
      const int parsed = parseQvalue(detail::trimOws(param.substr(eq + 1)));
      q = (parsed < 0 || q < 0) ? -1 : parsed;
    });
  }
  if (q < 0) return;
  if (equalsIgnoreCase(coding, "gzip") || equalsIgnoreCase(coding, "x-gzip")) {
    record(&weights->gzip, q);
  } else if (equalsIgnoreCase(coding, "br")) {
    record(&weights->brotli, q);
  } else if (equalsIgnoreCase(coding, "identity")) {
    record(&weights->identity, q);
  } else if (coding == "*") {
    record(&weights->any, q);
  }
}

// A listed coding uses its own weight; an unlisted one takes "*"'s, else `fallback`.
int effective(int listed, int any, int fallback) {
  if (listed != kNotListed) return listed;
  return any != kNotListed ? any : fallback;
}

}  // namespace

std::string_view encodingToken(Encoding encoding) {
  switch (encoding) {
    case Encoding::kGzip:
      return "gzip";
    case Encoding::kBrotli:
      return "br";
    case Encoding::kIdentity:
      break;
  }
  return "identity";
}

Encoding fromConfig(config::CompressionConfig::Encoding encoding) {
  return encoding == config::CompressionConfig::Encoding::kBrotli ? Encoding::kBrotli
                                                                  : Encoding::kGzip;
}

int parseQvalue(std::string_view text) {
  // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
  if (text.empty() || text.size() > 5 || (text[0] != '0' && text[0] != '1')) return -1;
  int value = (text[0] - '0') * kQMax;
  if (text.size() == 1) return value;
  if (text[1] != '.') return -1;
  int scale = 100;
  for (size_t i = 2; i < text.size(); ++i, scale /= 10) {
    if (text[i] < '0' || text[i] > '9') return -1;
    value += (text[i] - '0') * scale;
  }
  return value <= kQMax ? value : -1;
}

Encoding negotiate(std::span<const std::string_view> accept_encoding_values,
                   const std::vector<config::CompressionConfig::Encoding>& enabled) {
  if (accept_encoding_values.empty()) return Encoding::kIdentity;
  Weights weights;
  for (std::string_view value : accept_encoding_values) {
    detail::forEachMember(value, ',',
                          [&](std::string_view member) { readMember(member, &weights); });
  }
  Encoding best = Encoding::kIdentity;
  int best_q = 0;
  for (auto configured : enabled) {
    const Encoding encoding = fromConfig(configured);
    const int listed = encoding == Encoding::kGzip ? weights.gzip : weights.brotli;
    const int q = effective(listed, weights.any, 0);
    if (q > best_q) {
      best = encoding;
      best_q = q;
    }
  }
  // Identity only competes at a weight the client gave it (listed, or through "*"):
  // "gzip;q=0.5" alone means gzip is welcome, not that identity is preferred.
  const int identity_q = effective(weights.identity, weights.any, 0);
  return best_q >= identity_q ? best : Encoding::kIdentity;
}

bool contentTypeAllowed(std::string_view content_type_header,
                        const std::vector<std::string>& allow) {
  std::string_view media_type = content_type_header.substr(0, content_type_header.find(';'));
  media_type = detail::trimOws(media_type);
  const size_t slash = media_type.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == media_type.size()) return false;
  // Server-sent events only ever go compressed when listed by name: a wildcard such as
  // text/* is no request to hold a stream of events in a compressor.
  const bool wildcard_allowed = !equalsIgnoreCase(media_type, "text/event-stream");
  for (const std::string& entry : allow) {
    if (entry.size() >= 2 && entry.ends_with("/*")) {
      if (wildcard_allowed &&
          equalsIgnoreCase(media_type.substr(0, slash + 1),
                           std::string_view(entry).substr(0, entry.size() - 1))) {
        return true;
      }
    } else if (equalsIgnoreCase(media_type, entry)) {
      return true;
    }
  }
  return false;
}


}  // namespace sg::compress

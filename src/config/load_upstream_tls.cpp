// Upstream key `tls`: { sni, verify, ca, client_cert: { cert, key }, min_version }. The files are
// read and the client context made at load time, so a missing CA or a key that does not belong
// to its certificate is reported with its position instead of failing every connection later.

#include "config/load.h"

namespace sg::config::detail {

namespace {

bool readMinVersion(ErrorSink& errors, const Field* field, int* out) {
  if (field == nullptr) return true;
  std::string text;
  if (!readString(errors, field, &text)) return false;
  if (text == "1.2" || text == "1.3") {
    *out = text == "1.2" ? 0x0303 : 0x0304;
    return true;
  }
  errors.add(field->mark(), field->path, "unknown TLS version " + quoted(text) + " (1.2 or 1.3)");
  return false;
}

// An SNI name: letters, digits, '-' and '.', as in a DNS name.
bool isHostName(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.front() == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool readClientCert(ErrorSink& errors, const Field& field, const std::string& config_file,
                    UpstreamTlsConfig* out) {
  MapReader map(errors, field, {"cert", "key"});
  if (!map.valid()) return false;
  const Field* cert = map.require("cert");
  const Field* key = map.require("key");
  if (cert == nullptr || key == nullptr) return false;
  bool files = readFile(errors, cert, config_file, &out->cert);
  return readFile(errors, key, config_file, &out->key) && files;
}

}  // namespace

void loadUpstreamTls(ErrorSink& errors, const Field& field, const std::string& config_file,
                     UpstreamTlsConfig* out) {
  MapReader map(errors, field, {"sni", "verify", "ca", "client_cert", "min_version"});
  if (!map.valid()) return;
  bool usable = true;
  if (const Field* sni = map.find("sni")) {
    usable = readString(errors, sni, &out->sni) && usable;
    if (!out->sni.empty() && !isHostName(out->sni)) {
      errors.add(sni->mark(), sni->path,
                 "invalid server name " + quoted(out->sni) + " (letters, digits, '-' and '.')");
      usable = false;
    }
  }
  if (const Field* verify = map.find("verify"))
    usable = readBool(errors, verify, &out->verify) && usable;
  const Field* ca = map.find("ca");
  if (ca != nullptr) usable = readFile(errors, ca, config_file, &out->ca) && usable;
  const Field* client_cert = map.find("client_cert");
  if (client_cert != nullptr)
    usable = readClientCert(errors, *client_cert, config_file, out) && usable;
  usable = readMinVersion(errors, map.find("min_version"), &out->min_version) && usable;
  if (!usable) return;
  net::TlsClientOptions options;
  options.verify = out->verify ? net::TlsVerify::kFull : net::TlsVerify::kNone;
  options.ca_file = out->ca;
  options.cert_file = out->cert;
  options.key_file = out->key;
  options.min_version = out->min_version;
  std::string error;
  out->context = net::TlsContext::makeClient(options, &error);
  const Field* blamed = client_cert != nullptr ? client_cert : ca != nullptr ? ca : &field;
  if (out->context == nullptr) errors.add(blamed->mark(), blamed->path, error);
}

}  // namespace sg::config::detail

// A listener's `tls`: certificates (the first is the default, the others picked by SNI),
// versions, ciphers, ALPN, session tickets and client certificates. The files are read and
// the OpenSSL context made here, so a bad file is a load error with its position in the YAML.
#include <openssl/ssl.h>

#include <algorithm>
#include <array>

#include "config/load.h"

namespace sg::config::detail {

namespace {

// The protocols a TLS listener can hand a connection to. "h2" joins when HTTP/2 is served.
constexpr std::array<std::string_view, 2> kServedAlpn = {"h2", "http/1.1"};
constexpr std::array<std::string_view, 2> kKnownAlpn = {"h2", "http/1.1"};

// Each {cert, key} pair is checked alone first, so an error points at the pair's own key.
void loadCertificates(ErrorSink& errors, const Field& field, const std::string& config_file,
                      net::TlsListenerOptions* out) {
  std::vector<Field> items = sequenceItems(errors, field);
  if (field.value.IsSequence() && items.empty())
    errors.add(field.mark(), field.path, "must list at least one certificate");
  for (const Field& item : items) {
    MapReader map(errors, item, {"cert", "key"});
    if (!map.valid()) continue;
    const Field* cert = map.require("cert");
    const Field* key = map.require("key");
    net::TlsListenerOptions::Certificate files;
    bool readable = cert != nullptr && key != nullptr;
    readable = readFile(errors, cert, config_file, &files.cert_file) && readable;
    readable = readFile(errors, key, config_file, &files.key_file) && readable;
    if (!readable) continue;
    std::string error;
    if (net::TlsContext::makeServer({files.cert_file, files.key_file, "", net::TlsVerify::kNone},
                                    &error) == nullptr) {
      const bool about_key = error.find("private key") != std::string::npos;
      errors.add((about_key ? key : cert)->mark(), (about_key ? key : cert)->path, error);
      continue;
    }
    out->certificates.push_back(std::move(files));
  }
}

void readMinVersion(ErrorSink& errors, const Field* field, int* out) {
  std::string text;
  if (!readString(errors, field, &text)) return;
  if (text == "1.2") {
    *out = TLS1_2_VERSION;
  } else if (text == "1.3") {
    *out = TLS1_3_VERSION;
  } else {
    errors.add(field->mark(), field->path, "unknown TLS version " + quoted(text) + " (1.2 or 1.3)");
  }
}

// Known names are kept in the configured order; those this build cannot serve are left out.
void readAlpn(ErrorSink& errors, const Field& field, std::vector<std::string>* out) {
  out->clear();
  for (const Field& item : sequenceItems(errors, field)) {
    std::string name;
    if (!readString(errors, &item, &name)) continue;
    if (std::find(kKnownAlpn.begin(), kKnownAlpn.end(), name) == kKnownAlpn.end()) {
      errors.add(item.mark(), item.path, "unknown protocol " + quoted(name) + " (h2, http/1.1)");
    } else if (servesAlpn(name)) {
      out->push_back(name);
    }
  }
}

void readClientVerify(ErrorSink& errors, const Field* field, bool* required) {
  std::string text;
  if (!readString(errors, field, &text)) return;
  if (text == "required" || text == "optional") {
    *required = text == "required";
  } else {
    errors.add(field->mark(), field->path,
               "unknown client_verify " + quoted(text) + " (required or optional)");
  }
}

// The context's own errors: a cipher list or the CA file, reported at that key.
void makeContext(ErrorSink& errors, const MapReader& map, const net::TlsListenerOptions& options,
                 ListenerTlsConfig* out) {
  std::string error;
  out->context = net::TlsContext::makeListener(options, &error);
  if (out->context != nullptr) return;
  const Field* at = &map.self();
  if (error.find("TLS 1.3 cipher suite") != std::string::npos) {
    at = map.find("ciphersuites");
  } else if (error.find("cipher") != std::string::npos) {
    at = map.find("ciphers");
  } else if (error.find("CA") != std::string::npos) {
    at = map.find("client_ca");
  }
  if (at == nullptr) at = &map.self();
  errors.add(at->mark(), at->path, error);
}

}  // namespace

bool servesAlpn(std::string_view protocol) {
  return std::find(kServedAlpn.begin(), kServedAlpn.end(), protocol) != kServedAlpn.end();
}

void loadListenerTls(ErrorSink& errors, const Field& field, const std::string& config_file,
                     const std::string& listener_name, ListenerTlsConfig* out) {
  MapReader map(errors, field,
                {"certificates", "min_version", "ciphers", "ciphersuites", "alpn",
                 "session_tickets", "client_ca", "client_verify", "handshake_timeout"});
  if (!map.valid()) return;
  const size_t errors_before = errors.count();
  net::TlsListenerOptions options;
  options.session_id = "scalegate:" + listener_name;
  if (const Field* certificates = map.require("certificates"))
    loadCertificates(errors, *certificates, config_file, &options);
  readMinVersion(errors, map.find("min_version"), &options.min_version);
  readString(errors, map.find("ciphers"), &options.ciphers);
  readString(errors, map.find("ciphersuites"), &options.ciphersuites);
  out->alpn = {"http/1.1"};  // h2 only when listed, as nginx (http2 on) and HAProxy (alpn h2) ask
  if (const Field* alpn = map.find("alpn")) readAlpn(errors, *alpn, &out->alpn);
  options.alpn = out->alpn;
  readBool(errors, map.find("session_tickets"), &options.session_tickets);
  if (const Field* ca = map.find("client_ca"))
    readFile(errors, ca, config_file, &options.client_ca);
  if (const Field* verify = map.find("client_verify")) {
    readClientVerify(errors, verify, &options.client_cert_required);
    if (map.find("client_ca") == nullptr)
      errors.add(verify->mark(), verify->path, "client_verify needs client_ca (the CA file)");
  }
  readDuration(errors, map.find("handshake_timeout"), &out->handshake_timeout, false);
  if (errors.count() != errors_before || options.certificates.empty()) return;
  out->source = YAML::Dump(field.value);
  makeContext(errors, map, options, out);
}

}  // namespace sg::config::detail

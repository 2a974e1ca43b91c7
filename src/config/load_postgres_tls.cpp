// postgres.client_tls and postgres.server_tls: PgBouncer's sslmode names, certificate files read
// at load time (and at RELOAD), so that a missing file or a key that does not belong to its
// certificate is reported with its position instead of failing connections later.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "config/load.h"

namespace sg::config::detail {

namespace {

using Mode = PostgresTlsMode;

bool readMode(ErrorSink& errors, const Field* field, Mode* out) {
  std::string text;
  if (!readString(errors, field, &text)) return false;
  if (parseTlsMode(text, out)) return true;
  errors.add(field->mark(), field->path,
             "unknown mode " + quoted(text) +
                 " (one of: disable, allow, prefer, require, verify-ca, verify-full)");
  return false;
}

net::TlsVerify verifyFor(Mode mode) {
  if (mode == Mode::kVerifyFull) return net::TlsVerify::kFull;
  return mode == Mode::kVerifyCa ? net::TlsVerify::kCa : net::TlsVerify::kNone;
}

}  // namespace

bool readFile(ErrorSink& errors, const Field* field, const std::string& config_file,
              std::string* out) {
  if (!readString(errors, field, out)) return false;
  if (out->empty()) {
    errors.add(field->mark(), field->path, "the file path is empty");
    return false;
  }
  *out = resolvePath(config_file, *out);
  std::ifstream file(*out);
  if (!file) {
    errors.add(field->mark(), field->path,
               "cannot read " + quoted(*out) + ": " + std::strerror(errno));
    return false;
  }
  return true;
}

// The listener's side: the proxy is the TLS server. prefer when only files are given.
void loadPostgresClientTls(ErrorSink& errors, const Field& field, const std::string& config_file,
                           PostgresTlsConfig* out) {
  MapReader map(errors, field, {"cert", "key", "mode", "ca"});
  if (!map.valid()) return;
  out->mode = Mode::kPrefer;
  const Field* mode = map.find("mode");
  if (mode != nullptr && !readMode(errors, mode, &out->mode)) return;
  if (out->mode == Mode::kDisable) return;
  const Field* cert = map.require("cert");
  const Field* key = map.require("key");
  const Field* ca = map.find("ca");
  bool files = cert != nullptr && key != nullptr;
  files = readFile(errors, cert, config_file, &out->cert) && files;
  files = readFile(errors, key, config_file, &out->key) && files;
  if (ca != nullptr) {
    files = readFile(errors, ca, config_file, &out->ca) && files;
  } else if (out->mode >= Mode::kVerifyCa) {
    errors.add(mode->mark(), mode->path,
               "verify-ca and verify-full check client certificates: set ca (the CA file)");
    return;
  }
  if (!files) return;
  std::string error;
  out->context =
      net::TlsContext::makeServer({out->cert, out->key, out->ca, verifyFor(out->mode)}, &error);
  if (out->context == nullptr) errors.add(cert->mark(), field.path, error);
}

// The servers' side: the proxy is the TLS client. A mode alone, or a map with files.
void loadPostgresServerTls(ErrorSink& errors, const Field& field, const std::string& config_file,
                           PostgresTlsConfig* out) {
  if (field.value.IsScalar()) {
    if (!readMode(errors, &field, &out->mode)) return;
  } else {
    MapReader map(errors, field, {"mode", "ca", "cert", "key"});
    if (!map.valid()) return;
    if (!readMode(errors, map.require("mode"), &out->mode)) return;
    if (out->mode == Mode::kDisable) return;
    const Field* cert = map.find("cert");
    const Field* key = map.find("key");
    bool files = true;
    if (const Field* ca = map.find("ca")) files = readFile(errors, ca, config_file, &out->ca);
    if ((cert == nullptr) != (key == nullptr)) {
      const Field* given = cert != nullptr ? cert : key;
      errors.add(given->mark(), given->path, "a client certificate needs both cert and key");
      return;
    }
    if (cert != nullptr) {
      files = readFile(errors, cert, config_file, &out->cert) && files;
      files = readFile(errors, key, config_file, &out->key) && files;
    }
    if (!files) return;
  }
  if (out->mode == Mode::kDisable) return;
  std::string error;
  out->context =
      net::TlsContext::makeClient({verifyFor(out->mode), out->ca, out->cert, out->key}, &error);
  if (out->context == nullptr) errors.add(field.mark(), field.path, error);
}

}  // namespace sg::config::detail

#pragma once
// Certificates for TLS tests, made with OpenSSL's API at test time (no key is committed):
// writeTestCertificates(dir) writes ca.pem, other-ca.pem (an unrelated CA), server.pem/.key
// (signed by ca, SAN IP:127.0.0.1 and DNS:localhost) and client.pem/.key (CN=app, signed by ca).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace sg::net::testcerts {

struct Identity {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~Identity() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

inline void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(extension, nullptr);
  X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
}

// A certificate for `name`, signed by `issuer` (self-signed when null).
inline void makeIdentity(Identity* out, const char* name, const Identity* issuer, const char* san) {
  out->key = EVP_EC_gen("P-256");
  ASSERT_NE(out->key, nullptr);
  out->cert = X509_new();
  X509_set_version(out->cert, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(out->cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out->cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(out->cert), 3600);
  X509_set_pubkey(out->cert, out->key);
  X509_NAME* subject = X509_get_subject_name(out->cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer->cert : out->cert;
  X509_set_issuer_name(out->cert, X509_get_subject_name(signer));
  addExtension(out->cert, signer, NID_basic_constraints,
               issuer == nullptr ? "critical,CA:TRUE" : "CA:FALSE");
  if (san != nullptr) addExtension(out->cert, signer, NID_subject_alt_name, san);
  X509_sign(out->cert, issuer != nullptr ? issuer->key : out->key, EVP_sha256());
}

inline void writePem(const std::filesystem::path& file, const Identity& identity, bool key) {
  FILE* out = std::fopen(file.c_str(), "w");
  ASSERT_NE(out, nullptr);
  if (key) {
    PEM_write_PrivateKey(out, identity.key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_X509(out, identity.cert);
  }
  std::fclose(out);
}

inline void writeTestCertificates(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  Identity ca, other_ca, server, client;
  makeIdentity(&ca, "test ca", nullptr, nullptr);
  makeIdentity(&other_ca, "other ca", nullptr, nullptr);
  makeIdentity(&server, "server", &ca, "IP:127.0.0.1,DNS:localhost");
  makeIdentity(&client, "app", &ca, nullptr);
  writePem(dir / "ca.pem", ca, false);
  writePem(dir / "other-ca.pem", other_ca, false);
  writePem(dir / "server.pem", server, false);
  writePem(dir / "server.key", server, true);
  writePem(dir / "client.pem", client, false);
  writePem(dir / "client.key", client, true);
}

}  // namespace sg::net::testcerts

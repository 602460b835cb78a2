#include "tests/net/test_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace bx::net::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test cert: ") + what + " failed");
}

void AddExt(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  Check(ext != nullptr, "X509V3_EXT_conf_nid");
  Check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

}  // namespace

TestCert::TestCert(const std::vector<std::string>& dns_names,
                   const std::vector<std::string>& ip_addresses) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "bx-net-cert-XXXXXX").string();
  Check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  dir_ = tmpl;
  cert_file_ = dir_ + "/cert.pem";
  key_file_ = dir_ + "/key.pem";

  EVP_PKEY* key = EVP_EC_gen("P-256");
  Check(key != nullptr, "EVP_EC_gen");
  X509* cert = X509_new();
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  const std::string cn = dns_names.empty() ? "bx-test" : dns_names.front();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  AddExt(cert, NID_basic_constraints, "critical,CA:TRUE");
  AddExt(cert, NID_key_usage, "critical,digitalSignature,keyCertSign");
  if (!san.empty()) AddExt(cert, NID_subject_alt_name, san);
  Check(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign");

  FILE* f = std::fopen(cert_file_.c_str(), "w");
  Check(f != nullptr, "fopen cert");
  Check(PEM_write_X509(f, cert) == 1, "PEM_write_X509");
  std::fclose(f);
  f = std::fopen(key_file_.c_str(), "w");
  Check(f != nullptr, "fopen key");
  Check(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_PrivateKey");
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

TestCert::~TestCert() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace bx::net::testing

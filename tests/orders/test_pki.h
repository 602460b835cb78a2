// Throw-away certificates for the TLS tests, made with the openssl CLI at test time (never
// committed) in a temp directory removed with the object: a CA, a server certificate for
// 127.0.0.1 signed by it and, on request, a client certificate it signed and one from a CA
// nobody trusts.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tests/orders/subprocess.h"

namespace bx::orders::testing {

struct TestPki {
  std::string dir, ca_cert, server_cert, server_key;
  std::string client_cert, client_key;  // CN grid-bot-7, signed by the CA (with_client_certs)
  std::string other_cert, other_key;    // CN intruder, self-signed (with_client_certs)
  bool ok = false;

  explicit TestPki(bool with_client_certs = false) {
    char tmpl[] = "/tmp/orders-pki-XXXXXX";
    dir = mkdtemp(tmpl);
    const std::string o = "/usr/bin/openssl";
    std::ofstream(F("server.ext")) << "subjectAltName=IP:127.0.0.1\n";
    ok = Run({o, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
              "-subj", "/CN=orders-test-ca", "-keyout", F("ca.key"), "-out", F("ca.pem")}) &&
         Run({o, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
              "/CN=127.0.0.1", "-keyout", F("server.key"), "-out", F("server.csr")}) &&
         Run({o, "x509", "-req", "-in", F("server.csr"), "-CA", F("ca.pem"), "-CAkey", F("ca.key"), "-CAcreateserial",
              "-days", "1", "-extfile", F("server.ext"), "-out", F("server.pem")});
    if (ok && with_client_certs) {
      std::ofstream(F("client.ext")) << "extendedKeyUsage=clientAuth\n";
      ok = Run({o, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                "/CN=grid-bot-7", "-keyout", F("client.key"), "-out", F("client.csr")}) &&
           Run({o, "x509", "-req", "-in", F("client.csr"), "-CA", F("ca.pem"), "-CAkey", F("ca.key"),
                "-CAcreateserial", "-days", "1", "-extfile", F("client.ext"), "-out", F("client.pem")}) &&
           Run({o, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
                "1", "-subj", "/CN=intruder", "-keyout", F("other.key"), "-out", F("other.pem")});
      client_cert = F("client.pem");
      client_key = F("client.key");
      other_cert = F("other.pem");
      other_key = F("other.key");
    }
    ca_cert = F("ca.pem");
    server_cert = F("server.pem");
    server_key = F("server.key");
  }
  ~TestPki() { std::system(("rm -rf " + dir).c_str()); }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  /// The simulator's flags for https/wss with the server certificate.
  std::vector<std::string> SimArgs() const { return {"--tls-cert=" + server_cert, "--tls-key=" + server_key}; }

 private:
  std::string F(const char* name) const { return dir + "/" + name; }
  static bool Run(const std::vector<std::string>& argv) {
    auto p = Subprocess::Start(argv);
    if (!p.ok()) return false;
    auto st = (*p)->Wait(std::chrono::seconds(30));
    EXPECT_EQ(st, 0) << argv[1] << ": " << (*p)->Stderr();
    return st == 0;
  }
};

}  // namespace bx::orders::testing

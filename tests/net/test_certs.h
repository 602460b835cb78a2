// Throwaway TLS material for tests: a self-signed certificate generated at test time with the
// OpenSSL API into a fresh temp directory (removed again by the destructor). Never committed.
#pragma once

#include <string>
#include <vector>

namespace bx::net::testing {

class TestCert {
 public:
  /// A P-256 key and a self-signed CA:TRUE certificate valid for `dns_names` and `ip_addresses`.
  TestCert(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses);
  ~TestCert();
  TestCert(const TestCert&) = delete;
  TestCert& operator=(const TestCert&) = delete;

  const std::string& cert_file() const { return cert_file_; }  ///< PEM certificate (also the CA)
  const std::string& key_file() const { return key_file_; }    ///< PEM private key

 private:
  std::string dir_;
  std::string cert_file_;
  std::string key_file_;
};

}  // namespace bx::net::testing

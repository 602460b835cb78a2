// An in-process HTTP/1.1 server for the HttpClient tests (plain or TLS, 127.0.0.1 port 0) whose
// every reply is scripted by the test: respond, hang, reset, close, hold until N are in flight.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/net/test_certs.h"

namespace bx::net::testing {

struct SeenRequest {
  int conn_id = 0;        ///< 1-based connection number
  int index_on_conn = 0;  ///< 0 for the first request on its connection
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  ///< as received, in order
  std::string body;
  std::string sni;  ///< TLS server name the client sent ("" if none / plain)

  std::string Header(const std::string& lower_name) const;  ///< first value, "" if absent
  int CountHeader(const std::string& lower_name) const;
};

struct Reply {
  enum class Kind {
    kRespond,       ///< write the response
    kHang,          ///< never answer (keep reading until the client goes away)
    kReset,         ///< abortive close (RST) right after reading the request
    kCloseNoReply,  ///< orderly close (FIN) without answering
  };
  Kind kind = Kind::kRespond;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close_after = false;  ///< close the connection after the response (keep-alive headers kept)
  int hold_until_in_flight = 0;  ///< delay the reply until this many requests are in flight
  int interim_status = 0;  ///< first an interim response with this 1xx status (103 Early Hints)
};

class TestHttpServer {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;

  /// Starts listening on 127.0.0.1:0 (TLS when `cert` is given).
  explicit TestHttpServer(Handler handler, const TestCert* cert = nullptr);
  ~TestHttpServer();

  uint16_t port() const { return port_; }
  int connections_accepted() const { return accepted_.load(); }
  int connections_open() const { return open_.load(); }
  int max_connections_open() const { return max_open_.load(); }
  std::vector<SeenRequest> requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<int> max_open_{0};
};

}  // namespace bx::net::testing

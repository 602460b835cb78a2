// An in-process WebSocket server for the WsClient tests (plain or TLS, 127.0.0.1 port 0). Each
// text message from the client is recorded and acted on as a command:
//   "burst N"        N frames "0".."N-1"          "big N"   one frame of N bytes ('a'..'z' cycling)
//   "close C REASON" close frame with code C     "drop"    TCP close without a close frame
//   "ping"           a protocol ping to the client (its pong is counted)
//   "burstbig N M"   N frames "0".."N-1" then one of M bytes ('x'), all in one TCP write
//   anything else    echoed back
// Control frames the client sends are counted, so tests can prove it never pings.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/net/test_certs.h"
#include "tests/net/test_util.h"

namespace bx::net::testing {

class TestWsServer {
 public:
  struct ConnRecord {
    std::vector<std::string> messages;  ///< text received, in order
    int pings_from_client = 0;
    int pongs_from_client = 0;
    bool ended = false;
    int close_code_from_client = -1;  ///< code of the client's close frame, -1 if none
    std::string end_error;            ///< why the server's read loop ended
    std::string user_agent;
  };

  /// Starts listening on 127.0.0.1:0 (TLS when `cert` is given). With `never_upgrade` the server
  /// accepts TCP but never answers the upgrade (for connect-timeout tests).
  explicit TestWsServer(const TestCert* cert = nullptr, bool never_upgrade = false);
  ~TestWsServer();

  uint16_t port() const { return port_; }
  int connections_accepted() const { return accepted_.load(); }
  /// Snapshot of connection `i` (0-based, in accept order); empty record if none yet.
  ConnRecord conn(size_t i) const;
  /// Waits until `pred(records)` holds.
  bool WaitFor(const std::function<bool(const std::vector<ConnRecord>&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
};

}  // namespace bx::net::testing

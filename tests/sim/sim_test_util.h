// Test scaffolding for the simulator: an in-process simulator on port 0, and plain Beast
// WebSocket / HTTP clients written here (independent of common/net), every blocking call bounded
// by a timeout.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/simulator.h"

namespace bx::sim::testing {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;
using std::chrono::milliseconds;

/// A simulator tuned for fast tests: 50 ms pushes, 20 trades/s, short klines.
SimConfig FastConfig();

/// Starts an in-process simulator; fails the test on error.
std::unique_ptr<Simulator> StartSim(SimConfig config = FastConfig());

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  ///< lower-case names
  bool ok = false;                             ///< a reply was read (not reset/timeout)
  std::string error;
  Json json() const { return Json::parse(body, nullptr, false); }
  OrderedJson ordered() const { return OrderedJson::parse(body, nullptr, false); }
};

/// Blocking HTTP/1.1 client, one request per connection, http or https (no verification).
class HttpTestClient {
 public:
  explicit HttpTestClient(std::string base_url, milliseconds timeout = milliseconds(5000));
  HttpResult Request(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {});
  HttpResult Get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    return Request("GET", target, "", headers);
  }
  HttpResult Post(const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers = {}) {
    return Request("POST", target, body, headers);
  }

 private:
  std::string scheme_, host_;
  uint16_t port_ = 0;
  milliseconds timeout_;
};

/// Signs like the official demos (shared/bitunix-api.md §2): nonce + ms timestamp + key +
/// sorted key+value query + exact body, double SHA-256.
class SignedClient {
 public:
  SignedClient(std::string base_url, std::string api_key = "sim-api-key", std::string secret = "sim-api-secret");
  HttpResult Get(const std::string& path, std::vector<std::pair<std::string, std::string>> params = {});
  HttpResult Post(const std::string& path, const std::string& body);
  /// Timestamp offset for skew tests.
  void set_ts_offset_ms(int64_t ms) { ts_offset_ms_ = ms; }
  std::map<std::string, std::string> Headers(const std::string& sign_query, const std::string& body) const;

 private:
  HttpTestClient http_;
  std::string key_, secret_;
  int64_t ts_offset_ms_ = 0;
};

/// Blocking WebSocket client over its own io_context (ws or wss without verification). Library
/// pings are off, like the gateway's.
class WsTestClient {
 public:
  WsTestClient();
  ~WsTestClient();
  /// Connects and upgrades; false (with error()) on failure.
  bool Connect(const std::string& url, milliseconds timeout = milliseconds(5000));
  /// HTTP status of a refused upgrade (e.g. 503), 0 otherwise.
  int upgrade_status() const { return upgrade_status_; }
  bool Send(const std::string& text);
  /// Sends a protocol-level ping frame.
  bool SendProtocolPing();
  /// Next text frame, or nullopt on timeout or close (see closed()).
  std::optional<std::string> Read(milliseconds timeout = milliseconds(3000));
  /// Next frame whose JSON matches `pred`, skipping others.
  std::optional<Json> ReadUntil(const std::function<bool(const Json&)>& pred,
                                milliseconds timeout = milliseconds(5000));
  /// Whether the last Read saw a binary frame.
  bool last_was_binary() const { return last_binary_; }
  bool closed() const { return closed_; }
  /// True when the server closed with a WS close frame (false: TCP closed without one).
  bool closed_with_frame() const { return closed_with_frame_; }
  const std::string& error() const { return error_; }
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool closed_ = false;
  bool closed_with_frame_ = false;
  bool last_binary_ = false;
  int upgrade_status_ = 0;
  std::string error_;
};

/// {"op":"subscribe","args":[{"symbol":S,"ch":C},...]}
std::string SubscribeMsg(const std::vector<std::pair<std::string, std::string>>& ch_symbol,
                         const std::string& op = "subscribe");

/// Waits for `pred` with a deadline (polling every 10 ms): condition waits, never bare sleeps.
bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = milliseconds(5000));

/// GET /control/stats.
Json Stats(const Simulator& sim);
/// POST /control/<name>; returns the parsed reply.
Json Control(const Simulator& sim, const std::string& name, const Json& body);

/// A self-signed cert + key for 127.0.0.1 in a temp dir, removed with the object.
struct SelfSignedCert {
  SelfSignedCert();
  ~SelfSignedCert();
  SelfSignedCert(const SelfSignedCert&) = delete;
  SelfSignedCert& operator=(const SelfSignedCert&) = delete;
  std::string dir, cert, key;
};

}  // namespace bx::sim::testing

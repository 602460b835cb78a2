// HTTP/1.1 client for the exchange REST API: keep-alive connection pool, http and https (SNI,
// chain + host-name verification), per-request deadlines, gzip responses decoded.
//
// Interface here; Beast adapter in beast_http_client.cc. Services depend only on this header, so
// tests plug in fakes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/net/tls.h"
#include "common/url.h"

namespace boost::asio {
class io_context;
}

namespace bx::net {

struct HttpRequest {
  std::string method = "GET";  ///< GET or POST
  std::string target;          ///< path + query, e.g. "/api/v1/futures/market/depth?symbol=BTCUSDT"
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers (api-key, sign, ...)
  std::string body;            ///< sent byte-for-byte (it is what was signed)
  std::chrono::milliseconds timeout{5000};  ///< whole request: queueing + connect + send + receive
  /// Higher is served first among requests waiting for a connection (FIFO within one priority).
  /// Requests of priority 0 occupy at most max_connections connections at once; a request above
  /// 0 may also use one more, so it never waits behind hung ordinary requests (the order
  /// service's cancels: the kill switch must not queue behind placements the exchange sits on).
  int priority = 0;
};

struct HttpResponse {
  int status = 0;                              ///< HTTP status code
  std::string body;                            ///< decoded (gunzipped) body
  std::map<std::string, std::string> headers;  ///< lower-case names
  int64_t date_ms = 0;                         ///< parsed `Date` header, ms since epoch; 0 if absent
  int64_t sent_ns = 0;                         ///< wall time the request was written
  int64_t received_ns = 0;                     ///< wall time the response header arrived
};

struct HttpResult {
  /// OK when a complete response arrived (whatever its HTTP status). Otherwise UNAVAILABLE
  /// (connect/TLS failure, connection reset), DEADLINE_EXCEEDED (timeout) or INTERNAL (protocol).
  absl::Status status;
  /// True when request bytes may have reached the server: a failed POST with maybe_sent is an
  /// ambiguous outcome (the exchange may have acted on it). False only when provably unsent.
  bool maybe_sent = false;
  HttpResponse response;
};

using HttpCallback = std::function<void(HttpResult)>;

struct HttpClientStats {
  int connections_open = 0;      ///< pooled connections, including ones still connecting
  int connections_busy = 0;      ///< connections carrying a request now
  int requests_queued = 0;       ///< requests waiting for a connection
  uint64_t requests_total = 0;   ///< requests accepted by Send
  uint64_t connects_total = 0;   ///< TCP connects started
  uint64_t reuses_total = 0;     ///< requests sent on an already used keep-alive connection
  uint64_t retries_total = 0;    ///< GETs retried after a stale keep-alive connection failed
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Thread-safe. `done` runs exactly once, on the client's io thread; it must not block.
  virtual void Send(HttpRequest request, HttpCallback done) = 0;
  virtual HttpClientStats Stats() const = 0;
  /// Blocking convenience wrapper; never call it from the client's io thread.
  HttpResult SendAndWait(HttpRequest request);
};

struct HttpClientOptions {
  Url base;  ///< scheme, host and port of every request (its target is ignored)
  TlsOptions tls;
  size_t max_connections = 4;  ///< for priority-0 requests; priority > 0 may use one more
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds idle_timeout{30000};  ///< idle pooled connections are closed after this
  size_t max_body_bytes = 32 * 1024 * 1024;
  std::string user_agent = "bitunix-gateway/0.1";
};

/// The Beast implementation. All I/O runs on `ioc` (which the caller runs, on one or more
/// threads: the client serialises its work on a strand). `clock` stamps sent_ns/received_ns.
/// Destroy the client before `ioc`; requests still pending then complete with CANCELLED (on the
/// io thread, if it still runs). A bad `tls.ca_file` fails every request with INVALID_ARGUMENT.
std::unique_ptr<HttpClient> MakeBeastHttpClient(boost::asio::io_context& ioc, HttpClientOptions options,
                                                const Clock& clock = SystemClock::Instance());

}  // namespace bx::net

// The exchange's REST API under /api/v1/futures/, without any transport: a request in, the reply
// body out. Envelopes as captured: market endpoints {code,msg,data}, trading endpoints and every
// error {code,data,msg}; business errors are HTTP 200 with "data":null.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "sim/exchange.h"
#include "sim/json.h"
#include "sim/rate_limiter.h"
#include "sim/signature.h"
#include "sim/stats.h"

namespace bx::sim {

struct RestRequest {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< as received: path?query
  std::string path;    ///< decoded path without the query
  std::vector<std::pair<std::string, std::string>> query;  ///< decoded, in URL order
  std::map<std::string, std::string> headers;              ///< lower-case names
  std::string body;
  std::string peer_ip;
};

struct RestReply {
  int http_status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string content_encoding;  ///< "" = identity; "gzip" once the session has compressed `body`
};

/// Splits "path?a=1&b=%20" into a decoded path and parameters. '+' stays '+' (RFC 3986).
void ParseTarget(const std::string& target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* query);
std::string PercentDecode(std::string_view s);

/// Envelopes.
std::string MarketOk(const OJson& data);
std::string TradeOk(const OJson& data);
std::string ErrorBody(int code, const std::string& msg);

class RestApi {
 public:
  struct Options {
    Credentials creds;
    int64_t time_window_ms = 60'000;
    bool rate_limits = true;
  };
  /// `push` receives private-channel pushes caused by a call (called outside the exchange lock).
  RestApi(Exchange& exchange, Stats& stats, const Clock& clock, Options options);

  /// Thread-safe.
  RestReply Handle(const RestRequest& req);
  void ResetRateLimits() { limiter_.Reset(); }

 private:
  using Handler = std::function<RestReply(const RestRequest&)>;
  RestReply HandleMarket(const std::string& name, const RestRequest& req);
  RestReply HandlePrivate(const RestRequest& req);

  // Market endpoints (rest_market.cc).
  RestReply TradingPairs(const RestRequest& req);
  RestReply Tickers(const RestRequest& req);
  RestReply Depth(const RestRequest& req);
  RestReply Kline(const RestRequest& req);
  RestReply FundingRate(const RestRequest& req);
  RestReply FundingRateBatch(const RestRequest& req);
  RestReply FundingRateHistory(const RestRequest& req);
  RestReply PositionTiers(const RestRequest& req);

  Exchange& exchange_;
  Stats& stats_;
  const Clock& clock_;
  Options options_;
  RateLimiter limiter_;
};

}  // namespace bx::sim

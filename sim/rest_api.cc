#include "sim/rest_api.h"

#include "absl/strings/str_split.h"

namespace bx::sim {
namespace {

constexpr std::string_view kPrefix = "/api/v1/futures/";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

void ParseTarget(const std::string& target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* query) {
  auto q = target.find('?');
  *path = PercentDecode(std::string_view(target).substr(0, q));
  query->clear();
  if (q == std::string::npos) return;
  const std::string qs = target.substr(q + 1);
  for (absl::string_view piece : absl::StrSplit(qs, '&', absl::SkipEmpty())) {
    const std::string_view part(piece.data(), piece.size());
    auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      query->emplace_back(PercentDecode(part), "");
    } else {
      query->emplace_back(PercentDecode(part.substr(0, eq)), PercentDecode(part.substr(eq + 1)));
    }
  }
}

std::string MarketOk(const OJson& data) {
  OJson j;
  j["code"] = 0;
  j["msg"] = "Success";
  j["data"] = data;
  return j.dump();
}

std::string TradeOk(const OJson& data) {
  OJson j;
  j["code"] = 0;
  j["data"] = data;
  j["msg"] = "Success";
  return j.dump();
}

std::string ErrorBody(int code, const std::string& msg) {
  OJson j;
  j["code"] = code;
  j["data"] = nullptr;
  j["msg"] = msg;
  return j.dump();
}

RestApi::RestApi(Exchange& exchange, Stats& stats, const Clock& clock, Options options)
    : exchange_(exchange), stats_(stats), clock_(clock), options_(std::move(options)), limiter_(clock) {}

RestReply RestApi::Handle(const RestRequest& req) {
  stats_.CountRestCall(req.path);
  const std::string_view path = req.path;
  if (path.substr(0, kPrefix.size()) != kPrefix) return {200, ErrorBody(404, "Not Found")};
  const std::string_view rest = path.substr(kPrefix.size());
  if (rest.substr(0, 7) == "market/" || rest == "position/get_position_tiers") {
    return HandleMarket(std::string(rest), req);
  }
  return HandlePrivate(req);
}

RestReply RestApi::HandleMarket(const std::string& name, const RestRequest& req) {
  using Fn = RestReply (RestApi::*)(const RestRequest&);
  static const std::map<std::string, Fn> kRoutes = {
      {"market/trading_pairs", &RestApi::TradingPairs},
      {"market/tickers", &RestApi::Tickers},
      {"market/depth", &RestApi::Depth},
      {"market/kline", &RestApi::Kline},
      {"market/funding_rate", &RestApi::FundingRate},
      {"market/funding_rate/batch", &RestApi::FundingRateBatch},
      {"market/get_funding_rate_history", &RestApi::FundingRateHistory},
      {"position/get_position_tiers", &RestApi::PositionTiers},
  };
  auto it = kRoutes.find(name);
  if (it == kRoutes.end() || req.method != "GET") return {200, ErrorBody(404, "Not Found")};
  if (options_.rate_limits && !limiter_.Allow("public:" + req.peer_ip, 10)) {
    return {200, ErrorBody(10005, "Too many requests")};
  }
  return (this->*(it->second))(req);
}

}  // namespace bx::sim

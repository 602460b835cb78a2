// A caller's PlaceOrder and ModifyOrder against symbol rules from a trading_pairs reply: the
// pre-trade check that stands between a bot's bad order and the exchange. Input lines: the
// trading_pairs `data` JSON, then symbol, qty, price, client_id, position_id (also the modify's
// order id), a flags line (side, type, trade side, time in force, reduce-only, one byte each),
// tp_price, tp_order_price, sl_price, sl_order_price.
// Properties, checked independently of validation.cc:
// - an accepted order names an OPEN (or status-less) symbol of the rules, with a positive plain
//   decimal qty within the symbol's precision and [minTradeVolume, max*OrderVolume], a positive
//   in-precision price exactly when it is a LIMIT order, and a well-formed client id;
// - an accepted modification names its order, changes something, and any qty or price it carries
//   passes the same rules;
// - the body sent to the exchange carries qty, price and client id byte for byte;
// - a refused order gets INVALID_ARGUMENT, FAILED_PRECONDITION or NOT_FOUND with a message and
//   the name of the rule that failed.
#include <cstdint>
#include <string>
#include <vector>

#include "common/decimal.h"
#include "fuzz/fuzz_check.h"
#include "services/orders/exchange_requests.h"
#include "services/orders/validation.h"

namespace {

namespace o = ::bx::orders;
namespace v1 = ::bitunix::orders::v1;
namespace cv1 = ::bitunix::common::v1;

std::vector<std::string_view> Lines(std::string_view s, size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    auto [line, rest] = bx::fuzz::SplitLine(s);
    out.push_back(line);
    s = rest;
  }
  out.push_back(s);
  return out;
}

bool InPrecision(const std::string& v, int decimals) { return decimals < 0 || bx::FractionDigits(v) <= decimals; }

void CheckAccepted(const v1::PlaceOrderRequest& req, const o::SymbolRules::Map& rules) {
  const std::string symbol = o::NormalizeSymbol(req.symbol());
  auto it = rules.find(symbol);
  FUZZ_CHECK(it != rules.end(), "accepted unknown symbol '%s'", req.symbol().c_str());
  const o::SymbolRule& r = it->second;
  FUZZ_CHECK(r.status.empty() || r.status == "OPEN", "accepted on a %s symbol", r.status.c_str());
  FUZZ_CHECK(bx::IsPositiveDecimal(req.qty()) && InPrecision(req.qty(), r.base_precision), "accepted qty '%s'",
             req.qty().c_str());
  if (!r.min_trade_volume.empty()) {
    FUZZ_CHECK(bx::CompareDecimal(req.qty(), r.min_trade_volume) >= 0, "qty %s below min %s", req.qty().c_str(),
               r.min_trade_volume.c_str());
  }
  const bool market = req.type() == v1::ORDER_TYPE_MARKET;
  const std::string& max = market ? r.max_market_order_volume : r.max_limit_order_volume;
  if (bx::IsPositiveDecimal(max)) {
    FUZZ_CHECK(bx::CompareDecimal(req.qty(), max) <= 0, "qty %s above max %s", req.qty().c_str(), max.c_str());
  }
  if (market) {
    FUZZ_CHECK(req.price().empty(), "market order with price '%s'", req.price().c_str());
  } else {
    FUZZ_CHECK(req.type() == v1::ORDER_TYPE_LIMIT, "accepted order type %d", req.type());
    FUZZ_CHECK(bx::IsPositiveDecimal(req.price()) && InPrecision(req.price(), r.quote_precision),
               "accepted price '%s'", req.price().c_str());
  }
  FUZZ_CHECK(req.side() == cv1::SIDE_BUY || req.side() == cv1::SIDE_SELL, "accepted side %d", req.side());
  FUZZ_CHECK(req.client_id().empty() || o::IsValidClientId(req.client_id()), "accepted client id '%s'",
             req.client_id().c_str());
  const std::string client_id = req.client_id().empty() ? o::GenerateClientId() : req.client_id();
  FUZZ_CHECK(o::IsValidClientId(client_id), "generated client id '%s'", client_id.c_str());

  const auto sent = nlohmann::json::parse(o::PlaceOrderObject(req, symbol, client_id).dump(), nullptr, false);
  FUZZ_CHECK(!sent.is_discarded(), "place_order body is not JSON");
  FUZZ_CHECK(sent.value("qty", "") == req.qty() && sent.value("clientId", "") == client_id &&
                 sent.value("symbol", "") == symbol && sent.value("price", "") == req.price(),
             "place_order body changed qty, price, symbol or client id");
}

void CheckRefusal(const absl::Status& st, const std::string& rule) {
  const auto code = st.code();
  FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kFailedPrecondition ||
                 code == absl::StatusCode::kNotFound,
             "refusal with status %s", st.ToString().c_str());
  FUZZ_CHECK(!st.message().empty() && !rule.empty(), "refusal without a message or rule name: %s",
             st.ToString().c_str());
}

void CheckModifyAccepted(const v1::ModifyOrderRequest& req, const o::SymbolRules::Map& rules) {
  FUZZ_CHECK(!req.order().order_id().empty() || o::IsValidClientId(req.order().client_id()),
             "modify accepted without an order id or a valid client id");
  FUZZ_CHECK(!req.qty().empty() || !req.price().empty() || req.has_tpsl(), "modify accepted that changes nothing");
  const std::string symbol = o::NormalizeSymbol(req.symbol());
  auto it = rules.find(symbol);
  FUZZ_CHECK(it != rules.end(), "modify accepted for unknown symbol '%s'", req.symbol().c_str());
  const o::SymbolRule& r = it->second;
  if (!req.qty().empty()) {
    FUZZ_CHECK(bx::IsPositiveDecimal(req.qty()) && InPrecision(req.qty(), r.base_precision), "modify qty '%s'",
               req.qty().c_str());
    if (!r.min_trade_volume.empty()) FUZZ_CHECK(bx::CompareDecimal(req.qty(), r.min_trade_volume) >= 0, "below min");
    if (bx::IsPositiveDecimal(r.max_limit_order_volume)) {
      FUZZ_CHECK(bx::CompareDecimal(req.qty(), r.max_limit_order_volume) <= 0, "above max");
    }
  }
  if (!req.price().empty()) {
    FUZZ_CHECK(bx::IsPositiveDecimal(req.price()) && InPrecision(req.price(), r.quote_precision),
               "modify price '%s'", req.price().c_str());
  }
  const auto sent = nlohmann::json::parse(o::ModifyOrderBody(req, symbol), nullptr, false);
  FUZZ_CHECK(!sent.is_discarded(), "modify_order body is not JSON");
  FUZZ_CHECK(sent.value("qty", "") == req.qty() && sent.value("price", "") == req.price(),
             "modify_order body changed qty or price");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto f = Lines(bx::fuzz::AsText(data, size), 11);
  auto pairs = o::ParseJsonExact(f[0]);
  if (!pairs.ok()) return 0;
  o::SymbolRules::Map rules;
  for (auto& r : o::ParseTradingPairs(*pairs)) {
    const std::string key = r.symbol;
    rules[key] = std::move(r);
  }

  v1::PlaceOrderRequest req;
  req.set_symbol(std::string(f[1]));
  req.set_qty(std::string(f[2]));
  req.set_price(std::string(f[3]));
  req.set_client_id(std::string(f[4]));
  req.set_position_id(std::string(f[5]));
  const std::string_view flags = f[6];
  auto flag = [&](size_t i, int n) { return i < flags.size() ? static_cast<unsigned char>(flags[i]) % n : 0; };
  req.set_side(static_cast<cv1::Side>(flag(0, 3)));
  req.set_type(static_cast<v1::OrderType>(flag(1, 3)));
  req.set_trade_side(static_cast<v1::TradeSide>(flag(2, 3)));
  req.set_time_in_force(static_cast<v1::TimeInForce>(flag(3, 5)));
  req.set_reduce_only(flag(4, 2) == 1);
  if (!f[7].empty() || !f[8].empty() || !f[9].empty() || !f[10].empty()) {
    req.mutable_tpsl()->set_tp_price(std::string(f[7]));
    req.mutable_tpsl()->set_tp_order_price(std::string(f[8]));
    req.mutable_tpsl()->set_sl_price(std::string(f[9]));
    req.mutable_tpsl()->set_sl_order_price(std::string(f[10]));
  }
  // gRPC hands the service only what protobuf parsing accepts (proto3 strings are valid UTF-8).
  v1::PlaceOrderRequest received;
  if (!received.ParseFromString(req.SerializeAsString())) return 0;

  std::string rule;
  const absl::Status st = o::ValidatePlaceOrder(received, &rules, &rule);
  if (st.ok()) {
    CheckAccepted(received, rules);
  } else {
    CheckRefusal(st, rule);
  }

  v1::ModifyOrderRequest modify;
  modify.mutable_order()->set_order_id(received.position_id());
  modify.mutable_order()->set_client_id(received.client_id());
  modify.set_symbol(received.symbol());
  modify.set_qty(received.qty());
  modify.set_price(received.price());
  if (received.has_tpsl()) *modify.mutable_tpsl() = received.tpsl();
  rule.clear();
  const absl::Status mst = o::ValidateModifyOrder(modify, &rules, &rule);
  if (mst.ok()) {
    CheckModifyAccepted(modify, rules);
  } else {
    CheckRefusal(mst, rule);
  }
  return 0;
}

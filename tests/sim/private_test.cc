// Integration: signed REST (accepted exactly as the reference builds it, rejected with the
// documented codes otherwise), trading and queries, and the private WebSocket pushes they cause.
#include <gtest/gtest.h>

#include <regex>

#include "common/clock.h"
#include "common/signing.h"
#include "sim/context.h"
#include "tests/sim/sim_test_util.h"

namespace bx::sim::testing {
namespace {

std::vector<std::string> Keys(const OrderedJson& j) {
  std::vector<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

bool Is19Digits(const Json& v) { return v.is_string() && std::regex_match(v.get<std::string>(), std::regex("[0-9]{19}")); }

class PrivateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SimConfig cfg = FastConfig();
    cfg.rest_rate_limits = false;  // covered by PrivateRateLimit with a fake clock
    sim_ = StartSim(cfg);
    ASSERT_NE(sim_, nullptr);
    api_ = std::make_unique<SignedClient>(sim_->rest_url());
  }

  Json Place(const Json& body) {
    auto r = api_->Post("/api/v1/futures/trade/place_order", body.dump());
    EXPECT_EQ(r.status, 200) << r.error;
    return r.json();
  }
  std::string BestBid(const std::string& symbol) {
    auto d = HttpTestClient(sim_->rest_url()).Get("/api/v1/futures/market/depth?symbol=" + symbol + "&limit=1").json();
    return d["data"]["bids"][0][0];
  }
  // A private socket logged in and subscribed to every private channel.
  std::unique_ptr<WsTestClient> PrivateSocket() {
    auto ws = std::make_unique<WsTestClient>();
    EXPECT_TRUE(ws->Connect(sim_->private_ws_url())) << ws->error();
    EXPECT_EQ(ws->Read().value_or(""), R"({"op":"connect","data":{"result":true}})");
    const std::string nonce = RandomNonce();
    const std::string ts = std::to_string(SystemClock::Instance().NowMs() / 1000);  // seconds, as documented
    Json login = {{"op", "login"},
                  {"args", Json::array({{{"apiKey", "sim-api-key"},
                                         {"timestamp", std::stoll(ts)},
                                         {"nonce", nonce},
                                         {"sign", WsLoginSign(nonce, ts, "sim-api-key", "sim-api-secret")}}})}};
    EXPECT_TRUE(ws->Send(login.dump()));
    auto reply = ws->ReadUntil([](const Json& j) { return j.value("op", "") == "login"; });
    EXPECT_TRUE(reply.has_value());
    if (reply) {
      EXPECT_EQ((*reply)["data"]["result"], true);
    }
    EXPECT_TRUE(ws->Send(R"({"op":"subscribe","args":[{"ch":"balance"},{"ch":"position"},{"ch":"order"},{"ch":"tpsl"}]})"));
    EXPECT_TRUE(WaitFor([&] { return Stats(*sim_)["subscriptions"].contains("order"); }));
    return ws;
  }
  static std::function<bool(const Json&)> OrderPush(const std::string& order_id, const std::string& status) {
    return [order_id, status](const Json& j) {
      return j.value("ch", "") == "order" && j["data"].value("orderId", "") == order_id &&
             j["data"].value("orderStatus", "") == status;
    };
  }

  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<SignedClient> api_;
};

TEST_F(PrivateTest, RequestsBuiltAsDocumentedAreAccepted) {
  auto r = api_->Get("/api/v1/futures/account", {{"marginCoin", "USDT"}});
  ASSERT_EQ(r.status, 200) << r.error;
  auto j = r.ordered();
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"code", "data", "msg"}));
  EXPECT_EQ(j["code"], 0);
  EXPECT_EQ(Keys(j["data"]), (std::vector<std::string>{"marginCoin", "available", "frozen", "margin", "transfer",
                                                       "positionMode", "crossUnrealizedPNL", "isolationUnrealizedPNL",
                                                       "bonus"}));
  EXPECT_EQ(j["data"]["available"], "100000");
  // Several params, sorted for the signature but in any order in the URL; URL-encoded values.
  HttpTestClient http(sim_->rest_url());
  const std::string nonce = RandomNonce();
  const std::string ts = std::to_string(SystemClock::Instance().NowMs());
  const std::string sign = RestSign(nonce, ts, "sim-api-key", "marginCoinUSDTsymbolBTCUSDT", "", "sim-api-secret");
  auto lev = http.Get("/api/v1/futures/account/get_leverage_margin_mode?symbol=BTC%55SDT&marginCoin=USDT",
                      {{"api-key", "sim-api-key"}, {"nonce", nonce}, {"timestamp", ts}, {"sign", sign}});
  EXPECT_EQ(lev.json()["code"], 0) << lev.body;
  EXPECT_EQ(lev.json()["data"]["leverage"], 20);
  // The body is signed byte for byte, spaces included (the Python demo's json.dumps form).
  const std::string body = R"({"symbol": "BTCUSDT", "leverage": 10, "marginCoin": "USDT"})";
  auto post = api_->Post("/api/v1/futures/account/change_leverage", body);
  EXPECT_EQ(post.json()["code"], 0) << post.body;
  EXPECT_EQ(post.json()["data"]["leverage"], 10);
}

TEST_F(PrivateTest, MalformedOrMisSignedRequestsGetDocumentedCodes) {
  HttpTestClient http(sim_->rest_url());
  const std::string path = "/api/v1/futures/account?marginCoin=USDT";
  auto headers = api_->Headers("marginCoinUSDT", "");
  // Unsigned, empty key, unknown key.
  EXPECT_EQ(http.Get(path).json()["code"], 10003);
  auto h = headers;
  h["api-key"] = "nobody";
  EXPECT_EQ(http.Get(path, h).json()["code"], 10003);
  // The key=value& query form and values alone are both rejected live with 10007.
  for (const std::string q : {"marginCoin=USDT", "USDT"}) {
    auto bad = api_->Headers(q, "");
    auto r = http.Get(path, bad);
    EXPECT_EQ(r.body, R"({"code":10007,"data":null,"msg":"Signature Error"})") << q;
  }
  // A tampered signature, a missing nonce, a body that differs from the signed one.
  h = headers;
  h["sign"][0] = h["sign"][0] == 'a' ? 'b' : 'a';
  EXPECT_EQ(http.Get(path, h).json()["code"], 10007);
  h = headers;
  h.erase("nonce");
  EXPECT_EQ(http.Get(path, h).json()["code"], 10007);
  auto post_headers = api_->Headers("", R"({"positionMode":"HEDGE"})");
  EXPECT_EQ(http.Post("/api/v1/futures/account/change_position_mode", R"({"positionMode": "HEDGE"})", post_headers)
                .json()["code"],
            10007);
  // POST params also put in the signed query: 10007 (a common client bug).
  auto both = api_->Headers("positionModeHEDGE", R"({"positionMode":"HEDGE"})");
  EXPECT_EQ(http.Post("/api/v1/futures/account/change_position_mode", R"({"positionMode":"HEDGE"})", both)
                .json()["code"],
            10007);
  // Outside the time window (chosen code: 10002, message names the timestamp).
  SignedClient late(sim_->rest_url());
  late.set_ts_offset_ms(-120'000);
  auto stale = late.Get("/api/v1/futures/account", {{"marginCoin", "USDT"}}).json();
  EXPECT_EQ(stale["code"], 10002);
  EXPECT_NE(stale["msg"].get<std::string>().find("timestamp"), std::string::npos);
  // A body that is not JSON, on a correctly signed request.
  auto junk = api_->Post("/api/v1/futures/trade/place_order", "symbol=BTCUSDT").json();
  EXPECT_EQ(junk["code"], 10002);
  // Errors keep the captured envelope.
  EXPECT_TRUE(stale["data"].is_null());
}

TEST_F(PrivateTest, PlaceOrderIdsDuplicatesAndValidation) {
  const std::string bid = BestBid("BTCUSDT");
  const std::string far = std::to_string(static_cast<int64_t>(std::stod(bid) * 0.5));
  auto ok = api_->Post("/api/v1/futures/trade/place_order",
                       Json({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"},
                             {"price", far}, {"effect", "GTC"}}).dump());
  auto j = ok.ordered();
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"code", "data", "msg"}));
  EXPECT_EQ(Keys(j["data"]), (std::vector<std::string>{"orderId", "clientId"}));
  EXPECT_TRUE(Is19Digits(j["data"]["orderId"]));
  EXPECT_TRUE(Is19Digits(j["data"]["clientId"])) << "the server assigns a clientId";
  EXPECT_NE(j["data"]["orderId"], j["data"]["clientId"]);

  Json mine = {{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", far},
               {"clientId", "client-1"}};
  EXPECT_EQ(Place(mine)["data"]["clientId"], "client-1");
  auto dup = Place(mine);
  EXPECT_EQ(dup["code"], 30042);
  EXPECT_EQ(dup["msg"], "Client ID duplicate");

  auto expect_param = [&](Json body, const std::string& param) {
    auto r = Place(body);
    EXPECT_EQ(r["code"], 10002) << body.dump();
    EXPECT_NE(r["msg"].get<std::string>().find(param), std::string::npos) << r.dump();
  };
  expect_param({{"symbol", "BTCUSDT"}, {"side", "UP"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", far}}, "side");
  expect_param({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "STOP"}, {"qty", "0.01"}, {"price", far}}, "orderType");
  expect_param({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "abc"}, {"price", far}}, "qty");
  expect_param({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.00001"}, {"price", far}}, "qty");
  expect_param({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"}}, "price");
  expect_param({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", "1.23"}}, "price");
  expect_param({{"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "0.01"}}, "symbol");
  expect_param({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", far}, {"effect", "GTX"}}, "effect");
  expect_param({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", "99999999999"}}, "price");
  expect_param({{"symbol", "BTCUSDT"}, {"side", "SELL"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", "1"}}, "price");
  EXPECT_EQ(Place({{"symbol", "NOPEUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "1"}})["code"], 20015);
  EXPECT_EQ(Place({{"symbol", "HALTUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "1"}})["code"], 20015);
  auto poor = Place({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "400"}, {"price", bid}});
  EXPECT_EQ(poor["code"], 20003);
  EXPECT_EQ(poor["msg"], "Insufficient balance");
  EXPECT_EQ(Stats(*sim_)["orders_placed"], 2);
  // Unknown orders.
  EXPECT_EQ(api_->Get("/api/v1/futures/trade/get_order_detail", {{"orderId", "1234567890123456789"}}).json()["code"], 20007);
  // Control API: exactly one order with clientId client-1 exists.
  auto orders = HttpTestClient(sim_->control_url()).Get("/control/orders").json()["orders"];
  int n = 0;
  for (const auto& o : orders) n += o["clientId"] == "client-1";
  EXPECT_EQ(n, 1);
}

TEST_F(PrivateTest, LoginAcceptsSecondsAndMillisecondsAndRejectsBadSignatures) {
  auto login = [&](const std::string& ts, const std::string& secret) {
    WsTestClient ws;
    EXPECT_TRUE(ws.Connect(sim_->private_ws_url()));
    EXPECT_TRUE(ws.Read().has_value());
    const std::string nonce = RandomNonce();
    Json msg = {{"op", "login"},
                {"args", Json::array({{{"apiKey", "sim-api-key"}, {"timestamp", std::stoll(ts)}, {"nonce", nonce},
                                       {"sign", WsLoginSign(nonce, ts, "sim-api-key", secret)}}})}};
    EXPECT_TRUE(ws.Send(msg.dump()));
    auto r = ws.ReadUntil([](const Json& j) { return j.value("op", "") == "login"; });
    return r.value_or(Json())["data"].value("result", false);
  };
  const int64_t now_ms = SystemClock::Instance().NowMs();
  EXPECT_TRUE(login(std::to_string(now_ms / 1000), "sim-api-secret"));
  EXPECT_TRUE(login(std::to_string(now_ms), "sim-api-secret"));
  EXPECT_FALSE(login(std::to_string(now_ms / 1000), "wrong-secret"));
  auto s = Stats(*sim_);
  EXPECT_EQ(s["logins_ok"], 2);
  // The control log shows login frames without their signature.
  auto log = HttpTestClient(sim_->control_url()).Get("/control/log?limit=1000").json();
  int logins = 0;
  for (const auto& e : log["entries"]) {
    const std::string t = e["text"];
    if (e["dir"] == "in" && t.find("\"op\":\"login\"") != std::string::npos) {
      ++logins;
      EXPECT_NE(t.find("\"sign\":\"<redacted>\""), std::string::npos) << t;
    }
  }
  EXPECT_EQ(logins, 3);
  EXPECT_EQ(s["logins_failed"], 1);
  // Not logged in: private subscriptions are ignored.
  WsTestClient anon;
  ASSERT_TRUE(anon.Connect(sim_->private_ws_url()));
  ASSERT_TRUE(anon.Read().has_value());
  ASSERT_TRUE(anon.Send(R"({"op":"subscribe","args":[{"ch":"order"}]})"));
  ASSERT_TRUE(anon.Send(R"({"op":"ping","ping":3})"));
  ASSERT_TRUE(anon.Read().has_value());
  EXPECT_FALSE(Stats(*sim_)["subscriptions"].contains("order"));
}

TEST_F(PrivateTest, MarketOrderFillsAtTheBookWithPushes) {
  auto ws = PrivateSocket();
  auto r = Place({{"symbol", "ETHUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "1"}});
  ASSERT_EQ(r["code"], 0) << r.dump();
  const std::string id = r["data"]["orderId"];
  // Pushes in order: order CREATE, position OPEN (then an UPDATE per further book level taken),
  // order CLOSE (FILLED), balance.
  std::vector<Json> pushes;
  while (pushes.empty() || pushes.back().value("ch", "") != "balance") {
    auto m = ws->Read();
    ASSERT_TRUE(m.has_value()) << "pushes so far: " << pushes.size();
    pushes.push_back(Json::parse(*m));
  }
  ASSERT_GE(pushes.size(), 4u);
  for (size_t i = 2; i + 2 < pushes.size(); ++i) {
    EXPECT_EQ(pushes[i]["ch"], "position");
    EXPECT_EQ(pushes[i]["data"]["event"], "UPDATE");
  }
  EXPECT_TRUE(OrderPush(id, "NEW")(pushes[0]));
  EXPECT_EQ(pushes[0]["data"]["event"], "CREATE");
  EXPECT_EQ(pushes[1]["ch"], "position");
  EXPECT_EQ(pushes[1]["data"]["event"], "OPEN");
  EXPECT_EQ(pushes[1]["data"]["side"], "LONG");
  const Json& filled = pushes[pushes.size() - 2];
  EXPECT_TRUE(OrderPush(id, "FILLED")(filled));
  EXPECT_EQ(filled["data"]["event"], "CLOSE");
  EXPECT_EQ(filled["data"]["dealAmount"], "1");
  EXPECT_TRUE(filled["ts"].is_number_integer());
  EXPECT_EQ(filled["data"]["ctime"].get<std::string>().size(), 30u);  // ISO with nanoseconds
  const Json& bal = pushes.back();
  for (const char* k : {"coin", "available", "frozen", "isolationFrozen", "crossFrozen", "margin", "isolationMargin",
                        "crossMargin", "expMoney"}) {
    EXPECT_TRUE(bal["data"][k].is_string()) << k;
  }
  // REST agrees: detail FILLED, one position of 1 ETH, trades at the book, balance reduced by margin + fee.
  auto detail = api_->Get("/api/v1/futures/trade/get_order_detail", {{"orderId", id}}).json();
  EXPECT_EQ(detail["data"]["status"], "FILLED");
  EXPECT_EQ(detail["data"]["tradeQty"], "1");
  EXPECT_TRUE(detail["data"]["leverage"].is_number_integer());
  auto positions = api_->Get("/api/v1/futures/position/get_pending_positions", {{"symbol", "ETHUSDT"}}).json();
  ASSERT_EQ(positions["data"].size(), 1u);
  const auto& p = positions["data"][0];
  EXPECT_EQ(p["qty"], "1");
  EXPECT_EQ(p["side"], "BUY");
  const double entry = std::stod(p["entryValue"].get<std::string>());
  const double margin = std::stod(p["margin"].get<std::string>());
  EXPECT_NEAR(margin, entry / 20, 1e-6);
  auto trades = api_->Get("/api/v1/futures/trade/get_history_trades", {{"orderId", id}}).json();
  ASSERT_GE(trades["data"]["tradeList"].size(), 1u);
  EXPECT_EQ(trades["data"]["tradeList"][0]["roleType"], "TAKER");
  double fees = 0;
  for (const auto& t : trades["data"]["tradeList"]) fees += std::stod(t["fee"].get<std::string>());
  auto account = api_->Get("/api/v1/futures/account", {{"marginCoin", "USDT"}}).json();
  EXPECT_NEAR(std::stod(account["data"]["available"].get<std::string>()), 100000 - margin - fees, 1e-6);
  EXPECT_NEAR(fees, entry * 0.0006, 1e-6);
  // Flash close: flat again, realized PnL booked, history position recorded.
  auto close = api_->Post("/api/v1/futures/trade/flash_close_position", Json({{"positionId", p["positionId"]}}).dump()).json();
  EXPECT_EQ(close["code"], 0) << close.dump();
  EXPECT_TRUE(api_->Get("/api/v1/futures/position/get_pending_positions").json()["data"].empty());
  auto hist = api_->Get("/api/v1/futures/position/get_history_positions").json();
  ASSERT_EQ(hist["data"]["positionList"].size(), 1u);
  EXPECT_EQ(hist["data"]["positionList"][0]["maxQty"], "1");
  EXPECT_TRUE(ws->ReadUntil([&](const Json& j) {
                  return j.value("ch", "") == "position" && j["data"].value("event", "") == "CLOSE";
                }).has_value());
}

TEST_F(PrivateTest, LimitOrderRestsUntilCrossedThenFills) {
  auto ws = PrivateSocket();
  const double bid = std::stod(BestBid("SOLUSDT"));
  const std::string price = std::to_string(static_cast<int64_t>(bid * 0.8)) + ".5";
  auto r = Place({{"symbol", "SOLUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "2"}, {"price", price},
                  {"clientId", "rest-1"}});
  ASSERT_EQ(r["code"], 0) << r.dump();
  const std::string id = r["data"]["orderId"];
  auto pending = api_->Get("/api/v1/futures/trade/get_pending_orders", {{"symbol", "SOLUSDT"}}).json();
  ASSERT_EQ(pending["data"]["total"], 1);
  EXPECT_EQ(pending["data"]["orderList"][0]["status"], "NEW");
  auto account = api_->Get("/api/v1/futures/account", {{"marginCoin", "USDT"}}).json();
  EXPECT_NEAR(std::stod(account["data"]["frozen"].get<std::string>()), 2 * std::stod(price) / 20, 1e-6);
  // Modify the price (still resting), then cross it with the control API.
  auto mod = api_->Post("/api/v1/futures/trade/modify_order",
                        Json({{"clientId", "rest-1"}, {"qty", "3"}, {"price", price}}).dump()).json();
  EXPECT_EQ(mod["code"], 0) << mod.dump();
  EXPECT_EQ(mod["data"]["orderId"], id);
  ASSERT_EQ(Control(*sim_, "price", {{"symbol", "SOLUSDT"}, {"price", std::to_string(bid * 0.7)}})["ok"], true);
  auto filled = ws->ReadUntil(OrderPush(id, "FILLED"));
  ASSERT_TRUE(filled.has_value());
  EXPECT_EQ((*filled)["data"]["dealAmount"], "3");
  EXPECT_EQ((*filled)["data"]["averagePrice"].get<std::string>().substr(0, price.size()), price);
  auto trades = api_->Get("/api/v1/futures/trade/get_history_trades", {{"orderId", id}}).json();
  EXPECT_EQ(trades["data"]["tradeList"][0]["roleType"], "MAKER");
  auto hist = api_->Get("/api/v1/futures/trade/get_history_orders", {{"symbol", "SOLUSDT"}}).json();
  ASSERT_EQ(hist["data"]["total"], 1);
  EXPECT_EQ(hist["data"]["orderList"][0]["status"], "FILLED");
  EXPECT_EQ(Control(*sim_, "price", {{"symbol", "SOLUSDT"}, {"price", std::to_string(bid)}})["ok"], true);
}

TEST_F(PrivateTest, CancelModifyAndBatch) {
  const double bid = std::stod(BestBid("BTCUSDT"));
  const std::string far = std::to_string(static_cast<int64_t>(bid * 0.5));
  Json batch = {{"symbol", "BTCUSDT"}, {"orderList", Json::array()}};
  for (int i = 0; i < 3; ++i) {
    batch["orderList"].push_back({{"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", far},
                                  {"clientId", "b" + std::to_string(i)}});
  }
  batch["orderList"].push_back({{"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", far}, {"clientId", "b0"}});
  auto r = api_->Post("/api/v1/futures/trade/batch_order", batch.dump()).json();
  ASSERT_EQ(r["code"], 0) << r.dump();
  EXPECT_EQ(r["data"]["successList"].size(), 3u);
  ASSERT_EQ(r["data"]["failureList"].size(), 1u);
  EXPECT_EQ(r["data"]["failureList"][0]["errorCode"], 30042);
  EXPECT_EQ(r["data"]["failureList"][0]["clientId"], "b0");
  Json six = {{"symbol", "BTCUSDT"}, {"orderList", Json::array()}};
  for (int i = 0; i < 6; ++i) six["orderList"].push_back(batch["orderList"][0]);
  EXPECT_EQ(api_->Post("/api/v1/futures/trade/batch_order", six.dump()).json()["code"], 10002);

  Json cancel = {{"symbol", "BTCUSDT"},
                 {"orderList", Json::array({{{"clientId", "b1"}},
                                            {{"orderId", r["data"]["successList"][0]["orderId"]}},
                                            {{"orderId", "1111111111111111111"}}})}};
  auto c = api_->Post("/api/v1/futures/trade/cancel_orders", cancel.dump()).json();
  ASSERT_EQ(c["code"], 0);
  EXPECT_EQ(c["data"]["successList"].size(), 2u);
  ASSERT_EQ(c["data"]["failureList"].size(), 1u);
  EXPECT_EQ(c["data"]["failureList"][0]["errorCode"], 20007);
  auto detail = api_->Get("/api/v1/futures/trade/get_order_detail", {{"clientId", "b1"}}).json();
  EXPECT_EQ(detail["data"]["status"], "CANCELED");
  EXPECT_EQ(api_->Post("/api/v1/futures/trade/modify_order", Json({{"clientId", "b1"}, {"price", far}}).dump()).json()["code"],
            20007);
  auto all = api_->Post("/api/v1/futures/trade/cancel_all_orders", Json({{"symbol", "BTCUSDT"}}).dump()).json();
  EXPECT_EQ(all["data"]["successList"].size(), 1u);
  EXPECT_EQ(api_->Get("/api/v1/futures/trade/get_pending_orders").json()["data"]["total"], 0);
  auto hist = api_->Get("/api/v1/futures/trade/get_history_orders", {{"status", "CANCELED"}, {"limit", "2"}}).json();
  EXPECT_EQ(hist["data"]["total"], 3);
  EXPECT_EQ(hist["data"]["orderList"].size(), 2u);
  EXPECT_EQ(api_->Get("/api/v1/futures/trade/get_history_orders", {{"limit", "500"}}).json()["code"], 10002);
}

TEST_F(PrivateTest, HedgeModeOpenAndCloseBothSides) {
  EXPECT_EQ(api_->Post("/api/v1/futures/account/change_position_mode", R"({"positionMode":"HEDGE"})").json()["code"], 0);
  auto no_side = Place({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "0.01"}});
  EXPECT_EQ(no_side["code"], 10002);
  ASSERT_EQ(Place({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"tradeSide", "OPEN"}, {"orderType", "MARKET"}, {"qty", "0.02"}})["code"], 0);
  ASSERT_EQ(Place({{"symbol", "BTCUSDT"}, {"side", "SELL"}, {"tradeSide", "OPEN"}, {"orderType", "MARKET"}, {"qty", "0.01"}})["code"], 0);
  auto positions = api_->Get("/api/v1/futures/position/get_pending_positions").json()["data"];
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[0]["positionMode"], "HEDGE");
  // Not flat: the mode cannot change.
  EXPECT_EQ(api_->Post("/api/v1/futures/account/change_position_mode", R"({"positionMode":"ONE_WAY"})").json()["code"], 20009);
  // BUY + CLOSE closes the long (side names the position being closed), named by its positionId,
  // which the reference marks required with CLOSE.
  const std::string long_id = positions[0]["side"] == "BUY" ? positions[0]["positionId"] : positions[1]["positionId"];
  EXPECT_EQ(Place({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"tradeSide", "CLOSE"}, {"orderType", "MARKET"}, {"qty", "0.02"}})["code"], 10002);
  ASSERT_EQ(Place({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"tradeSide", "CLOSE"}, {"orderType", "MARKET"}, {"qty", "0.02"},
                   {"positionId", long_id}})["code"], 0);
  positions = api_->Get("/api/v1/futures/position/get_pending_positions").json()["data"];
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0]["side"], "SELL");
  // Closing a position that no longer exists.
  EXPECT_EQ(Place({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"tradeSide", "CLOSE"}, {"orderType", "MARKET"}, {"qty", "0.01"},
                   {"positionId", long_id}})["code"], 30004);
  auto closed = api_->Post("/api/v1/futures/trade/close_all_position", R"({"symbol":"BTCUSDT"})").json();
  EXPECT_EQ(closed["code"], 0);
  EXPECT_TRUE(api_->Get("/api/v1/futures/position/get_pending_positions").json()["data"].empty());
  EXPECT_EQ(api_->Post("/api/v1/futures/account/change_position_mode", R"({"positionMode":"ONE_WAY"})").json()["code"], 0);
}

TEST_F(PrivateTest, OneWayReduceOnlyAndFlip) {
  ASSERT_EQ(Place({{"symbol", "XRPUSDT"}, {"side", "SELL"}, {"orderType", "MARKET"}, {"qty", "10"}, {"reduceOnly", true}})["code"], 30018);
  ASSERT_EQ(Place({{"symbol", "XRPUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "10"}})["code"], 0);
  EXPECT_EQ(Place({{"symbol", "XRPUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "1"}, {"reduceOnly", true}})["code"], 30019);
  // Selling 25 against a 10 long: closes it and opens a 15 short.
  ASSERT_EQ(Place({{"symbol", "XRPUSDT"}, {"side", "SELL"}, {"orderType", "MARKET"}, {"qty", "25"}})["code"], 0);
  auto positions = api_->Get("/api/v1/futures/position/get_pending_positions", {{"symbol", "XRPUSDT"}}).json()["data"];
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0]["side"], "SELL");
  EXPECT_EQ(positions[0]["qty"], "15");
}

TEST_F(PrivateTest, LeverageMarginModeAndAdjustMargin) {
  EXPECT_EQ(api_->Post("/api/v1/futures/account/change_leverage", R"({"symbol":"BTCUSDT","marginCoin":"USDT","leverage":500})").json()["code"], 20005);
  EXPECT_EQ(api_->Post("/api/v1/futures/account/change_margin_mode", R"({"symbol":"BTCUSDT","marginCoin":"USDT","marginMode":"ISOLATION"})").json()["code"], 0);
  auto mode = api_->Get("/api/v1/futures/account/get_leverage_margin_mode", {{"symbol", "BTCUSDT"}, {"marginCoin", "USDT"}}).json();
  EXPECT_EQ(mode["data"]["marginMode"], "ISOLATION");
  const std::string far = std::to_string(static_cast<int64_t>(std::stod(BestBid("BTCUSDT")) * 0.5));
  ASSERT_EQ(Place({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "LIMIT"}, {"qty", "0.01"}, {"price", far}})["code"], 0);
  EXPECT_EQ(api_->Post("/api/v1/futures/account/change_leverage", R"({"symbol":"BTCUSDT","marginCoin":"USDT","leverage":5})").json()["code"], 20006);
  EXPECT_EQ(api_->Post("/api/v1/futures/account/change_margin_mode", R"({"symbol":"BTCUSDT","marginCoin":"USDT","marginMode":"CROSS"})").json()["code"], 20006);
  ASSERT_EQ(Place({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "0.01"}})["code"], 0);
  auto pos = api_->Get("/api/v1/futures/position/get_pending_positions", {{"symbol", "BTCUSDT"}}).json()["data"][0];
  const double margin = std::stod(pos["margin"].get<std::string>());
  auto adj = api_->Post("/api/v1/futures/account/adjust_position_margin",
                        Json({{"symbol", "BTCUSDT"}, {"marginCoin", "USDT"}, {"amount", "10"}, {"positionId", pos["positionId"]}}).dump()).json();
  EXPECT_EQ(adj["code"], 0) << adj.dump();
  pos = api_->Get("/api/v1/futures/position/get_pending_positions", {{"symbol", "BTCUSDT"}}).json()["data"][0];
  EXPECT_NEAR(std::stod(pos["margin"].get<std::string>()), margin + 10, 1e-6);
  EXPECT_EQ(api_->Post("/api/v1/futures/account/adjust_position_margin", R"({"symbol":"ETHUSDT","amount":"10"})").json()["code"], 30004);
}

TEST_F(PrivateTest, TakeProfitTriggersAndClosesThePosition) {
  auto ws = PrivateSocket();
  const double bid = std::stod(BestBid("ETHUSDT"));
  const std::string tp = std::to_string(static_cast<int64_t>(bid * 1.2));
  auto r = Place({{"symbol", "ETHUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "0.5"},
                  {"tpPrice", tp}, {"tpStopType", "LAST_PRICE"}, {"tpOrderType", "MARKET"}});
  ASSERT_EQ(r["code"], 0) << r.dump();
  auto created = ws->ReadUntil([](const Json& j) { return j.value("ch", "") == "tpsl" && j["data"].value("status", "") == "NEW"; });
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ((*created)["data"]["tpPrice"], tp);
  auto pending = api_->Get("/api/v1/futures/tpsl/get_pending_orders", {{"symbol", "ETHUSDT"}}).json();
  ASSERT_EQ(pending["data"].size(), 1u);
  // A position TP/SL as well, then move the price through the take-profit.
  const std::string pid = api_->Get("/api/v1/futures/position/get_pending_positions").json()["data"][0]["positionId"];
  auto pos_tpsl = api_->Post("/api/v1/futures/tpsl/position/place_order",
                             Json({{"symbol", "ETHUSDT"}, {"positionId", pid}, {"slPrice", std::to_string(bid * 0.5)}}).dump()).json();
  EXPECT_EQ(pos_tpsl["code"], 0) << pos_tpsl.dump();
  EXPECT_EQ(api_->Post("/api/v1/futures/tpsl/place_order", Json({{"symbol", "ETHUSDT"}, {"positionId", pid}, {"tpPrice", "0"}}).dump()).json()["code"], 30041);
  ASSERT_EQ(Control(*sim_, "price", {{"symbol", "ETHUSDT"}, {"price", std::to_string(bid * 1.3)}})["ok"], true);
  auto fired = ws->ReadUntil([](const Json& j) { return j.value("ch", "") == "tpsl" && j["data"].value("status", "") == "FILLED"; });
  ASSERT_TRUE(fired.has_value());
  EXPECT_TRUE(ws->ReadUntil([](const Json& j) {
                  return j.value("ch", "") == "position" && j["data"].value("event", "") == "CLOSE";
                }).has_value());
  EXPECT_TRUE(WaitFor([&] { return api_->Get("/api/v1/futures/position/get_pending_positions").json()["data"].empty(); }));
  // The position's own TP/SL is cancelled by the system once the position is gone.
  EXPECT_TRUE(WaitFor([&] {
    return api_->Get("/api/v1/futures/tpsl/get_pending_orders").json()["data"].empty();
  }));
  auto realized = api_->Get("/api/v1/futures/position/get_history_positions").json()["data"]["positionList"][0]["realizedPNL"];
  EXPECT_GT(std::stod(realized.get<std::string>()), 0);
}

TEST_F(PrivateTest, AmbiguousFailureAfterExecution) {
  ASSERT_EQ(Control(*sim_, "rest_faults", {{"kind", "http_502"}, {"apply", "after"}, {"path", "/api/v1/futures/trade/place_order"}})["ok"], true);
  auto r = api_->Post("/api/v1/futures/trade/place_order",
                      Json({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "0.001"}, {"clientId", "amb-1"}}).dump());
  EXPECT_EQ(r.status, 502);
  // The order was really placed: looking it up by clientId resolves the ambiguity.
  auto detail = api_->Get("/api/v1/futures/trade/get_order_detail", {{"clientId", "amb-1"}}).json();
  EXPECT_EQ(detail["code"], 0);
  EXPECT_EQ(detail["data"]["status"], "FILLED");
  // apply=before: nothing happens.
  ASSERT_EQ(Control(*sim_, "rest_faults", {{"kind", "reset"}, {"apply", "before"}})["ok"], true);
  auto lost = api_->Post("/api/v1/futures/trade/place_order",
                         Json({{"symbol", "BTCUSDT"}, {"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "0.001"}, {"clientId", "amb-2"}}).dump());
  EXPECT_FALSE(lost.ok);
  EXPECT_EQ(api_->Get("/api/v1/futures/trade/get_order_detail", {{"clientId", "amb-2"}}).json()["code"], 20007);
}

TEST(PrivateRateLimit, PerUidBudgets) {
  FakeClock clock;
  auto sim = Simulator::Start(FastConfig(), clock);
  ASSERT_TRUE(sim.ok()) << sim.status();
  // Signed with the fake clock's time so the window check passes.
  SignedClient api((*sim)->rest_url());
  api.set_ts_offset_ms(clock.NowMs() - SystemClock::Instance().NowMs());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(api.Get("/api/v1/futures/account", {{"marginCoin", "USDT"}}).json()["code"], 0) << i;
  }
  EXPECT_EQ(api.Get("/api/v1/futures/account", {{"marginCoin", "USDT"}}).json()["code"], 10005);
  // cancel_orders has its own 5/s budget; batch_order 1/s.
  Json cancel = {{"symbol", "BTCUSDT"}, {"orderList", Json::array({{{"orderId", "1"}}})}};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(api.Post("/api/v1/futures/trade/cancel_orders", cancel.dump()).json()["code"], 0);
  EXPECT_EQ(api.Post("/api/v1/futures/trade/cancel_orders", cancel.dump()).json()["code"], 10005);
  Json batch = {{"symbol", "BTCUSDT"}, {"orderList", Json::array({{{"side", "BUY"}, {"orderType", "MARKET"}, {"qty", "0.001"}}})}};
  EXPECT_EQ(api.Post("/api/v1/futures/trade/batch_order", batch.dump()).json()["code"], 0);
  EXPECT_EQ(api.Post("/api/v1/futures/trade/batch_order", batch.dump()).json()["code"], 10005);
  clock.Advance(std::chrono::seconds(1));
  api.set_ts_offset_ms(clock.NowMs() - SystemClock::Instance().NowMs());
  EXPECT_EQ(api.Post("/api/v1/futures/trade/batch_order", batch.dump()).json()["code"], 0);
}

}  // namespace
}  // namespace bx::sim::testing

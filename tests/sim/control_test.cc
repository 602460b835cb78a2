// Integration: the control API (stats, log, faults, knobs) against an in-process simulator.
#include <gtest/gtest.h>

#include "sim/context.h"
#include "sim/frames.h"
#include "tests/sim/sim_test_util.h"

namespace bx::sim::testing {
namespace {

bool IsPush(const Json& j, const std::string& ch) { return j.is_object() && j.value("ch", "") == ch; }

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SimConfig cfg = FastConfig();
    cfg.rest_rate_limits = false;
    sim_ = StartSim(cfg);
    ASSERT_NE(sim_, nullptr);
  }
  std::unique_ptr<WsTestClient> Connect(const std::string& url) {
    auto c = std::make_unique<WsTestClient>();
    EXPECT_TRUE(c->Connect(url)) << c->error();
    EXPECT_TRUE(c->Read().has_value());  // greeting
    return c;
  }
  std::unique_ptr<Simulator> sim_;
};

TEST_F(ControlTest, StatsCountConnectionsSubscriptionsAndMessages) {
  auto a = Connect(sim_->public_ws_url());
  auto b = Connect(sim_->public_ws_url());
  ASSERT_TRUE(a->Send(SubscribeMsg({{"trade", "BTCUSDT"}, {"depth_book5", "ETHUSDT"}})));
  ASSERT_TRUE(b->Send(SubscribeMsg({{"trade", "BTCUSDT"}})));
  ASSERT_TRUE(b->Send(SubscribeMsg({{"trade", "BTCUSDT"}}, "unsubscribe")));
  ASSERT_TRUE(b->ReadUntil([](const Json& j) { return j.value("op", "") == "unsubscribe"; }).has_value());
  ASSERT_TRUE(a->ReadUntil([](const Json& j) { return IsPush(j, "depth_book5"); }).has_value());
  auto s = Stats(*sim_);
  EXPECT_EQ(s["public_connections"], 2);
  EXPECT_EQ(s["private_connections"], 0);
  EXPECT_EQ(s["subscriptions"]["trade:BTCUSDT"], 1);
  EXPECT_EQ(s["subscriptions"]["depth_book5:ETHUSDT"], 1);
  EXPECT_EQ(s["subscribe_messages"], 2);
  EXPECT_EQ(s["unsubscribe_messages"], 1);
  EXPECT_GT(s["frames_sent"].get<int64_t>(), 3);
  for (const char* key : {"rest_calls", "orders_placed", "logins_ok", "logins_failed"}) EXPECT_TRUE(s.contains(key));
  a->Close();
  b->Close();
  EXPECT_TRUE(WaitFor([&] { return Stats(*sim_)["public_connections"] == 0; }));
  EXPECT_TRUE(Stats(*sim_)["subscriptions"].empty());
}

TEST_F(ControlTest, LogRecordsWhatWasReceivedAndSent) {
  auto c = Connect(sim_->public_ws_url());
  ASSERT_TRUE(c->Send(R"({"op":"ping","ping":42})"));
  ASSERT_TRUE(c->Read().has_value());
  HttpTestClient(sim_->rest_url()).Get("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=1");
  HttpTestClient control(sim_->control_url());
  auto log = control.Get("/control/log?since=0&limit=1000").json();
  ASSERT_TRUE(log.contains("next"));
  bool saw_in = false, saw_out = false, saw_rest_in = false, saw_rest_out = false;
  for (const auto& e : log["entries"]) {
    for (const char* k : {"seq", "ts_ms", "conn", "dir", "kind", "text"}) ASSERT_TRUE(e.contains(k));
    if (e["kind"] == "ws_public" && e["dir"] == "in" && e["text"] == R"({"op":"ping","ping":42})") saw_in = true;
    if (e["kind"] == "ws_public" && e["dir"] == "out" && e["text"].get<std::string>().find("\"pong\":42") != std::string::npos) saw_out = true;
    if (e["kind"] == "rest" && e["dir"] == "in" && e["text"].get<std::string>().find("GET /api/v1/futures/market/depth") == 0) saw_rest_in = true;
    if (e["kind"] == "rest" && e["dir"] == "out" && e["text"].get<std::string>().find("200 {\"code\":0") == 0) saw_rest_out = true;
  }
  EXPECT_TRUE(saw_in && saw_out && saw_rest_in && saw_rest_out);
  // Paging: since=next returns only newer entries.
  auto next = log["next"].get<uint64_t>();
  auto later = control.Get("/control/log?since=" + std::to_string(next)).json();
  for (const auto& e : later["entries"]) EXPECT_GE(e["seq"].get<uint64_t>(), next);
}

// GET /control/trades: the model trades of a symbol, with the fields exactly as pushed (envelope
// ts, t, p, v, s), so a client can tell which executed trades it did not get.
TEST_F(ControlTest, TradesListsEveryModelTradeAsPushed) {
  auto c = Connect(sim_->public_ws_url());
  ASSERT_TRUE(c->Send(SubscribeMsg({{"trade", "BTCUSDT"}})));
  std::vector<Json> received;  // {ts, t, p, v, s}
  while (received.size() < 5) {
    auto m = c->ReadUntil([](const Json& j) { return IsPush(j, "trade"); });
    ASSERT_TRUE(m.has_value());
    for (const auto& item : (*m)["data"]) {
      received.push_back({{"ts", (*m)["ts"]}, {"t", item["t"]}, {"p", item["p"]}, {"v", item["v"]}, {"s", item["s"]}});
    }
  }
  HttpTestClient control(sim_->control_url());
  Json log;
  auto logged = [&](const Json& want) {
    for (const auto& e : log["trades"]) {
      if (e["ts"] == want["ts"] && e["t"] == want["t"] && e["p"] == want["p"] && e["v"] == want["v"] &&
          e["s"] == want["s"]) {
        return true;
      }
    }
    return false;
  };
  // The log entry is written right after the push went out: wait for the last one.
  ASSERT_TRUE(WaitFor([&] {
    log = control.Get("/control/trades?symbol=btcusdt").json();
    return logged(received.back());
  })) << log.dump();
  EXPECT_EQ(log["symbol"], "BTCUSDT");
  for (const auto& r : received) EXPECT_TRUE(logged(r)) << "not in the log: " << r.dump();
  uint64_t prev_seq = 0;
  int64_t prev_ts = 0;
  for (const auto& e : log["trades"]) {
    for (const char* k : {"seq", "ts", "t", "p", "v", "s", "stalled"}) ASSERT_TRUE(e.contains(k)) << e.dump();
    EXPECT_EQ(e["seq"].get<uint64_t>(), prev_seq + 1);
    EXPECT_GE(e["ts"].get<int64_t>(), prev_ts);
    EXPECT_TRUE(e["s"] == "buy" || e["s"] == "sell");
    EXPECT_EQ(e["stalled"], false);
    prev_seq = e["seq"].get<uint64_t>();
    prev_ts = e["ts"].get<int64_t>();
  }
  EXPECT_EQ(log["next"].get<uint64_t>(), prev_seq + 1);
  // Paging, and symbols nobody subscribed to trade all the same.
  const Json page = control.Get("/control/trades?symbol=BTCUSDT&since=" + std::to_string(prev_seq)).json();
  ASSERT_FALSE(page["trades"].empty());
  for (const auto& e : page["trades"]) EXPECT_GE(e["seq"].get<uint64_t>(), prev_seq);
  EXPECT_EQ(control.Get("/control/trades?symbol=BTCUSDT&since=1&limit=2").json()["trades"].size(), 2u);
  EXPECT_FALSE(control.Get("/control/trades?symbol=ETHUSDT").json()["trades"].empty());
  EXPECT_EQ(control.Get("/control/trades?symbol=NOPEUSDT").status, 400);
  EXPECT_EQ(control.Get("/control/trades").status, 400);

  // Trades executed during a stall are logged as stalled: no subscriber got them.
  ASSERT_EQ(Control(*sim_, "stall", {{"seconds", 0.3}, {"which", "public"}})["ok"], true);
  auto stalled_then_not = [&] {
    bool stalled = false;
    const Json later = control.Get("/control/trades?symbol=BTCUSDT&since=" + std::to_string(prev_seq + 1)).json();
    for (const auto& e : later["trades"]) {
      if (e["stalled"] == true) stalled = true;
      if (stalled && e["stalled"] == false) return true;
    }
    return false;
  };
  EXPECT_TRUE(WaitFor(stalled_then_not));
}

TEST_F(ControlTest, DropConnectionsClosesWithoutCloseFrame) {
  auto pub = Connect(sim_->public_ws_url());
  auto priv = Connect(sim_->private_ws_url());
  auto r = Control(*sim_, "drop_connections", {{"which", "public"}});
  EXPECT_EQ(r["ok"], true);
  EXPECT_FALSE(pub->Read(milliseconds(3000)).has_value());
  EXPECT_TRUE(pub->closed());
  EXPECT_FALSE(pub->closed_with_frame());
  ASSERT_TRUE(priv->Send(R"({"op":"ping","ping":1})"));
  EXPECT_TRUE(priv->Read().has_value()) << "private sockets survive which=public";
  EXPECT_EQ(Control(*sim_, "drop_connections", {{"which", "everything"}})["http_status"], 400);
}

TEST_F(ControlTest, StallSilencesPushesAndPongsThenResumes) {
  auto c = Connect(sim_->public_ws_url());
  ASSERT_TRUE(c->Send(SubscribeMsg({{"price", "BTCUSDT"}})));
  ASSERT_TRUE(c->ReadUntil([](const Json& j) { return IsPush(j, "price"); }).has_value());
  ASSERT_EQ(Control(*sim_, "stall", {{"seconds", 2}, {"which", "public"}})["ok"], true);
  // Frames already queued may still land; after that, nothing (not even a pong) until the stall ends.
  ASSERT_TRUE(c->Send(R"({"op":"ping","ping":7})"));
  const auto start = std::chrono::steady_clock::now();
  bool got_pong = false;
  std::optional<std::string> first_after;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(600)) {
    auto m = c->Read(milliseconds(100));
    if (m && Json::parse(*m).value("op", "") == "ping") got_pong = true;
  }
  EXPECT_FALSE(got_pong);
  EXPECT_FALSE(c->closed()) << "a stall keeps sockets open";
  EXPECT_TRUE(c->ReadUntil([](const Json& j) { return IsPush(j, "price"); }, milliseconds(5000)).has_value())
      << "pushes resume after the stall";
}

TEST_F(ControlTest, InjectsBadFramesBetweenNormalPushes) {
  auto c = Connect(sim_->public_ws_url());
  for (const char* kind : {"malformed", "truncated", "unknown_channel", "binary", "empty_levels"}) {
    auto r = Control(*sim_, "inject", {{"kind", kind}, {"count", 2}, {"symbol", "ETHUSDT"}});
    EXPECT_EQ(r["ok"], true) << kind;
    EXPECT_EQ(r["connections"], 1);
    for (int i = 0; i < 2; ++i) {
      auto m = c->Read();
      ASSERT_TRUE(m.has_value()) << kind;
      const std::string k = kind;
      if (k == "binary") {
        EXPECT_TRUE(c->last_was_binary());
      } else if (k == "malformed" || k == "truncated") {
        EXPECT_TRUE(Json::parse(*m, nullptr, false).is_discarded()) << *m;
      } else if (k == "unknown_channel") {
        EXPECT_EQ(Json::parse(*m)["ch"], "mystery_channel");
      } else {
        auto j = Json::parse(*m);
        EXPECT_EQ(j["symbol"], "ETHUSDT");
        EXPECT_EQ(j["data"]["b"][0], Json::array({"", ""}));
      }
    }
  }
  EXPECT_EQ(Control(*sim_, "inject", {{"kind", "garbage"}})["http_status"], 400);
}

TEST_F(ControlTest, RefuseConnectionsAnswers503) {
  ASSERT_EQ(Control(*sim_, "refuse_connections", {{"seconds", 30}})["ok"], true);
  WsTestClient c;
  EXPECT_FALSE(c.Connect(sim_->public_ws_url()));
  EXPECT_EQ(c.upgrade_status(), 503);
  ASSERT_EQ(Control(*sim_, "reset", Json::object())["ok"], true);
  WsTestClient d;
  EXPECT_TRUE(d.Connect(sim_->public_ws_url())) << d.error();
}

TEST_F(ControlTest, RestFaultsBeforeAndAfter) {
  HttpTestClient http(sim_->rest_url(), milliseconds(3000));
  const std::string depth = "/api/v1/futures/market/depth?symbol=BTCUSDT&limit=1";
  struct Case {
    const char* kind;
    int status;
    int code;
  };
  for (const Case& c : {Case{"http_500", 500, -1}, Case{"http_502", 502, -1}, Case{"http_429", 429, -1},
                         Case{"code_10005", 200, 10005}, Case{"code_10006", 200, 10006}}) {
    ASSERT_EQ(Control(*sim_, "rest_faults", {{"kind", c.kind}, {"count", 1}})["ok"], true);
    auto r = http.Get(depth);
    EXPECT_EQ(r.status, c.status) << c.kind;
    if (c.code >= 0) { EXPECT_EQ(r.json()["code"], c.code); }
    EXPECT_EQ(http.Get(depth).json()["code"], 0) << "only the next call fails";
  }
  // Path filter: other paths are untouched; count applies to matching calls only.
  ASSERT_EQ(Control(*sim_, "rest_faults", {{"kind", "http_500"}, {"count", 2}, {"path", "/api/v1/futures/market/tickers"}})["ok"], true);
  EXPECT_EQ(http.Get(depth).status, 200);
  EXPECT_EQ(http.Get("/api/v1/futures/market/tickers").status, 500);
  EXPECT_EQ(http.Get("/api/v1/futures/market/tickers").status, 500);
  EXPECT_EQ(http.Get("/api/v1/futures/market/tickers").status, 200);
  // reset: the connection closes without a reply.
  ASSERT_EQ(Control(*sim_, "rest_faults", {{"kind", "reset"}})["ok"], true);
  auto reset = http.Get(depth);
  EXPECT_FALSE(reset.ok);
  // hang before: held, then closed without a reply; hang after: held, then the real reply.
  ASSERT_EQ(Control(*sim_, "rest_faults", {{"kind", "hang"}, {"hang_ms", 300}})["ok"], true);
  auto hung = http.Get(depth);
  EXPECT_FALSE(hung.ok);
  ASSERT_EQ(Control(*sim_, "rest_faults", {{"kind", "hang"}, {"hang_ms", 300}, {"apply", "after"}})["ok"], true);
  auto late = http.Get(depth);
  EXPECT_TRUE(late.ok) << late.error;
  EXPECT_EQ(late.json()["code"], 0);
  // A hang longer than the client's timeout looks like a timeout to the client.
  ASSERT_EQ(Control(*sim_, "rest_faults", {{"kind", "hang"}, {"hang_ms", 5000}})["ok"], true);
  HttpTestClient impatient(sim_->rest_url(), milliseconds(300));
  auto timed_out = impatient.Get(depth);
  EXPECT_FALSE(timed_out.ok);
  EXPECT_EQ(Control(*sim_, "rest_faults", {{"kind", "teapot"}})["http_status"], 400);
  EXPECT_EQ(Control(*sim_, "rest_faults", {{"kind", "hang"}, {"apply", "during"}})["http_status"], 400);
}

TEST_F(ControlTest, ClockSkewMovesDateHeaderAndTimestamps) {
  HttpTestClient http(sim_->rest_url());
  ASSERT_EQ(Control(*sim_, "clock_skew", {{"ms", 3'600'000}})["ok"], true);
  EXPECT_EQ(sim_->context().clock.skew_ms(), 3'600'000);
  auto r = http.Get("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=1");
  const std::string date = r.headers["date"];
  ASSERT_FALSE(date.empty());
  EXPECT_EQ(date, HttpDate(sim_->context().clock.NowMs())) << "may differ by a second boundary: " << date;
  auto c = Connect(sim_->public_ws_url());
  ASSERT_TRUE(c->Send(SubscribeMsg({{"price", "BTCUSDT"}})));
  auto m = c->ReadUntil([](const Json& j) { return IsPush(j, "price"); });
  ASSERT_TRUE(m.has_value());
  const int64_t real_now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT((*m)["ts"].get<int64_t>(), real_now + 3'500'000);
  ASSERT_EQ(Control(*sim_, "reset", Json::object())["ok"], true);
  EXPECT_EQ(sim_->context().clock.skew_ms(), 0);
  EXPECT_EQ(Control(*sim_, "clock_skew", {{"ms", "soon"}})["http_status"], 400);
}

TEST_F(ControlTest, PriceMovesTheBookAndPushIntervalChanges) {
  ASSERT_EQ(Control(*sim_, "price", {{"symbol", "BTCUSDT"}, {"price", "65000"}})["ok"], true);
  auto depth = HttpTestClient(sim_->rest_url()).Get("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=1").json();
  const double bid = std::stod(depth["data"]["bids"][0][0].get<std::string>());
  EXPECT_NEAR(bid, 65000, 65000 * 0.01);  // the walk may have stepped since
  EXPECT_EQ(Control(*sim_, "price", {{"symbol", "NOPEUSDT"}, {"price", "1"}})["http_status"], 400);
  EXPECT_EQ(Control(*sim_, "price", {{"symbol", "BTCUSDT"}, {"price", "-1"}})["http_status"], 400);
  EXPECT_EQ(Control(*sim_, "price", {{"symbol", "BTCUSDT"}, {"price", "90000000000"}})["http_status"], 400);
  ASSERT_EQ(Control(*sim_, "push_interval", {{"ms", 1000}})["ok"], true);
  EXPECT_EQ(Stats(*sim_)["push_interval_ms"], 1000);
  EXPECT_EQ(Control(*sim_, "push_interval", {{"ms", 0}})["http_status"], 400);
}

TEST_F(ControlTest, FirehoseStreamsValidTradeFrames) {
  auto c = Connect(sim_->public_ws_url());
  ASSERT_TRUE(c->Send(SubscribeMsg({{"trade", "BTCUSDT"}, {"trade", "ETHUSDT"}})));
  ASSERT_EQ(Control(*sim_, "firehose", {{"rate", 2000}})["ok"], true);
  std::map<std::string, int> per_symbol;
  for (int i = 0; i < 400; ++i) {
    auto m = c->Read();
    ASSERT_TRUE(m.has_value()) << i;
    auto j = OrderedJson::parse(*m);
    ASSERT_EQ(j["ch"], "trade");
    ASSERT_TRUE(j["ts"].is_number_integer());
    ASSERT_EQ(j["data"][0]["t"].get<std::string>().size(), 20u);
    per_symbol[j["symbol"]]++;
  }
  EXPECT_GT(per_symbol["BTCUSDT"], 50);
  EXPECT_GT(per_symbol["ETHUSDT"], 50);
  ASSERT_EQ(Control(*sim_, "firehose", {{"rate", "max"}})["rate"], -1);
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(c->Read().has_value()) << i;
  ASSERT_EQ(Control(*sim_, "firehose", {{"rate", 0}})["ok"], true);
  EXPECT_EQ(Control(*sim_, "firehose", {{"rate", "lots"}})["http_status"], 400);
  EXPECT_GE(Stats(*sim_)["frames_sent"].get<int64_t>(), 20400);
}

TEST_F(ControlTest, UnknownEndpointsAndBadBodies) {
  HttpTestClient control(sim_->control_url());
  EXPECT_EQ(control.Get("/control/nothing").status, 404);
  auto r = control.Post("/control/stall", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["ok"], false);
  EXPECT_FALSE(r.json()["error"].get<std::string>().empty());
  EXPECT_EQ(control.Post("/control/stall", R"({"seconds":-1})").status, 400);
  // Wrong JSON types are refused with a message, and the server keeps serving.
  auto typed = control.Post("/control/inject", R"({"kind":"binary","count":"many"})");
  EXPECT_EQ(typed.status, 400);
  EXPECT_NE(typed.json()["error"].get<std::string>().find("wrong type"), std::string::npos);
  EXPECT_EQ(control.Post("/control/rest_faults", R"({"kind":7})").status, 400);
  EXPECT_EQ(control.Get("/control/stats").status, 200);
}

}  // namespace
}  // namespace bx::sim::testing

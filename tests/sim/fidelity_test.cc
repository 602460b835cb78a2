// Fidelity: replays the shapes of the captured live traffic (tests/fixtures/bitunix, records with
// captured=true) against what the simulator sends for the same request or subscription: same keys,
// same key order where the capture is exact and not alphabetised, same JSON types.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "tests/sim/sim_test_util.h"

namespace bx::sim::testing {
namespace {

std::string FixturePath(const std::string& name) { return std::string(BITUNIX_FIXTURES_DIR) + "/bitunix/" + name; }

std::vector<OrderedJson> ReadJsonl(const std::string& name) {
  std::ifstream in(FixturePath(name));
  EXPECT_TRUE(in) << name;
  std::vector<OrderedJson> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(OrderedJson::parse(line));
  }
  return out;
}

std::vector<OrderedJson> ReadJson(const std::string& name) {
  std::ifstream in(FixturePath(name));
  EXPECT_TRUE(in) << name;
  return OrderedJson::parse(in).get<std::vector<OrderedJson>>();
}

std::string TypeOf(const OrderedJson& j) {
  if (j.is_number_integer() || j.is_number_unsigned()) return "int";
  if (j.is_number_float()) return "float";
  return j.type_name();
}

struct ShapeRules {
  bool check_order = true;   ///< relative order of the captured keys must match
  bool allow_extra = false;  ///< our objects may carry keys the (trimmed) capture lacks
};

// Appends every difference between the captured shape and ours to `diffs`.
void CompareShape(const OrderedJson& cap, const OrderedJson& ours, const ShapeRules& rules, const std::string& path,
                  std::vector<std::string>* diffs) {
  // A null in the capture (e.g. data:null) matches only null; our null only where captured null.
  if (TypeOf(cap) != TypeOf(ours)) {
    diffs->push_back(path + ": captured " + TypeOf(cap) + ", simulator " + TypeOf(ours));
    return;
  }
  if (cap.is_object()) {
    std::vector<std::string> cap_keys, our_keys_filtered;
    for (auto it = cap.begin(); it != cap.end(); ++it) {
      cap_keys.push_back(it.key());
      if (!ours.contains(it.key())) {
        diffs->push_back(path + "." + it.key() + ": missing in the simulator");
        continue;
      }
      CompareShape(it.value(), ours.at(it.key()), rules, path + "." + it.key(), diffs);
    }
    for (auto it = ours.begin(); it != ours.end(); ++it) {
      if (cap.contains(it.key())) {
        our_keys_filtered.push_back(it.key());
      } else if (!rules.allow_extra) {
        diffs->push_back(path + "." + it.key() + ": not in the capture");
      }
    }
    if (rules.check_order) {
      std::vector<std::string> cap_present;
      for (const auto& k : cap_keys) {
        if (ours.contains(k)) cap_present.push_back(k);
      }
      if (cap_present != our_keys_filtered) {
        std::string a, b;
        for (const auto& k : cap_present) a += k + ",";
        for (const auto& k : our_keys_filtered) b += k + ",";
        diffs->push_back(path + ": key order captured [" + a + "] simulator [" + b + "]");
      }
    }
  } else if (cap.is_array() && !cap.empty()) {
    if (ours.empty()) {
      diffs->push_back(path + ": simulator array is empty");
      return;
    }
    for (size_t i = 0; i < cap.size(); ++i) {
      CompareShape(cap[i], ours[std::min(i, ours.size() - 1)], rules, path + "[" + std::to_string(i) + "]", diffs);
    }
  }
}

std::string Describe(const std::vector<std::string>& diffs) {
  std::ostringstream os;
  for (const auto& d : diffs) os << "\n  " << d;
  return os.str();
}

bool Alphabetised(const OrderedJson& rec) {
  return rec["source"]["repo"] == "Inkedup1114/bitunixbot" ||
         rec.value("note", "").find("alphabetical") != std::string::npos;
}

bool Trimmed(const OrderedJson& rec) {
  const std::string note = rec.value("note", "");
  for (const char* w : {"trimmed", "omitted", "dropped", "trim"}) {
    if (note.find(w) != std::string::npos) return true;
  }
  return !rec.value("exact", false);
}

class FidelityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SimConfig cfg = FastConfig();
    cfg.symbols = "BTCUSDT,BTCUSDC,BTCUSD,ETHUSDT";  // every symbol the captures name
    cfg.rest_rate_limits = false;
    sim_ = StartSim(cfg);
    ASSERT_NE(sim_, nullptr);
  }
  std::unique_ptr<Simulator> sim_;
};

TEST_F(FidelityTest, PublicPushesMatchCapturedShapes) {
  int checked = 0;
  for (const auto& rec : ReadJsonl("ws-public.jsonl")) {
    if (!rec.value("captured", false)) continue;
    const OrderedJson& cap = rec["message"];
    const std::string ch = cap["ch"], symbol = cap["symbol"];
    SCOPED_TRACE(rec["kind"].get<std::string>() + " " + symbol);
    WsTestClient ws;
    ASSERT_TRUE(ws.Connect(sim_->public_ws_url()));
    ASSERT_TRUE(ws.Read().has_value());
    ASSERT_TRUE(ws.Send(SubscribeMsg({{ch, symbol}})));
    auto text = ws.Read(milliseconds(5000));
    ASSERT_TRUE(text.has_value()) << "no frame for " << ch << " " << symbol;
    OrderedJson ours = OrderedJson::parse(*text);
    ShapeRules rules;
    rules.check_order = !Alphabetised(rec);
    std::vector<std::string> diffs;
    CompareShape(cap, ours, rules, "$", &diffs);
    EXPECT_TRUE(diffs.empty()) << *text << Describe(diffs);
    EXPECT_EQ(ours["ch"], ch);
    EXPECT_EQ(ours["symbol"], symbol);
    ++checked;
  }
  EXPECT_EQ(checked, 10);
}

TEST_F(FidelityTest, ControlFramesMatchCaptures) {
  std::map<std::string, OrderedJson> by_kind;
  for (const auto& rec : ReadJsonl("ws-control.jsonl")) {
    if (rec.value("captured", false)) by_kind[rec["kind"]] = rec;
  }
  WsTestClient ws;
  ASSERT_TRUE(ws.Connect(sim_->public_ws_url()));
  auto greeting = ws.Read();
  ASSERT_TRUE(greeting.has_value());
  EXPECT_EQ(*greeting, by_kind["connect"]["raw"].get<std::string>());
  // The captured subscribe gets no acknowledgement: the first frame is data.
  ASSERT_TRUE(ws.Send(by_kind["subscribe"]["raw"].get<std::string>()));
  auto first = ws.Read();
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(OrderedJson::parse(*first).contains("op"));
  // Ping: the captured client frame, our reply in the captured shape with pong echoed.
  auto ping = ws.Send(by_kind["ping"]["raw"].get<std::string>());
  ASSERT_TRUE(ping);
  auto reply = ws.ReadUntil([](const Json& j) { return j.value("op", "") == "ping"; });
  ASSERT_TRUE(reply.has_value());
  std::vector<std::string> diffs;
  CompareShape(by_kind["ping-reply"]["message"], OrderedJson::parse(reply->dump()), {false, false}, "$", &diffs);
  EXPECT_TRUE(diffs.empty()) << Describe(diffs);
  EXPECT_EQ((*reply)["pong"], by_kind["ping"]["message"]["ping"]);
  // Unsubscribe reply (read raw to keep key order).
  ASSERT_TRUE(ws.Send(SubscribeMsg({{"depth_book15", "BTCUSDT"}, {"depth_book15", "BTCUSD"}, {"price", "BTCUSDT"}},
                                   "unsubscribe")));
  std::optional<std::string> unsub;
  for (int i = 0; i < 50 && !unsub; ++i) {
    auto m = ws.Read();
    ASSERT_TRUE(m.has_value());
    if (m->rfind("{\"op\":\"unsubscribe\"", 0) == 0) unsub = m;
  }
  ASSERT_TRUE(unsub.has_value());
  diffs.clear();
  CompareShape(by_kind["unsubscribe-reply"]["message"], OrderedJson::parse(*unsub), {}, "$", &diffs);
  EXPECT_TRUE(diffs.empty()) << Describe(diffs);
  // The refusal past 300 streams, byte for byte.
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 310; ++i) many.emplace_back("trade", "Z" + std::to_string(i) + "USDT");
  WsTestClient busy;
  ASSERT_TRUE(busy.Connect(sim_->public_ws_url()));
  ASSERT_TRUE(busy.Read().has_value());
  ASSERT_TRUE(busy.Send(SubscribeMsg(many)));
  EXPECT_EQ(busy.Read().value_or(""), by_kind["subscribe-refused"]["raw"].get<std::string>());
}

TEST_F(FidelityTest, RestRepliesMatchCapturedShapes) {
  HttpTestClient http(sim_->rest_url());
  SignedClient api(sim_->rest_url());
  auto local = [&](const std::string& url) {
    const std::string host = "https://fapi.bitunix.com";
    return url.rfind(host, 0) == 0 ? url.substr(host.size()) : url;
  };
  int checked = 0;
  bool place_order_checked = false;
  for (const auto& rec : ReadJson("rest-responses.json")) {
    if (!rec.value("captured", false)) continue;
    const std::string kind = rec["kind"];
    if (kind == "place_order") {
      if (place_order_checked) continue;  // 64 replies of one shape
      place_order_checked = true;
    }
    SCOPED_TRACE(kind);
    HttpResult r;
    if (kind == "place_order") {
      r = api.Post("/api/v1/futures/trade/place_order",
                   R"({"symbol":"BTCUSDT","side":"BUY","qty":"0.009","tradeSide":"OPEN","orderType":"MARKET","effect":"GTC"})");
    } else if (kind == "account") {
      r = api.Get("/api/v1/futures/account", {{"marginCoin", "USDT"}});
    } else if (kind == "error:signature") {
      r = http.Get("/api/v1/futures/account?marginCoin=USDT", api.Headers("marginCoin=USDT", ""));
    } else if (kind == "kline:bad interval") {
      r = http.Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=7m");
    } else if (kind == "kline") {
      r = http.Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=3");
    } else if (rec.contains("request") && rec["request"].contains("url")) {
      r = http.Get(local(rec["request"]["url"]));
    } else {
      ADD_FAILURE() << "no request known for captured kind " << kind;
      continue;
    }
    ASSERT_EQ(r.status, rec.value("http_status", 200)) << r.error;
    OrderedJson ours = OrderedJson::parse(r.body);
    ShapeRules rules;
    rules.allow_extra = Trimmed(rec) || kind == "account" || kind == "error:signature";
    std::vector<std::string> diffs;
    CompareShape(rec["message"], ours, rules, "$", &diffs);
    EXPECT_TRUE(diffs.empty()) << r.body.substr(0, 400) << Describe(diffs);
    // Exact error bodies are reproduced byte for byte.
    if (kind.rfind("error:", 0) == 0 && rec.value("exact", false) && rec["message"].contains("data")) {
      EXPECT_EQ(r.body, rec["message"].dump());
    }
    EXPECT_EQ(ours["code"], rec["message"]["code"]);
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

// The official signing vectors, sent verbatim to a simulator holding their key and secret with its
// clock at their timestamp: the server side accepts exactly what the reference describes.
TEST(FidelityVectors, OfficialRestVectorAcceptedVerbatim) {
  OrderedJson vector;
  for (const auto& rec : ReadJson("rest-requests.json")) {
    if (rec["kind"].get<std::string>().rfind("signature-vector", 0) == 0) vector = rec;
  }
  ASSERT_FALSE(vector.is_null());
  const auto& m = vector["message"];
  const auto& h = m["headers"];
  FakeClock clock;
  clock.SetWallNs(std::stoll(h["timestamp"].get<std::string>()) * 1'000'000);
  SimConfig cfg = FastConfig();
  cfg.api_key = h["api-key"];
  cfg.api_secret = m["signing_inputs"]["secretKey"];
  auto sim = Simulator::Start(cfg, clock);
  ASSERT_TRUE(sim.ok()) << sim.status();
  HttpTestClient http((*sim)->rest_url());
  const std::string url = m["url"];
  const std::string target = url.substr(url.find("/api/"));
  std::map<std::string, std::string> headers = {{"api-key", h["api-key"]},
                                                {"nonce", h["nonce"]},
                                                {"timestamp", h["timestamp"]},
                                                {"sign", h["sign"]}};
  auto ok = http.Get(target, headers);
  EXPECT_EQ(ok.json()["code"], 0) << ok.body;
  // One changed character anywhere: 10007.
  for (const char* field : {"nonce", "timestamp", "sign"}) {
    auto bad = headers;
    bad[field].back() = bad[field].back() == '1' ? '2' : '1';
    EXPECT_EQ(http.Get(target, bad).json()["code"], 10007) << field;
  }
  EXPECT_EQ(http.Get(target + "&x=1", headers).json()["code"], 10007) << "an extra query parameter";
}

TEST(FidelityVectors, ReferenceWsLoginVectorAccepted) {
  FakeClock clock;
  clock.SetWallNs(int64_t{1747402389} * 1'000'000'000);
  SimConfig cfg = FastConfig();
  cfg.api_key = "yourApiKey";
  cfg.api_secret = "yourSecretKey";
  auto sim = Simulator::Start(cfg, clock);
  ASSERT_TRUE(sim.ok()) << sim.status();
  WsTestClient ws;
  ASSERT_TRUE(ws.Connect((*sim)->private_ws_url()));
  ASSERT_TRUE(ws.Read().has_value());
  ASSERT_TRUE(ws.Send(R"({"op":"login","args":[{"apiKey":"yourApiKey","timestamp":1747402389,)"
                      R"("nonce":"o9jnhu8ijko2nbhy36fgt0mnjuyhgtsh",)"
                      R"("sign":"a3bfb87edfc362b67c66042164e4321715b063d31cfb7b8bb44fbcaffd2ea44c"}]})"));
  EXPECT_EQ(ws.Read().value_or(""), R"({"op":"login","data":{"result":true}})");
}

}  // namespace
}  // namespace bx::sim::testing

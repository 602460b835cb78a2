// The UpstreamTest fixture: the upstream state machine against a fake WebSocket, a fake REST API
// and a fake clock, with recording streams. Shared by the upstream test files.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "services/marketdata/upstream.h"
#include "tests/marketdata/fakes.h"
#include "tests/marketdata/recording_sink.h"

namespace bx::md::testing {

using common_v1::StreamStatus;
using Ms = std::chrono::milliseconds;

inline constexpr const char* kPairs =
    R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","basePrecision":4,"quotePrecision":1,"symbolStatus":"OPEN"},{"symbol":"ETHUSDT","base":"ETH","quote":"USDT","symbolStatus":"OPEN"},{"symbol":"PREVIEWUSDT","symbolStatus":"PREVIEW"}]})";

inline std::string Book(const std::string& sym, const std::string& bid, int64_t ts = 1790126515693) {
  return R"({"ch":"depth_book15","symbol":")" + sym + R"(","ts":)" + std::to_string(ts) +
         R"(,"data":{"b":[[")" + bid + R"(","1"]],"a":[["99999","2"]]}})";
}
inline std::string Trade(const std::string& sym, const std::string& price) {
  return R"({"ch":"trade","symbol":")" + sym + R"(","ts":1790126515693,"data":[{"t":"2026-09-23T00:00:01Z","p":")" +
         price + R"(","v":"1","s":"buy"}]})";
}

class UpstreamTest : public ::testing::Test {
 protected:
  void Make(UpstreamOptions opt = {}) {
    opt.seed = 7;
    hub_ = std::make_unique<Hub>(HubOptions{}, clock_);
    http_.responder = [this](const net::HttpRequest& r) {
      if (r.target.rfind("/api/v1/futures/market/trading_pairs", 0) == 0) return HttpOk(pairs_);
      if (r.target.rfind("/api/v1/futures/market/depth", 0) == 0) {
        return HttpOk(R"({"code":0,"msg":"Success","data":{"asks":[["101","1"]],"bids":[["100","2"],["99","3"]]}})");
      }
      if (r.target.rfind("/api/v1/futures/market/tickers", 0) == 0) {
        return HttpOk(
            R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","markPrice":"100.5","lastPrice":"100","open":"90","last":"100","quoteVol":"1000","baseVol":"10","high":"110","low":"80"}]})");
      }
      return rest_fail_;
    };
    rest_ = std::make_unique<MarketRestClient>(&http_, &io_, clock_, RestClientOptions{});
    up_ = std::make_unique<UpstreamManager>(opt, hub_.get(), &symbols_, rest_.get(), &io_, ws_.Fn(), clock_);
    up_->set_on_ready_change([this](bool r) { ready_changes_.push_back(r); });
    up_->Start();
    io_.RunPending();
  }

  void TearDown() override {
    if (hub_) {
      for (const auto& s : *hub_->Streams()) s->Detach();
    }
    up_.reset();
    rest_.reset();
    hub_.reset();
  }

  FakeWsClient& Ws(size_t i) { return *ws_.clients.at(i); }

  /// Moves time in ticks of 50 ms, as the real io thread does.
  void Advance(Ms total, Ms step = Ms(50)) {
    for (Ms t(0); t < total; t += step) {
      clock_.Advance(step);
      up_->Tick();
      io_.RunPending();
    }
  }
  void Run() { io_.RunPending(); }

  /// Every stream leaves (as a Subscribe call ends) and releases `topics`: their linger starts.
  void LeaveAll(const std::vector<TopicRef>& topics) {
    for (const auto& s : *hub_->Streams()) {
      s->Detach();
      hub_->RemoveStream(s.get());
    }
    up_->Release(topics);
  }
  /// Ticks until the linger ended every subscription (at most 5 s); false if it never did.
  bool AdvanceUntilLingerExpired() {
    for (int i = 0; i < 100 && up_->stats().subscribed_topics.load() > 0; ++i) Advance(Ms(50));
    return up_->stats().subscribed_topics.load() == 0;
  }

  TopicRef Ref(const std::string& ch, const std::string& sym) {
    return {hub_->Topic(TopicKey(ch, sym), sym, *ParseExchangeChannel(ch)), ch};
  }

  /// A stream over `refs` that records what it receives (a fast client).
  RecordingSink& Subscribe(const std::vector<TopicRef>& refs) {
    std::vector<Stream::TopicSub> subs;
    std::vector<std::string> symbols;
    for (const auto& r : refs) {
      subs.push_back({r.ring, OverflowPolicy::kDrop});
      if (std::find(symbols.begin(), symbols.end(), r.ring->symbol()) == symbols.end()) {
        symbols.push_back(r.ring->symbol());
      }
    }
    auto s = std::make_shared<Stream>(hub_.get(), hub_->stream_count() + 1, "t", subs, symbols, true,
                                      std::vector<InitialStatus>{InitialStatus{}});
    hub_->AddStream(s);
    sinks_.push_back(std::make_unique<RecordingSink>(true));
    sinks_.back()->set_stream(s.get());
    s->Start(sinks_.back().get());
    up_->Acquire(refs);
    Run();
    return *sinks_.back();
  }

  /// Number of subscribe args for (ch, symbol) over every message sent on connection i.
  int SubscribeArgs(size_t i, const std::string& op, const std::string& ch, const std::string& sym) {
    int n = 0;
    const std::string arg = R"({"symbol":")" + sym + R"(","ch":")" + ch + R"("})";
    for (const auto& m : Ws(i).sent) {
      if (m.find(R"("op":")" + op + R"(")") == std::string::npos) continue;
      for (size_t at = m.find(arg); at != std::string::npos; at = m.find(arg, at + 1)) ++n;
    }
    return n;
  }
  int Count(size_t i, const std::string& needle) {
    int n = 0;
    for (const auto& m : Ws(i).sent) n += m.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }

  static constexpr const char* kListingTarget = "/api/v1/futures/market/trading_pairs";

  /// Keeps `symbol`'s book and the pings answered until the next trading_pairs request has been
  /// made and answered; false if none came within 40 s.
  /// Trade A on connection 0 and trade B on a spare connection 1 (one subscription per
  /// connection, no linger, breaker after 3 failures, no REST fallback); connection 1 not open yet.
  void StartWithASpareConnectionForB() {
    UpstreamOptions opt;
    opt.max_subscriptions_per_connection = 1;
    opt.linger = Ms(0);
    opt.breaker_failures = 3;
    opt.backoff = {Ms(100), Ms(1600), 2.0, 0.0};
    opt.rest_fallback = false;
    Make(opt);
    Ws(0).Open();
    Run();
    Subscribe({Ref("trade", "A")});
    up_->Acquire({Ref("trade", "B")});
    Run();
    ASSERT_EQ(ws_.clients.size(), 2u);
  }

  bool AdvanceUntilListingRefreshed(const std::string& symbol) {
    const int refreshes = http_.CountTarget(kListingTarget);
    for (int i = 0; i < 400 && http_.CountTarget(kListingTarget) == refreshes; ++i) {
      Ws(0).Text(Book(symbol, "1"));
      Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
      Run();
      Advance(Ms(100));
    }
    Run();
    Advance(Ms(100));
    return http_.CountTarget(kListingTarget) > refreshes;
  }

  /// A status of `ev` says its symbol left the listing ("no data will come").
  static bool HeardDelisted(const std::vector<v1::MarketEvent>& ev) {
    for (const auto& e : ev) {
      if (e.has_status() && e.status().reason().find("no data will come") != std::string::npos) return true;
    }
    return false;
  }

  static bool HasStatus(const std::vector<v1::MarketEvent>& ev, StreamStatus::State s) {
    for (const auto& e : ev) {
      if (e.has_status() && e.status().state() == s) return true;
    }
    return false;
  }

  FakeClock clock_;
  ManualExecutor io_;
  FakeWsFactory ws_{&io_, &clock_};
  FakeHttpClient http_{&io_};
  std::string pairs_ = kPairs;  ///< what trading_pairs answers
  net::HttpResult rest_fail_ = [] {
    net::HttpResult r;
    r.response.status = 500;
    return r;
  }();
  SymbolRegistry symbols_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<MarketRestClient> rest_;
  std::unique_ptr<UpstreamManager> up_;
  std::vector<std::unique_ptr<RecordingSink>> sinks_;
  std::vector<bool> ready_changes_;
};

}  // namespace bx::md::testing

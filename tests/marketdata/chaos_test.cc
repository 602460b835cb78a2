// Seeded chaos for bitunix-marketdata against the real simulator binary: streams come and go on
// several threads (random symbols, channels, book depths) while the simulator drops, stalls and
// refuses connections and injects bad frames, with few subscriptions per upstream connection so
// topics spread over several; like the live exchange, a subscribe takes effect 100-600 ms after it
// is sent. Afterwards the exchange must hold exactly one subscription per topic still wanted and
// none other, the long-lived streams must have contiguous sequence numbers, never end, explain
// every outage with a gap before it recovers, carry live data again, and have received every
// trade the simulator executed (from their first trade on) or a gap where they did not, and once
// the last stream leaves every exchange subscription must go.
//
//   BITUNIX_CHAOS_SEED=N      replay a run (the seed is printed)
//   BITUNIX_CHAOS_SECONDS=S   length of the fault phase (default 8)
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "services/marketdata/app.h"
#include "tests/marketdata/integration_util.h"
#include "tests/marketdata/outage_check.h"
#include "tests/marketdata/trade_check.h"

namespace bx::md {
namespace {

using common_v1::Gap;
using common_v1::StreamStatus;
using testing::Count;
using testing::Json;
using testing::Ms;
using testing::SimProcess;
using testing::StreamReader;
using testing::WaitUntil;
using Events = StreamReader::Events;

const std::vector<std::string> kSymbols = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"};
const std::vector<v1::Channel> kChannels = {v1::CHANNEL_TRADE, v1::CHANNEL_ORDER_BOOK, v1::CHANNEL_TICKER,
                                            v1::CHANNEL_MARK_PRICE, v1::CHANNEL_KLINE};

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

/// The exchange topics ("channel:SYMBOL", the simulator's and the proto's naming) a request wants.
/// Written out here rather than taken from the service, so a wrong mapping fails the test.
std::set<std::string> Topics(const v1::SubscribeRequest& r) {
  std::set<std::string> out;
  for (const auto& sym : r.symbols()) {
    for (int c : r.channels()) {
      switch (c) {
        case v1::CHANNEL_TRADE: out.insert("trade:" + sym); break;
        case v1::CHANNEL_ORDER_BOOK: out.insert(absl::StrCat("depth_book", r.book_depth(), ":", sym)); break;
        case v1::CHANNEL_TICKER: out.insert("ticker:" + sym); break;
        case v1::CHANNEL_MARK_PRICE: out.insert("price:" + sym); break;
        case v1::CHANNEL_KLINE: out.insert("market_kline_1min:" + sym); break;
        default: ADD_FAILURE() << "channel " << c;
      }
    }
  }
  return out;
}

/// A random request: 1–3 symbols, 1–3 channels, depth 1, 5 or 15, klines of 1 minute.
v1::SubscribeRequest RandomRequest(std::mt19937_64& rng) {
  auto pick = [&](const auto& from, size_t n) {
    auto copy = from;
    std::shuffle(copy.begin(), copy.end(), rng);
    copy.resize(n);
    return copy;
  };
  std::uniform_int_distribution<size_t> one_to_three(1, 3);
  v1::SubscribeRequest r = testing::Request(pick(kSymbols, one_to_three(rng)), pick(kChannels, one_to_three(rng)));
  static constexpr int kDepths[] = {1, 5, 15};
  r.set_book_depth(kDepths[rng() % 3]);
  r.add_kline_intervals(v1::KLINE_INTERVAL_1M);
  return r;
}

class MarketDataChaos : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { InitLogging(LogLevel::kError, false); }

  void TearDown() override {
    if (app_) app_->Stop(Ms(2000));
    app_.reset();
    sim_.reset();
  }

  /// The simulator's live subscriptions with a nonzero count.
  std::map<std::string, int> SimSubscriptions() {
    std::map<std::string, int> out;
    Json s = sim_->Stats();
    if (!s.is_object() || !s.contains("subscriptions")) return out;
    for (const auto& [k, v] : s["subscriptions"].items()) {
      if (v.get<int>() != 0) out[k] = v.get<int>();
    }
    return out;
  }

  /// The whole run: `sim_flags` on top of the fast simulator; the service assumes four
  /// subscriptions per connection.
  void Run(const std::vector<std::string>& sim_flags);

  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<App> app_;
};

std::string Describe(const std::map<std::string, int>& m) {
  return absl::StrJoin(m, ", ", absl::PairFormatter("="));
}

TEST_F(MarketDataChaos, StreamChurnUnderConnectionFaultsLeavesExactlyTheWantedSubscriptions) {
  Run({});
}

// The exchange refuses a connection's fourth subscription while the service assumes four fit:
// the refusal path (capacity lowered, unconfirmed topics moved to another connection) under the
// same churn and faults.
TEST_F(MarketDataChaos, TheSameWhenTheExchangeRefusesSubscriptionsPastThree) {
  Run({"--ws-max-subs", "3"});
  ASSERT_TRUE(app_);
  EXPECT_GE(app_->upstream().stats().subscribe_refusals.load(), 1u) << "the exchange never refused";
}

void MarketDataChaos::Run(const std::vector<std::string>& sim_flags) {
  const uint64_t seed = EnvOr("BITUNIX_CHAOS_SEED", 20261127);
  const auto fault_phase = std::chrono::seconds(EnvOr("BITUNIX_CHAOS_SECONDS", 8));
  std::printf("chaos seed %llu, fault phase %llds (BITUNIX_CHAOS_SEED / BITUNIX_CHAOS_SECONDS)\n",
              static_cast<unsigned long long>(seed), static_cast<long long>(fault_phase.count()));
  SCOPED_TRACE(absl::StrCat("BITUNIX_CHAOS_SEED=", seed));
  std::mt19937_64 rng(seed);

  std::vector<std::string> flags = testing::kFastSim;
  // Subscribes apply late, as on the live exchange, and trades are frequent enough that the
  // window before a resubscribed topic's first push holds some: lost there, they need a Gap.
  flags.insert(flags.end(), {"--ws-subscribe-delay", "100-600", "--trade-rate", "50", "--trade-log-capacity", "1000000"});
  flags.insert(flags.end(), sim_flags.begin(), sim_flags.end());
  sim_ = SimProcess::Start(flags);
  ASSERT_TRUE(sim_);
  AppOptions o = testing::FastOptions(*sim_);
  o.metrics_addr = "";
  o.upstream.max_subscriptions_per_connection = 4;  // 35 possible topics: several connections
  auto started = App::Start(o);
  ASSERT_TRUE(started.ok()) << started.status();
  app_ = std::move(*started);
  auto channel = grpc::CreateChannel(app_->grpc_address(), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(WaitUntil([&] { return app_->ready(); }, Ms(10000)));

  // Long-lived streams, open through the whole run.
  struct Keeper {
    v1::SubscribeRequest request;
    std::set<std::string> topics;
    std::unique_ptr<StreamReader> reader;
  };
  std::vector<Keeper> keepers;
  for (int i = 0; i < 3; ++i) {
    Keeper k;
    k.request = RandomRequest(rng);
    // Every long-lived stream carries trades, whose completeness is checked at the end.
    if (std::find(k.request.channels().begin(), k.request.channels().end(), v1::CHANNEL_TRADE) ==
        k.request.channels().end()) {
      k.request.add_channels(v1::CHANNEL_TRADE);
    }
    k.topics = Topics(k.request);
    k.reader = std::make_unique<StreamReader>(channel, k.request);
    keepers.push_back(std::move(k));
  }

  // Churners: open a random stream, read a random while, cancel; again.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> churn_problems;
  std::atomic<int> churned{0};
  std::vector<std::thread> churners;
  for (int t = 0; t < 3; ++t) {
    churners.emplace_back([&, thread_seed = rng()] {
      std::mt19937_64 r(thread_seed);
      while (!stop.load()) {
        auto req = RandomRequest(r);
        StreamReader s(channel, req);
        std::this_thread::sleep_for(Ms(std::uniform_int_distribution<int>(20, 600)(r)));  // workload, not sync
        s.Cancel();
        const bool finished = s.WaitFinished(Ms(10000));
        const Events ev = s.events();
        std::lock_guard<std::mutex> lock(mu);
        ++churned;
        if (!finished) {
          churn_problems.push_back("a cancelled stream did not end: " + req.ShortDebugString());
          continue;
        }
        // A stream the client cancelled ends CANCELLED, never with an error of the service's own.
        if (s.status()->error_code() != grpc::StatusCode::CANCELLED) {
          churn_problems.push_back(absl::StrCat("stream ended ", s.status()->error_code(), " \"",
                                                s.status()->error_message(), "\": ", req.ShortDebugString()));
        }
        for (size_t i = 0; i < ev.size(); ++i) {
          if (ev[i].seq() != i + 1) {
            churn_problems.push_back(absl::StrCat("seq ", ev[i].seq(), " at ", i, ": ", req.ShortDebugString()));
            break;
          }
        }
      }
    });
  }

  // Faults, until the phase ends.
  std::map<std::string, int> faults;
  const auto fault_end = std::chrono::steady_clock::now() + fault_phase;
  while (std::chrono::steady_clock::now() < fault_end) {
    std::this_thread::sleep_for(Ms(std::uniform_int_distribution<int>(150, 900)(rng)));  // workload, not sync
    switch (rng() % 6) {
      case 0:
      case 1:
        sim_->Control("drop_connections", {{"which", "public"}});
        ++faults["drop"];
        break;
      case 2:
        sim_->Control("stall", {{"which", "public"}, {"seconds", std::uniform_real_distribution<double>(0.2, 2.5)(rng)}});
        ++faults["stall"];
        break;
      case 3:
        sim_->Control("refuse_connections", {{"seconds", std::uniform_real_distribution<double>(0.2, 1.5)(rng)}});
        sim_->Control("drop_connections", {{"which", "public"}});
        ++faults["refuse+drop"];
        break;
      case 4: {
        static const char* kKinds[] = {"malformed", "truncated", "unknown_channel", "binary"};
        const char* kind = kKinds[rng() % 4];
        sim_->Control("inject", {{"kind", kind}, {"count", 3}, {"symbol", kSymbols[rng() % kSymbols.size()]}});
        ++faults[std::string("inject ") + kind];
        break;
      }
      default:
        ++faults["none"];
        break;
    }
  }
  const int64_t fault_end_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  stop = true;
  for (auto& t : churners) t.join();
  sim_->Control("reset");
  std::printf("faults: %s; churned streams: %d\n", Describe(faults).c_str(), churned.load());
  for (const auto& p : churn_problems) ADD_FAILURE() << p;

  // Exactly the keepers' topics remain subscribed on the exchange, once each.
  std::map<std::string, int> wanted;
  for (const auto& k : keepers) {
    for (const auto& t : k.topics) wanted[t] = 1;
  }
  ASSERT_TRUE(WaitUntil([&] { return SimSubscriptions() == wanted; }, Ms(20000)))
      << "exchange holds: " << Describe(SimSubscriptions()) << "\nwanted: " << Describe(wanted);

  // Every keeper carries live data for each of its topics again (exchange timestamp set: not a
  // REST-served or cached snapshot), and every outage it saw was explained.
  for (auto& k : keepers) {
    const size_t from = k.reader->events().size();
    ASSERT_TRUE(k.reader->WaitFor([&](const Events& ev) {
      std::set<std::string> live;
      for (size_t i = from; i < ev.size(); ++i) {
        const auto& e = ev[i];
        if (e.has_status() || e.has_gap() || e.exchange_ts_ms() == 0 || e.snapshot()) continue;
        v1::SubscribeRequest one = testing::Request({e.symbol()}, {e.channel()});
        one.set_book_depth(k.request.book_depth());
        for (const auto& t : Topics(one)) live.insert(t);
      }
      return std::includes(live.begin(), live.end(), k.topics.begin(), k.topics.end());
    }, Ms(15000))) << k.request.ShortDebugString() << testing::Timeline(k.reader->events());
    const Events ev = k.reader->events();
    testing::ExpectSeqContiguous(ev);
    EXPECT_FALSE(k.reader->status().has_value()) << "a long-lived stream ended: " << k.reader->status()->error_message();
    for (const auto& p : testing::CheckOutagesExplained(ev, k.topics, /*live_at_end=*/false)) {
      ADD_FAILURE() << k.request.ShortDebugString() << ": " << p << testing::Timeline(ev);
    }
    // Every trade the simulator executed for a symbol of the stream, from the stream's first trade
    // to its last (past the end of the fault phase: the stream carried live data since), was
    // delivered or lies behind a Gap for its topic sent after it was executed (trade_check.h).
    for (const auto& sym : k.request.symbols()) {
      auto [status, body] = testing::HttpRequest(sim_->control(), "GET", "/control/trades?symbol=" + sym);
      ASSERT_EQ(status, 200) << body;
      const auto sim_trades = testing::ParseSimTrades(Json::parse(body, nullptr, false));
      ASSERT_FALSE(sim_trades.empty()) << sym;
      ASSERT_EQ(sim_trades.front().seq, 1u) << "the simulator's trade log was truncated";
      testing::TradeCheckSummary sum;
      for (const auto& p : testing::CheckTradesComplete(ev, sym, k.topics, sim_trades, &sum)) {
        ADD_FAILURE() << k.request.ShortDebugString() << ": " << p;
      }
      EXPECT_GE(sum.last_ts_ms, fault_end_ms) << "trade:" << sym << ": the stream's trades end before the fault phase";
      std::printf("trade:%s: %zu executed from the stream's first trade to its last, %zu delivered, %zu behind gaps, "
                  "%zu withheld by stalls (%.1f s, %lld ms past the fault phase)\n",
                  sym.c_str(), sum.in_range, sum.delivered, sum.behind_gap, sum.stalled,
                  static_cast<double>(sum.last_ts_ms - sum.first_ts_ms) / 1000.0,
                  static_cast<long long>(sum.last_ts_ms - fault_end_ms));
    }
  }
  EXPECT_GE(app_->upstream().stats().reconnects.load(), 1u) << "the faults never reached the service";

  // The last streams leave: after the linger, nothing stays subscribed.
  keepers.clear();
  EXPECT_TRUE(WaitUntil([&] { return SimSubscriptions().empty(); }, Ms(10000)))
      << "exchange still holds: " << Describe(SimSubscriptions());
  EXPECT_TRUE(WaitUntil([&] { return app_->hub().Streams()->empty(); }, Ms(5000)));
  EXPECT_EQ(app_->upstream().stats().subscribed_topics.load(), 0);
}

}  // namespace
}  // namespace bx::md

// The exchange hands every private push to the publisher while it still holds its lock, on every
// path that makes pushes (REST trading through Transact, market steps, trade generation, the
// control API's price move). That is what keeps pushes in the order the account made them: a
// thread that publishes after unlocking can be overtaken by a later change's push (a modify's
// UPDATE arriving after the FILLED of a later fill). The check is deterministic: inside the
// publisher another thread tries the lock.
#include <gtest/gtest.h>

#include <thread>

#include "common/clock.h"
#include "sim/exchange.h"
#include "tests/sim/order_requests.h"

namespace bx::sim {
namespace {

Dec D(const char* s) { return *Dec::Parse(s); }

class ExchangeTest : public ::testing::Test {
 protected:
  ExchangeTest()
      : catalog_(*SymbolCatalog::FromList("BTCUSDT,ETHUSDT")), exchange_(catalog_, {3, 100, 60}, {}, clock_) {
    exchange_.set_publisher([this](const std::vector<PrivatePush>& pushes) {
      bool held = false;
      std::thread probe([&] { held = exchange_.LockedElsewhereForTest(); });
      probe.join();
      for (const auto& p : pushes) published_.push_back({p.ch, held});
    });
  }

  // Places a resting order through Transact, as the REST handlers do.
  void PlaceResting(const std::string& side, Dec price) {
    const bool ok = exchange_.Transact([&](Account& a, MarketModel& m, std::vector<PrivatePush>* out) {
      auto r = a.Place(testing::BtcLimit(side, "0.01", price), m, out);
      return r.ok() && (*r.value)->status != "FILLED";
    });
    ASSERT_TRUE(ok);
  }

  Dec Mid() {
    return exchange_.WithAccount([](Account&, MarketModel& m) { return (m.BestBid(0) + m.BestAsk(0)) / D("2"); });
  }

  // Every push published since the last call was published under the lock; returns how many.
  size_t ExpectAllUnderTheLock() {
    for (const auto& p : published_) EXPECT_TRUE(p.held) << "a '" << p.ch << "' push was published after unlocking";
    const size_t n = published_.size();
    published_.clear();
    return n;
  }

  struct Published {
    std::string ch;
    bool held;
  };
  FakeClock clock_;
  SymbolCatalog catalog_;
  Exchange exchange_;
  std::vector<Published> published_;
};

TEST_F(ExchangeTest, ProbeSeesTheLockFreeOutsideThePublisher) {
  // The probe itself can tell: with nobody inside the exchange, the lock is free.
  bool held = true;
  std::thread probe([&] { held = exchange_.LockedElsewhereForTest(); });
  probe.join();
  EXPECT_FALSE(held);
}

TEST_F(ExchangeTest, TransactPublishesUnderTheLock) {
  PlaceResting("BUY", Mid() - D("500"));
  EXPECT_GE(ExpectAllUnderTheLock(), 1u);  // at least the order's CREATE
}

TEST_F(ExchangeTest, APriceMoveThatFillsPublishesUnderTheLock) {
  const Dec mid = Mid();
  PlaceResting("BUY", mid - D("500"));
  ExpectAllUnderTheLock();
  exchange_.SetPrice(0, mid - D("1000"));  // crosses the resting buy
  EXPECT_GE(ExpectAllUnderTheLock(), 2u);  // the FILLED order push and the position
}

TEST_F(ExchangeTest, MarketStepsAndTradesThatFillPublishUnderTheLock) {
  // Orders on both sides one tick from the book: a few steps and trades cross some of them.
  const Dec mid = Mid();
  for (int i = 1; i <= 20; ++i) {
    PlaceResting("BUY", mid - D("0.1") * Dec::FromInt(i));
    PlaceResting("SELL", mid + D("0.1") * Dec::FromInt(i));
  }
  ExpectAllUnderTheLock();
  size_t fills = 0;
  for (int i = 0; i < 200 && fills == 0; ++i) {
    clock_.Advance(std::chrono::milliseconds(100));
    exchange_.Step();
    (void)exchange_.GenerateTrades();
    fills += ExpectAllUnderTheLock();
  }
  EXPECT_GT(fills, 0u) << "no step or trade crossed a resting order; the test exercised nothing";
}

}  // namespace
}  // namespace bx::sim

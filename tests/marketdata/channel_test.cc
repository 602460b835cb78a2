// Exchange channel names and candle boundaries.
#include "services/marketdata/channel.h"

#include <gtest/gtest.h>

#include "common/decimal.h"
#include "common/time_util.h"

namespace bx::md {
namespace {

TEST(Channel, ParsesEveryStreamedChannel) {
  auto t = ParseExchangeChannel("trade");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->channel, v1::CHANNEL_TRADE);
  EXPECT_FALSE(t->is_state());
  auto b = ParseExchangeChannel("depth_book5");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->channel, v1::CHANNEL_ORDER_BOOK);
  EXPECT_EQ(b->depth, 5u);
  EXPECT_TRUE(b->is_state());
  EXPECT_EQ(ParseExchangeChannel("ticker")->channel, v1::CHANNEL_TICKER);
  EXPECT_EQ(ParseExchangeChannel("price")->channel, v1::CHANNEL_MARK_PRICE);
  auto k = ParseExchangeChannel("market_kline_1min");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->channel, v1::CHANNEL_KLINE);
  EXPECT_EQ(k->interval, v1::KLINE_INTERVAL_1M);
  EXPECT_EQ(k->price_type, v1::PRICE_TYPE_LAST);
  auto m = ParseExchangeChannel("mark_kline_60min");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->interval, v1::KLINE_INTERVAL_1H);
  EXPECT_EQ(m->price_type, v1::PRICE_TYPE_MARK);
  // The official Java demo's spelling of market_kline_.
  EXPECT_EQ(ParseExchangeChannel("last_kline_1day")->price_type, v1::PRICE_TYPE_LAST);
  EXPECT_FALSE(ParseExchangeChannel("depth_books"));
  EXPECT_FALSE(ParseExchangeChannel("depth_book20"));
  EXPECT_FALSE(ParseExchangeChannel("market_kline_2min"));
  EXPECT_FALSE(ParseExchangeChannel("nope"));
}

TEST(Channel, NamesRoundTrip) {
  for (int i = v1::KLINE_INTERVAL_1M; i <= v1::KLINE_INTERVAL_1MONTH; ++i) {
    for (auto pt : {v1::PRICE_TYPE_LAST, v1::PRICE_TYPE_MARK}) {
      ChannelSpec spec{.channel = v1::CHANNEL_KLINE, .interval = static_cast<v1::KlineInterval>(i),
                       .price_type = pt};
      std::string name = ExchangeChannelName(spec);
      auto back = ParseExchangeChannel(name);
      ASSERT_TRUE(back) << name;
      EXPECT_EQ(*back, spec) << name;
    }
  }
  for (uint32_t d : {1u, 5u, 15u}) {
    ChannelSpec spec{.channel = v1::CHANNEL_ORDER_BOOK, .depth = d};
    EXPECT_EQ(*ParseExchangeChannel(ExchangeChannelName(spec)), spec);
  }
  EXPECT_EQ(ExchangeChannelName({.channel = v1::CHANNEL_ORDER_BOOK, .depth = 7}), "");
  EXPECT_EQ(TopicKey("trade", "BTCUSDT"), "trade:BTCUSDT");
  EXPECT_EQ(RestIntervalName(v1::KLINE_INTERVAL_1MONTH), "1M");
  EXPECT_EQ(RestIntervalName(v1::KLINE_INTERVAL_3M), "");
}

TEST(Channel, CandleOpenTimes) {
  const int64_t ts = *ParseIso8601Ms("2026-09-23T13:47:52.123Z");
  EXPECT_EQ(CandleOpenTimeMs(v1::KLINE_INTERVAL_1M, ts), *ParseIso8601Ms("2026-09-23T13:47:00Z"));
  EXPECT_EQ(CandleOpenTimeMs(v1::KLINE_INTERVAL_15M, ts), *ParseIso8601Ms("2026-09-23T13:45:00Z"));
  EXPECT_EQ(CandleOpenTimeMs(v1::KLINE_INTERVAL_4H, ts), *ParseIso8601Ms("2026-09-23T12:00:00Z"));
  EXPECT_EQ(CandleOpenTimeMs(v1::KLINE_INTERVAL_1D, ts), *ParseIso8601Ms("2026-09-23T00:00:00Z"));
  // 2026-09-23 is a Wednesday: the week opened Monday the 21st.
  EXPECT_EQ(CandleOpenTimeMs(v1::KLINE_INTERVAL_1W, ts), *ParseIso8601Ms("2026-09-21T00:00:00Z"));
  EXPECT_EQ(CandleOpenTimeMs(v1::KLINE_INTERVAL_1W, *ParseIso8601Ms("2026-09-21T00:00:00Z")),
            *ParseIso8601Ms("2026-09-21T00:00:00Z"));
  EXPECT_EQ(CandleOpenTimeMs(v1::KLINE_INTERVAL_1MONTH, ts), *ParseIso8601Ms("2026-09-01T00:00:00Z"));
  EXPECT_EQ(UpperSymbol("btcUsdt"), "BTCUSDT");
}

TEST(Channel, NextCandleOpenTimes) {
  // Months: where a client resumes paging (x-bitunix-next-start-time-ms); 31 days after
  // 1 February is 4 March, which would skip the March candle.
  const auto at = [](const char* iso) { return *ParseIso8601Ms(iso); };
  EXPECT_EQ(NextCandleOpenTimeMs(v1::KLINE_INTERVAL_1MONTH, at("2026-01-01T00:00:00Z")), at("2026-02-01T00:00:00Z"));
  EXPECT_EQ(NextCandleOpenTimeMs(v1::KLINE_INTERVAL_1MONTH, at("2026-02-01T00:00:00Z")), at("2026-03-01T00:00:00Z"));
  EXPECT_EQ(NextCandleOpenTimeMs(v1::KLINE_INTERVAL_1MONTH, at("2024-02-01T00:00:00Z")), at("2024-03-01T00:00:00Z"));
  EXPECT_EQ(NextCandleOpenTimeMs(v1::KLINE_INTERVAL_1MONTH, at("2026-04-01T00:00:00Z")), at("2026-05-01T00:00:00Z"));
  EXPECT_EQ(NextCandleOpenTimeMs(v1::KLINE_INTERVAL_1MONTH, at("2026-12-01T00:00:00Z")), at("2027-01-01T00:00:00Z"));
  EXPECT_EQ(NextCandleOpenTimeMs(v1::KLINE_INTERVAL_1W, at("2026-09-21T00:00:00Z")), at("2026-09-28T00:00:00Z"));
  EXPECT_EQ(NextCandleOpenTimeMs(v1::KLINE_INTERVAL_1M, at("2026-09-23T13:47:00Z")), at("2026-09-23T13:48:00Z"));
  EXPECT_EQ(NextCandleOpenTimeMs(v1::KLINE_INTERVAL_4H, at("2026-09-23T12:00:00Z")), at("2026-09-23T16:00:00Z"));
}

}  // namespace
}  // namespace bx::md

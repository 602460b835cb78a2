// Encode-once: every event type decodes with the generated protobuf classes, and copies can patch
// seq and the snapshot flag in place.
#include "services/marketdata/event_encoder.h"

#include <gtest/gtest.h>

#include "services/marketdata/batch.h"

namespace bx::md {
namespace {

using common_v1::StreamStatus;

v1::MarketEvent Decode(const std::string& bytes, const EventLayout& layout) {
  v1::MarketEvent e;
  EXPECT_TRUE(DecodeEvent(bytes, layout, &e));
  return e;
}

TEST(EventEncoder, TradeDecodesAndPatches) {
  EventEncoder enc;
  std::string bytes;
  TradeView t{"68621.4", "0.7142", common_v1::SIDE_BUY, 1775540872000};
  EventLayout layout = enc.Trade({.symbol = "BTCUSDT", .channel = v1::CHANNEL_TRADE,
                                  .exchange_ts_ms = 1775540872598, .gateway_ts_ns = 123456789},
                                 t, &bytes);
  v1::MarketEvent e = Decode(bytes, layout);
  EXPECT_EQ(e.seq(), 0u);
  EXPECT_EQ(e.symbol(), "BTCUSDT");
  EXPECT_EQ(e.channel(), v1::CHANNEL_TRADE);
  EXPECT_EQ(e.exchange_ts_ms(), 1775540872598);
  EXPECT_EQ(e.gateway_ts_ns(), 123456789);
  EXPECT_FALSE(e.snapshot());
  ASSERT_TRUE(e.has_trade());
  EXPECT_EQ(e.trade().price(), "68621.4");
  EXPECT_EQ(e.trade().qty(), "0.7142");
  EXPECT_EQ(e.trade().side(), common_v1::SIDE_BUY);
  EXPECT_EQ(e.trade().trade_time_ms(), 1775540872000);

  // The bytes are one SubscribeResponse.events entry; copies patch seq and snapshot.
  std::string copy = bytes;
  PatchSeq(copy.data(), layout, 0x0102030405060708ull);
  copy[layout.snapshot_offset] = 1;
  v1::SubscribeResponse resp;
  ASSERT_TRUE(resp.ParseFromString(copy + copy));
  ASSERT_EQ(resp.events_size(), 2);
  EXPECT_EQ(resp.events(1).seq(), 0x0102030405060708ull);
  EXPECT_TRUE(resp.events(1).snapshot());
  EXPECT_EQ(resp.events(1).trade().price(), "68621.4");
}

TEST(EventEncoder, BookTickerPriceKline) {
  EventEncoder enc;
  std::string bytes;
  std::vector<LevelView> bids = {{"86699.6", "2.274"}, {"86699.5", "2.7407"}};
  std::vector<LevelView> asks = {{"86699.7", "0.7095"}};
  auto layout = enc.Book({.symbol = "BTCUSDT", .channel = v1::CHANNEL_ORDER_BOOK, .exchange_ts_ms = 5}, bids,
                         asks, 15, &bytes);
  auto e = Decode(bytes, layout);
  ASSERT_TRUE(e.has_order_book());
  ASSERT_EQ(e.order_book().bids_size(), 2);
  EXPECT_EQ(e.order_book().bids(1).price(), "86699.5");
  EXPECT_EQ(e.order_book().bids(1).qty(), "2.7407");
  EXPECT_EQ(e.order_book().asks(0).price(), "86699.7");
  EXPECT_EQ(e.order_book().depth(), 15u);

  // An empty book still carries its (empty) payload, so the oneof is set.
  layout = enc.Book({.symbol = "X", .channel = v1::CHANNEL_ORDER_BOOK}, {}, {}, 0, &bytes);
  EXPECT_TRUE(Decode(bytes, layout).has_order_book());

  TickerView t{"BTCUSDT", "86688.2", "85567", "86815.6", "85080", "27478.1701", "2362759522.50052", "1.3103182302"};
  layout = enc.Ticker({.symbol = "BTCUSDT", .channel = v1::CHANNEL_TICKER}, t, "86690", &bytes);
  e = Decode(bytes, layout);
  EXPECT_EQ(e.ticker().last_price(), "86688.2");
  EXPECT_EQ(e.ticker().open_price(), "85567");
  EXPECT_EQ(e.ticker().high_price(), "86815.6");
  EXPECT_EQ(e.ticker().low_price(), "85080");
  EXPECT_EQ(e.ticker().base_volume(), "27478.1701");
  EXPECT_EQ(e.ticker().quote_volume(), "2362759522.50052");
  EXPECT_EQ(e.ticker().change_percent(), "1.3103182302");
  EXPECT_EQ(e.ticker().mark_price(), "86690");

  PriceView p{"86720.6", "86688.3", "-0.00077", 1790121600000, 1790150400000};
  layout = enc.MarkPrice({.symbol = "BTCUSDT", .channel = v1::CHANNEL_MARK_PRICE}, p, &bytes);
  e = Decode(bytes, layout);
  EXPECT_EQ(e.mark_price().mark_price(), "86688.3");
  EXPECT_EQ(e.mark_price().index_price(), "86720.6");
  EXPECT_EQ(e.mark_price().funding_rate(), "-0.0000077");
  EXPECT_EQ(e.mark_price().funding_rate_percent(), "-0.00077");
  EXPECT_EQ(e.mark_price().funding_time_ms(), 1790121600000);
  EXPECT_EQ(e.mark_price().next_funding_time_ms(), 1790150400000);

  KlineView k{"63404.6", "63404.8", "63404.5", "63404.7", "0.2413", "15299.54977"};
  layout = enc.Kline({.symbol = "BTCUSDT", .channel = v1::CHANNEL_KLINE}, k, v1::KLINE_INTERVAL_1M,
                     v1::PRICE_TYPE_LAST, 1786650720000, &bytes);
  e = Decode(bytes, layout);
  EXPECT_EQ(e.kline().interval(), v1::KLINE_INTERVAL_1M);
  EXPECT_EQ(e.kline().price_type(), v1::PRICE_TYPE_LAST);
  EXPECT_EQ(e.kline().open_time_ms(), 1786650720000);
  EXPECT_EQ(e.kline().open(), "63404.6");
  EXPECT_EQ(e.kline().high(), "63404.8");
  EXPECT_EQ(e.kline().low(), "63404.5");
  EXPECT_EQ(e.kline().close(), "63404.7");
  EXPECT_EQ(e.kline().base_volume(), "0.2413");
  EXPECT_EQ(e.kline().quote_volume(), "15299.54977");
}

TEST(EventEncoder, StatusAndGap) {
  EventEncoder enc;
  std::string bytes;
  auto layout = enc.Status({.channel = v1::CHANNEL_STATUS, .gateway_ts_ns = 9}, StreamStatus::STATE_RECONNECTING,
                           "websocket closed", {"BTCUSDT", "ETHUSDT"}, &bytes, {"trade:BTCUSDT", "trade:ETHUSDT"});
  auto e = Decode(bytes, layout);
  EXPECT_EQ(e.channel(), v1::CHANNEL_STATUS);
  EXPECT_EQ(e.symbol(), "");
  EXPECT_EQ(e.status().state(), StreamStatus::STATE_RECONNECTING);
  EXPECT_EQ(e.status().reason(), "websocket closed");
  ASSERT_EQ(e.status().symbols_size(), 2);
  EXPECT_EQ(e.status().symbols(1), "ETHUSDT");
  ASSERT_EQ(e.status().topics_size(), 2);
  EXPECT_EQ(e.status().topics(1), "trade:ETHUSDT");

  layout = enc.Gap({.symbol = "BTCUSDT", .channel = v1::CHANNEL_TRADE}, common_v1::Gap::REASON_SLOW_CONSUMER, 42,
                   {"BTCUSDT"}, &bytes, {"trade:BTCUSDT"});
  e = Decode(bytes, layout);
  EXPECT_EQ(e.gap().reason(), common_v1::Gap::REASON_SLOW_CONSUMER);
  EXPECT_EQ(e.gap().missed_events(), 42u);
  EXPECT_EQ(e.gap().symbols(0), "BTCUSDT");
  EXPECT_EQ(e.gap().topics(0), "trade:BTCUSDT");
}

TEST(BatchBuilder, OrdersByKeyAndNumbers) {
  EventEncoder enc;
  std::vector<std::string> bytes(3);
  std::vector<std::string> prices = {"1", "2", "3"};
  std::vector<EventLayout> layouts;
  for (int i = 0; i < 3; ++i) {
    TradeView t{prices[i], "1", common_v1::SIDE_SELL, 1};
    layouts.push_back(enc.Trade({.symbol = "S", .channel = v1::CHANNEL_TRADE}, t, &bytes[i]));
  }
  BatchBuilder b;
  b.Reset(10, 1 << 20);
  b.Add(bytes[2], layouts[2], {30, 0}, 300);
  b.Add(bytes[0], layouts[0], {10, 0}, 100, /*snapshot=*/true);
  b.Add(bytes[1], layouts[1], {20, 0}, 200);
  uint64_t seq = 7;
  BatchBuffer out = b.Finish(&seq);
  EXPECT_EQ(seq, 10u);
  EXPECT_EQ(out.events(), 3u);
  EXPECT_EQ(out.oldest_recv_ns(), 100);
  v1::SubscribeResponse resp;
  ASSERT_TRUE(resp.ParseFromArray(out.data(), static_cast<int>(out.size())));
  ASSERT_EQ(resp.events_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(resp.events(i).seq(), 7u + i);
    EXPECT_EQ(resp.events(i).trade().price(), std::to_string(i + 1));
  }
  EXPECT_TRUE(resp.events(0).snapshot());
  EXPECT_FALSE(resp.events(1).snapshot());
  // The builder is reusable.
  b.Reset(1, 1 << 20);
  b.Add(bytes[0], layouts[0], {1, 0}, 0);
  EXPECT_FALSE(b.HasRoom());
  out = b.Finish(&seq);
  EXPECT_EQ(out.events(), 1u);
}

// Batches of changing sizes through one builder: a new batch starts at about the last one's size
// and still grows past it, small and large, in order, every event numbered.
TEST(BatchBuilder, BatchesSmallerAndLargerThanTheLastOneKeepEveryEventInOrder) {
  EventEncoder enc;
  std::vector<std::string> bytes(64);
  std::vector<EventLayout> layouts;
  for (int i = 0; i < 64; ++i) {
    // Prices of growing length: events of different sizes.
    const std::string price = std::to_string(i) + std::string(static_cast<size_t>(i), '0');
    TradeView t{price, "1", common_v1::SIDE_BUY, i};
    layouts.push_back(enc.Trade({.symbol = "S", .channel = v1::CHANNEL_TRADE}, t, &bytes[static_cast<size_t>(i)]));
  }
  BatchBuilder b;
  uint64_t seq = 1;
  for (const int n : {3000, 1, 5000, 10, 2, 4000}) {
    b.Reset(100000, 64 << 20);
    for (int i = 0; i < n; ++i) {
      const auto k = static_cast<size_t>(i % 64);
      b.Add(bytes[k], layouts[k], {static_cast<uint64_t>(i + 1), 0}, 1);
    }
    const uint64_t first = seq;
    BatchBuffer out = b.Finish(&seq);
    ASSERT_EQ(out.events(), static_cast<size_t>(n));
    v1::SubscribeResponse resp;
    ASSERT_TRUE(resp.ParseFromArray(out.data(), static_cast<int>(out.size()))) << n;
    ASSERT_EQ(resp.events_size(), n);
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(resp.events(i).seq(), first + static_cast<uint64_t>(i));
      ASSERT_EQ(resp.events(i).trade().trade_time_ms(), i % 64) << "batch of " << n << ", event " << i;
    }
  }
}

}  // namespace
}  // namespace bx::md

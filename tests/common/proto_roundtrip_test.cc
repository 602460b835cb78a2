// The API contract round-trips through the wire and JSON forms clients in other languages use.
#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include "bitunix/common/v1/common.pb.h"
#include "bitunix/marketdata/v1/marketdata.pb.h"
#include "bitunix/orders/v1/orders.pb.h"

namespace {

namespace md = bitunix::marketdata::v1;
namespace ord = bitunix::orders::v1;
namespace cmn = bitunix::common::v1;

TEST(Proto, MarketEventBatchRoundTrip) {
  md::SubscribeResponse batch;
  auto* e = batch.add_events();
  e->set_seq(42);
  e->set_symbol("BTCUSDT");
  e->set_channel(md::CHANNEL_TRADE);
  e->set_exchange_ts_ms(1775540872598);
  e->set_gateway_ts_ns(1775540872598123456);
  e->mutable_trade()->set_price("68621.4");
  e->mutable_trade()->set_qty("0.7142");
  e->mutable_trade()->set_side(cmn::SIDE_BUY);
  auto* s = batch.add_events();
  s->set_seq(43);
  s->mutable_status()->set_state(cmn::StreamStatus::STATE_RECONNECTING);
  auto* g = batch.add_events();
  g->set_seq(44);
  g->mutable_gap()->set_reason(cmn::Gap::REASON_SLOW_CONSUMER);
  g->mutable_gap()->set_missed_events(17);

  std::string wire;
  ASSERT_TRUE(batch.SerializeToString(&wire));
  md::SubscribeResponse back;
  ASSERT_TRUE(back.ParseFromString(wire));
  ASSERT_EQ(back.events_size(), 3);
  EXPECT_EQ(back.events(0).trade().price(), "68621.4");  // decimals stay strings, exactly
  EXPECT_EQ(back.events(0).seq(), 42u);
  EXPECT_EQ(back.events(1).payload_case(), md::MarketEvent::kStatus);
  EXPECT_EQ(back.events(2).gap().missed_events(), 17u);
}

TEST(Proto, SeqIsFixed64SoItCanBePatchedInPlace) {
  // The gateway encodes an event once and patches the per-stream seq in each subscriber's copy:
  // that relies on field 1 being fixed64 at the start of the encoding.
  md::MarketEvent e;
  e.set_seq(0x0102030405060708ULL);
  e.set_symbol("X");
  std::string wire = e.SerializeAsString();
  ASSERT_GE(wire.size(), 9u);
  EXPECT_EQ(static_cast<unsigned char>(wire[0]), 0x09);  // field 1, wire type 1 (64-bit)
  EXPECT_EQ(static_cast<unsigned char>(wire[1]), 0x08);  // little-endian
}

TEST(Proto, JsonNamesAreCamelCaseAndEnumsByName) {
  md::SubscribeRequest req;
  std::string json = R"({"symbols":["BTCUSDT"],"channels":["CHANNEL_TRADE","CHANNEL_ORDER_BOOK"],"bookDepth":5})";
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &req).ok());
  EXPECT_EQ(req.symbols(0), "BTCUSDT");
  EXPECT_EQ(req.channels(1), md::CHANNEL_ORDER_BOOK);
  EXPECT_EQ(req.book_depth(), 5u);
}

TEST(Proto, PlaceOrderRoundTrip) {
  ord::PlaceOrderRequest req;
  req.set_symbol("BTCUSDT");
  req.set_side(cmn::SIDE_SELL);
  req.set_type(ord::ORDER_TYPE_LIMIT);
  req.set_qty("0.009");
  req.set_price("105459.89");
  req.set_client_id("bot-1");
  req.mutable_tpsl()->set_tp_price("110000");
  req.mutable_tpsl()->set_tp_stop_type(ord::STOP_TYPE_MARK_PRICE);
  ord::PlaceOrderRequest back;
  ASSERT_TRUE(back.ParseFromString(req.SerializeAsString()));
  EXPECT_EQ(back.price(), "105459.89");
  EXPECT_EQ(back.tpsl().tp_stop_type(), ord::STOP_TYPE_MARK_PRICE);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(back, &json).ok());
  EXPECT_NE(json.find("\"clientId\":\"bot-1\""), std::string::npos) << json;
}

TEST(Proto, EveryEnumStartsWithUnspecified) {
  const google::protobuf::FileDescriptor* files[] = {
      md::MarketEvent::descriptor()->file(), ord::Order::descriptor()->file(),
      cmn::Gap::descriptor()->file()};
  int enums = 0;
  for (const auto* f : files) {
    auto check = [&](const google::protobuf::EnumDescriptor* e) {
      ++enums;
      ASSERT_GT(e->value_count(), 0);
      EXPECT_EQ(e->value(0)->number(), 0) << e->full_name();
      EXPECT_NE(e->value(0)->name().find("UNSPECIFIED"), std::string::npos) << e->full_name();
    };
    for (int i = 0; i < f->enum_type_count(); ++i) check(f->enum_type(i));
    for (int m = 0; m < f->message_type_count(); ++m) {
      for (int i = 0; i < f->message_type(m)->enum_type_count(); ++i) check(f->message_type(m)->enum_type(i));
    }
  }
  EXPECT_GT(enums, 15);
}

}  // namespace

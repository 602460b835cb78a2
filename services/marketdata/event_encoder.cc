#include "services/marketdata/event_encoder.h"

#include <cassert>

#include "common/decimal.h"
#include "common/time_util.h"
#include "services/marketdata/proto_wire.h"

namespace bx::md {

using wire::PutInt64Field;
using wire::PutMessageField;
using wire::PutStringField;
using wire::PutVarintField;

namespace {

// MarketEvent field numbers.
constexpr uint32_t kSeq = 1, kSymbol = 2, kChannel = 3, kExchangeTs = 4, kGatewayTs = 5, kSnapshot = 6;
constexpr uint32_t kTrade = 10, kOrderBook = 11, kTicker = 12, kMarkPrice = 13, kKline = 14,
                   kStatus = 15, kGap = 16;

void PutLevels(std::string* out, std::string* scratch, uint32_t field, const std::vector<LevelView>& levels) {
  for (const auto& l : levels) {
    scratch->clear();
    PutStringField(scratch, 1, l.price);
    PutStringField(scratch, 2, l.qty);
    PutMessageField(out, field, *scratch);
  }
}

}  // namespace

EventLayout EventEncoder::Finish(const EventHeader& h, uint32_t payload_field, std::string* out) {
  body_.clear();
  wire::PutTag(&body_, kSeq, wire::kFixed64);
  wire::PutFixed64(&body_, 0);
  PutStringField(&body_, kSymbol, h.symbol);
  PutVarintField(&body_, kChannel, static_cast<uint64_t>(h.channel));
  PutInt64Field(&body_, kExchangeTs, h.exchange_ts_ms);
  PutInt64Field(&body_, kGatewayTs, h.gateway_ts_ns);
  wire::PutTag(&body_, kSnapshot, wire::kVarint);
  const size_t snapshot_in_body = body_.size();
  body_.push_back(h.snapshot ? 1 : 0);  // explicit even when false: copies may patch it
  PutMessageField(&body_, payload_field, payload_);

  out->clear();
  wire::PutTag(out, 1, wire::kLengthDelimited);  // SubscribeResponse.events
  wire::PutVarint(out, body_.size());
  const size_t body_offset = out->size();
  out->append(body_);
  EventLayout layout;
  layout.body_offset = static_cast<uint16_t>(body_offset);
  layout.seq_offset = static_cast<uint16_t>(body_offset + 1);
  layout.snapshot_offset = static_cast<uint16_t>(body_offset + snapshot_in_body);
  return layout;
}

namespace {

size_t StringFieldSize(std::string_view v) { return v.empty() ? 0 : 1 + wire::VarintSize(v.size()) + v.size(); }
size_t VarintFieldSize(uint64_t v) { return v == 0 ? 0 : 1 + wire::VarintSize(v); }

}  // namespace

// The hot path (one event per trade at firehose rates): sizes first, then one pass into `out`.
EventLayout EventEncoder::Trade(const EventHeader& h, const TradeView& t, std::string* out) {
  const size_t payload = StringFieldSize(t.price) + StringFieldSize(t.qty) +
                         VarintFieldSize(static_cast<uint64_t>(t.side)) +
                         VarintFieldSize(static_cast<uint64_t>(t.time_ms));
  const size_t body = 9 + StringFieldSize(h.symbol) + VarintFieldSize(static_cast<uint64_t>(h.channel)) +
                      VarintFieldSize(static_cast<uint64_t>(h.exchange_ts_ms)) +
                      VarintFieldSize(static_cast<uint64_t>(h.gateway_ts_ns)) + 2 + 1 +
                      wire::VarintSize(payload) + payload;
  const size_t total = 1 + wire::VarintSize(body) + body;
  out->resize(total);  // a reused scratch string: no allocation once it has grown
  char* const begin = out->data();
  char* p = wire::WriteTag(begin, 1, wire::kLengthDelimited);
  p = wire::WriteVarint(p, body);
  const size_t body_offset = static_cast<size_t>(p - begin);
  p = wire::WriteTag(p, kSeq, wire::kFixed64);
  p = wire::WriteFixed64(p, 0);
  p = wire::WriteStringField(p, kSymbol, h.symbol);
  p = wire::WriteVarintField(p, kChannel, static_cast<uint64_t>(h.channel));
  p = wire::WriteVarintField(p, kExchangeTs, static_cast<uint64_t>(h.exchange_ts_ms));
  p = wire::WriteVarintField(p, kGatewayTs, static_cast<uint64_t>(h.gateway_ts_ns));
  p = wire::WriteTag(p, kSnapshot, wire::kVarint);
  const size_t snapshot_offset = static_cast<size_t>(p - begin);
  *p++ = h.snapshot ? 1 : 0;
  p = wire::WriteTag(p, kTrade, wire::kLengthDelimited);
  p = wire::WriteVarint(p, payload);
  p = wire::WriteStringField(p, 1, t.price);
  p = wire::WriteStringField(p, 2, t.qty);
  p = wire::WriteVarintField(p, 3, static_cast<uint64_t>(t.side));
  p = wire::WriteVarintField(p, 4, static_cast<uint64_t>(t.time_ms));
  assert(p == begin + total);
  EventLayout layout;
  layout.body_offset = static_cast<uint16_t>(body_offset);
  layout.seq_offset = static_cast<uint16_t>(body_offset + 1);
  layout.snapshot_offset = static_cast<uint16_t>(snapshot_offset);
  return layout;
}

EventLayout EventEncoder::Book(const EventHeader& h, const std::vector<LevelView>& bids,
                               const std::vector<LevelView>& asks, uint32_t depth, std::string* out) {
  payload_.clear();
  PutLevels(&payload_, &level_, 1, bids);
  PutLevels(&payload_, &level_, 2, asks);
  PutVarintField(&payload_, 3, depth);
  return Finish(h, kOrderBook, out);
}

EventLayout EventEncoder::Ticker(const EventHeader& h, const TickerView& t, std::string_view mark_price,
                                 std::string* out) {
  payload_.clear();
  PutStringField(&payload_, 1, t.last);
  PutStringField(&payload_, 2, t.open);
  PutStringField(&payload_, 3, t.high);
  PutStringField(&payload_, 4, t.low);
  PutStringField(&payload_, 5, t.base_volume);
  PutStringField(&payload_, 6, t.quote_volume);
  PutStringField(&payload_, 7, t.change_percent);
  PutStringField(&payload_, 8, mark_price);
  return Finish(h, kTicker, out);
}

EventLayout EventEncoder::MarkPrice(const EventHeader& h, const PriceView& p, std::string* out) {
  payload_.clear();
  PutStringField(&payload_, 1, p.mark_price);
  PutStringField(&payload_, 2, p.index_price);
  if (!p.funding_rate_percent.empty()) {
    // The parser only hands over decimals, so the exact shift cannot fail here.
    auto fraction = ShiftDecimalLeft(p.funding_rate_percent, 2);
    PutStringField(&payload_, 3, fraction ? std::string_view(*fraction) : std::string_view());
  }
  PutStringField(&payload_, 4, p.funding_rate_percent);
  PutInt64Field(&payload_, 5, p.funding_time_ms);
  PutInt64Field(&payload_, 6, p.next_funding_time_ms);
  return Finish(h, kMarkPrice, out);
}

EventLayout EventEncoder::Kline(const EventHeader& h, const KlineView& k, v1::KlineInterval interval,
                                v1::PriceType price_type, int64_t open_time_ms, std::string* out) {
  payload_.clear();
  PutVarintField(&payload_, 1, static_cast<uint64_t>(interval));
  PutVarintField(&payload_, 2, static_cast<uint64_t>(price_type));
  PutInt64Field(&payload_, 3, open_time_ms);
  PutStringField(&payload_, 4, k.open);
  PutStringField(&payload_, 5, k.high);
  PutStringField(&payload_, 6, k.low);
  PutStringField(&payload_, 7, k.close);
  PutStringField(&payload_, 8, k.base_volume);
  PutStringField(&payload_, 9, k.quote_volume);
  return Finish(h, kKline, out);
}

EventLayout EventEncoder::Status(const EventHeader& h, common_v1::StreamStatus::State state,
                                 std::string_view reason, const std::vector<std::string>& symbols,
                                 std::string* out, const std::vector<std::string>& topics) {
  payload_.clear();
  PutVarintField(&payload_, 1, static_cast<uint64_t>(state));
  PutStringField(&payload_, 2, reason);
  for (const auto& s : symbols) PutMessageField(&payload_, 3, s);  // repeated string: same wire form
  for (const auto& t : topics) PutMessageField(&payload_, 4, t);
  return Finish(h, kStatus, out);
}

EventLayout EventEncoder::Gap(const EventHeader& h, common_v1::Gap::Reason reason, uint64_t missed,
                              const std::vector<std::string>& symbols, std::string* out,
                              const std::vector<std::string>& topics) {
  payload_.clear();
  PutVarintField(&payload_, 1, static_cast<uint64_t>(reason));
  PutVarintField(&payload_, 2, missed);
  for (const auto& s : symbols) PutMessageField(&payload_, 3, s);
  for (const auto& t : topics) PutMessageField(&payload_, 4, t);
  return Finish(h, kGap, out);
}

bool DecodeEvent(std::string_view encoded, const EventLayout& layout, v1::MarketEvent* out) {
  if (encoded.size() < layout.body_offset) return false;
  return out->ParseFromArray(encoded.data() + layout.body_offset,
                             static_cast<int>(encoded.size() - layout.body_offset));
}

void PatchSeq(char* event_copy, const EventLayout& layout, uint64_t seq) {
  wire::PatchFixed64(event_copy + layout.seq_offset, seq);
}

}  // namespace bx::md

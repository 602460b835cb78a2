// Encodes each market event ONCE into its protobuf wire form, shared by every subscriber.
//
// The bytes of an encoded event are one `events` entry of a SubscribeResponse (field 1 tag,
// length, MarketEvent), so a batch is a plain concatenation of event copies. `seq` (fixed64,
// field 1 of MarketEvent) is always written first, so every copy can patch its 8 bytes in place;
// `snapshot` is always written explicitly (even as false) so a copy can turn it on: the cached
// latest state doubles as the late joiner's snapshot without a second encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bitunix/common/v1/common.pb.h"
#include "bitunix/marketdata/v1/marketdata.pb.h"
#include "services/marketdata/frame_parser.h"

namespace bx::md {

namespace common_v1 = ::bitunix::common::v1;

/// Where the patchable bytes of one encoded event are.
struct EventLayout {
  uint16_t seq_offset = 0;       ///< 8 bytes of little-endian seq
  uint16_t snapshot_offset = 0;  ///< one byte, 0 or 1
  uint16_t body_offset = 0;      ///< start of the MarketEvent message (after tag and length)
};

/// The envelope fields every event has.
struct EventHeader {
  std::string_view symbol;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  int64_t exchange_ts_ms = 0;
  int64_t gateway_ts_ns = 0;
  bool snapshot = false;
};

/// Not thread-safe (scratch buffers); one per encoding thread. Every method clears `out` first.
class EventEncoder {
 public:
  EventLayout Trade(const EventHeader& h, const TradeView& t, std::string* out);
  EventLayout Book(const EventHeader& h, const std::vector<LevelView>& bids,
                   const std::vector<LevelView>& asks, uint32_t depth, std::string* out);
  /// `mark_price` is only known from REST tickers; "" for streamed ones.
  EventLayout Ticker(const EventHeader& h, const TickerView& t, std::string_view mark_price,
                     std::string* out);
  /// Converts the exchange's percent funding rate to a fraction exactly (both are sent).
  EventLayout MarkPrice(const EventHeader& h, const PriceView& p, std::string* out);
  EventLayout Kline(const EventHeader& h, const KlineView& k, v1::KlineInterval interval,
                    v1::PriceType price_type, int64_t open_time_ms, std::string* out);
  /// `topics`: "<exchange channel>:<SYMBOL>" keys (StreamStatus.topics / Gap.topics).
  EventLayout Status(const EventHeader& h, common_v1::StreamStatus::State state, std::string_view reason,
                     const std::vector<std::string>& symbols, std::string* out,
                     const std::vector<std::string>& topics = {});
  EventLayout Gap(const EventHeader& h, common_v1::Gap::Reason reason, uint64_t missed,
                  const std::vector<std::string>& symbols, std::string* out,
                  const std::vector<std::string>& topics = {});

 private:
  EventLayout Finish(const EventHeader& h, uint32_t payload_field, std::string* out);

  std::string payload_;
  std::string level_;
  std::string body_;
};

/// Decodes one encoded event (for cache reads by unary calls and for tests).
bool DecodeEvent(std::string_view encoded, const EventLayout& layout, v1::MarketEvent* out);

/// Patches the seq of an event copy.
void PatchSeq(char* event_copy, const EventLayout& layout, uint64_t seq);

}  // namespace bx::md

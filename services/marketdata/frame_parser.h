// Parser for frames of the exchange's public WebSocket: plain trade pushes by a strict reader of
// their one form, everything else (and whatever that reader declines) with simdjson On Demand.
//
// Chosen by measurement over nlohmann/json (docs/MARKETDATA.md). Decimal values are returned as
// views of the text the exchange sent (strings, or the exact token of a JSON number): nothing
// goes through float. Both documented forms are accepted wherever the reference lists conflicts:
// numbers as strings or JSON numbers, `ts` as integer or digit string, trade `t` as ISO-8601 or
// ms, keys in any order (the live order is ch, symbol, ts, data; a re-serialised capture sorts
// them), trade `data` as an array or a single object.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bitunix/common/v1/common.pb.h"
#include "services/marketdata/channel.h"

namespace bx::md {

enum class FrameKind {
  kPush,              ///< a channel push: ch, symbol, ts, data
  kConnect,           ///< {"op":"connect","data":{"result":true}}
  kPingReply,         ///< {"op":"ping","pong":<our ts>,"ping":<server ts>}
  kSubscribeReply,    ///< a subscribe ack or refusal ({"op":"subscribe","data":{"result":false,...}})
  kUnsubscribeReply,  ///< {"op":"unsubscribe","ts":..,"data":"success"}
  kOtherOp,           ///< any other "op" frame (login, error, ...)
};

struct TradeView {
  std::string_view price;
  std::string_view qty;
  bitunix::common::v1::Side side = bitunix::common::v1::SIDE_UNSPECIFIED;
  int64_t time_ms = 0;
};

struct LevelView {
  std::string_view price;
  std::string_view qty;
};

struct TickerView {
  std::string_view symbol;  ///< data.s (the reference says to trust it over the envelope)
  std::string_view last, open, high, low, base_volume, quote_volume, change_percent;
};

struct PriceView {
  std::string_view index_price, mark_price, funding_rate_percent;
  int64_t funding_time_ms = 0;
  int64_t next_funding_time_ms = 0;
};

struct KlineView {
  std::string_view open, high, low, close, base_volume, quote_volume;
};

/// One parsed frame. Views point into the parser's buffers: valid until the next Parse().
struct Frame {
  FrameKind kind = FrameKind::kOtherOp;

  // Control frames.
  std::string_view op;
  bool has_result = false;
  bool result = false;
  std::string_view msg;  ///< data.msg of a refusal, or data when it is a string ("success")
  int64_t pong = 0;      ///< kPingReply: the value we sent

  // Pushes.
  std::string_view ch;
  std::optional<ChannelSpec> spec;  ///< nullopt: a channel the gateway does not stream
  bool full_book = false;           ///< ch == "depth_books" (parsed as a book, never streamed)
  std::string_view symbol;          ///< as sent (the exchange upper-cases it)
  int64_t ts = 0;                   ///< exchange push time, ms
  std::vector<TradeView> trades;
  std::vector<LevelView> bids;
  std::vector<LevelView> asks;
  uint32_t empty_levels = 0;  ///< ["",""] levels skipped (unknown-symbol frames are all empty)
  TickerView ticker;
  PriceView price;
  KlineView kline;
};

/// Not thread-safe: one parser per reader thread. Reuses its buffers across frames.
class FrameParser {
 public:
  struct Options {
    /// Read plain trade pushes without the JSON library first (frame_parser.cc). Off only to
    /// compare with the general parser.
    bool plain_trades = true;
  };
  FrameParser() : FrameParser(Options{}) {}
  explicit FrameParser(Options options);
  ~FrameParser();
  FrameParser(const FrameParser&) = delete;
  FrameParser& operator=(const FrameParser&) = delete;

  /// Parses one text frame. INVALID_ARGUMENT (with a short reason) for anything malformed:
  /// invalid JSON, missing or mistyped fields, non-decimal numbers.
  absl::StatusOr<const Frame*> Parse(std::string_view text);
  /// The last frame parsed. After a failed Parse: what was read before the error (a push's `ch`,
  /// `spec` and `symbol` when its envelope was readable). Valid until the next Parse.
  const Frame& frame() const;
  /// Frames read by the plain trade path (the rest went through the JSON library).
  uint64_t plain_trades_read() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bx::md

// The WebSocket protocol logic without any transport: parsing client messages, naming channels,
// per-connection subscription sets with the live 300-stream cap, and the inbound message-rate rule.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sim/kline_interval.h"

namespace bx::sim {

/// One subscribe/unsubscribe argument. Public: ch + SYMBOL (upper-cased). Private: ch only.
struct StreamArg {
  std::string ch;
  std::string symbol;
  /// "ch:SYMBOL" (or "ch" for private channels): the key used in stats and the hub.
  std::string Key() const { return symbol.empty() ? ch : ch + ":" + symbol; }
  auto operator<=>(const StreamArg&) const = default;
};

struct LoginArgs {
  std::string api_key;
  std::string timestamp;  ///< as sent: number text or string contents
  std::string nonce;
  std::string sign;
};

struct ClientMessage {
  enum class Kind { kPing, kSubscribe, kUnsubscribe, kLogin, kUnknownOp, kInvalid };
  Kind kind = Kind::kInvalid;
  std::string ping_value;  ///< raw JSON of the client's "ping" value, echoed as "pong"
  std::vector<StreamArg> args;
  LoginArgs login;
  std::string error;  ///< kInvalid: why
};

/// Parses one text frame from a client. Never throws.
ClientMessage ParseClientMessage(std::string_view text);

enum class ChannelKind {
  kDepth,      ///< depth_book1/5/15 (levels = 1/5/15) and depth_books (levels = 0: whole book)
  kTrade,
  kTicker,
  kTickers,
  kPrice,
  kKline,      ///< market_kline_*
  kMarkKline,  ///< mark_kline_*
};

struct ChannelInfo {
  ChannelKind kind;
  int depth_levels = 0;
  std::optional<KlineInterval> interval;
};

/// nullopt for an unknown public channel.
std::optional<ChannelInfo> ClassifyPublicChannel(std::string_view ch);
bool IsPrivateChannel(std::string_view ch);

/// A connection's subscriptions: a set (the same stream twice is held once) capped at `max`.
class SubscriptionSet {
 public:
  explicit SubscriptionSet(size_t max) : max_(max) {}
  struct AddResult {
    std::vector<StreamArg> added;  ///< new streams, in request order
    size_t refused = 0;            ///< streams past the cap
  };
  AddResult Add(const std::vector<StreamArg>& args);
  /// Streams actually removed.
  std::vector<StreamArg> Remove(const std::vector<StreamArg>& args);
  const std::set<StreamArg>& streams() const { return streams_; }
  size_t size() const { return streams_.size(); }

 private:
  size_t max_;
  std::set<StreamArg> streams_;
};

/// The live rule "more than N inbound messages per second disconnects": a sliding 1 s window.
class InboundRateRule {
 public:
  explicit InboundRateRule(int max_per_second) : max_(max_per_second) {}
  /// Records one message at `now`; false when the window now holds more than max.
  bool Record(std::chrono::steady_clock::time_point now);

 private:
  int max_;
  std::deque<std::chrono::steady_clock::time_point> window_;
};

}  // namespace bx::sim

// The one simulated account: balance, per-symbol leverage and margin mode, position mode, orders
// (matched against the model's book), positions (ONE_WAY and HEDGE), fills, TP/SL orders and
// funding. Every change appends the private pushes (order, position, balance, tpsl) it causes.
//
// Not thread-safe: the Exchange calls it under its lock.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "sim/decimal.h"
#include "sim/market_model.h"
#include "sim/symbols.h"

namespace bx::sim {

/// A private-channel push produced by an account change: channel ("order", "position",
/// "balance", "tpsl") and the frame's JSON text.
struct PrivatePush {
  std::string ch;
  std::string text;
};

/// An exchange error code and message ({"code":N,"data":null,"msg":...}).
struct ApiError {
  int code = 0;
  std::string msg;
};

/// TP/SL fields as sent (tpPrice, tpStopType, tpOrderType, tpOrderPrice and the sl* four).
struct TpSl {
  std::string tp_price, tp_stop_type, tp_order_type, tp_order_price;
  std::string sl_price, sl_stop_type, sl_order_type, sl_order_price;
  bool has_tp() const { return !tp_price.empty(); }
  bool has_sl() const { return !sl_price.empty(); }
};

/// place_order / batch_order item, values as sent.
struct OrderRequest {
  std::string symbol, side, order_type, qty, price, trade_side, position_id, effect, client_id;
  bool reduce_only = false;
  TpSl tpsl;
};

struct Order {
  std::string order_id, client_id, symbol;
  int sym = 0;
  std::string side, order_type, effect, trade_side, position_id;
  bool reduce_only = false;
  bool closing = false;   ///< reduces a position (ONE_WAY reduce-only, HEDGE CLOSE)
  bool exec_buy = true;   ///< direction the order trades in
  Dec qty, price, filled, avg_price, fee, realized_pnl, frozen;
  std::string status;     ///< NEW, PART_FILLED, FILLED, CANCELED, PART_FILLED_CANCELED
  int leverage = 1;
  std::string margin_mode, position_mode;
  TpSl tpsl;
  int64_t ctime_ns = 0, mtime_ns = 0;
  bool open() const { return status == "NEW" || status == "PART_FILLED"; }
};

struct Position {
  std::string position_id, symbol;
  int sym = 0;
  bool long_side = true;
  Dec qty, entry_value, margin, fees, funding, realized_pnl;
  Dec max_qty, close_value, closed_qty, opened_qty, opened_value;  ///< for history
  int leverage = 1;
  std::string margin_mode, position_mode;
  int64_t ctime_ns = 0, mtime_ns = 0;
  Dec AvgOpen() const { return qty.is_zero() ? Dec() : entry_value / qty; }
};

struct AccountTrade {
  std::string trade_id, order_id, position_id, symbol, side, order_type, margin_mode, position_mode;
  int sym = 0;
  Dec qty, price, fee, realized_pnl;
  int leverage = 1;
  bool maker = false;
  int64_t ctime_ms = 0;
};

struct TpslOrder {
  std::string order_id, position_id, symbol;
  int sym = 0;
  std::string type;  ///< "TPSL" (with quantities) or "POSITION_TPSL" (whole position)
  bool long_side = true;  ///< the position's side, kept once the position is gone
  TpSl spec;
  Dec tp_qty, sl_qty;
  std::string status;  ///< NEW, CANCELED, SYSTEM_CANCELED, FILLED, FAILED
  int64_t ctime_ns = 0, mtime_ns = 0;
};

struct AccountSummary {
  Dec available, frozen, margin, cross_upnl, isolation_upnl;
  Dec isolation_margin, cross_margin, isolation_frozen, cross_frozen;
};

/// Result of a call that may fail with an exchange code.
template <class T>
struct ApiResult {
  std::optional<T> value;
  ApiError error;
  static ApiResult Ok(T v) { return {std::move(v), {}}; }
  static ApiResult Fail(int code, std::string msg) { return {std::nullopt, {code, std::move(msg)}}; }
  bool ok() const { return value.has_value(); }
};

class Account {
 public:
  struct Options {
    Dec balance = Dec::FromInt(100'000);
    Dec taker_fee = Dec::FromUnits(60'000);  ///< 0.0006
    Dec maker_fee = Dec::FromUnits(20'000);  ///< 0.0002
  };
  Account(const SymbolCatalog& catalog, Options options, const Clock& clock);

  using Pushes = std::vector<PrivatePush>;

  /// Validates, checks clientId uniqueness and balance, matches against the book. The order id
  /// and client id (assigned when not given) of the accepted order.
  ApiResult<const Order*> Place(const OrderRequest& req, MarketModel& m, Pushes* out);
  /// By order id (wins) or client id. `symbol` may be empty.
  ApiResult<const Order*> Cancel(const std::string& symbol, const std::string& order_id,
                                 const std::string& client_id, Pushes* out);
  std::vector<const Order*> CancelAll(const std::string& symbol, Pushes* out);
  struct ModifyRequest {
    std::string order_id, client_id, qty, price;
    TpSl tpsl;
  };
  ApiResult<const Order*> Modify(const ModifyRequest& req, MarketModel& m, Pushes* out);
  /// Closes a position at market.
  ApiResult<std::string> FlashClose(const std::string& position_id, MarketModel& m, Pushes* out);
  std::vector<std::string> CloseAll(const std::string& symbol, MarketModel& m, Pushes* out);

  std::optional<ApiError> ChangeLeverage(const std::string& symbol, int leverage, MarketModel& m, Pushes* out);
  std::optional<ApiError> ChangeMarginMode(const std::string& symbol, const std::string& mode);
  std::optional<ApiError> ChangePositionMode(const std::string& mode);
  std::optional<ApiError> AdjustMargin(const std::string& symbol, const std::string& amount, const std::string& side,
                                       const std::string& position_id, MarketModel& m, Pushes* out);

  struct TpslRequest {
    std::string symbol, position_id, order_id;
    TpSl spec;
    std::string tp_qty, sl_qty;
  };
  /// Triggers on the wrong side of the price they watch are refused (30026-30033), quantities
  /// above the position's size too (30038).
  ApiResult<std::string> PlaceTpsl(const TpslRequest& req, bool whole_position, const MarketModel& m, Pushes* out);
  ApiResult<std::string> ModifyTpsl(const TpslRequest& req, bool whole_position, const MarketModel& m, Pushes* out);
  ApiResult<std::string> CancelTpsl(const std::string& symbol, const std::string& order_id, Pushes* out);

  /// After the market moved: resting orders crossed by the book fill (as maker), TP/SL triggers
  /// fire, funding settles.
  void OnMarket(MarketModel& m, Pushes* out);

  // Views.
  const Order* FindOrder(const std::string& order_id, const std::string& client_id) const;
  const std::deque<Order>& orders() const { return orders_; }
  const std::vector<Position>& positions() const { return positions_; }
  const std::deque<Position>& history_positions() const { return history_positions_; }
  const std::deque<AccountTrade>& trades() const { return trades_; }
  const std::deque<TpslOrder>& tpsl_orders() const { return tpsl_; }
  const Position* FindPosition(const std::string& position_id) const;
  int Leverage(int sym) const { return leverage_[static_cast<size_t>(sym)]; }
  const std::string& MarginMode(int sym) const { return margin_mode_[static_cast<size_t>(sym)]; }
  const std::string& position_mode() const { return position_mode_; }
  AccountSummary Summary(const MarketModel& m) const;
  Dec UnrealizedPnl(const Position& p, const MarketModel& m) const;
  const SymbolCatalog& catalog() const { return catalog_; }

 private:
  std::string NextId();
  Order* MutableOrder(const std::string& order_id, const std::string& client_id);
  Position* MutablePosition(const std::string& position_id);
  Position* PositionFor(int sym, bool long_side);
  void ApplyFill(Order& o, Dec qty, Dec price, bool maker, MarketModel& m, Pushes* out);
  void FinishIfDone(Order& o, Pushes* out);
  /// Sets the order's frozen margin and keeps the account's totals (Summary) in step.
  void RefreshFrozen(Order& o);
  void PushOrder(const Order& o, const char* event, Pushes* out) const;
  void PushPosition(const Position& p, const char* event, const MarketModel& m, Pushes* out) const;
  void PushBalance(const MarketModel& m, Pushes* out) const;
  void PushTpsl(const TpslOrder& t, const char* event, Pushes* out) const;
  void ClosePositionRecord(size_t index, const MarketModel& m, Pushes* out);
  void CreateAttachedTpsl(const Order& o, Pushes* out);
  void CheckTpsl(MarketModel& m, Pushes* out);
  void SettleFunding(MarketModel& m, Pushes* out);
  int64_t NowNs() const { return clock_.NowNs(); }

  const SymbolCatalog& catalog_;
  Options options_;
  const Clock& clock_;
  Dec wallet_;
  std::string position_mode_ = "ONE_WAY";
  std::vector<int> leverage_;
  std::vector<std::string> margin_mode_;
  std::vector<int64_t> funding_settled_ms_;
  std::deque<Order> orders_;  // deque: stable addresses for returned pointers
  Dec isolation_frozen_, cross_frozen_;  // sums of the open orders' frozen margin, by mode
  std::map<std::string, size_t> order_index_;
  std::map<std::string, size_t> client_index_;
  std::set<std::string> client_ids_;  // every client id ever used: 30042 on reuse
  std::vector<Position> positions_;
  std::deque<Position> history_positions_;
  std::deque<AccountTrade> trades_;
  std::deque<TpslOrder> tpsl_;
  std::set<std::string> attached_;  // orders whose attached TP/SL exists
  uint64_t id_seq_ = 0;
  int64_t last_id_ms_ = 0;
};

}  // namespace bx::sim

#include "sim/account.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "sim/account_views.h"

namespace bx::sim {
namespace {

constexpr int64_t kIdEpochMs = 1'288'834'974'657;  // snowflake-style ids: 19 digits, like live ids

bool IsOneOf(const std::string& v, std::initializer_list<const char*> options) {
  for (const char* o : options) {
    if (v == o) return true;
  }
  return false;
}

std::optional<ApiError> CheckDecimal(const std::string& name, const std::string& text, int max_digits,
                                     bool positive, Dec* out) {
  auto d = Dec::Parse(text);
  if (!d) return ApiError{10002, absl::StrCat("Parameter error: ", name, " '", text, "' is not a decimal number")};
  if (positive && *d <= Dec()) return ApiError{10002, absl::StrCat("Parameter error: ", name, " must be greater than 0")};
  if (max_digits >= 0 && Dec::FractionDigits(text) > max_digits) {
    return ApiError{10002, absl::StrCat("Parameter error: ", name, " '", text, "' has more than ", max_digits,
                                        " decimal places")};
  }
  *out = *d;
  return std::nullopt;
}

std::optional<ApiError> CheckTpSl(const TpSl& t) {
  for (auto [prefix, price, stop, type, order_price] :
       {std::tuple{"tp", &t.tp_price, &t.tp_stop_type, &t.tp_order_type, &t.tp_order_price},
        std::tuple{"sl", &t.sl_price, &t.sl_stop_type, &t.sl_order_type, &t.sl_order_price}}) {
    if (price->empty()) continue;
    auto d = Dec::Parse(*price);
    if (!d) return ApiError{10002, absl::StrCat("Parameter error: ", prefix, "Price '", *price, "' is not a decimal")};
    if (*d <= Dec()) return ApiError{30041, absl::StrCat(prefix, "Price: trigger price must be greater than 0")};
    if (!stop->empty() && !IsOneOf(*stop, {"MARK_PRICE", "LAST_PRICE", "MARK", "LAST"})) {
      return ApiError{10002, absl::StrCat("Parameter error: ", prefix, "StopType must be MARK_PRICE or LAST_PRICE")};
    }
    if (!type->empty() && !IsOneOf(*type, {"LIMIT", "MARKET"})) {
      return ApiError{10002, absl::StrCat("Parameter error: ", prefix, "OrderType must be LIMIT or MARKET")};
    }
    if (*type == "LIMIT") {
      auto p = Dec::Parse(*order_price);
      if (!p || *p <= Dec()) {
        return ApiError{10002, absl::StrCat("Parameter error: ", prefix, "OrderPrice is required for a LIMIT ", prefix)};
      }
    }
  }
  return std::nullopt;
}

// Which side of the price a TP/SL trigger must lie on (shared/bitunix-api.md §3: "30005-30038 TP/SL
// checks"; the texts are the error table's). A long's take-profit lies above the reference and its
// stop-loss below; a short's the other way round. Without these the simulator accepted a trigger
// on the wrong side and fired it at once, closing the position, where the exchange refuses it.
//
// A position's TP/SL (tpsl/* endpoints) is checked against the price its stop type watches:
// 30026-30033 ("TP price must be greater than last price", ..., one code per side, kind and price).
std::optional<ApiError> CheckPositionTpslSides(const TpSl& t, bool long_side, Dec mark, Dec last) {
  auto watched = [&](const std::string& stop) {
    const bool is_mark = stop == "MARK_PRICE" || stop == "MARK";
    return std::pair<Dec, bool>{is_mark ? mark : last, is_mark};
  };
  if (t.has_tp()) {
    const Dec trig = *Dec::Parse(t.tp_price);
    auto [ref, is_mark] = watched(t.tp_stop_type);
    const char* price = is_mark ? "mark" : "last";
    if (long_side && trig <= ref) {
      return ApiError{is_mark ? 30027 : 30026, absl::StrCat("TP price must be greater than ", price, " price:", ref.ToString())};
    }
    if (!long_side && trig >= ref) {
      return ApiError{is_mark ? 30033 : 30032, absl::StrCat("TP price must be less than ", price, " price:", ref.ToString())};
    }
  }
  if (t.has_sl()) {
    const Dec trig = *Dec::Parse(t.sl_price);
    auto [ref, is_mark] = watched(t.sl_stop_type);
    const char* price = is_mark ? "mark" : "last";
    if (long_side && trig >= ref) {
      return ApiError{is_mark ? 30029 : 30028, absl::StrCat("SL price must be less than ", price, " price:", ref.ToString())};
    }
    if (!long_side && trig <= ref) {
      return ApiError{is_mark ? 30031 : 30030, absl::StrCat("SL price must be greater than ", price, " price:", ref.ToString())};
    }
  }
  return std::nullopt;
}

// An opening order's attached TP/SL (place_order, modify_order) is checked against the price it
// opens at (the limit price, or the side of the book a market order takes): 30007-30010 ("TP
// trigger price is less than average entry price", ...).
std::optional<ApiError> CheckAttachedTpslSides(const TpSl& t, bool long_side, Dec entry) {
  if (t.has_tp()) {
    const Dec trig = *Dec::Parse(t.tp_price);
    if (long_side && trig <= entry) return ApiError{30008, "TP trigger price is less than average entry price"};
    if (!long_side && trig >= entry) return ApiError{30007, "TP trigger price is greater than average entry price"};
  }
  if (t.has_sl()) {
    const Dec trig = *Dec::Parse(t.sl_price);
    if (long_side && trig >= entry) return ApiError{30010, "SL trigger price is greater than average entry price"};
    if (!long_side && trig <= entry) return ApiError{30009, "SL trigger price is less than average entry price"};
  }
  return std::nullopt;
}

// Price protection, as trading_pairs advertises it (minBuyPriceOffset -0.95, maxSellPriceOffset
// 100): a limit price must lie in [mark x 0.05, mark x 101]. It also keeps every notional far
// from the fixed-point range.
std::optional<ApiError> CheckPriceBand(Dec price, Dec mark) {
  const Dec low = mark * Dec::FromUnits(5'000'000);  // 0.05
  const Dec high = mark.MulInt(101);
  if (price < low || price > high) {
    return ApiError{10002, absl::StrCat("Parameter error: price ", price.ToString(), " is outside the allowed range [",
                                        low.ToString(), ", ", high.ToString(), "] around the mark price")};
  }
  return std::nullopt;
}

}  // namespace

Account::Account(const SymbolCatalog& catalog, Options options, const Clock& clock)
    : catalog_(catalog), options_(options), clock_(clock), wallet_(options.balance) {
  const int64_t now = clock_.NowMs();
  for (const auto& s : catalog_.all()) {
    leverage_.push_back(s.default_leverage);
    margin_mode_.push_back("CROSS");
    const int64_t iv = int64_t{s.funding_interval_hours} * 3'600'000;
    funding_settled_ms_.push_back(now / iv * iv);
  }
}

std::string Account::NextId() {
  int64_t ms = std::max(clock_.NowMs(), last_id_ms_);
  if (ms == last_id_ms_) {
    if (++id_seq_ >= (1u << 22)) {
      ++ms;
      id_seq_ = 0;
    }
  } else {
    id_seq_ = 0;
  }
  last_id_ms_ = ms;
  return std::to_string(((ms - kIdEpochMs) << 22) | static_cast<int64_t>(id_seq_));
}

Order* Account::MutableOrder(const std::string& order_id, const std::string& client_id) {
  if (!order_id.empty()) {
    auto it = order_index_.find(order_id);
    return it == order_index_.end() ? nullptr : &orders_[it->second];
  }
  if (!client_id.empty()) {
    auto it = client_index_.find(client_id);
    return it == client_index_.end() ? nullptr : &orders_[it->second];
  }
  return nullptr;
}

const Order* Account::FindOrder(const std::string& order_id, const std::string& client_id) const {
  return const_cast<Account*>(this)->MutableOrder(order_id, client_id);
}

Position* Account::MutablePosition(const std::string& position_id) {
  for (auto& p : positions_) {
    if (p.position_id == position_id) return &p;
  }
  return nullptr;
}

const Position* Account::FindPosition(const std::string& position_id) const {
  return const_cast<Account*>(this)->MutablePosition(position_id);
}

Position* Account::PositionFor(int sym, bool long_side) {
  for (auto& p : positions_) {
    if (p.sym == sym && p.long_side == long_side) return &p;
  }
  return nullptr;
}

Dec Account::UnrealizedPnl(const Position& p, const MarketModel& m) const {
  const Dec diff = m.Mark(p.sym) * p.qty - p.entry_value;
  return p.long_side ? diff : -diff;
}

AccountSummary Account::Summary(const MarketModel& m) const {
  AccountSummary s;
  for (const auto& p : positions_) {
    const Dec upnl = UnrealizedPnl(p, m);
    s.margin += p.margin;
    if (p.margin_mode == "ISOLATION") {
      s.isolation_margin += p.margin;
      s.isolation_upnl += upnl;
    } else {
      s.cross_margin += p.margin;
      s.cross_upnl += upnl;
    }
  }
  // Kept by RefreshFrozen, the one place an order's frozen margin changes: summing every order
  // here made each placement cost O(orders ever placed) once thousands rested.
  s.isolation_frozen = isolation_frozen_;
  s.cross_frozen = cross_frozen_;
  s.frozen = isolation_frozen_ + cross_frozen_;
  s.available = wallet_ - s.margin - s.frozen;
  return s;
}

void Account::RefreshFrozen(Order& o) {
  Dec& total = o.margin_mode == "ISOLATION" ? isolation_frozen_ : cross_frozen_;
  total -= o.frozen;
  if (!o.open() || o.closing || o.order_type != "LIMIT") {
    o.frozen = Dec();
    return;
  }
  o.frozen = (o.qty - o.filled) * o.price / Dec::FromInt(o.leverage);
  total += o.frozen;
}

void Account::PushOrder(const Order& o, const char* event, Pushes* out) const {
  out->push_back({"order", OrderPush(o, event, catalog_.all()[static_cast<size_t>(o.sym)], clock_.NowMs())});
}

void Account::PushPosition(const Position& p, const char* event, const MarketModel& m, Pushes* out) const {
  out->push_back({"position", PositionPush(p, event, *this, m, clock_.NowMs())});
}

void Account::PushBalance(const MarketModel& m, Pushes* out) const {
  out->push_back({"balance", BalancePush(Summary(m), clock_.NowMs())});
}

void Account::PushTpsl(const TpslOrder& t, const char* event, Pushes* out) const {
  out->push_back({"tpsl", TpslPush(t, event, *this, clock_.NowMs())});
}

ApiResult<const Order*> Account::Place(const OrderRequest& req, MarketModel& m, Pushes* out) {
  using R = ApiResult<const Order*>;
  if (req.symbol.empty()) return R::Fail(10002, "Parameter error: symbol is required");
  const SymbolSpec* spec = catalog_.Find(req.symbol);
  if (spec == nullptr || !spec->tradable()) return R::Fail(20015, "this Futures is not allowed to trade.");
  const int sym = catalog_.IndexOf(spec->symbol);
  if (!IsOneOf(req.side, {"BUY", "SELL"})) {
    return R::Fail(10002, absl::StrCat("Parameter error: side '", req.side, "' must be BUY or SELL"));
  }
  if (!IsOneOf(req.order_type, {"LIMIT", "MARKET"})) {
    return R::Fail(10002, absl::StrCat("Parameter error: orderType '", req.order_type, "' must be LIMIT or MARKET"));
  }
  const std::string effect = req.effect.empty() ? "GTC" : req.effect;
  if (!IsOneOf(effect, {"GTC", "IOC", "FOK", "POST_ONLY"})) {
    return R::Fail(10002, absl::StrCat("Parameter error: effect '", effect, "' must be GTC, IOC, FOK or POST_ONLY"));
  }
  if (req.qty.empty()) return R::Fail(10002, "Parameter error: qty is required");
  Dec qty;
  if (auto e = CheckDecimal("qty", req.qty, spec->base_precision, true, &qty)) return R::Fail(e->code, e->msg);
  if (qty < spec->min_qty) {
    return R::Fail(30016, absl::StrCat("The order quantity is below the minimum of ", spec->min_qty.ToString()));
  }
  const Dec max_qty = req.order_type == "LIMIT" ? spec->max_limit_qty : spec->max_market_qty;
  if (qty > max_qty) return R::Fail(30013, absl::StrCat("The order quantity exceeds the maximum of ", max_qty.ToString()));
  Dec price;
  if (req.order_type == "LIMIT") {
    if (req.price.empty()) return R::Fail(10002, "Parameter error: price is required for LIMIT orders");
    if (auto e = CheckDecimal("price", req.price, spec->quote_precision, true, &price)) return R::Fail(e->code, e->msg);
    if (auto e = CheckPriceBand(price, m.Mark(sym))) return R::Fail(e->code, e->msg);
  }
  if (!req.trade_side.empty() && !IsOneOf(req.trade_side, {"OPEN", "CLOSE"})) {
    return R::Fail(10002, absl::StrCat("Parameter error: tradeSide '", req.trade_side, "' must be OPEN or CLOSE"));
  }
  if (req.client_id.size() > 64) return R::Fail(10002, "Parameter error: clientId is longer than 64 characters");
  if (!req.client_id.empty() && client_ids_.count(req.client_id)) return R::Fail(30042, "Client ID duplicate");
  if (auto e = CheckTpSl(req.tpsl)) return R::Fail(e->code, e->msg);

  Order o;
  o.sym = sym;
  o.symbol = spec->symbol;
  o.side = req.side;
  o.order_type = req.order_type;
  o.effect = effect;
  o.trade_side = req.trade_side;
  o.reduce_only = req.reduce_only;
  o.qty = qty;
  o.price = price;
  o.tpsl = req.tpsl;
  o.leverage = leverage_[static_cast<size_t>(sym)];
  o.margin_mode = margin_mode_[static_cast<size_t>(sym)];
  o.position_mode = position_mode_;
  Dec opening = qty;
  if (position_mode_ == "HEDGE") {
    if (req.trade_side.empty()) return R::Fail(10002, "Parameter error: tradeSide is required in HEDGE mode");
    if (req.trade_side == "OPEN") {
      o.exec_buy = req.side == "BUY";
    } else {
      // On a close, side names the position being closed: BUY+CLOSE closes the long (by selling).
      // The position is named by positionId, which the reference marks required with CLOSE.
      if (req.position_id.empty()) {
        return R::Fail(10002, "Parameter error: positionId is required when tradeSide is CLOSE");
      }
      const bool long_side = req.side == "BUY";
      o.exec_buy = !long_side;
      o.closing = true;
      Position* p = MutablePosition(req.position_id);
      if (p == nullptr || p->sym != sym || p->long_side != long_side) {
        return R::Fail(30004, "Position does not exist");
      }
      o.position_id = p->position_id;
      opening = Dec();
      if (o.order_type == "MARKET") o.qty = std::min(o.qty, p->qty);
    }
  } else {
    o.exec_buy = req.side == "BUY";
    if (req.trade_side == "CLOSE") o.reduce_only = true;
    Position* p = PositionFor(sym, true);
    if (p == nullptr) p = PositionFor(sym, false);
    if (o.reduce_only) {
      if (p == nullptr) return R::Fail(30018, "Reduce-only order rejected: no position to reduce");
      if (p->long_side == o.exec_buy) {
        return R::Fail(30019, "Reduce-only order rejected: same direction as the position");
      }
      o.closing = true;
      o.position_id = p->position_id;
      opening = Dec();
      if (o.order_type == "MARKET") o.qty = std::min(o.qty, p->qty);
    } else if (p != nullptr && p->long_side != o.exec_buy) {
      opening = qty > p->qty ? qty - p->qty : Dec();
    }
  }
  if (!o.closing) {
    const Dec entry = o.order_type == "LIMIT" ? price : (o.exec_buy ? m.BestAsk(sym) : m.BestBid(sym));
    if (auto e = CheckAttachedTpslSides(req.tpsl, o.exec_buy, entry)) return R::Fail(e->code, e->msg);
  }
  if (opening > Dec()) {
    const Dec ref = o.order_type == "LIMIT" ? price : (o.exec_buy ? m.BestAsk(sym) : m.BestBid(sym));
    const Dec required = opening * ref / Dec::FromInt(o.leverage) + qty * ref * options_.taker_fee;
    if (required > Summary(m).available) return R::Fail(20003, "Insufficient balance");
  }

  o.order_id = NextId();
  o.client_id = req.client_id.empty() ? NextId() : req.client_id;
  o.status = "NEW";
  o.ctime_ns = o.mtime_ns = NowNs();
  client_ids_.insert(o.client_id);
  orders_.push_back(std::move(o));
  const size_t index = orders_.size() - 1;
  order_index_[orders_[index].order_id] = index;
  client_index_[orders_[index].client_id] = index;
  Order& ord = orders_[index];
  RefreshFrozen(ord);
  PushOrder(ord, "CREATE", out);

  // Match against the book.
  std::vector<Fill> fills;
  bool cancel_rest = false;
  if (ord.order_type == "MARKET") {
    fills = m.Take(sym, ord.exec_buy, ord.qty);
  } else {
    const bool crosses = ord.exec_buy ? m.BestAsk(sym) <= ord.price : m.BestBid(sym) >= ord.price;
    if (crosses && ord.effect == "POST_ONLY") {
      cancel_rest = true;  // would take liquidity: cancelled, never filled
    } else if (crosses) {
      fills = m.Take(sym, ord.exec_buy, ord.qty, ord.price);
      Dec total;
      for (const auto& f : fills) total += f.qty;
      if (ord.effect == "FOK" && total < ord.qty) fills.clear();
      cancel_rest = ord.effect == "IOC" || ord.effect == "FOK";
    } else {
      cancel_rest = ord.effect == "IOC" || ord.effect == "FOK";
    }
  }
  for (const auto& f : fills) {
    ApplyFill(ord, f.qty, f.price, /*maker=*/false, m, out);
    if (!ord.open()) break;
  }
  if (ord.order_type == "MARKET" && ord.open()) cancel_rest = true;
  if (cancel_rest && ord.open()) {
    ord.status = ord.filled.is_zero() ? "CANCELED" : "PART_FILLED_CANCELED";
    ord.mtime_ns = NowNs();
  }
  RefreshFrozen(ord);
  FinishIfDone(ord, out);
  PushBalance(m, out);
  return R::Ok(&ord);
}

void Account::FinishIfDone(Order& o, Pushes* out) {
  if (!o.filled.is_zero() && !o.closing && (o.tpsl.has_tp() || o.tpsl.has_sl())) CreateAttachedTpsl(o, out);
  if (o.open()) {
    if (!o.filled.is_zero()) PushOrder(o, "UPDATE", out);
    return;
  }
  PushOrder(o, "CLOSE", out);
}

void Account::ApplyFill(Order& o, Dec qty, Dec price, bool maker, MarketModel& m, Pushes* out) {
  if (o.closing) {  // a reduce-only / CLOSE order never trades more than the position it reduces
    const Position* p = position_mode_ == "HEDGE" ? FindPosition(o.position_id) : PositionFor(o.sym, !o.exec_buy);
    qty = p == nullptr ? Dec() : std::min(qty, p->qty);
  }
  if (qty <= Dec()) return;
  const int64_t now_ns = NowNs();
  const Dec fee = qty * price * (maker ? options_.maker_fee : options_.taker_fee);
  wallet_ -= fee;
  Dec remaining = qty;
  Dec realized;
  std::string position_id;
  bool fee_booked = false;

  // The part that reduces an opposite position (ONE_WAY) or the targeted one (HEDGE CLOSE).
  Position* reduce = nullptr;
  if (position_mode_ == "HEDGE") {
    if (o.closing) reduce = MutablePosition(o.position_id);
  } else {
    reduce = PositionFor(o.sym, !o.exec_buy);
  }
  if (reduce != nullptr) {
    const Dec close_qty = std::min(remaining, reduce->qty);
    // Entry value and margin leave the position in proportion; a full close takes what is left,
    // so realized PnL over a position's life is exactly exit value - entry value.
    const bool all = close_qty == reduce->qty;
    const Dec released_entry = all ? reduce->entry_value : reduce->entry_value * close_qty / reduce->qty;
    const Dec released_margin = all ? reduce->margin : reduce->margin * close_qty / reduce->qty;
    const Dec exit_value = price * close_qty;
    const Dec pnl = reduce->long_side ? exit_value - released_entry : released_entry - exit_value;
    reduce->entry_value -= released_entry;
    reduce->margin -= released_margin;
    reduce->qty -= close_qty;
    reduce->realized_pnl += pnl;
    reduce->close_value += price * close_qty;
    reduce->closed_qty += close_qty;
    reduce->fees += fee;
    reduce->mtime_ns = now_ns;
    fee_booked = true;
    wallet_ += pnl;
    realized += pnl;
    remaining -= close_qty;
    position_id = reduce->position_id;
    if (reduce->qty.is_zero()) {
      const size_t idx = static_cast<size_t>(reduce - positions_.data());
      ClosePositionRecord(idx, m, out);
    } else {
      PushPosition(*reduce, "UPDATE", m, out);
    }
  }
  // The part that opens or increases a position (never for reduce-only / CLOSE orders).
  if (remaining > Dec() && !o.closing) {
    Position* p = PositionFor(o.sym, o.exec_buy);
    const char* event = "UPDATE";
    if (p == nullptr) {
      Position np;
      np.position_id = NextId();
      np.symbol = o.symbol;
      np.sym = o.sym;
      np.long_side = o.exec_buy;
      np.leverage = leverage_[static_cast<size_t>(o.sym)];
      np.margin_mode = margin_mode_[static_cast<size_t>(o.sym)];
      np.position_mode = position_mode_;
      np.ctime_ns = now_ns;
      positions_.push_back(np);
      p = &positions_.back();
      event = "OPEN";
    }
    p->entry_value += remaining * price;
    p->qty += remaining;
    p->opened_qty += remaining;
    p->opened_value += remaining * price;
    p->max_qty = std::max(p->max_qty, p->qty);
    p->margin += remaining * price / Dec::FromInt(p->leverage);
    if (!fee_booked) p->fees += fee;
    p->mtime_ns = now_ns;
    position_id = p->position_id;
    if (o.position_id.empty()) o.position_id = p->position_id;
    PushPosition(*p, event, m, out);
  }
  const Dec prev = o.filled;
  o.filled += qty;
  o.avg_price = (o.avg_price * prev + price * qty) / o.filled;
  o.fee += fee;
  o.realized_pnl += realized;
  o.mtime_ns = now_ns;
  o.status = o.filled >= o.qty ? "FILLED" : "PART_FILLED";
  RefreshFrozen(o);

  AccountTrade t;
  t.trade_id = NextId();
  t.order_id = o.order_id;
  t.position_id = position_id;
  t.symbol = o.symbol;
  t.sym = o.sym;
  t.side = o.side;
  t.order_type = o.order_type;
  t.margin_mode = o.margin_mode;
  t.position_mode = o.position_mode;
  t.qty = qty;
  t.price = price;
  t.fee = fee;
  t.realized_pnl = realized;
  t.leverage = o.leverage;
  t.maker = maker;
  t.ctime_ms = now_ns / 1'000'000;
  trades_.push_back(t);
  m.RecordTrade(o.sym, price, qty, now_ns / 1'000'000);
}

void Account::ClosePositionRecord(size_t index, const MarketModel& m, Pushes* out) {
  Position p = positions_[index];
  positions_.erase(positions_.begin() + static_cast<std::ptrdiff_t>(index));
  PushPosition(p, "CLOSE", m, out);
  history_positions_.push_back(std::move(p));
}

void Account::CreateAttachedTpsl(const Order& o, Pushes* out) {
  if (attached_.count(o.order_id)) return;  // an order's TP/SL attaches to its position once
  TpslOrder t;
  t.order_id = NextId();
  t.position_id = o.position_id;
  t.symbol = o.symbol;
  t.sym = o.sym;
  t.type = "TPSL";
  t.long_side = o.exec_buy;
  t.spec = o.tpsl;
  t.tp_qty = t.sl_qty = o.qty;
  t.status = "NEW";
  t.ctime_ns = t.mtime_ns = NowNs();
  attached_.insert(o.order_id);
  tpsl_.push_back(t);
  PushTpsl(tpsl_.back(), "CREATE", out);
}

ApiResult<const Order*> Account::Cancel(const std::string& symbol, const std::string& order_id,
                                        const std::string& client_id, Pushes* out) {
  using R = ApiResult<const Order*>;
  if (order_id.empty() && client_id.empty()) return R::Fail(10002, "Parameter error: orderId or clientId is required");
  Order* o = MutableOrder(order_id, client_id);
  if (o == nullptr || (!symbol.empty() && o->symbol != UpperAscii(symbol)) || !o->open()) {
    return R::Fail(20007, "Order not found");
  }
  o->status = o->filled.is_zero() ? "CANCELED" : "PART_FILLED_CANCELED";
  o->mtime_ns = NowNs();
  RefreshFrozen(*o);
  PushOrder(*o, "CLOSE", out);
  return R::Ok(o);
}

std::vector<const Order*> Account::CancelAll(const std::string& symbol, Pushes* out) {
  std::vector<const Order*> done;
  for (auto& o : orders_) {
    if (!o.open() || (!symbol.empty() && o.symbol != UpperAscii(symbol))) continue;
    auto r = Cancel("", o.order_id, "", out);
    if (r.ok()) done.push_back(*r.value);
  }
  return done;
}

ApiResult<const Order*> Account::Modify(const ModifyRequest& req, MarketModel& m, Pushes* out) {
  using R = ApiResult<const Order*>;
  if (req.order_id.empty() && req.client_id.empty()) {
    return R::Fail(10002, "Parameter error: orderId or clientId is required");
  }
  Order* o = MutableOrder(req.order_id, req.client_id);
  if (o == nullptr || !o->open()) return R::Fail(20007, "Order not found");
  const SymbolSpec& spec = catalog_.all()[static_cast<size_t>(o->sym)];
  if (o->order_type != "LIMIT") return R::Fail(10002, "Parameter error: only LIMIT orders can be modified");
  Dec qty = o->qty, price = o->price;
  if (!req.qty.empty()) {
    if (auto e = CheckDecimal("qty", req.qty, spec.base_precision, true, &qty)) return R::Fail(e->code, e->msg);
    if (qty <= o->filled) return R::Fail(10002, "Parameter error: qty must exceed the filled quantity");
    if (qty > spec.max_limit_qty) return R::Fail(30013, "The order quantity exceeds the maximum");
  }
  if (!req.price.empty()) {
    if (auto e = CheckDecimal("price", req.price, spec.quote_precision, true, &price)) return R::Fail(e->code, e->msg);
    if (auto e = CheckPriceBand(price, m.Mark(o->sym))) return R::Fail(e->code, e->msg);
  }
  if (req.qty.empty() && req.price.empty() && !req.tpsl.has_tp() && !req.tpsl.has_sl()) {
    return R::Fail(10002, "Parameter error: nothing to modify (qty, price or tp/sl)");
  }
  if (auto e = CheckTpSl(req.tpsl)) return R::Fail(e->code, e->msg);
  if (!o->closing) {
    if (auto e = CheckAttachedTpslSides(req.tpsl, o->exec_buy, price)) return R::Fail(e->code, e->msg);
    const Dec extra = (qty - o->filled) * price / Dec::FromInt(o->leverage) - o->frozen;
    if (extra > Summary(m).available) return R::Fail(20003, "Insufficient balance");
  }
  o->qty = qty;
  o->price = price;
  if (req.tpsl.has_tp() || req.tpsl.has_sl()) o->tpsl = req.tpsl;
  o->mtime_ns = NowNs();
  RefreshFrozen(*o);
  PushOrder(*o, "UPDATE", out);
  // A new price may cross the book: it then trades as a taker at once.
  const bool crosses = o->exec_buy ? m.BestAsk(o->sym) <= o->price : m.BestBid(o->sym) >= o->price;
  if (crosses && o->effect != "POST_ONLY") {
    for (const auto& f : m.Take(o->sym, o->exec_buy, o->qty - o->filled, o->price)) {
      ApplyFill(*o, f.qty, f.price, false, m, out);
      if (!o->open()) break;
    }
    FinishIfDone(*o, out);
  }
  PushBalance(m, out);
  return R::Ok(o);
}

ApiResult<std::string> Account::FlashClose(const std::string& position_id, MarketModel& m, Pushes* out) {
  using R = ApiResult<std::string>;
  if (position_id.empty()) return R::Fail(10002, "Parameter error: positionId is required");
  Position* p = MutablePosition(position_id);
  if (p == nullptr) return R::Fail(30004, "Position does not exist");
  OrderRequest req;
  req.symbol = p->symbol;
  req.order_type = "MARKET";
  req.qty = p->qty.ToString();
  if (position_mode_ == "HEDGE") {
    req.side = p->long_side ? "BUY" : "SELL";
    req.trade_side = "CLOSE";
    req.position_id = position_id;
  } else {
    req.side = p->long_side ? "SELL" : "BUY";
    req.reduce_only = true;
  }
  auto r = Place(req, m, out);
  if (!r.ok()) return R::Fail(r.error.code, r.error.msg);
  return R::Ok(position_id);
}

std::vector<std::string> Account::CloseAll(const std::string& symbol, MarketModel& m, Pushes* out) {
  std::vector<std::string> ids;
  for (const auto& p : positions_) {
    if (symbol.empty() || p.symbol == UpperAscii(symbol)) ids.push_back(p.position_id);
  }
  std::vector<std::string> closed;
  for (const auto& id : ids) {
    if (FlashClose(id, m, out).ok()) closed.push_back(id);
  }
  return closed;
}

std::optional<ApiError> Account::ChangeLeverage(const std::string& symbol, int leverage, MarketModel& m, Pushes* out) {
  const SymbolSpec* spec = catalog_.Find(symbol);
  if (spec == nullptr || !spec->tradable()) return ApiError{20015, "this Futures is not allowed to trade."};
  if (leverage < spec->min_leverage || leverage > spec->max_leverage) {
    return ApiError{20005, absl::StrCat("Leverage ", leverage, " is outside [", spec->min_leverage, ", ",
                                        spec->max_leverage, "]")};
  }
  const int sym = catalog_.IndexOf(spec->symbol);
  for (const auto& o : orders_) {
    if (o.open() && o.sym == sym) return ApiError{20006, "Open orders exist: cancel them before changing leverage"};
  }
  leverage_[static_cast<size_t>(sym)] = leverage;
  bool changed = false;
  for (auto& p : positions_) {
    if (p.sym != sym) continue;
    p.leverage = leverage;
    p.margin = p.entry_value / Dec::FromInt(leverage);
    p.mtime_ns = NowNs();
    PushPosition(p, "UPDATE", m, out);
    changed = true;
  }
  if (changed) PushBalance(m, out);
  return std::nullopt;
}

std::optional<ApiError> Account::ChangeMarginMode(const std::string& symbol, const std::string& mode) {
  const SymbolSpec* spec = catalog_.Find(symbol);
  if (spec == nullptr || !spec->tradable()) return ApiError{20015, "this Futures is not allowed to trade."};
  if (!IsOneOf(mode, {"ISOLATION", "CROSS"})) {
    return ApiError{10002, absl::StrCat("Parameter error: marginMode '", mode, "' must be ISOLATION or CROSS")};
  }
  const int sym = catalog_.IndexOf(spec->symbol);
  for (const auto& o : orders_) {
    if (o.open() && o.sym == sym) return ApiError{20006, "Open orders or positions exist for this symbol"};
  }
  for (const auto& p : positions_) {
    if (p.sym == sym) return ApiError{20006, "Open orders or positions exist for this symbol"};
  }
  margin_mode_[static_cast<size_t>(sym)] = mode;
  return std::nullopt;
}

std::optional<ApiError> Account::ChangePositionMode(const std::string& mode) {
  if (!IsOneOf(mode, {"ONE_WAY", "HEDGE"})) {
    return ApiError{10002, absl::StrCat("Parameter error: positionMode '", mode, "' must be ONE_WAY or HEDGE")};
  }
  if (!positions_.empty()) return ApiError{20009, "Positions exist: the position mode can only change when flat"};
  for (const auto& o : orders_) {
    if (o.open()) return ApiError{20009, "Open orders exist: the position mode can only change when flat"};
  }
  position_mode_ = mode;
  return std::nullopt;
}

std::optional<ApiError> Account::AdjustMargin(const std::string& symbol, const std::string& amount_text,
                                              const std::string& side, const std::string& position_id,
                                              MarketModel& m, Pushes* out) {
  Dec amount;
  if (amount_text.empty()) return ApiError{10002, "Parameter error: amount is required"};
  if (auto e = CheckDecimal("amount", amount_text, Dec::kScale, false, &amount)) return e;
  if (amount.is_zero()) return ApiError{10002, "Parameter error: amount must not be 0"};
  Position* p = nullptr;
  if (!position_id.empty()) {
    p = MutablePosition(position_id);
  } else {
    const int sym = catalog_.IndexOf(symbol);
    for (auto& q : positions_) {
      if (q.sym != sym) continue;
      if (!side.empty() && (q.long_side ? !IsOneOf(side, {"LONG", "BUY"}) : !IsOneOf(side, {"SHORT", "SELL"}))) continue;
      p = &q;
      break;
    }
  }
  if (p == nullptr) return ApiError{30004, "Position does not exist"};
  if (amount > Summary(m).available) return ApiError{20003, "Insufficient balance"};
  if (p->margin + amount <= Dec()) {
    return ApiError{10002, "Parameter error: amount would leave the position without margin"};
  }
  p->margin += amount;
  p->mtime_ns = NowNs();
  PushPosition(*p, "UPDATE", m, out);
  PushBalance(m, out);
  return std::nullopt;
}

ApiResult<std::string> Account::PlaceTpsl(const TpslRequest& req, bool whole_position, const MarketModel& m,
                                          Pushes* out) {
  using R = ApiResult<std::string>;
  const SymbolSpec* spec = catalog_.Find(req.symbol);
  if (req.symbol.empty()) return R::Fail(10002, "Parameter error: symbol is required");
  if (spec == nullptr || !spec->tradable()) return R::Fail(20015, "this Futures is not allowed to trade.");
  if (req.position_id.empty()) return R::Fail(10002, "Parameter error: positionId is required");
  const Position* p = FindPosition(req.position_id);
  if (p == nullptr || p->symbol != spec->symbol) return R::Fail(30004, "Position does not exist");
  if (!req.spec.has_tp() && !req.spec.has_sl()) return R::Fail(10002, "Parameter error: tpPrice or slPrice is required");
  if (auto e = CheckTpSl(req.spec)) return R::Fail(e->code, e->msg);
  if (auto e = CheckPositionTpslSides(req.spec, p->long_side, m.Mark(p->sym), m.Last(p->sym))) {
    return R::Fail(e->code, e->msg);
  }
  TpslOrder t;
  t.type = whole_position ? "POSITION_TPSL" : "TPSL";
  if (!whole_position) {
    // The documented rule (tpsl/place_order: "At least one of tpQty or slQty is required"); a side
    // whose quantity is left out covers the whole position.
    if (req.tp_qty.empty() && req.sl_qty.empty()) {
      return R::Fail(10002, "Parameter error: tpQty or slQty is required");
    }
    for (auto [name, text, has, dst] : {std::tuple{"tpQty", &req.tp_qty, req.spec.has_tp(), &t.tp_qty},
                                        std::tuple{"slQty", &req.sl_qty, req.spec.has_sl(), &t.sl_qty}}) {
      if (!has) continue;
      if (text->empty()) {
        *dst = p->qty;
        continue;
      }
      if (auto e = CheckDecimal(name, *text, spec->base_precision, true, dst)) return R::Fail(e->code, e->msg);
      if (*dst > p->qty) return R::Fail(30038, "TP/SL amount must be less than the size of the position.");
    }
  } else {
    for (auto& old : tpsl_) {
      if (old.status == "NEW" && old.type == "POSITION_TPSL" && old.position_id == p->position_id) {
        old.status = "CANCELED";
        old.mtime_ns = NowNs();
        PushTpsl(old, "CLOSE", out);
      }
    }
  }
  t.order_id = NextId();
  t.position_id = p->position_id;
  t.symbol = p->symbol;
  t.sym = p->sym;
  t.long_side = p->long_side;
  t.spec = req.spec;
  t.status = "NEW";
  t.ctime_ns = t.mtime_ns = NowNs();
  tpsl_.push_back(t);
  PushTpsl(tpsl_.back(), "CREATE", out);
  return R::Ok(t.order_id);
}

ApiResult<std::string> Account::ModifyTpsl(const TpslRequest& req, bool whole_position, const MarketModel& m,
                                           Pushes* out) {
  using R = ApiResult<std::string>;
  TpslOrder* t = nullptr;
  for (auto& x : tpsl_) {
    if (x.status != "NEW") continue;
    if (!req.order_id.empty() ? x.order_id == req.order_id
                              : (whole_position && x.type == "POSITION_TPSL" && x.position_id == req.position_id)) {
      t = &x;
      break;
    }
  }
  if (t == nullptr) return R::Fail(20007, "Order not found");
  if (!req.spec.has_tp() && !req.spec.has_sl()) return R::Fail(10002, "Parameter error: tpPrice or slPrice is required");
  if (auto e = CheckTpSl(req.spec)) return R::Fail(e->code, e->msg);
  const Position* p = FindPosition(t->position_id);
  if (p == nullptr) return R::Fail(30004, "Position does not exist");
  if (auto e = CheckPositionTpslSides(req.spec, p->long_side, m.Mark(p->sym), m.Last(p->sym))) {
    return R::Fail(e->code, e->msg);
  }
  const SymbolSpec& spec = catalog_.all()[static_cast<size_t>(t->sym)];
  Dec tp_qty = t->tp_qty, sl_qty = t->sl_qty;
  if (!req.tp_qty.empty()) {
    if (auto e = CheckDecimal("tpQty", req.tp_qty, spec.base_precision, true, &tp_qty)) return R::Fail(e->code, e->msg);
  }
  if (!req.sl_qty.empty()) {
    if (auto e = CheckDecimal("slQty", req.sl_qty, spec.base_precision, true, &sl_qty)) return R::Fail(e->code, e->msg);
  }
  if (t->type == "TPSL" && (tp_qty > p->qty || sl_qty > p->qty)) {
    return R::Fail(30038, "TP/SL amount must be less than the size of the position.");
  }
  t->spec = req.spec;
  t->tp_qty = tp_qty;
  t->sl_qty = sl_qty;
  t->mtime_ns = NowNs();
  PushTpsl(*t, "UPDATE", out);
  return R::Ok(t->order_id);
}

ApiResult<std::string> Account::CancelTpsl(const std::string& symbol, const std::string& order_id, Pushes* out) {
  using R = ApiResult<std::string>;
  if (order_id.empty()) return R::Fail(10002, "Parameter error: orderId is required");
  for (auto& t : tpsl_) {
    if (t.order_id != order_id) continue;
    if (t.status != "NEW" || (!symbol.empty() && t.symbol != UpperAscii(symbol))) break;
    t.status = "CANCELED";
    t.mtime_ns = NowNs();
    PushTpsl(t, "CLOSE", out);
    return R::Ok(t.order_id);
  }
  return R::Fail(20007, "Order not found");
}

void Account::OnMarket(MarketModel& m, Pushes* out) {
  bool changed = false;
  for (auto& o : orders_) {
    if (!o.open() || o.order_type != "LIMIT") continue;
    const bool crossed = o.exec_buy ? m.BestAsk(o.sym) <= o.price : m.BestBid(o.sym) >= o.price;
    if (!crossed) continue;
    Dec qty = o.qty - o.filled;
    if (o.closing) {
      const Position* p = position_mode_ == "HEDGE" ? FindPosition(o.position_id) : PositionFor(o.sym, !o.exec_buy);
      qty = p == nullptr ? Dec() : std::min(qty, p->qty);
      if (qty.is_zero()) {
        // The position it would reduce is gone: the exchange cancels it.
        o.status = o.filled.is_zero() ? "CANCELED" : "PART_FILLED_CANCELED";
        o.mtime_ns = NowNs();
        RefreshFrozen(o);
        PushOrder(o, "CLOSE", out);
        changed = true;
        continue;
      }
    }
    ApplyFill(o, qty, o.price, /*maker=*/true, m, out);
    if (o.open() && o.closing) {  // capped: the position is now flat
      o.status = "PART_FILLED_CANCELED";
      RefreshFrozen(o);
    }
    FinishIfDone(o, out);
    changed = true;
  }
  CheckTpsl(m, out);
  SettleFunding(m, out);
  if (changed) PushBalance(m, out);
}

void Account::CheckTpsl(MarketModel& m, Pushes* out) {
  const size_t n = tpsl_.size();
  for (size_t i = 0; i < n; ++i) {
    if (tpsl_[i].status != "NEW") continue;
    const Position* p = FindPosition(tpsl_[i].position_id);
    if (p == nullptr) {
      tpsl_[i].status = "SYSTEM_CANCELED";
      tpsl_[i].mtime_ns = NowNs();
      PushTpsl(tpsl_[i], "CLOSE", out);
      continue;
    }
    const TpSl& s = tpsl_[i].spec;
    auto trigger_price = [&](const std::string& stop) {
      return (stop == "MARK_PRICE" || stop == "MARK") ? m.Mark(p->sym) : m.Last(p->sym);
    };
    bool tp_hit = false, sl_hit = false;
    if (s.has_tp()) {
      const Dec trig = *Dec::Parse(s.tp_price);
      const Dec px = trigger_price(s.tp_stop_type);
      tp_hit = p->long_side ? px >= trig : px <= trig;
    }
    if (s.has_sl()) {
      const Dec trig = *Dec::Parse(s.sl_price);
      const Dec px = trigger_price(s.sl_stop_type);
      sl_hit = p->long_side ? px <= trig : px >= trig;
    }
    if (!tp_hit && !sl_hit) continue;
    const bool tp = tp_hit;
    Dec qty = tpsl_[i].type == "POSITION_TPSL" ? p->qty : (tp ? tpsl_[i].tp_qty : tpsl_[i].sl_qty);
    qty = std::min(qty, p->qty);
    OrderRequest req;
    req.symbol = p->symbol;
    req.order_type = (tp ? s.tp_order_type : s.sl_order_type) == "LIMIT" ? "LIMIT" : "MARKET";
    req.price = req.order_type == "LIMIT" ? (tp ? s.tp_order_price : s.sl_order_price) : "";
    req.qty = qty.ToString();
    if (position_mode_ == "HEDGE") {
      req.side = p->long_side ? "BUY" : "SELL";
      req.trade_side = "CLOSE";
      req.position_id = p->position_id;
    } else {
      req.side = p->long_side ? "SELL" : "BUY";
      req.reduce_only = true;
    }
    tpsl_[i].status = "FILLED";  // triggered: the child order is placed (it may still not fill)
    tpsl_[i].mtime_ns = NowNs();
    PushTpsl(tpsl_[i], "CLOSE", out);
    auto r = Place(req, m, out);
    if (!r.ok()) {
      tpsl_[i].status = "FAILED";
      PushTpsl(tpsl_[i], "UPDATE", out);
    }
  }
}

void Account::SettleFunding(MarketModel& m, Pushes* out) {
  const int64_t now = clock_.NowMs();
  bool changed = false;
  for (size_t sym = 0; sym < catalog_.all().size(); ++sym) {
    const FundingInfo f = m.Funding(static_cast<int>(sym), now);
    if (f.last_settle_ms <= funding_settled_ms_[sym]) continue;
    funding_settled_ms_[sym] = f.last_settle_ms;
    const Dec rate = f.settled_rate_pct / Dec::FromInt(100);
    for (auto& p : positions_) {
      if (p.sym != static_cast<int>(sym)) continue;
      const Dec fee = p.qty * m.Mark(p.sym) * rate;
      const Dec amount = p.long_side ? -fee : fee;  // longs pay a positive rate
      wallet_ += amount;
      p.funding += amount;
      p.mtime_ns = NowNs();
      PushPosition(p, "UPDATE", m, out);
      changed = true;
    }
  }
  if (changed) PushBalance(m, out);
}

}  // namespace bx::sim

#include "services/orders/order_engine.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/decimal.h"
#include "services/orders/errors.h"
#include "services/orders/exchange_requests.h"
#include "services/orders/orders_metrics.h"
#include "services/orders/rest_parse.h"

namespace bx::orders {
namespace {

namespace cv1 = ::bitunix::common::v1;

std::string Fingerprint(const v1::PlaceOrderRequest& req, const std::string& symbol) {
  // Everything that defines the order; a reused client id must describe the same order.
  v1::PlaceOrderRequest copy = req;
  copy.set_symbol(symbol);
  copy.set_qty(NormalizeDecimal(req.qty()));
  copy.set_price(NormalizeDecimal(req.price()));
  copy.clear_client_id();
  copy.clear_dry_run();
  if (copy.time_in_force() == v1::TIME_IN_FORCE_UNSPECIFIED) copy.set_time_in_force(v1::TIME_IN_FORCE_GTC);
  std::string out;
  copy.SerializeToString(&out);
  return out;
}

// The order as requested: what a response carries before the exchange reports more.
v1::Order OrderFromRequest(const v1::PlaceOrderRequest& req, const std::string& symbol, const std::string& client_id) {
  v1::Order o;
  o.set_client_id(client_id);
  o.set_symbol(symbol);
  o.set_side(req.side());
  o.set_type(req.type());
  o.set_qty(req.qty());
  o.set_price(req.price());
  o.set_time_in_force(req.time_in_force() == v1::TIME_IN_FORCE_UNSPECIFIED ? v1::TIME_IN_FORCE_GTC
                                                                            : req.time_in_force());
  o.set_reduce_only(req.reduce_only());
  if (req.has_tpsl()) *o.mutable_tpsl() = req.tpsl();
  o.set_trade_side(req.trade_side());
  o.set_position_id(req.position_id());
  return o;
}

v1::DryRunRequest ToDryRun(const SignedRequest& r) {
  v1::DryRunRequest d;
  d.set_method(r.method);
  d.set_path(r.target);
  d.set_body(r.body);
  d.set_sign(r.sign);
  d.set_timestamp(r.timestamp);
  d.set_nonce(r.nonce);
  return d;
}

absl::Status Invalid(std::string msg) { return ValidationError(std::move(msg)); }

// Whether `found` (read from the exchange under a client id, or pushed) can be the order `mine`
// asked for: the same symbol, type, side and, for a close, position. Quantity and price are not
// compared: the exchange clamps a reduce-only or close order's quantity to the position, and
// ModifyOrder changes both, so a difference there does not show that the id names another order
// (and calling our own order "different; nothing was placed" would invite a second one). The
// caller gets the order as the exchange holds it. A field the exchange left out contradicts
// nothing.
//
// Sides, in hedge mode: a close names the position it closes (BUY + CLOSE closes the long) while
// its trade goes the other way (it sells). A record names the side as sent (BUY, in any letter
// case, or the position's LONG, which ParseOrder reads as BUY), or the trade's direction (SELL).
// The trade's direction is this order when the record names this order's position; without the
// position id, the other side + CLOSE is, as the exchange documents it, the close of the other
// position, and the other side alone an order in the other direction: somebody else's.
bool SameOrder(const v1::Order& mine, const v1::Order& found) {
  if (!found.symbol().empty() && NormalizeSymbol(found.symbol()) != mine.symbol()) return false;
  if (found.type() != v1::ORDER_TYPE_UNSPECIFIED && found.type() != mine.type()) return false;
  // An opening and a closing order are different orders.
  if (found.trade_side() != v1::TRADE_SIDE_UNSPECIFIED && mine.trade_side() != v1::TRADE_SIDE_UNSPECIFIED &&
      found.trade_side() != mine.trade_side()) {
    return false;
  }
  // A close of another position is another order.
  if (!found.position_id().empty() && !mine.position_id().empty() && found.position_id() != mine.position_id()) {
    return false;
  }
  if (found.side() == cv1::SIDE_UNSPECIFIED || found.side() == mine.side()) return true;
  return mine.trade_side() == v1::TRADE_SIDE_CLOSE && !mine.position_id().empty() &&
         found.position_id() == mine.position_id();
}

absl::Status ClientIdTaken(const std::string& client_id, const v1::Order& found) {
  return MakeError(absl::StatusCode::kAlreadyExists,
                   absl::StrCat("client id ", client_id, " already names a different order on the exchange (order ",
                                found.order_id(), ": ", cv1::Side_Name(found.side()), " ", found.qty(), " ",
                                found.symbol(), found.price().empty() ? "" : absl::StrCat(" @ ", found.price()),
                                "); nothing was placed; use a new client id"),
                   reason::kDuplicateClientId);
}

// Whether `got` is an older view of the order `have` shows. Pushes and REST reads arrive in any
// order: an older view never replaces a newer one, and a finished order never goes back to open on
// a view of the same millisecond. Views of different orders (ids) are not compared.
bool OlderView(const v1::Order& have, const v1::Order& got) {
  if (!have.order_id().empty() && !got.order_id().empty() && have.order_id() != got.order_id()) return false;
  const int64_t have_ms = have.update_time_ms(), got_ms = got.update_time_ms();
  return have_ms > 0 && got_ms > 0 &&
         (got_ms < have_ms || (got_ms == have_ms && IsFinalStatus(have.status()) && !IsFinalStatus(got.status())));
}

absl::Status Unavailable(std::string msg, std::string_view why = reason::kShuttingDown) {
  return MakeError(absl::StatusCode::kUnavailable, std::move(msg), why);
}

}  // namespace

std::string_view ModeName(Mode m) {
  switch (m) {
    case Mode::kLive: return "live";
    case Mode::kPaper: return "paper";
    case Mode::kDryRun: return "dry-run";
  }
  return "?";
}

struct OrderEngine::Entry {
  std::string client_id;
  std::string symbol;
  std::string fingerprint;
  PlacementState state = PlacementState::kInFlight;
  v1::Order order;      ///< last known; order_id set once accepted
  v1::Order requested;  ///< what the caller asked for (compared with what the exchange holds)
  /// The exchange holds somebody else's order under this client id (state kAccepted, `order` is
  /// that order): nothing of ours was placed, and only a request for that same order is a
  /// duplicate.
  bool foreign = false;
  /// The current attempt re-sends a placement whose first outcome is unknown: if the re-send is
  /// refused, the first attempt is still unknown (a refusal says nothing about it).
  bool resending_unknown = false;
  /// kAbsent because reconciliation stopped finding it (not because the exchange refused it): an
  /// attempt may still have landed since, so a resubmission looks the id up first.
  bool reconciled_absent = false;
  /// A push of this order (OnOrderUpdate: same client id, SameOrder) reached the engine while an
  /// attempt was in flight: the order exists (ResolveAmbiguous, SettleOnPush).
  bool seen_push = false;
  /// A caller was told UNKNOWN: the order is published on StreamUpdates once found, unless the
  /// private stream's push found it (the stream publishes that itself).
  bool publish_when_found = false;
  /// StreamUpdates has carried this order with its order id: the private stream published it (a
  /// push, or its own reconciliation read) or the engine did (PublishFound). It is never published
  /// by the engine again, even when the placement turned UNKNOWN after the push: the stream's own
  /// pushes and reconciliation carry its later states. (A push without an order id does not count:
  /// nobody reading the stream could tell which order it was.)
  bool on_stream = false;
  /// A caller waiting for the current attempt. `gone` is its CallScope probe: the attempt may be
  /// withdrawn while it waits for a rate-limit token only if every waiter has gone (an empty
  /// probe never goes).
  struct Waiter {
    PlaceDone done;
    bool duplicate;  ///< a second submission of the same client id
    CallScope::Gone gone;
    uint64_t id = 0;
    Scheduler::TimerId deadline_timer = 0;  ///< a duplicate's own deadline (WaitAsDuplicate)
  };
  std::vector<Waiter> waiters;
  uint64_t next_waiter_id = 1;
  /// Adds the calling thread's caller (its CallScope probe) as a waiter; returns its id.
  uint64_t Wait(PlaceDone done, bool duplicate) {
    waiters.push_back({std::move(done), duplicate, CallScope::Current(), next_waiter_id, 0});
    return next_waiter_id++;
  }
  SteadyTime unknown_since{};
  std::chrono::milliseconds reconcile_interval{0};
  Scheduler::TimerId reconcile_timer = 0;
  /// Counts the times the placement became UNKNOWN: a background lookup answered in a later
  /// UNKNOWN period than it was issued in (a re-send went out meanwhile) is stale.
  uint64_t unknown_generation = 0;
};

CallScope::Gone OrderEngine::EveryCallerGone(const std::vector<std::shared_ptr<Entry>>& entries,
                                             CallScope::Gone sender) {
  std::vector<std::weak_ptr<Entry>> weak(entries.begin(), entries.end());
  return [weak = std::move(weak), sender = std::move(sender)] {
    // A batch's own caller is no waiter of its entries: it is asked first, and an entry with no
    // waiter then counts as nobody's (a duplicate that attached and left no longer withdraws a
    // batch whose caller still waits, and a batch whose caller left can be withdrawn).
    if (sender && !sender()) return false;
    for (const auto& w : weak) {
      auto e = w.lock();
      if (e == nullptr) return false;
      if (e->waiters.empty()) {
        if (!sender) return false;
        continue;
      }
      for (const auto& waiter : e->waiters) {
        if (!waiter.gone || !waiter.gone()) return false;
      }
    }
    return true;
  };
}

OrderEngine::OrderEngine(Scheduler& scheduler, RestClient& rest, SymbolRules& rules, OrdersMetrics* metrics,
                         EngineOptions options)
    : scheduler_(scheduler), rest_(rest), rules_(rules), metrics_(metrics), options_(std::move(options)) {}

OrderEngine::~OrderEngine() { Shutdown(); }

void OrderEngine::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (rules_timer_ != 0) scheduler_.Cancel(rules_timer_);
  rules_timer_ = 0;
  for (auto& [id, e] : entries_) {
    if (e->reconcile_timer != 0) scheduler_.Cancel(e->reconcile_timer);
    e->reconcile_timer = 0;
    // Nobody reconciles these after exit: say which client ids to look up.
    if (e->state == PlacementState::kUnknown || e->state == PlacementState::kInFlight) {
      Log(LogLevel::kWarn, "orders.engine",
          e->state == PlacementState::kUnknown ? "shutting down with a placement whose outcome is unknown"
                                               : "shutting down while a placement is in flight",
          {{"client_id", e->client_id}, {"symbol", e->symbol}, {"advice", "look the client id up on the exchange"}});
    }
  }
}

size_t OrderEngine::AnswerPendingPlacements() {
  size_t answered = 0;
  auto batches = std::move(batches_in_flight_);
  batches_in_flight_.clear();
  for (auto& [id, answer_unknown] : batches) {
    answer_unknown();
    ++answered;
  }
  std::vector<std::shared_ptr<Entry>> waiting;
  for (auto& [id, e] : entries_) {
    if (!e->waiters.empty() && (e->state == PlacementState::kInFlight || e->state == PlacementState::kUnknown)) {
      waiting.push_back(e);
    }
  }
  for (auto& e : waiting) {
    // Only the callers are answered: an attempt still out keeps deciding the entry (settling it
    // here would let that attempt's late reply move an accepted entry on to absent or unknown).
    if (PushProvesOrder(*e)) {
      Log(LogLevel::kInfo, "orders.engine",
          "shutting down before the exchange answered a placement; answered with the order its push showed",
          {{"client_id", e->client_id}, {"order_id", e->order.order_id()}});
    } else {
      Log(LogLevel::kWarn, "orders.engine", "shutting down before the exchange answered a placement; answered UNKNOWN",
          {{"client_id", e->client_id}, {"symbol", e->symbol}, {"advice", "look the client id up on the exchange"}});
    }
    answered += e->waiters.size();
    Settle(e, PendingAnswer(*e));
  }
  return answered;
}

std::optional<OrderEngine::PlacementView> OrderEngine::Placement(const std::string& client_id) const {
  auto it = entries_.find(client_id);
  if (it == entries_.end()) return std::nullopt;
  return PlacementView{it->second->state, it->second->order.order_id()};
}

// ---------------------------------------------------------------------------------------------
// Placement

void OrderEngine::PlaceOrder(v1::PlaceOrderRequest req, SteadyTime deadline, Reply<v1::PlaceOrderResponse> done) {
  if (shut_down_) return done(Unavailable("the order service is shutting down"));
  std::string rule;
  auto rules = rules_.snapshot();
  const absl::Status valid = ValidatePlaceOrder(req, rules.get(), &rule);
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (!valid.ok()) {
    // A resubmission of an id this gateway has placed, is placing or cannot yet tell about is
    // answered with that placement even if the order no longer passes today's rules (the symbol
    // stopped trading, a refresh changed a limit): refusing it would report a live order as
    // failed. Nothing new is sent for it.
    if (!KnownResubmission(req, symbol, req.dry_run())) {
      if (metrics_) metrics_->ValidationRefusal(rule);
      return done(valid);
    }
  }
  const std::string client_id = req.client_id().empty() ? GenerateClientId() : req.client_id();
  std::string body = PlaceOrderObject(req, symbol, client_id).dump();

  if (req.dry_run() || options_.mode == Mode::kDryRun) {
    v1::PlaceOrderResponse resp;
    resp.set_result(v1::PLACE_RESULT_DRY_RUN);
    resp.set_client_id(client_id);
    *resp.mutable_order() = OrderFromRequest(req, symbol, client_id);
    *resp.mutable_dry_run() = ToDryRun(rest_.Preview(ep::kPlaceOrder, {}, std::move(body)));
    return done(std::move(resp));
  }

  const std::string fp = Fingerprint(req, symbol);
  if (auto it = entries_.find(client_id); it != entries_.end()) {
    std::shared_ptr<Entry> e = it->second;
    if (e->foreign) {
      if (!SameOrder(OrderFromRequest(req, symbol, client_id), e->order)) return done(ClientIdTaken(client_id, e->order));
      if (metrics_) metrics_->DedupeHit();
      return done(DuplicateResponse(*e));
    }
    if (e->state == PlacementState::kAbsent) {
      // Nothing was placed under this id: it may carry a corrected order (a late first attempt,
      // if any, is still stopped by the exchange's client-id check).
      e->fingerprint = fp;
    }
    if (e->fingerprint != fp) {
      return done(MakeError(absl::StatusCode::kAlreadyExists,
                            absl::StrCat("client id ", client_id,
                                         " was already used for a different order (symbol, side, type, qty, price or "
                                         "options differ); use a new client id for a new order"),
                            reason::kDuplicateClientId));
    }
    if (metrics_ && e->state != PlacementState::kAbsent) metrics_->DedupeHit();
    switch (e->state) {
      case PlacementState::kInFlight:
        WaitAsDuplicate(e, std::move(done), deadline);
        return;
      case PlacementState::kAccepted:
        return done(DuplicateResponse(*e));
      case PlacementState::kUnknown: {
        // Invalid today: nothing is re-sent; reconciliation goes on.
        if (!valid.ok()) return done(UnknownResponse(*e));
        // Look again before re-sending; a re-send carries the same client id, so the exchange's
        // 30042 check backs us up if the first attempt lands late.
        if (e->reconcile_timer != 0) scheduler_.Cancel(e->reconcile_timer);
        e->reconcile_timer = 0;
        CountUnknown(-1);
        e->state = PlacementState::kInFlight;
        e->resending_unknown = true;
        e->Wait(std::move(done), false);
        // A re-send is backed by the exchange's 30042 check: the order detail is enough.
        LookUpThenResend(e, symbol, std::move(body), deadline, /*thorough=*/false);
        return;
      }
      case PlacementState::kAbsent:
        e->state = PlacementState::kInFlight;
        e->seen_push = false;  // a push seen by an earlier attempt says nothing about this one
        e->on_stream = false;
        e->symbol = symbol;  // a corrected order may be for another symbol
        e->order = OrderFromRequest(req, symbol, client_id);
        e->requested = e->order;
        e->Wait(std::move(done), false);
        if (e->reconciled_absent) {
          // Reconciliation only stopped finding an attempt whose outcome was lost: it may have
          // landed since. Look (every view) before sending: the exchange may refuse a second order
          // for another reason than 30042 (margin the live one uses), and that refusal would tell
          // the caller "not placed" while its order is live.
          LookUpThenResend(e, symbol, std::move(body), deadline, /*thorough=*/true);
          return;
        }
        SendPlacement(e, std::move(body), deadline);
        return;
    }
  }
  auto e = std::make_shared<Entry>();
  e->client_id = client_id;
  e->symbol = symbol;
  e->fingerprint = fp;
  e->order = OrderFromRequest(req, symbol, client_id);
  e->requested = e->order;
  e->Wait(std::move(done), false);
  Remember(e);
  SendPlacement(e, std::move(body), deadline);
}

SteadyTime OrderEngine::SendDeadline(SteadyTime deadline) const {
  // Keep part of the deadline for finding out what happened if the answer is lost.
  const SteadyTime now = scheduler_.clock().Steady();
  const auto remaining = deadline - now;
  return remaining > 2 * options_.resolve_reserve ? deadline - options_.resolve_reserve : now + remaining / 2;
}

bool OrderEngine::KnownResubmission(const v1::PlaceOrderRequest& req, const std::string& symbol, bool dry_run) const {
  if (req.client_id().empty() || dry_run || options_.mode == Mode::kDryRun) return false;
  auto it = entries_.find(req.client_id());
  return it != entries_.end() && !it->second->foreign && it->second->state != PlacementState::kAbsent &&
         it->second->fingerprint == Fingerprint(req, symbol);
}

void OrderEngine::SendPlacement(std::shared_ptr<Entry> entry, std::string body, SteadyTime deadline) {
  const SteadyTime place_deadline = SendDeadline(deadline);
  CallScope scope(EveryCallerGone({entry}));  // not just the caller that happens to send it
  rest_.Call(ep::kPlaceOrder, {}, std::move(body), place_deadline,
             Guard([this, entry, deadline](RestResult r) { OnPlaceReply(entry, deadline, std::move(r)); }));
}

void OrderEngine::OnPlaceReply(std::shared_ptr<Entry> entry, SteadyTime deadline, RestResult r) {
  switch (r.outcome) {
    case Outcome::kOk: {
      OrderAck ack = ParseOrderAck(r.data);
      if (ack.order_id.empty()) {
        // A success without an order id tells us nothing: find out.
        if (metrics_) metrics_->Ambiguous(ep::kPlaceOrder.name);
        ResolveAmbiguous(entry, deadline, 0,
                         MakeError(absl::StatusCode::kUnavailable, "place_order succeeded without an order id",
                                   reason::kBadReply, 0, ep::kPlaceOrder.path));
        return;
      }
      if (!ack.client_id.empty() && ack.client_id != entry->client_id) {
        Log(LogLevel::kWarn, "orders.engine", "exchange echoed a different client id",
            {{"client_id", entry->client_id}, {"echoed", ack.client_id}, {"order_id", ack.order_id}});
      }
      v1::Order order = entry->order;
      order.set_order_id(ack.order_id);
      if (order.status() == v1::ORDER_STATUS_UNSPECIFIED) {
        order.set_status(v1::ORDER_STATUS_INIT);
        order.set_status_raw("INIT");
      }
      MarkAccepted(*entry, order);
      v1::PlaceOrderResponse resp;
      resp.set_result(v1::PLACE_RESULT_ACCEPTED);
      resp.set_order_id(ack.order_id);
      resp.set_client_id(entry->client_id);
      *resp.mutable_order() = entry->order;
      Settle(entry, std::move(resp));
      return;
    }
    case Outcome::kRejected:
      if (r.code == 30042) {
        // The exchange already has this client id: return that order.
        FindByClientId(entry->client_id, entry->symbol, deadline, Lane::kPlace,
                       Guard([this, entry, r](absl::StatusOr<std::optional<v1::Order>> found) {
                         if (found.ok() && found->has_value()) {
                           (void)SettleFound(entry, **found, /*duplicate=*/true);
                         } else if (!SettleOnPush(entry, /*duplicate=*/true, "")) {
                           // It exists on the exchange but cannot be read right now (and no push
                           // of our order came meanwhile): whose order it is stays unknown until
                           // reconciliation reads it.
                           MarkUnknown(entry);
                           Settle(entry, UnknownResponse(*entry));
                         }
                       }));
        return;
      }
      (void)RefusedAttempt(entry, r.status);  // the waiters have been told
      return;
    case Outcome::kNotSent:
      (void)RefusedAttempt(entry, r.status);  // the waiters have been told
      return;
    case Outcome::kAmbiguous:
      if (metrics_) metrics_->Ambiguous(ep::kPlaceOrder.name);
      Log(LogLevel::kWarn, "orders.engine", "placement outcome lost; resolving by client id",
          {{"client_id", entry->client_id}, {"symbol", entry->symbol}, {"cause", std::string(r.status.message())}});
      ResolveAmbiguous(entry, deadline, 0, r.status);
      return;
  }
}

void OrderEngine::ResolveAmbiguous(std::shared_ptr<Entry> entry, SteadyTime deadline, int attempt,
                                   absl::Status cause) {
  if (metrics_) metrics_->ReconciliationRun("ambiguous");
  // The first look checks every view; later looks (after a pause) read the order detail only.
  FindByClientId(
      entry->client_id, entry->symbol, deadline, Lane::kPlace,
      Guard([this, entry, deadline, attempt, cause](absl::StatusOr<std::optional<v1::Order>> found) {
        if (entry->state != PlacementState::kInFlight) return;
        // A push of this order settles it too, when it named the order (PushProvesOrder): one
        // without an order id proves the order exists but gives the caller nothing to hold, and
        // the lookups (here, then in the background) find it with its id.
        if ((found.ok() && found->has_value()) || PushProvesOrder(*entry)) {
          const v1::Order seen = found.ok() && found->has_value() ? **found : entry->order;  // or the push's
          if (metrics_) metrics_->AmbiguousResolution("found");
          Log(LogLevel::kInfo, "orders.engine", "lost placement answer resolved: order exists",
              {{"client_id", entry->client_id}, {"order_id", seen.order_id()}});
          (void)SettleFound(entry, seen, /*duplicate=*/false);
          return;
        }
        const SteadyTime next = scheduler_.clock().Steady() + options_.resolve_retry_delay;
        if (attempt + 1 < options_.resolve_attempts && next + std::chrono::milliseconds(100) < deadline) {
          scheduler_.RunAt(next, Guard([this, entry, deadline, attempt, cause] {
                             if (entry->state == PlacementState::kInFlight) {
                               ResolveAmbiguous(entry, deadline, attempt + 1, cause);
                             }
                           }));
          return;
        }
        if (metrics_) metrics_->AmbiguousResolution("not_found");
        Log(LogLevel::kWarn, "orders.engine", "placement outcome unknown; reconciling in the background",
            {{"client_id", entry->client_id},
             {"cause", std::string(cause.message())},
             {"lookup", found.ok() ? std::string("not found") : std::string(found.status().message())}});
        MarkUnknown(entry);
        Settle(entry, UnknownResponse(*entry));
      }),
      /*thorough=*/attempt == 0);
}

void OrderEngine::Settle(std::shared_ptr<Entry> entry, absl::StatusOr<v1::PlaceOrderResponse> result) {
  auto waiters = std::move(entry->waiters);
  entry->waiters.clear();
  for (auto& w : waiters) {
    if (w.deadline_timer != 0) scheduler_.Cancel(w.deadline_timer);
    if (result.ok() && w.duplicate && result->result() == v1::PLACE_RESULT_ACCEPTED) {
      v1::PlaceOrderResponse copy = *result;
      copy.set_result(v1::PLACE_RESULT_DUPLICATE);
      w.done(std::move(copy));
    } else {
      w.done(result);
    }
  }
}

void OrderEngine::CountUnknown(int delta) {
  unknown_count_ = static_cast<size_t>(static_cast<int64_t>(unknown_count_) + delta);
  if (metrics_ != nullptr) metrics_->UnknownPlacements(unknown_count_);
}

void OrderEngine::LookUpThenResend(std::shared_ptr<Entry> e, const std::string& symbol, std::string body,
                                   SteadyTime deadline, bool thorough) {
  FindByClientId(e->client_id, symbol, deadline, Lane::kPlace,
                 Guard([this, e, body = std::move(body), deadline](absl::StatusOr<std::optional<v1::Order>> found) mutable {
                   if (e->state != PlacementState::kInFlight) return;
                   if (found.ok() && found->has_value()) {
                     if (metrics_) metrics_->AmbiguousResolution("reconciled_found");
                     (void)SettleFound(e, **found, /*duplicate=*/true);
                   } else if (SettleOnPush(e, /*duplicate=*/true, "reconciled_found")) {
                     // The private stream pushed the order while the lookup ran (a failed lookup,
                     // or a view that lags behind the push): it exists, nothing is re-sent.
                   } else if (found.ok()) {
                     e->reconciled_absent = false;  // every view read says so now
                     SendPlacement(e, std::move(body), deadline);
                   } else {
                     // Cannot tell, and nothing was sent: unknown again, in the window it had (once
                     // that has ended, reconciliation decides on its next conclusive lookup).
                     e->resending_unknown = true;
                     MarkUnknown(e, /*sent=*/false);
                     Settle(e, UnknownResponse(*e));
                   }
                 }),
                 thorough);
}

void OrderEngine::MarkAccepted(Entry& entry, const v1::Order& order) {
  if (entry.state == PlacementState::kUnknown) {
    CountUnknown(-1);
    if (entry.reconcile_timer != 0) scheduler_.Cancel(entry.reconcile_timer);
    entry.reconcile_timer = 0;
  }
  entry.state = PlacementState::kAccepted;
  entry.resending_unknown = false;
  v1::Order merged = order;
  if (merged.client_id().empty()) merged.set_client_id(entry.client_id);
  if (merged.order_id().empty()) merged.set_order_id(entry.order.order_id());
  // A push stored while the placement was in flight can be newer than the read or ack that
  // settles it (a fill pushed while a lookup's older read was on its way): it stays, but a push
  // that carried no order id takes the one the read or ack gives.
  if (!OlderView(entry.order, merged)) {
    entry.order = std::move(merged);
  } else if (entry.order.order_id().empty()) {
    entry.order.set_order_id(merged.order_id());
  }
}

bool OrderEngine::Adopt(Entry& entry, const v1::Order& found) {
  const bool ours = SameOrder(entry.requested, found);
  MarkAccepted(entry, found);
  entry.foreign = !ours;
  if (!ours) {
    Log(LogLevel::kWarn, "orders.engine", "client id names a different order on the exchange; nothing was placed",
        {{"client_id", entry.client_id}, {"order_id", found.order_id()}, {"symbol", found.symbol()}});
  }
  return ours;
}

void OrderEngine::PublishFound(Entry& entry) {
  if (!std::exchange(entry.publish_when_found, false) || entry.foreign || entry.on_stream) return;
  entry.on_stream = true;
  // A push that named no client id (so OnOrderUpdate could not match it to this entry) has
  // carried the order already.
  if (streamed_.Contains(entry.order.order_id())) return;
  if (reconciled_sink_) reconciled_sink_(entry.order);
}

absl::StatusOr<v1::PlaceOrderResponse> OrderEngine::SettleFound(std::shared_ptr<Entry> entry, const v1::Order& found,
                                                                bool duplicate) {
  absl::StatusOr<v1::PlaceOrderResponse> out;
  if (!Adopt(*entry, found)) {
    out = ClientIdTaken(entry->client_id, entry->order);
  } else {
    PublishFound(*entry);  // a placement once UNKNOWN, found by a lookup of a later attempt
    out = duplicate ? DuplicateResponse(*entry) : AcceptedResponse(*entry);
  }
  Settle(entry, out);
  return out;
}

bool OrderEngine::PushProvesOrder(const Entry& entry) {
  // seen_push is only set for a push that matched the request (OnOrderUpdate checks SameOrder)
  // and is cleared when a new attempt replaces an absent one. A push without an order id names
  // no order the caller could be given.
  return entry.state == PlacementState::kInFlight && entry.seen_push && !entry.order.order_id().empty();
}

v1::PlaceOrderResponse OrderEngine::PendingAnswer(const Entry& entry) const {
  if (!PushProvesOrder(entry)) return UnknownResponse(entry);
  return entry.resending_unknown ? DuplicateResponse(entry) : AcceptedResponse(entry);
}

std::optional<absl::StatusOr<v1::PlaceOrderResponse>> OrderEngine::SettleOnPush(const std::shared_ptr<Entry>& entry,
                                                                                bool duplicate,
                                                                                std::string_view resolution) {
  if (!PushProvesOrder(*entry)) return std::nullopt;
  if (metrics_ && !resolution.empty()) metrics_->AmbiguousResolution(resolution);
  Log(LogLevel::kInfo, "orders.engine", "placement settled by the order push that arrived while it was being decided",
      {{"client_id", entry->client_id}, {"order_id", entry->order.order_id()}});
  // The push was published by the private stream (publish_when_found cleared), or came from a
  // caller's read that StreamUpdates has not carried (then PublishFound publishes it once).
  return SettleFound(entry, entry->order, duplicate);
}

absl::StatusOr<v1::PlaceOrderResponse> OrderEngine::RefusedAttempt(std::shared_ptr<Entry> entry,
                                                                   absl::Status status) {
  absl::StatusOr<v1::PlaceOrderResponse> out = status;
  if (entry->resending_unknown) {
    // A push of our order that came while the re-send was out does say something: it exists.
    if (auto pushed = SettleOnPush(entry, /*duplicate=*/true, "reconciled_found")) return *pushed;
    // Only the re-send was refused: whether the first attempt landed is still unknown, and the
    // caller must not read the refusal as "not placed".
    Log(LogLevel::kWarn, "orders.engine", "re-send refused; the first attempt is still being reconciled",
        {{"client_id", entry->client_id}, {"error", std::string(status.message())}});
    MarkUnknown(entry, /*sent=*/false);  // nothing new can land: the first attempt's window goes on
    out = UnknownResponse(*entry);
  } else {
    entry->state = PlacementState::kAbsent;
  }
  Settle(entry, out);
  return out;
}

v1::PlaceOrderResponse OrderEngine::UnknownResponse(const Entry& entry) {
  v1::PlaceOrderResponse resp;
  resp.set_result(v1::PLACE_RESULT_UNKNOWN);
  resp.set_client_id(entry.client_id);
  *resp.mutable_order() = entry.order;
  resp.mutable_order()->clear_order_id();
  return resp;
}

void OrderEngine::WaitAsDuplicate(const std::shared_ptr<Entry>& entry, PlaceDone done, SteadyTime deadline) {
  const uint64_t id = entry->Wait(std::move(done), /*duplicate=*/true);
  entry->waiters.back().deadline_timer =
      scheduler_.RunAt(deadline, Guard([this, weak = std::weak_ptr<Entry>(entry), id] {
                         auto e = weak.lock();
                         if (e == nullptr) return;
                         auto it = std::find_if(e->waiters.begin(), e->waiters.end(),
                                                [id](const Entry::Waiter& w) { return w.id == id; });
                         if (it == e->waiters.end()) return;
                         PlaceDone d = std::move(it->done);
                         e->waiters.erase(it);
                         // The other call's attempt is still running and decides the entry (it
                         // can still tell: SettleOnPush is for an attempt that cannot). For this
                         // caller a push of the order that came meanwhile proves it exists;
                         // without one the outcome is not known yet.
                         d(PushProvesOrder(*e) ? DuplicateResponse(*e) : UnknownResponse(*e));
                       }));
}

void OrderEngine::MarkUnknown(std::shared_ptr<Entry> entry, bool sent) {
  if (entry->state == PlacementState::kUnknown) return;
  if (shut_down_) {
    Log(LogLevel::kWarn, "orders.engine", "placement outcome unknown at shutdown",
        {{"client_id", entry->client_id}, {"symbol", entry->symbol}, {"advice", "look the client id up on the exchange"}});
  }
  entry->state = PlacementState::kUnknown;
  entry->publish_when_found = true;
  ++entry->unknown_generation;
  CountUnknown(+1);
  // An attempt that may have reached the exchange gets a whole window from now: it can land late
  // (a re-send too). A re-send refused or never sent adds nothing that could land: it keeps the
  // first attempt's window.
  if (sent || !entry->resending_unknown) entry->unknown_since = scheduler_.clock().Steady();
  entry->resending_unknown = false;
  entry->reconcile_interval = options_.reconcile_initial;
  ScheduleReconcile(entry, options_.reconcile_initial);
}

void OrderEngine::ScheduleReconcile(std::shared_ptr<Entry> entry, std::chrono::milliseconds delay) {
  if (shut_down_) return;
  entry->reconcile_timer = scheduler_.RunAfter(delay, Guard([this, entry] {
                                                 entry->reconcile_timer = 0;
                                                 ReconcileOnce(entry);
                                               }));
}

void OrderEngine::ReconcileOnce(std::shared_ptr<Entry> entry) {
  if (entry->state != PlacementState::kUnknown || shut_down_) return;
  if (reconcile_in_flight_ >= std::max(1, options_.reconcile_concurrency)) {
    // Many unknowns at once (after a fault storm): lookups that all start together share the
    // query lane and can all run past their deadline on their last step, round after round.
    // A few at a time each finish, at the same total rate.
    reconcile_waiting_.emplace_back(entry, entry->unknown_generation);
    return;
  }
  ++reconcile_in_flight_;
  if (metrics_) metrics_->ReconciliationRun("background");
  const SteadyTime now = scheduler_.clock().Steady();
  const SteadyTime deadline = now + options_.background_call_timeout;
  const uint64_t generation = entry->unknown_generation;
  // Only a lookup issued once the window has passed can prove the placement absent, and it reads
  // every view. Before that, only finding it matters: the order detail alone (one call).
  const bool conclusive = now - entry->unknown_since >= options_.reconcile_window;
  FindByClientId(entry->client_id, entry->symbol, deadline, Lane::kQuery,
                 Guard([this, entry, generation, conclusive](absl::StatusOr<std::optional<v1::Order>> found) {
                   --reconcile_in_flight_;
                   StartWaitingReconciles();
                   // Issued before a re-send that is UNKNOWN again: its read predates that attempt,
                   // and the re-send's own timer chain looks again (rescheduling from here would
                   // start a second chain, and replace the timer that stops the first).
                   if (entry->state != PlacementState::kUnknown || entry->unknown_generation != generation) return;
                   if (found.ok() && found->has_value()) {
                     if (metrics_) metrics_->AmbiguousResolution("reconciled_found");
                     if (!Adopt(*entry, **found)) return;  // somebody else's order: ours was never placed
                     Log(LogLevel::kInfo, "orders.engine", "reconciled: placement exists",
                         {{"client_id", entry->client_id}, {"order_id", entry->order.order_id()}});
                     PublishFound(*entry);
                     return;
                   }
                   if (found.ok() && conclusive) {
                     entry->state = PlacementState::kAbsent;
                     entry->reconciled_absent = true;
                     CountUnknown(-1);
                     if (metrics_) metrics_->AmbiguousResolution("reconciled_absent");
                     Log(LogLevel::kWarn, "orders.engine", "reconciled: placement never reached the exchange",
                         {{"client_id", entry->client_id}});
                     return;
                   }
                   entry->reconcile_interval = std::min(options_.reconcile_max_interval, entry->reconcile_interval * 2);
                   ScheduleReconcile(entry, entry->reconcile_interval);
                 }),
                 /*thorough=*/conclusive);
}

void OrderEngine::StartWaitingReconciles() {
  while (reconcile_in_flight_ < std::max(1, options_.reconcile_concurrency) && !reconcile_waiting_.empty()) {
    auto [entry, generation] = std::move(reconcile_waiting_.front());
    reconcile_waiting_.pop_front();
    // Settled meanwhile, or UNKNOWN again after a re-send (which has its own timer chain).
    if (entry->state != PlacementState::kUnknown || entry->unknown_generation != generation) continue;
    ReconcileOnce(entry);
  }
}

void OrderEngine::Remember(const std::shared_ptr<Entry>& entry) {
  entries_[entry->client_id] = entry;
  entry_order_.push_back(entry->client_id);
  // Forget the oldest settled ids; in-flight and unknown ones are kept (moved to the back).
  for (size_t guard = entry_order_.size(); entries_.size() > options_.max_client_ids && guard > 0; --guard) {
    std::string id = std::move(entry_order_.front());
    entry_order_.pop_front();
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    const auto st = it->second->state;
    if (st == PlacementState::kAccepted || st == PlacementState::kAbsent) {
      entries_.erase(it);
    } else {
      entry_order_.push_back(std::move(id));
    }
  }
}

v1::PlaceOrderResponse OrderEngine::AcceptedResponse(const Entry& entry) {
  v1::PlaceOrderResponse resp;
  resp.set_result(v1::PLACE_RESULT_ACCEPTED);
  resp.set_order_id(entry.order.order_id());
  resp.set_client_id(entry.client_id);
  *resp.mutable_order() = entry.order;
  return resp;
}

v1::PlaceOrderResponse OrderEngine::DuplicateResponse(const Entry& entry) const {
  v1::PlaceOrderResponse resp = AcceptedResponse(entry);
  resp.set_result(v1::PLACE_RESULT_DUPLICATE);
  return resp;
}

void OrderEngine::OnOrderUpdate(const v1::Order& order, bool caller_publishes) {
  // What the private stream publishes is on StreamUpdates whether or not it names a client id.
  if (caller_publishes) streamed_.Add(order.order_id());
  if (order.client_id().empty()) return;
  auto it = entries_.find(order.client_id());
  if (it == entries_.end()) return;
  Entry& e = *it->second;
  if (e.state == PlacementState::kAccepted) {
    if (order.order_id().empty() || e.order.order_id().empty() || order.order_id() == e.order.order_id()) {
      if (!OlderView(e.order, order)) e.order = order;
    }
    return;
  }
  // Somebody else's order under this client id is not news about ours; the lookups sort it out.
  if (!SameOrder(e.requested, order)) return;
  // A push without an order id names no order a caller could be given or a stream reader could
  // follow: it settles nothing (SettleOnPush, and below), and it does not stand for the order on
  // StreamUpdates, where the order is published with its id once a read finds it.
  const bool streamed = caller_publishes && !order.order_id().empty();
  if (streamed) e.on_stream = true;
  switch (e.state) {
    case PlacementState::kInFlight:
      e.seen_push = true;
      e.order = order;
      if (streamed) e.publish_when_found = false;  // on StreamUpdates already
      break;
    case PlacementState::kAccepted:
      break;
    case PlacementState::kUnknown:
    case PlacementState::kAbsent: {
      if (order.order_id().empty()) {
        // Accepting it would answer a resubmission with an empty order id: the lookups settle it.
        Log(LogLevel::kInfo, "orders.engine", "order push without an order id left the placement to its lookups",
            {{"client_id", e.client_id}});
        break;
      }
      const bool was_unknown = e.state == PlacementState::kUnknown;
      MarkAccepted(e, order);
      if (streamed) {
        e.publish_when_found = false;  // the private stream publishes its push itself
      } else {
        PublishFound(e);  // a read (a caller's GetOrder): StreamUpdates has not seen it
      }
      if (metrics_) metrics_->AmbiguousResolution("reconciled_found");
      Log(was_unknown ? LogLevel::kInfo : LogLevel::kWarn, "orders.engine", "order push resolved a placement",
          {{"client_id", e.client_id}, {"order_id", order.order_id()}});
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Lookups by client id

void OrderEngine::FindByClientId(const std::string& client_id, const std::string& symbol, SteadyTime deadline,
                                 Lane lane, std::function<void(absl::StatusOr<std::optional<v1::Order>>)> done,
                                 bool thorough) {
  FindStep(client_id, symbol, deadline, lane, 0, thorough ? 2 : 0, false, absl::OkStatus(), std::move(done));
}

void OrderEngine::FindStep(std::string client_id, std::string symbol, SteadyTime deadline, Lane lane, int step,
                           int last_step, bool saw_not_found, absl::Status last_error,
                           std::function<void(absl::StatusOr<std::optional<v1::Order>>)> done) {
  if (step > last_step || scheduler_.clock().Steady() >= deadline) {
    // "Not found" only when every step answered: a step that failed or was not reached may be the
    // one that lists the order (the detail view lags), and reconciliation takes "not found" at
    // the end of its window for "never placed".
    if (saw_not_found && last_error.ok() && step > last_step) return done(std::optional<v1::Order>());
    return done(last_error.ok() ? MakeError(absl::StatusCode::kDeadlineExceeded,
                                            "no time left to look the order up", reason::kNetwork)
                                : last_error);
  }
  const Endpoint* ep = step == 0 ? &ep::kGetOrderDetail : step == 1 ? &ep::kGetPendingOrders : &ep::kGetHistoryOrders;
  QueryParams q = {{"clientId", client_id}};
  if (step > 0) {
    q.emplace_back("symbol", symbol);
    q.emplace_back("limit", "100");
  }
  rest_.Call(*ep, std::move(q), "", deadline,
             Guard([this, client_id, symbol, deadline, lane, step, last_step, saw_not_found, last_error,
                    done = std::move(done)](RestResult r) mutable {
               bool not_found = saw_not_found;
               absl::Status err = last_error;
               if (r.outcome == Outcome::kOk) {
                 if (step == 0) {
                   const Json* obj = &r.data;
                   if (r.data.is_array() && !r.data.empty()) obj = &r.data.front();
                   v1::Order o = ParseOrder(*obj);
                   if (!o.order_id().empty() && (o.client_id().empty() || o.client_id() == client_id)) {
                     if (o.client_id().empty()) o.set_client_id(client_id);
                     return done(std::optional<v1::Order>(std::move(o)));
                   }
                   not_found = true;
                 } else {
                   for (const Json* item : ParseListPage(r.data, "orderList").items) {
                     v1::Order o = ParseOrder(*item);
                     if (o.client_id() == client_id && !o.order_id().empty()) {
                       return done(std::optional<v1::Order>(std::move(o)));
                     }
                   }
                   not_found = true;
                 }
               } else if (r.outcome == Outcome::kRejected && r.code == 20007) {
                 not_found = true;
               } else {
                 err = r.status;
               }
               FindStep(std::move(client_id), std::move(symbol), deadline, lane, step + 1, last_step, not_found,
                        std::move(err), std::move(done));
             }),
             lane);
}

// ---------------------------------------------------------------------------------------------
// Batch

void OrderEngine::BatchPlaceOrders(v1::BatchPlaceOrdersRequest req, SteadyTime deadline,
                                   Reply<v1::BatchPlaceOrdersResponse> done) {
  if (shut_down_) return done(Unavailable("the order service is shutting down"));
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) return done(Invalid("symbol is required for a batch"));
  if (req.orders_size() < 1 || req.orders_size() > 5) {
    return done(Invalid(absl::StrCat("a batch holds 1-5 orders (the exchange's stricter documented limit), got ",
                                     req.orders_size())));
  }
  auto rules = rules_.snapshot();
  struct Item {
    v1::PlaceOrderRequest req;
    std::string client_id;
    std::string fingerprint;
    OrderedJson object;
    bool invalid_today = false;  ///< a resubmission today's rules refuse: answered, never sent
  };
  std::vector<Item> items;
  std::set<std::string> seen_ids;
  for (int i = 0; i < req.orders_size(); ++i) {
    v1::PlaceOrderRequest o = req.orders(i);
    // A dry run is the batch's choice: an item asking for one in a live batch must not be placed.
    if (o.dry_run() && !req.dry_run()) {
      if (metrics_) metrics_->ValidationRefusal("dry_run");
      return done(MakeError(absl::StatusCode::kInvalidArgument,
                            absl::StrCat("orders[", i,
                                         "].dry_run is set but the batch's dry_run is not: a batch is a dry run as "
                                         "a whole (set BatchPlaceOrdersRequest.dry_run); nothing was sent"),
                            reason::kValidation));
    }
    if (!o.symbol().empty() && NormalizeSymbol(o.symbol()) != symbol) {
      return done(Invalid(absl::StrCat("orders[", i, "].symbol ", o.symbol(), " differs from the batch symbol ", symbol)));
    }
    o.set_symbol(symbol);
    std::string rule;
    bool invalid_today = false;
    if (absl::Status s = ValidatePlaceOrder(o, rules.get(), &rule); !s.ok()) {
      // As for PlaceOrder: a resubmission of a known placement is answered from the table even if
      // today's rules refuse the order; anything else fails the whole batch.
      invalid_today = KnownResubmission(o, symbol, req.dry_run());
      if (!invalid_today) {
        if (metrics_) metrics_->ValidationRefusal(rule);
        return done(MakeError(s.code(), absl::StrCat("orders[", i, "]: ", std::string(s.message())),
                              reason::kValidation));
      }
    }
    Item item;
    item.invalid_today = invalid_today;
    item.client_id = o.client_id().empty() ? GenerateClientId() : o.client_id();
    if (!seen_ids.insert(item.client_id).second) {
      return done(Invalid(absl::StrCat("client id ", item.client_id, " appears twice in the batch")));
    }
    item.fingerprint = Fingerprint(o, symbol);
    item.object = PlaceOrderObject(o, symbol, item.client_id);
    item.req = std::move(o);
    items.push_back(std::move(item));
  }

  auto resp = std::make_shared<v1::BatchPlaceOrdersResponse>();
  for (const auto& item : items) {
    auto* r = resp->add_results();
    r->set_client_id(item.client_id);
  }
  if (req.dry_run() || options_.mode == Mode::kDryRun) {
    std::vector<OrderedJson> objects;
    for (const auto& item : items) objects.push_back(item.object);
    *resp->mutable_dry_run() = ToDryRun(rest_.Preview(ep::kBatchOrder, {}, BatchOrderBody(symbol, objects)));
    for (auto& r : *resp->mutable_results()) r.set_result(v1::PLACE_RESULT_DRY_RUN);
    return done(std::move(*resp));
  }

  // Dedupe per item: known client ids are answered locally and not sent again.
  std::vector<size_t> to_send, waiting;
  std::vector<std::shared_ptr<Entry>> entries(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto* r = resp->mutable_results(static_cast<int>(i));
    auto it = entries_.find(items[i].client_id);
    if (it != entries_.end()) {
      auto& e = it->second;
      if (e->foreign) {
        if (SameOrder(OrderFromRequest(items[i].req, symbol, items[i].client_id), e->order)) {
          if (metrics_) metrics_->DedupeHit();
          r->set_result(v1::PLACE_RESULT_DUPLICATE);
          r->set_order_id(e->order.order_id());
        } else {
          *r->mutable_error() = *GetExchangeError(ClientIdTaken(items[i].client_id, e->order));
        }
        continue;
      }
      if (e->state == PlacementState::kAbsent) e->fingerprint = items[i].fingerprint;
      if (e->fingerprint != items[i].fingerprint) {
        auto s = MakeError(absl::StatusCode::kAlreadyExists,
                           absl::StrCat("client id ", items[i].client_id, " was already used for a different order"),
                           reason::kDuplicateClientId);
        *r->mutable_error() = *GetExchangeError(s);
        continue;
      }
      if (e->state == PlacementState::kAccepted) {
        if (metrics_) metrics_->DedupeHit();
        r->set_result(v1::PLACE_RESULT_DUPLICATE);
        r->set_order_id(e->order.order_id());
        continue;
      }
      if (e->state == PlacementState::kInFlight) {
        // Another call is placing it right now: this item waits for that outcome.
        if (metrics_) metrics_->DedupeHit();
        waiting.push_back(i);
        entries[i] = e;
        continue;
      }
      if (items[i].invalid_today) {  // kUnknown, refused by today's rules: nothing is re-sent
        r->set_result(v1::PLACE_RESULT_UNKNOWN);
        continue;
      }
      // kUnknown / kAbsent: send again under the same client id (30042 protects a late first try).
      if (e->state == PlacementState::kUnknown) {
        if (e->reconcile_timer != 0) scheduler_.Cancel(e->reconcile_timer);
        e->reconcile_timer = 0;
        CountUnknown(-1);
        e->resending_unknown = true;
      } else {
        e->seen_push = false;  // a push seen by an earlier attempt says nothing about this one
        e->on_stream = false;
        e->symbol = symbol;  // a corrected order may be for another symbol
        e->order = OrderFromRequest(items[i].req, symbol, items[i].client_id);
        e->requested = e->order;
        // Reconciliation only stopped finding an earlier attempt, which may have landed since, and
        // a batch sends without looking first: a refusal of this re-send (margin the live order
        // uses) must not read "not placed". It is a re-send of an unknown placement.
        if (e->reconciled_absent) e->resending_unknown = true;
      }
      e->state = PlacementState::kInFlight;
      entries[i] = e;
    } else {
      auto e = std::make_shared<Entry>();
      e->client_id = items[i].client_id;
      e->symbol = symbol;
      e->fingerprint = items[i].fingerprint;
      e->order = OrderFromRequest(items[i].req, symbol, items[i].client_id);
      e->requested = e->order;
      Remember(e);
      entries[i] = e;
    }
    to_send.push_back(i);
  }
  if (to_send.empty() && waiting.empty()) return done(std::move(*resp));

  struct BatchState {
    std::shared_ptr<v1::BatchPlaceOrdersResponse> resp;
    size_t pending;
    Reply<v1::BatchPlaceOrdersResponse> done;
    bool finished = false;
  };
  auto batch = std::make_shared<BatchState>(BatchState{resp, to_send.size() + waiting.size(), std::move(done)});
  // Writes one item's outcome; the call completes once every sent or waiting item has one.
  auto record = [batch](size_t i, const absl::StatusOr<v1::PlaceOrderResponse>& out) {
    if (batch->finished) return;  // the call has its answer (a refusal of the whole batch)
    auto* item = batch->resp->mutable_results(static_cast<int>(i));
    if (out.ok()) {
      item->set_result(out->result());
      item->set_order_id(out->order_id());
    } else if (auto d = GetExchangeError(out.status())) {
      *item->mutable_error() = *d;
    } else {
      item->mutable_error()->set_message(std::string(out.status().message()));
    }
    if (--batch->pending == 0 && !batch->finished) {
      batch->finished = true;
      batch->done(std::move(*batch->resp));
    }
  };
  // Items another call is placing: their outcome (ACCEPTED turns into DUPLICATE) fills them in.
  for (size_t i : waiting) {
    WaitAsDuplicate(entries[i], [record, i](absl::StatusOr<v1::PlaceOrderResponse> out) { record(i, out); },
                    deadline);
  }
  if (to_send.empty()) return;

  std::vector<OrderedJson> objects;
  for (size_t i : to_send) objects.push_back(items[i].object);
  const SteadyTime send_deadline = SendDeadline(deadline);

  std::vector<std::shared_ptr<Entry>> sent_entries;
  for (size_t i : to_send) sent_entries.push_back(entries[i]);
  // Every item of the call is in this request: nothing was answered locally or waits on another call.
  const bool whole_call = to_send.size() == static_cast<size_t>(resp->results_size());
  // Until the exchange answers, shutdown can answer the sent items UNKNOWN (with their ids), or
  // with the order a push of it showed (PendingAnswer).
  const uint64_t batch_id = ++next_batch_id_;
  batches_in_flight_.emplace(batch_id, [this, record, entries, to_send] {
    for (size_t i : to_send) record(i, PendingAnswer(*entries[i]));
  });
  CallScope scope(EveryCallerGone(sent_entries, CallScope::Current()));
  rest_.Call(
      ep::kBatchOrder, {}, BatchOrderBody(symbol, objects), send_deadline,
      Guard([this, batch, record, entries, to_send, deadline, whole_call, batch_id](RestResult r) {
        batches_in_flight_.erase(batch_id);
        if (r.outcome == Outcome::kNotSent || r.outcome == Outcome::kRejected) {
          // The whole request was refused: nothing of it was placed. The call fails as a whole
          // only if the request was all of it. An item answered locally (DUPLICATE of a known
          // order) or waiting on another call keeps its own answer, and an item that re-sent a
          // placement whose first outcome is unknown is still unknown (or, pushed meanwhile, is
          // that order): then every item gets its own answer.
          std::vector<absl::StatusOr<v1::PlaceOrderResponse>> outs;
          bool any_answered = false;
          for (size_t i : to_send) {
            outs.push_back(RefusedAttempt(entries[i], r.status));
            any_answered = any_answered || outs.back().ok();
          }
          if (batch->finished) return;
          if (!any_answered && whole_call) {
            batch->finished = true;
            return batch->done(r.status);
          }
          for (size_t k = 0; k < to_send.size(); ++k) record(to_send[k], outs[k]);
          return;
        }
        if (r.outcome == Outcome::kAmbiguous && metrics_) metrics_->Ambiguous(ep::kBatchOrder.name);
        SuccessFailureLists lists;
        if (r.outcome == Outcome::kOk) lists = ParseSuccessFailure(r.data);
        for (size_t i : to_send) {
          auto e = entries[i];
          const OrderAck* ok = nullptr;
          for (const auto& s : lists.success) {
            if (s.client_id == e->client_id) ok = &s;
          }
          const ItemFailure* fail = nullptr;
          for (const auto& f : lists.failure) {
            if (f.client_id == e->client_id) fail = &f;
          }
          if (ok != nullptr && !ok->order_id.empty()) {
            v1::Order order = e->order;
            order.set_order_id(ok->order_id);
            // As for a single placement: a push that beat this reply (a fill) keeps its status.
            if (order.status() == v1::ORDER_STATUS_UNSPECIFIED) {
              order.set_status(v1::ORDER_STATUS_INIT);
              order.set_status_raw("INIT");
            }
            MarkAccepted(*e, order);
            v1::PlaceOrderResponse out;
            out.set_result(v1::PLACE_RESULT_ACCEPTED);
            out.set_order_id(ok->order_id);
            out.set_client_id(e->client_id);
            *out.mutable_order() = e->order;
            record(i, out);
            Settle(e, out);
            continue;
          }
          if (fail != nullptr && fail->code != 30042 && IsDefinitiveRejection(fail->code)) {
            absl::Status err = MakeError(MapExchangeCode(fail->code),
                                         absl::StrCat("exchange refused this order: ", fail->code, " ", fail->msg),
                                         reason::kExchangeRejected, fail->code, ep::kBatchOrder.path,
                                         r.http_status);
            record(i, RefusedAttempt(e, err));
            continue;
          }
          // Lost, duplicate (30042) or not mentioned: look it up by client id. Settle() tells
          // this waiter, which records the item.
          e->Wait([record, i](absl::StatusOr<v1::PlaceOrderResponse> out) { record(i, out); }, false);
          if (fail != nullptr && fail->code == 30042) {
            FindByClientId(e->client_id, e->symbol, deadline, Lane::kPlace,
                           Guard([this, e](absl::StatusOr<std::optional<v1::Order>> found) {
                             if (found.ok() && found->has_value()) {
                               (void)SettleFound(e, **found, /*duplicate=*/true);
                             } else if (!SettleOnPush(e, /*duplicate=*/true, "")) {
                               MarkUnknown(e);
                               Settle(e, UnknownResponse(*e));
                             }
                           }));
          } else {
            ResolveAmbiguous(e, deadline, 0,
                             r.outcome == Outcome::kOk
                                 ? MakeError(absl::StatusCode::kUnavailable, "the batch reply did not list this order",
                                             reason::kBadReply)
                                 : r.status);
          }
        }
      }));
}

}  // namespace bx::orders

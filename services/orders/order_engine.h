// The order engine: every trading and account call of OrderService, on the executor thread.
//
// Placement is idempotent by client id and never retried blindly:
//   * every order gets a client id (generated when the caller gives none);
//   * a client id seen before returns the original order (PLACE_RESULT_DUPLICATE) without a
//     second exchange call; one still in flight makes the duplicate wait for the original's
//     outcome; the exchange's own 30042 "client id duplicate" maps back to the original order;
//   * when the exchange's answer is lost (timeout after send, reset, 5xx, 429, 10005/10006,
//     unreadable reply) the order is looked up by client id (order detail, then open orders,
//     then history) and the real outcome returned; only when that still cannot tell does the
//     call return PLACE_RESULT_UNKNOWN, and the engine keeps looking in the background until
//     the order is found or the reconcile window ends. A later submission of the same client id
//     looks the order up again first, and relies on the exchange's 30042 if it re-sends.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "bitunix/orders/v1/orders.pb.h"
#include "services/orders/call_scope.h"
#include "services/orders/recent_ids.h"
#include "services/orders/rest_client.h"
#include "services/orders/scheduler.h"
#include "services/orders/validation.h"

namespace bx::orders {

class OrdersMetrics;

enum class Mode { kLive, kPaper, kDryRun };

/// A state-changing call whose answer was lost: the error says so and what to do (`advice`).
absl::Status AmbiguousError(const RestResult& r, const Endpoint& ep, std::string_view advice);
std::string_view ModeName(Mode m);

struct EngineOptions {
  Mode mode = Mode::kLive;
  /// Part of a placement's deadline kept back for resolving a lost answer by client id.
  std::chrono::milliseconds resolve_reserve{1500};
  /// Lookups within the call when the first finds nothing, spaced by resolve_retry_delay.
  int resolve_attempts = 2;
  std::chrono::milliseconds resolve_retry_delay{300};
  /// Background reconciliation of UNKNOWN placements: first look after `reconcile_initial`,
  /// doubling up to `reconcile_max_interval`, for `reconcile_window` in total.
  std::chrono::milliseconds reconcile_initial{1000};
  std::chrono::milliseconds reconcile_max_interval{30000};
  std::chrono::milliseconds reconcile_window{std::chrono::minutes(5)};
  /// Deadline of background lookups.
  std::chrono::milliseconds background_call_timeout{10000};
  /// Background reconciliation lookups running at once; the rest wait their turn.
  int reconcile_concurrency = 4;
  /// Client ids remembered locally (oldest settled ones are forgotten first; the exchange's 30042
  /// still protects forgotten ids).
  size_t max_client_ids = 100000;
  std::string default_margin_coin = "USDT";
};

template <class T>
using Reply = std::function<void(absl::StatusOr<T>)>;

class OrderEngine {
 public:
  /// `metrics` may be null.
  OrderEngine(Scheduler& scheduler, RestClient& rest, SymbolRules& rules, OrdersMetrics* metrics,
              EngineOptions options);
  ~OrderEngine();
  OrderEngine(const OrderEngine&) = delete;
  OrderEngine& operator=(const OrderEngine&) = delete;

  // Every call: executor thread only; `done` runs exactly once on the executor (possibly inline
  // for refusals that need no exchange call).
  void PlaceOrder(v1::PlaceOrderRequest req, SteadyTime deadline, Reply<v1::PlaceOrderResponse> done);
  void BatchPlaceOrders(v1::BatchPlaceOrdersRequest req, SteadyTime deadline,
                        Reply<v1::BatchPlaceOrdersResponse> done);
  void CancelOrders(v1::CancelOrdersRequest req, SteadyTime deadline, Reply<v1::CancelOrdersResponse> done);
  void CancelAllOrders(v1::CancelAllOrdersRequest req, SteadyTime deadline, Reply<v1::CancelAllOrdersResponse> done);
  void ModifyOrder(v1::ModifyOrderRequest req, SteadyTime deadline, Reply<v1::ModifyOrderResponse> done);
  void GetOrder(v1::GetOrderRequest req, SteadyTime deadline, Reply<v1::GetOrderResponse> done);
  void ListOpenOrders(v1::ListOpenOrdersRequest req, SteadyTime deadline, Reply<v1::ListOpenOrdersResponse> done);
  void ListOrderHistory(v1::ListOrderHistoryRequest req, SteadyTime deadline,
                        Reply<v1::ListOrderHistoryResponse> done);
  void ListFills(v1::ListFillsRequest req, SteadyTime deadline, Reply<v1::ListFillsResponse> done);
  void GetAccount(v1::GetAccountRequest req, SteadyTime deadline, Reply<v1::GetAccountResponse> done);
  void ListPositions(v1::ListPositionsRequest req, SteadyTime deadline, Reply<v1::ListPositionsResponse> done);
  void ListPositionHistory(v1::ListPositionHistoryRequest req, SteadyTime deadline,
                           Reply<v1::ListPositionHistoryResponse> done);
  void GetLeverageMarginMode(v1::GetLeverageMarginModeRequest req, SteadyTime deadline,
                             Reply<v1::GetLeverageMarginModeResponse> done);
  void SetLeverage(v1::SetLeverageRequest req, SteadyTime deadline, Reply<v1::SetLeverageResponse> done);
  void SetMarginMode(v1::SetMarginModeRequest req, SteadyTime deadline, Reply<v1::SetMarginModeResponse> done);
  void SetPositionMode(v1::SetPositionModeRequest req, SteadyTime deadline, Reply<v1::SetPositionModeResponse> done);
  void AdjustPositionMargin(v1::AdjustPositionMarginRequest req, SteadyTime deadline,
                            Reply<v1::AdjustPositionMarginResponse> done);
  void FlashClosePosition(v1::FlashClosePositionRequest req, SteadyTime deadline,
                          Reply<v1::FlashClosePositionResponse> done);
  void CloseAllPositions(v1::CloseAllPositionsRequest req, SteadyTime deadline,
                         Reply<v1::CloseAllPositionsResponse> done);
  void PlaceTpslOrder(v1::PlaceTpslOrderRequest req, SteadyTime deadline, Reply<v1::PlaceTpslOrderResponse> done);
  void ModifyTpslOrder(v1::ModifyTpslOrderRequest req, SteadyTime deadline, Reply<v1::ModifyTpslOrderResponse> done);
  void CancelTpslOrder(v1::CancelTpslOrderRequest req, SteadyTime deadline, Reply<v1::CancelTpslOrderResponse> done);
  void ListTpslOrders(v1::ListTpslOrdersRequest req, SteadyTime deadline, Reply<v1::ListTpslOrdersResponse> done);

  /// Executor. All open orders (every page, until the listing ends), for stream snapshots and
  /// reconnect reconciliation. A listing that cannot be read in full within `deadline` (or does
  /// not end) is an error, never a partial list.
  void FetchAllOpenOrders(SteadyTime deadline, Reply<std::vector<v1::Order>> done);
  /// Executor. All pending TP/SL orders (every page, likewise), for reconnect reconciliation and
  /// ListTpslOrders; `filter` (symbol, positionId) goes with every page.
  void FetchAllPendingTpsl(SteadyTime deadline, Reply<std::vector<v1::TpslOrder>> done, QueryParams filter = {});
  /// Executor. Looks an order up by client id: the order, nullopt when the exchange says it does
  /// not exist (every step read answered), or an error when it could not tell.
  /// `thorough` false reads only the order detail (the authoritative view); true falls back to
  /// the open-order and history lists (for an exchange whose detail view lags).
  void FindByClientId(const std::string& client_id, const std::string& symbol, SteadyTime deadline, Lane lane,
                      std::function<void(absl::StatusOr<std::optional<v1::Order>>)> done, bool thorough = true);

  /// Executor. An order push from the private stream (or a reconciliation read): resolves
  /// pending placements with that client id and refreshes the cached order.
  /// `caller_publishes`: the caller puts this order on StreamUpdates itself (the private stream
  /// does, for its pushes and its reconciliation reads); otherwise (a GetOrder's read) a
  /// placement answered UNKNOWN that this resolves is published through the reconciled sink.
  void OnOrderUpdate(const v1::Order& order, bool caller_publishes = true);

  /// Executor. Loads trading_pairs now, then every `every` (failed loads retry sooner).
  void StartRulesRefresh(std::chrono::milliseconds every);

  /// Called with orders that background reconciliation discovered (to publish them).
  void set_reconciled_sink(std::function<void(const v1::Order&)> sink) { reconciled_sink_ = std::move(sink); }

  /// Executor. Stops timers; pending calls still complete through the REST client.
  void Shutdown();
  /// Executor, at shutdown, before the gRPC grace runs out: every caller still waiting for a
  /// placement's outcome (single or batch item) is answered now with PLACE_RESULT_UNKNOWN and its
  /// client id, so that it can look the order up after the restart; gRPC would otherwise cancel
  /// it with a bare "Cancelling all calls", without the id the gateway may have generated. When a
  /// private push of the order (with its order id) has already reached the engine, the caller gets
  /// that order instead (PendingAnswer). Only the callers are answered: the entries keep their
  /// state (an attempt still out goes on deciding it until the executor stops).
  /// Returns how many callers it answered.
  size_t AnswerPendingPlacements();

  /// What the engine knows about a client id (tests, GetOrder fallbacks).
  enum class PlacementState { kInFlight, kAccepted, kUnknown, kAbsent };
  struct PlacementView {
    PlacementState state;
    std::string order_id;
  };
  std::optional<PlacementView> Placement(const std::string& client_id) const;
  size_t unknown_placements() const { return unknown_count_; }
  const EngineOptions& options() const { return options_; }
  /// The symbol rules the engine validates against (thread-safe snapshots).
  const SymbolRules& rules() const { return rules_; }

 private:
  struct Entry;
  using PlaceDone = std::function<void(absl::StatusOr<v1::PlaceOrderResponse>)>;

  // Placement.
  /// The deadline to send a state-changing request with: the call's, less `resolve_reserve` (or
  /// half of what is left) for finding out what happened if its answer is lost.
  SteadyTime SendDeadline(SteadyTime deadline) const;
  /// Whether `req` resubmits a client id this gateway has placed, is placing or cannot yet tell
  /// about (same order): answered from the table even if today's rules refuse the order.
  bool KnownResubmission(const v1::PlaceOrderRequest& req, const std::string& symbol, bool dry_run) const;
  void SendPlacement(std::shared_ptr<Entry> entry, std::string body, SteadyTime deadline);
  /// A probe that is true when every caller waiting for these entries' placement has gone:
  /// `sender` (the batch call sending them, when not itself a waiter) and every waiter.
  static CallScope::Gone EveryCallerGone(const std::vector<std::shared_ptr<Entry>>& entries,
                                         CallScope::Gone sender = {});
  void OnPlaceReply(std::shared_ptr<Entry> entry, SteadyTime deadline, RestResult r);
  void ResolveAmbiguous(std::shared_ptr<Entry> entry, SteadyTime deadline, int attempt, absl::Status cause);
  void Settle(std::shared_ptr<Entry> entry, absl::StatusOr<v1::PlaceOrderResponse> result);
  void MarkAccepted(Entry& entry, const v1::Order& order);
  /// A re-send of a placement whose earlier attempt may have landed: looks the client id up
  /// first. Found, or pushed by the private stream meanwhile: DUPLICATE, nothing sent. Not found
  /// (every step read answered): sends `body`. Cannot tell: UNKNOWN again, nothing sent.
  void LookUpThenResend(std::shared_ptr<Entry> e, const std::string& symbol, std::string body, SteadyTime deadline,
                        bool thorough);
  /// Publishes (once) through the reconciled sink an order whose placement a caller was told
  /// UNKNOWN about, now that it is found by anything but a private-stream push.
  void PublishFound(Entry& entry);
  /// `sent`: the attempt whose outcome is unknown may have reached the exchange (false: a re-send
  /// that was refused or never sent, which keeps the first attempt's reconcile window).
  void MarkUnknown(std::shared_ptr<Entry> entry, bool sent = true);
  /// Takes what the exchange holds under the entry's client id: our order (true) or somebody
  /// else's (false; the entry becomes `foreign`).
  bool Adopt(Entry& entry, const v1::Order& found);
  /// Adopt, then tell the waiters: ACCEPTED (or DUPLICATE) for our order, ALREADY_EXISTS for
  /// somebody else's. Returns what the waiters got.
  absl::StatusOr<v1::PlaceOrderResponse> SettleFound(std::shared_ptr<Entry> entry, const v1::Order& found,
                                                     bool duplicate);
  /// An in-flight attempt that cannot tell what happened (its lookup failed or lists nothing yet,
  /// or its re-send was refused) while a private push of this very order (same client id,
  /// SameOrder, with an order id) reached the engine: the push proves the order exists, so the
  /// entry settles with it (SettleFound; `resolution` is counted when not empty) and the result
  /// is returned. nullopt when no such push was seen: the caller decides as before.
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> SettleOnPush(const std::shared_ptr<Entry>& entry,
                                                                     bool duplicate, std::string_view resolution);
  /// Whether a private push of this very order (same client id, SameOrder) that carried an order
  /// id reached the engine while the entry's current attempt is in flight: the order exists.
  static bool PushProvesOrder(const Entry& entry);
  /// What a caller of the entry's in-flight attempt is told when it must be answered before the
  /// attempt has decided (shutdown): the pushed order when PushProvesOrder (ACCEPTED, or DUPLICATE
  /// for a re-send of an UNKNOWN placement, as SettleOnPush answers it), else UNKNOWN.
  v1::PlaceOrderResponse PendingAnswer(const Entry& entry) const;
  /// The exchange (or the rate limiter) refused this attempt: the id is free again and the
  /// waiters get the refusal. Unless this attempt re-sent a placement whose first outcome is
  /// unknown: that one stays unknown, and the waiters get UNKNOWN (a refusal of the re-send says
  /// nothing about the first attempt), or DUPLICATE with the order when a push of it came
  /// meanwhile (SettleOnPush). Returns what the waiters got.
  absl::StatusOr<v1::PlaceOrderResponse> RefusedAttempt(std::shared_ptr<Entry> entry, absl::Status status);
  /// UNKNOWN for this entry's client id: the outcome is not known yet and is being reconciled.
  static v1::PlaceOrderResponse UnknownResponse(const Entry& entry);
  /// A second submission of an id whose placement another call is making: `done` gets that
  /// outcome (ACCEPTED turns into DUPLICATE), or at `deadline`, if it has not come by then,
  /// DUPLICATE with the pushed order when a push proves it exists (PushProvesOrder), else UNKNOWN.
  /// Either way only this caller is answered: the other call's attempt still decides the entry.
  void WaitAsDuplicate(const std::shared_ptr<Entry>& entry, PlaceDone done, SteadyTime deadline);
  void ScheduleReconcile(std::shared_ptr<Entry> entry, std::chrono::milliseconds delay);
  void ReconcileOnce(std::shared_ptr<Entry> entry);
  /// Starts waiting reconciliation lookups while fewer than reconcile_concurrency run.
  void StartWaitingReconciles();
  void Remember(const std::shared_ptr<Entry>& entry);
  void Forget(const std::string& client_id);
  v1::PlaceOrderResponse DuplicateResponse(const Entry& entry) const;
  static v1::PlaceOrderResponse AcceptedResponse(const Entry& entry);
  void FindStep(std::string client_id, std::string symbol, SteadyTime deadline, Lane lane, int step, int last_step,
                bool saw_not_found, absl::Status last_error,
                std::function<void(absl::StatusOr<std::optional<v1::Order>>)> done);

  // Generic one-call helper: send, then parse `data` into the response.
  template <class Resp>
  void Simple(const Endpoint& ep, QueryParams query, std::string body, SteadyTime deadline, Reply<Resp> done,
              std::function<absl::StatusOr<Resp>(const Json& data)> parse);
  /// dry-run mode refusal for state-changing calls other than placements.
  bool RefuseInDryRun(const Endpoint& ep, const QueryParams& q, const std::string& body,
                      const std::function<void(absl::Status)>& fail);
  struct Listing;
  /// One page of a FetchAll listing; the next, or `done`, follows.
  void FetchListPage(std::shared_ptr<Listing> listing, SteadyTime deadline);
  void LoadRules();
  /// TP/SL triggers through the placement validator on a stand-in order (symbol, precision,
  /// trigger types) and the quantities as positive decimals; none with a whole-position TP/SL.
  absl::Status ValidateTpsl(const std::string& symbol, const v1::TpSl& tpsl, const std::string& tp_qty,
                            const std::string& sl_qty, bool whole_position) const;

  /// The one place unknown_count_ changes, so the gauge follows it.
  void CountUnknown(int delta);
  std::string MarginCoin(const std::string& requested) const {
    return requested.empty() ? options_.default_margin_coin : requested;
  }
  template <class F>
  auto Guard(F f) {
    std::weak_ptr<int> alive = alive_;
    return [alive, f = std::move(f)](auto&&... args) mutable {
      if (!alive.expired()) f(std::forward<decltype(args)>(args)...);
    };
  }

  Scheduler& scheduler_;
  RestClient& rest_;
  SymbolRules& rules_;
  OrdersMetrics* metrics_;
  EngineOptions options_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries_;
  std::deque<std::string> entry_order_;
  int reconcile_in_flight_ = 0;
  /// Lookups due while reconcile_concurrency ran: (entry, its unknown_generation then).
  std::deque<std::pair<std::shared_ptr<Entry>, uint64_t>> reconcile_waiting_;
  size_t unknown_count_ = 0;
  std::function<void(const v1::Order&)> reconciled_sink_;
  /// Order ids the private stream has put on StreamUpdates (its pushes and reconciliation reads,
  /// with or without a client id this engine could match), the last 10,000 of them: PublishFound
  /// does not publish them again.
  RecentIds streamed_{10000};
  std::chrono::milliseconds rules_every_{0};
  Scheduler::TimerId rules_timer_ = 0;
  bool shut_down_ = false;
  /// Batch requests out at the exchange: each answers its sent items UNKNOWN (for shutdown).
  std::unordered_map<uint64_t, std::function<void()>> batches_in_flight_;
  uint64_t next_batch_id_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace bx::orders

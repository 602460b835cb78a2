// The exchange's private WebSocket: login, the order/position/balance/tpsl channels, JSON pings,
// reconnect with backoff and resubscribe. After a reconnect, open orders and positions are
// reconciled over REST and what changed while the feed was down is published, so no update is
// lost. Every push also goes to the order engine (it resolves placements by client id).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>
#include <string>

#include "common/backoff.h"
#include "common/net/ws_client.h"
#include "services/orders/order_engine.h"
#include "services/orders/recent_ids.h"
#include "services/orders/request_signer.h"
#include "services/orders/scheduler.h"
#include "services/orders/update_hub.h"

namespace bx::orders {

class OrdersMetrics;

struct PrivateStreamOptions {
  /// JSON ping cadence (the exchange closes idle sockets after ~60 s; it never pings first).
  std::chrono::milliseconds ping_interval{15000};
  /// No frame at all for this long: the socket is considered dead and replaced.
  std::chrono::milliseconds idle_timeout{45000};
  /// How long to wait for the {"op":"connect"} greeting before logging in anyway.
  std::chrono::milliseconds greeting_wait{1000};
  /// The login reply is undocumented: without one after this long, subscribe anyway.
  std::chrono::milliseconds login_timeout{5000};
  BackoffPolicy reconnect{std::chrono::milliseconds(500), std::chrono::milliseconds(30000), 2.0, 0.5};
  /// Deadline of the REST reconciliation after a reconnect.
  std::chrono::milliseconds reconcile_timeout{15000};
  /// Pause before repeating a reconciliation that failed.
  BackoffPolicy reconcile_retry{std::chrono::milliseconds(1000), std::chrono::milliseconds(30000), 2.0, 0.2};
};

class PrivateStream {
 public:
  using WsFactory = std::function<std::unique_ptr<net::WsClient>()>;
  enum class State { kStopped, kConnecting, kAwaitGreeting, kLoggingIn, kLive, kWaitingToReconnect };

  /// `metrics` may be null. Runs on the scheduler; WebSocket callbacks are posted onto it.
  PrivateStream(Scheduler& scheduler, WsFactory factory, const RequestSigner& signer, OrderEngine& engine,
                UpdateHub& hub, OrdersMetrics* metrics, PrivateStreamOptions options);
  ~PrivateStream();

  /// Executor. Connects (and keeps reconnecting until Stop).
  void Start();
  /// Executor. Closes the socket; no more reconnects.
  void Stop();

  /// Thread-safe view for health and tests.
  bool live() const { return live_.load(); }
  uint64_t connects() const { return connects_.load(); }
  uint64_t reconciliations() const { return reconciliations_.load(); }
  State state() const { return state_; }

 private:
  void Connect();
  void OnOpen(uint64_t gen);
  void OnText(uint64_t gen, const std::string& text);
  void OnClosed(uint64_t gen, absl::Status reason);
  void SendLogin();
  void Subscribe();
  void ArmPing();
  void ScheduleReconnect(const std::string& why);
  void Drop(const std::string& why);
  void HandlePush(const std::string& ch, const Json& frame);
  /// A reconciliation after (re)connecting. What pushes said while its REST reads were in flight
  /// stays: a push that arrives on the new socket is as new as a read or newer, so a read never
  /// overwrites it (a slow open-order listing must not revive an order a push just closed).
  struct ReconcileRun {
    bool publish = false;
    int pending = 0;      ///< REST reads still to answer
    bool failed = false;  ///< a read failed: the whole run is repeated after a pause
    std::set<std::string> orders, positions, balance_coins, tpsl;  ///< pushed since it began
    std::set<std::string> positions_before;  ///< what was believed open when it began
    std::vector<v1::Position> closed_positions;  ///< the position history since the loss
    uint64_t losses_at_start = 0;                ///< losses_ when it began
  };
  void Reconcile(bool publish);
  /// Part of a publishing run: orders created since `since_ms` that finished while the feed was
  /// down (they were never open when it went down, so the open-order listing cannot show them),
  /// page by page from `skip`.
  void ReadFinishedOrders(const std::shared_ptr<ReconcileRun>& run, int64_t since_ms, uint32_t skip,
                          SteadyTime deadline);
  /// An order believed open, no longer listed, whose detail read answered NOT_FOUND: its final
  /// state is looked up in the order history (by order id, no time range). Not there either, it
  /// is published closed with status ORDER_STATUS_UNKNOWN (the last state seen otherwise): a
  /// stream must never go on believing it open.
  void ResolveUnlistedOrder(const std::shared_ptr<ReconcileRun>& run, const std::string& id, SteadyTime deadline);
  /// The TP/SL part of a run: every pending TP/SL order, then (publishing runs) the TP/SL history
  /// from `since_ms` -- or from the creation of the oldest TP/SL believed pending and no longer
  /// listed -- then ApplyTpsl.
  void ReconcileTpsl(const std::shared_ptr<ReconcileRun>& run, int64_t since_ms, SteadyTime deadline);
  using TpslById = std::map<std::string, v1::TpslOrder>;
  void ReadTpslHistory(const std::shared_ptr<ReconcileRun>& run, std::shared_ptr<TpslById> listed,
                       std::shared_ptr<TpslById> history, int64_t start_ms, int64_t since_ms, uint32_t skip,
                       SteadyTime deadline);
  /// Publishes what the TP/SL reads show changed: listed and new or changed (CREATE / UPDATE),
  /// believed pending and no longer listed (CLOSE, with the history's final state, or status
  /// UNKNOWN when the history does not show it), and created since `since_ms` and finished while
  /// the feed was down (CLOSE, from the history).
  void ApplyTpsl(const std::shared_ptr<ReconcileRun>& run, const TpslById& listed, const TpslById& history,
                 int64_t since_ms);
  void TrackTpsl(const v1::TpslOrder& t, v1::UpdateKind kind);
  /// The same for positions opened and closed while the feed was down.
  void ReadClosedPositions(const std::shared_ptr<ReconcileRun>& run, int64_t since_ms, SteadyTime deadline);
  /// One of `run`'s reads answered; the last one ends the run.
  void EndRead(const std::shared_ptr<ReconcileRun>& run);
  /// A read of the run failed: logged as "<what> reconciliation failed", the run is repeated.
  void ReadFailed(const std::shared_ptr<ReconcileRun>& run, const char* what, const absl::Status& s);
  /// A run ended with a failed read: streams hear DEGRADED, and the run is repeated with backoff
  /// while the feed stays live (a reconnect reconciles anyway).
  void RetryReconcile(bool publish);
  void TrackOrder(const v1::Order& o);
  /// Remembers that this order's final state has been seen (the last 10,000).
  void NoteFinished(const std::string& order_id);
  void Publish(v1::UpdateEvent e);
  void CancelTimers();

  Scheduler& scheduler_;
  WsFactory factory_;
  const RequestSigner& signer_;
  OrderEngine& engine_;
  UpdateHub& hub_;
  OrdersMetrics* metrics_;
  PrivateStreamOptions options_;
  Backoff backoff_;
  Backoff reconcile_backoff_;

  std::unique_ptr<net::WsClient> ws_;
  uint64_t gen_ = 0;  ///< connection generation: callbacks of older sockets are ignored
  State state_ = State::kStopped;
  bool ever_live_ = false;
  /// Wall time (ms) from which pushes may have been missed: the start, then each loss of a live
  /// feed. A publishing reconciliation reads what finished since then.
  int64_t missed_since_ms_ = 0;
  /// The history since missed_since_ms_ has not been read in full yet: a publishing run for it is
  /// in flight, failed, or was replaced by a newer loss's run. A loss meanwhile keeps the earlier
  /// start (moving it to the newer loss would skip what finished between the two).
  bool history_owed_ = false;
  uint64_t losses_ = 0;  ///< losses of a live feed so far
  bool stopping_ = false;
  SteadyTime last_rx_{};
  /// Wall time of the last frame the exchange sent (0: none yet). A dead socket is noticed only
  /// after idle_timeout: what changed from this moment on may have been missed.
  int64_t last_frame_ms_ = 0;
  Scheduler::TimerId greeting_timer_ = 0, login_timer_ = 0, ping_timer_ = 0, reconnect_timer_ = 0;
  Scheduler::TimerId reconcile_timer_ = 0;
  bool reconcile_failing_ = false;  ///< streams were told DEGRADED; a good run says RECOVERED
  /// The feed came back (streams got a Gap and RECONNECTING): the publishing run that ends well
  /// says RECOVERED, after what it published.
  bool recovering_ = false;
  std::map<std::string, v1::Order> open_orders_;       ///< by order id: what we believe is open
  std::map<std::string, v1::Position> positions_;      ///< by position id
  RecentIds finished_{10000};                          ///< orders whose final state was seen
  std::map<std::string, v1::TpslOrder> pending_tpsl_;  ///< by TP/SL order id: what we believe is pending
  RecentIds finished_tpsl_{10000};                     ///< TP/SL orders whose final state was seen
  std::shared_ptr<ReconcileRun> run_;                  ///< the reconciliation in flight, if any
  std::atomic<bool> live_{false};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> reconciliations_{0};
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace bx::orders

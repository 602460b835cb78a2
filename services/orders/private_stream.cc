#include "services/orders/private_stream.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/decimal.h"
#include "common/logging.h"
#include "services/orders/orders_metrics.h"
#include "services/orders/rest_parse.h"

namespace bx::orders {
namespace {

namespace cv1 = ::bitunix::common::v1;

constexpr const char* kSubscribe =
    R"({"op":"subscribe","args":[{"ch":"balance"},{"ch":"position"},{"ch":"order"},{"ch":"tpsl"}]})";

RateLimitedLog& Noise() {
  static RateLimitedLog log(10, std::chrono::seconds(30));
  return log;
}

// An event of a reconciliation: read over REST (so `snapshot`), stamped now.
v1::UpdateEvent SnapshotEvent(int64_t now_ns, v1::UpdateKind kind = v1::UPDATE_KIND_UNSPECIFIED) {
  v1::UpdateEvent e;
  e.set_gateway_ts_ns(now_ns);
  e.set_snapshot(true);
  e.set_kind(kind);
  return e;
}

// Whether `listed` (the open-order listing's view) shows a change of the order `known` (a push or
// an earlier read) describes: its status, quantities, prices, TP/SL prices or a later update time.
// A push and a REST read describe one state with different fields (REST adds realizedPNL and the
// position mode, a push names the margin mode positionType, decimals may carry trailing zeros), so
// they are not compared field by field: an unchanged order would be published again after every
// reconnect. A field one of them leaves out says nothing.
bool ShowsAChange(const v1::Order& known, const v1::Order& listed) {
  auto differs = [](const std::string& a, const std::string& b) {
    return !a.empty() && !b.empty() && NormalizeDecimal(a) != NormalizeDecimal(b);
  };
  if (listed.status() != known.status()) return true;
  if (differs(known.qty(), listed.qty()) || differs(known.filled_qty(), listed.filled_qty()) ||
      differs(known.price(), listed.price()) || differs(known.avg_price(), listed.avg_price())) {
    return true;
  }
  const v1::TpSl &a = known.tpsl(), &b = listed.tpsl();
  if (differs(a.tp_price(), b.tp_price()) || differs(a.tp_order_price(), b.tp_order_price()) ||
      differs(a.sl_price(), b.sl_price()) || differs(a.sl_order_price(), b.sl_order_price())) {
    return true;
  }
  return known.update_time_ms() > 0 && listed.update_time_ms() > known.update_time_ms();
}

// Whether `listed` (the position listing's view) shows a change of the position `known` (a push
// or an earlier read) describes: what a position event changes -- its size, side, entry value,
// margin, leverage, modes, realised PnL, fees, funding, average open price -- or a later update
// time. The unrealised PnL, margin rate and liquidation price follow the mark price (and, cross
// margined, the rest of the account): a read differs from the last push in them almost always,
// and they would republish every unchanged position after every reconnect. As for orders, a field
// one of them leaves out says nothing.
bool PositionShowsAChange(const v1::Position& known, const v1::Position& listed) {
  auto differs = [](const std::string& a, const std::string& b) {
    return !a.empty() && !b.empty() && NormalizeDecimal(a) != NormalizeDecimal(b);
  };
  auto enum_differs = [](int a, int b) { return a != 0 && b != 0 && a != b; };
  if (enum_differs(known.side(), listed.side()) || enum_differs(known.margin_mode(), listed.margin_mode()) ||
      enum_differs(known.position_mode(), listed.position_mode()) ||
      (known.leverage() != 0 && listed.leverage() != 0 && known.leverage() != listed.leverage())) {
    return true;
  }
  if (differs(known.qty(), listed.qty()) || differs(known.entry_value(), listed.entry_value()) ||
      differs(known.margin(), listed.margin()) || differs(known.realized_pnl(), listed.realized_pnl()) ||
      differs(known.fees(), listed.fees()) || differs(known.funding(), listed.funding()) ||
      differs(known.avg_open_price(), listed.avg_open_price())) {
    return true;
  }
  return known.update_time_ms() > 0 && listed.update_time_ms() > known.update_time_ms();
}

// A TP/SL order's status as the exchange sends it: NEW is pending; CANCELED, SYSTEM_CANCELED,
// FILLED (triggered: its order is placed) and FAILED are final. The pending listing leaves the
// status out (as documented): a listed order is pending.
bool IsPendingTpsl(const v1::TpslOrder& t) {
  const std::string s = absl::AsciiStrToUpper(t.status());
  return s.empty() || s == "NEW";
}

// The status of a TP/SL order whose final state could not be read (gateway-assigned, never the
// exchange's): believed pending, no longer pending, and the TP/SL history does not show it.
constexpr const char* kTpslStatusUnknown = "UNKNOWN";

// Whether `listed` (the pending TP/SL listing's view) shows a change of the TP/SL order `known`
// (a push or an earlier read) describes: its triggers, order types and prices, or quantities. As
// for orders, a field one of them leaves out says nothing (the listing has no status, ctime or
// type).
bool TpslShowsAChange(const v1::TpslOrder& known, const v1::TpslOrder& listed) {
  auto differs = [](const std::string& a, const std::string& b) {
    return !a.empty() && !b.empty() && NormalizeDecimal(a) != NormalizeDecimal(b);
  };
  auto enum_differs = [](int a, int b) { return a != 0 && b != 0 && a != b; };
  const v1::TpSl &a = known.tpsl(), &b = listed.tpsl();
  if (differs(a.tp_price(), b.tp_price()) || differs(a.tp_order_price(), b.tp_order_price()) ||
      differs(a.sl_price(), b.sl_price()) || differs(a.sl_order_price(), b.sl_order_price()) ||
      differs(known.tp_qty(), listed.tp_qty()) || differs(known.sl_qty(), listed.sl_qty())) {
    return true;
  }
  return enum_differs(a.tp_stop_type(), b.tp_stop_type()) || enum_differs(a.sl_stop_type(), b.sl_stop_type()) ||
         enum_differs(a.tp_order_type(), b.tp_order_type()) || enum_differs(a.sl_order_type(), b.sl_order_type());
}

// Login replies are undocumented: a refusal says so with result:false, a non-zero code, or a
// failure word; anything else counts as success.
bool LoginRefused(const Json& frame, std::string* why) {
  if (auto code = GetInt(frame, "code"); code && *code != 0) {
    *why = absl::StrCat("code ", *code, " ", GetString(frame, "msg"));
    return true;
  }
  const Json* data = Field(frame, "data");
  if (data != nullptr && data->is_object()) {
    if (auto r = GetBool(*data, "result"); r && !*r) {
      *why = GetString(*data, "msg");
      if (why->empty()) *why = "result false";
      return true;
    }
    if (auto code = GetInt(*data, "code"); code && *code != 0) {
      *why = absl::StrCat("code ", *code, " ", GetString(*data, "msg"));
      return true;
    }
  }
  if (data != nullptr && data->is_string()) {
    std::string s = data->get<std::string>();
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s.find("fail") != std::string::npos || s.find("error") != std::string::npos) {
      *why = data->get<std::string>();
      return true;
    }
  }
  return false;
}

}  // namespace

PrivateStream::PrivateStream(Scheduler& scheduler, WsFactory factory, const RequestSigner& signer,
                             OrderEngine& engine, UpdateHub& hub, OrdersMetrics* metrics,
                             PrivateStreamOptions options)
    : scheduler_(scheduler),
      factory_(std::move(factory)),
      signer_(signer),
      engine_(engine),
      hub_(hub),
      metrics_(metrics),
      options_(options),
      backoff_(options.reconnect),
      reconcile_backoff_(options.reconcile_retry) {}

PrivateStream::~PrivateStream() {
  stopping_ = true;
  CancelTimers();
  if (reconnect_timer_ != 0) scheduler_.Cancel(reconnect_timer_);
  alive_.reset();
  if (ws_) ws_->Abort();
}

void PrivateStream::Start() {
  stopping_ = false;
  if (missed_since_ms_ == 0) missed_since_ms_ = scheduler_.clock().NowMs();
  if (state_ == State::kStopped) Connect();
}

void PrivateStream::Stop() {
  stopping_ = true;
  CancelTimers();
  if (reconnect_timer_ != 0) scheduler_.Cancel(reconnect_timer_);
  reconnect_timer_ = 0;
  if (ws_ && state_ != State::kWaitingToReconnect && state_ != State::kStopped) ws_->Close();
  live_ = false;
  if (state_ == State::kWaitingToReconnect) state_ = State::kStopped;
}

void PrivateStream::CancelTimers() {
  for (auto* t : {&greeting_timer_, &login_timer_, &ping_timer_, &reconcile_timer_}) {
    if (*t != 0) scheduler_.Cancel(*t);
    *t = 0;
  }
}

void PrivateStream::Connect() {
  if (stopping_) return;
  if (!ws_) ws_ = factory_();
  const uint64_t gen = ++gen_;
  state_ = State::kConnecting;
  std::weak_ptr<int> alive = alive_;
  net::WsClient::Handlers h;
  h.on_open = [this, alive, gen] {
    scheduler_.Post([this, alive, gen] {
      if (!alive.expired()) OnOpen(gen);
    });
  };
  h.on_text = [this, alive, gen](std::string_view data, int64_t) {
    scheduler_.Post([this, alive, gen, text = std::string(data)] {
      if (!alive.expired()) OnText(gen, text);
    });
  };
  h.on_binary = [this, alive, gen](std::string_view data) {
    scheduler_.Post([this, alive, gen, bytes = static_cast<int64_t>(data.size())] {
      if (alive.expired() || gen != gen_) return;
      if (metrics_) metrics_->PrivateWsBadFrame("binary");
      Noise().Log(LogLevel::kWarn, "orders.private", "binary_frame", "binary private frame ignored",
                  {{"bytes", bytes}});
    });
  };
  h.on_closed = [this, alive, gen](absl::Status reason) {
    scheduler_.Post([this, alive, gen, reason = std::move(reason)] {
      if (!alive.expired()) OnClosed(gen, reason);
    });
  };
  ws_->Connect(std::move(h));
}

void PrivateStream::OnOpen(uint64_t gen) {
  if (gen != gen_ || state_ != State::kConnecting) return;
  state_ = State::kAwaitGreeting;
  last_rx_ = scheduler_.clock().Steady();
  std::weak_ptr<int> alive = alive_;
  greeting_timer_ = scheduler_.RunAfter(options_.greeting_wait, [this, alive, gen] {
    if (alive.expired() || gen != gen_) return;
    greeting_timer_ = 0;
    if (state_ == State::kAwaitGreeting) SendLogin();
  });
  ArmPing();
}

void PrivateStream::SendLogin() {
  if (greeting_timer_ != 0) scheduler_.Cancel(greeting_timer_);
  greeting_timer_ = 0;
  state_ = State::kLoggingIn;
  ws_->Send(signer_.WsLoginMessage());
  std::weak_ptr<int> alive = alive_;
  const uint64_t gen = gen_;
  login_timer_ = scheduler_.RunAfter(options_.login_timeout, [this, alive, gen] {
    if (alive.expired() || gen != gen_) return;
    login_timer_ = 0;
    if (state_ == State::kLoggingIn) {
      Log(LogLevel::kWarn, "orders.private", "no login reply; subscribing anyway (the reply is undocumented)");
      Subscribe();
    }
  });
}

void PrivateStream::Subscribe() {
  if (login_timer_ != 0) scheduler_.Cancel(login_timer_);
  login_timer_ = 0;
  ws_->Send(kSubscribe);
  reconcile_failing_ = false;  // this connect's status and reconciliation supersede
  reconcile_backoff_.Reset();
  state_ = State::kLive;
  live_ = true;
  ++connects_;
  backoff_.Reset();
  if (metrics_) metrics_->PrivateWsConnected(true);
  recovering_ = false;
  if (!ever_live_ && hub_.size() == 0) {
    ever_live_ = true;
    Log(LogLevel::kInfo, "orders.private", "private feed live");
    hub_.SetStatus(cv1::StreamStatus::STATE_LIVE, "private feed connected");
    Reconcile(/*publish=*/false);  // seeds what we believe is open
  } else {
    // A reconnect, or the first connect with streams already open (they had only their REST
    // snapshot): what changed meanwhile reaches them the same way.
    const bool first = !ever_live_;
    ever_live_ = true;
    Log(LogLevel::kInfo, "orders.private",
        first ? "private feed live; reconciling for the streams opened before it"
              : "private feed recovered; reconciling open orders, positions and balance");
    v1::UpdateEvent gap;
    gap.set_gateway_ts_ns(scheduler_.clock().NowNs());
    gap.mutable_gap()->set_reason(cv1::Gap::REASON_UPSTREAM_RECONNECT);
    Publish(std::move(gap));
    // RECOVERED only once the reconciliation has published what changed (EndRead): a client
    // must be able to tell when it has seen everything, and act on its view only then.
    hub_.SetStatus(cv1::StreamStatus::STATE_RECONNECTING,
                   first ? "private feed connected; reading over REST what changed since the streams' snapshots: "
                           "it follows as snapshot events, then STATE_RECOVERED"
                         : "private feed reconnected; reading over REST what changed while it was down: open "
                           "orders, positions and the balance follow as snapshot events, then STATE_RECOVERED");
    recovering_ = true;
    Reconcile(/*publish=*/true);
  }
}

void PrivateStream::ArmPing() {
  std::weak_ptr<int> alive = alive_;
  const uint64_t gen = gen_;
  ping_timer_ = scheduler_.RunAfter(options_.ping_interval, [this, alive, gen] {
    if (alive.expired() || gen != gen_) return;
    ping_timer_ = 0;
    if (state_ != State::kAwaitGreeting && state_ != State::kLoggingIn && state_ != State::kLive) return;
    const auto idle = scheduler_.clock().Steady() - last_rx_;
    if (idle > options_.idle_timeout) {
      Drop(absl::StrCat("no frame for ", std::chrono::duration_cast<std::chrono::seconds>(idle).count(), " s"));
      return;
    }
    ws_->Send(absl::StrCat(R"({"op":"ping","ping":)", scheduler_.clock().NowMs() / 1000, "}"));
    ArmPing();
  });
}

void PrivateStream::Drop(const std::string& why) {
  Log(LogLevel::kWarn, "orders.private", "dropping private connection", {{"reason", why}});
  CancelTimers();
  if (ws_) ws_->Abort();
}

void PrivateStream::OnClosed(uint64_t gen, absl::Status reason) {
  if (gen != gen_) return;
  CancelTimers();
  const bool was_live = state_ == State::kLive;
  live_ = false;
  if (metrics_) metrics_->PrivateWsConnected(false);
  if (stopping_) {
    state_ = State::kStopped;
    return;
  }
  const std::string why = reason.ok() ? std::string("closed") : std::string(reason.message());
  if (was_live) {
    // Not the moment the loss was noticed: a socket that went silent (half-open TCP, a stalled
    // exchange) is dropped only after idle_timeout, and pushes may have been missed since its
    // last frame. The reconciliation reads the history from there.
    const int64_t now = scheduler_.clock().NowMs();
    if (!history_owed_) missed_since_ms_ = last_frame_ms_ > 0 ? std::min(now, last_frame_ms_) : now;
    history_owed_ = true;
    ++losses_;
    if (metrics_) metrics_->PrivateWsReconnect();
    hub_.SetStatus(cv1::StreamStatus::STATE_RECONNECTING, absl::StrCat("private feed lost: ", why));
  }
  ScheduleReconnect(why);
}

void PrivateStream::ScheduleReconnect(const std::string& why) {
  state_ = State::kWaitingToReconnect;
  const auto delay = backoff_.Next();
  Log(LogLevel::kWarn, "orders.private", "private feed down; reconnecting",
      {{"reason", why}, {"in_ms", static_cast<int64_t>(delay.count())}, {"attempt", backoff_.attempt()}});
  std::weak_ptr<int> alive = alive_;
  reconnect_timer_ = scheduler_.RunAfter(delay, [this, alive] {
    if (alive.expired()) return;
    reconnect_timer_ = 0;
    if (state_ == State::kWaitingToReconnect) Connect();
  });
}

void PrivateStream::OnText(uint64_t gen, const std::string& text) {
  if (gen != gen_) return;
  last_rx_ = scheduler_.clock().Steady();
  last_frame_ms_ = scheduler_.clock().NowMs();
  auto parsed = ParseJsonExact(text);
  if (!parsed.ok() || !parsed->is_object()) {
    if (metrics_) metrics_->PrivateWsBadFrame("malformed");
    Noise().Log(LogLevel::kWarn, "orders.private", "bad_frame", "unreadable private frame ignored",
                {{"bytes", static_cast<int64_t>(text.size())}});
    return;
  }
  const Json& frame = *parsed;
  const std::string op = GetString(frame, "op");
  if (op == "connect") {
    if (state_ == State::kAwaitGreeting) SendLogin();
    return;
  }
  if (op == "login") {
    if (state_ != State::kLoggingIn) return;
    std::string why;
    if (LoginRefused(frame, &why)) {
      // The message never contains the key or secret; `why` is the exchange's text.
      Log(LogLevel::kError, "orders.private", "private login refused", {{"reason", why}});
      Drop("login refused");
      return;
    }
    Subscribe();
    return;
  }
  if (op == "subscribe" || op == "unsubscribe") {
    const Json* data = Field(frame, "data");
    if (data != nullptr && data->is_object() && GetBool(*data, "result") == false) {
      Log(LogLevel::kError, "orders.private", "subscription refused", {{"msg", GetString(*data, "msg")}});
    }
    return;
  }
  if (!op.empty()) return;  // ping replies and other control frames
  const std::string ch = GetString(frame, "ch");
  if (!ch.empty()) HandlePush(ch, frame);
}

void PrivateStream::HandlePush(const std::string& ch, const Json& frame) {
  const Json* data = Field(frame, "data");
  if (data == nullptr) return;
  std::vector<const Json*> items;
  if (data->is_array()) {
    for (const auto& item : *data) {
      if (item.is_object()) items.push_back(&item);
    }
  } else if (data->is_object()) {
    items.push_back(data);
  }
  const int64_t ts = GetInt(frame, "ts").value_or(0);
  const int64_t now_ns = scheduler_.clock().NowNs();
  const bool known = ch == "order" || ch == "position" || ch == "balance" || ch == "tpsl";
  if (metrics_) metrics_->PrivateWsMessage(known ? ch : "other");
  for (const Json* item : items) {
    v1::UpdateEvent e;
    e.set_exchange_ts_ms(ts);
    e.set_gateway_ts_ns(now_ns);
    e.set_kind(ParseUpdateKind(GetString(*item, "event")));
    if (ch == "order") {
      v1::Order o = ParseOrder(*item);
      if (run_) run_->orders.insert(o.order_id());
      engine_.OnOrderUpdate(o);
      TrackOrder(o);
      *e.mutable_order() = std::move(o);
    } else if (ch == "position") {
      v1::Position p = ParsePosition(*item);
      if (run_) run_->positions.insert(p.position_id());
      if (!p.position_id().empty()) {
        if (e.kind() == v1::UPDATE_KIND_CLOSE) {
          positions_.erase(p.position_id());
        } else {
          positions_[p.position_id()] = p;
        }
      }
      *e.mutable_position() = std::move(p);
    } else if (ch == "balance") {
      *e.mutable_balance() = ParseBalance(*item);
      if (run_) run_->balance_coins.insert(e.balance().coin());
    } else if (ch == "tpsl") {
      v1::TpslOrder t = ParseTpslOrder(*item);
      if (run_) run_->tpsl.insert(t.order_id());
      TrackTpsl(t, e.kind());
      *e.mutable_tpsl() = std::move(t);
    } else {
      Noise().Log(LogLevel::kDebug, "orders.private", "unknown_channel", "push on an unknown channel ignored",
                  {{"ch", ch}});
      return;
    }
    Publish(std::move(e));
  }
}

void PrivateStream::TrackOrder(const v1::Order& o) {
  if (o.order_id().empty()) return;
  if (IsOpenStatus(o.status())) {
    open_orders_[o.order_id()] = o;
  } else {
    open_orders_.erase(o.order_id());
    NoteFinished(o.order_id());
  }
}

void PrivateStream::NoteFinished(const std::string& order_id) { finished_.Add(order_id); }

void PrivateStream::TrackTpsl(const v1::TpslOrder& t, v1::UpdateKind kind) {
  if (t.order_id().empty()) return;
  if (kind != v1::UPDATE_KIND_CLOSE && IsPendingTpsl(t)) {
    pending_tpsl_[t.order_id()] = t;
  } else {
    pending_tpsl_.erase(t.order_id());
    finished_tpsl_.Add(t.order_id());
  }
}

void PrivateStream::Publish(v1::UpdateEvent e) { hub_.Publish(MakeHubEvent(std::move(e))); }

void PrivateStream::Reconcile(bool publish) {
  if (publish) {
    ++reconciliations_;
    if (metrics_) metrics_->ReconciliationRun("reconnect");
  }
  // A newer run replaces one still in flight; the older one's answers are then ignored.
  auto run = std::make_shared<ReconcileRun>();
  run_ = run;
  run->publish = publish;
  run->pending = publish ? 6 : 3;
  run->losses_at_start = losses_;
  for (const auto& [id, p] : positions_) run->positions_before.insert(id);
  const SteadyTime deadline = scheduler_.clock().Steady() + options_.reconcile_timeout;
  std::weak_ptr<int> alive = alive_;
  engine_.FetchAllOpenOrders(deadline, [this, alive, run, publish,
                                        deadline](absl::StatusOr<std::vector<v1::Order>> r) {
    if (alive.expired()) return;
    if (run_ != run) return EndRead(run);
    if (!r.ok()) {
      return ReadFailed(run, "open-order", r.status());
    }
    std::set<std::string> seen;
    for (const auto& o : *r) {
      if (o.order_id().empty()) continue;
      seen.insert(o.order_id());
      if (run->orders.count(o.order_id())) continue;  // pushed since the listing began: the push is newer
      engine_.OnOrderUpdate(o);
      auto it = open_orders_.find(o.order_id());
      const bool is_new = it == open_orders_.end();
      const bool changed = is_new || ShowsAChange(it->second, o);
      open_orders_[o.order_id()] = o;
      if (publish && changed) {
        v1::UpdateEvent e =
            SnapshotEvent(scheduler_.clock().NowNs(), is_new ? v1::UPDATE_KIND_CREATE : v1::UPDATE_KIND_UPDATE);
        *e.mutable_order() = o;
        Publish(std::move(e));
      }
    }
    // Believed open but no longer listed: finished while the feed was down. Read the final state.
    std::vector<std::string> gone;
    for (const auto& [id, o] : open_orders_) {
      if (!seen.count(id) && !run->orders.count(id)) gone.push_back(id);
    }
    run->pending += static_cast<int>(gone.size());
    for (const auto& id : gone) {
      v1::GetOrderRequest req;
      req.mutable_order()->set_order_id(id);
      engine_.GetOrder(req, deadline, [this, alive, run, id, publish, deadline](absl::StatusOr<v1::GetOrderResponse> d) {
        if (alive.expired()) return;
        if (run_ != run || run->orders.count(id)) return EndRead(run);
        if (!d.ok()) {
          // The detail does not know it: the history may (its EndRead is the lookup's).
          if (d.status().code() == absl::StatusCode::kNotFound) return ResolveUnlistedOrder(run, id, deadline);
          run->failed = true;
          return EndRead(run);
        }
        const v1::Order& o = d->order();
        TrackOrder(o);
        if (!IsOpenStatus(o.status())) {  // still open after all: pushes will follow
          open_orders_.erase(id);
          if (publish) {
            v1::UpdateEvent e = SnapshotEvent(scheduler_.clock().NowNs(), v1::UPDATE_KIND_CLOSE);
            *e.mutable_order() = o;
            Publish(std::move(e));
          }
        }
        EndRead(run);
      });
    }
    EndRead(run);
  });
  // A couple of seconds before the loss: the exchange's clock and ours differ a little, and an
  // order finished just before it is only published once more (a snapshot of its final state).
  const int64_t since = std::max<int64_t>(0, missed_since_ms_ - 2000);
  ReconcileTpsl(run, since, deadline);
  if (publish) {
    ReadFinishedOrders(run, since, 0, deadline);
    ReadClosedPositions(run, since, deadline);
    // Balance pushes missed while the feed was down are not replayed: read the balance once.
    // No margin coin in the request: the engine's default (--margin-coin) applies.
    engine_.GetAccount(v1::GetAccountRequest(), deadline,
                       [this, alive, run](absl::StatusOr<v1::GetAccountResponse> r) {
                         if (alive.expired()) return;
                         if (run_ != run) return EndRead(run);
                         if (!r.ok()) {
                           return ReadFailed(run, "balance", r.status());
                         }
                         v1::UpdateEvent e = SnapshotEvent(scheduler_.clock().NowNs());
                         *e.mutable_balance() = BalanceFromAccount(r->account());
                         // A push for that coin (or one naming none) since the read began is newer.
                         if (!run->balance_coins.count(e.balance().coin()) && !run->balance_coins.count("")) {
                           Publish(std::move(e));
                         }
                         EndRead(run);
                       });
  }
  engine_.ListPositions(v1::ListPositionsRequest(), deadline,
                        [this, alive, run, publish](absl::StatusOr<v1::ListPositionsResponse> r) {
                          if (alive.expired()) return;
                          if (run_ != run) return EndRead(run);
                          if (!r.ok()) {
                            return ReadFailed(run, "position", r.status());
                          }
                          std::map<std::string, v1::Position> now;
                          for (const auto& p : r->positions()) {
                            if (!p.position_id().empty()) now[p.position_id()] = p;
                          }
                          // Positions pushed since the read began keep the push's state, so the
                          // comparison below publishes nothing for them.
                          for (const auto& id : run->positions) {
                            now.erase(id);
                            if (auto it = positions_.find(id); it != positions_.end()) now[id] = it->second;
                          }
                          if (publish) {
                            for (const auto& [id, p] : now) {
                              auto it = positions_.find(id);
                              if (it != positions_.end() && !PositionShowsAChange(it->second, p)) {
                                continue;
                              }
                              v1::UpdateEvent e = SnapshotEvent(
                                  scheduler_.clock().NowNs(),
                                  it == positions_.end() ? v1::UPDATE_KIND_CREATE : v1::UPDATE_KIND_UPDATE);
                              *e.mutable_position() = p;
                              Publish(std::move(e));
                            }
                            for (const auto& [id, p] : positions_) {
                              if (now.count(id)) continue;
                              v1::UpdateEvent e = SnapshotEvent(scheduler_.clock().NowNs(), v1::UPDATE_KIND_CLOSE);
                              *e.mutable_position() = p;
                              e.mutable_position()->set_qty("0");
                              Publish(std::move(e));
                            }
                          }
                          positions_ = std::move(now);
                          EndRead(run);
                        });
}

void PrivateStream::ResolveUnlistedOrder(const std::shared_ptr<ReconcileRun>& run, const std::string& id,
                                         SteadyTime deadline) {
  // By order id and with no time range: the order may have been created long before the loss (the
  // history since the loss, ReadFinishedOrders, lists orders created since then).
  v1::ListOrderHistoryRequest req;
  req.set_order_id(id);
  std::weak_ptr<int> alive = alive_;
  engine_.ListOrderHistory(std::move(req), deadline,
                           [this, alive, run, id](absl::StatusOr<v1::ListOrderHistoryResponse> r) {
    if (alive.expired()) return;
    if (run_ != run || run->orders.count(id)) return EndRead(run);
    if (!r.ok()) {
      Log(LogLevel::kWarn, "orders.private", "history lookup of an order no longer listed failed",
          {{"order_id", id}, {"error", std::string(r.status().message())}});
      run->failed = true;  // still believed open: the repeated run looks again
      return EndRead(run);
    }
    auto known = open_orders_.find(id);
    if (known == open_orders_.end()) return EndRead(run);
    const v1::Order* found = nullptr;
    for (const auto& o : r->orders()) {
      if (o.order_id() == id) found = &o;
    }
    v1::Order final_state;
    if (found != nullptr && IsOpenStatus(found->status())) {  // listed open after all: pushes will follow
      TrackOrder(*found);
      return EndRead(run);
    }
    if (found != nullptr) {
      final_state = *found;
      engine_.OnOrderUpdate(final_state);
    } else {
      // Neither the open orders, the detail nor the history know it (the exchange purged it, or
      // its views lag). Its final state -- filled, cancelled, how much filled -- cannot be read:
      // it is closed with status UNKNOWN and the last state seen, so that no stream goes on
      // believing it open (its fills: ListFills by order id; its effect: the positions).
      final_state = known->second;
      final_state.set_status(v1::ORDER_STATUS_UNKNOWN);
      final_state.clear_status_raw();
      Log(LogLevel::kWarn, "orders.private",
          "an order believed open is no longer listed and neither its detail nor the history knows it; "
          "published closed with status UNKNOWN",
          {{"order_id", id}, {"client_id", final_state.client_id()}});
    }
    open_orders_.erase(id);
    NoteFinished(id);
    if (run->publish) {
      v1::UpdateEvent e = SnapshotEvent(scheduler_.clock().NowNs(), v1::UPDATE_KIND_CLOSE);
      *e.mutable_order() = std::move(final_state);
      Publish(std::move(e));
    }
    EndRead(run);
  });
}

void PrivateStream::ReconcileTpsl(const std::shared_ptr<ReconcileRun>& run, int64_t since_ms, SteadyTime deadline) {
  std::weak_ptr<int> alive = alive_;
  engine_.FetchAllPendingTpsl(deadline, [this, alive, run, since_ms,
                                         deadline](absl::StatusOr<std::vector<v1::TpslOrder>> r) {
    if (alive.expired()) return;
    if (run_ != run) return EndRead(run);
    if (!r.ok()) {
      return ReadFailed(run, "TP/SL", r.status());
    }
    auto listed = std::make_shared<TpslById>();
    for (auto& t : *r) {
      if (t.order_id().empty()) continue;
      if (t.status().empty()) t.set_status("NEW");  // the pending listing carries no status
      (*listed)[t.order_id()] = std::move(t);
    }
    if (!run->publish) {  // seeds what is pending; nobody believed anything else
      ApplyTpsl(run, *listed, TpslById(), since_ms);
      return EndRead(run);
    }
    // The history from the loss shows what was created and finished since; one believed pending
    // and no longer listed may have been created long before: read from its creation (unknown:
    // from the start).
    int64_t start = since_ms;
    for (const auto& [id, t] : pending_tpsl_) {
      if (listed->count(id) || run->tpsl.count(id)) continue;
      start = t.create_time_ms() > 0 ? std::min(start, t.create_time_ms() - 2000) : 0;
    }
    ReadTpslHistory(run, std::move(listed), std::make_shared<TpslById>(), std::max<int64_t>(0, start), since_ms, 0,
                    deadline);
  });
}

void PrivateStream::ReadTpslHistory(const std::shared_ptr<ReconcileRun>& run, std::shared_ptr<TpslById> listed,
                                    std::shared_ptr<TpslById> history, int64_t start_ms, int64_t since_ms,
                                    uint32_t skip, SteadyTime deadline) {
  constexpr uint32_t kPage = 100;
  constexpr uint32_t kMaxRows = 2000;  // per run, as for orders; beyond, an unlisted one may read as UNKNOWN
  v1::ListTpslOrdersRequest req;
  req.set_history(true);
  req.set_start_time_ms(start_ms);
  req.set_skip(skip);
  req.set_limit(kPage);
  std::weak_ptr<int> alive = alive_;
  engine_.ListTpslOrders(
      std::move(req), deadline,
      [this, alive, run, listed, history, start_ms, since_ms, skip,
       deadline](absl::StatusOr<v1::ListTpslOrdersResponse> r) {
        if (alive.expired()) return;
        if (run_ != run) return EndRead(run);
        if (!r.ok()) {
          return ReadFailed(run, "TP/SL history", r.status());
        }
        for (const auto& t : r->orders()) {
          if (!t.order_id().empty()) history->emplace(t.order_id(), t);  // the first row of an id
        }
        const uint32_t next = skip + static_cast<uint32_t>(r->orders_size());
        const bool more = r->orders_size() > 0 &&
                          (r->total() > static_cast<int64_t>(next) || (r->total() == 0 && r->orders_size() == 100));
        if (more && next < kMaxRows) {
          return ReadTpslHistory(run, listed, history, start_ms, since_ms, next, deadline);
        }
        if (more) {
          Log(LogLevel::kWarn, "orders.private", "the TP/SL history since the outage is longer than one reconciliation reads",
              {{"read", static_cast<int64_t>(next)}, {"total", r->total()}});
        }
        ApplyTpsl(run, *listed, *history, since_ms);
        EndRead(run);
      });
}

void PrivateStream::ApplyTpsl(const std::shared_ptr<ReconcileRun>& run, const TpslById& listed,
                              const TpslById& history, int64_t since_ms) {
  auto publish = [&](v1::UpdateKind kind, v1::TpslOrder t) {
    if (!run->publish) return;
    v1::UpdateEvent e = SnapshotEvent(scheduler_.clock().NowNs(), kind);
    *e.mutable_tpsl() = std::move(t);
    Publish(std::move(e));
  };
  // Pushed since the run began: the push is newer, and pending_tpsl_ holds what it said.
  for (const auto& [id, t] : listed) {
    if (run->tpsl.count(id)) continue;
    auto it = pending_tpsl_.find(id);
    v1::TpslOrder now = t;
    if (it != pending_tpsl_.end()) {  // what the listing leaves out stays as known
      if (now.create_time_ms() == 0) now.set_create_time_ms(it->second.create_time_ms());
      if (it->second.whole_position()) now.set_whole_position(true);
      if (now.position_id().empty()) now.set_position_id(it->second.position_id());
    }
    const bool is_new = it == pending_tpsl_.end();
    const bool changed = is_new || TpslShowsAChange(it->second, now);
    pending_tpsl_[id] = now;
    if (changed) publish(is_new ? v1::UPDATE_KIND_CREATE : v1::UPDATE_KIND_UPDATE, std::move(now));
  }
  // Believed pending and no longer listed: triggered, cancelled or failed while the feed was down.
  std::vector<std::string> gone;
  for (const auto& [id, t] : pending_tpsl_) {
    if (!listed.count(id) && !run->tpsl.count(id)) gone.push_back(id);
  }
  for (const auto& id : gone) {
    const v1::TpslOrder known = pending_tpsl_[id];
    pending_tpsl_.erase(id);
    finished_tpsl_.Add(id);
    v1::TpslOrder final_state;
    if (auto h = history.find(id); h != history.end() && !IsPendingTpsl(h->second)) {
      final_state = h->second;
      if (known.whole_position()) final_state.set_whole_position(true);
    } else {
      final_state = known;
      final_state.set_status(kTpslStatusUnknown);
      if (run->publish) {
        Log(LogLevel::kWarn, "orders.private",
            "a TP/SL order believed pending is no longer listed and the TP/SL history does not show it; "
            "published closed with status UNKNOWN",
            {{"order_id", id}});
      }
    }
    publish(v1::UPDATE_KIND_CLOSE, std::move(final_state));
  }
  // Created and finished while the feed was down: only the history shows them.
  for (const auto& [id, t] : history) {
    if (IsPendingTpsl(t) || t.create_time_ms() < since_ms || listed.count(id) || run->tpsl.count(id) ||
        pending_tpsl_.count(id) || finished_tpsl_.Contains(id)) {
      continue;
    }
    finished_tpsl_.Add(id);
    publish(v1::UPDATE_KIND_CLOSE, t);
  }
}

void PrivateStream::ReadFinishedOrders(const std::shared_ptr<ReconcileRun>& run, int64_t since_ms, uint32_t skip,
                                       SteadyTime deadline) {
  constexpr uint32_t kPage = 100;
  constexpr uint32_t kMaxOrders = 2000;  // per run; more is logged (streams then rely on queries)
  v1::ListOrderHistoryRequest req;
  req.set_start_time_ms(since_ms);
  req.set_skip(skip);
  req.set_limit(kPage);
  std::weak_ptr<int> alive = alive_;
  engine_.ListOrderHistory(
      std::move(req), deadline,
      [this, alive, run, since_ms, skip, deadline](absl::StatusOr<v1::ListOrderHistoryResponse> r) {
        if (alive.expired()) return;
        if (run_ != run) return EndRead(run);
        if (!r.ok()) {
          return ReadFailed(run, "finished-order", r.status());
        }
        for (const auto& o : r->orders()) {
          if (o.order_id().empty() || IsOpenStatus(o.status())) continue;
          // Pushed since the run began (newer), believed open (the open-order pass reads that
          // one's final state itself), or already seen finished (a push before the loss).
          if (run->orders.count(o.order_id()) || open_orders_.count(o.order_id()) ||
              finished_.Contains(o.order_id())) {
            continue;
          }
          engine_.OnOrderUpdate(o);
          NoteFinished(o.order_id());
          v1::UpdateEvent e = SnapshotEvent(scheduler_.clock().NowNs(), v1::UPDATE_KIND_CLOSE);
          *e.mutable_order() = o;
          Publish(std::move(e));
        }
        const uint32_t next = skip + static_cast<uint32_t>(r->orders_size());
        const bool more = r->orders_size() > 0 &&
                          (r->total() > static_cast<int64_t>(next) || (r->total() == 0 && r->orders_size() == 100));
        if (more && next < kMaxOrders) return ReadFinishedOrders(run, since_ms, next, deadline);
        if (more) {
          Log(LogLevel::kWarn, "orders.private", "more orders finished during the outage than one reconciliation reads",
              {{"read", static_cast<int64_t>(next)}, {"total", r->total()}});
        }
        EndRead(run);
      });
}

void PrivateStream::ReadClosedPositions(const std::shared_ptr<ReconcileRun>& run, int64_t since_ms,
                                        SteadyTime deadline) {
  v1::ListPositionHistoryRequest req;
  req.set_start_time_ms(since_ms);
  req.set_limit(100);
  std::weak_ptr<int> alive = alive_;
  engine_.ListPositionHistory(std::move(req), deadline,
                              [this, alive, run](absl::StatusOr<v1::ListPositionHistoryResponse> r) {
                                if (alive.expired()) return;
                                if (run_ != run) return EndRead(run);
                                if (!r.ok()) {
                                  return ReadFailed(run, "closed-position", r.status());
                                }
                                run->closed_positions.assign(r->positions().begin(), r->positions().end());
                                EndRead(run);
                              });
}

void PrivateStream::ReadFailed(const std::shared_ptr<ReconcileRun>& run, const char* what, const absl::Status& s) {
  Log(LogLevel::kWarn, "orders.private", absl::StrCat(what, " reconciliation failed"),
      {{"error", std::string(s.message())}});
  run->failed = true;
  EndRead(run);
}

void PrivateStream::EndRead(const std::shared_ptr<ReconcileRun>& run) {
  if (--run->pending != 0 || run_ != run) return;
  run_.reset();
  if (run->failed) return RetryReconcile(run->publish);
  // The history since missed_since_ms_ is read, unless the feed was lost again meanwhile.
  if (run->publish && run->losses_at_start == losses_) history_owed_ = false;
  // Positions opened and closed while the feed was down: in the history, neither believed open
  // before nor open now, and not pushed since.
  for (const auto& p : run->closed_positions) {
    const std::string& id = p.position_id();
    if (id.empty() || run->positions_before.count(id) || positions_.count(id) || run->positions.count(id)) continue;
    v1::UpdateEvent e = SnapshotEvent(scheduler_.clock().NowNs(), v1::UPDATE_KIND_CLOSE);
    *e.mutable_position() = p;
    e.mutable_position()->set_qty("0");
    Publish(std::move(e));
  }
  reconcile_backoff_.Reset();
  // A run that ends after the feed was lost again says nothing: streams heard RECONNECTING, and
  // the next connect reconciles (and says RECOVERED) itself.
  if (state_ == State::kLive && (reconcile_failing_ || recovering_)) {
    const bool after_reconnect = recovering_;
    reconcile_failing_ = false;
    recovering_ = false;
    hub_.SetStatus(cv1::StreamStatus::STATE_RECOVERED,
                   after_reconnect ? "private feed live again; what changed while it was down was read over REST and "
                                     "published as snapshot events before this status"
                                   : "reconciliation over REST succeeded; what changed was published as snapshot "
                                     "events before this status");
  }
}

void PrivateStream::RetryReconcile(bool publish) {
  if (stopping_ || state_ != State::kLive) return;  // the next connect reconciles anyway
  const auto delay = reconcile_backoff_.Next();
  Log(LogLevel::kWarn, "orders.private", "reconciliation failed; repeating it",
      {{"in_ms", static_cast<int64_t>(delay.count())}, {"attempt", reconcile_backoff_.attempt()}});
  if (!reconcile_failing_) {
    reconcile_failing_ = true;
    hub_.SetStatus(cv1::StreamStatus::STATE_DEGRADED,
                   "reconciliation over REST failed; open orders, positions and the balance may be out of date "
                   "until it succeeds (retrying)");
  }
  std::weak_ptr<int> alive = alive_;
  const uint64_t gen = gen_;
  reconcile_timer_ = scheduler_.RunAfter(delay, [this, alive, gen, publish] {
    if (alive.expired() || gen != gen_) return;
    reconcile_timer_ = 0;
    if (state_ == State::kLive) Reconcile(publish);
  });
}

}  // namespace bx::orders

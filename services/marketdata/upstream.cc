#include "services/marketdata/upstream.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "services/marketdata/channel.h"
#include "services/marketdata/rest_parse.h"

namespace bx::md {
namespace {

using State = common_v1::StreamStatus;
using Gap = common_v1::Gap;
using Ms = std::chrono::milliseconds;

constexpr const char* kComponent = "upstream";

int64_t ToMs(std::chrono::steady_clock::duration d) { return std::chrono::duration_cast<Ms>(d).count(); }

// A printable excerpt of a bad frame for the log.
std::string Excerpt(std::string_view data) {
  constexpr size_t kMax = 160;
  std::string out;
  for (char c : data.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (data.size() > kMax) absl::StrAppend(&out, "... (", data.size(), " bytes)");
  return out;
}

void AppendArg(std::string* msg, std::string_view symbol, std::string_view channel) {
  if (msg->back() != '[') msg->push_back(',');
  absl::StrAppend(msg, "{\"symbol\":\"", std::string(symbol), "\",\"ch\":\"", std::string(channel), "\"}");
}

/// The limit a subscribe refusal states ("subscribe channel > 300" -> 300); 0 when it states none.
int StatedSubscriptionLimit(std::string_view msg) {
  const size_t gt = msg.rfind('>');
  if (gt == std::string_view::npos) return 0;
  int n = 0;
  size_t i = gt + 1;
  while (i < msg.size() && msg[i] == ' ') ++i;
  const size_t digits = i;
  for (; i < msg.size() && msg[i] >= '0' && msg[i] <= '9' && n < 1'000'000; ++i) n = n * 10 + (msg[i] - '0');
  return i > digits && i == msg.size() ? n : 0;
}

}  // namespace

UpstreamManager::UpstreamManager(UpstreamOptions options, Hub* hub, SymbolRegistry* symbols,
                                 MarketRestClient* rest, Executor* io, WsFactory ws_factory, const Clock& clock)
    : options_(std::move(options)),
      hub_(hub),
      symbols_(symbols),
      rest_(rest),
      io_(io),
      ws_factory_(std::move(ws_factory)),
      clock_(clock),
      alive_(std::make_shared<bool>(true)),
      seed_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

UpstreamManager::~UpstreamManager() {
  alive_.reset();
  shutting_down_ = true;
  conns_.clear();
}

void UpstreamManager::Start() {
  if (started_) return;
  started_ = true;
  const Time now = clock_.Steady();
  now_ = now;
  next_symbol_refresh_ = now;
  next_trim_ = now + std::chrono::seconds(1);
  NewConnection();
  RefreshSymbols(now);
  UpdateReady();
}

void UpstreamManager::Shutdown() {
  shutting_down_ = true;
  for (auto& c : conns_) {
    if (c->state != ConnState::kDown) c->ws->Close();
  }
  if (ready_.exchange(false) && on_ready_change_) on_ready_change_(false);
}

void UpstreamManager::Acquire(std::vector<TopicRef> topics) {
  // Counted on the ring now, before the caller's stream reads it: a linger expiry that the io
  // thread runs before this request then keeps the feed (EndUnlessAcquiring).
  for (const auto& ref : topics) ref.ring->AddPendingAcquire();
  std::weak_ptr<bool> alive = alive_;
  io_->Post([this, alive, topics = std::move(topics)]() mutable {
    if (!alive.expired()) AcquireOnIo(std::move(topics));
  });
}

void UpstreamManager::Release(std::vector<TopicRef> topics) {
  std::weak_ptr<bool> alive = alive_;
  io_->Post([this, alive, topics = std::move(topics)]() mutable {
    if (!alive.expired()) ReleaseOnIo(std::move(topics));
  });
}

void UpstreamManager::AcquireOnIo(std::vector<TopicRef> topics) {
  if (shutting_down_) {
    for (const auto& ref : topics) ref.ring->DonePendingAcquire();
    return;
  }
  for (auto& ref : topics) {
    auto& slot = topics_[ref.ring->key()];
    if (!slot) {
      slot = std::make_unique<TopicState>();
      slot->ring = ref.ring;
      slot->channel = std::move(ref.channel);
      slot->symbol = ref.ring->symbol();
      slot->spec = ref.ring->spec();
      // Its previous subscription ended moments ago (linger). If that unsubscribe is still queued,
      // it is cancelled and the subscription kept (ResumeEnded). Otherwise frames of the old one may
      // still be in flight and be published, and the exchange stops that feed before it applies the
      // new subscribe: its first trade on the new subscription comes after a Gap, its first state as
      // a snapshot.
      if (recently_ended_.contains(ref.ring->key()) && !ResumeEnded(slot.get())) slot->was_subscribed = true;
    }
    TopicState* t = slot.get();
    ++t->refs;
    ref.ring->DonePendingAcquire();
    t->lingering = false;
    if (t->conn == nullptr) Assign(t);
  }
  UpdateReady();
}

void UpstreamManager::ReleaseOnIo(std::vector<TopicRef> topics) {
  const Time now = clock_.Steady();
  for (const auto& ref : topics) {
    auto it = topics_.find(ref.ring->key());
    if (it == topics_.end()) continue;
    TopicState* t = it->second.get();
    if (t->refs > 0 && --t->refs == 0) {
      if (options_.linger.count() <= 0 && EndFeed(t)) {
        last_topic_ = nullptr;
        topics_.erase(it);
        continue;
      }
      // (Also when a stream's acquire is pending: the next tick ends it, unless that acquire came.)
      t->lingering = true;
      t->linger_until = now + options_.linger;
    }
  }
  UpdateReady();
}

UpstreamManager::Conn* UpstreamManager::NewConnection() {
  auto c = std::make_unique<Conn>(options_.backoff, seed_ + static_cast<uint64_t>(next_conn_id_));
  c->id = next_conn_id_++;
  c->ws = ws_factory_();
  c->capacity = std::max(1, options_.max_subscriptions_per_connection);
  c->down_since = clock_.Steady();
  Conn* raw = c.get();
  conns_.push_back(std::move(c));
  stats_.connections.store(static_cast<int>(conns_.size()), std::memory_order_relaxed);
  if (breaker_open_) {
    raw->retry_scheduled = true;
    raw->retry_at = breaker_until_;
  } else {
    Connect(raw);
  }
  return raw;
}

void UpstreamManager::Connect(Conn* c) {
  const uint64_t gen = ++c->generation;
  c->state = ConnState::kConnecting;
  c->retry_scheduled = false;
  ++c->attempts;
  stats_.connects.fetch_add(1, std::memory_order_relaxed);
  std::weak_ptr<bool> alive = alive_;
  net::WsClient::Handlers h;
  h.on_open = [this, alive, c, gen] {
    if (!alive.expired()) OnOpen(c, gen);
  };
  h.on_text = [this, alive, c, gen](std::string_view data, int64_t recv_ns) {
    if (!alive.expired()) OnText(c, gen, data, recv_ns);
  };
  h.on_binary = [this, alive](std::string_view data) {
    if (alive.expired()) return;
    stats_.binary_frames.fetch_add(1, std::memory_order_relaxed);
    LogBadFrame("binary", absl::StrCat("a ", data.size(), "-byte binary frame (the exchange sends text)"), {});
  };
  h.on_read_end = [this, alive] {
    if (!alive.expired()) FlushStaged();
  };
  h.on_closed = [this, alive, c, gen](absl::Status reason) {
    if (!alive.expired()) OnClosed(c, gen, reason);
  };
  c->ws->Connect(std::move(h));
}

void UpstreamManager::OnOpen(Conn* c, uint64_t gen) {
  if (gen != c->generation || c->state != ConnState::kConnecting) return;
  const Time now = clock_.Steady();
  c->state = ConnState::kOpen;
  c->opened_at = now;
  c->next_send = now;
  c->last_ping = now;
  c->awaiting_pong = false;
  c->probe_wanted = false;
  c->healthy = false;
  c->proven = false;
  stats_.connections_open.fetch_add(1, std::memory_order_relaxed);
  if (c == conns_.front().get()) stats_.connected_since_ns.store(clock_.NowNs(), std::memory_order_relaxed);

  // A new socket holds nothing: a cap guessed from an earlier refusal that stated no limit ends
  // here (the topics waiting for room come back at the next tick); a stated limit stays.
  c->capacity = c->stated_capacity > 0 ? c->stated_capacity : std::max(1, options_.max_subscriptions_per_connection);
  // Everything still wanted is subscribed again. Topics that lost data recover (gap and
  // RECOVERED) once the exchange says anything on this socket (OnHealthy): an accepted upgrade
  // alone proves nothing (a stalled exchange accepts and stays silent).
  for (TopicState* t : c->topics) {
    MarkInterrupted(t);
    t->sub = SubState::kQueued;
    t->on_exchange = false;  // a new socket: the exchange holds nothing for it yet
    t->confirm_retries = 0;
    if (t->health == TopicHealth::kDegraded) {
      // Served from REST: a reconnect alone is no recovery (a stall costs pongs, so the socket is
      // replaced while the feed stays silent; declaring it live here made it flip STALE,
      // DEGRADED, RECOVERED on every reconnect). It recovers, with this reconnect's Gap, at its
      // first data.
      t->gap_pending = true;
      t->snapshot_next = t->spec.is_state();
    }
  }
  Log(LogLevel::kInfo, kComponent, "connected",
      {{"conn", c->id}, {"attempt", c->attempts}, {"topics", static_cast<int64_t>(c->topics.size())}});
  TrySend(c, now);
  UpdateReady();
}

void UpstreamManager::OnHealthy(Conn* c) {
  if (c->healthy) return;
  c->healthy = true;
  // Topics that lost data get a gap and RECOVERED now (before their first fresh push, which is
  // flagged as a snapshot).
  absl::flat_hash_set<const TopicRing*> recovered;
  for (TopicState* t : c->topics) {
    if (RecoverOnAnsweringSocket(t)) recovered.insert(t->ring);
  }
  if (!recovered.empty()) {
    hub_->BroadcastStatus(recovered, State::STATE_RECOVERED,
                          absl::StrCat("websocket reconnected after ", ToMs(clock_.Steady() - c->down_since),
                                       " ms; the exchange answers again"),
                          /*gap_upstream_reconnect=*/true);
  }
  UpdateReady();
}

bool UpstreamManager::RecoverOnAnsweringSocket(TopicState* t) {
  if (t->health != TopicHealth::kReconnecting) return false;
  if (t->delisted) {  // its streams were told no data will come: the socket changes nothing
    SetHealth(t, TopicHealth::kLive);
    return false;
  }
  // The cached state is from before the outage: once the topic is live again, late joiners
  // and unary reads must not take it for current. Until the first fresh push (published as
  // a snapshot) there is none, and GetOrderBook/GetTickers ask REST. Hidden before the topic
  // turns live, so no reader sees both; streams still read what they had not read yet.
  if (t->spec.is_state()) t->ring->HideCache();
  SetHealth(t, TopicHealth::kLive);
  t->snapshot_next = t->spec.is_state();
  return true;
}

void UpstreamManager::OnClosed(Conn* c, uint64_t gen, const absl::Status& reason) {
  FlushStaged();  // what the connection delivered before it ended goes out before its status
  if (gen != c->generation) return;
  const Time now = clock_.Steady();
  const bool was_open = c->state == ConnState::kOpen;
  c->state = ConnState::kDown;
  c->down_since = now;
  c->awaiting_pong = false;
  c->unsubscribe.clear();
  if (was_open) stats_.connections_open.fetch_sub(1, std::memory_order_relaxed);
  if (c == conns_.front().get()) stats_.connected_since_ns.store(0, std::memory_order_relaxed);
  std::string why = c->last_error.empty() ? std::string(reason.message()) : c->last_error;
  if (why.empty()) why = reason.ToString();
  c->last_error.clear();
  if (shutting_down_) return;
  if (c->retired) {
    EraseLater(c);
    return;
  }
  if (c != conns_.front().get() && c->topics.empty()) {
    // A spare connection with nothing to carry (its topics left, e.g. the exchange closed it for
    // being idle): it is not reconnected, and its end is no failure. Reconnecting it only for the
    // exchange to drop it again counted short sessions toward the breaker, which then held
    // readiness down and delayed the connections that carry the feed.
    Retire(c, why);
    UpdateReady();
    return;
  }
  stats_.reconnects.fetch_add(1, std::memory_order_relaxed);
  // A session that ends before it was healthy for --min-healthy-session counts as a failed
  // connect: an exchange that accepts, answers a ping or two and drops us again must see the
  // backoff grow (and the breaker open), not a reconnect storm at the initial delay.
  // Failures are counted per connection: with many connections, one drop of them all is one
  // failure each, not many in a row (that opened the breaker for its whole cooldown).
  if (c->proven || (was_open && c->healthy && now - c->opened_at >= options_.min_healthy_session)) {
    c->backoff.Reset();
    c->failures = 0;
  } else {
    ++c->failures;
  }
  CountFailures();
  c->healthy = false;
  c->proven = false;
  if (consecutive_failures_ >= options_.breaker_failures && !breaker_open_) {
    breaker_open_ = true;
    breaker_until_ = now + options_.breaker_cooldown;
    stats_.breaker_open.store(true, std::memory_order_relaxed);
    stats_.breaker_trips.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kError, kComponent, "circuit breaker open: exchange unreachable",
        {{"failures", consecutive_failures_}, {"cooldown_ms", options_.breaker_cooldown.count()},
         {"last_error", why}});
  }
  const Ms delay = c->backoff.Next();
  c->retry_at = now + delay;
  if (breaker_open_) c->retry_at = std::max(c->retry_at, breaker_until_);
  c->retry_scheduled = true;
  const int64_t in_ms = ToMs(c->retry_at - now);

  absl::flat_hash_set<const TopicRing*> affected;
  for (TopicState* t : c->topics) {
    if (t->sub != SubState::kNone) t->sub = SubState::kQueued;
    t->on_exchange = false;  // the socket is gone, and its subscriptions with it
    if (t->health == TopicHealth::kLive || t->health == TopicHealth::kStale) {
      SetHealth(t, TopicHealth::kReconnecting);
      if (!t->delisted) affected.insert(t->ring);  // told "no data will come": nothing to add
    }
  }
  Log(was_open ? LogLevel::kWarn : LogLevel::kInfo, kComponent, was_open ? "disconnected" : "connect failed",
      {{"conn", c->id}, {"reason", why}, {"retry_in_ms", in_ms}, {"failures", consecutive_failures_}});
  if (!affected.empty()) {
    hub_->BroadcastStatus(affected, State::STATE_RECONNECTING,
                          absl::StrCat("websocket closed: ", why, "; reconnect attempt in ", in_ms, " ms"));
  }
  UpdateReady();
}

void UpstreamManager::EraseLater(Conn* c) {
  // Deleting the client inside its own callback is not allowed: defer.
  std::weak_ptr<bool> alive = alive_;
  io_->Post([this, alive, c] {
    if (alive.expired()) return;
    conns_.erase(std::remove_if(conns_.begin(), conns_.end(), [c](const auto& p) { return p.get() == c; }),
                 conns_.end());
    stats_.connections.store(static_cast<int>(conns_.size()), std::memory_order_relaxed);
  });
}

void UpstreamManager::Retire(Conn* c, std::string_view why) {
  c->retired = true;
  c->retry_scheduled = false;
  CountFailures();  // its failures no longer count toward the breaker
  Log(LogLevel::kInfo, kComponent, "retiring idle connection", {{"conn", c->id}, {"reason", why}});
  if (c->state == ConnState::kDown) {
    EraseLater(c);
  } else {
    c->ws->Close();  // erased once closed (OnClosed)
  }
}

void UpstreamManager::LogBadFrame(std::string_view what, std::string_view why, std::string_view data) {
  bad_frame_log_.Log(LogLevel::kWarn, kComponent, what, "bad frame from the exchange",
                     {{"what", what}, {"why", why}, {"frame", Excerpt(data)}});
}

void UpstreamManager::OnText(Conn* c, uint64_t gen, std::string_view data, int64_t recv_ns) {
  if (gen != c->generation || c->state != ConnState::kOpen) return;
  auto parsed = parser_.Parse(data);
  if (!parsed.ok()) {
    stats_.parse_errors.fetch_add(1, std::memory_order_relaxed);
    LogBadFrame("malformed", std::string(parsed.status().message()), data);
    // A push of a trade topic we stream, unreadable past its envelope: its trades are lost, and
    // its streams must know (state topics need not: their next push carries the whole state).
    const Frame& bad = parser_.frame();
    if (bad.op.empty() && bad.spec && !bad.spec->is_state() && !bad.symbol.empty()) {
      TopicState* t = LookupTopic(bad.ch, bad.symbol);
      if (t != nullptr && t->conn == c) {
        FlushStaged();  // the frame's predecessors of this read go out before its Gap
        hub_->BroadcastGap({t->ring}, Gap::REASON_UPSTREAM_BAD_FRAME);
      }
    }
    return;
  }
  const Frame& f = **parsed;
  switch (f.kind) {
    case FrameKind::kPush: {
      if (!f.spec) {
        stats_.frames[UpstreamStats::kChannels - 1].fetch_add(1, std::memory_order_relaxed);
        if (!f.full_book) {
          stats_.unknown_channel.fetch_add(1, std::memory_order_relaxed);
          LogBadFrame("unknown_channel", f.ch, data);
        }
        return;
      }
      stats_.frames[f.spec->channel].fetch_add(1, std::memory_order_relaxed);
      // Data after our ping proves the socket alive as well as a pong would (an exchange that
      // dropped the pong of a ping sent during a stall must not cost a reconnect and a Gap once
      // data flows again).
      c->awaiting_pong = false;
      OnHealthy(c);
      HandlePush(c, f, recv_ns);
      return;
    }
    case FrameKind::kPingReply:
      stats_.control_frames.fetch_add(1, std::memory_order_relaxed);
      c->awaiting_pong = false;
      OnHealthy(c);
      return;
    case FrameKind::kSubscribeReply:
      stats_.control_frames.fetch_add(1, std::memory_order_relaxed);
      OnHealthy(c);
      if (f.has_result && !f.result) HandleSubscribeRefusal(c, f);
      return;
    default:  // the greeting, and other control frames: the exchange speaks on this socket
      stats_.control_frames.fetch_add(1, std::memory_order_relaxed);
      OnHealthy(c);
      return;
  }
}

void UpstreamManager::HandleSubscribeRefusal(Conn* c, const Frame& f) {
  stats_.subscribe_refusals.fetch_add(1, std::memory_order_relaxed);
  // The refusal names no topic: keep what this connection has confirmed, move the rest.
  int confirmed = 0;
  for (TopicState* t : c->topics) confirmed += t->sub == SubState::kConfirmed ? 1 : 0;
  // It states the exchange's limit ("subscribe channel > 300"). When this connection did ask for
  // more than that, the limit is real: keep room for it (the moved topics may come back here up
  // to it). Otherwise the exchange counts differently from us: hold what is confirmed only.
  const int stated = StatedSubscriptionLimit(f.msg);
  if (stated > 0 && static_cast<int>(c->topics.size()) > stated) {
    c->capacity = std::min(c->capacity, stated);
    c->stated_capacity = c->capacity;
  } else {
    c->capacity = std::max(1, confirmed);
  }
  Log(LogLevel::kError, kComponent, "exchange refused a subscription",
      {{"conn", c->id}, {"msg", f.msg}, {"new_capacity", c->capacity}});
  // The confirmed topics stay, then the unconfirmed ones in the order they were subscribed, up to
  // the capacity (the exchange refuses the ones past its limit; a kept one it did refuse is sent
  // again after the confirm timeout). Only the rest move: moving a topic and bringing it back to
  // this socket would unsubscribe a feed the exchange may be giving.
  int keep = c->capacity - confirmed;
  std::vector<TopicState*> move;
  for (TopicState* t : c->topics) {
    if (t->sub == SubState::kConfirmed) continue;
    if (keep > 0) {
      --keep;
      continue;
    }
    move.push_back(t);
  }
  for (TopicState* t : move) {
    // Unconfirmed is not refused: a quiet trade topic is only confirmed by data. Unsubscribe here
    // so this connection does not keep feeding a topic that now lives on another.
    Unassign(t, /*send_unsubscribe=*/true);
    Assign(t);
  }
}

UpstreamManager::TopicState* UpstreamManager::LookupTopic(std::string_view ch, std::string_view symbol) {
  key_.assign(ch);
  key_.push_back(':');
  for (char c : symbol) key_.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
  auto it = topics_.find(absl::string_view(key_.data(), key_.size()));
  return it == topics_.end() ? nullptr : it->second.get();
}

UpstreamManager::TopicState* UpstreamManager::FindPushTopic(const Frame& f) {
  if (last_topic_ != nullptr && f.ch == last_ch_ && f.symbol == last_symbol_) return last_topic_;
  TopicState* found = LookupTopic(f.ch, f.symbol);
  if (found == nullptr) {
    // Frames sent before the exchange processed our unsubscribe are expected, not a fault.
    auto ended = recently_ended_.find(absl::string_view(key_.data(), key_.size()));
    if (ended != recently_ended_.end() && now_ - ended->second <= kLateFrameWindow) {
      stats_.after_unsubscribe_frames.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats_.unsubscribed_frames.fetch_add(1, std::memory_order_relaxed);
    }
    return nullptr;
  }
  last_topic_ = found;
  last_ch_.assign(f.ch);
  last_symbol_.assign(f.symbol);
  return last_topic_;
}

void UpstreamManager::Stage(TopicRing* ring, const EventLayout& layout, int64_t recv_ns, int64_t conflate_key) {
  staged_.Add(ring, scratch_, layout, recv_ns, conflate_key);
  if (staged_.full()) FlushStaged();
}

void UpstreamManager::FlushStaged() {
  if (!staged_.empty()) staged_.Flush(*hub_);
}

void UpstreamManager::HandlePush(Conn* c, const Frame& f, int64_t recv_ns) {
  TopicState* t = FindPushTopic(f);
  if (t == nullptr) return;
  if (t->conn != c) {
    // A subscription this connection should no longer have (the topic moved after a refusal, or
    // an unsubscribe is still in flight): publishing it too would duplicate the topic's trades.
    stats_.other_connection_frames.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (f.spec->channel == v1::CHANNEL_ORDER_BOOK && f.bids.empty() && f.asks.empty()) {
    // The shape of an unknown symbol (reference section 8): never publish it as a book.
    stats_.empty_books.fetch_add(1, std::memory_order_relaxed);
    LogBadFrame("empty_book", "book frame with only empty levels", key_);
    // A symbol validated against the listing that answers like an unknown one was most likely
    // delisted since the last refresh: ask for the listing now (at most once a minute) rather
    // than leave its streams on a silent topic until the next scheduled refresh.
    if (!last_early_symbol_refresh_ || now_ - *last_early_symbol_refresh_ >= kEarlySymbolRefreshEvery) {
      last_early_symbol_refresh_ = now_;
      next_symbol_refresh_ = std::min(next_symbol_refresh_, now_);
    }
    return;
  }
  // Staleness thresholds are hundreds of ms: the last tick's time is precise enough, and saves a
  // clock read per frame.
  t->last_data = std::max(now_, t->sent_at);
  t->resubscribed_silent = false;
  // Data while its subscribe still waits for its pacing slot, with no subscribe of it on this
  // socket since its last unsubscribe (a rejoin right after the linger's unsubscribe went out, a
  // topic moved back to a connection that just unsubscribed it), comes from the subscription
  // being ended: it neither confirms the queued subscribe (the exchange would stop the feed once
  // it applies the unsubscribe, and nothing would ask again) nor is it the new subscription's
  // first push (the trades between the two are lost: that Gap is still to come).
  const bool ending_feed = t->sub == SubState::kQueued && !t->on_exchange;
  if (t->sub == SubState::kSent || (t->sub == SubState::kQueued && !ending_feed)) t->sub = SubState::kConfirmed;
  // Reconnecting here: a topic that waited for room on a connection that was already open.
  if (t->health != TopicHealth::kLive) {
    // A topic that had a feed and lost it (a reconnect, or a move that found no room) missed
    // data: the Gap comes with RECOVERED.
    const bool gap = t->gap_pending || t->gap_at_first_push;
    SetHealth(t, TopicHealth::kLive);
    hub_->BroadcastStatus({t->ring}, State::STATE_RECOVERED,
                          gap ? "websocket data resumed (after a reconnect)" : "websocket data resumed",
                          /*gap_upstream_reconnect=*/gap);
    t->gap_pending = false;
    if (!ending_feed) t->gap_at_first_push = false;
  } else if (t->gap_at_first_push && !ending_feed) {
    // The first trades of a new subscription after an interruption: what the exchange executed
    // between the interruption (or the reconnect's RECOVERED) and the exchange applying the
    // subscribe was never sent to us.
    hub_->BroadcastGap({t->ring}, Gap::REASON_UPSTREAM_RECONNECT);
    t->gap_at_first_push = false;
  }
  if (f.ts > 0) {
    const double lat = static_cast<double>(recv_ns / 1'000'000 - f.ts) / 1e3;
    stats_.exchange_latency.Observe(std::max(0.0, lat));
  }
  EventHeader h{.symbol = t->symbol, .channel = t->spec.channel, .exchange_ts_ms = f.ts,
                .gateway_ts_ns = recv_ns, .snapshot = t->snapshot_next};
  switch (t->spec.channel) {
    case v1::CHANNEL_TRADE:
      h.snapshot = false;
      for (const TradeView& tr : f.trades) {
        EventLayout layout = encoder_.Trade(h, tr, &scratch_);
        Stage(t->ring, layout, recv_ns);
      }
      return;
    case v1::CHANNEL_ORDER_BOOK: {
      EventLayout layout = encoder_.Book(h, f.bids, f.asks, t->spec.depth, &scratch_);
      Stage(t->ring, layout, recv_ns);
      break;
    }
    case v1::CHANNEL_TICKER: {
      EventLayout layout = encoder_.Ticker(h, f.ticker, "", &scratch_);
      Stage(t->ring, layout, recv_ns);
      break;
    }
    case v1::CHANNEL_MARK_PRICE: {
      EventLayout layout = encoder_.MarkPrice(h, f.price, &scratch_);
      Stage(t->ring, layout, recv_ns);
      break;
    }
    case v1::CHANNEL_KLINE: {
      const int64_t open = CandleOpenTimeMs(t->spec.interval, f.ts);
      EventLayout layout = encoder_.Kline(h, f.kline, t->spec.interval, t->spec.price_type, open, &scratch_);
      Stage(t->ring, layout, recv_ns, open);
      break;
    }
    default:
      return;
  }
  t->snapshot_next = false;
}

void UpstreamManager::TrySend(Conn* c, Time now) {
  if (c->state != ConnState::kOpen || now < c->next_send) return;
  std::string msg;
  const bool ping_due = now - c->last_ping >= options_.ping_interval;
  if ((ping_due || c->probe_wanted) && !c->awaiting_pong) {
    const int64_t value = clock_.NowMs() / 1000;
    msg = absl::StrCat("{\"op\":\"ping\",\"ping\":", value, "}");
    c->awaiting_pong = true;
    c->ping_sent = now;
    c->last_ping = now;
    c->probe_wanted = false;
    stats_.pings.fetch_add(1, std::memory_order_relaxed);
  } else if (ping_due && c->awaiting_pong) {
    c->last_ping = now;  // the outstanding ping is still timing; the pong timeout decides
  }
  if (msg.empty() && !c->unsubscribe.empty()) {
    msg = "{\"op\":\"unsubscribe\",\"args\":[";
    const size_t n = std::min<size_t>(c->unsubscribe.size(), static_cast<size_t>(options_.max_args_per_message));
    for (size_t i = 0; i < n; ++i) AppendArg(&msg, c->unsubscribe[i].symbol, c->unsubscribe[i].channel);
    msg += "]}";
    c->unsubscribe.erase(c->unsubscribe.begin(), c->unsubscribe.begin() + static_cast<ptrdiff_t>(n));
    stats_.unsubscribe_messages.fetch_add(1, std::memory_order_relaxed);
  }
  if (msg.empty()) {
    int n = 0;
    for (TopicState* t : c->topics) {
      if (t->sub != SubState::kQueued) continue;
      if (n == 0) msg = "{\"op\":\"subscribe\",\"args\":[";
      AppendArg(&msg, t->symbol, t->channel);
      t->sub = SubState::kSent;
      t->on_exchange = true;
      t->was_subscribed = true;
      t->sent_at = now;
      t->probed_unconfirmed = false;
      if (++n >= options_.max_args_per_message) break;
    }
    if (n > 0) {
      msg += "]}";
      stats_.subscribe_messages.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (msg.empty()) return;
  c->ws->Send(std::move(msg));
  const double per_second = std::max(0.1, options_.max_messages_per_second);
  c->next_send = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(1.0 / per_second));
}

void UpstreamManager::MarkInterrupted(TopicState* t) {
  if (!t->was_subscribed) return;  // a first subscription interrupts nothing
  if (t->spec.is_state()) {
    t->snapshot_next = true;
  } else {
    t->gap_at_first_push = true;
  }
}

void UpstreamManager::Assign(TopicState* t) {
  MarkInterrupted(t);  // (re)assigned after a move: its feed was interrupted
  Conn* target = nullptr;
  for (auto& c : conns_) {
    if (!c->retired && static_cast<int>(c->topics.size()) < c->capacity) {
      target = c.get();
      break;
    }
  }
  if (target == nullptr) {
    if (static_cast<int>(conns_.size()) >= options_.max_connections) {
      bad_frame_log_.Log(LogLevel::kError, kComponent, "connections_full",
                         "every upstream connection is full; topic waits",
                         {{"topic", t->ring->key()}, {"connections", static_cast<int64_t>(conns_.size())}});
      // The topic gets no data until a slot frees (CheckTopics retries every tick): its streams
      // must not believe it live, and readiness must not count it healthy. Books and tickers are
      // served from REST meanwhile (PollDegraded), like any feed that is down.
      if (t->health == TopicHealth::kLive) {
        SetHealth(t, TopicHealth::kReconnecting);
        hub_->BroadcastStatus({t->ring}, State::STATE_RECONNECTING,
                              absl::StrCat("no exchange connection has room (", options_.max_connections,
                                           " connections of ", options_.max_subscriptions_per_connection,
                                           " subscriptions, --max-connections / "
                                           "--max-subscriptions-per-connection); waiting for one"));
      }
      return;
    }
    target = NewConnection();
  }
  target->topics.push_back(t);
  target->empty_since = {};
  t->conn = target;
  t->sub = SubState::kQueued;
  t->confirm_retries = 0;
  stats_.subscribed_topics.fetch_add(1, std::memory_order_relaxed);
  const Time now = clock_.Steady();
  if (target->state == ConnState::kOpen) {
    // A topic that waited for room, now on a socket the exchange already spoke on: OnHealthy ran
    // before it came, so it recovers here as it would have there. Left to its first push, a quiet
    // trade topic (whose freshness is its connection's) stayed RECONNECTING, and readiness
    // NOT_SERVING, until somebody traded the symbol.
    const bool interrupted = t->gap_pending || t->gap_at_first_push;
    if (target->healthy && RecoverOnAnsweringSocket(t)) {
      // The Gap covers the wait when the topic had a feed before (a refusal took its place); a
      // trade topic still gets its second one at its first trade (gap_at_first_push).
      t->gap_pending = false;
      hub_->BroadcastStatus({t->ring}, State::STATE_RECOVERED,
                            "subscribed on an exchange connection that answers (a slot freed)",
                            /*gap_upstream_reconnect=*/interrupted);
    }
    TrySend(target, now);
  } else if (t->health == TopicHealth::kLive) {
    SetHealth(t, TopicHealth::kReconnecting);
    hub_->BroadcastStatus({t->ring}, State::STATE_RECONNECTING, "waiting for an exchange connection");
  }
}

void UpstreamManager::Unassign(TopicState* t, bool send_unsubscribe) {
  Conn* c = t->conn;
  if (c == nullptr) return;
  c->topics.erase(std::remove(c->topics.begin(), c->topics.end(), t), c->topics.end());
  // Also when it waits to be subscribed again (no data after subscribing, or silent): the first
  // subscribe may hold on the exchange.
  if (send_unsubscribe && c->state == ConnState::kOpen && t->on_exchange) {
    c->unsubscribe.push_back({t->channel, t->symbol, /*resumable=*/false, t->sub});
  }
  t->conn = nullptr;
  t->sub = SubState::kNone;
  t->on_exchange = false;
  stats_.subscribed_topics.fetch_sub(1, std::memory_order_relaxed);
}

bool UpstreamManager::EndFeed(TopicState* t) {
  // Nothing keeps the ring's state current from here on: never serve it as live (the health
  // counters go back to a clean slate; a later subscription starts the topic afresh). Unless a
  // stream that already reads the ring has its acquire on its way here: then the feed stays.
  if (!t->ring->EndUnlessAcquiring()) return false;
  Conn* c = t->conn;
  if (c != nullptr) recently_ended_[t->ring->key()] = clock_.Steady();
  const size_t queued = c != nullptr ? c->unsubscribe.size() : 0;
  Unassign(t, /*send_unsubscribe=*/true);
  if (c != nullptr && c->unsubscribe.size() > queued) c->unsubscribe.back().resumable = true;
  SetHealth(t, TopicHealth::kLive);
  return true;
}

bool UpstreamManager::ResumeEnded(TopicState* t) {
  for (auto& owned : conns_) {
    Conn* c = owned.get();
    // Unsent entries exist only on the open socket they were queued for (OnClosed clears them).
    if (c->retired || c->state != ConnState::kOpen) continue;
    auto mine = [t](const PendingUnsubscribe& u) { return u.channel == t->channel && u.symbol == t->symbol; };
    auto it = std::find_if(c->unsubscribe.begin(), c->unsubscribe.end(), mine);
    if (it == c->unsubscribe.end()) continue;
    // Another unsubscribe of it queued here (a move after a refusal) would still end the feed; and
    // a connection whose room was taken meanwhile cannot hold it again: subscribe afresh then.
    if (!it->resumable || std::count_if(c->unsubscribe.begin(), c->unsubscribe.end(), mine) != 1 ||
        static_cast<int>(c->topics.size()) >= c->capacity) {
      return false;
    }
    const Time now = clock_.Steady();
    t->sub = it->sub;
    c->unsubscribe.erase(it);
    c->topics.push_back(t);
    c->empty_since = {};
    t->conn = c;
    t->on_exchange = true;
    t->was_subscribed = true;
    // A new TopicState: confirmation and staleness count from now (the feed is the one it had).
    t->sent_at = now;
    t->last_data = now;
    // EndFeed dropped the ring's cache: the next state pushed is the rejoining stream's snapshot.
    // Trades need no Gap: the exchange never stopped the feed.
    t->snapshot_next = t->spec.is_state();
    recently_ended_.erase(t->ring->key());
    stats_.subscribed_topics.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kInfo, kComponent, "rejoined before its unsubscribe was sent; subscription kept",
        {{"topic", t->ring->key()}, {"conn", c->id}});
    return true;
  }
  return false;
}

void UpstreamManager::SetHealth(TopicState* t, TopicHealth h) {
  if (t->health == h) return;
  if (t->health == TopicHealth::kStale) stats_.stale_topics.fetch_sub(1, std::memory_order_relaxed);
  if (t->health == TopicHealth::kDegraded) stats_.degraded_topics.fetch_sub(1, std::memory_order_relaxed);
  if (h == TopicHealth::kStale) stats_.stale_topics.fetch_add(1, std::memory_order_relaxed);
  if (h == TopicHealth::kDegraded) stats_.degraded_topics.fetch_add(1, std::memory_order_relaxed);
  if (t->health == TopicHealth::kLive) t->unhealthy_since = clock_.Steady();
  t->health = h;
  t->ring->set_health(h);
}

std::chrono::milliseconds UpstreamManager::StaleAfter(const ChannelSpec& spec) const {
  switch (spec.channel) {
    case v1::CHANNEL_ORDER_BOOK: return options_.stale_book;
    case v1::CHANNEL_TICKER: return options_.stale_ticker;
    case v1::CHANNEL_MARK_PRICE: return options_.stale_mark_price;
    case v1::CHANNEL_KLINE: return options_.stale_kline;
    case v1::CHANNEL_TRADE: return options_.stale_trade;
    default: return Ms(0);
  }
}

void UpstreamManager::CheckTopics(Time now) {
  absl::flat_hash_set<const TopicRing*> stale;
  std::vector<std::string> expired;
  for (auto& [key, owned] : topics_) {
    TopicState* t = owned.get();
    if (t->refs == 0 && t->lingering && now >= t->linger_until && EndFeed(t)) {
      expired.push_back(key);
      continue;
    }
    HideAgedCache(t, now);
    if (t->conn == nullptr) {
      if (t->refs > 0 || t->lingering) Assign(t);
      continue;
    }
    if (t->conn->state != ConnState::kOpen) continue;
    if (t->sub == SubState::kSent && now - t->sent_at > options_.confirm_timeout && !t->probed_unconfirmed) {
      // No ack exists: a subscription is confirmed by data. A quiet one (a trade topic may be
      // silent for minutes) cannot be, so its freshness is its connection's: probe it now (the
      // ping goes out before the re-send below), rather than at the next regular ping; no pong
      // within the pong timeout drops the connection.
      t->probed_unconfirmed = true;
      t->conn->probe_wanted = true;
      if (t->confirm_retries < 1) {  // and send it once more
        ++t->confirm_retries;
        t->sub = SubState::kQueued;
        Log(LogLevel::kWarn, kComponent, "no data after subscribing; subscribing again", {{"topic", key}});
      }
    }
    if (t->delisted) continue;  // no data will come; streams were told
    const Ms threshold = StaleAfter(t->spec);
    // Also while it lingers with no stream: its cache is what a late joiner and GetOrderBook get.
    if (threshold.count() > 0 && (t->refs > 0 || t->lingering) && t->health == TopicHealth::kLive &&
        (t->sub == SubState::kSent || t->sub == SubState::kConfirmed)) {
      const Time since = std::max(t->last_data, t->sent_at);
      if (now - since > threshold) {
        SetHealth(t, TopicHealth::kStale);
        stale.insert(t->ring);
        t->conn->probe_wanted = true;  // is the socket itself still alive?
      }
    }
    // Silent for another threshold while its connection answers pongs (the probe above): the
    // exchange may have dropped this one subscription. Ask once more.
    if (threshold.count() > 0 && t->refs > 0 && t->sub == SubState::kConfirmed && !t->resubscribed_silent &&
        (t->health == TopicHealth::kStale || t->health == TopicHealth::kDegraded) && t->conn->healthy &&
        !t->conn->awaiting_pong && now - t->unhealthy_since > threshold) {
      t->resubscribed_silent = true;
      t->sub = SubState::kQueued;
      Log(LogLevel::kWarn, kComponent, "topic silent on a live connection; subscribing again", {{"topic", key}});
    }
  }
  if (!expired.empty()) last_topic_ = nullptr;
  for (const auto& key : expired) topics_.erase(key);
  if (!stale.empty()) {
    Log(LogLevel::kWarn, kComponent, "feed stale", {{"topics", static_cast<int64_t>(stale.size())}});
    hub_->BroadcastStatus(stale, State::STATE_STALE,
                          "feed stale: no data within the channel's staleness threshold; probing the connection");
  }
}

void UpstreamManager::HideAgedCache(TopicState* t, Time now) {
  if (!t->spec.is_state()) return;
  const Ms threshold = StaleAfter(t->spec);
  if (threshold.count() <= 0) return;
  const Time fresh = std::max(t->last_data, t->last_rest_data);
  if (now - fresh <= threshold || t->cache_hidden_for == fresh) return;
  // Nothing newer came within the threshold, from the feed or from REST (the socket is down or
  // stale and the polls fail, or are slower than the threshold): the cached state may be far from
  // the market. A late joiner gets its status and no snapshot, and unary reads go to REST, until
  // newer data is published (which shows again). Streams still read what they had not read.
  t->ring->HideCache();
  t->cache_hidden_for = fresh;
}

void UpstreamManager::PollDegraded(Time now) {
  if (!options_.rest_fallback || rest_ == nullptr) return;
  absl::flat_hash_set<const TopicRing*> newly;
  std::vector<std::string> ticker_symbols;
  std::weak_ptr<bool> alive = alive_;
  for (auto& [key, owned] : topics_) {
    TopicState* t = owned.get();
    if (t->refs == 0 || t->delisted) continue;
    const bool pollable = t->spec.channel == v1::CHANNEL_ORDER_BOOK || t->spec.channel == v1::CHANNEL_TICKER;
    if (!pollable) continue;
    // A short outage (a quick reconnect) is not worth REST calls: wait one poll interval.
    if ((t->health == TopicHealth::kReconnecting || t->health == TopicHealth::kStale) &&
        now - t->unhealthy_since >= options_.rest_poll_interval) {
      if (t->health == TopicHealth::kReconnecting) {
        // Its socket was lost, and OnHealthy recovers only reconnecting topics: the reconnect's Gap
        // (and the fresh snapshot after it) now come with its first push, even when the new socket
        // opened before this (OnOpen marks only topics already degraded).
        t->gap_pending = true;
        t->snapshot_next = t->spec.is_state();
      }
      SetHealth(t, TopicHealth::kDegraded);
      newly.insert(t->ring);
      t->next_poll = now;
    }
    if (t->health != TopicHealth::kDegraded) continue;
    if (t->spec.channel == v1::CHANNEL_TICKER) {
      ticker_symbols.push_back(t->symbol);
      continue;
    }
    if (t->poll_in_flight || now < t->next_poll || !rest_->BackgroundBudgetAvailable()) continue;
    t->poll_in_flight = true;
    t->next_poll = now + options_.rest_poll_interval;
    stats_.rest_polls.fetch_add(1, std::memory_order_relaxed);
    std::string target = absl::StrCat("/api/v1/futures/market/depth?symbol=", t->symbol, "&limit=", t->spec.depth);
    rest_->Get(std::move(target), RestPriority::kBackground,
               [this, alive, key = key](absl::StatusOr<std::string> body) {
                 if (alive.expired()) return;
                 auto it = topics_.find(key);
                 if (it == topics_.end()) return;
                 TopicState* tp = it->second.get();
                 tp->poll_in_flight = false;
                 if (tp->health != TopicHealth::kDegraded) return;
                 absl::StatusOr<v1::OrderBook> book =
                     body.ok() ? ParseDepth(*body) : absl::StatusOr<v1::OrderBook>(body.status());
                 if (!book.ok()) {
                   bad_frame_log_.Log(LogLevel::kWarn, kComponent, "rest_poll", "REST depth poll failed",
                                      {{"topic", key}, {"error", book.status().ToString()}});
                   return;
                 }
                 std::vector<LevelView> bids, asks;
                 for (int i = 0; i < book->bids_size() && i < static_cast<int>(tp->spec.depth); ++i) {
                   bids.push_back({book->bids(i).price(), book->bids(i).qty()});
                 }
                 for (int i = 0; i < book->asks_size() && i < static_cast<int>(tp->spec.depth); ++i) {
                   asks.push_back({book->asks(i).price(), book->asks(i).qty()});
                 }
                 const int64_t now_ns = clock_.NowNs();
                 EventLayout layout = encoder_.Book(
                     {.symbol = tp->symbol, .channel = v1::CHANNEL_ORDER_BOOK, .gateway_ts_ns = now_ns,
                      .snapshot = true},
                     bids, asks, tp->spec.depth, &scratch_);
                 FlushStaged();  // keeps the order with anything a read staged
                 hub_->Publish(tp->ring, scratch_, layout, now_ns);
                 tp->last_rest_data = clock_.Steady();
               });
  }
  if (!newly.empty()) {
    // What the poller achieves: one call per degraded book and one for every degraded ticker, per
    // round, at most --rest-poll-budget calls/s (less while clients' calls use the gate, but at
    // least --rest-poll-floor), and no
    // topic more often than --rest-poll-interval.
    int calls = ticker_symbols.empty() ? 0 : 1;
    for (const auto& [k, owned] : topics_) {
      const TopicState* t = owned.get();
      calls += t->refs > 0 && !t->delisted && t->health == TopicHealth::kDegraded &&
                       t->spec.channel == v1::CHANNEL_ORDER_BOOK
                   ? 1
                   : 0;
    }
    const double rate = rest_->BackgroundRate();
    const int64_t interval_ms = options_.rest_poll_interval.count();
    const int64_t round_ms = rate > 0 ? static_cast<int64_t>(std::ceil(calls * 1000.0 / rate)) : 0;
    const int64_t every_ms = std::max(interval_ms, round_ms);
    hub_->BroadcastStatus(
        newly, State::STATE_DEGRADED,
        absl::StrCat("websocket feed unavailable; serving REST snapshots at best every ", every_ms, " ms (",
                     calls, " REST calls per round share the poller's ", absl::SixDigits(rate),
                     " calls/s; at most one per topic every ", interval_ms, " ms)"));
  }
  if (ticker_symbols.empty()) tickers_poll_all_ = false;
  if (!ticker_symbols.empty() && !tickers_poll_in_flight_ && now >= next_tickers_poll_ &&
      rest_->BackgroundBudgetAvailable()) {
    tickers_poll_in_flight_ = true;
    next_tickers_poll_ = now + options_.rest_poll_interval;
    stats_.rest_polls.fetch_add(1, std::memory_order_relaxed);
    // After a refused named list: every ticker (an empty list asks for all).
    std::string target = TickersTarget(tickers_poll_all_ ? std::vector<std::string>{} : ticker_symbols);
    const bool all = target.find('?') == std::string::npos;
    rest_->Get(std::move(target), RestPriority::kBackground, [this, alive, all](absl::StatusOr<std::string> body) {
      if (alive.expired()) return;
      tickers_poll_in_flight_ = false;
      auto tickers = body.ok() ? ParseTickers(*body) : absl::StatusOr<std::vector<RestTicker>>(body.status());
      if (!tickers.ok()) {
        if (!all) tickers_poll_all_ = true;
        bad_frame_log_.Log(LogLevel::kWarn, kComponent, "rest_poll", "REST tickers poll failed",
                           {{"error", tickers.status().ToString()},
                            {"next", all ? "the same" : "every ticker, without naming symbols"}});
        return;
      }
      const int64_t now_ns = clock_.NowNs();
      for (const auto& rt : *tickers) {
        auto it = topics_.find(TopicKey("ticker", rt.symbol));
        if (it == topics_.end() || it->second->health != TopicHealth::kDegraded) continue;
        TopicState* t = it->second.get();
        const v1::Ticker& tk = rt.ticker;
        TickerView view{t->symbol,        tk.last_price(),  tk.open_price(),   tk.high_price(),
                        tk.low_price(),   tk.base_volume(), tk.quote_volume(), tk.change_percent()};
        EventLayout layout = encoder_.Ticker(
            {.symbol = t->symbol, .channel = v1::CHANNEL_TICKER, .gateway_ts_ns = now_ns, .snapshot = true}, view,
            tk.mark_price(), &scratch_);
        FlushStaged();  // keeps the order with anything a read staged
        hub_->Publish(t->ring, scratch_, layout, now_ns);
        t->last_rest_data = clock_.Steady();
      }
    });
  }
}

void UpstreamManager::RefreshSymbols(Time now) {
  if (rest_ == nullptr || symbols_in_flight_ || now < next_symbol_refresh_) return;
  symbols_in_flight_ = true;
  std::weak_ptr<bool> alive = alive_;
  rest_->Get("/api/v1/futures/market/trading_pairs",
             symbols_->loaded() ? RestPriority::kBackground : RestPriority::kForeground,
             [this, alive](absl::StatusOr<std::string> body) {
               if (alive.expired()) return;
               symbols_in_flight_ = false;
               const Time t = clock_.Steady();
               std::vector<BadRow> bad_rows;
               auto list = body.ok() ? ParseTradingPairs(*body, &bad_rows)
                                     : absl::StatusOr<std::vector<v1::SymbolInfo>>(body.status());
               // A row with an unreadable value is left out of the listing; a symbol it names
               // keeps what the last good listing said of it rather than read as delisted.
               for (const BadRow& bad : list.ok() ? bad_rows : std::vector<BadRow>{}) {
                 auto known = symbols_->Find(bad.symbol);
                 Log(LogLevel::kWarn, kComponent, "trading_pairs row not readable",
                     {{"symbol", bad.symbol}, {"error", bad.error},
                      {"kept", known ? "the previous listing's entry" : "nothing (new symbol: unknown until fixed)"}});
                 if (known) list->push_back(std::move(*known));
               }
               // An empty list is no listing: taken at its word it would end every stream as
               // delisted. Keep the previous list and ask again, as for a failed call.
               if (list.ok() && list->empty()) list = absl::UnavailableError("trading_pairs returned no symbols");
               if (!list.ok()) {
                 Log(LogLevel::kWarn, kComponent, "symbol list refresh failed",
                     {{"error", list.status().ToString()}});
                 next_symbol_refresh_ = t + (symbols_->loaded() ? Ms(30000) : Ms(2000));
                 return;
               }
               Log(LogLevel::kInfo, kComponent, "symbol list loaded",
                   {{"symbols", static_cast<int64_t>(list->size())}});
               symbols_->Update(std::move(*list), clock_.NowNs());
               next_symbol_refresh_ = t + options_.symbol_refresh;
               ApplyListing(t);
               UpdateReady();
             });
}

void UpstreamManager::ApplyListing(Time now) {
  absl::flat_hash_map<std::string, absl::flat_hash_set<const TopicRing*>> gone;  // by reason
  absl::flat_hash_set<const TopicRing*> back;
  for (auto& [key, owned] : topics_) {
    TopicState* t = owned.get();
    absl::Status listed = symbols_->CheckStreamable(t->symbol);
    if (!listed.ok() && !t->delisted) {
      t->delisted = true;
      // Its last state is from before the halt: late joiners and unary reads must not take it for
      // current (the next push, if any, shows again).
      if (t->spec.is_state()) t->ring->HideCache();
      if (t->refs > 0) gone[std::string(listed.message())].insert(t->ring);
      Log(LogLevel::kWarn, kComponent, "symbol no longer streams; its topic waits for it to be listed again",
          {{"topic", key}, {"why", std::string(listed.message())}});
    } else if (listed.ok() && t->delisted) {
      t->delisted = false;
      t->last_data = now;  // staleness counts from now
      if (t->conn != nullptr && t->sub == SubState::kConfirmed) t->sub = SubState::kQueued;  // ask again
      Log(LogLevel::kInfo, kComponent, "symbol listed again", {{"topic", key}});
      // Its streams were told "no data will come": they now hear that it is expected again. What
      // it missed while halted is unknown: its first trades come after a Gap, its first state as
      // a snapshot (the state from before the halt stays hidden until then).
      if (t->refs > 0) back.insert(t->ring);
      MarkInterrupted(t);
    }
  }
  if (!back.empty()) {
    hub_->BroadcastStatus(back, State::STATE_RECOVERED,
                          "listed again by the exchange (trading_pairs): its data resumes when the exchange sends it");
  }
  for (const auto& [why, rings] : gone) {
    hub_->BroadcastStatus(rings, State::STATE_STALE,
                          absl::StrCat("no data will come: ", why,
                                       " (the exchange's symbol list changed; this stream stays open)"));
  }
}

void UpstreamManager::Tick() {
  if (!started_ || shutting_down_) return;
  const Time now = clock_.Steady();
  now_ = now;
  if (rest_ != nullptr) rest_->Tick();
  if (breaker_open_ && now >= breaker_until_) {
    // Half-open: the next attempt decides (one more failure re-opens it).
    breaker_open_ = false;
    // One more failure of a connection that failed before re-opens it.
    for (auto& conn : conns_) {
      if (conn->failures > 0) conn->failures = std::max(conn->failures, options_.breaker_failures - 1);
    }
    CountFailures();
    stats_.breaker_open.store(false, std::memory_order_relaxed);
    Log(LogLevel::kInfo, kComponent, "circuit breaker half-open: trying the exchange again");
  }
  for (size_t i = 0; i < conns_.size(); ++i) {
    Conn* c = conns_[i].get();
    if (c->retired) continue;
    if (i > 0 && c->state == ConnState::kDown && c->topics.empty()) {
      // A spare connection left with nothing to carry while down: no reconnect for it.
      Retire(c, "no topics left while it was down");
      continue;
    }
    if (c->state == ConnState::kDown && c->retry_scheduled && now >= c->retry_at && !breaker_open_) {
      Connect(c);
      continue;
    }
    if (c->state != ConnState::kOpen) continue;
    if (!c->proven && c->healthy && now - c->opened_at >= options_.min_healthy_session) {
      // Healthy long enough to trust: the next drop starts again from the initial delay.
      c->proven = true;
      c->backoff.Reset();
      c->failures = 0;
      CountFailures();
    }
    if (c->awaiting_pong && now - c->ping_sent > options_.pong_timeout) {
      stats_.pong_timeouts.fetch_add(1, std::memory_order_relaxed);
      c->last_error = absl::StrCat("no pong within ", options_.pong_timeout.count(), " ms");
      Log(LogLevel::kWarn, kComponent, "pong timeout; dropping the connection", {{"conn", c->id}});
      c->awaiting_pong = false;
      c->ws->Abort();
      continue;
    }
    TrySend(c, now);
    if (i > 0) {
      if (!c->topics.empty()) {
        c->empty_since = {};
      } else if (c->empty_since == Time{}) {
        c->empty_since = now;
      } else if (now - c->empty_since > options_.idle_connection_close) {
        Retire(c, "idle");
      }
    }
  }
  CheckTopics(now);
  PollDegraded(now);
  RefreshSymbols(now);
  if (now >= next_trim_) {
    absl::erase_if(recently_ended_, [&](const auto& kv) { return now - kv.second > kLateFrameWindow; });
    hub_->TrimRings();
    next_trim_ = now + std::chrono::seconds(1);
  }
  UpdateReady();
}

void UpstreamManager::CountFailures() {
  int most = 0;
  for (const auto& conn : conns_) {
    if (!conn->retired) most = std::max(most, conn->failures);
  }
  consecutive_failures_ = most;
}

void UpstreamManager::UpdateReady() {
  // A connection counts once the exchange has said something on its socket (greeting, pong,
  // subscribe reply or data): an accepted upgrade alone proves nothing.
  bool r = symbols_->loaded() && !breaker_open_ && !shutting_down_ && !conns_.empty() &&
           conns_.front()->state == ConnState::kOpen && conns_.front()->healthy;
  for (const auto& c : conns_) {
    if (!r) break;
    if (!c->retired && !c->topics.empty() && (c->state != ConnState::kOpen || !c->healthy)) r = false;
  }
  for (const auto& [key, t] : topics_) {
    if (!r) break;
    if (t->refs > 0 && !t->delisted && t->health != TopicHealth::kLive) r = false;
  }
  if (r != ready_.load(std::memory_order_relaxed)) {
    ready_.store(r, std::memory_order_release);
    Log(LogLevel::kInfo, kComponent, r ? "ready: connected and fresh" : "not ready");
    if (on_ready_change_) on_ready_change_(r);
  }
}

std::vector<int> UpstreamManager::SubscriptionsPerConnection() const {
  std::vector<int> out;
  for (const auto& c : conns_) {
    int n = 0;
    for (TopicState* t : c->topics) n += t->on_exchange ? 1 : 0;
    out.push_back(n);
  }
  return out;
}

}  // namespace bx::md

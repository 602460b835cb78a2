#include "services/orders/update_hub.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace bx::orders {

namespace cv1 = ::bitunix::common::v1;

namespace {

v1::UpdateEvent StatusEvent(const Clock& clock, cv1::StreamStatus::State state, std::string reason) {
  v1::UpdateEvent e;
  e.set_gateway_ts_ns(clock.NowNs());
  e.mutable_status()->set_state(state);
  e.mutable_status()->set_reason(std::move(reason));
  return e;
}

}  // namespace

HubEvent MakeHubEvent(v1::UpdateEvent event) {
  HubEvent h;
  switch (event.payload_case()) {
    case v1::UpdateEvent::kOrder:
      h.channel = v1::UPDATE_CHANNEL_ORDER;
      h.symbol = event.order().symbol();
      break;
    case v1::UpdateEvent::kPosition:
      h.channel = v1::UPDATE_CHANNEL_POSITION;
      h.symbol = event.position().symbol();
      break;
    case v1::UpdateEvent::kBalance:
      h.channel = v1::UPDATE_CHANNEL_BALANCE;
      break;
    case v1::UpdateEvent::kTpsl:
      h.channel = v1::UPDATE_CHANNEL_TPSL;
      h.symbol = event.tpsl().symbol();
      break;
    default:
      h.channel = v1::UPDATE_CHANNEL_UNSPECIFIED;
      break;
  }
  h.event = std::make_shared<const v1::UpdateEvent>(std::move(event));
  return h;
}

UpdateStream::UpdateStream(Filter filter, size_t max_queue, size_t max_batch, const Clock& clock, WriteFn write,
                           FinishFn finish)
    : filter_(std::move(filter)),
      max_queue_(std::max<size_t>(1, max_queue)),
      max_batch_(std::max<size_t>(1, max_batch)),
      clock_(clock),
      write_(std::move(write)),
      finish_(std::move(finish)) {}

bool UpdateStream::Wants(const HubEvent& ev) const {
  if (ev.channel == v1::UPDATE_CHANNEL_UNSPECIFIED) return true;  // status, gap
  if (!filter_.channels.empty() && !filter_.channels.count(ev.channel)) return false;
  if (ev.channel == v1::UPDATE_CHANNEL_BALANCE || filter_.symbols.empty() || ev.symbol.empty()) return true;
  return filter_.symbols.count(ev.symbol) > 0;
}

void UpdateStream::PushLocked(const HubEvent& ev) { PushLocked(ev.event); }

namespace {
bool IsStatus(const auto& q) { return q.event->has_status(); }
}  // namespace

void UpdateStream::PushLocked(std::shared_ptr<const v1::UpdateEvent> ev) {
  if (ev->has_status() && !queue_.empty() && IsStatus(queue_.back())) ++adjacent_statuses_;
  queue_.push_back({std::move(ev), {}});
  if (queue_.size() <= max_queue_) return;
  // Slow consumer. A status is never dropped: it is the stream's state, not an update (a lost
  // RECOVERED would leave the client believing the feed down for as long as it stays up). But a
  // feed that flaps while the client does not read would fill the queue with statuses and push
  // every update out: two statuses in a row are collapsed into the later one first (the client
  // needs the state the feed is in, not every step to it; the written reason counts the steps).
  // (adjacent_statuses_ spares the scan of a full queue at every update pushed while none are.)
  if (adjacent_statuses_ > 0) {
    auto pair = std::adjacent_find(queue_.begin(), queue_.end(),
                                   [](const Queued& a, const Queued& b) { return IsStatus(a) && IsStatus(b); });
    if (pair != queue_.end()) {
      auto& into = std::next(pair)->collapsed;
      for (const auto& [state, n] : pair->collapsed) into[state] += n;
      ++into[pair->event->status().state()];
      ++collapsed_total_;
      --adjacent_statuses_;  // (pair, next) goes; a status before pair now sits beside next instead
      queue_.erase(pair);
      return;
    }
  }
  // No two statuses in a row in a queue over its bound (at least 2 events): it holds an update.
  // Drop the oldest and tell the client with a Gap at the next write.
  auto oldest = std::find_if(queue_.begin(), queue_.end(), [](const Queued& q) { return !IsStatus(q); });
  if (oldest == queue_.end()) oldest = queue_.begin();  // (cannot happen; never drop nothing)
  if (!IsStatus(*oldest) && oldest != queue_.begin() && std::next(oldest) != queue_.end() &&
      IsStatus(*std::prev(oldest)) && IsStatus(*std::next(oldest))) {
    ++adjacent_statuses_;  // the statuses on either side of it are side by side now
  }
  queue_.erase(oldest);
  ++dropped_since_gap_;
  ++dropped_total_;
}

std::shared_ptr<const v1::UpdateEvent> UpdateStream::AdmitStatusLocked(std::shared_ptr<const v1::UpdateEvent> ev) {
  const auto state = ev->status().state();
  feed_state_ = state;
  if (missing_.empty() || (state != cv1::StreamStatus::STATE_LIVE && state != cv1::StreamStatus::STATE_RECOVERED)) {
    return ev;
  }
  auto degraded = std::make_shared<v1::UpdateEvent>(*ev);
  degraded->mutable_status()->set_state(cv1::StreamStatus::STATE_DEGRADED);
  degraded->mutable_status()->set_reason(absl::StrCat(ev->status().reason(),
                                                      "; but this stream's initial snapshot is still incomplete (",
                                                      missing_, "): retrying, STATE_RECOVERED follows with it"));
  return degraded;
}

void UpdateStream::NotePushedLocked(const HubEvent& ev) {
  const v1::UpdateEvent& e = *ev.event;
  switch (e.payload_case()) {
    case v1::UpdateEvent::kOrder:
      orders_pushed_.insert(e.order().order_id());
      break;
    case v1::UpdateEvent::kPosition:
      positions_pushed_.insert(e.position().position_id());
      break;
    case v1::UpdateEvent::kBalance:
      coins_pushed_.insert(e.balance().coin());
      break;
    case v1::UpdateEvent::kTpsl:
      tpsl_pushed_.insert(e.tpsl().order_id());
      break;
    default:
      break;
  }
}

void UpdateStream::Deliver(const HubEvent& ev) {
  if (!Wants(ev)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_ || finishing_) return;
    if (noting_) NotePushedLocked(ev);
    // While the snapshot is pending, statuses wait in the queue and are admitted behind it.
    if (ev.event->has_status() && !snapshot_pending_) {
      PushLocked(AdmitStatusLocked(ev.event));
    } else {
      PushLocked(ev);
    }
  }
  Kick();
}

void UpdateStream::DeliverSnapshot(std::vector<HubEvent> events, std::string missing) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_ || !snapshot_pending_) return;
    std::deque<Queued> merged;
    for (auto& ev : events) {
      if (!Wants(ev)) continue;
      if (ev.event->has_status()) feed_state_ = ev.event->status().state();  // the status the stream starts with
      merged.push_back({std::move(ev.event), {}});
    }
    if (!missing.empty()) {
      missing_ = std::move(missing);
      merged.push_back({std::make_shared<const v1::UpdateEvent>(StatusEvent(
                            clock_, cv1::StreamStatus::STATE_DEGRADED,
                            absl::StrCat("initial snapshot incomplete (", missing_,
                                         "); retrying in the background: live updates follow meanwhile, "
                                         "and STATE_RECOVERED once the rest of the snapshot is delivered"))),
                        {}});
    }
    if (dropped_since_gap_ > 0) {
      // Live events dropped while the snapshot was read came after it: the Gap goes between the
      // snapshot and the live events kept, not before the status the stream starts with.
      v1::UpdateEvent gap;
      gap.set_gateway_ts_ns(clock_.NowNs());
      gap.mutable_gap()->set_reason(cv1::Gap::REASON_SLOW_CONSUMER);
      gap.mutable_gap()->set_missed_events(dropped_since_gap_);
      dropped_since_gap_ = 0;
      merged.push_back({std::make_shared<const v1::UpdateEvent>(std::move(gap)), {}});
    }
    for (auto& q : queue_) {
      if (q.event->has_status()) q.event = AdmitStatusLocked(std::move(q.event));
      merged.push_back(std::move(q));
    }
    queue_ = std::move(merged);
    adjacent_statuses_ = 0;
    for (size_t i = 1; i < queue_.size(); ++i) adjacent_statuses_ += IsStatus(queue_[i - 1]) && IsStatus(queue_[i]);
    snapshot_pending_ = false;
  }
  Kick();
}

void UpdateStream::ClearPushedLocked() {
  orders_pushed_.clear();
  positions_pushed_.clear();
  coins_pushed_.clear();
  tpsl_pushed_.clear();
}

void UpdateStream::BeginRest() {
  std::lock_guard<std::mutex> lock(mu_);
  noting_ = true;
  ClearPushedLocked();
}

void UpdateStream::DeliverRest(std::vector<HubEvent> events, std::string still_missing) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_ || finishing_ || snapshot_pending_) return;
    noting_ = false;
    for (auto& ev : events) {
      if (!Wants(ev)) continue;
      const v1::UpdateEvent& e = *ev.event;
      // Pushed since the read began: the push is as new as the read or newer.
      if ((e.has_order() && orders_pushed_.count(e.order().order_id())) ||
          (e.has_position() && positions_pushed_.count(e.position().position_id())) ||
          (e.has_tpsl() && tpsl_pushed_.count(e.tpsl().order_id())) ||
          (e.has_balance() && (coins_pushed_.count(e.balance().coin()) || coins_pushed_.count("")))) {
        continue;
      }
      PushLocked(std::move(ev.event));
    }
    ClearPushedLocked();
    if (!still_missing.empty()) {
      missing_ = std::move(still_missing);
    } else if (!missing_.empty()) {
      missing_.clear();
      if (feed_state_ == cv1::StreamStatus::STATE_LIVE || feed_state_ == cv1::StreamStatus::STATE_RECOVERED) {
        PushLocked(std::make_shared<const v1::UpdateEvent>(StatusEvent(
            clock_, cv1::StreamStatus::STATE_RECOVERED,
            "initial snapshot complete: the part that could not be read at first follows above as snapshot "
            "events (less what live updates since carried)")));
      }
    }
  }
  Kick();
}

bool UpdateStream::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_ || finishing_ || finished_;
}

bool UpdateStream::incomplete() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !missing_.empty();
}

bool UpdateStream::PrepareWriteLocked() {
  if (cancelled_ || finished_ || write_in_flight_ || snapshot_pending_) return false;
  if (queue_.empty() && dropped_since_gap_ == 0) return false;
  in_flight_.Clear();
  const int64_t now_ns = clock_.NowNs();
  if (dropped_since_gap_ > 0) {
    v1::UpdateEvent* gap = in_flight_.add_events();
    gap->set_seq(next_seq_++);
    gap->set_gateway_ts_ns(now_ns);
    gap->mutable_gap()->set_reason(cv1::Gap::REASON_SLOW_CONSUMER);
    gap->mutable_gap()->set_missed_events(dropped_since_gap_);
    dropped_since_gap_ = 0;
  }
  while (!queue_.empty() && static_cast<size_t>(in_flight_.events_size()) < max_batch_) {
    v1::UpdateEvent* e = in_flight_.add_events();
    const Queued& q = queue_.front();
    *e = *q.event;
    if (!q.collapsed.empty()) {
      uint64_t total = 0;
      std::string states;
      for (const auto& [state, n] : q.collapsed) {
        total += n;
        absl::StrAppend(&states, states.empty() ? "" : ", ", n, " ",
                        cv1::StreamStatus::State_Name(static_cast<cv1::StreamStatus::State>(state)));
      }
      absl::StrAppend(e->mutable_status()->mutable_reason(), " [this stream read slowly: ", total,
                      " earlier status events were collapsed into this one: ", states, "]");
    }
    e->set_seq(next_seq_++);
    if (queue_.size() >= 2 && IsStatus(queue_[0]) && IsStatus(queue_[1])) --adjacent_statuses_;
    queue_.pop_front();
  }
  written_ += static_cast<uint64_t>(in_flight_.events_size());
  write_in_flight_ = true;
  return true;
}

void UpdateStream::Kick() {
  bool start = false;
  bool finish = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    start = PrepareWriteLocked();
    if (!start && finishing_ && !finished_ && !write_in_flight_ && !cancelled_ && (queue_.empty() || snapshot_pending_)) {
      finished_ = true;
      finish = true;
    }
  }
  // Outside the lock: the transport may call back.
  if (start) write_(&in_flight_);
  if (finish) finish_();
}

void UpdateStream::OnWriteDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    write_in_flight_ = false;
    if (!ok) {
      cancelled_ = true;  // the client went away
      return;
    }
  }
  Kick();
}

void UpdateStream::FinishAfterDrain(std::optional<HubEvent> last) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finishing_ || cancelled_) return;
    if (last) {
      snapshot_pending_ = false;  // a closing stream does not wait for its snapshot
      PushLocked(*last);
    }
    finishing_ = true;
  }
  Kick();
}

void UpdateStream::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
}

uint64_t UpdateStream::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_total_;
}

uint64_t UpdateStream::collapsed_statuses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return collapsed_total_;
}

uint64_t UpdateStream::written_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return written_;
}

void UpdateHub::Add(std::shared_ptr<UpdateStream> stream) {
  bool closed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed = closed_;
    if (!closed) streams_.push_back(stream);
  }
  if (closed) {
    stream->FinishAfterDrain(MakeHubEvent(
        StatusEvent(clock_, cv1::StreamStatus::STATE_SHUTTING_DOWN, "the order service is shutting down")));
  }
}

void UpdateHub::Remove(const UpdateStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(std::remove_if(streams_.begin(), streams_.end(), [stream](const auto& s) { return s.get() == stream; }),
                 streams_.end());
}

void UpdateHub::Publish(const HubEvent& ev) {
  std::vector<std::shared_ptr<UpdateStream>> copy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    copy = streams_;
  }
  for (auto& s : copy) s->Deliver(ev);
}

void UpdateHub::SetStatus(cv1::StreamStatus::State state, std::string reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.set_state(state);
    status_.set_reason(reason);
  }
  Publish(MakeHubEvent(StatusEvent(clock_, state, std::move(reason))));
}

HubEvent UpdateHub::CurrentStatus() const {
  v1::UpdateEvent e;
  e.set_gateway_ts_ns(clock_.NowNs());
  {
    std::lock_guard<std::mutex> lock(mu_);
    *e.mutable_status() = status_;
  }
  if (e.status().state() == cv1::StreamStatus::STATE_UNSPECIFIED) {
    e.mutable_status()->set_state(cv1::StreamStatus::STATE_RECONNECTING);
    e.mutable_status()->set_reason("private feed not connected yet");
  }
  // RECOVERED tells a stream that was open through an outage to expect snapshots; a stream that
  // starts now starts from its own snapshot, on a live feed.
  if (e.status().state() == cv1::StreamStatus::STATE_RECOVERED) e.mutable_status()->set_state(cv1::StreamStatus::STATE_LIVE);
  return MakeHubEvent(std::move(e));
}

void UpdateHub::CloseAll(std::string reason) {
  std::vector<std::shared_ptr<UpdateStream>> copy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    copy.swap(streams_);
  }
  HubEvent last = MakeHubEvent(StatusEvent(clock_, cv1::StreamStatus::STATE_SHUTTING_DOWN, std::move(reason)));
  for (auto& s : copy) s->FinishAfterDrain(last);
}

size_t UpdateHub::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

}  // namespace bx::orders

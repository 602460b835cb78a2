#include "services/marketdata/stream.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "services/marketdata/hub.h"

namespace bx::md {
namespace {

// Status and gap events are encoded per stream (they list that stream's symbols); they are rare.
EventEncoder& LocalEncoder() {
  thread_local EventEncoder encoder;
  return encoder;
}

const char* PolicyName(OverflowPolicy p) {
  switch (p) {
    case OverflowPolicy::kConflate: return "conflate";
    case OverflowPolicy::kDrop: return "drop";
    case OverflowPolicy::kEndStream: return "end_stream";
  }
  return "?";
}

}  // namespace

Stream::Stream(Hub* hub, uint64_t id, std::string peer, std::vector<TopicSub> topics,
               std::vector<std::string> symbols, bool send_snapshots, std::vector<InitialStatus> initial)
    : hub_(hub),
      id_(id),
      peer_(std::move(peer)),
      topics_(std::move(topics)),
      symbols_(std::move(symbols)),
      send_snapshots_(send_snapshots),
      cursors_(new std::atomic<uint64_t>[topics_.size()]) {
  for (size_t i = 0; i < topics_.size(); ++i) cursors_[i].store(0, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  initial_ = std::move(initial);
}

Stream::~Stream() {
  std::lock_guard<std::mutex> lock(mu_);
  SetIdleLocked(false);
}

std::vector<std::string> Stream::TopicsOrAll(const std::vector<std::string>& keys) const {
  if (keys.empty()) return {};
  std::vector<std::string> mine;
  for (const auto& t : topics_) {
    if (std::find(keys.begin(), keys.end(), t.ring->key()) != keys.end()) mine.push_back(t.ring->key());
  }
  if (mine.size() == topics_.size()) return {};
  return mine;
}

std::vector<std::string> Stream::SymbolsOrAll(const std::vector<std::string>& symbols) const {
  // A status that covers every symbol of the stream lists none.
  if (symbols.empty()) return {};
  size_t covered = 0;
  for (const auto& s : symbols_) {
    if (std::find(symbols.begin(), symbols.end(), s) != symbols.end()) ++covered;
  }
  if (covered == symbols_.size()) return {};
  std::vector<std::string> mine;
  for (const auto& s : symbols) {
    if (std::find(symbols_.begin(), symbols_.end(), s) != symbols_.end()) mine.push_back(s);
  }
  return mine;
}

void Stream::SetInitialStatus(std::vector<InitialStatus> initial) {
  std::lock_guard<std::mutex> lock(mu_);
  initial_ = std::move(initial);
}

void Stream::Start(StreamSink* sink) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return;
    started_ = true;
    sink_ = sink;
    // Every topic is read from here on; a topic whose snapshot goes into a later write moves its
    // cursor to where that snapshot is taken (AddStartLocked).
    for (size_t i = 0; i < topics_.size(); ++i) cursors_[i].store(topics_[i].ring->head(), std::memory_order_release);
    starting_ = true;
  }
  // The first write is built like every other, within the batch budget: with many state topics
  // the snapshots alone would otherwise make one write of any size (beyond --max-batch-bytes, and
  // beyond what a client accepts in one message).
  Pump();
}

void Stream::AddStartLocked() {
  for (; start_next_ < topics_.size(); ++start_next_) {
    TopicRing* ring = topics_[start_next_].ring;
    if (!send_snapshots_ || !ring->spec().is_state()) continue;
    if (!builder_.HasRoom()) return;
    const uint64_t cursor = ring->AddLatest(&builder_, OrderKey{0, static_cast<int64_t>(start_next_)});
    cursors_[start_next_].store(cursor, std::memory_order_release);
  }
  // The initial statuses follow the snapshots and precede every live event (gseq >= 1).
  const int64_t now = hub_->clock().NowNs();
  size_t added = 0;
  for (; added < initial_.size() && builder_.HasRoom(); ++added) {
    const InitialStatus& st = initial_[added];
    std::string bytes;
    EventLayout layout = LocalEncoder().Status(
        {.channel = v1::CHANNEL_STATUS, .gateway_ts_ns = now}, st.state, st.reason, SymbolsOrAll(st.symbols),
        &bytes, TopicsOrAll(st.topics));
    builder_.Add(bytes, layout, OrderKey{0, std::numeric_limits<int32_t>::max() + static_cast<int64_t>(added)}, 0);
  }
  initial_.erase(initial_.begin(), initial_.begin() + static_cast<std::ptrdiff_t>(added));
  starting_ = !initial_.empty();
}

void Stream::BeginWriteLocked(const BatchBuffer& batch) {
  writing_ = true;
  write_started_ns_ = hub_->clock().NowNs();
  inflight_oldest_recv_ns_ = batch.oldest_recv_ns();
  batch_events_avg_ += (static_cast<double>(batch.events()) - batch_events_avg_) / 8;
  events_sent_.fetch_add(batch.events(), std::memory_order_relaxed);
}

bool Stream::AbandonIfStalled(int64_t now_ns, std::chrono::milliseconds bound) {
  StreamSink* sink = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!writing_ || abandoned_ || sink_ == nullptr || done_.load(std::memory_order_relaxed)) return false;
    if (now_ns - write_started_ns_ < bound.count() * 1'000'000) return false;
    abandoned_ = true;
    abandoning_ = true;  // until Abandon returns, the sink is not finished (so not freed)
    sink = sink_;
  }
  hub_->stats().streams_abandoned.fetch_add(1, std::memory_order_relaxed);
  // Without mu_: the cancellation may complete the write and cancel the call inline, on this
  // thread, and those callbacks take mu_.
  sink->Abandon();
  std::optional<absl::Status> finish;
  {
    std::lock_guard<std::mutex> lock(mu_);
    abandoning_ = false;
    finish.swap(deferred_finish_);
  }
  if (finish) sink->Finish(std::move(*finish));
  return true;
}

void Stream::OnWriteDone(bool ok) {
  bool coalesce = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    const HubOptions& opt = hub_->options();
    // A busy stream whose queue is still short waits a moment for a fuller batch; control
    // events (status, gaps), closing and errors never wait.
    coalesce = ok && opt.coalesce_delay.count() > 0 &&
               batch_events_avg_ >= static_cast<double>(opt.coalesce_busy_events) &&
               !cancelled_ && !closing_ && !starting_ && !has_control_.load(std::memory_order_relaxed) &&
               QueuedEvents() < opt.coalesce_events;
    if (inflight_oldest_recv_ns_ > 0) {
      hub_->stats().write_latency.Observe(
          static_cast<double>(hub_->clock().NowNs() - inflight_oldest_recv_ns_) / 1e9);
      inflight_oldest_recv_ns_ = 0;
    }
    if (!ok) cancelled_ = true;
  }
  if (coalesce) {
    hub_->stats().coalesced_writes.fetch_add(1, std::memory_order_relaxed);
    hub_->dispatcher().PumpAt(weak_from_this(), std::chrono::steady_clock::now() + hub_->options().coalesce_delay);
    return;
  }
  Pump();
}

void Stream::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  Pump();
}

void Stream::Close(absl::Status status, std::optional<common_v1::StreamStatus::State> last_status,
                   const std::string& reason) {
  std::string bytes;
  EventLayout layout;
  if (last_status) {
    layout = LocalEncoder().Status({.channel = v1::CHANNEL_STATUS, .gateway_ts_ns = hub_->clock().NowNs()},
                                   *last_status, reason, {}, &bytes);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_ || done_.load(std::memory_order_relaxed)) return;
    closing_ = true;
    close_status_ = std::move(status);
    // Everything published up to now goes out, then the last status, then nothing more.
    close_gseq_ = hub_->last_gseq();
    if (last_status) PushControlLocked(std::move(bytes), layout);
  }
  Pump();
}

void Stream::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  sink_ = nullptr;
  done_.store(true, std::memory_order_release);
  SetIdleLocked(false);
}

void Stream::PushControlLocked(std::string bytes, const EventLayout& layout) {
  // Ordered after every event the hub has published so far (and never after the close point).
  const uint64_t gseq = std::min(hub_->last_gseq(), close_gseq_);
  control_.push_back({std::move(bytes), layout, OrderKey{gseq, control_sub_++}});
  // seq_cst: pairs with the dispatcher's clear of its pending flag (Dispatcher::Run).
  has_control_.store(true, std::memory_order_seq_cst);
}

void Stream::PostControl(std::string bytes, const EventLayout& layout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_.load(std::memory_order_relaxed) || closing_) return;
    PushControlLocked(std::move(bytes), layout);
  }
  hub_->dispatcher().Wake();
}

void Stream::PostStatus(common_v1::StreamStatus::State state, const std::string& reason,
                        const std::vector<std::string>& symbols, const std::vector<std::string>& topics) {
  std::string bytes;
  EventLayout layout = LocalEncoder().Status(
      {.channel = v1::CHANNEL_STATUS, .gateway_ts_ns = hub_->clock().NowNs()}, state, reason,
      SymbolsOrAll(symbols), &bytes, TopicsOrAll(topics));
  PostControl(std::move(bytes), layout);
}

void Stream::PostGap(common_v1::Gap::Reason reason, uint64_t missed, const std::vector<std::string>& symbols,
                     const std::vector<std::string>& topics) {
  std::string bytes;
  EventLayout layout = LocalEncoder().Gap({.channel = v1::CHANNEL_STATUS, .gateway_ts_ns = hub_->clock().NowNs()},
                                          reason, missed, SymbolsOrAll(symbols), &bytes, TopicsOrAll(topics));
  PostControl(std::move(bytes), layout);
}

bool Stream::HasPending() const {
  // seq_cst loads (plain loads on x86): the dispatcher's side of the pattern in Dispatcher::Run.
  if (has_control_.load(std::memory_order_seq_cst)) return true;
  for (size_t i = 0; i < topics_.size(); ++i) {
    if (topics_[i].ring->head() > cursors_[i].load(std::memory_order_acquire)) return true;
  }
  return false;
}

uint64_t Stream::QueuedEvents() const {
  uint64_t n = 0;
  for (size_t i = 0; i < topics_.size(); ++i) {
    const uint64_t head = topics_[i].ring->head();
    const uint64_t cursor = cursors_[i].load(std::memory_order_acquire);
    if (head > cursor) n += std::min<uint64_t>(head - cursor, topics_[i].ring->capacity());
  }
  return n;
}

void Stream::SetIdleLocked(bool idle) {
  if (idle == idle_counted_) return;
  // The flag is set before the count goes up: a publisher (or the dispatcher it wakes) that reads
  // the count reads it through this release, so it then sees the flag too and the scan cannot
  // skip this stream. (Set after the count, it could still sit in this CPU's store buffer.)
  if (idle) idle_.store(true, std::memory_order_release);
  // seq_cst pairs with the publisher's head store / idle load: either the publisher sees this
  // stream idle and serves it, or our re-check after going idle sees its event.
  for (const auto& t : topics_) t.ring->idle_subscribers().fetch_add(idle ? 1 : -1, std::memory_order_seq_cst);
  if (!idle) idle_.store(false, std::memory_order_release);
  idle_counted_ = idle;
}

void Stream::ReadTopicsLocked(uint64_t cap, uint64_t* complete_gseq, absl::Status* end) {
  const HubOptions& opt = hub_->options();
  HubStats& stats = hub_->stats();
  const int64_t min_recv_ns =
      opt.max_queue_age.count() > 0 ? hub_->clock().NowNs() - opt.max_queue_age.count() * 1'000'000 : 0;
  const size_t n = topics_.size();
  if (n == 0) return;
  // Rotate the starting topic so one busy topic cannot starve the others of batch room.
  const size_t start = rotate_++ % n;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    const TopicSub& t = topics_[i];
    uint64_t cursor = cursors_[i].load(std::memory_order_relaxed);
    if (t.ring->head() <= cursor) continue;
    if (!builder_.HasRoom()) {
      *complete_gseq = 0;  // unread topics: hold stream-local events for the next batch
      break;
    }
    const bool conflate = t.policy == OverflowPolicy::kConflate && t.ring->spec().is_state();
    ReadOutcome r = t.ring->Read(&cursor, conflate ? 0 : min_recv_ns, conflate, &builder_, cap);
    cursors_[i].store(cursor, std::memory_order_release);
    if (r.truncated) *complete_gseq = std::min(*complete_gseq, r.next_gseq - 1);
    if (r.conflated) stats.conflated.fetch_add(r.conflated, std::memory_order_relaxed);
    if (r.overflowed == 0 && r.aged == 0) continue;
    stats.dropped_slow_consumer.fetch_add(r.overflowed, std::memory_order_relaxed);
    stats.dropped_stale_queue.fetch_add(r.aged, std::memory_order_relaxed);
    if (t.policy == OverflowPolicy::kEndStream) {
      stats.streams_ended_slow.fetch_add(1, std::memory_order_relaxed);
      *end = absl::ResourceExhaustedError(absl::StrCat(
          "stream read too slowly: ", r.overflowed + r.aged, " events of ", t.ring->key(),
          r.overflowed ? absl::StrCat(" overflowed its queue of ", t.ring->capacity(), " events")
                       : absl::StrCat(" became older than ", opt.max_queue_age.count(), " ms"),
          " (policy ", PolicyName(t.policy), "); read faster or subscribe to fewer symbols"));
      return;
    }
    // A gap marker right before the first event kept after the loss, and never after a status
    // this read was capped at (the loss came before it: a Gap after STATE_SHUTTING_DOWN broke
    // "the last status").
    const OrderKey key{std::min(r.first_kept_gseq != 0 ? r.first_kept_gseq : hub_->last_gseq(), cap), -1};
    const EventHeader h{.symbol = t.ring->symbol(), .channel = t.ring->spec().channel,
                        .gateway_ts_ns = hub_->clock().NowNs()};
    std::string bytes;
    if (r.overflowed) {
      EventLayout layout = LocalEncoder().Gap(h, common_v1::Gap::REASON_SLOW_CONSUMER, r.overflowed,
                                              {t.ring->symbol()}, &bytes, TopicsOrAll({t.ring->key()}));
      builder_.Add(bytes, layout, key, 0);
      stats.gaps_slow_consumer.fetch_add(1, std::memory_order_relaxed);
    }
    if (r.aged) {
      EventLayout layout = LocalEncoder().Gap(h, common_v1::Gap::REASON_STALE_QUEUE, r.aged,
                                              {t.ring->symbol()}, &bytes, TopicsOrAll({t.ring->key()}));
      builder_.Add(bytes, layout, key, 0);
      stats.gaps_stale_queue.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

Stream::Next Stream::BuildLocked(BatchBuffer* out, absl::Status* finish) {
  if (cancelled_) {
    *finish = absl::CancelledError("stream cancelled");
    return Next::kFinish;
  }
  const HubOptions& opt = hub_->options();
  builder_.Reset(opt.max_batch_events, opt.max_batch_bytes);
  if (starting_) {
    AddStartLocked();
    if (builder_.events() > 0) {
      *out = builder_.Finish(&next_seq_);
      return Next::kWrite;
    }
  }
  // Stream-local events (status, gaps) go in once every event published before them is in.
  // While one waits, no event published after it is read: so it is neither overtaken by later
  // events nor starved by a backlog that fills every batch (the events before it are finite).
  // The batch is filled segment by segment, up to each waiting event in turn.
  while (true) {
    uint64_t cap = close_gseq_;
    bool capped = false;
    if (has_control_.load(std::memory_order_relaxed)) {
      for (const auto& c : control_) {
        if (c.key.gseq < cap) {
          cap = c.key.gseq;
          capped = true;
        }
      }
    }
    uint64_t complete_gseq = std::numeric_limits<uint64_t>::max();
    absl::Status end;
    ReadTopicsLocked(cap, &complete_gseq, &end);
    if (!end.ok()) {
      builder_.Reset(0, 0);
      *finish = std::move(end);
      return Next::kFinish;
    }
    complete_gseq = std::min(complete_gseq, cap);
    if (has_control_.load(std::memory_order_relaxed)) {
      size_t kept = 0;
      for (size_t i = 0; i < control_.size(); ++i) {
        Control& c = control_[i];
        if (c.key.gseq <= complete_gseq) {
          builder_.Add(c.bytes, c.layout, c.key, 0);
        } else if (kept++ != i) {
          // Not onto itself: a self-move-assigned std::string may come out empty, and a held
          // status then went out as an empty event (its seq used, the event gone).
          control_[kept - 1] = std::move(c);
        }
      }
      control_.resize(kept);
      has_control_.store(!control_.empty(), std::memory_order_release);
    }
    // Next segment only if this one was read to its end and the batch has room.
    if (!capped || complete_gseq < cap || !builder_.HasRoom()) break;
  }
  if (builder_.events() == 0) {
    if (closing_ && control_.empty()) {
      *finish = close_status_;
      return Next::kFinish;
    }
    return Next::kNothing;
  }
  *out = builder_.Finish(&next_seq_);
  return Next::kWrite;
}

void Stream::Pump() {
  BatchBuffer batch;
  absl::Status finish;
  Next next = Next::kNothing;
  StreamSink* sink = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || writing_ || sink_ == nullptr || done_.load(std::memory_order_relaxed)) return;
    for (int attempt = 0; attempt < 2; ++attempt) {
      next = BuildLocked(&batch, &finish);
      if (next != Next::kNothing) break;
      // Nothing queued: go idle, then look once more: a publisher that appended meanwhile saw us
      // busy and did not wake the dispatcher.
      SetIdleLocked(true);
      if (!HasPending()) break;
    }
    if (next == Next::kNothing) return;
    SetIdleLocked(false);
    if (next == Next::kWrite) {
      BeginWriteLocked(batch);
    } else {
      done_.store(true, std::memory_order_release);
      if (abandoning_) {  // AbandonIfStalled still uses the sink: it finishes it after
        deferred_finish_ = std::move(finish);
        return;
      }
    }
    sink = sink_;
  }
  if (next == Next::kWrite) {
    hub_->stats().events_sent.fetch_add(batch.events(), std::memory_order_relaxed);
    hub_->stats().batches_sent.fetch_add(1, std::memory_order_relaxed);
    sink->StartWrite(std::move(batch));
  } else {
    sink->Finish(std::move(finish));
  }
}

}  // namespace bx::md

#include "services/marketdata/hub.h"

#include <pthread.h>

#include <algorithm>

namespace bx::md {

OverflowPolicy HubOptions::PolicyFor(v1::Channel channel) const {
  switch (channel) {
    case v1::CHANNEL_TRADE: return trade_policy;
    case v1::CHANNEL_ORDER_BOOK: return book_policy;
    case v1::CHANNEL_TICKER: return ticker_policy;
    case v1::CHANNEL_MARK_PRICE: return mark_price_policy;
    case v1::CHANNEL_KLINE: return kline_policy;
    default: return OverflowPolicy::kDrop;
  }
}

void Dispatcher::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "md-dispatch");
    Run();
  });
}

void Dispatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Dispatcher::Wake() {
  // Only the first wake-up since the last scan pays for the futex. The load is seq_cst (a plain
  // load on x86) and pairs with the seq_cst clear in Run(): see there.
  if (pending_.load(std::memory_order_seq_cst) || pending_.exchange(true, std::memory_order_seq_cst)) return;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_one();
}

void Dispatcher::PumpAt(std::weak_ptr<Stream> stream, std::chrono::steady_clock::time_point due) {
  bool earliest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    earliest = std::none_of(deferred_.begin(), deferred_.end(), [due](const Deferred& d) { return d.due <= due; });
    deferred_.push_back({due, std::move(stream)});
  }
  // Only a new earliest deadline changes how long the thread sleeps.
  if (earliest) cv_.notify_one();
}

void Dispatcher::Run() {
  std::vector<std::weak_ptr<Stream>> due_now;
  for (;;) {
    bool scan = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        if (stop_) return;
        scan = pending_.load(std::memory_order_acquire);
        const auto now = std::chrono::steady_clock::now();
        auto next = std::chrono::steady_clock::time_point::max();
        for (size_t i = 0; i < deferred_.size();) {
          if (deferred_[i].due <= now) {
            due_now.push_back(std::move(deferred_[i].stream));
            deferred_[i] = std::move(deferred_.back());
            deferred_.pop_back();
          } else {
            next = std::min(next, deferred_[i].due);
            ++i;
          }
        }
        if (scan || !due_now.empty()) break;
        if (next == std::chrono::steady_clock::time_point::max()) {
          cv_.wait(lock);
        } else {
          cv_.wait_until(lock, next);
        }
      }
    }
    for (auto& w : due_now) {
      if (auto s = w.lock()) s->Pump();
    }
    due_now.clear();
    if (!scan) continue;
    // Store-buffer (Dekker) pattern: a publisher stores a ring head (or a stream's has_control_)
    // and then loads pending_; we store pending_ = false and then load the heads. With weaker
    // orderings both loads may read the old values (our store still in the store buffer): the
    // publisher sees pending_ still true and skips the wake-up, and our scan misses its event,
    // which then waits for an unrelated wake-up. With every one of these four accesses seq_cst
    // (ring heads, has_control_, pending_ here and in Wake()), one of the two loads must see the
    // other side's store: either the scan below finds the event, or Wake() finds pending_ false
    // and wakes us again.
    pending_.store(false, std::memory_order_seq_cst);
    hub_->stats().dispatcher_wakeups.fetch_add(1, std::memory_order_relaxed);
    auto streams = hub_->Streams();
    for (const auto& s : *streams) {
      if (s->idle() && s->HasPending()) s->Pump();
    }
  }
}

Hub::Hub(HubOptions options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      streams_(std::make_shared<const std::vector<std::shared_ptr<Stream>>>()),
      dispatcher_(this) {
  dispatcher_.Start();
}

Hub::~Hub() { dispatcher_.Stop(); }

TopicRing* Hub::Topic(const std::string& key, std::string_view symbol, const ChannelSpec& spec) {
  std::lock_guard<std::mutex> lock(topics_mu_);
  auto& slot = topics_[key];
  if (!slot) {
    const size_t capacity = spec.is_state() ? options_.state_queue_events : options_.trade_queue_events;
    slot = std::make_unique<TopicRing>(key, std::string(symbol), spec, capacity);
  }
  return slot.get();
}

TopicRing* Hub::FindTopic(std::string_view key) const {
  std::lock_guard<std::mutex> lock(topics_mu_);
  auto it = topics_.find(absl::string_view(key.data(), key.size()));
  return it == topics_.end() ? nullptr : it->second.get();
}

std::vector<TopicRing*> Hub::Topics() const {
  std::lock_guard<std::mutex> lock(topics_mu_);
  std::vector<TopicRing*> out;
  out.reserve(topics_.size());
  for (const auto& [k, v] : topics_) out.push_back(v.get());
  return out;
}

uint64_t Hub::Publish(TopicRing* ring, std::string_view bytes, const EventLayout& layout, int64_t recv_ns,
                      int64_t conflate_key) {
  const StagedEvent e{.bytes = bytes, .layout = layout, .recv_ns = recv_ns, .conflate_key = conflate_key};
  return Publish(ring, std::span<const StagedEvent>(&e, 1));
}

uint64_t Hub::Publish(TopicRing* ring, std::span<const StagedEvent> events) {
  bool idle_waiting = false;
  const uint64_t last = Append(ring, events, &idle_waiting);
  if (idle_waiting) ServeIdle();
  return last;
}

uint64_t Hub::Append(TopicRing* ring, std::span<const StagedEvent> events, bool* idle_waiting) {
  if (events.empty()) return gseq_.load(std::memory_order_relaxed);
  // One publisher thread: the increment is ordered before the ring append.
  const uint64_t first = gseq_.load(std::memory_order_relaxed) + 1;
  const uint64_t last = first + events.size() - 1;
  ring->Publish(events, first);
  gseq_.store(last, std::memory_order_release);
  stats_.published.fetch_add(events.size(), std::memory_order_relaxed);
  // seq_cst: the publisher's side of the pattern described in Dispatcher::Run.
  if (ring->idle_subscribers().load(std::memory_order_seq_cst) > 0) *idle_waiting = true;
  return last;
}

void Hub::ServeIdle() {
  if (stream_count_.load(std::memory_order_relaxed) > options_.inline_write_streams) {
    dispatcher_.Wake();
    return;
  }
  // The dispatcher's scan, on this thread. A stream sets its idle flag before it counts itself
  // idle (Stream::SetIdleLocked), so one counted in the load that sent us here shows its flag.
  // If the scan starts nothing (the stream went busy meanwhile), the dispatcher is woken anyway:
  // one spare wake-up, never a missed one.
  bool started = false;
  const auto streams = Streams();
  for (const auto& s : *streams) {
    if (s->idle() && s->HasPending()) {
      s->Pump();
      started = true;
    }
  }
  if (started) {
    stats_.inline_pumps.fetch_add(1, std::memory_order_relaxed);
  } else {
    dispatcher_.Wake();
  }
}

void PublishBatch::Add(TopicRing* ring, std::string_view bytes, const EventLayout& layout, int64_t recv_ns,
                       int64_t conflate_key) {
  items_.push_back({ring, bytes_.size(), bytes.size(), layout, recv_ns, conflate_key});
  bytes_.append(bytes.data(), bytes.size());
}

void PublishBatch::Flush(Hub& hub) {
  bool idle_waiting = false;
  size_t i = 0;
  while (i < items_.size()) {
    TopicRing* ring = items_[i].ring;
    run_.clear();
    for (; i < items_.size() && items_[i].ring == ring; ++i) {
      const Item& it = items_[i];
      run_.push_back({.bytes = std::string_view(bytes_.data() + it.offset, it.size),
                      .layout = it.layout,
                      .recv_ns = it.recv_ns,
                      .conflate_key = it.conflate_key});
    }
    hub.Append(ring, run_, &idle_waiting);
  }
  items_.clear();
  bytes_.clear();
  // After the last append: a stream started here carries every topic's events of this read.
  if (idle_waiting) hub.ServeIdle();
}

void Hub::AddStream(std::shared_ptr<Stream> stream) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  auto next = std::make_shared<std::vector<std::shared_ptr<Stream>>>(*streams_);
  next->push_back(std::move(stream));
  streams_ = std::move(next);
  stream_count_.store(streams_->size(), std::memory_order_relaxed);
}

void Hub::RemoveStream(const Stream* stream) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  auto next = std::make_shared<std::vector<std::shared_ptr<Stream>>>();
  next->reserve(streams_->size());
  for (const auto& s : *streams_) {
    if (s.get() != stream) next->push_back(s);
  }
  streams_ = std::move(next);
  stream_count_.store(streams_->size(), std::memory_order_relaxed);
}

std::shared_ptr<const std::vector<std::shared_ptr<Stream>>> Hub::Streams() const {
  std::lock_guard<std::mutex> lock(streams_mu_);
  return streams_;
}

size_t Hub::stream_count() const {
  std::lock_guard<std::mutex> lock(streams_mu_);
  return streams_->size();
}

void Hub::ForEachAffected(const absl::flat_hash_set<const TopicRing*>& topics,
                          const std::function<void(Stream&, const std::vector<std::string>& symbols,
                                                   const std::vector<std::string>& keys)>& fn) {
  if (topics.empty()) return;
  auto streams = Streams();
  for (const auto& s : *streams) {
    std::vector<std::string> symbols;
    std::vector<std::string> keys;
    for (const auto& t : s->topics()) {
      if (!topics.contains(t.ring)) continue;
      keys.push_back(t.ring->key());
      if (std::find(symbols.begin(), symbols.end(), t.ring->symbol()) == symbols.end()) {
        symbols.push_back(t.ring->symbol());
      }
    }
    if (!symbols.empty()) fn(*s, symbols, keys);
  }
}

void Hub::BroadcastStatus(const absl::flat_hash_set<const TopicRing*>& topics,
                          common_v1::StreamStatus::State state, const std::string& reason,
                          bool gap_upstream_reconnect) {
  ForEachAffected(topics, [&](Stream& s, const std::vector<std::string>& symbols, const std::vector<std::string>& keys) {
    if (gap_upstream_reconnect) {
      s.PostGap(common_v1::Gap::REASON_UPSTREAM_RECONNECT, 0, symbols, keys);
      stats_.gaps_upstream_reconnect.fetch_add(1, std::memory_order_relaxed);
    }
    s.PostStatus(state, reason, symbols, keys);
  });
}

void Hub::BroadcastGap(const absl::flat_hash_set<const TopicRing*>& topics, common_v1::Gap::Reason reason) {
  ForEachAffected(topics, [&](Stream& s, const std::vector<std::string>& symbols, const std::vector<std::string>& keys) {
    s.PostGap(reason, 0, symbols, keys);
    (reason == common_v1::Gap::REASON_UPSTREAM_BAD_FRAME ? stats_.gaps_upstream_bad_frame
                                                        : stats_.gaps_upstream_reconnect)
        .fetch_add(1, std::memory_order_relaxed);
  });
}

void Hub::TrimRings() {
  const int64_t horizon = clock_.NowNs() - std::max<int64_t>(options_.max_queue_age.count(), 1) * 1'000'000;
  for (TopicRing* ring : Topics()) ring->Trim(horizon);
  if (options_.stalled_write_timeout.count() > 0) {
    const int64_t now = clock_.NowNs();
    const auto streams = Streams();  // held: the list may be replaced while we walk it
    for (const auto& s : *streams) s->AbandonIfStalled(now, options_.stalled_write_timeout);
  }
}

}  // namespace bx::md

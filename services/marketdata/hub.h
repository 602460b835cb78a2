// The fan-out core: topic rings, the registry of streams, the global event order (gseq) and the
// dispatcher that wakes idle streams. Knows nothing of gRPC or WebSockets.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "services/marketdata/atomic_histogram.h"
#include "services/marketdata/stream.h"
#include "services/marketdata/topic_ring.h"

namespace bx::md {

struct HubOptions {
  /// Ring capacity (= the most a subscriber may lag) for trades, and for state channels.
  size_t trade_queue_events = 262144;
  size_t state_queue_events = 64;
  /// A subscriber is never served a trade older than this: it gets a Gap (or the stream ends).
  std::chrono::milliseconds max_queue_age{2000};
  /// A stream whose write has not completed for this long (its client stopped reading, so no
  /// data, Gap or status can reach it) is cancelled (RST_STREAM), freeing its slot. 0 = never.
  std::chrono::milliseconds stalled_write_timeout{30000};
  /// Per write: at most this many events / about this many bytes.
  size_t max_batch_events = 512;
  size_t max_batch_bytes = 1 << 20;
  /// Coalescing under load: when a write completes on a stream whose writes carry
  /// `coalesce_busy_events` events or more (moving average) and fewer than `coalesce_events` are
  /// queued, the next write waits up to `coalesce_delay` for more: fewer, larger writes, so less
  /// CPU per event in the gateway and in the client. Quiet streams (small batches) are written at
  /// once. A delay of 0 disables it.
  std::chrono::microseconds coalesce_delay{100};
  size_t coalesce_events = 128;
  size_t coalesce_busy_events = 8;
  /// While the hub has at most this many streams, the publisher thread starts the writes of idle
  /// streams itself instead of waking the dispatcher: one thread wake-up less between the socket
  /// read and the client (0: always the dispatcher).
  size_t inline_write_streams = 16;
  /// Overflow policy per channel.
  OverflowPolicy trade_policy = OverflowPolicy::kDrop;
  OverflowPolicy book_policy = OverflowPolicy::kConflate;
  OverflowPolicy ticker_policy = OverflowPolicy::kConflate;
  OverflowPolicy mark_price_policy = OverflowPolicy::kConflate;
  OverflowPolicy kline_policy = OverflowPolicy::kConflate;

  OverflowPolicy PolicyFor(v1::Channel channel) const;
};

/// Counters read by the metrics collector (relaxed atomics; no Prometheus call on hot paths).
struct HubStats {
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> events_sent{0};
  std::atomic<uint64_t> batches_sent{0};
  std::atomic<uint64_t> coalesced_writes{0};  ///< writes that waited for a fuller batch
  std::atomic<uint64_t> dropped_slow_consumer{0};  ///< events lost to ring overflow
  std::atomic<uint64_t> dropped_stale_queue{0};    ///< events skipped for age
  std::atomic<uint64_t> conflated{0};
  std::atomic<uint64_t> gaps_slow_consumer{0};
  std::atomic<uint64_t> gaps_stale_queue{0};
  std::atomic<uint64_t> gaps_upstream_reconnect{0};
  std::atomic<uint64_t> gaps_upstream_bad_frame{0};
  std::atomic<uint64_t> streams_ended_slow{0};
  std::atomic<uint64_t> streams_abandoned{0};  ///< cancelled: a write stalled past stalled_write_timeout
  std::atomic<uint64_t> dispatcher_wakeups{0};
  std::atomic<uint64_t> inline_pumps{0};  ///< publisher-thread scans that started idle streams' writes
  /// Gateway receive -> write completed, per batch (its oldest event).
  AtomicHistogram write_latency{LatencyBucketsSeconds()};
};

/// Wakes idle streams that have something queued. One thread; wake-ups coalesce.
class Dispatcher {
 public:
  explicit Dispatcher(class Hub* hub) : hub_(hub) {}
  ~Dispatcher() { Stop(); }
  void Start();
  void Stop();
  /// Any thread; cheap when a wake-up is already pending.
  void Wake();
  /// Any thread. Pumps `stream` (if it still exists) once `due` has passed.
  void PumpAt(std::weak_ptr<Stream> stream, std::chrono::steady_clock::time_point due);

 private:
  void Run();
  struct Deferred {
    std::chrono::steady_clock::time_point due;
    std::weak_ptr<Stream> stream;
  };

  class Hub* const hub_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> pending_{false};
  bool stop_ = false;
  std::vector<Deferred> deferred_;  // guarded by mu_; a handful at most (one per busy stream)
  std::thread thread_;
};

class Hub;

/// Events the publisher thread stages and then publishes together: each run of consecutive events
/// for the same topic goes in with one ring lock, one published-head store and at most one
/// dispatcher wake-up (Hub::Publish of a span). Order and gseqs are exactly those of publishing
/// one by one. Reuses its buffers: steady-state staging allocates nothing. Not thread-safe.
class PublishBatch {
 public:
  /// Staged events a publisher flushes at the latest: bounds how long the first event of a large
  /// read waits for the rest (64 trades take ~20 µs to parse and encode here).
  static constexpr size_t kMaxEvents = 64;

  void Add(TopicRing* ring, std::string_view bytes, const EventLayout& layout, int64_t recv_ns,
           int64_t conflate_key = 0);
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  bool full() const { return items_.size() >= kMaxEvents; }
  /// Publishes everything staged, in order, and empties the batch.
  void Flush(Hub& hub);

 private:
  struct Item {
    TopicRing* ring;
    size_t offset;
    size_t size;
    EventLayout layout;
    int64_t recv_ns;
    int64_t conflate_key;
  };
  std::string bytes_;
  std::vector<Item> items_;
  std::vector<StagedEvent> run_;
};

class Hub {
 public:
  Hub(HubOptions options, const Clock& clock);
  ~Hub();

  const HubOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  HubStats& stats() { return stats_; }
  Dispatcher& dispatcher() { return dispatcher_; }

  /// Thread-safe. The ring of topic `key` ("channel:SYMBOL"), created on first use; rings live as
  /// long as the hub.
  TopicRing* Topic(const std::string& key, std::string_view symbol, const ChannelSpec& spec);
  TopicRing* FindTopic(std::string_view key) const;
  std::vector<TopicRing*> Topics() const;

  /// Publisher thread. Appends an encoded event to its topic and wakes idle subscribers.
  /// Returns the event's gseq.
  uint64_t Publish(TopicRing* ring, std::string_view bytes, const EventLayout& layout, int64_t recv_ns,
                   int64_t conflate_key = 0);
  /// The same for consecutive events of one topic (gseqs in order; returns the last one): one
  /// ring lock, one published-head store and at most one wake-up for all of them.
  uint64_t Publish(TopicRing* ring, std::span<const StagedEvent> events);
  /// Publisher thread: Publish without the wake-up; returns the gseq of the last event and sets
  /// `*idle_waiting` when an idle subscriber of `ring` is waiting for it. The caller then calls
  /// ServeIdle() once, after its last append.
  uint64_t Append(TopicRing* ring, std::span<const StagedEvent> events, bool* idle_waiting);
  /// Publisher thread: gets idle streams with new events written, on this thread while the hub
  /// has at most `inline_write_streams` streams, else through the dispatcher.
  void ServeIdle();
  /// gseq of the newest published event.
  uint64_t last_gseq() const { return gseq_.load(std::memory_order_acquire); }

  void AddStream(std::shared_ptr<Stream> stream);
  void RemoveStream(const Stream* stream);
  /// A snapshot of the registered streams (copy-on-write: cheap to take).
  std::shared_ptr<const std::vector<std::shared_ptr<Stream>>> Streams() const;
  size_t stream_count() const;

  /// Sends a status (and, for a reconnect, a Gap first) to every stream subscribed to any of
  /// `topics`, listing the affected symbols of each stream (none when all of them are).
  void BroadcastStatus(const absl::flat_hash_set<const TopicRing*>& topics,
                       common_v1::StreamStatus::State state, const std::string& reason,
                       bool gap_upstream_reconnect = false);
  /// Sends a Gap alone (no status) to every stream subscribed to any of `topics`.
  void BroadcastGap(const absl::flat_hash_set<const TopicRing*>& topics, common_v1::Gap::Reason reason);

  /// Frees ring memory older than the age bound (called periodically).
  void TrimRings();

 private:
  /// Calls `fn` for every stream subscribed to any of `topics`, with the stream's affected
  /// symbols and topic keys.
  void ForEachAffected(const absl::flat_hash_set<const TopicRing*>& topics,
                       const std::function<void(Stream&, const std::vector<std::string>& symbols,
                                                const std::vector<std::string>& keys)>& fn);
  const HubOptions options_;
  const Clock& clock_;
  HubStats stats_;
  std::atomic<uint64_t> gseq_{0};

  mutable std::mutex topics_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<TopicRing>> topics_ ABSL_GUARDED_BY(topics_mu_);

  mutable std::mutex streams_mu_;
  std::shared_ptr<const std::vector<std::shared_ptr<Stream>>> streams_ ABSL_GUARDED_BY(streams_mu_);
  std::atomic<size_t> stream_count_{0};  // size of streams_, read without the lock

  Dispatcher dispatcher_;
};

}  // namespace bx::md

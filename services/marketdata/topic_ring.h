// The per-topic ring of encoded events that every subscriber of that topic reads through its own
// cursor. Bounded in events (capacity) and, through the subscribers' reads and Trim(), in age.
// For state channels the newest event is also the cache: the late joiner's snapshot and the
// answer to unary reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "services/marketdata/adaptive_mutex.h"
#include "services/marketdata/batch.h"
#include "services/marketdata/channel.h"
#include "services/marketdata/event_encoder.h"

namespace bx::md {

/// One encoded event on its way into a ring (see PublishBatch in hub.h).
struct StagedEvent {
  std::string_view bytes;
  EventLayout layout;
  int64_t recv_ns = 0;
  int64_t conflate_key = 0;
};

/// What a stream does when it falls behind a topic (per channel, from config).
enum class OverflowPolicy {
  kConflate,   ///< state channels: skip to the newest state (no loss to report)
  kDrop,       ///< skip what was lost, report it with a Gap
  kEndStream,  ///< end the stream with RESOURCE_EXHAUSTED
};

/// Upstream health of a topic, kept on its ring so new streams can start with the right status.
enum class TopicHealth : uint8_t { kLive, kReconnecting, kStale, kDegraded };

/// How one read of a ring went.
struct ReadOutcome {
  uint64_t overflowed = 0;  ///< events lost because the cursor fell behind the ring's capacity
  uint64_t aged = 0;        ///< events skipped because they were older than the age bound
  uint64_t conflated = 0;   ///< state events skipped because a newer one replaced them
  uint64_t first_kept_gseq = 0;  ///< gseq of the first event after a loss (for the gap's place)
  bool truncated = false;   ///< stopped on the batch budget; more events are waiting
  uint64_t next_gseq = 0;   ///< when truncated: gseq of the first event not taken
};

class TopicRing {
 public:
  TopicRing(std::string key, std::string symbol, ChannelSpec spec, size_t capacity);

  const std::string& key() const { return key_; }
  const std::string& symbol() const { return symbol_; }
  const ChannelSpec& spec() const { return spec_; }
  size_t capacity() const { return capacity_; }

  /// Publisher thread. Copies one encoded event into the next slot, overwriting the oldest when
  /// full. `conflate_key` groups state events that replace each other (kline: candle open time).
  void Publish(std::string_view bytes, const EventLayout& layout, uint64_t gseq, int64_t recv_ns,
               int64_t conflate_key = 0);
  /// The same for consecutive events, numbered first_gseq, first_gseq + 1, ...: one lock and one
  /// store of the published head for all of them.
  void Publish(std::span<const StagedEvent> events, uint64_t first_gseq);

  /// Index one past the newest event (lock-free; seq_cst pairs with the idle-subscriber count).
  uint64_t head() const { return published_.load(std::memory_order_seq_cst); }
  /// Subscribers of this topic that are idle (no write in flight, nothing queued): when > 0 the
  /// publisher wakes the dispatcher.
  std::atomic<int>& idle_subscribers() { return idle_subscribers_; }

  /// Set by the upstream thread, read by the service when a stream starts.
  TopicHealth health() const { return health_.load(std::memory_order_acquire); }
  void set_health(TopicHealth h) { health_.store(h, std::memory_order_release); }

  /// Copies events from *cursor into `batch` (up to its budget) and advances *cursor.
  /// `min_recv_ns`: events received earlier are skipped as aged (0 = no age bound).
  /// `conflate`: of consecutive events with the same conflate key only the newest is taken, and
  /// falling behind the ring is not a loss. Events published after `max_gseq` are left unread.
  ReadOutcome Read(uint64_t* cursor, int64_t min_recv_ns, bool conflate, BatchBuilder* batch,
                   uint64_t max_gseq = UINT64_MAX) const;

  /// Copies the newest event (if any) with its snapshot flag set, for a late joiner, and returns
  /// the head at that moment: the joiner's cursor, so the snapshot is not delivered twice.
  uint64_t AddLatest(BatchBuilder* batch, OrderKey key) const;
  /// A copy of the newest event (unary cache reads).
  struct Latest {
    std::string bytes;
    EventLayout layout;
    int64_t recv_ns = 0;
  };
  std::optional<Latest> LatestCopy() const;

  /// Frees events received before `min_recv_ns` (keeping the newest one of a state topic: it is
  /// the cache). Called periodically so quiet topics do not hold memory. A conflating reader
  /// that had not read a freed event which was the last of its conflate key (a kline candle's
  /// final update) is told of a loss, not a conflation: no newer event replaces it.
  void Trim(int64_t min_recv_ns);
  /// Frees every event, the cached state included: the topic's exchange subscription ended, so
  /// its last state would only grow older. Until fresh data arrives, late joiners get no
  /// snapshot and unary reads find nothing cached (GetOrderBook/GetTickers go to REST).
  void DropCache();
  /// A stream that will read this ring asked the upstream for it, which has not taken the request
  /// yet (Acquire is posted to the io thread; the stream starts reading at once). Any thread.
  void AddPendingAcquire();
  /// The upstream took one such request (io thread).
  void DonePendingAcquire();
  /// The topic's exchange subscription ends (linger expired): DropCache, unless a stream's acquire
  /// is pending (that stream may already read this feed): then nothing happens and it returns false.
  /// Under the ring's lock, so a stream either is counted before the end is decided or starts
  /// reading after it (and its acquire then subscribes afresh).
  bool EndUnlessAcquiring();
  /// Hides the cached state from late joiners and unary reads until the next event is published,
  /// leaving every event in place for the streams that have not read it yet (after a reconnect:
  /// the state from before the outage must not pass for current).
  void HideCache();

  /// Events currently held, and bytes of slot storage (metrics, tests).
  size_t size() const;
  size_t memory_bytes() const;

 private:
  struct Slot {
    std::string bytes;
    EventLayout layout;
    uint64_t gseq = 0;
    int64_t recv_ns = 0;
    int64_t conflate_key = 0;
  };
  static bool IsSnapshot(const Slot& s) {
    return s.layout.snapshot_offset > 0 && s.layout.snapshot_offset < s.bytes.size() &&
           s.bytes[s.layout.snapshot_offset] == 1;
  }
  Slot& At(uint64_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return slots_[index & (slots_.size() - 1)]; }
  const Slot& At(uint64_t index) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return slots_[index & (slots_.size() - 1)];
  }
  void Resize(size_t new_size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// Before the event at tail_ is freed (by age, or overwritten): remembers it when it is the last
  /// of its conflate key, so conflating readers behind it learn that they lost it.
  void NoteFreedTail() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// Frees a slot's event bytes, keeping bytes_ exact.
  void FreeSlot(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string key_;
  const std::string symbol_;
  const ChannelSpec spec_;
  const size_t capacity_;  // power of two

  mutable AdaptiveMutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);  // power-of-two size, grows up to capacity_
  uint64_t head_ ABSL_GUARDED_BY(mu_) = 0;        // next index to write
  uint64_t tail_ ABSL_GUARDED_BY(mu_) = 0;        // oldest index still held
  uint64_t aged_until_ ABSL_GUARDED_BY(mu_) = 0;  // indexes below this were freed by Trim (age)
  // One past the newest freed event that was the last of its conflate key (0: none): a conflating
  // reader whose cursor is below it lost that state for good.
  uint64_t lost_final_end_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t cache_from_ ABSL_GUARDED_BY(mu_) = 0;  // the newest event (index head_ - 1) is the cache only if head_ > this
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;        // slot storage, kept current for metrics
  int pending_acquires_ ABSL_GUARDED_BY(mu_) = 0;  // see AddPendingAcquire
  std::atomic<uint64_t> published_{0};
  std::atomic<int> idle_subscribers_{0};
  std::atomic<TopicHealth> health_{TopicHealth::kLive};
};

}  // namespace bx::md

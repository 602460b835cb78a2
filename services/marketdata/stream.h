// One subscriber stream: a cursor per topic, a small queue of stream-local events (status, gaps),
// and the batching that turns "everything queued since the last write" into one write.
//
// Threads: Pump() runs on gRPC callback threads (start, OnWriteDone), on the dispatcher thread
// (idle streams with new data) and, while the hub has few streams (HubOptions::
// inline_write_streams), on the WebSocket reader thread after it publishes (Hub::ServeIdle).
// Statuses are posted (PostStatus) and go through the dispatcher. One write is in flight at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include <mutex>
#include "services/marketdata/batch.h"
#include "services/marketdata/topic_ring.h"

namespace bx::md {

class Hub;

/// Where a stream's batches go: the gRPC reactor in production, a recorder in tests.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  /// Starts one write. Never called while a write is in flight; the owner calls
  /// Stream::OnWriteDone when it completes.
  virtual void StartWrite(BatchBuffer batch) = 0;
  /// Ends the stream. Called once, never while a write is in flight.
  virtual void Finish(absl::Status status) = 0;
  /// Cancels the call at the transport (HTTP/2 RST_STREAM) because its write in flight cannot
  /// complete: the client stopped reading, and no status could get past the data it does not
  /// read. The write then completes (not ok) and the call ends. Any thread.
  virtual void Abandon() {}
};

/// A status the stream starts with (after its snapshots).
struct InitialStatus {
  common_v1::StreamStatus::State state = common_v1::StreamStatus::STATE_LIVE;
  std::string reason;
  std::vector<std::string> symbols;
  std::vector<std::string> topics;  ///< ring keys; empty = every topic of the stream
};

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  struct TopicSub {
    TopicRing* ring = nullptr;
    OverflowPolicy policy = OverflowPolicy::kDrop;
  };

  /// `symbols`: every symbol of the request (a status that covers all of them lists none).
  Stream(Hub* hub, uint64_t id, std::string peer, std::vector<TopicSub> topics,
         std::vector<std::string> symbols, bool send_snapshots, std::vector<InitialStatus> initial);
  ~Stream();

  uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  const std::vector<TopicSub>& topics() const { return topics_; }
  const std::vector<std::string>& symbols() const { return symbols_; }

  /// Replaces the statuses the stream starts with. Call before Start.
  void SetInitialStatus(std::vector<InitialStatus> initial);
  /// Sets the sink and starts the first write: the snapshots, then the initial statuses, then live
  /// events, in writes within the batch budget like any other (a join on many state topics takes
  /// several). Call once.
  void Start(StreamSink* sink);
  /// The write started by the sink completed (ok=false: the stream is broken or cancelled).
  void OnWriteDone(bool ok);
  /// The client cancelled or went away: finish as soon as no write is in flight.
  void Cancel();
  /// A write in flight for `bound` or longer (the client stopped reading: its HTTP/2 window is
  /// closed, so neither data nor a status gets through) is abandoned: the sink cancels the call.
  /// True if it did (once per stream).
  bool AbandonIfStalled(int64_t now_ns, std::chrono::milliseconds bound);
  /// The sink is gone (reactor OnDone): never call it again.
  void Detach();
  /// Ends the stream with `status` after everything already queued (drain) has been written;
  /// events published after this call are not sent. With `last_status`, that status event is the
  /// stream's last (e.g. STATE_SHUTTING_DOWN).
  void Close(absl::Status status, std::optional<common_v1::StreamStatus::State> last_status = std::nullopt,
             const std::string& reason = "");

  /// Any thread (usually the reader thread). Queues a status event for this stream and wakes it
  /// through the dispatcher. `symbols` empty = every symbol of the stream.
  void PostStatus(common_v1::StreamStatus::State state, const std::string& reason,
                  const std::vector<std::string>& symbols, const std::vector<std::string>& topics = {});
  /// Queues a gap marker (e.g. an upstream reconnect lost data for these symbols).
  void PostGap(common_v1::Gap::Reason reason, uint64_t missed, const std::vector<std::string>& symbols,
               const std::vector<std::string>& topics = {});

  /// Builds and starts the next write if none is in flight and anything is queued; when nothing
  /// is queued the stream becomes idle (the dispatcher wakes it on new data).
  void Pump();
  /// Lock-free: anything queued beyond the cursors or in the local queue.
  bool HasPending() const;
  bool idle() const { return idle_.load(std::memory_order_acquire); }
  bool done() const { return done_.load(std::memory_order_acquire); }

  /// Events queued for this stream now, summed over its topics (metrics).
  uint64_t QueuedEvents() const;
  uint64_t events_sent() const { return events_sent_.load(std::memory_order_relaxed); }

 private:
  struct Control {
    std::string bytes;
    EventLayout layout;
    OrderKey key;
  };
  enum class Next { kNothing, kWrite, kFinish };

  void PostControl(std::string bytes, const EventLayout& layout);
  void PushControlLocked(std::string bytes, const EventLayout& layout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Next BuildLocked(BatchBuffer* out, absl::Status* finish) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// While starting: adds the next snapshots, then the initial statuses, as far as the batch has
  /// room; clears starting_ once all are in.
  void AddStartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// `batch` is about to be written: in flight from now (stall clock, latency, batch averages).
  void BeginWriteLocked(const BatchBuffer& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadTopicsLocked(uint64_t cap, uint64_t* complete_gseq, absl::Status* end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetIdleLocked(bool idle) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::string> SymbolsOrAll(const std::vector<std::string>& symbols) const;
  /// The same for topic keys: those of this stream among `keys`, none when they cover all of them.
  std::vector<std::string> TopicsOrAll(const std::vector<std::string>& keys) const;

  Hub* const hub_;
  const uint64_t id_;
  const std::string peer_;
  const std::vector<TopicSub> topics_;
  const std::vector<std::string> symbols_;
  const bool send_snapshots_;

  mutable std::mutex mu_;
  StreamSink* sink_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Written under mu_, read lock-free by HasPending().
  std::unique_ptr<std::atomic<uint64_t>[]> cursors_;
  std::vector<Control> control_ ABSL_GUARDED_BY(mu_);
  std::vector<InitialStatus> initial_ ABSL_GUARDED_BY(mu_);
  BatchBuilder builder_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t control_sub_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t inflight_oldest_recv_ns_ ABSL_GUARDED_BY(mu_) = 0;
  // Moving average of events per write (weight 1/8): "busy" for coalescing means sustained
  // load, not one catch-up batch.
  double batch_events_avg_ ABSL_GUARDED_BY(mu_) = 0;
  size_t rotate_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // Snapshots and initial statuses not yet written (a join on more state topics than one write
  // holds): no topic is read until they are all out, so no live event precedes the status.
  bool starting_ ABSL_GUARDED_BY(mu_) = false;
  size_t start_next_ ABSL_GUARDED_BY(mu_) = 0;  ///< the next topic whose snapshot is due
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  int64_t write_started_ns_ ABSL_GUARDED_BY(mu_) = 0;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoning_ ABSL_GUARDED_BY(mu_) = false;  ///< AbandonIfStalled is calling the sink
  std::optional<absl::Status> deferred_finish_ ABSL_GUARDED_BY(mu_);  ///< a Finish that waited for it
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status close_status_ ABSL_GUARDED_BY(mu_);
  uint64_t close_gseq_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;  // while closing: read no later event
  bool idle_counted_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<bool> idle_{false};
  std::atomic<bool> done_{false};
  std::atomic<bool> has_control_{false};
  std::atomic<uint64_t> events_sent_{0};
};

}  // namespace bx::md

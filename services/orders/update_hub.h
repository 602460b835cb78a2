// Private updates fan-out for StreamUpdates: the private stream publishes events once; each
// stream has a bounded queue, its own sequence numbers (1, 2, 3, ... fixed64), in-band status
// and Gap events, and batched writes (one write in flight; each write carries everything queued
// since the last one). Transport-free: the gRPC reactor plugs in through a write function.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bitunix/orders/v1/orders.pb.h"
#include "common/clock.h"

namespace bx::orders {

namespace v1 = ::bitunix::orders::v1;

/// One published event. `channel` UNSPECIFIED = status/gap, delivered to every stream.
struct HubEvent {
  v1::UpdateChannel channel = v1::UPDATE_CHANNEL_UNSPECIFIED;
  std::string symbol;  ///< "" = not symbol-specific (balance, status)
  std::shared_ptr<const v1::UpdateEvent> event;
};

/// Builds a HubEvent from an event (channel and symbol taken from its payload).
HubEvent MakeHubEvent(v1::UpdateEvent event);

/// One StreamUpdates stream's queue. Thread-safe.
class UpdateStream {
 public:
  struct Filter {
    std::set<int> channels;        ///< empty = all four
    std::set<std::string> symbols;  ///< empty = all (balance and status always pass)
  };
  /// Starts one write of `msg`; `msg` stays valid and unchanged until OnWriteDone.
  using WriteFn = std::function<void(const v1::StreamUpdatesResponse* msg)>;
  /// Ends the stream (after the last write completed).
  using FinishFn = std::function<void()>;

  UpdateStream(Filter filter, size_t max_queue, size_t max_batch, const Clock& clock, WriteFn write,
               FinishFn finish);

  bool Wants(const HubEvent& ev) const;
  /// Queues a live event (dropped silently if filtered out). While the snapshot is pending, live
  /// events wait behind it.
  void Deliver(const HubEvent& ev);
  /// Ends the snapshot phase: `events` first, then the live events queued meanwhile.
  /// `missing`: not empty when part of the snapshot could not be read (what, and why). A
  /// STATE_DEGRADED status saying so then follows `events`, and the stream stays incomplete until
  /// DeliverRest: meanwhile every LIVE or RECOVERED status of the private feed reaches it as
  /// DEGRADED (the feed is fine, the stream's view is not), so that a client never reads
  /// "recovered" before it has seen the whole snapshot.
  void DeliverSnapshot(std::vector<HubEvent> events, std::string missing = "");
  /// A read of the missing part begins (executor, before its requests): from now on the stream
  /// notes every order, position and balance queued for it, so that DeliverRest leaves out what a
  /// push carried meanwhile (the push is as new as the read or newer: the read may have left the
  /// exchange before that change).
  void BeginRest();
  /// What that read got, after what the stream has queued so far, less what was pushed since
  /// BeginRest. `still_missing` empty: the stream is complete, and a STATE_RECOVERED status
  /// follows when the private feed's last status was LIVE or RECOVERED (otherwise the feed's own
  /// RECOVERED, passed through unchanged from now on, tells it later). Not empty: the stream stays
  /// incomplete, with that reason.
  void DeliverRest(std::vector<HubEvent> events, std::string still_missing = "");
  /// The stream has ended or is ending (cancelled, finishing): nothing more reaches the client.
  bool ended() const;
  /// Part of the snapshot is still missing (DeliverSnapshot's `missing`, until DeliverRest).
  bool incomplete() const;
  /// The reactor's OnWriteDone.
  void OnWriteDone(bool ok);
  /// Writes what is queued (plus `last`, if given), then calls finish. Idempotent.
  void FinishAfterDrain(std::optional<HubEvent> last = std::nullopt);
  /// Stops everything now (the RPC ended); no more writes or finish.
  void Cancel();

  uint64_t dropped() const;
  /// Status events folded into a later one because the queue was full (see PushLocked).
  uint64_t collapsed_statuses() const;
  uint64_t written_events() const;

 private:
  /// A queued event. A status may stand for earlier statuses collapsed into it (how many of each
  /// state); its reason says so when it is written.
  struct Queued {
    std::shared_ptr<const v1::UpdateEvent> event;
    std::map<int, uint64_t> collapsed;
  };

  void PushLocked(const HubEvent& ev);
  /// Queues `ev`; over max_queue_, first collapses the oldest two statuses in a row into the later
  /// one, and only if there are none drops the oldest update (counted for the next Gap). A status
  /// is never dropped, and the queue never holds more than max_queue_ events (the snapshot merged
  /// in by DeliverSnapshot apart), however long the consumer stalls and the feed flaps.
  void PushLocked(std::shared_ptr<const v1::UpdateEvent> ev);
  /// A status event on its way into the queue: remembers the feed's state and, while the
  /// snapshot is incomplete, turns LIVE/RECOVERED into DEGRADED.
  std::shared_ptr<const v1::UpdateEvent> AdmitStatusLocked(std::shared_ptr<const v1::UpdateEvent> ev);
  /// Notes an order, position or balance queued while a BeginRest read runs.
  void NotePushedLocked(const HubEvent& ev);
  void ClearPushedLocked();
  /// Takes the next batch into in_flight_ when allowed; true if a write must be started.
  bool PrepareWriteLocked();
  void Kick();

  const Filter filter_;
  const size_t max_queue_;
  const size_t max_batch_;
  const Clock& clock_;
  WriteFn write_;
  FinishFn finish_;

  mutable std::mutex mu_;
  std::deque<Queued> queue_;
  size_t adjacent_statuses_ = 0;  ///< pairs of statuses side by side in queue_
  bool snapshot_pending_ = true;
  std::string missing_;  ///< not empty: part of the snapshot is still missing (why)
  /// The private feed's last status state that entered this stream (as published, before any
  /// DEGRADED rewrite); UNSPECIFIED until the snapshot's first status.
  bitunix::common::v1::StreamStatus::State feed_state_ = bitunix::common::v1::StreamStatus::STATE_UNSPECIFIED;
  bool noting_ = false;  ///< between BeginRest and DeliverRest
  std::set<std::string> orders_pushed_, positions_pushed_, coins_pushed_, tpsl_pushed_;  ///< since BeginRest
  bool write_in_flight_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  uint64_t next_seq_ = 1;
  uint64_t dropped_since_gap_ = 0;
  uint64_t dropped_total_ = 0;
  uint64_t collapsed_total_ = 0;
  uint64_t written_ = 0;
  v1::StreamUpdatesResponse in_flight_;
};

/// The hub: every stream, the current private-feed status. Thread-safe.
class UpdateHub {
 public:
  explicit UpdateHub(const Clock& clock) : clock_(clock) {}

  void Add(std::shared_ptr<UpdateStream> stream);
  void Remove(const UpdateStream* stream);
  /// Delivers to every stream that wants it (copies the list under the lock, delivers outside).
  void Publish(const HubEvent& ev);
  /// Publishes a status event and remembers it for new streams.
  void SetStatus(bitunix::common::v1::StreamStatus::State state, std::string reason);
  /// The status a new stream starts with.
  HubEvent CurrentStatus() const;
  /// Shutdown: every stream gets SHUTTING_DOWN and ends after draining.
  void CloseAll(std::string reason);
  size_t size() const;

 private:
  const Clock& clock_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<UpdateStream>> streams_;
  bitunix::common::v1::StreamStatus status_;
  bool closed_ = false;
};

}  // namespace bx::orders

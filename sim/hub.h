// Registry of live WebSocket connections and who is subscribed to which stream. The publisher
// encodes each stream's frame once and the hub hands the same bytes to every subscriber.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/faults.h"
#include "sim/ws_protocol.h"

namespace bx::sim {

/// One server-side WebSocket connection, as the hub and the control API see it.
class WsConnection {
 public:
  virtual ~WsConnection() = default;
  virtual uint64_t id() const = 0;
  virtual bool is_private() const = 0;
  /// Thread-safe, never blocks. `frame` is one complete encoded WS frame (header + payload);
  /// `text` is its payload for the message log (empty: not logged).
  virtual void Send(std::shared_ptr<const std::string> frame, std::string_view text) = 0;
  /// Thread-safe. Closes the TCP connection without a close frame.
  virtual void Abort() = 0;
};

class Hub {
 public:
  /// Registers a connection whose upgrade started at drop epoch `epoch` (DropEpoch() then).
  /// False, and nothing registered, when a drop of its scope happened since: the caller closes
  /// it. A client that saw the 101 is a connection, and a drop must reach it.
  bool Add(const std::shared_ptr<WsConnection>& c, uint64_t epoch);
  /// Counts drops of public (or private) connections.
  uint64_t DropEpoch(bool is_private) const;
  /// Forgets the connection and all its subscriptions.
  void Remove(uint64_t id);
  void Subscribe(uint64_t id, const StreamArg& s);
  void Unsubscribe(uint64_t id, const StreamArg& s);

  /// Streams with at least one subscriber.
  std::vector<StreamArg> ActiveStreams() const;
  /// Sends `frame` to every subscriber of `s`; returns how many got it.
  size_t Publish(const StreamArg& s, const std::shared_ptr<const std::string>& frame, std::string_view text);
  /// Live connections in `scope`.
  std::vector<std::shared_ptr<WsConnection>> Connections(ConnScope scope) const;
  /// Connections in `scope` to drop, and connections of that scope still upgrading will not
  /// register (Add returns false).
  std::vector<std::shared_ptr<WsConnection>> TakeForDrop(ConnScope scope);
  /// "ch:SYMBOL" -> number of connections subscribed.
  std::map<std::string, int64_t> SubscriptionCounts() const;

 private:
  std::vector<std::shared_ptr<WsConnection>> CollectLocked(ConnScope scope) const;  // mu_ held

  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::weak_ptr<WsConnection>> conns_;
  std::unordered_map<uint64_t, bool> is_private_;
  std::map<StreamArg, std::set<uint64_t>> subs_;
  uint64_t drop_epoch_[2] = {0, 0};  // [public, private]
};

}  // namespace bx::sim

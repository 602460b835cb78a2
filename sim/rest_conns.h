// Registry of the exchange port's keep-alive REST connections, so that the control API can close
// the idle ones the way a real server's keep-alive timeout does. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace bx::sim {

/// One REST connection on the exchange port (until it closes or upgrades to WebSocket).
class RestConnection {
 public:
  virtual ~RestConnection() = default;
  /// Thread-safe, never blocks. On the connection's strand: closes it if it is idle (its last
  /// reply written, waiting for a request of which no byte has arrived), then calls
  /// `done(closed)` there once the close is on the wire. A reply still being written is waited
  /// for (the client may have read all of it already), and the check made then. Over TLS,
  /// `close_notify` sends a TLS close_notify before the FIN (false: the FIN alone).
  virtual void CloseIfIdle(bool close_notify, std::function<void(bool closed)> done) = 0;
};

class RestConnections {
 public:
  uint64_t Add(std::weak_ptr<RestConnection> c);
  void Remove(uint64_t id);
  size_t size() const;
  /// Asks every connection to close if idle; `done(closed, busy)` runs once each has answered
  /// (on the last one's strand, or right here when there is none). Not called if the simulator
  /// stops first.
  void CloseIdle(bool close_notify, std::function<void(size_t closed, size_t busy)> done);

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::weak_ptr<RestConnection>> conns_;
};

}  // namespace bx::sim

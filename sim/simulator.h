// bitunix-sim as a library: a faithful, fault-injectable Bitunix futures exchange on two ports
// (the exchange: REST + public/private WebSocket; the control API). Tests start it in-process on
// port 0; main.cc is a thin wrapper.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "sim/sim_config.h"

namespace bx::sim {

struct SimContext;

class Simulator {
 public:
  /// Binds both ports, starts the I/O threads and the market timers. `clock` must outlive the
  /// simulator.
  static absl::StatusOr<std::unique_ptr<Simulator>> Start(SimConfig config,
                                                          const Clock& clock = SystemClock::Instance());
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  /// Closes the listeners and every connection, stops the threads. Idempotent.
  void Stop();

  /// "http://127.0.0.1:P" (https with TLS).
  const std::string& rest_url() const { return rest_url_; }
  /// "ws://127.0.0.1:P/public/" (wss with TLS).
  const std::string& public_ws_url() const { return public_ws_url_; }
  const std::string& private_ws_url() const { return private_ws_url_; }
  /// "http://127.0.0.1:C".
  const std::string& control_url() const { return control_url_; }
  uint16_t port() const { return port_; }
  uint16_t control_port() const { return control_port_; }

  /// The running state, for in-process tests.
  SimContext& context();

 private:
  struct Impl;
  Simulator() = default;
  std::unique_ptr<Impl> impl_;
  std::string rest_url_, public_ws_url_, private_ws_url_, control_url_;
  uint16_t port_ = 0, control_port_ = 0;
};

}  // namespace bx::sim

// Shared by the market-data integration tests (the real simulator binary, the service in-process,
// both on port 0): fast timings for the simulator and the service, request building, and checks on
// a stream's events.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "services/marketdata/app.h"
#include "tests/marketdata/sim_process.h"
#include "tests/marketdata/stream_reader.h"

namespace bx::md::testing {

using Ms = std::chrono::milliseconds;

/// The simulator pushing often, so waits are short.
inline const std::vector<std::string> kFastSim = {"--push-interval", "50ms", "--kline-interval-push", "200ms",
                                                  "--trade-rate", "20"};

/// Service options scaled to kFastSim: sub-second pings, staleness, linger and backoff.
inline AppOptions FastOptions(const SimProcess& sim) {
  AppOptions o;
  o.ws_url = sim.public_ws();
  o.rest_url = sim.rest();
  o.tick = Ms(20);
  o.upstream.ping_interval = Ms(1000);
  o.upstream.pong_timeout = Ms(1000);
  o.upstream.linger = Ms(300);
  o.upstream.confirm_timeout = Ms(3000);
  o.upstream.stale_book = Ms(700);
  o.upstream.stale_ticker = Ms(1000);
  o.upstream.stale_mark_price = Ms(1000);
  o.upstream.stale_kline = Ms(3000);
  o.upstream.backoff = {Ms(50), Ms(500), 2.0, 0.2};
  o.upstream.breaker_failures = 1000;
  o.upstream.rest_poll_interval = Ms(300);
  return o;
}

inline bool IsStatus(const v1::MarketEvent& e, common_v1::StreamStatus::State s) {
  return e.has_status() && e.status().state() == s;
}

/// The status and gap events of a stream, for failure messages.
inline std::string Timeline(const StreamReader::Events& ev) {
  std::string out;
  for (const auto& e : ev) {
    if (e.has_status() || e.has_gap()) out += "\n  #" + std::to_string(e.seq()) + " " + e.ShortDebugString();
  }
  return out + "\n  (" + std::to_string(ev.size()) + " events)";
}

inline void ExpectSeqContiguous(const StreamReader::Events& ev) {
  for (size_t i = 0; i < ev.size(); ++i) {
    ASSERT_EQ(ev[i].seq(), i + 1) << "at " << i;
  }
}

inline v1::SubscribeRequest Request(std::vector<std::string> symbols, std::vector<v1::Channel> channels) {
  v1::SubscribeRequest r;
  for (auto& s : symbols) r.add_symbols(s);
  for (auto c : channels) r.add_channels(c);
  return r;
}

/// Polls a condition of another process (the simulator's stats, health): bounded.
inline bool WaitUntil(const std::function<bool()>& pred, Ms timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(Ms(20));
  }
  return pred();
}

}  // namespace bx::md::testing

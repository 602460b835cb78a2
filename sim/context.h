// Everything one running simulator shares between its sessions, timers and control API.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "sim/exchange.h"
#include "sim/faults.h"
#include "sim/firehose.h"
#include "sim/frames.h"
#include "sim/hub.h"
#include "sim/message_log.h"
#include "sim/rest_api.h"
#include "sim/rest_conns.h"
#include "sim/sim_config.h"
#include "sim/stats.h"
#include "sim/symbols.h"
#include "sim/trade_log.h"

namespace bx::sim {

struct SimContext {
  SimContext(SimConfig cfg, SymbolCatalog cat, const Clock& base_clock);

  /// Sends private pushes to the private connections subscribed to their channels.
  void PublishPrivate(const std::vector<PrivatePush>& pushes);
  /// Encodes and sends one public frame to the stream's subscribers.
  void PublishPublic(const StreamArg& stream, const std::string& text);
  /// How long the next public subscribe waits before it takes effect: uniform in
  /// [--ws-subscribe-delay MIN, MAX], from an RNG seeded by --seed.
  std::chrono::milliseconds NextSubscribeDelay();
  /// The model trades of one tick, formatted once: the log and the pushes share the strings.
  struct RecordedTrades {
    std::vector<uint64_t> seqs;         ///< log seqs, one per trade (0 when not kept)
    std::vector<TradeItemText> texts;   ///< one per trade, as pushed
  };
  /// Formats and logs the model trades of one tick.
  RecordedTrades RecordTrades(const std::vector<PublicTrade>& trades, bool stalled);
  /// The trade frame for `sym` of what RecordTrades recorded; empty when none of its trades is
  /// of `sym`.
  std::string TradeFrameFor(int sym, const std::vector<PublicTrade>& trades, const RecordedTrades& recorded) const;
  /// Marks trades RecordTrades logged as stalled.
  void MarkTradesStalled(const std::vector<PublicTrade>& trades, const std::vector<uint64_t>& seqs);

  const SimConfig config;
  SkewedClock clock;
  const SymbolCatalog catalog;
  Exchange exchange;
  Hub hub;
  RestConnections rest_conns;
  Faults faults;
  Stats stats;
  MessageLog log;
  TradeLog trades;
  std::unique_ptr<FirehosePool> firehose_pool;
  std::unique_ptr<RestApi> rest;
  std::atomic<int64_t> firehose_rate;     ///< 0 off, -1 max, else frames/s per symbol
  std::atomic<int64_t> push_interval_ms;  ///< depth/ticker/tickers/price cadence
  std::atomic<bool> gzip_replies;         ///< --gzip-replies, or as POST /control/gzip_replies set it
  std::atomic<uint64_t> next_conn_id{1};

 private:
  std::mutex delay_mu_;
  std::mt19937_64 delay_rng_;
};

}  // namespace bx::sim

// Trade completeness of a long-lived Subscribe stream against the simulator's truth (GET
// /control/trades): every trade the exchange executed while the stream was subscribed is either
// delivered on the stream or lies behind a Gap for its topic, placed after the last trade delivered
// before it and before the first trade delivered after it, and sent no earlier than the trade was
// executed: a Gap reports what was lost before it, so a trade executed after the gateway sent the
// Gap (e.g. a reconnect's Gap, sent with RECOVERED before the resubscribe took effect) and then
// lost is not behind it. Simulator and gateway share the host's clock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "bitunix/marketdata/v1/marketdata.pb.h"
#include "tests/marketdata/outage_check.h"

namespace bx::md::testing {

/// One model trade as the simulator pushed it (GET /control/trades).
struct SimTrade {
  uint64_t seq = 0;
  int64_t ts_ms = 0;  ///< the push's ts: the gateway's exchange_ts_ms
  std::string p, v;
  bool buy = false;
  bool stalled = false;  ///< a stall withheld its push: the exchange never sent it
};

inline std::vector<SimTrade> ParseSimTrades(const nlohmann::json& reply) {
  std::vector<SimTrade> out;
  if (!reply.is_object() || !reply.contains("trades")) return out;
  for (const auto& e : reply["trades"]) {
    out.push_back({e["seq"].get<uint64_t>(), e["ts"].get<int64_t>(), e["p"].get<std::string>(),
                   e["v"].get<std::string>(), e["s"] == "buy", e["stalled"].get<bool>()});
  }
  return out;
}

struct TradeCheckSummary {
  size_t in_range = 0;   ///< sim trades between the stream's first and last delivered trade
  size_t delivered = 0;  ///< of those, delivered
  size_t behind_gap = 0;
  size_t stalled = 0;  ///< not checked: never sent
  int64_t first_ts_ms = 0, last_ts_ms = 0;
};

/// Checks `symbol`'s trades on a stream over `topics` (its events `ev`) against `sim` (oldest
/// first) from the stream's first delivered trade to its last. Returns the problems found.
inline std::vector<std::string> CheckTradesComplete(const std::vector<bitunix::marketdata::v1::MarketEvent>& ev,
                                                    const std::string& symbol, const std::set<std::string>& topics,
                                                    const std::vector<SimTrade>& sim,
                                                    TradeCheckSummary* summary = nullptr) {
  using Key = std::tuple<int64_t, std::string, std::string, bool>;
  const std::string topic = "trade:" + symbol;
  std::vector<std::string> problems;
  std::map<Key, std::vector<size_t>> by_key;  // sim indices, ascending: several trades may share a key
  for (size_t j = 0; j < sim.size(); ++j) by_key[{sim[j].ts_ms, sim[j].p, sim[j].v, sim[j].buy}].push_back(j);

  auto describe_sim = [&](size_t j) {
    const SimTrade& t = sim[j];
    return absl::StrCat("sim #", t.seq, " ts ", t.ts_ms, " ", t.buy ? "buy " : "sell ", t.v, " @ ", t.p);
  };
  // Delivered trades in stream order, matched to the earliest sim trade with their fields after
  // the previous match (multiset matching in execution order).
  std::vector<size_t> pos, idx;  // event index, sim index
  std::vector<size_t> gaps;      // event indices of gaps for the topic
  for (size_t i = 0; i < ev.size(); ++i) {
    const auto& e = ev[i];
    if (e.has_gap()) {
      if (Affected(e.gap().topics(), topics).contains(topic)) gaps.push_back(i);
      continue;
    }
    if (!e.has_trade() || e.symbol() != symbol) continue;
    const Key key{e.exchange_ts_ms(), e.trade().price(), e.trade().qty(),
                  e.trade().side() == bitunix::common::v1::SIDE_BUY};
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      problems.push_back(absl::StrCat(topic, ": delivered #", e.seq(), " ", e.trade().ShortDebugString(),
                                      " ts ", e.exchange_ts_ms(), " is not in the simulator's trade log"));
      continue;
    }
    const size_t after = idx.empty() ? 0 : idx.back() + 1;
    auto m = std::lower_bound(it->second.begin(), it->second.end(), after);
    if (m == it->second.end()) {
      problems.push_back(absl::StrCat(topic, ": delivered #", e.seq(), " (", describe_sim(it->second.back()),
                                      ") again or out of order, after ", describe_sim(idx.back())));
      continue;
    }
    pos.push_back(i);
    idx.push_back(*m);
  }
  if (idx.empty()) return problems;

  // Status and gap events between two events of the stream, for the report.
  auto between = [&](size_t from, size_t to) {
    std::string out;
    size_t others = 0;
    for (size_t i = from + 1; i < to; ++i) {
      if (ev[i].has_status() || ev[i].has_gap()) {
        out += "\n      #" + std::to_string(ev[i].seq()) + " " + ev[i].ShortDebugString();
      } else {
        ++others;
      }
    }
    return out + absl::StrCat("\n      (and ", others, " data events)");
  };

  TradeCheckSummary s;
  s.first_ts_ms = sim[idx.front()].ts_ms;
  s.last_ts_ms = sim[idx.back()].ts_ms;
  s.delivered = idx.size();
  for (size_t k = 0; k + 1 < idx.size(); ++k) {
    // The last Gap for the topic between the two delivered trades: it covers every trade executed
    // before it was sent.
    int64_t last_gap_ns = -1;
    std::string last_gap;
    for (auto g = std::upper_bound(gaps.begin(), gaps.end(), pos[k]); g != gaps.end() && *g < pos[k + 1]; ++g) {
      last_gap_ns = ev[*g].gateway_ts_ns();
      last_gap = absl::StrCat("#", ev[*g].seq(), " at ", last_gap_ns / 1'000'000, " ms");
    }
    std::vector<size_t> missing;
    for (size_t j = idx[k] + 1; j < idx[k + 1]; ++j) {
      if (sim[j].stalled) {
        ++s.stalled;
      } else if (sim[j].ts_ms * 1'000'000 <= last_gap_ns) {
        ++s.behind_gap;
      } else {
        missing.push_back(j);
      }
    }
    if (missing.empty()) continue;
    problems.push_back(absl::StrCat(
        topic, ": ", missing.size(), " executed trade(s) neither delivered nor behind a Gap (",
        last_gap.empty() ? "no Gap for the topic in between"
                         : absl::StrCat("executed after the last Gap in between, ", last_gap),
        "): ",
        describe_sim(missing.front()), missing.size() > 1 ? absl::StrCat(" .. ", describe_sim(missing.back())) : "",
        "\n    after delivered #", ev[pos[k]].seq(), " (", describe_sim(idx[k]), ")", "\n    before delivered #",
        ev[pos[k + 1]].seq(), " (", describe_sim(idx[k + 1]), ")", "\n    status/gap events in between:",
        between(pos[k], pos[k + 1])));
  }
  s.in_range = idx.back() - idx.front() + 1;
  if (summary != nullptr) *summary = s;
  return problems;
}

}  // namespace bx::md::testing

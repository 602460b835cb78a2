// What a long-lived Subscribe stream promises about outages, checked on the events it received:
// shared by the randomized upstream test (fake time) and the chaos test (the real simulator).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bitunix/marketdata/v1/marketdata.pb.h"

namespace bx::md::testing {

/// The topics a status or gap event is about: its `topics`, or every topic of the stream.
inline std::set<std::string> Affected(const google::protobuf::RepeatedPtrField<std::string>& topics,
                                      const std::set<std::string>& all) {
  if (topics.empty()) return all;
  return {topics.begin(), topics.end()};
}

/// Per topic of a stream over `topics`: no status names another topic; every RECONNECTING is
/// followed by a Gap for that topic before its RECOVERED (so the client knows it missed data); the
/// topic does not end reconnecting; with `live_at_end`, its last status is LIVE or RECOVERED.
/// Returns the problems found, empty when the stream kept its promises.
inline std::vector<std::string> CheckOutagesExplained(const std::vector<bitunix::marketdata::v1::MarketEvent>& ev,
                                                      const std::set<std::string>& topics, bool live_at_end) {
  using State = bitunix::common::v1::StreamStatus;
  std::vector<std::string> problems;
  std::map<std::string, bool> reconnecting, gap_seen, live;
  for (const auto& e : ev) {
    if (e.has_gap()) {
      for (const auto& t : Affected(e.gap().topics(), topics)) gap_seen[t] = true;
      continue;
    }
    if (!e.has_status()) continue;
    const auto state = e.status().state();
    for (const auto& t : Affected(e.status().topics(), topics)) {
      if (!topics.contains(t)) problems.push_back(absl::StrCat("#", e.seq(), " names foreign topic ", t));
      if (state == State::STATE_RECONNECTING) {
        reconnecting[t] = true;
        gap_seen[t] = false;
      } else if (state == State::STATE_RECOVERED) {
        if (reconnecting[t] && !gap_seen[t]) {
          problems.push_back(absl::StrCat("#", e.seq(), " ", t, " recovered from a reconnect without a gap"));
        }
        reconnecting[t] = false;
      }
      live[t] = state == State::STATE_LIVE || state == State::STATE_RECOVERED;
    }
  }
  for (const auto& [t, open] : reconnecting) {
    if (open) problems.push_back(t + " still reconnecting at the end");
  }
  if (live_at_end) {
    for (const auto& [t, is_live] : live) {
      if (!is_live) problems.push_back(t + " not live at the end");
    }
  }
  return problems;
}

}  // namespace bx::md::testing

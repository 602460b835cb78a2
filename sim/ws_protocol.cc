#include "sim/ws_protocol.h"

#include <nlohmann/json.hpp>

#include "sim/symbols.h"

namespace bx::sim {
namespace {

using nlohmann::json;

std::vector<StreamArg> ParseArgs(const json& j) {
  std::vector<StreamArg> out;
  auto it = j.find("args");
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& a : *it) {
    if (!a.is_object()) continue;
    StreamArg s;
    // The prep page's unsubscribe example writes "channel"; the channel pages write "ch".
    if (auto c = a.find("ch"); c != a.end() && c->is_string()) {
      s.ch = c->get<std::string>();
    } else if (auto c2 = a.find("channel"); c2 != a.end() && c2->is_string()) {
      s.ch = c2->get<std::string>();
    }
    if (auto sym = a.find("symbol"); sym != a.end() && sym->is_string()) {
      s.symbol = UpperAscii(sym->get<std::string>());
    }
    if (!s.ch.empty()) out.push_back(std::move(s));
  }
  return out;
}

std::string ScalarText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return "";
}

}  // namespace

ClientMessage ParseClientMessage(std::string_view text) {
  ClientMessage m;
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    m.error = "not a JSON object";
    return m;
  }
  auto op = j.find("op");
  if (op == j.end() || !op->is_string()) {
    m.error = "no op";
    return m;
  }
  const std::string o = op->get<std::string>();
  if (o == "ping") {
    m.kind = ClientMessage::Kind::kPing;
    auto p = j.find("ping");
    m.ping_value = p == j.end() ? "null" : p->dump();
  } else if (o == "subscribe") {
    m.kind = ClientMessage::Kind::kSubscribe;
    m.args = ParseArgs(j);
  } else if (o == "unsubscribe") {
    m.kind = ClientMessage::Kind::kUnsubscribe;
    m.args = ParseArgs(j);
  } else if (o == "login") {
    m.kind = ClientMessage::Kind::kLogin;
    auto a = j.find("args");
    const json* first = nullptr;
    if (a != j.end() && a->is_array() && !a->empty()) first = &(*a)[0];
    if (a != j.end() && a->is_object()) first = &*a;
    if (first != nullptr && first->is_object()) {
      m.login.api_key = ScalarText(first->value("apiKey", json()));
      m.login.timestamp = ScalarText(first->value("timestamp", json()));
      m.login.nonce = ScalarText(first->value("nonce", json()));
      m.login.sign = ScalarText(first->value("sign", json()));
    }
  } else {
    m.kind = ClientMessage::Kind::kUnknownOp;
  }
  return m;
}

std::optional<ChannelInfo> ClassifyPublicChannel(std::string_view ch) {
  if (ch == "depth_book1") return ChannelInfo{ChannelKind::kDepth, 1, std::nullopt};
  if (ch == "depth_book5") return ChannelInfo{ChannelKind::kDepth, 5, std::nullopt};
  if (ch == "depth_book15") return ChannelInfo{ChannelKind::kDepth, 15, std::nullopt};
  if (ch == "depth_books") return ChannelInfo{ChannelKind::kDepth, 0, std::nullopt};
  if (ch == "trade") return ChannelInfo{ChannelKind::kTrade, 0, std::nullopt};
  if (ch == "ticker") return ChannelInfo{ChannelKind::kTicker, 0, std::nullopt};
  if (ch == "tickers") return ChannelInfo{ChannelKind::kTickers, 0, std::nullopt};
  if (ch == "price") return ChannelInfo{ChannelKind::kPrice, 0, std::nullopt};
  for (auto [prefix, kind] : {std::pair<std::string_view, ChannelKind>{"market_kline_", ChannelKind::kKline},
                              {"mark_kline_", ChannelKind::kMarkKline}}) {
    if (ch.substr(0, prefix.size()) == prefix) {
      auto iv = KlineFromWs(ch.substr(prefix.size()));
      if (!iv) return std::nullopt;
      return ChannelInfo{kind, 0, iv};
    }
  }
  return std::nullopt;
}

bool IsPrivateChannel(std::string_view ch) {
  return ch == "balance" || ch == "position" || ch == "order" || ch == "tpsl";
}

SubscriptionSet::AddResult SubscriptionSet::Add(const std::vector<StreamArg>& args) {
  AddResult r;
  for (const auto& a : args) {
    if (streams_.count(a)) continue;
    if (streams_.size() >= max_) {
      ++r.refused;
      continue;
    }
    streams_.insert(a);
    r.added.push_back(a);
  }
  return r;
}

std::vector<StreamArg> SubscriptionSet::Remove(const std::vector<StreamArg>& args) {
  std::vector<StreamArg> out;
  for (const auto& a : args) {
    if (streams_.erase(a)) out.push_back(a);
  }
  return out;
}

bool InboundRateRule::Record(std::chrono::steady_clock::time_point now) {
  window_.push_back(now);
  while (!window_.empty() && now - window_.front() >= std::chrono::seconds(1)) window_.pop_front();
  return static_cast<int>(window_.size()) <= max_;
}

}  // namespace bx::sim

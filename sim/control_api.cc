#include "sim/control_api.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "sim/account_views.h"
#include "sim/frames.h"
#include "sim/symbols.h"
#include "sim/ws_framing.h"

namespace bx::sim {
namespace {

using nlohmann::json;

RestReply Ok(OJson extra = OJson::object()) {
  OJson j;
  j["ok"] = true;
  for (auto& [k, v] : extra.items()) j[k] = v;
  return {200, j.dump()};
}

RestReply Bad(const std::string& error, int status = 400) {
  OJson j;
  j["ok"] = false;
  j["error"] = error;
  return {status, j.dump()};
}

std::optional<ConnScope> ParseScope(const json& body, std::string* error) {
  const std::string which = body.value("which", std::string("all"));
  if (which == "public") return ConnScope::kPublic;
  if (which == "private") return ConnScope::kPrivate;
  if (which == "all") return ConnScope::kAll;
  *error = absl::StrCat("which: '", which, "' is not public, private or all");
  return std::nullopt;
}

// A non-negative number of seconds (fractions allowed) as ms.
std::optional<std::chrono::milliseconds> Seconds(const json& body, std::string* error) {
  auto it = body.find("seconds");
  if (it == body.end() || !it->is_number() || it->get<double>() < 0 || it->get<double>() > 86'400) {
    *error = "seconds: expected a number of seconds in [0, 86400]";
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(it->get<double>() * 1000)));
}

std::optional<uint64_t> QueryInt(const std::vector<std::pair<std::string, std::string>>& q, const char* name) {
  for (const auto& [k, v] : q) {
    if (k != name) continue;
    uint64_t out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec == std::errc() && p == v.data() + v.size()) return out;
  }
  return std::nullopt;
}

}  // namespace

RestReply ControlApi::Handle(const std::string& method, const std::string& target, const std::string& body_text) {
  // A field of the wrong JSON type (e.g. "count":"many") makes nlohmann throw: answer 400 naming it.
  try {
    return HandleUnchecked(method, target, body_text);
  } catch (const nlohmann::json::exception& e) {
    return Bad(absl::StrCat("body: a field has the wrong type (", e.what(), ")"));
  }
}

void ControlApi::HandleAsync(const std::string& method, const std::string& target, const std::string& body_text,
                             std::function<void(RestReply)> reply) {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  ParseTarget(target, &path, &query);
  if (method != "POST" || path != "/control/close_idle_rest") {
    reply(Handle(method, target, body_text));
    return;
  }
  json body = body_text.empty() ? json::object() : json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    reply(Bad("body: expected a JSON object"));
    return;
  }
  // How TLS connections are closed: the configured way unless the call says otherwise.
  bool close_notify = ctx_.config.rest_idle_close_notify;
  if (auto it = body.find("mode"); it != body.end()) {
    if (*it != "close_notify" && *it != "abrupt") {
      reply(Bad(absl::StrCat("mode: ", it->dump(), " is not close_notify or abrupt")));
      return;
    }
    close_notify = *it == "close_notify";
  }
  ctx_.rest_conns.CloseIdle(close_notify, [reply = std::move(reply)](size_t closed, size_t busy) {
    reply(Ok({{"closed", closed}, {"busy", busy}}));
  });
}

RestReply ControlApi::HandleUnchecked(const std::string& method, const std::string& target,
                                      const std::string& body_text) {
  RestRequest req;
  req.method = method;
  req.target = target;
  ParseTarget(target, &req.path, &req.query);
  const std::string& path = req.path;
  if (method == "GET") {
    if (path == "/control/stats") return Stats();
    if (path == "/control/log") return Log(req);
    if (path == "/control/orders") return Orders();
    if (path == "/control/trades") return Trades(req);
    return Bad(absl::StrCat("unknown control endpoint GET ", path), 404);
  }
  if (method != "POST") return Bad(absl::StrCat("method ", method, " not allowed"), 405);

  json body = body_text.empty() ? json::object() : json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Bad("body: expected a JSON object");
  std::string error;

  if (path == "/control/drop_connections") {
    auto scope = ParseScope(body, &error);
    if (!scope) return Bad(error);
    auto conns = ctx_.hub.TakeForDrop(*scope);
    for (auto& c : conns) c->Abort();
    return Ok({{"dropped", conns.size()}});
  }
  if (path == "/control/stall") {
    auto scope = ParseScope(body, &error);
    if (!scope) return Bad(error);
    auto d = Seconds(body, &error);
    if (!d) return Bad(error);
    ctx_.faults.Stall(*scope, *d);
    return Ok();
  }
  if (path == "/control/refuse_connections") {
    auto d = Seconds(body, &error);
    if (!d) return Bad(error);
    ctx_.faults.RefuseConnections(*d);
    return Ok();
  }
  if (path == "/control/inject") {
    const std::string kind = body.value("kind", std::string());
    const int64_t count = body.value("count", int64_t{1});
    const std::string symbol = UpperAscii(body.value("symbol", std::string("BTCUSDT")));
    if (count < 1 || count > 100'000) return Bad("count: expected 1 .. 100000");
    const int64_t now = ctx_.clock.NowMs();
    std::string text;
    WsOpcode op = WsOpcode::kText;
    if (kind == "malformed") {
      text = absl::StrCat("{\"ch\":\"depth_book15\",\"symbol\":\"", symbol, "\",\"ts\":", now,
                          ",\"data\":{\"b\":[[\"1\",\"2\"]],,\"a\":[}{]");
    } else if (kind == "truncated") {
      std::string full = ctx_.exchange.PublicFrame({"depth_book15", symbol}, {ChannelKind::kDepth, 15, std::nullopt})
                             .value_or(EmptyDepthFrame("depth_book15", symbol, now, 15));
      text = full.substr(0, full.size() / 2);
    } else if (kind == "unknown_channel") {
      text = absl::StrCat("{\"ch\":\"mystery_channel\",\"symbol\":\"", symbol, "\",\"ts\":", now,
                          ",\"data\":{\"x\":\"1\"}}");
    } else if (kind == "binary") {
      op = WsOpcode::kBinary;
      text = std::string("\x00\x01\x02\xff\xfe{\"ch\":\"trade\"}", 20);
    } else if (kind == "empty_levels") {
      text = EmptyDepthFrame("depth_book15", symbol, now, 15);
    } else {
      return Bad("kind: expected malformed, truncated, unknown_channel, binary or empty_levels");
    }
    auto frame = std::make_shared<const std::string>(EncodeServerFrame(op, text));
    const std::string logged = op == WsOpcode::kBinary ? "<binary frame>" : text;
    auto conns = ctx_.hub.Connections(ConnScope::kPublic);
    for (auto& c : conns) {
      for (int64_t i = 0; i < count; ++i) c->Send(frame, logged);
    }
    return Ok({{"connections", conns.size()}});
  }
  if (path == "/control/rest_faults") {
    RestFault f;
    f.kind = body.value("kind", std::string());
    static const std::set<std::string> kKinds = {"http_500", "http_502",   "http_429", "code_10005",
                                                 "code_10006", "hang", "reset"};
    if (!kKinds.count(f.kind)) {
      return Bad("kind: expected http_500, http_502, http_429, code_10005, code_10006, hang or reset");
    }
    f.count = body.value("count", 1);
    if (f.count < 1) return Bad("count: expected >= 1");
    f.hang_ms = body.value("hang_ms", 0);
    if (f.hang_ms < 0) return Bad("hang_ms: expected >= 0");
    const std::string apply = body.value("apply", std::string("before"));
    if (apply != "before" && apply != "after") return Bad("apply: expected before or after");
    f.after = apply == "after";
    f.path = body.value("path", std::string());
    ctx_.faults.AddRestFault(f);
    return Ok();
  }
  if (path == "/control/clock_skew") {
    auto it = body.find("ms");
    if (it == body.end() || !it->is_number_integer()) return Bad("ms: expected an integer");
    ctx_.clock.set_skew_ms(it->get<int64_t>());
    return Ok();
  }
  if (path == "/control/firehose") {
    auto it = body.find("rate");
    if (it == body.end()) return Bad("rate: expected N, \"max\" or 0");
    auto rate = ParseFirehoseRate(it->is_string() ? it->get<std::string>() : it->dump());
    if (!rate.ok()) return Bad(std::string(rate.status().message()));
    ctx_.firehose_rate = *rate;
    return Ok({{"rate", *rate}});
  }
  if (path == "/control/push_interval") {
    auto it = body.find("ms");
    if (it == body.end() || !it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 3'600'000) {
      return Bad("ms: expected an integer in [1, 3600000]");
    }
    ctx_.push_interval_ms = it->get<int64_t>();
    return Ok();
  }
  if (path == "/control/gzip_replies") {
    auto it = body.find("enabled");
    if (it == body.end() || !it->is_boolean()) return Bad("enabled: expected true or false");
    ctx_.gzip_replies = it->get<bool>();
    return Ok({{"enabled", it->get<bool>()}});
  }
  if (path == "/control/close_idle_rest") return Bad("close_idle_rest: answers asynchronously (HandleAsync)", 500);
  if (path == "/control/price") {
    const std::string symbol = body.value("symbol", std::string());
    const SymbolSpec* spec = ctx_.catalog.Find(symbol);
    if (spec == nullptr || !spec->tradable()) return Bad(absl::StrCat("symbol: '", symbol, "' is not an OPEN symbol"));
    auto it = body.find("price");
    std::string price_text = it == body.end() ? "" : (it->is_string() ? it->get<std::string>() : it->dump());
    auto price = Dec::Parse(price_text);
    if (!price || *price <= Dec()) return Bad(absl::StrCat("price: '", price_text, "' is not a positive decimal"));
    const Dec mark = ctx_.exchange.ReadMarket([&](const MarketModel& m) { return m.Mark(ctx_.catalog.IndexOf(symbol)); });
    if (*price > mark.MulInt(100) || price->MulInt(100) < mark) {
      return Bad(absl::StrCat("price: '", price_text, "' is more than 100x away from the current price ",
                              mark.ToString()));
    }
    ctx_.exchange.SetPrice(ctx_.catalog.IndexOf(symbol), *price);
    return Ok();
  }
  if (path == "/control/reset") {
    ctx_.faults.Reset();
    ctx_.clock.set_skew_ms(0);
    ctx_.firehose_rate = ctx_.config.firehose_rate;
    ctx_.push_interval_ms = ctx_.config.push_interval.count();
    ctx_.gzip_replies = ctx_.config.gzip_replies;
    ctx_.rest->ResetRateLimits();
    return Ok();
  }
  return Bad(absl::StrCat("unknown control endpoint POST ", path), 404);
}

RestReply ControlApi::Stats() const {
  OJson j;
  j["public_connections"] = ctx_.stats.public_connections.load();
  j["private_connections"] = ctx_.stats.private_connections.load();
  OJson subs = OJson::object();
  for (const auto& [k, v] : ctx_.hub.SubscriptionCounts()) subs[k] = v;
  j["subscriptions"] = subs;
  j["subscribe_messages"] = ctx_.stats.subscribe_messages.load();
  j["unsubscribe_messages"] = ctx_.stats.unsubscribe_messages.load();
  j["frames_sent"] = ctx_.stats.frames_sent.load();
  OJson calls = OJson::object();
  for (const auto& [k, v] : ctx_.stats.rest_calls()) calls[k] = v;
  j["rest_calls"] = calls;
  j["orders_placed"] = ctx_.stats.orders_placed.load();
  j["logins_ok"] = ctx_.stats.logins_ok.load();
  j["logins_failed"] = ctx_.stats.logins_failed.load();
  j["firehose_rate"] = ctx_.firehose_rate.load();
  j["push_interval_ms"] = ctx_.push_interval_ms.load();
  j["clock_skew_ms"] = ctx_.clock.skew_ms();
  j["gzip_replies"] = ctx_.gzip_replies.load();
  j["gzip_replies_sent"] = ctx_.stats.gzip_replies_sent.load();
  j["rest_connections"] = ctx_.rest_conns.size();
  j["rest_idle_closed"] = ctx_.stats.rest_idle_closed.load();
  j["rest_close_notify_sent"] = ctx_.stats.rest_close_notify_sent.load();
  return {200, j.dump()};
}

RestReply ControlApi::Log(const RestRequest& req) const {
  const uint64_t since = QueryInt(req.query, "since").value_or(0);
  const size_t limit = static_cast<size_t>(std::min<uint64_t>(QueryInt(req.query, "limit").value_or(1000), 100'000));
  uint64_t next = 0;
  auto entries = ctx_.log.Read(since, limit, &next);
  OJson arr = OJson::array();
  for (const auto& e : entries) {
    OJson o;
    o["seq"] = e.seq;
    o["ts_ms"] = e.ts_ms;
    o["conn"] = e.conn;
    o["dir"] = e.dir;
    o["kind"] = e.kind;
    o["text"] = e.text;
    arr.push_back(std::move(o));
  }
  OJson j;
  j["next"] = next;
  j["entries"] = std::move(arr);
  // Texts are what went over the wire; replace invalid UTF-8 (truncated frames) rather than fail.
  return {200, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

RestReply ControlApi::Trades(const RestRequest& req) const {
  std::string symbol;
  for (const auto& [k, v] : req.query) {
    if (k == "symbol") symbol = v;
  }
  symbol = UpperAscii(symbol);
  const int sym = ctx_.catalog.IndexOf(symbol);
  if (symbol.empty() || sym < 0) return Bad(absl::StrCat("symbol: '", symbol, "' is not a listed symbol"));
  const uint64_t since = QueryInt(req.query, "since").value_or(0);
  const size_t limit = static_cast<size_t>(std::min<uint64_t>(QueryInt(req.query, "limit").value_or(100'000), 100'000));
  uint64_t next = 0;
  OJson arr = OJson::array();
  for (const auto& e : ctx_.trades.Read(sym, since, limit, &next)) {
    OJson o;
    o["seq"] = e.seq;
    o["ts"] = e.ts_ms;
    o["t"] = e.t;
    o["p"] = e.p;
    o["v"] = e.v;
    o["s"] = e.s;
    o["stalled"] = e.stalled;
    arr.push_back(std::move(o));
  }
  OJson j;
  j["symbol"] = symbol;
  j["next"] = next;
  j["trades"] = std::move(arr);
  return {200, j.dump()};
}

RestReply ControlApi::Orders() const {
  OJson j;
  j["orders"] = ctx_.exchange.WithAccount([&](Account& a, MarketModel&) {
    OJson arr = OJson::array();
    for (const auto& o : a.orders()) {
      OJson item = OrderJson(o, a.catalog().all()[static_cast<size_t>(o.sym)], false);
      item["tradeSide"] = o.trade_side;
      item["positionId"] = o.position_id;
      item["avgPrice"] = o.avg_price.ToString();
      arr.push_back(std::move(item));
    }
    return arr;
  });
  return {200, j.dump()};
}

}  // namespace bx::sim

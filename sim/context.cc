#include "sim/context.h"

#include "common/time_util.h"
#include "sim/ws_framing.h"

namespace bx::sim {

SimContext::SimContext(SimConfig cfg, SymbolCatalog cat, const Clock& base_clock)
    : config(std::move(cfg)),
      clock(base_clock),
      catalog(std::move(cat)),
      exchange(catalog, MarketModel::Options{config.seed, config.book_depth, 30 * 24 * 60},
               Account::Options{Dec::Parse(config.balance).value_or(Dec::FromInt(100'000))}, clock),
      faults(clock),
      log(config.log_capacity),
      trades(catalog.all().size(), config.trade_log_capacity),
      firehose_rate(config.firehose_rate),
      push_interval_ms(config.push_interval.count()),
      gzip_replies(config.gzip_replies),
      delay_rng_(config.seed ^ 0x5eb5c41be0de1a75ULL) {
  firehose_pool = exchange.ReadMarket(
      [&](const MarketModel& m) { return std::make_unique<FirehosePool>(catalog, m, config.seed); });
  RestApi::Options ro;
  ro.creds = {config.api_key, config.api_secret};
  ro.time_window_ms = config.rest_time_window.count();
  ro.rate_limits = config.rest_rate_limits;
  exchange.set_publisher([this](const std::vector<PrivatePush>& p) { PublishPrivate(p); });
  rest = std::make_unique<RestApi>(exchange, stats, clock, ro);
}

void SimContext::PublishPrivate(const std::vector<PrivatePush>& pushes) {
  for (const auto& p : pushes) {
    auto frame = std::make_shared<const std::string>(EncodeServerFrame(WsOpcode::kText, p.text));
    hub.Publish(StreamArg{p.ch, ""}, frame, p.text);
  }
}

void SimContext::PublishPublic(const StreamArg& stream, const std::string& text) {
  auto frame = std::make_shared<const std::string>(EncodeServerFrame(WsOpcode::kText, text));
  hub.Publish(stream, frame, text);
}

std::chrono::milliseconds SimContext::NextSubscribeDelay() {
  const int64_t lo = config.ws_subscribe_delay_min.count();
  const int64_t hi = config.ws_subscribe_delay_max.count();
  if (hi <= 0) return std::chrono::milliseconds(0);
  std::lock_guard<std::mutex> lock(delay_mu_);
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(lo, hi)(delay_rng_));
}

SimContext::RecordedTrades SimContext::RecordTrades(const std::vector<PublicTrade>& list, bool stalled) {
  RecordedTrades r;
  r.seqs.reserve(list.size());
  r.texts.reserve(list.size());
  for (const auto& t : list) {
    const SymbolSpec& spec = catalog.all()[static_cast<size_t>(t.sym)];
    const TradeItemText& text = r.texts.emplace_back(FormatTrade(t, spec.quote_precision, spec.base_precision));
    TradeLogEntry e;
    e.ts_ms = t.ts_ms;
    e.t = text.t;
    e.p = text.p;
    e.v = text.v;
    e.s = text.s;
    e.stalled = stalled;
    r.seqs.push_back(trades.Add(t.sym, std::move(e)));
  }
  return r;
}

std::string SimContext::TradeFrameFor(int sym, const std::vector<PublicTrade>& list,
                                      const RecordedTrades& recorded) const {
  std::vector<const TradeItemText*> items;
  int64_t ts_ms = 0;
  for (size_t i = 0; i < list.size() && i < recorded.texts.size(); ++i) {
    if (list[i].sym != sym) continue;
    if (items.empty()) ts_ms = list[i].ts_ms;
    items.push_back(&recorded.texts[i]);
  }
  if (items.empty()) return {};
  // The push's ts is the trades' execution time (one tick's trades share it), the same on every
  // connection: GET /control/trades reports it, and a client can match what it received.
  return TradeFrame(catalog.all()[static_cast<size_t>(sym)].symbol, ts_ms, items);
}

void SimContext::MarkTradesStalled(const std::vector<PublicTrade>& list, const std::vector<uint64_t>& seqs) {
  for (size_t i = 0; i < list.size() && i < seqs.size(); ++i) trades.MarkStalled(list[i].sym, seqs[i]);
}

}  // namespace bx::sim

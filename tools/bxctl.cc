// bxctl — command-line client for bitunix-marketdata and bitunix-orders.
//
//   bxctl [--md ADDR] [--orders ADDR] [--token-file FILE] <command> [args]
//
// Market data:   watch SYMBOL... [--channels trade,book,ticker,mark,kline] [--depth 1|5|15] [--count N]
//                book SYMBOL [--depth N] | symbols [SYMBOL...] | klines SYMBOL [--interval 1m] [--limit N]
// Orders:        place SYMBOL buy|sell QTY [PRICE] [--client-id ID] [--tif gtc|ioc|fok|post_only]
//                cancel SYMBOL ORDER_ID... | cancel SYMBOL --client-id ID | get ORDER_ID|--client-id ID
//                open [SYMBOL] | account | positions [SYMBOL] | updates
// Exit codes: 0 success; 1 the call failed (gRPC error); 2 usage error; 3 the call succeeded but at
// least one item of it was not accepted (cancel); 4 a placement's outcome is unknown. The full text
// is in Usage() below.
// The bearer token comes from --token-file or the BXCTL_TOKEN environment variable, never a flag.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bitunix/marketdata/v1/marketdata.grpc.pb.h"
#include "bitunix/orders/v1/orders.grpc.pb.h"
#include "common/process.h"

namespace {

namespace md = bitunix::marketdata::v1;
namespace ord = bitunix::orders::v1;
namespace cmn = bitunix::common::v1;

struct Args {
  std::string md_addr = "127.0.0.1:50051";
  std::string orders_addr = "127.0.0.1:50052";
  std::string token;
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
};

std::string Opt(const Args& a, const std::string& k, const std::string& def = "") {
  auto it = a.options.find(k);
  return it == a.options.end() ? def : it->second;
}

// Exit codes (documented in Usage()).
constexpr int kExitOk = 0;
constexpr int kExitCallFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitItemFailed = 3;
constexpr int kExitOutcomeUnknown = 4;

// A non-negative integer option, or a usage error naming it.
uint64_t NumOpt(const Args& a, const std::string& k, uint64_t def) {
  auto it = a.options.find(k);
  if (it == a.options.end()) return def;
  const std::string& v = it->second;
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
    std::fprintf(stderr, "--%s '%s': expected a non-negative integer\n", k.c_str(), v.c_str());
    std::exit(kExitUsage);
  }
  return out;
}

std::string Clock(int64_t ns) {
  if (ns == 0) ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((ns / 1'000'000) % 1000));
  return buf;
}

const char* SideName(cmn::Side s) { return s == cmn::SIDE_BUY ? "buy " : s == cmn::SIDE_SELL ? "sell" : "?   "; }

std::string StatusName(cmn::StreamStatus::State s) {
  std::string n = cmn::StreamStatus::State_Name(s);
  return n.rfind("STATE_", 0) == 0 ? n.substr(6) : n;
}

void PrintEvent(const md::MarketEvent& e) {
  const std::string t = Clock(e.gateway_ts_ns());
  const char* snap = e.snapshot() ? " (snapshot)" : "";
  switch (e.payload_case()) {
    case md::MarketEvent::kTrade:
      std::printf("%s %-9s trade  %s %14s @ %-12s%s\n", t.c_str(), e.symbol().c_str(), SideName(e.trade().side()),
                  e.trade().qty().c_str(), e.trade().price().c_str(), snap);
      break;
    case md::MarketEvent::kOrderBook: {
      const auto& b = e.order_book();
      std::string bid = b.bids_size() ? b.bids(0).price() + " x " + b.bids(0).qty() : "-";
      std::string ask = b.asks_size() ? b.asks(0).price() + " x " + b.asks(0).qty() : "-";
      std::printf("%s %-9s book   bid %-24s | ask %-24s depth %u%s\n", t.c_str(), e.symbol().c_str(), bid.c_str(),
                  ask.c_str(), b.depth(), snap);
      break;
    }
    case md::MarketEvent::kTicker:
      std::printf("%s %-9s ticker last %-12s 24h %s%%  vol %s%s\n", t.c_str(), e.symbol().c_str(),
                  e.ticker().last_price().c_str(), e.ticker().change_percent().c_str(), e.ticker().base_volume().c_str(),
                  snap);
      break;
    case md::MarketEvent::kMarkPrice:
      std::printf("%s %-9s mark   %-12s index %-12s funding %s%s\n", t.c_str(), e.symbol().c_str(),
                  e.mark_price().mark_price().c_str(), e.mark_price().index_price().c_str(),
                  e.mark_price().funding_rate().c_str(), snap);
      break;
    case md::MarketEvent::kKline:
      std::printf("%s %-9s kline  %s o %s h %s l %s c %s v %s%s\n", t.c_str(), e.symbol().c_str(),
                  md::KlineInterval_Name(e.kline().interval()).c_str(), e.kline().open().c_str(),
                  e.kline().high().c_str(), e.kline().low().c_str(), e.kline().close().c_str(),
                  e.kline().base_volume().c_str(), snap);
      break;
    case md::MarketEvent::kStatus:
      std::printf("%s %-9s status %s %s\n", t.c_str(), e.symbol().empty() ? "*" : e.symbol().c_str(),
                  StatusName(e.status().state()).c_str(), e.status().reason().c_str());
      break;
    case md::MarketEvent::kGap:
      std::printf("%s %-9s GAP    %s missed=%llu\n", t.c_str(), e.symbol().empty() ? "*" : e.symbol().c_str(),
                  cmn::Gap::Reason_Name(e.gap().reason()).c_str(),
                  static_cast<unsigned long long>(e.gap().missed_events()));
      break;
    default:
      break;
  }
}

const char* CodeName(grpc::StatusCode c) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                 "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                 "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  int i = static_cast<int>(c);
  return i >= 0 && i < 17 ? kNames[i] : "?";
}

int Fail(const grpc::Status& s) {
  std::fprintf(stderr, "error: %s: %s\n", CodeName(s.error_code()), s.error_message().c_str());
  return kExitCallFailed;
}

int Print(const google::protobuf::Message& m) {
  std::cout << m.DebugString();
  return kExitOk;
}

std::vector<md::Channel> ParseChannels(const std::string& list) {
  std::vector<md::Channel> out;
  std::stringstream ss(list);
  std::string c;
  while (std::getline(ss, c, ',')) {
    if (c == "trade" || c == "trades") out.push_back(md::CHANNEL_TRADE);
    else if (c == "book") out.push_back(md::CHANNEL_ORDER_BOOK);
    else if (c == "ticker") out.push_back(md::CHANNEL_TICKER);
    else if (c == "mark") out.push_back(md::CHANNEL_MARK_PRICE);
    else if (c == "kline") out.push_back(md::CHANNEL_KLINE);
    else {
      std::fprintf(stderr, "unknown channel '%s' (trade, book, ticker, mark, kline)\n", c.c_str());
      std::exit(kExitUsage);
    }
  }
  return out;
}

md::KlineInterval ParseInterval(const std::string& s) {
  static const std::map<std::string, md::KlineInterval> k = {
      {"1m", md::KLINE_INTERVAL_1M},   {"3m", md::KLINE_INTERVAL_3M},   {"5m", md::KLINE_INTERVAL_5M},
      {"15m", md::KLINE_INTERVAL_15M}, {"30m", md::KLINE_INTERVAL_30M}, {"1h", md::KLINE_INTERVAL_1H},
      {"2h", md::KLINE_INTERVAL_2H},   {"4h", md::KLINE_INTERVAL_4H},   {"6h", md::KLINE_INTERVAL_6H},
      {"8h", md::KLINE_INTERVAL_8H},   {"12h", md::KLINE_INTERVAL_12H}, {"1d", md::KLINE_INTERVAL_1D},
      {"3d", md::KLINE_INTERVAL_3D},   {"1w", md::KLINE_INTERVAL_1W},   {"1M", md::KLINE_INTERVAL_1MONTH}};
  auto it = k.find(s);
  if (it == k.end()) {
    std::fprintf(stderr, "unknown interval '%s'\n", s.c_str());
    std::exit(kExitUsage);
  }
  return it->second;
}

std::unique_ptr<grpc::ClientContext> Ctx(const Args& a, int timeout_s = 10) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (timeout_s > 0) ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  if (!a.token.empty()) ctx->AddMetadata("authorization", "Bearer " + a.token);
  return ctx;
}

// Ctrl-C / SIGTERM: a running watch is cancelled (and ends with its status), anything else exits
// at once. The signals are blocked in every thread and taken by a thread of their own: gRPC is
// not async-signal-safe, and a TryCancel from a signal handler aborted inside absl's Mutex when
// the signal landed while the reading thread held one.
std::mutex g_watch_mu;
grpc::ClientContext* g_watch_ctx = nullptr;  // guarded by g_watch_mu

void TakeSignalsOnAThread() {
  bx::BlockShutdownSignals();
  std::thread([] {
    for (;;) {
      const std::optional<int> sig = bx::WaitForShutdownSignal();
      if (!sig) continue;
      std::lock_guard<std::mutex> lock(g_watch_mu);
      if (g_watch_ctx == nullptr) std::_Exit(128 + *sig);
      g_watch_ctx->TryCancel();
    }
  }).detach();
}

void SetWatchContext(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(g_watch_mu);
  g_watch_ctx = ctx;
}

int Watch(const Args& a) {
  md::SubscribeRequest req;
  for (size_t i = 1; i < a.positional.size(); ++i) req.add_symbols(a.positional[i]);
  if (req.symbols().empty()) {
    std::fprintf(stderr, "watch: missing SYMBOL (at least one, e.g. bxctl watch BTCUSDT)\n");
    return kExitUsage;
  }
  for (auto c : ParseChannels(Opt(a, "channels", "trade,book"))) req.add_channels(c);
  // bxctl's default depth is 5 (a one-line top of book needs no more); the service's default is 15.
  const uint64_t depth = NumOpt(a, "depth", 5);
  if (depth != 1 && depth != 5 && depth != 15) {
    std::fprintf(stderr, "watch: --depth %llu: expected 1, 5 or 15\n", static_cast<unsigned long long>(depth));
    return kExitUsage;
  }
  req.set_book_depth(static_cast<uint32_t>(depth));
  if (std::find(req.channels().begin(), req.channels().end(), md::CHANNEL_KLINE) != req.channels().end()) {
    req.add_kline_intervals(ParseInterval(Opt(a, "interval", "1m")));
  }
  const uint64_t max_events = NumOpt(a, "count", 0);
  auto stub = md::MarketDataService::NewStub(grpc::CreateChannel(a.md_addr, grpc::InsecureChannelCredentials()));
  auto ctx = Ctx(a, 0);
  SetWatchContext(ctx.get());
  auto reader = stub->Subscribe(ctx.get(), req);
  md::SubscribeResponse batch;
  uint64_t n = 0;
  uint64_t expect_seq = 1;
  while (reader->Read(&batch)) {
    for (const auto& e : batch.events()) {
      if (e.seq() != expect_seq) {
        std::printf("!! sequence jump: expected %llu got %llu\n", static_cast<unsigned long long>(expect_seq),
                    static_cast<unsigned long long>(e.seq()));
      }
      expect_seq = e.seq() + 1;
      PrintEvent(e);
      if (max_events > 0 && ++n >= max_events) {
        ctx->TryCancel();
        break;
      }
    }
    std::fflush(stdout);
  }
  grpc::Status s = reader->Finish();
  SetWatchContext(nullptr);
  if (s.error_code() == grpc::StatusCode::CANCELLED) return kExitOk;
  if (!s.ok()) return Fail(s);
  std::printf("stream ended by the server\n");
  return kExitOk;
}

// The SYMBOL argument of book and klines (required).
std::string SymbolArg(const Args& a) {
  if (a.positional.size() < 2) {
    std::fprintf(stderr, "%s: missing SYMBOL\n", a.positional[0].c_str());
    std::exit(kExitUsage);
  }
  return a.positional[1];
}

int RunMarketData(const Args& a) {
  const std::string& cmd = a.positional[0];
  auto stub = md::MarketDataService::NewStub(grpc::CreateChannel(a.md_addr, grpc::InsecureChannelCredentials()));
  if (cmd == "watch") return Watch(a);
  if (cmd == "book") {
    md::GetOrderBookRequest req;
    req.set_symbol(SymbolArg(a));
    req.set_depth(static_cast<uint32_t>(NumOpt(a, "depth", 5)));
    md::GetOrderBookResponse resp;
    auto s = stub->GetOrderBook(Ctx(a).get(), req, &resp);
    return s.ok() ? Print(resp) : Fail(s);
  }
  if (cmd == "symbols") {
    md::ListSymbolsRequest req;
    for (size_t i = 1; i < a.positional.size(); ++i) req.add_symbols(a.positional[i]);
    md::ListSymbolsResponse resp;
    auto s = stub->ListSymbols(Ctx(a).get(), req, &resp);
    return s.ok() ? Print(resp) : Fail(s);
  }
  if (cmd == "klines") {
    md::GetKlinesRequest req;
    req.set_symbol(SymbolArg(a));
    req.set_interval(ParseInterval(Opt(a, "interval", "1m")));
    req.set_limit(static_cast<uint32_t>(NumOpt(a, "limit", 10)));
    md::GetKlinesResponse resp;
    auto s = stub->GetKlines(Ctx(a, 30).get(), req, &resp);
    return s.ok() ? Print(resp) : Fail(s);
  }
  return -1;
}

int RunOrders(const Args& a) {
  const std::string& cmd = a.positional[0];
  auto stub = ord::OrderService::NewStub(grpc::CreateChannel(a.orders_addr, grpc::InsecureChannelCredentials()));
  auto arg = [&](size_t i, const char* what) -> std::string {
    if (i >= a.positional.size()) {
      std::fprintf(stderr, "%s: missing %s\n", cmd.c_str(), what);
      std::exit(kExitUsage);
    }
    return a.positional[i];
  };
  if (cmd == "place") {
    ord::PlaceOrderRequest req;
    req.set_symbol(arg(1, "SYMBOL"));
    const std::string side = arg(2, "buy|sell");
    if (side != "buy" && side != "sell") {
      std::fprintf(stderr, "place: side '%s': expected buy or sell\n", side.c_str());
      return kExitUsage;
    }
    req.set_side(side == "buy" ? cmn::SIDE_BUY : cmn::SIDE_SELL);
    req.set_qty(arg(3, "QTY"));
    if (a.positional.size() > 4) {
      req.set_type(ord::ORDER_TYPE_LIMIT);
      req.set_price(a.positional[4]);
    } else {
      req.set_type(ord::ORDER_TYPE_MARKET);
    }
    req.set_client_id(Opt(a, "client-id"));
    const std::string tif = Opt(a, "tif", "gtc");
    if (tif != "gtc" && tif != "ioc" && tif != "fok" && tif != "post_only") {
      std::fprintf(stderr, "place: --tif '%s': expected gtc, ioc, fok or post_only\n", tif.c_str());
      return kExitUsage;
    }
    req.set_time_in_force(tif == "ioc" ? ord::TIME_IN_FORCE_IOC
                          : tif == "fok" ? ord::TIME_IN_FORCE_FOK
                          : tif == "post_only" ? ord::TIME_IN_FORCE_POST_ONLY
                                               : ord::TIME_IN_FORCE_GTC);
    req.set_dry_run(a.options.count("dry-run") > 0);
    ord::PlaceOrderResponse resp;
    auto s = stub->PlaceOrder(Ctx(a, 30).get(), req, &resp);
    if (!s.ok()) return Fail(s);
    const int printed = Print(resp);
    if (resp.result() == ord::PLACE_RESULT_UNKNOWN) {
      std::fprintf(stderr, "place: outcome unknown, being reconciled: check `get --client-id %s`, or repeat the same "
                   "command with --client-id %s (never a new id)\n", resp.client_id().c_str(), resp.client_id().c_str());
      return kExitOutcomeUnknown;
    }
    return printed;
  }
  if (cmd == "cancel") {
    ord::CancelOrdersRequest req;
    req.set_symbol(arg(1, "SYMBOL"));
    for (size_t i = 2; i < a.positional.size(); ++i) req.add_orders()->set_order_id(a.positional[i]);
    if (a.options.count("client-id")) req.add_orders()->set_client_id(Opt(a, "client-id"));
    if (req.orders().empty()) {
      std::fprintf(stderr, "cancel: missing ORDER_ID... or --client-id ID\n");
      return kExitUsage;
    }
    ord::CancelOrdersResponse resp;
    auto s = stub->CancelOrders(Ctx(a).get(), req, &resp);
    if (!s.ok()) return Fail(s);
    Print(resp);
    // A refused item (e.g. code 20007, order not found) comes back inside an OK response.
    int refused = 0;
    for (const auto& r : resp.results()) {
      if (r.accepted()) continue;
      ++refused;
      const std::string& ref = r.order().order_id().empty() ? r.order().client_id() : r.order().order_id();
      std::fprintf(stderr, "cancel %s: not accepted: code %d %s\n", ref.c_str(), r.error().code(),
                   r.error().message().c_str());
    }
    if (resp.results_size() < req.orders_size()) {
      std::fprintf(stderr, "cancel: %d result(s) for %d order(s)\n", resp.results_size(), req.orders_size());
      return kExitItemFailed;
    }
    return refused > 0 ? kExitItemFailed : kExitOk;
  }
  if (cmd == "get") {
    ord::GetOrderRequest req;
    if (a.options.count("client-id")) req.mutable_order()->set_client_id(Opt(a, "client-id"));
    else req.mutable_order()->set_order_id(arg(1, "ORDER_ID"));
    ord::GetOrderResponse resp;
    auto s = stub->GetOrder(Ctx(a).get(), req, &resp);
    return s.ok() ? Print(resp) : Fail(s);
  }
  if (cmd == "open") {
    ord::ListOpenOrdersRequest req;
    if (a.positional.size() > 1) req.set_symbol(a.positional[1]);
    ord::ListOpenOrdersResponse resp;
    auto s = stub->ListOpenOrders(Ctx(a).get(), req, &resp);
    return s.ok() ? Print(resp) : Fail(s);
  }
  if (cmd == "account") {
    ord::GetAccountResponse resp;
    auto s = stub->GetAccount(Ctx(a).get(), ord::GetAccountRequest(), &resp);
    return s.ok() ? Print(resp) : Fail(s);
  }
  if (cmd == "positions") {
    ord::ListPositionsRequest req;
    if (a.positional.size() > 1) req.set_symbol(a.positional[1]);
    ord::ListPositionsResponse resp;
    auto s = stub->ListPositions(Ctx(a).get(), req, &resp);
    return s.ok() ? Print(resp) : Fail(s);
  }
  if (cmd == "updates") {
    auto ctx = Ctx(a, 0);
    auto reader = stub->StreamUpdates(ctx.get(), ord::StreamUpdatesRequest());
    ord::StreamUpdatesResponse batch;
    while (reader->Read(&batch)) {
      for (const auto& e : batch.events()) std::cout << e.ShortDebugString() << "\n";
      std::cout.flush();
    }
    auto s = reader->Finish();
    return s.ok() ? kExitOk : Fail(s);
  }
  return -1;
}

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: bxctl [--md ADDR] [--orders ADDR] [--token-file FILE] COMMAND [ARGS]\n"
               "market data (--md, default 127.0.0.1:50051):\n"
               "  watch SYMBOL... [--channels LIST] [--depth 1|5|15] [--interval 1m] [--count N]\n"
               "      stream until Ctrl-C (or N events); at least one SYMBOL; --channels from\n"
               "      trade,book,ticker,mark,kline (default trade,book); --depth: book levels, default 5\n"
               "      (bxctl's default; the service's own default is 15); --interval for kline (default 1m)\n"
               "  book SYMBOL [--depth N]  (default 5)     symbols [SYMBOL...]\n"
               "  klines SYMBOL [--interval 1m] [--limit N]  (default 10)\n"
               "orders (--orders, default 127.0.0.1:50052; token from --token-file or BXCTL_TOKEN):\n"
               "  place SYMBOL buy|sell QTY [PRICE] [--client-id ID] [--tif gtc|ioc|fok|post_only] [--dry-run]\n"
               "      no PRICE = market order\n"
               "  cancel SYMBOL ORDER_ID...   cancel SYMBOL --client-id ID\n"
               "  get ORDER_ID   get --client-id ID   open [SYMBOL]   account   positions [SYMBOL]   updates\n"
               "exit status: 0 success; 1 the call failed (error on stderr); 2 usage error;\n"
               "  3 the call succeeded but an item was not accepted (cancel: per-order error on stderr)\n"
               "  4 place: the outcome is unknown (PLACE_RESULT_UNKNOWN); the gateway is reconciling it\n");
}

}  // namespace

int main(int argc, char** argv) {
  TakeSignalsOnAThread();  // before any gRPC thread exists, so that every thread inherits the mask
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "-h" || s == "--help") {
      Usage(stdout);
      return kExitOk;
    }
    if (s.rfind("--", 0) == 0) {
      std::string key = s.substr(2), value;
      if (auto eq = key.find('='); eq != std::string::npos) {
        value = key.substr(eq + 1);
        key = key.substr(0, eq);
      } else if (key != "dry-run") {
        if (i + 1 >= argc) {
          std::fprintf(stderr, "--%s needs a value\n", key.c_str());
          return kExitUsage;
        }
        value = argv[++i];
      }
      if (key == "token") {
        std::fprintf(stderr, "--token is not accepted (it would show in ps); use --token-file or BXCTL_TOKEN\n");
        return kExitUsage;
      }
      static const std::set<std::string> kOptions = {"md",    "orders",    "token-file", "channels",
                                                     "depth", "interval",  "count",      "limit",
                                                     "tif",   "client-id", "dry-run"};
      if (!kOptions.count(key)) {
        std::fprintf(stderr, "unknown option --%s (bxctl --help lists them)\n", key.c_str());
        return kExitUsage;
      }
      a.options[key] = value;
    } else {
      a.positional.push_back(s);
    }
  }
  if (a.options.count("md")) a.md_addr = a.options["md"];
  if (a.options.count("orders")) a.orders_addr = a.options["orders"];
  if (a.options.count("token-file")) {
    auto t = bx::ReadFileTrimmed(a.options["token-file"]);
    if (!t) {
      std::fprintf(stderr, "cannot read --token-file %s\n", a.options["token-file"].c_str());
      return kExitUsage;
    }
    a.token = *t;
  } else if (const char* t = std::getenv("BXCTL_TOKEN")) {
    a.token = t;
  }
  if (a.positional.empty()) {
    Usage(stderr);
    return kExitUsage;
  }
  int rc = RunMarketData(a);
  if (rc == -1) rc = RunOrders(a);
  if (rc == -1) {
    std::fprintf(stderr, "unknown command '%s'\n", a.positional[0].c_str());
    Usage(stderr);
    return kExitUsage;
  }
  return rc;
}

#include "services/marketdata/service.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "services/marketdata/channel.h"
#include "services/marketdata/rest_parse.h"

namespace bx::md {
namespace {

using State = common_v1::StreamStatus;

constexpr int kKlinePage = 200;  // the exchange's maximum rows per kline call

bool ParseRequest(const grpc::ByteBuffer* buffer, google::protobuf::Message* out) {
  std::vector<grpc::Slice> slices;
  if (buffer == nullptr || !buffer->Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out->ParseFromString(bytes);
}

/// A stream that fails before it starts.
class FailedReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FailedReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A unary call answered later, from the exchange's REST API. It finishes exactly once: with the
// answer, or at once with CANCELLED when the client cancels or its deadline passes, or when the
// server shuts down (grpc::Server::Shutdown cancels the calls still running at its deadline and
// waits for every one of them to finish: a call that waited for the REST rate gate alone could
// hold the process forever). A REST reply that arrives after that is dropped: the response
// message went away with the call.
class RestCall {
 public:
  /// Whether the call is over (answered or cancelled): nothing more should be fetched for it.
  bool finished() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reactor_ == nullptr;
  }
  /// Unless the call is over: `fill` writes the response and returns the status to finish with.
  template <class Fill>
  void Complete(Fill fill) {
    std::lock_guard<std::mutex> lock(mu_);
    if (reactor_ == nullptr) return;
    grpc::Status status = fill();
    Finish(status);
  }
  void Fail(const absl::Status& status) {
    Complete([&] { return ToGrpcStatus(status); });
  }

 private:
  friend class RestCallReactor;
  void Finish(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    grpc::ServerUnaryReactor* r = reactor_;
    reactor_ = nullptr;
    r->Finish(status);
  }

  mutable std::mutex mu_;
  grpc::ServerUnaryReactor* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;  // until finished
};

// For the REST gate: a call's queued request is dropped unsent once the call is over.
MarketRestClient::Wanted StillWanted(const std::shared_ptr<RestCall>& call) {
  return [weak = std::weak_ptr<RestCall>(call)] {
    auto c = weak.lock();
    return c != nullptr && !c->finished();
  };
}

class RestCallReactor final : public grpc::ServerUnaryReactor {
 public:
  RestCallReactor() : call_(std::make_shared<RestCall>()) {
    std::lock_guard<std::mutex> lock(call_->mu_);
    call_->reactor_ = this;
  }
  const std::shared_ptr<RestCall>& call() const { return call_; }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(call_->mu_);
    if (call_->reactor_ != nullptr) call_->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"));
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<RestCall> call_;  // shared with the pending REST callback
};

// GETs `path` from the exchange (foreground share of the public budget), parses the body with
// `parse`, hands the result to `fill` for the response, and finishes the call; a transport,
// exchange or parse error finishes it with the mapped status.
template <class Parse, class Fill>
grpc::ServerUnaryReactor* ReplyFromRest(MarketRestClient* rest, std::string path, Parse parse, Fill fill) {
  auto* reactor = new RestCallReactor();
  rest->Get(
      std::move(path), RestPriority::kForeground,
      [call = reactor->call(), parse, fill = std::move(fill)](absl::StatusOr<std::string> body) mutable {
        call->Complete([&] {
          if (!body.ok()) return ToGrpcStatus(body.status());
          auto parsed = parse(*body);
          if (!parsed.ok()) return ToGrpcStatus(parsed.status());
          fill(std::move(*parsed));
          return grpc::Status::OK;
        });
      },
      StillWanted(reactor->call()));
  return reactor;
}

std::string ChannelList() {
  return "CHANNEL_TRADE, CHANNEL_ORDER_BOOK, CHANNEL_TICKER, CHANNEL_MARK_PRICE or CHANNEL_KLINE";
}

// The newest cached event of a topic, if its feed is live.
std::optional<v1::MarketEvent> CachedEvent(Hub* hub, const std::string& key) {
  TopicRing* ring = hub->FindTopic(key);
  if (ring == nullptr || ring->health() != TopicHealth::kLive) return std::nullopt;
  auto latest = ring->LatestCopy();
  if (!latest) return std::nullopt;
  v1::MarketEvent e;
  if (!DecodeEvent(latest->bytes, latest->layout, &e)) return std::nullopt;
  return e;
}

void Truncate(v1::OrderBook* book, uint32_t depth) {
  if (depth == 0) return;
  while (book->bids_size() > static_cast<int>(depth)) book->mutable_bids()->RemoveLast();
  while (book->asks_size() > static_cast<int>(depth)) book->mutable_asks()->RemoveLast();
}

/// GetKlines: walks the requested range in pages of at most 200 rows, one REST call at a time;
/// stops when the call is over (client gone, deadline, shutdown).
class KlinePager : public std::enable_shared_from_this<KlinePager> {
 public:
  KlinePager(MarketRestClient* rest, std::shared_ptr<RestCall> call, grpc::CallbackServerContext* context,
             v1::GetKlinesResponse* response, std::string symbol, v1::KlineInterval interval,
             v1::PriceType price_type, int64_t start, int64_t end, uint32_t limit, bool newest)
      : rest_(rest),
        call_(std::move(call)),
        context_(context),
        response_(response),
        symbol_(std::move(symbol)),
        interval_(interval),
        price_type_(price_type),
        next_(start),
        end_(end),
        limit_(limit),
        newest_(newest),
        max_pages_(static_cast<int>(limit / kKlinePage) + 3) {}

  void Next() {
    if (call_->finished()) return;  // nobody is waiting: spend no more of the REST budget
    const int64_t span = IntervalMs(interval_) * kKlinePage;
    if (next_ > end_ || pages_ >= max_pages_ || (!newest_ && rows_.size() >= limit_)) {
      Done();
      return;
    }
    const int64_t window_end = std::min(end_, next_ + span - 1);
    std::string target = absl::StrCat("/api/v1/futures/market/kline?symbol=", symbol_,
                                      "&interval=", std::string(RestIntervalName(interval_)),
                                      "&startTime=", next_, "&endTime=", window_end, "&limit=", kKlinePage,
                                      "&type=", price_type_ == v1::PRICE_TYPE_MARK ? "MARK_PRICE" : "LAST_PRICE");
    auto self = shared_from_this();
    rest_->Get(std::move(target), RestPriority::kForeground,
               [self, window_end](absl::StatusOr<std::string> body) {
                 auto page = body.ok() ? ParseKlinePage(*body, self->interval_, self->price_type_)
                                       : absl::StatusOr<KlinePage>(body.status());
                 if (!page.ok()) {
                   self->call_->Fail(page.status());
                   return;
                 }
                 const int index = self->pages_++;
                 self->page_volumes_.push_back(page->volumes);
                 for (auto& k : page->klines) {
                   const int64_t t = k.open_time_ms();
                   if (t >= self->next_ && t <= self->end_) self->rows_[t] = {index, std::move(k)};
                 }
                 self->next_ = window_end + 1;
                 self->Next();
               },
               StillWanted(call_));
  }

 private:
  void Done() {
    call_->Complete([&] {
      // The volume naming is settled across the pages of this answer: a page without a signal
      // (say, prices within 5% of 1.0) reads its fields as a page that has one, so the rows of
      // one answer never disagree.
      const std::vector<bool> swapped = CarryVolumeVerdicts(page_volumes_);
      std::vector<v1::Kline> all;
      all.reserve(rows_.size());
      for (auto& [t, row] : rows_) {
        auto& [page, k] = row;
        if (swapped[page]) SwapKlineVolumes(&k);
        all.push_back(std::move(k));
      }
      size_t from = 0, to = all.size();
      if (all.size() > limit_) {
        if (newest_) {
          from = all.size() - limit_;  // the definition of a newest-first request, not a cut
        } else {
          to = limit_;
        }
      }
      // Oldest first, the answer may stop before end_time_ms: at `limit` candles, or at the page
      // cap (a sparse range). Say so, and where to continue (the response message has no field
      // for it).
      if (!newest_ && (to < all.size() || next_ <= end_)) {
        const int64_t resume = to > 0 && (to < all.size() || to >= limit_)
                                   ? NextCandleOpenTimeMs(interval_, all[to - 1].open_time_ms())
                                   : next_;
        context_->AddTrailingMetadata(kKlinesTruncatedKey, "true");
        context_->AddTrailingMetadata(kKlinesNextStartKey, std::to_string(resume));
      }
      for (size_t i = from; i < to; ++i) *response_->add_klines() = std::move(all[i]);
      response_->set_pages(static_cast<uint32_t>(pages_));
      return grpc::Status::OK;
    });
  }

  MarketRestClient* rest_;
  const std::shared_ptr<RestCall> call_;
  grpc::CallbackServerContext* const context_;  // valid while the call is not finished
  v1::GetKlinesResponse* response_;             // the same
  const std::string symbol_;
  const v1::KlineInterval interval_;
  const v1::PriceType price_type_;
  int64_t next_;
  const int64_t end_;
  const size_t limit_;
  const bool newest_;
  const int max_pages_;
  int pages_ = 0;
  /// Each page's own verdict on the volume names, in fetch order.
  std::vector<VolumeVerdict> page_volumes_;
  /// By open time: the page the row came from, and the row with its volume fields as named.
  std::map<int64_t, std::pair<int, v1::Kline>> rows_;
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // Backstop for any echo of client input: a message over the client's metadata limit (8 KB by
  // default) reaches it as RESOURCE_EXHAUSTED, hiding the real error.
  constexpr size_t kMaxMessage = 1024;
  std::string message(s.message());
  if (message.size() > kMaxMessage) message = absl::StrCat(message.substr(0, kMaxMessage), "... (cut)");
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::move(message));
}

// One Subscribe stream: adapts the core Stream to gRPC. Deleted in OnDone.
class MarketDataServiceImpl::SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  SubscribeReactor(MarketDataServiceImpl* svc, grpc::CallbackServerContext* ctx, std::shared_ptr<Stream> stream,
                   std::vector<TopicRef> topics, std::string client)
      : svc_(svc),
        ctx_(ctx),
        stream_(std::move(stream)),
        topics_(std::move(topics)),
        client_(std::move(client)),
        sink_(this) {}

  StreamSink* sink() { return &sink_; }

  void OnWriteDone(bool ok) override { stream_->OnWriteDone(ok); }
  void OnCancel() override { stream_->Cancel(); }
  void OnDone() override {
    stream_->Detach();
    svc_->hub_->RemoveStream(stream_.get());
    svc_->demand_->Release(std::move(topics_));
    svc_->StreamEnded(client_);
    delete this;
  }

 private:
  class Sink final : public StreamSink {
   public:
    explicit Sink(SubscribeReactor* r) : r_(r) {}
    void StartWrite(BatchBuffer batch) override {
      const size_t n = batch.size();
      char* bytes = batch.Release();
      // gRPC owns the batch bytes from here (no copy) and frees them when its slice dies.
      grpc::Slice slice(bytes, n, [](void* p) { std::free(p); });
      r_->buffer_ = grpc::ByteBuffer(&slice, 1);
      r_->StartWrite(&r_->buffer_);
    }
    void Finish(absl::Status status) override { r_->Finish(ToGrpcStatus(status)); }
    void Abandon() override { r_->ctx_->TryCancel(); }

   private:
    SubscribeReactor* r_;
  };

  MarketDataServiceImpl* const svc_;
  grpc::CallbackServerContext* const ctx_;  // outlives the reactor (until OnDone)
  std::shared_ptr<Stream> stream_;
  std::vector<TopicRef> topics_;
  const std::string client_;
  Sink sink_;
  grpc::ByteBuffer buffer_;  // the write in flight
};

MarketDataServiceImpl::MarketDataServiceImpl(ServiceOptions options, Hub* hub, TopicDemand* demand,
                                             SymbolRegistry* symbols, MarketRestClient* rest, const Clock& clock)
    : options_(std::move(options)), hub_(hub), demand_(demand), symbols_(symbols), rest_(rest), clock_(clock) {}

MarketDataServiceImpl::~MarketDataServiceImpl() = default;

absl::Status MarketDataServiceImpl::Plan(const v1::SubscribeRequest& req, std::vector<std::string>* symbols,
                                         std::vector<TopicRef>* topics) const {
  if (req.symbols_size() == 0) {
    return absl::InvalidArgumentError("symbols is empty: list at least one symbol, e.g. \"BTCUSDT\" (see ListSymbols)");
  }
  // The limit counts distinct symbols (a repeated one is one subscription); the list itself is
  // bounded too, so that a huge list of one symbol costs no more than a few checks.
  if (req.symbols_size() > 10 * options_.max_symbols_per_stream) {
    return absl::InvalidArgumentError(absl::StrCat("too many symbols: ", req.symbols_size(), " entries given, at most ",
                                                   options_.max_symbols_per_stream,
                                                   " distinct symbols per stream (max-symbols-per-stream); "
                                                   "split them over streams"));
  }
  std::unordered_set<std::string> seen;
  for (int i = 0; i < req.symbols_size(); ++i) {
    std::string sym = UpperSymbol(req.symbols(i));
    if (sym.empty()) return absl::InvalidArgumentError(absl::StrCat("symbols[", i, "] is empty"));
    absl::Status st = symbols_->CheckStreamable(sym);
    if (!st.ok()) return absl::Status(st.code(), absl::StrCat("symbols[", i, "]: ", std::string(st.message())));
    if (!seen.insert(sym).second) continue;
    if (static_cast<int>(seen.size()) > options_.max_symbols_per_stream) {
      return absl::InvalidArgumentError(absl::StrCat("too many symbols: more than ", options_.max_symbols_per_stream,
                                                     " distinct symbols given, at most ",
                                                     options_.max_symbols_per_stream,
                                                     " per stream (max-symbols-per-stream); split them over streams"));
    }
    symbols->push_back(std::move(sym));
  }
  if (req.channels_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("channels is empty: request at least one of ", ChannelList()));
  }
  std::vector<ChannelSpec> specs;
  bool kline = false;
  for (int i = 0; i < req.channels_size(); ++i) {
    const int c = req.channels(i);
    if (c == v1::CHANNEL_STATUS) {
      return absl::InvalidArgumentError("channels: CHANNEL_STATUS is implicit (every stream gets status events); "
                                        "do not request it");
    }
    if (c < v1::CHANNEL_TRADE || c > v1::CHANNEL_KLINE) {
      return absl::InvalidArgumentError(
          absl::StrCat("channels[", i, "]: unknown channel ", c, "; use ", ChannelList()));
    }
    if (c == v1::CHANNEL_KLINE) {
      kline = true;
      continue;
    }
    ChannelSpec spec{.channel = static_cast<v1::Channel>(c)};
    if (c == v1::CHANNEL_ORDER_BOOK) {
      const uint32_t d = req.book_depth() == 0 ? 15 : req.book_depth();
      if (d != 1 && d != 5 && d != 15) {
        return absl::InvalidArgumentError(
            absl::StrCat("book_depth ", req.book_depth(), " is not offered: use 1, 5 or 15 (0 means 15)"));
      }
      spec.depth = d;
    }
    if (std::find(specs.begin(), specs.end(), spec) == specs.end()) specs.push_back(spec);
  }
  if (kline) {
    if (req.kline_intervals_size() == 0) {
      return absl::InvalidArgumentError("kline_intervals is empty: CHANNEL_KLINE needs at least one interval");
    }
    const int pt = req.kline_price_type();
    if (pt < v1::PRICE_TYPE_UNSPECIFIED || pt > v1::PRICE_TYPE_MARK) {
      return absl::InvalidArgumentError(absl::StrCat("kline_price_type: unknown value ", pt));
    }
    for (int i = 0; i < req.kline_intervals_size(); ++i) {
      const int iv = req.kline_intervals(i);
      if (iv < v1::KLINE_INTERVAL_1M || iv > v1::KLINE_INTERVAL_1MONTH) {
        return absl::InvalidArgumentError(absl::StrCat("kline_intervals[", i, "]: unknown interval ", iv));
      }
      ChannelSpec spec{.channel = v1::CHANNEL_KLINE, .interval = static_cast<v1::KlineInterval>(iv),
                       .price_type = pt == v1::PRICE_TYPE_MARK ? v1::PRICE_TYPE_MARK : v1::PRICE_TYPE_LAST};
      if (std::find(specs.begin(), specs.end(), spec) == specs.end()) specs.push_back(spec);
    }
  }
  for (const auto& sym : *symbols) {
    for (const auto& spec : specs) {
      std::string ch = ExchangeChannelName(spec);
      TopicRing* ring = hub_->Topic(TopicKey(ch, sym), sym, spec);
      topics->push_back({ring, std::move(ch)});
    }
  }
  return absl::OkStatus();
}

absl::Status MarketDataServiceImpl::AdmitClient(const std::string& client) {
  std::lock_guard<std::mutex> lock(clients_mu_);
  if (admitted_streams_ >= options_.max_streams) {
    return absl::ResourceExhaustedError(absl::StrCat("this gateway has ", admitted_streams_, " streams open, at most ",
                                                     options_.max_streams,
                                                     " (max-streams); try again later or another replica"));
  }
  int& n = streams_per_client_[client];
  if (n >= options_.max_streams_per_client) {
    return absl::ResourceExhaustedError(absl::StrCat("too many streams for client ", client, ": ", n,
                                                     " open, at most ", options_.max_streams_per_client,
                                                     " (max-streams-per-client); close one or use more symbols per stream"));
  }
  ++n;
  ++admitted_streams_;
  return absl::OkStatus();
}

void MarketDataServiceImpl::StreamEnded(const std::string& client) {
  std::lock_guard<std::mutex> lock(clients_mu_);
  auto it = streams_per_client_.find(client);
  if (it == streams_per_client_.end()) return;
  --admitted_streams_;
  if (--it->second <= 0) streams_per_client_.erase(it);
}

size_t MarketDataServiceImpl::open_streams() const { return hub_->stream_count(); }

grpc::ServerWriteReactor<grpc::ByteBuffer>* MarketDataServiceImpl::Subscribe(grpc::CallbackServerContext* context,
                                                                             const grpc::ByteBuffer* request) {
  v1::SubscribeRequest req;
  if (!ParseRequest(request, &req)) {
    return new FailedReactor(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request is not a SubscribeRequest"));
  }
  if (shutting_down_.load()) {
    return new FailedReactor(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  }
  std::vector<std::string> symbols;
  std::vector<TopicRef> topics;
  absl::Status st = Plan(req, &symbols, &topics);
  if (!st.ok()) return new FailedReactor(ToGrpcStatus(st));

  std::string client;
  const auto& md = context->client_metadata();
  if (auto it = md.find(options_.client_id_header); it != md.end()) {
    client = std::string(it->second.data(), it->second.size());
  } else {
    client = context->peer();
  }
  st = AdmitClient(client);
  if (!st.ok()) return new FailedReactor(ToGrpcStatus(st));

  std::vector<Stream::TopicSub> subs;
  for (const auto& t : topics) subs.push_back({t.ring, hub_->options().PolicyFor(t.ring->spec().channel)});
  auto stream = std::make_shared<Stream>(hub_, ++next_stream_id_, context->peer(), std::move(subs), symbols,
                                         !req.skip_snapshot(), std::vector<InitialStatus>{});
  auto* reactor = new SubscribeReactor(this, context, stream, topics, client);
  // Registered before the health is read: a status broadcast from now on reaches this stream, so
  // a health change between the read and the registration cannot be lost (at worst the stream
  // hears of it twice).
  hub_->AddStream(stream);
  // The stream starts LIVE, then reports topics whose feed is not (reconnecting, stale, degraded).
  std::vector<InitialStatus> initial = {{State::STATE_LIVE, "subscribed", {}, {}}};
  std::map<TopicHealth, InitialStatus> unhealthy;
  for (const auto& t : topics) {
    const TopicHealth h = t.ring->health();
    if (h == TopicHealth::kLive) continue;
    InitialStatus& status = unhealthy[h];
    if (std::find(status.symbols.begin(), status.symbols.end(), t.ring->symbol()) == status.symbols.end()) {
      status.symbols.push_back(t.ring->symbol());
    }
    status.topics.push_back(t.ring->key());
  }
  for (auto& [h, status] : unhealthy) {
    status.state = h == TopicHealth::kReconnecting ? State::STATE_RECONNECTING
               : h == TopicHealth::kStale      ? State::STATE_STALE
                                               : State::STATE_DEGRADED;
    status.reason = "upstream feed not live for these topics";
    initial.push_back(std::move(status));
  }
  stream->SetInitialStatus(std::move(initial));
  demand_->Acquire(std::move(topics));
  Log(LogLevel::kDebug, "service", "stream opened",
      {{"stream", static_cast<int64_t>(stream->id())}, {"peer", context->peer()},
       {"symbols", static_cast<int64_t>(symbols.size())}});
  stream->Start(reactor->sink());
  // Shutdown may have run after the check above and before AddStream, and then it did not see
  // this stream: it ends here the same way (Close is a no-op when Shutdown did close it).
  if (shutting_down_.load()) CloseForShutdown(*stream);
  return reactor;
}

void MarketDataServiceImpl::CloseForShutdown(Stream& s) {
  s.Close(absl::UnavailableError("server shutting down; reconnect to another instance"), State::STATE_SHUTTING_DOWN,
          "server shutting down");
}

void MarketDataServiceImpl::Shutdown() {
  shutting_down_.store(true);
  auto streams = hub_->Streams();
  for (const auto& s : *streams) CloseForShutdown(*s);
}

grpc::ServerUnaryReactor* MarketDataServiceImpl::GetOrderBook(grpc::CallbackServerContext* context,
                                                              const v1::GetOrderBookRequest* request,
                                                              v1::GetOrderBookResponse* response) {
  const std::string symbol = UpperSymbol(request->symbol());
  if (symbol.empty()) return FinishNow(context, absl::InvalidArgumentError("symbol is empty, e.g. \"BTCUSDT\""));
  // A halted or preview symbol has no live book: say so as Subscribe does, instead of passing the
  // exchange's 20015 through as NOT_FOUND.
  if (absl::Status st = symbols_->CheckStreamable(symbol); !st.ok()) return FinishNow(context, st);
  const uint32_t depth = request->depth();
  if (depth != 0 && depth != 1 && depth != 5 && depth != 15 && depth != 50) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  absl::StrCat("depth ", depth, " is not offered: use 1, 5, 15 or 50 (0 = deepest)")));
  }
  response->set_symbol(symbol);
  if (depth <= 15) {
    for (uint32_t d : {15u, 5u, 1u}) {
      if (depth != 0 && d < depth) break;
      auto e = CachedEvent(hub_, TopicKey("depth_book" + std::to_string(d), symbol));
      if (!e || !e->has_order_book()) continue;
      *response->mutable_book() = e->order_book();
      Truncate(response->mutable_book(), depth);
      response->mutable_book()->set_depth(depth == 0 ? d : depth);
      response->set_exchange_ts_ms(e->exchange_ts_ms());
      response->set_gateway_ts_ns(e->gateway_ts_ns());
      response->set_source(v1::GetOrderBookResponse::SOURCE_STREAM_CACHE);
      return FinishNow(context, absl::OkStatus());
    }
  }
  if (rest_ == nullptr) return FinishNow(context, absl::UnavailableError("no cached book and no REST client"));
  // No live cache (a streamed book whose feed is not live is never answered from it): if REST
  // fails too, the error says why there is no fresh book.
  std::string feed_state;
  for (uint32_t d : {15u, 5u, 1u}) {
    const TopicRing* ring = hub_->FindTopic(TopicKey("depth_book" + std::to_string(d), symbol));
    if (ring == nullptr || ring->health() == TopicHealth::kLive) continue;
    switch (ring->health()) {
      case TopicHealth::kReconnecting: feed_state = "RECONNECTING (websocket down)"; break;
      case TopicHealth::kStale: feed_state = "STALE (websocket silent)"; break;
      default: feed_state = "DEGRADED (websocket down or silent; REST polls serve it)"; break;
    }
    break;
  }
  auto* reactor = new RestCallReactor();
  const uint32_t limit = depth == 0 ? 50 : depth;
  rest_->Get(absl::StrCat("/api/v1/futures/market/depth?symbol=", symbol, "&limit=", limit), RestPriority::kForeground,
             [this, call = reactor->call(), response, limit, symbol, feed_state](absl::StatusOr<std::string> body) {
               call->Complete([&] {
                 auto book = body.ok() ? ParseDepth(*body) : absl::StatusOr<v1::OrderBook>(body.status());
                 if (!book.ok() && !feed_state.empty()) {
                   return ToGrpcStatus(absl::Status(
                       book.status().code(),
                       absl::StrCat("no fresh book for ", symbol, ": its stream feed is ", feed_state,
                                    " and the REST depth call failed: ", std::string(book.status().message()))));
                 }
                 if (!book.ok()) return ToGrpcStatus(book.status());
                 *response->mutable_book() = std::move(*book);
                 Truncate(response->mutable_book(), limit);
                 response->mutable_book()->set_depth(limit);
                 response->set_gateway_ts_ns(clock_.NowNs());
                 response->set_source(v1::GetOrderBookResponse::SOURCE_REST);
                 return grpc::Status::OK;
               });
             },
             StillWanted(reactor->call()));
  return reactor;
}

grpc::ServerUnaryReactor* MarketDataServiceImpl::GetKlines(grpc::CallbackServerContext* context,
                                                           const v1::GetKlinesRequest* request,
                                                           v1::GetKlinesResponse* response) {
  const std::string symbol = UpperSymbol(request->symbol());
  if (symbol.empty()) return FinishNow(context, absl::InvalidArgumentError("symbol is empty, e.g. \"BTCUSDT\""));
  if (!symbols_->Find(symbol)) {
    absl::Status st = symbols_->CheckStreamable(symbol);
    return FinishNow(context, st.ok() ? absl::InvalidArgumentError("unknown symbol") : st);
  }
  const v1::KlineInterval interval = request->interval();
  if (interval == v1::KLINE_INTERVAL_UNSPECIFIED) {
    return FinishNow(context, absl::InvalidArgumentError("interval is required, e.g. KLINE_INTERVAL_1M"));
  }
  if (IntervalMs(interval) == 0) {
    return FinishNow(context, absl::InvalidArgumentError(absl::StrCat(
                                  "interval: unknown value ", static_cast<int>(interval),
                                  " (a newer client's enum?); use one of the KlineInterval values, e.g. KLINE_INTERVAL_1M")));
  }
  if (RestIntervalName(interval).empty()) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "KLINE_INTERVAL_3M is not offered by the exchange's REST kline endpoint; "
                                  "use KLINE_INTERVAL_1M (or stream 3m candles with Subscribe)"));
  }
  const int pt = request->price_type();
  if (pt < v1::PRICE_TYPE_UNSPECIFIED || pt > v1::PRICE_TYPE_MARK) {
    return FinishNow(context, absl::InvalidArgumentError(absl::StrCat("price_type: unknown value ", pt)));
  }
  const uint32_t limit = request->limit() == 0 ? 200 : request->limit();
  if (limit > static_cast<uint32_t>(options_.max_klines)) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  absl::StrCat("limit ", limit, " is above the maximum of ", options_.max_klines)));
  }
  if (request->start_time_ms() < 0 || request->end_time_ms() < 0) {
    return FinishNow(context, absl::InvalidArgumentError("start_time_ms and end_time_ms must not be negative"));
  }
  const int64_t end = request->end_time_ms() == 0 ? clock_.NowMs() : request->end_time_ms();
  const bool newest = request->start_time_ms() == 0;
  const int64_t start = newest ? std::max<int64_t>(0, end - static_cast<int64_t>(limit) * IntervalMs(interval))
                               : request->start_time_ms();
  if (start > end && request->end_time_ms() == 0) {
    // The end is the server's clock, which the client did not send: say what it did send.
    return FinishNow(context, absl::InvalidArgumentError(absl::StrCat(
                                  "start_time_ms ", start, " is in the future (the server's clock reads ", end,
                                  ") and no end_time_ms was given: set start_time_ms to a past time, or leave "
                                  "it 0 for the newest candles")));
  }
  if (start > end) {
    return FinishNow(context, absl::InvalidArgumentError(absl::StrCat(
                                  "start_time_ms ", start, " is after end_time_ms ", end,
                                  ": set start_time_ms at or before end_time_ms")));
  }
  if (rest_ == nullptr) return FinishNow(context, absl::UnavailableError("no REST client"));
  auto* reactor = new RestCallReactor();
  auto pager = std::make_shared<KlinePager>(
      rest_, reactor->call(), context, response, symbol, interval, pt == v1::PRICE_TYPE_MARK ? v1::PRICE_TYPE_MARK : v1::PRICE_TYPE_LAST,
      start, end, limit, newest);
  pager->Next();
  return reactor;
}

grpc::ServerUnaryReactor* MarketDataServiceImpl::ListSymbols(grpc::CallbackServerContext* context,
                                                             const v1::ListSymbolsRequest* request,
                                                             v1::ListSymbolsResponse* response) {
  if (!symbols_->loaded()) {
    return FinishNow(context, absl::UnavailableError("the symbol list has not been loaded from the exchange yet"));
  }
  std::vector<std::string> only;
  for (int i = 0; i < request->symbols_size(); ++i) {
    const std::string sym = UpperSymbol(request->symbols(i));
    if (!symbols_->Find(sym)) {
      return FinishNow(context, absl::InvalidArgumentError(absl::StrCat("symbols[", i, "]: unknown symbol '",
                                                                        QuoteSymbol(request->symbols(i)), "'")));
    }
    only.push_back(sym);
  }
  for (auto& info : symbols_->List(only)) *response->add_symbols() = std::move(info);
  response->set_refreshed_at_ns(symbols_->refreshed_at_ns());
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* MarketDataServiceImpl::GetTickers(grpc::CallbackServerContext* context,
                                                            const v1::GetTickersRequest* request,
                                                            v1::GetTickersResponse* response) {
  if (!symbols_->loaded()) {
    return FinishNow(context, absl::UnavailableError("the symbol list has not been loaded from the exchange yet"));
  }
  std::vector<std::string> wanted;
  for (int i = 0; i < request->symbols_size(); ++i) {
    const std::string sym = UpperSymbol(request->symbols(i));
    absl::Status st = symbols_->CheckStreamable(sym);
    if (!st.ok()) return FinishNow(context, absl::Status(st.code(), absl::StrCat("symbols[", i, "]: ", std::string(st.message()))));
    wanted.push_back(sym);
  }
  const bool all = wanted.empty();
  if (all) {
    for (const auto& info : symbols_->List()) {
      if (info.status() == v1::SYMBOL_STATUS_OPEN || info.status() == v1::SYMBOL_STATUS_CANCEL_ONLY) {
        wanted.push_back(info.symbol());
      }
    }
  }
  auto cached = std::make_shared<std::map<std::string, v1::SymbolTicker>>();
  std::vector<std::string> missing;
  for (const auto& sym : wanted) {
    auto e = CachedEvent(hub_, TopicKey("ticker", sym));
    if (e && e->has_ticker()) {
      v1::SymbolTicker t;
      t.set_symbol(sym);
      *t.mutable_ticker() = e->ticker();
      t.set_exchange_ts_ms(e->exchange_ts_ms());
      t.set_gateway_ts_ns(e->gateway_ts_ns());
      (*cached)[sym] = std::move(t);
    } else {
      missing.push_back(sym);
    }
  }
  auto respond = [response](const std::map<std::string, v1::SymbolTicker>& m) {
    for (const auto& [sym, t] : m) *response->add_tickers() = t;
  };
  if (missing.empty()) {
    respond(*cached);
    return FinishNow(context, absl::OkStatus());
  }
  if (rest_ == nullptr) return FinishNow(context, absl::UnavailableError("no REST client"));
  auto* reactor = new RestCallReactor();
  std::string target = TickersTarget(all ? std::vector<std::string>{} : missing);
  auto missing_set = std::make_shared<std::vector<std::string>>(std::move(missing));
  rest_->Get(std::move(target), RestPriority::kForeground,
             [this, call = reactor->call(), cached, missing_set, respond](absl::StatusOr<std::string> body) {
               call->Complete([&] {
                 auto tickers =
                     body.ok() ? ParseTickers(*body) : absl::StatusOr<std::vector<RestTicker>>(body.status());
                 if (!tickers.ok()) return ToGrpcStatus(tickers.status());
                 const int64_t now = clock_.NowNs();
                 for (auto& rt : *tickers) {
                   if (std::find(missing_set->begin(), missing_set->end(), rt.symbol) == missing_set->end()) continue;
                   v1::SymbolTicker t;
                   t.set_symbol(rt.symbol);
                   *t.mutable_ticker() = std::move(rt.ticker);
                   t.set_gateway_ts_ns(now);
                   (*cached)[rt.symbol] = std::move(t);
                 }
                 respond(*cached);
                 return grpc::Status::OK;
               });
             },
             StillWanted(reactor->call()));
  return reactor;
}

absl::StatusOr<std::string> MarketDataServiceImpl::RestSymbol(const std::string& raw) const {
  const std::string symbol = UpperSymbol(raw);
  if (symbol.empty()) return absl::InvalidArgumentError("symbol is empty, e.g. \"BTCUSDT\"");
  if (absl::Status st = symbols_->CheckStreamable(symbol); !st.ok()) return st;
  if (rest_ == nullptr) return absl::UnavailableError("no REST client");
  return symbol;
}

grpc::ServerUnaryReactor* MarketDataServiceImpl::GetFundingRate(grpc::CallbackServerContext* context,
                                                                const v1::GetFundingRateRequest* request,
                                                                v1::GetFundingRateResponse* response) {
  auto checked = RestSymbol(request->symbol());
  if (!checked.ok()) return FinishNow(context, checked.status());
  const std::string symbol = *checked;
  return ReplyFromRest(rest_, absl::StrCat("/api/v1/futures/market/funding_rate?symbol=", symbol),
                       ParseFundingRate, [response, symbol](v1::GetFundingRateResponse fr) {
                         *response = std::move(fr);
                         if (response->symbol().empty()) response->set_symbol(symbol);
                       });
}

grpc::ServerUnaryReactor* MarketDataServiceImpl::ListFundingRates(grpc::CallbackServerContext* context,
                                                                  const v1::ListFundingRatesRequest* request,
                                                                  v1::ListFundingRatesResponse* response) {
  std::vector<std::string> wanted;
  for (const auto& raw : request->symbols()) {
    const std::string symbol = UpperSymbol(raw);
    if (symbol.empty()) return FinishNow(context, absl::InvalidArgumentError("symbols: an empty symbol, e.g. \"BTCUSDT\""));
    if (!symbols_->Find(symbol)) {
      return FinishNow(context, absl::InvalidArgumentError(absl::StrCat("symbols: unknown symbol ", QuoteSymbol(symbol))));
    }
    wanted.push_back(symbol);
  }
  if (rest_ == nullptr) return FinishNow(context, absl::UnavailableError("no REST client"));
  return ReplyFromRest(rest_, "/api/v1/futures/market/funding_rate/batch", ParseFundingRates,
                       [response, wanted](std::vector<v1::GetFundingRateResponse> rates) {
                         for (auto& r : rates) {
                           if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), r.symbol()) == wanted.end()) {
                             continue;
                           }
                           *response->add_rates() = std::move(r);
                         }
                       });
}

grpc::ServerUnaryReactor* MarketDataServiceImpl::GetFundingRateHistory(
    grpc::CallbackServerContext* context, const v1::GetFundingRateHistoryRequest* request,
    v1::GetFundingRateHistoryResponse* response) {
  auto checked = RestSymbol(request->symbol());
  if (!checked.ok()) return FinishNow(context, checked.status());
  const std::string symbol = *checked;
  if (request->start_time_ms() < 0 || request->end_time_ms() < 0) {
    return FinishNow(context, absl::InvalidArgumentError("start_time_ms and end_time_ms must not be negative"));
  }
  if (request->start_time_ms() > 0 && request->end_time_ms() > 0 && request->start_time_ms() > request->end_time_ms()) {
    return FinishNow(context, absl::InvalidArgumentError(absl::StrCat(
                                  "start_time_ms ", request->start_time_ms(), " is after end_time_ms ",
                                  request->end_time_ms())));
  }
  const uint32_t limit = request->limit() == 0 ? 100 : request->limit();
  if (limit > 200) {
    return FinishNow(context, absl::InvalidArgumentError(absl::StrCat(
                                  "limit ", limit, " is above the exchange's 200 per call; page with end_time_ms")));
  }
  // The reference spells the start parameter "starTime"; the intended "startTime" goes too.
  std::string path = absl::StrCat("/api/v1/futures/market/get_funding_rate_history?symbol=", symbol, "&limit=", limit);
  if (request->start_time_ms() > 0) {
    absl::StrAppend(&path, "&starTime=", request->start_time_ms(), "&startTime=", request->start_time_ms());
  }
  if (request->end_time_ms() > 0) absl::StrAppend(&path, "&endTime=", request->end_time_ms());
  return ReplyFromRest(rest_, std::move(path), ParseFundingRateHistory,
                       [response, symbol](std::vector<v1::FundingRecord> records) {
                         response->set_symbol(symbol);
                         for (auto& r : records) *response->add_records() = std::move(r);
                       });
}

grpc::ServerUnaryReactor* MarketDataServiceImpl::GetPositionTiers(grpc::CallbackServerContext* context,
                                                                  const v1::GetPositionTiersRequest* request,
                                                                  v1::GetPositionTiersResponse* response) {
  auto checked = RestSymbol(request->symbol());
  if (!checked.ok()) return FinishNow(context, checked.status());
  const std::string symbol = *checked;
  return ReplyFromRest(rest_, absl::StrCat("/api/v1/futures/position/get_position_tiers?symbol=", symbol),
                       ParsePositionTiers, [response, symbol](std::vector<v1::PositionTier> tiers) {
                         response->set_symbol(symbol);
                         for (auto& t : tiers) *response->add_tiers() = std::move(t);
                       });
}

}  // namespace bx::md

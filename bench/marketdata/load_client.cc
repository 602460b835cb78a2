// bench-md-load: the market-data benchmark's client. Opens N Subscribe streams (gRPC callback
// API, typed protobuf parsing of every SubscribeResponse), counts events per stream after a
// warm-up, checks that every stream saw every sequence number with no Gap, and measures the
// gateway -> client latency of each event (client receive wall time - gateway_ts_ns; both on this
// machine's clock). Prints one JSON line.
//
// Each stream parses into a message on its own protobuf arena, reset after every message (the
// arena's first block is preallocated, so a steady stream parses without malloc or free); that
// is how a client that wants throughput should read a batched stream. --no-arena parses into a
// heap message that is reused, as gRPC's examples do, for comparison: the allocator then costs
// about half the client's CPU.
//
// --api callback (default) reads through gRPC's callback API: one reactor per stream, all run by
// gRPC's threads. --api sync reads each stream with a blocking Read() on a thread of its own; in
// gRPC 1.51 that thread polls the connection itself, while callback-API reads are taken off the
// socket by gRPC's "nexting" thread and handed over (one more wake-up per message).
//
// The build links libprotobuf statically, and the client keeps freed heap instead of returning it
// after every message (--trim-heap: glibc's default): docs/MARKETDATA.md, "Reading fast in C++".
//
//   bench-md-load --target 127.0.0.1:50051 --streams 10 --symbols BTCUSDT --channel trade
//                 --seconds 5 --warmup 1 [--channels 4] [--latency] [--no-arena] [--api sync|callback]
//                 [--trim-heap]
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include "bitunix/marketdata/v1/marketdata.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace {

namespace v1 = ::bitunix::marketdata::v1;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string target = "127.0.0.1:50051";
  int streams = 1;
  int channels = 0;  // 0 = one per 10 streams (at least 1)
  std::vector<std::string> symbols = {"BTCUSDT"};
  std::string channel = "trade";
  double seconds = 5;
  double warmup = 1;
  bool latency = false;
  bool arena = true;
  bool sync_api = false;
  bool keep_heap = true;
};

// The arena's preallocated first block per stream. A full batch of trades (the gateway caps a
// write at a few hundred events) needs ~150 KiB; a larger message spills into blocks the arena
// mallocs and frees on reset.
constexpr size_t kArenaBlockBytes = 512 << 10;

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// What one stream has seen: the message buffer it parses into (arena or heap), the sequence and
// gap checks and the counters. Used by both client APIs.
class StreamState {
 public:
  StreamState(bool latency, bool use_arena) : latency_(latency) {
    if (use_arena) {
      block_.reset(new char[kArenaBlockBytes]);  // not zeroed: an idle stream's pages stay untouched
      google::protobuf::ArenaOptions opts;
      opts.initial_block = block_.get();
      opts.initial_block_size = kArenaBlockBytes;
      arena_ = std::make_unique<google::protobuf::Arena>(opts);
      resp_ = google::protobuf::Arena::CreateMessage<v1::SubscribeResponse>(arena_.get());
    } else {
      heap_resp_ = std::make_unique<v1::SubscribeResponse>();
      resp_ = heap_resp_.get();
    }
  }

  // The message the next read parses into.
  v1::SubscribeResponse* buffer() { return resp_; }

  // Accounts for the message just read into buffer() and prepares the buffer for the next one.
  void OnMessage() {
    const int64_t now = latency_ && measuring_.load(std::memory_order_relaxed) ? WallNs() : 0;
    uint64_t data = 0;
    for (const auto& e : resp_->events()) {
      if (e.seq() != next_seq_) ++seq_breaks_;
      next_seq_ = e.seq() + 1;
      if (e.has_gap()) ++gaps_;
      if (e.has_trade() || e.has_order_book() || e.has_ticker() || e.has_mark_price() || e.has_kline()) {
        ++data;
        if (now != 0 && !e.snapshot()) lat_ns_.push_back(now - e.gateway_ts_ns());
      }
    }
    events_.fetch_add(data, std::memory_order_relaxed);
    messages_.fetch_add(1, std::memory_order_relaxed);
    if (arena_ != nullptr) {
      // Drop the whole message at once and parse the next one into fresh arena space.
      arena_->Reset();
      resp_ = google::protobuf::Arena::CreateMessage<v1::SubscribeResponse>(arena_.get());
    }
  }

  void SetMeasuring(bool m) { measuring_.store(m, std::memory_order_relaxed); }
  uint64_t events() const { return events_.load(std::memory_order_relaxed); }
  uint64_t messages() const { return messages_.load(std::memory_order_relaxed); }
  // Read after the stream finished (no more OnMessage).
  uint64_t gaps() const { return gaps_; }
  uint64_t seq_breaks() const { return seq_breaks_; }
  const std::vector<int64_t>& latencies() const { return lat_ns_; }

 private:
  const bool latency_;
  std::unique_ptr<char[]> block_;
  std::unique_ptr<google::protobuf::Arena> arena_;
  std::unique_ptr<v1::SubscribeResponse> heap_resp_;
  v1::SubscribeResponse* resp_ = nullptr;  // on arena_ (reset after each message) or heap_resp_
  uint64_t next_seq_ = 1;
  uint64_t gaps_ = 0;
  uint64_t seq_breaks_ = 0;
  std::vector<int64_t> lat_ns_;
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> messages_{0};
  std::atomic<bool> measuring_{false};
};

// One Subscribe stream, whichever API reads it.
class Reader {
 public:
  virtual ~Reader() = default;
  StreamState& state() { return state_; }
  void Cancel() { ctx_.TryCancel(); }
  // Waits for the stream to finish after Cancel or its end (the callback reader gives up after
  // 10 s; a cancelled blocking Read() returns at once).
  virtual void WaitDone() = 0;
  virtual grpc::Status status() = 0;

 protected:
  Reader(bool latency, bool use_arena) : state_(latency, use_arena) {
    ctx_.AddMetadata("x-client-id", "bench-md-load");
    // Wait for the connection instead of failing the call when its first attempt fails: about one
    // run in 50 a connect on loopback failed at once ("failed to connect to all addresses ...
    // No such file or directory"), and that stream ended before it began. A consumer that must
    // not miss its start does the same (or retries).
    ctx_.set_wait_for_ready(true);
  }
  StreamState state_;
  grpc::ClientContext ctx_;
};

class CallbackReader final : public Reader, public grpc::ClientReadReactor<v1::SubscribeResponse> {
 public:
  CallbackReader(v1::MarketDataService::Stub* stub, const v1::SubscribeRequest& req, bool latency, bool use_arena)
      : Reader(latency, use_arena) {
    stub->async()->Subscribe(&ctx_, &req, this);
    StartRead(state_.buffer());
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended: OnDone follows
    state_.OnMessage();
    StartRead(state_.buffer());
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }

  void WaitDone() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return done_; });
  }
  grpc::Status status() override {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

class SyncReader final : public Reader {
 public:
  SyncReader(v1::MarketDataService::Stub* stub, const v1::SubscribeRequest& req, bool latency, bool use_arena)
      : Reader(latency, use_arena), thread_([this, stub, req] { Run(stub, req); }) {}
  ~SyncReader() override {
    if (thread_.joinable()) {
      Cancel();
      thread_.join();
    }
  }

  void WaitDone() override {
    if (thread_.joinable()) thread_.join();
  }
  grpc::Status status() override { return status_; }

 private:
  void Run(v1::MarketDataService::Stub* stub, const v1::SubscribeRequest& req) {
    auto reader = stub->Subscribe(&ctx_, req);
    while (reader->Read(state_.buffer())) state_.OnMessage();
    status_ = reader->Finish();
  }

  grpc::Status status_;  // written by thread_ before it ends; read after WaitDone
  std::thread thread_;   // last: starts once everything it uses exists
};

bool ParseApi(const std::string& v, Options* o) {
  if (v != "sync" && v != "callback") return false;
  o->sync_api = v == "sync";
  return true;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--target") o->target = next();
    else if (a == "--streams") o->streams = std::atoi(next().c_str());
    else if (a == "--channels") o->channels = std::atoi(next().c_str());
    else if (a == "--symbols") o->symbols = absl::StrSplit(next(), ',', absl::SkipEmpty());
    else if (a == "--channel") o->channel = next();
    else if (a == "--seconds") o->seconds = std::atof(next().c_str());
    else if (a == "--warmup") o->warmup = std::atof(next().c_str());
    else if (a == "--latency") o->latency = true;
    else if (a == "--no-arena") o->arena = false;
    else if (a == "--trim-heap") o->keep_heap = false;
    else if ((a == "--api" || a.rfind("--api=", 0) == 0) && ParseApi(a == "--api" ? next() : a.substr(6), o)) {
    }
    else {
      std::fprintf(stderr,
                   "usage: bench-md-load --target H:P --streams N [--channels M] --symbols A,B --channel "
                   "trade|book|ticker --seconds S --warmup W [--latency] [--no-arena] [--api sync|callback] [--trim-heap]\n");
      return false;
    }
  }
  return o->streams > 0 && !o->symbols.empty();
}

double Percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(i), v.end());
  return static_cast<double>(v[i]) / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) return 2;
  if (o.keep_heap) {
    // gRPC's receive buffers come and go with every message. By default glibc hands the freed top
    // of a thread's heap back (madvise) and the next recvmsg faults the pages in again: ~6 % of
    // the client's CPU in page faults and TLB shoot-downs at millions of events a second. Keep
    // freed memory in the process instead (what a long-running consumer would configure).
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
  }
  v1::SubscribeRequest req;
  for (const auto& s : o.symbols) req.add_symbols(s);
  if (o.channel == "trade") {
    req.add_channels(v1::CHANNEL_TRADE);
  } else if (o.channel == "book") {
    req.add_channels(v1::CHANNEL_ORDER_BOOK);
  } else if (o.channel == "ticker") {
    req.add_channels(v1::CHANNEL_TICKER);
  } else {
    std::fprintf(stderr, "unknown --channel %s\n", o.channel.c_str());
    return 2;
  }
  const int nchannels = o.channels > 0 ? o.channels : std::max(1, o.streams / 10);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::MarketDataService::Stub>> stubs;
  for (int i = 0; i < nchannels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("bench.channel_index", i);  // distinct args: a separate HTTP/2 connection each
    args.SetMaxReceiveMessageSize(16 << 20);
    channels.push_back(grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::MarketDataService::NewStub(channels.back()));
  }
  std::vector<std::unique_ptr<Reader>> readers;
  for (int i = 0; i < o.streams; ++i) {
    auto* stub = stubs[static_cast<size_t>(i % nchannels)].get();
    if (o.sync_api) {
      readers.push_back(std::make_unique<SyncReader>(stub, req, o.latency, o.arena));
    } else {
      readers.push_back(std::make_unique<CallbackReader>(stub, req, o.latency, o.arena));
    }
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  std::vector<uint64_t> start(readers.size());
  for (size_t i = 0; i < readers.size(); ++i) {
    readers[i]->state().SetMeasuring(true);
    start[i] = readers[i]->state().events();
  }
  const double cpu0 = CpuSeconds();
  const auto t0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const double cpu = CpuSeconds() - cpu0;
  std::vector<double> rates;
  uint64_t total = 0;
  for (size_t i = 0; i < readers.size(); ++i) {
    readers[i]->state().SetMeasuring(false);
    const uint64_t n = readers[i]->state().events() - start[i];
    total += n;
    rates.push_back(static_cast<double>(n) / elapsed);
  }
  uint64_t messages = 0;
  for (auto& r : readers) messages += r->state().messages();
  // A stream that got nothing in the window: say what it had seen before it (messages include
  // the stream's initial status), so a stall can be told from a stream that never started.
  int idle_streams = 0;
  std::string idle_detail;  // JSON array of [stream, events before the window, messages]
  for (size_t i = 0; i < readers.size(); ++i) {
    if (readers[i]->state().events() != start[i]) continue;
    ++idle_streams;
    absl::StrAppend(&idle_detail, idle_detail.empty() ? "" : ",", "[", i, ",", start[i], ",",
                    readers[i]->state().messages(), "]");
  }
  for (auto& r : readers) r->Cancel();
  for (auto& r : readers) r->WaitDone();
  uint64_t gaps = 0, breaks = 0, ended = 0;
  std::string ended_detail;  // JSON array of [status code, message] of streams that ended early
  std::vector<int64_t> lat;
  for (auto& r : readers) {
    gaps += r->state().gaps();
    breaks += r->state().seq_breaks();
    if (r->status().error_code() != grpc::StatusCode::CANCELLED) {
      ++ended;
      // How it ended, as JSON: [code, "message"] (quotes and backslashes in the message replaced).
      absl::StrAppend(&ended_detail, ended_detail.empty() ? "" : ",", "[", r->status().error_code(), ",\"",
                      absl::StrReplaceAll(r->status().error_message(), {{"\"", "'"}, {"\\", "/"}}), "\"]");
    }
    lat.insert(lat.end(), r->state().latencies().begin(), r->state().latencies().end());
  }
  std::sort(rates.begin(), rates.end());
  const double median = rates[rates.size() / 2];
  std::printf(
      "{\"streams\":%d,\"channels\":%d,\"seconds\":%.2f,\"events\":%llu,\"events_per_s\":%.0f,"
      "\"per_stream_min\":%.0f,\"per_stream_median\":%.0f,\"per_stream_max\":%.0f,\"events_per_message\":%.1f,"
      "\"gaps\":%llu,\"seq_breaks\":%llu,\"ended_early\":%llu,\"streams_without_events\":%d,"
      "\"client_cpu_pct\":%.0f,\"arena\":%s,\"api\":\"%s\"",
      o.streams, nchannels, elapsed, static_cast<unsigned long long>(total), static_cast<double>(total) / elapsed,
      rates.front(), median, rates.back(),
      messages > 0 ? static_cast<double>(total) / static_cast<double>(messages) : 0.0,
      static_cast<unsigned long long>(gaps), static_cast<unsigned long long>(breaks),
      static_cast<unsigned long long>(ended), idle_streams, 100.0 * cpu / elapsed, o.arena ? "true" : "false",
      o.sync_api ? "sync" : "callback");
  if (idle_streams > 0) std::printf(",\"without_events\":[%s]", idle_detail.c_str());
  if (ended > 0) std::printf(",\"ended\":[%s]", ended_detail.c_str());
  if (o.latency) {
    std::printf(",\"latency_n\":%zu,\"latency_p50_us\":%.1f,\"latency_p99_us\":%.1f,\"latency_p999_us\":%.1f",
                lat.size(), Percentile(lat, 0.5), Percentile(lat, 0.99), Percentile(lat, 0.999));
  }
  std::printf("}\n");
  return 0;
}

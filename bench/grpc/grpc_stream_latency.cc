// One-way latency of a server-streaming gRPC call on loopback: the server stamps each event with
// its wall clock when a feeder thread produces it, the client (a separate process) subtracts that
// from its own wall clock when it reads the event. Two server designs, written as
// bitunix-marketdata could be:
//   callback  the callback API (ServerWriteReactor): a dispatcher thread woken by the feeder starts
//             a write when none is in flight, OnWriteDone (on gRPC's thread) starts the next one;
//   async     the async API: one thread polls the server's completion queue and does every write;
//             the feeder wakes it with a grpc::Alarm when no write is in flight.
// Every write carries all events queued since the last one. The client reads with the sync API
// (a blocking Read on its own thread) or the callback API.
//
//   bench-grpc-stream-latency [events=20000] [runs=3] [only=callback|async|] [client=sync|callback]
//                             [rate=10000] [extras=health]
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bitunix/marketdata/v1/marketdata.grpc.pb.h"

namespace v1 = bitunix::marketdata::v1;

namespace {

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One event, encoded as a whole SubscribeResponse (concatenations of these parse as one).
std::string EncodeEvent(uint64_t seq) {
  v1::SubscribeResponse r;
  auto* e = r.add_events();
  e->set_seq(seq);
  e->set_symbol("BTCUSDT");
  e->set_channel(v1::CHANNEL_TRADE);
  e->set_exchange_ts_ms(WallNs() / 1000000);
  e->set_gateway_ts_ns(WallNs());
  auto* t = e->mutable_trade();
  t->set_price("67321.5");
  t->set_qty("0.013");
  return r.SerializeAsString();
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

// What the feeder hands to the writer: events queued since the last write.
struct Queue {
  std::mutex mu;
  std::string pending;  // encoded events not yet written
  bool in_flight = false;
  bool done = false;
};

// ---- callback API -----------------------------------------------------------------------------

class CallbackServer final : public v1::MarketDataService::WithRawCallbackMethod_Subscribe<
                                 v1::MarketDataService::CallbackService> {
 public:
  class Reactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
   public:
    explicit Reactor(CallbackServer* s) : s_(s) {}
    void OnWriteDone(bool ok) override {
      std::lock_guard<std::mutex> lock(s_->q_.mu);
      s_->q_.in_flight = false;
      if (ok && !s_->q_.pending.empty()) WriteLocked();
    }
    void OnCancel() override {}
    void OnDone() override {
      std::lock_guard<std::mutex> lock(s_->q_.mu);
      s_->q_.done = true;
      s_->reactor_ = nullptr;
      delete this;
    }
    void WriteLocked() {  // q_.mu held
      buf_ = ToBuffer(s_->q_.pending);
      s_->q_.pending.clear();
      s_->q_.in_flight = true;
      StartWrite(&buf_);
    }

   private:
    CallbackServer* s_;
    grpc::ByteBuffer buf_;
  };

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext*, const grpc::ByteBuffer*) override {
    auto* r = new Reactor(this);
    std::lock_guard<std::mutex> lock(q_.mu);
    reactor_ = r;
    return r;
  }

  // Feeder side: queue an event and wake the dispatcher when no write is in flight (or, inline,
  // start that write on the feeder's own thread).
  void Push(const std::string& ev, bool inline_write) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(q_.mu);
      q_.pending += ev;
      wake = !q_.in_flight && reactor_ != nullptr;
      if (wake && inline_write) {
        reactor_->WriteLocked();
        return;
      }
    }
    if (wake) cv_.notify_one();
  }

  // The dispatcher thread: starts the write of an idle stream with pending data.
  void Dispatch(const std::atomic<bool>& stop) {
    std::unique_lock<std::mutex> lock(q_.mu);
    while (!stop.load()) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      if (reactor_ != nullptr && !q_.in_flight && !q_.pending.empty()) reactor_->WriteLocked();
    }
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(q_.mu);
    if (reactor_ != nullptr) reactor_->Finish(grpc::Status::OK);
  }

 private:
  Queue q_;
  std::condition_variable cv_;
  Reactor* reactor_ = nullptr;  // guarded by q_.mu
};

// ---- async API --------------------------------------------------------------------------------

class AsyncServer {
 public:
  using Service = v1::MarketDataService::WithRawMethod_Subscribe<v1::MarketDataService::AsyncService>;

  AsyncServer(Service* svc, grpc::ServerCompletionQueue* cq) : cq_(cq), writer_(&ctx_) {
    ctx_.AsyncNotifyWhenDone(&kDone);
    svc->RequestSubscribe(&ctx_, &request_, &writer_, cq_, cq_, &kAccepted);
  }

  void Push(const std::string& ev) {
    std::lock_guard<std::mutex> lock(q_.mu);
    q_.pending += ev;
    if (started_ && !q_.in_flight && !alarm_pending_ && !q_.done) {
      alarm_pending_ = true;
      // An alarm set far ahead and cancelled at once completes on the queue (ok = false) from this
      // thread, without a timer thread in between.
      alarm_.Set(cq_, gpr_inf_future(GPR_CLOCK_MONOTONIC), &kWake);
      alarm_.Cancel();
    }
  }

  // The completion-queue thread: every write starts here.
  void Run() {
    void* tag;
    bool ok;
    while (cq_->Next(&tag, &ok)) {
      std::lock_guard<std::mutex> lock(q_.mu);
      if (tag == &kAccepted) {
        started_ = ok;
      } else if (tag == &kWake) {
        alarm_pending_ = false;
      } else if (tag == &kWrite) {
        q_.in_flight = false;
        if (!ok) q_.done = true;
      } else if (tag == &kDone) {
        q_.done = true;
      } else if (tag == &kFinish) {
        q_.done = true;
      }
      if (started_ && !q_.done && !q_.in_flight && !q_.pending.empty()) {
        buf_ = ToBuffer(q_.pending);
        q_.pending.clear();
        q_.in_flight = true;
        writer_.Write(buf_, &kWrite);
      }
    }
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(q_.mu);
    if (started_ && !q_.done && !q_.in_flight) {
      q_.done = true;
      writer_.Finish(grpc::Status::OK, &kFinish);
    }
  }

 private:
  static inline char kAccepted, kWake, kWrite, kDone, kFinish;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  grpc::ByteBuffer request_;
  grpc::ServerAsyncWriter<grpc::ByteBuffer> writer_;
  grpc::ByteBuffer buf_;
  grpc::Alarm alarm_;
  Queue q_;
  bool started_ = false;
  bool alarm_pending_ = false;
};

// ---- client -----------------------------------------------------------------------------------

double Percentile(std::vector<int64_t>& v, double q) {
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(i), v.end());
  return static_cast<double>(v[i]) / 1e3;
}

int RunClient(const std::string& target, int events, bool callback) {
  auto stub = v1::MarketDataService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  v1::SubscribeRequest req;
  req.add_symbols("BTCUSDT");
  req.add_channels(v1::CHANNEL_TRADE);
  const int warmup = events / 10;
  std::vector<int64_t> lat;
  lat.reserve(static_cast<size_t>(events));
  int seen = 0;
  auto account = [&](const v1::SubscribeResponse& r) {
    const int64_t now = WallNs();
    for (const auto& e : r.events()) {
      if (seen++ >= warmup) lat.push_back(now - e.gateway_ts_ns());
    }
  };
  grpc::ClientContext ctx;
  if (!callback) {
    auto reader = stub->Subscribe(&ctx, req);
    v1::SubscribeResponse r;
    while (seen < events + warmup && reader->Read(&r)) account(r);
    ctx.TryCancel();
    reader->Finish();
  } else {
    struct R : grpc::ClientReadReactor<v1::SubscribeResponse> {
      std::function<void(const v1::SubscribeResponse&)> on;
      std::function<bool()> enough;
      v1::SubscribeResponse r;
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      void OnReadDone(bool ok) override {
        if (!ok) return;
        on(r);
        if (!enough()) StartRead(&r);
      }
      void OnDone(const grpc::Status&) override {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
        cv.notify_all();
      }
    } reactor;
    reactor.on = account;
    reactor.enough = [&] {
      if (seen < events + warmup) return false;
      ctx.TryCancel();
      return true;
    };
    stub->async()->Subscribe(&ctx, &req, &reactor);
    reactor.StartRead(&reactor.r);
    reactor.StartCall();
    std::unique_lock<std::mutex> lock(reactor.mu);
    reactor.cv.wait(lock, [&] { return reactor.done; });
  }
  if (lat.empty()) return 1;
  std::printf("%zu %.1f %.1f %.1f\n", lat.size(), Percentile(lat, 0.5), Percentile(lat, 0.99),
              Percentile(lat, 0.999));
  return 0;
}

// ---- driver -----------------------------------------------------------------------------------

// Feeds `rate` events/s into `push` until `stop`.
void Feed(int rate, const std::atomic<bool>& stop, const std::function<void(const std::string&)>& push) {
  const auto period = std::chrono::nanoseconds(1000000000LL / rate);
  auto next = std::chrono::steady_clock::now();
  uint64_t seq = 1;
  while (!stop.load()) {
    next += period;
    std::this_thread::sleep_until(next);
    push(EncodeEvent(seq++));
  }
}

// Starts this binary as the client and returns its one output line.
std::string SpawnClient(const std::string& target, int events, const std::string& client) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string ev = std::to_string(events);
  std::vector<char*> argv = {const_cast<char*>("bench-grpc-stream-latency"), const_cast<char*>("--client"),
                             const_cast<char*>(target.c_str()), ev.data(), const_cast<char*>(client.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ) != 0) return "";
  close(fds[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return out;
}

void Report(const char* name, const std::string& out) {
  size_t n = 0;
  double p50 = 0, p99 = 0, p999 = 0;
  if (std::sscanf(out.c_str(), "%zu %lf %lf %lf", &n, &p50, &p99, &p999) != 4) {
    std::printf("%-34s client failed: %s\n", name, out.c_str());
    return;
  }
  std::printf("%-34s n %zu  p50 %6.1f  p99 %7.1f  p999 %7.1f us\n", name, n, p50, p99, p999);
  std::fflush(stdout);
}

void RunCallback(int events, int rate, const std::string& client, bool inline_write) {
  CallbackServer svc;
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&svc);
  auto server = b.BuildAndStart();
  std::atomic<bool> stop{false};
  std::thread dispatcher([&] { svc.Dispatch(stop); });
  std::thread feeder([&] { Feed(rate, stop, [&](const std::string& ev) { svc.Push(ev, inline_write); }); });
  const std::string out = SpawnClient("127.0.0.1:" + std::to_string(port), events, client);
  stop = true;
  feeder.join();
  dispatcher.join();
  svc.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  Report(((inline_write ? "callback API server, inline, " : "callback API server, ") + client + " client").c_str(),
         out);
}

void RunAsync(int events, int rate, const std::string& client) {
  AsyncServer::Service svc;
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&svc);
  auto cq = b.AddCompletionQueue();
  auto server = b.BuildAndStart();
  AsyncServer stream(&svc, cq.get());
  std::thread poller([&] { stream.Run(); });
  std::atomic<bool> stop{false};
  std::thread feeder([&] { Feed(rate, stop, [&](const std::string& ev) { stream.Push(ev); }); });
  const std::string out = SpawnClient("127.0.0.1:" + std::to_string(port), events, client);
  stop = true;
  feeder.join();
  stream.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  cq->Shutdown();
  poller.join();
  Report(("async API server, " + client + " client").c_str(), out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 5 && std::strcmp(argv[1], "--client") == 0) {
    return RunClient(argv[2], std::atoi(argv[3]), std::strcmp(argv[4], "callback") == 0);
  }
  const int events = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::string only = argc > 3 ? argv[3] : "";
  const std::string client = argc > 4 ? argv[4] : "sync";
  const int rate = argc > 5 ? std::atoi(argv[5]) : 10000;
  const std::string extras = argc > 6 ? argv[6] : "";
  // bitunix-marketdata registers grpc.health.v1 (gRPC's default service is on the callback API).
  if (extras.find("health") != std::string::npos) grpc::EnableDefaultHealthCheckService(true);
  for (int run = 0; run < runs; ++run) {
    if (only.empty() || only == "callback") RunCallback(events, rate, client, false);
    if (only.empty() || only == "inline") RunCallback(events, rate, client, true);
    if (only.empty() || only == "async") RunAsync(events, rate, client);
  }
}

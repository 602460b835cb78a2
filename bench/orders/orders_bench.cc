// bitunix-orders benchmarks (figures: docs/BENCHMARKS.md, "bitunix-orders").
//
//   bench-orders latency   --sim-bin=PATH [--orders=2000] [--runs=3] [--no-private-stream]
//                          [--cpu-dma-latency-us=N] [--gateway-bin=PATH] [--busy-poll]
//       Added latency of a gRPC PlaceOrder through the gateway over a direct signed REST
//       place_order to the simulator (same keep-alive HTTP client, same signer). The two are
//       interleaved in blocks of 100 so machine noise hits both alike. By default the gateway runs
//       in the benchmark's process; --gateway-bin=build/services/orders/bitunix-orders runs the
//       real binary as its own process instead, as deployed. --only=health|unauthenticated|refused|place
//       makes only that breakdown call, --orders times per run (to profile the gateway with perf).
//   bench-orders sign      [--iterations=200000] [--runs=3]
//       Cost of building and signing a place_order request (body serialisation + 2x SHA-256).
//   bench-orders ratelimit --sim-bin=PATH [--seconds=5] [--runs=3]
//       Offered load above the private budget (10/s): how many calls are queued and served,
//       how many are refused fast with RESOURCE_EXHAUSTED, and how long served calls waited.
//   --busy-poll runs the gateway in its latency mode (`bitunix-orders --busy-poll`: one thread
//   serves gRPC and the exchange and never sleeps).
//   --cpu-dma-latency-us=N holds the gateway's low-latency setting (a PM QoS request, machine-wide)
//   for the whole benchmark, as `bitunix-orders --cpu-dma-latency-us=N` would.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "bitunix/orders/v1/orders.grpc.pb.h"
#include "common/cpu_latency.h"
#include "common/logging.h"
#include "common/net/http_client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/orders/exchange_requests.h"
#include "services/orders/orders_app.h"
#include "services/orders/request_signer.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace v1 = bitunix::orders::v1;

constexpr const char* kKey = "bench-key";
constexpr const char* kSecret = "bench-secret-0123456789";
constexpr const char* kToken = "bench-trade-token-0123456789";

std::map<std::string, std::string> Args(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) continue;
    auto eq = s.find('=');
    a[s.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] =
        eq == std::string::npos ? "true" : s.substr(eq + 1);
  }
  return a;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string Summary(std::vector<double> runs) {
  std::sort(runs.begin(), runs.end());
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.1f (%.1f-%.1f)", runs[runs.size() / 2], runs.front(), runs.back());
  return buf;
}

// Children still running; an early std::exit (which skips destructors) stops them too.
std::vector<pid_t>& LiveChildren() {
  static std::vector<pid_t> pids;
  return pids;
}
void StopLiveChildren() {
  for (pid_t p : LiveChildren()) {
    kill(p, SIGTERM);
    waitpid(p, nullptr, 0);
  }
  LiveChildren().clear();
}

// A child process (the simulator, or the bitunix-orders binary) on port 0: started with the given
// arguments and extra environment, its one-line JSON ready report read from stdout.
struct Child {
  pid_t pid = -1;
  nlohmann::json ready;
  Child(std::vector<std::string> argv, const std::vector<std::string>& extra_env) {
    int out[2];
    if (pipe(out) != 0) std::abort();
    int devnull = open("/dev/null", O_WRONLY);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, devnull, 2);
    std::vector<char*> cargv;
    for (auto& s : argv) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) envs.emplace_back(*e);
    for (const auto& e : extra_env) envs.push_back(e);
    std::vector<char*> cenv;
    for (auto& s : envs) cenv.push_back(s.data());
    cenv.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    if (posix_spawn(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data()) != 0) {
      std::fprintf(stderr, "cannot start %s\n", argv[0].c_str());
      std::exit(1);
    }
    auto& live = LiveChildren();  // constructed before the handler is registered: destroyed after it ran
    static const bool registered = std::atexit(StopLiveChildren) == 0;
    (void)registered;
    live.push_back(pid);
    close(out[1]);
    close(devnull);
    std::string line;
    char c;
    pollfd pfd{out[0], POLLIN, 0};
    while (poll(&pfd, 1, 20000) > 0 && read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(out[0]);
    ready = nlohmann::json::parse(line, nullptr, false);
    if (!ready.is_object()) {
      std::fprintf(stderr, "no ready line from %s\n", argv[0].c_str());
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      std::exit(1);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    auto& live = LiveChildren();
    live.erase(std::remove(live.begin(), live.end(), pid), live.end());
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
  }
};

// The simulator as a child process on port 0.
struct Sim : Child {
  std::string rest, private_ws;
  Sim(const std::string& bin, const std::vector<std::string>& extra)
      : Child(Argv(bin, extra), {std::string("BITUNIX_SIM_API_SECRET=") + kSecret}) {
    rest = ready["rest"];
    private_ws = ready["private_ws"];
  }
  static std::vector<std::string> Argv(const std::string& bin, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {bin, "--addr=127.0.0.1:0", "--control-addr=127.0.0.1:0",
                                     std::string("--api-key=") + kKey, "--log-level=error", "--trade-rate=0",
                                     "--push-interval=1s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
};

bool g_private_stream = true;
bool g_busy_poll = false;  // --busy-poll: the gateway's latency mode (one thread, never sleeps)

std::unique_ptr<bx::orders::OrdersApp> StartGateway(const Sim& sim, double private_rate, double burst) {
  bx::orders::OrdersAppOptions o;
  o.rest_url = *bx::ParseUrl(sim.rest);
  o.private_ws_url = *bx::ParseUrl(sim.private_ws);
  o.mode = bx::orders::Mode::kPaper;
  o.engine.mode = o.mode;
  o.api_key = kKey;
  o.api_secret = kSecret;
  o.tokens = {{"bench", bx::orders::Role::kTrading, kToken}};
  o.health_interval = 60s;
  o.enable_private_stream = g_private_stream;
  o.busy_poll = g_busy_poll;
  for (auto& b : o.limiter.buckets) b = {private_rate, burst};
  auto app = bx::orders::OrdersApp::Start(std::move(o));
  if (!app.ok()) {
    std::fprintf(stderr, "gateway: %s\n", std::string(app.status().message()).c_str());
    std::exit(1);
  }
  for (int i = 0; i < 1500 && !(*app)->ready(); ++i) std::this_thread::sleep_for(10ms);
  return std::move(*app);
}

// A tokens file holding the benchmark's trade token (for the gateway process), removed at exit.
char g_tokens_path[] = "/tmp/bench-orders-tokens-XXXXXX";  // no destructor: still valid in atexit
std::string TokensFile() {
  static const bool created = [] {
    const int fd = mkstemp(g_tokens_path);
    const std::string line = std::string("bench trade ") + kToken + "\n";
    if (fd < 0 || write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
    close(fd);
    std::atexit([] { unlink(g_tokens_path); });
    return true;
  }();
  (void)created;
  return g_tokens_path;
}

// The real bitunix-orders binary against the simulator (paper mode, limits out of the way), as a
// deployment runs it: its own process, so the benchmark's client shares no gRPC threads with it.
struct GatewayProcess : Child {
  std::string grpc_address;
  GatewayProcess(const std::string& bin, const Sim& sim, const std::string& tokens_file)
      : Child(
            {bin, "--grpc-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", "--mode=paper", "--rest-url=" + sim.rest,
             "--private-ws-url=" + sim.private_ws, "--auth-tokens-file=" + tokens_file, "--log-level=error",
             "--rate-limit-private=1000000", "--rate-limit-cancel=1000000", "--rate-limit-batch=1000000",
             "--rate-limit-public=1000000", "--rate-limit-burst=1000000", "--health-interval=60s",
             std::string("--private-stream=") + (g_private_stream ? "true" : "false"),
             std::string("--busy-poll=") + (g_busy_poll ? "true" : "false")},
            {std::string("BITUNIX_API_KEY=") + kKey, std::string("BITUNIX_API_SECRET=") + kSecret}) {
    grpc_address = ready["grpc"];
    auto health = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(grpc_address, grpc::InsecureChannelCredentials()));
    for (int i = 0; i < 1500; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 1s);
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
      if (health->Check(&ctx, req, &resp).ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    std::fprintf(stderr, "bitunix-orders did not become ready\n");
    std::exit(1);
  }
};

v1::PlaceOrderRequest Resting(const std::string& cid) {
  v1::PlaceOrderRequest r;
  r.set_symbol("BTCUSDT");
  r.set_side(bitunix::common::v1::SIDE_BUY);
  r.set_type(v1::ORDER_TYPE_LIMIT);
  r.set_qty("0.001");
  r.set_price("20000");
  r.set_client_id(cid);
  return r;
}

int Latency(const std::map<std::string, std::string>& a) {
  const int orders = std::stoi(a.count("orders") ? a.at("orders") : "2000");
  const int runs = std::stoi(a.count("runs") ? a.at("runs") : "3");
  std::vector<double> d50, d99, g50, g99, add50, add99, b50, r50, u50;
  for (int run = 0; run < runs; ++run) {
    Sim sim(a.at("sim-bin"), {"--rest-rate-limits=false"});
    std::unique_ptr<bx::orders::OrdersApp> app;
    std::unique_ptr<GatewayProcess> process;
    std::string grpc_address;
    if (a.count("gateway-bin")) {
      process = std::make_unique<GatewayProcess>(a.at("gateway-bin"), sim, TokensFile());
      grpc_address = process->grpc_address;
    } else {
      app = StartGateway(sim, 1e6, 1e6);
      grpc_address = app->grpc_address();
    }
    auto stub = v1::OrderService::NewStub(grpc::CreateChannel(grpc_address, grpc::InsecureChannelCredentials()));
    // The direct client: the same Beast keep-alive client and signer the gateway uses.
    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);
    std::thread io([&] { ioc.run(); });
    bx::net::HttpClientOptions ho;
    ho.base = *bx::ParseUrl(sim.rest);
    auto http = bx::net::MakeBeastHttpClient(ioc, ho);
    auto creds = std::make_shared<bx::orders::Credentials>(kKey, kSecret);
    bx::orders::RequestSigner signer(creds, bx::SystemClock::Instance(), nullptr);
    std::vector<double> direct, gateway;
    int n = 0;
    auto place_direct = [&](const std::string& cid) {
      auto body = bx::orders::PlaceOrderObject(Resting(cid), "BTCUSDT", cid).dump();
      auto t0 = Clock::now();
      auto req = signer.Build(bx::orders::ep::kPlaceOrder, {}, body).http;
      auto res = http->SendAndWait(std::move(req));
      auto dt = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      if (!res.status.ok() || res.response.body.find("\"code\":0") == std::string::npos) {
        std::fprintf(stderr, "direct place failed: %s\n", res.response.body.c_str());
        std::exit(1);
      }
      return dt;
    };
    auto place_gateway = [&](const std::string& cid) {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
      ctx.set_deadline(std::chrono::system_clock::now() + 10s);
      v1::PlaceOrderResponse resp;
      auto t0 = Clock::now();
      grpc::Status s = stub->PlaceOrder(&ctx, Resting(cid), &resp);
      auto dt = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      if (!s.ok() || resp.result() != v1::PLACE_RESULT_ACCEPTED) {
        std::fprintf(stderr, "gateway place failed: %s\n", s.error_message().c_str());
        std::exit(1);
      }
      return dt;
    };
    // Breakdown: a bare gRPC round trip (health check: no hop to the exchange thread), and a
    // PlaceOrder refused by validation (gRPC + auth + the hop to the executor and back, no REST).
    auto channel = grpc::CreateChannel(grpc_address, grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(channel);
    auto bare_grpc = [&] {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckRequest hreq;
      grpc::health::v1::HealthCheckResponse hresp;
      auto t0 = Clock::now();
      health->Check(&ctx, hreq, &hresp);
      return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    };
    auto refused = [&] {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
      v1::PlaceOrderRequest bad = Resting("bad");
      bad.set_qty("0.00000001");
      v1::PlaceOrderResponse resp;
      auto t0 = Clock::now();
      grpc::Status s = stub->PlaceOrder(&ctx, bad, &resp);
      if (s.error_code() != grpc::StatusCode::INVALID_ARGUMENT) std::exit(1);
      return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    };
    auto unauthenticated = [&] {
      grpc::ClientContext ctx;  // no token: refused inside the gRPC reaction, no executor hop
      v1::PlaceOrderResponse resp;
      auto t0 = Clock::now();
      grpc::Status s = stub->PlaceOrder(&ctx, Resting("noauth"), &resp);
      if (s.error_code() != grpc::StatusCode::UNAUTHENTICATED) std::exit(1);
      return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    };
    for (int i = 0; i < 50; ++i) {  // warm-up: connections, caches
      place_direct("w" + std::to_string(run) + "d" + std::to_string(i));
      place_gateway("w" + std::to_string(run) + "g" + std::to_string(i));
    }
    std::vector<double> bare, refusal, noauth;
    if (a.count("only")) {  // one kind of call, `orders` times: for perf stat / perf record on the gateway
      const std::string only = a.at("only");
      std::vector<double> v;
      for (int i = 0; i < orders; ++i) {
        v.push_back(only == "health"    ? bare_grpc()
                    : only == "refused" ? refused()
                    : only == "place"   ? place_gateway("o" + std::to_string(run) + "g" + std::to_string(i))
                                        : unauthenticated());
      }
      std::printf("run %d: %s p50 %.1f p99 %.1f us (%d calls)\n", run + 1, only.c_str(), Percentile(v, 0.5),
                  Percentile(v, 0.99), orders);
      n = orders;
    }
    while (n < orders) {
      for (int i = 0; i < 100; ++i, ++n) direct.push_back(place_direct("r" + std::to_string(run) + "d" + std::to_string(n)));
      for (int i = 0; i < 100; ++i) gateway.push_back(place_gateway("r" + std::to_string(run) + "g" + std::to_string(n - 100 + i)));
      for (int i = 0; i < 20; ++i) bare.push_back(bare_grpc());
      for (int i = 0; i < 20; ++i) refusal.push_back(refused());
      for (int i = 0; i < 20; ++i) noauth.push_back(unauthenticated());
    }
    if (a.count("only")) {
      http.reset();
      work.reset();
      ioc.stop();
      io.join();
      if (app) app->Shutdown(100ms);
      continue;
    }
    u50.push_back(Percentile(noauth, 0.5));
    b50.push_back(Percentile(bare, 0.5));
    r50.push_back(Percentile(refusal, 0.5));
    http.reset();
    work.reset();
    ioc.stop();
    io.join();
    if (app) app->Shutdown(100ms);
    process.reset();
    d50.push_back(Percentile(direct, 0.5));
    d99.push_back(Percentile(direct, 0.99));
    g50.push_back(Percentile(gateway, 0.5));
    g99.push_back(Percentile(gateway, 0.99));
    add50.push_back(g50.back() - d50.back());
    add99.push_back(g99.back() - d99.back());
    std::printf("run %d: direct p50 %.1f p99 %.1f us | gateway p50 %.1f p99 %.1f us | added p50 %.1f p99 %.1f us\n",
                run + 1, d50.back(), d99.back(), g50.back(), g99.back(), add50.back(), add99.back());
  }
  if (a.count("gateway-bin")) std::remove(TokensFile().c_str());
  if (a.count("only")) return 0;
  std::printf("\nmedian (min-max) over %d runs of %d orders each way%s, microseconds:\n", runs, orders,
              a.count("gateway-bin") ? " (gateway: the bitunix-orders binary, its own process)" : "");
  std::printf("| path | p50 | p99 |\n|---|---|---|\n");
  std::printf("| direct signed REST place_order | %s | %s |\n", Summary(d50).c_str(), Summary(d99).c_str());
  std::printf("| gRPC PlaceOrder via bitunix-orders | %s | %s |\n", Summary(g50).c_str(), Summary(g99).c_str());
  std::printf("| **added by the gateway** | **%s** | %s |\n", Summary(add50).c_str(), Summary(add99).c_str());
  std::printf("\nbreakdown, p50 us: bare gRPC round trip (health Check) %s; PlaceOrder refused at auth (finished "
              "in the gRPC reaction, with rich error details) %s; PlaceOrder refused by validation (gRPC + auth + "
              "executor hop and back, no REST) %s\n",
              Summary(b50).c_str(), Summary(u50).c_str(), Summary(r50).c_str());
  return 0;
}

int Sign(const std::map<std::string, std::string>& a) {
  const int iterations = std::stoi(a.count("iterations") ? a.at("iterations") : "200000");
  const int runs = std::stoi(a.count("runs") ? a.at("runs") : "3");
  auto creds = std::make_shared<bx::orders::Credentials>(kKey, kSecret);
  bx::orders::RequestSigner signer(creds, bx::SystemClock::Instance(), nullptr);
  const auto req = Resting("gw0123456789abcdef0123456789abcd");
  std::vector<double> sign_only, build_sign, nonce;
  size_t sink = 0;
  for (int run = 0; run < runs; ++run) {
    const std::string body = bx::orders::PlaceOrderObject(req, "BTCUSDT", req.client_id()).dump();
    auto t0 = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      sink += bx::RestSign("0123456789abcdef0123456789abcdef", "1750000000000", kKey, "", body, kSecret).size();
    }
    sign_only.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / iterations);
    t0 = Clock::now();
    for (int i = 0; i < iterations; ++i) sink += bx::RandomNonce().size();
    nonce.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / iterations);
    t0 = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      std::string b = bx::orders::PlaceOrderObject(req, "BTCUSDT", req.client_id()).dump();
      sink += signer.Build(bx::orders::ep::kPlaceOrder, {}, std::move(b)).sign.size();
    }
    build_sign.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / iterations);
  }
  std::printf("median (min-max) over %d runs of %d iterations, nanoseconds per request (sink %zu):\n", runs,
              iterations, sink % 10);
  std::printf("| step | ns |\n|---|---|\n");
  std::printf("| RestSign (2x SHA-256 over a %zu-byte place_order body) | %s |\n",
              bx::orders::PlaceOrderObject(req, "BTCUSDT", req.client_id()).dump().size(), Summary(sign_only).c_str());
  std::printf("| 32-hex nonce (RAND_bytes) | %s |\n", Summary(nonce).c_str());
  std::printf("| body JSON + nonce + timestamp + sign + headers (RequestSigner::Build) | %s |\n",
              Summary(build_sign).c_str());
  return 0;
}

int RateLimit(const std::map<std::string, std::string>& a) {
  const int seconds = std::stoi(a.count("seconds") ? a.at("seconds") : "5");
  const int runs = std::stoi(a.count("runs") ? a.at("runs") : "3");
  struct Scenario {
    int offered_per_s;
    int deadline_ms;
  };
  const std::vector<Scenario> scenarios = {{8, 2000}, {20, 2000}, {50, 2000}, {50, 300}};
  std::printf("| offered/s | deadline | served/s | refused/s (RESOURCE_EXHAUSTED) | other failures | served after waiting | latency of served p50 / p99 ms | exchange 10005/10006 |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const auto& sc : scenarios) {
    std::vector<double> served_rate, refused_rate, queued_share, p50, p99, throttled, other_count;
    for (int run = 0; run < runs; ++run) {
      Sim sim(a.at("sim-bin"), {});
      auto app = StartGateway(sim, 10, 1);  // the documented private budget
      auto stub =
          v1::OrderService::NewStub(grpc::CreateChannel(app->grpc_address(), grpc::InsecureChannelCredentials()));
      std::this_thread::sleep_for(1500ms);  // start-up reads drain out of the bucket
      std::mutex mu;
      std::vector<double> served_lat;
      int served = 0, refused = 0, other = 0, inflight = 0;
      const v1::GetAccountRequest req;
      struct Call {
        grpc::ClientContext ctx;
        v1::GetAccountResponse resp;
        Clock::time_point t0;
      };
      std::vector<std::unique_ptr<Call>> calls;
      const auto start = Clock::now();
      const auto interval = std::chrono::microseconds(1'000'000 / sc.offered_per_s);
      for (int i = 0; i < sc.offered_per_s * seconds; ++i) {
        std::this_thread::sleep_until(start + interval * i);
        auto c = std::make_unique<Call>();
        c->ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
        c->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(sc.deadline_ms));
        c->t0 = Clock::now();
        Call* raw = c.get();
        {
          std::lock_guard<std::mutex> l(mu);
          ++inflight;
        }
        stub->async()->GetAccount(&raw->ctx, &req, &raw->resp, [&, raw](grpc::Status s) {
          std::lock_guard<std::mutex> l(mu);
          --inflight;
          if (s.ok()) {
            ++served;
            served_lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - raw->t0).count());
          } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
            ++refused;
          } else {
            ++other;
            if (getenv("BENCH_DEBUG")) std::fprintf(stderr, "other: %d %s\n", s.error_code(), s.error_message().c_str());
          }
        });
        calls.push_back(std::move(c));
      }
      for (int i = 0; i < 1000; ++i) {
        {
          std::lock_guard<std::mutex> l(mu);
          if (inflight == 0) break;
        }
        std::this_thread::sleep_for(10ms);
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      int waited = 0;
      for (double l : served_lat) waited += l > 20;
      (void)elapsed;
      served_rate.push_back(static_cast<double>(served) / seconds);
      refused_rate.push_back(static_cast<double>(refused) / seconds);
      queued_share.push_back(served ? 100.0 * waited / served : 0);
      p50.push_back(Percentile(served_lat, 0.5));
      p99.push_back(Percentile(served_lat, 0.99));
      // Throttle answers from the exchange (there should be none: the limiter stays in budget).
      double throttles = 0;
      for (const auto& fam : app->registry().Collect()) {
        if (fam.name != "bitunix_orders_exchange_requests_total") continue;
        for (const auto& m : fam.metric) {
          for (const auto& l : m.label) {
            if (l.name == "result" && (l.value == "code_10005" || l.value == "code_10006")) throttles += m.counter.value;
          }
        }
      }
      throttled.push_back(throttles);
      other_count.push_back(other);
      app->Shutdown(100ms);
    }
    std::printf("| %d | %d ms | %s | %s | %s | %s %% | %s / %s | %s |\n", sc.offered_per_s, sc.deadline_ms,
                Summary(served_rate).c_str(), Summary(refused_rate).c_str(), Summary(other_count).c_str(),
                Summary(queued_share).c_str(),
                Summary(p50).c_str(), Summary(p99).c_str(), Summary(throttled).c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bx::InitLogging(bx::LogLevel::kError, false);
  const std::string cmd = argc > 1 ? argv[1] : "";
  auto a = Args(argc, argv);
  g_private_stream = !a.count("no-private-stream");
  g_busy_poll = a.count("busy-poll") > 0;
  auto cpu_latency =
      bx::CpuLatencyRequest::FromOption(a.count("cpu-dma-latency-us") ? std::stoll(a.at("cpu-dma-latency-us")) : -1);
  if (!cpu_latency.ok()) {
    std::fprintf(stderr, "bench-orders: %s\n", std::string(cpu_latency.status().message()).c_str());
    return 2;
  }
  if (cmd == "sign") return Sign(a);
  if ((cmd == "latency" || cmd == "ratelimit") && a.count("sim-bin")) {
    return cmd == "latency" ? Latency(a) : RateLimit(a);
  }
  std::fprintf(stderr,
               "usage: bench-orders latency --sim-bin=PATH [--orders=2000] [--runs=3] [--no-private-stream] [--busy-poll]\n"
               "                           [--only=health|unauthenticated|refused|place]\n"
               "       bench-orders sign [--iterations=200000] [--runs=3]\n"
               "       bench-orders ratelimit --sim-bin=PATH [--seconds=5] [--runs=3]\n"
               "       (any command) [--cpu-dma-latency-us=N]\n");
  return 2;
}

// Round-trip latency of one unary call through each gRPC C++ server API, in one process, on
// loopback: the callback API finishing inline and finishing from another (io) thread, as
// bitunix-orders does; the sync API; the async API with a thread polling its own completion
// queue. The same sync client calls each. This is the floor under the orders latency figure.
// Run it under `perf stat -e task-clock,context-switches` for CPU and thread switches per call.
//
//   bench-grpc-api-rtt [calls=5000] [runs=3] [only=hop|callback|own|sync|async|async-hop|] [health|reflection|health+reflection]
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "bitunix/orders/v1/orders.grpc.pb.h"

namespace v1 = bitunix::orders::v1;
using Clock = std::chrono::steady_clock;

namespace {

class CallbackImpl final : public v1::OrderService::CallbackService {
  grpc::ServerUnaryReactor* PlaceOrder(grpc::CallbackServerContext* ctx, const v1::PlaceOrderRequest* req,
                                       v1::PlaceOrderResponse* resp) override {
    resp->set_client_id(req->client_id());
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

// A reactor of its own (OnCancel, OnDone, deleting itself), finished inline: what a service
// that must learn about cancellation needs instead of DefaultReactor().
class OwnReactorImpl final : public v1::OrderService::CallbackService {
  class Call final : public grpc::ServerUnaryReactor {
   public:
    void OnCancel() override {}
    void OnDone() override { delete this; }
  };
  grpc::ServerUnaryReactor* PlaceOrder(grpc::CallbackServerContext*, const v1::PlaceOrderRequest* req,
                                       v1::PlaceOrderResponse* resp) override {
    resp->set_client_id(req->client_id());
    auto* r = new Call;
    r->Finish(grpc::Status::OK);
    return r;
  }
};

// Finishes from another thread, as a service whose logic runs on its own io thread does.
class HopImpl final : public v1::OrderService::CallbackService {
 public:
  explicit HopImpl(boost::asio::io_context& ioc) : ioc_(ioc) {}
  grpc::ServerUnaryReactor* PlaceOrder(grpc::CallbackServerContext* ctx, const v1::PlaceOrderRequest* req,
                                       v1::PlaceOrderResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    boost::asio::post(ioc_, [r, req, resp] {
      resp->set_client_id(req->client_id());
      r->Finish(grpc::Status::OK);
    });
    return r;
  }
 private:
  boost::asio::io_context& ioc_;
};

class SyncImpl final : public v1::OrderService::Service {
  grpc::Status PlaceOrder(grpc::ServerContext*, const v1::PlaceOrderRequest* req,
                          v1::PlaceOrderResponse* resp) override {
    resp->set_client_id(req->client_id());
    return grpc::Status::OK;
  }
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void Measure(const char* name, const std::string& addr, int calls) {
  auto stub = v1::OrderService::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  std::vector<double> rtt;
  for (int i = 0; i < calls + 200; ++i) {
    grpc::ClientContext ctx;
    v1::PlaceOrderRequest req;
    req.set_client_id("c" + std::to_string(i));
    v1::PlaceOrderResponse resp;
    auto t0 = Clock::now();
    grpc::Status s = stub->PlaceOrder(&ctx, req, &resp);
    auto dt = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", name, s.error_message().c_str());
      std::exit(1);
    }
    if (i >= 200) rtt.push_back(dt);
  }
  std::printf("%-28s p50 %6.1f  p90 %6.1f  p99 %6.1f us\n", name, Percentile(rtt, 0.5), Percentile(rtt, 0.9),
              Percentile(rtt, 0.99));
}

std::unique_ptr<grpc::Server> Build(grpc::Service* svc, int* port,
                                    std::unique_ptr<grpc::ServerCompletionQueue>* cq = nullptr) {
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  b.RegisterService(svc);
  if (cq) *cq = b.AddCompletionQueue();
  return b.BuildAndStart();
}

// Serves `svc` on a free port for one measurement.
void Serve(grpc::Service* svc, const char* name, int calls) {
  int port = 0;
  auto server = Build(svc, &port);
  Measure(name, "127.0.0.1:" + std::to_string(port), calls);
  server->Shutdown();
}

// `ioc` null: finish inline on the CQ thread; else post to the io thread and finish from there.
void RunAsync(int calls, boost::asio::io_context* ioc) {
  v1::OrderService::AsyncService svc;
  int port = 0;
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  auto server = Build(&svc, &port, &cq);
  struct Call {
    grpc::ServerContext ctx;
    v1::PlaceOrderRequest req;
    grpc::ServerAsyncResponseWriter<v1::PlaceOrderResponse> writer{&ctx};
    bool finishing = false;
  };
  auto arm = [&] {
    auto* c = new Call;
    svc.RequestPlaceOrder(&c->ctx, &c->req, &c->writer, cq.get(), cq.get(), c);
  };
  arm();
  std::thread poller([&] {
    void* tag;
    bool ok;
    while (cq->Next(&tag, &ok)) {
      auto* c = static_cast<Call*>(tag);
      if (c->finishing || !ok) {
        delete c;
        continue;
      }
      arm();
      c->finishing = true;
      auto finish = [c] {
        v1::PlaceOrderResponse resp;
        resp.set_client_id(c->req.client_id());
        c->writer.Finish(resp, grpc::Status::OK, c);
      };
      if (ioc) {
        boost::asio::post(*ioc, finish);
      } else {
        finish();
      }
    }
  });
  Measure(ioc ? "async API, Finish on io thread" : "async API (own CQ thread)", "127.0.0.1:" + std::to_string(port),
          calls);
  server->Shutdown();
  cq->Shutdown();
  poller.join();
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::string extras = argc > 4 ? argv[4] : "";
  // As the services are built: grpc.health.v1 (callback API) and reflection (sync API) add
  // threads of their own that poll the same connections.
  if (extras.find("health") != std::string::npos) grpc::EnableDefaultHealthCheckService(true);
  if (extras.find("reflection") != std::string::npos) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  const std::string only = argc > 3 ? argv[3] : "";
  auto want = [&only](const char* name) { return only.empty() || only == name; };
  for (int run = 0; run < runs; ++run) {
    if (want("hop")) {
      HopImpl svc(ioc);
      Serve(&svc, "callback API, Finish on io thread", calls);
    }
    if (want("callback")) {
      CallbackImpl svc;
      Serve(&svc, "callback API", calls);
    }
    if (want("own")) {
      OwnReactorImpl svc;
      Serve(&svc, "callback API, own reactor", calls);
    }
    if (want("sync")) {
      SyncImpl svc;
      Serve(&svc, "sync API", calls);
    }
    if (want("async")) RunAsync(calls, nullptr);
    if (want("async-hop")) RunAsync(calls, &ioc);
  }
  work.reset();
  io.join();
}

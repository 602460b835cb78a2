// AsyncServer's streaming calls and AsyncHealthService, over a real gRPC server on port 0:
// grpc.health.v1 Check and Watch follow readiness as gRPC's default health service does, watches
// end at shutdown instead of holding up its grace period, and a StreamWriter finishes only after
// the write in flight and refuses writes once the call is gone.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <vector>
#include <memory>

#include "common/grpc_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/orders/async_health.h"
#include "services/orders/async_server.h"
#include "services/orders/grpc_status.h"

namespace bx::orders {
namespace {

namespace hv1 = ::grpc::health::v1;
using HS = hv1::HealthCheckResponse;
using std::chrono::seconds;

std::unique_ptr<AsyncServer> MakeServer(GrpcServer& server) {
  return std::make_unique<AsyncServer>(server.TakeAsyncQueue(), &ToGrpcStatus, absl::CancelledError("cancelled"));
}

std::unique_ptr<grpc::ClientContext> Context(seconds timeout = seconds(10)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

// Reads one last message with `status`, then the end of the stream with `code` and `message`.
void ExpectLastThenEnd(grpc::ClientReader<HS>* stream, HS::ServingStatus status, grpc::StatusCode code,
                       const std::string& message) {
  HS r;
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_EQ(r.status(), status);
  EXPECT_FALSE(stream->Read(&r));
  grpc::Status end = stream->Finish();
  EXPECT_EQ(end.error_code(), code);
  EXPECT_EQ(end.error_message(), message);
}

class AsyncHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = GrpcServer::Start({.address = "127.0.0.1:0",
                                .services = {&health_},
                                .health_service_names = {"test.v1.Svc"},
                                .health = &health_,
                                .async_queue = true});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    calls_ = MakeServer(*server_);
    health_.AddTo(*calls_);
    calls_->Start();
    stub_ = hv1::Health::NewStub(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
    if (calls_) calls_->Close();
  }

  grpc::Status Check(const std::string& service, HS* out) {
    hv1::HealthCheckRequest req;
    req.set_service(service);
    return stub_->Check(Context().get(), req, out);
  }
  HS::ServingStatus Status(const std::string& service) {
    HS r;
    grpc::Status s = Check(service, &r);
    EXPECT_TRUE(s.ok()) << service << ": " << s.error_message();
    return r.status();
  }

  AsyncHealthService health_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<AsyncServer> calls_;
  std::unique_ptr<hv1::Health::Stub> stub_;
};

TEST_F(AsyncHealthTest, CheckFollowsReadinessAndKnowsItsNames) {
  EXPECT_EQ(Status(kLivenessService), HS::SERVING);
  EXPECT_EQ(Status(""), HS::NOT_SERVING);
  EXPECT_EQ(Status("test.v1.Svc"), HS::NOT_SERVING);
  server_->SetReady(true);
  EXPECT_EQ(Status(""), HS::SERVING);
  EXPECT_EQ(Status("test.v1.Svc"), HS::SERVING);
  HS r;
  grpc::Status unknown = Check("no.such.Service", &r);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(unknown.error_message(), "service name unknown");
}

TEST_F(AsyncHealthTest, WatchSendsTheCurrentStatusThenEveryChangeAndEndsAtShutdown) {
  auto ctx = Context();
  hv1::HealthCheckRequest req;
  auto ready = stub_->Watch(ctx.get(), req);
  auto ctx2 = Context();
  req.set_service("later.v1.Svc");
  auto later = stub_->Watch(ctx2.get(), req);

  HS r;
  ASSERT_TRUE(ready->Read(&r));
  EXPECT_EQ(r.status(), HS::NOT_SERVING);
  ASSERT_TRUE(later->Read(&r));
  EXPECT_EQ(r.status(), HS::SERVICE_UNKNOWN);
  server_->SetReady(true);
  ASSERT_TRUE(ready->Read(&r));
  EXPECT_EQ(r.status(), HS::SERVING);
  server_->SetServingStatus("later.v1.Svc", true);
  ASSERT_TRUE(later->Read(&r));
  EXPECT_EQ(r.status(), HS::SERVING);
  server_->SetServingStatus("later.v1.Svc", true);  // no change, no message
  EXPECT_EQ(health_.watchers(), 2u);

  // Shutdown with a long grace: the watches get NOT_SERVING and end with the service's own
  // status (a watch still open when the grace ran out would be cancelled instead).
  auto done = std::async(std::launch::async, [this] { server_->Shutdown(std::chrono::seconds(30)); });
  for (auto* stream : {ready.get(), later.get()}) {
    ExpectLastThenEnd(stream, HS::NOT_SERVING, grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
  }
  done.get();
  EXPECT_EQ(health_.watchers(), 0u);
}

// The generic streaming call, driven by hand through Health.Watch.
class StreamWriterTest : public ::testing::Test {
 protected:
  using Writer = StreamWriter<HS>;
  void SetUp() override {
    auto s = GrpcServer::Start({.address = "127.0.0.1:0", .services = {&svc_}, .health = &sink_, .async_queue = true});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    calls_ = MakeServer(*server_);
    calls_->AddStream<hv1::HealthCheckRequest, HS>(
        [this](grpc::ServerContext* c, hv1::HealthCheckRequest* q, grpc::ServerAsyncWriter<HS>* w,
               grpc::CompletionQueue* cq, grpc::ServerCompletionQueue* ncq,
               void* tag) { svc_.RequestWatch(c, q, w, cq, ncq, tag); },
        [this](grpc::ServerContext*, const hv1::HealthCheckRequest&, std::shared_ptr<Writer> out) {
          on_call_(std::move(out));
        });
    calls_->Start();
    stub_ = hv1::Health::NewStub(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
    if (calls_) calls_->Close();
  }
  std::shared_ptr<Writer> Arrived() {
    auto f = arrived_.get_future();
    EXPECT_EQ(f.wait_for(seconds(10)), std::future_status::ready);
    return f.get();
  }

  struct NoSink final : HealthStatusSink {
    void SetServingStatus(const std::string&, bool) override {}
    void Shutdown() override {}
  } sink_;
  hv1::Health::AsyncService svc_;
  std::promise<std::shared_ptr<Writer>> arrived_;
  std::promise<void> done_;
  /// What the queue thread does with each arrived call (by default: hand the one call over).
  std::function<void(std::shared_ptr<Writer>)> on_call_ = [this](std::shared_ptr<Writer> out) {
    out->set_on_done([this] { done_.set_value(); });
    arrived_.set_value(std::move(out));
  };
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<AsyncServer> calls_;
  std::unique_ptr<hv1::Health::Stub> stub_;
};

TEST_F(StreamWriterTest, FinishWaitsForTheWriteInFlightAndEndsWrites) {
  auto ctx = Context();
  auto reader = stub_->Watch(ctx.get(), hv1::HealthCheckRequest());
  auto out = Arrived();
  ASSERT_NE(out, nullptr);
  HS first, second;
  first.set_status(HS::SERVING);
  second.set_status(HS::NOT_SERVING);
  std::promise<bool> wrote;
  out->set_on_write_done([&wrote](bool ok) { wrote.set_value(ok); });
  ASSERT_TRUE(out->Write(&first));
  out->Finish(grpc::Status(grpc::StatusCode::ABORTED, "enough"));  // right behind the write
  EXPECT_FALSE(out->Write(&second)) << "no write after Finish";
  ExpectLastThenEnd(reader.get(), HS::SERVING, grpc::StatusCode::ABORTED, "enough");
  EXPECT_TRUE(wrote.get_future().get());
  EXPECT_EQ(done_.get_future().wait_for(seconds(10)), std::future_status::ready);
}

TEST_F(StreamWriterTest, AClientThatGoesAwayEndsTheCallAndLaterWritesAreRefused) {
  auto ctx = Context();
  auto reader = stub_->Watch(ctx.get(), hv1::HealthCheckRequest());
  auto out = Arrived();
  ASSERT_NE(out, nullptr);
  ctx->TryCancel();
  EXPECT_EQ(done_.get_future().wait_for(seconds(10)), std::future_status::ready);
  HS msg;
  msg.set_status(HS::SERVING);
  EXPECT_FALSE(out->Write(&msg));
  out->Finish(grpc::Status::OK);  // harmless once the call is gone
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// Many calls at once, each written to as fast as its writes complete, while other threads
// finish and write to random calls and clients cancel at random points: every call that arrived
// ends exactly once, and nothing touches a call after it is gone (run under ASan to see that).
TEST_F(StreamWriterTest, RacingWritesFinishesAndCancellationsEndEveryCallOnce) {
  constexpr int kClients = 4, kCallsEach = 50;
  struct Pump {
    HS msg;
    int left = 0;
  };
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0, ended = 0;
  std::vector<std::shared_ptr<Writer>> writers;
  on_call_ = [&](std::shared_ptr<Writer> out) {
    auto pump = std::make_shared<Pump>();
    pump->msg.set_status(HS::SERVING);
    std::weak_ptr<Writer> weak = out;
    out->set_on_write_done([pump, weak](bool ok) {
      auto o = weak.lock();
      if (!o || !ok) return;
      if (--pump->left > 0) {
        o->Write(&pump->msg);
      } else {
        o->Finish(grpc::Status::OK);
      }
    });
    out->set_on_done([&] {
      std::lock_guard<std::mutex> lock(mu);
      ++ended;
      cv.notify_all();
    });
    {
      std::lock_guard<std::mutex> lock(mu);
      pump->left = 5 + arrived % 40;
      ++arrived;
      writers.push_back(out);
    }
    out->Write(&pump->msg);
  };

  std::atomic<bool> stop{false};
  std::thread meddler([&] {  // random Finish and Write calls from another thread
    static const HS extra = [] {
      HS m;
      m.set_status(HS::NOT_SERVING);
      return m;
    }();
    std::mt19937 rng(7);
    while (!stop.load()) {
      std::shared_ptr<Writer> w;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!writers.empty()) w = writers[rng() % writers.size()];
      }
      if (w && rng() % 4 == 0) w->Finish(grpc::Status(grpc::StatusCode::ABORTED, "finished by another thread"));
      if (w) w->Write(&extra);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> clients;
  std::atomic<int> ends_seen{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(100 + c));
      for (int i = 0; i < kCallsEach; ++i) {
        auto ctx = Context();
        auto reader = stub_->Watch(ctx.get(), hv1::HealthCheckRequest());
        const int reads = 1 + static_cast<int>(rng() % 30);  // one read at least: the call has arrived
        HS r;
        int n = 0;
        while (n < reads && reader->Read(&r)) ++n;
        if (n == reads) ctx->TryCancel();
        reader->Finish();
        ++ends_seen;
      }
    });
  }
  for (auto& t : clients) t.join();
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, seconds(30), [&] { return ended == kClients * kCallsEach; }))
        << "arrived " << arrived << ", ended " << ended;
    EXPECT_EQ(arrived, kClients * kCallsEach);
  }
  stop = true;
  meddler.join();
  EXPECT_EQ(ends_seen.load(), kClients * kCallsEach);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(ended, arrived);
}

// Shutdown's answer to unary calls still waiting: AbandonPending ends each unanswered call with the
// given status (the client sees it, not gRPC's "Cancelling all calls"), leaves answered ones
// alone, and an answer that comes later is not sent but reaches the on-late hook.
TEST(AsyncServerUnary, AbandonPendingEndsUnansweredCallsAndHandsLateAnswersToTheHook) {
  hv1::Health::AsyncService svc;
  auto started = GrpcServer::Start({.address = "127.0.0.1:0", .services = {&svc}, .async_queue = true});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<GrpcServer> server = std::move(*started);
  auto calls = MakeServer(*server);
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::shared_ptr<UnaryReply<HS>>> held;  // by the request's service name
  calls->Add<hv1::HealthCheckRequest, HS>(
      [&svc](grpc::ServerContext* c, hv1::HealthCheckRequest* q, grpc::ServerAsyncResponseWriter<HS>* w,
             grpc::ServerCompletionQueue* cq, void* tag) { svc.RequestCheck(c, q, w, cq, cq, tag); },
      [&](grpc::ServerContext*, const hv1::HealthCheckRequest& q, std::shared_ptr<UnaryReply<HS>> reply) {
        if (q.service() == "answer") {
          HS r;
          r.set_status(HS::SERVING);
          reply->Complete(r);
          return;
        }
        std::lock_guard<std::mutex> lock(mu);
        held[q.service()] = std::move(reply);
        cv.notify_all();
      });
  calls->Start();
  auto stub = hv1::Health::NewStub(grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));

  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<HS> resps(2);
  std::vector<std::promise<grpc::Status>> done(2);
  std::vector<std::future<grpc::Status>> status;
  for (auto& d : done) status.push_back(d.get_future());
  std::vector<hv1::HealthCheckRequest> holds(2);
  for (int i = 0; i < 2; ++i) {
    holds[i].set_service("hold-" + std::to_string(i));
    ctxs.push_back(Context());
    stub->async()->Check(ctxs[i].get(), &holds[i], &resps[i],
                         [&done, i](grpc::Status st) { done[i].set_value(std::move(st)); });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(10), [&] { return held.size() == 2; }));
  }
  HS answered;
  hv1::HealthCheckRequest answer;
  answer.set_service("answer");
  ASSERT_TRUE(stub->Check(Context().get(), answer, &answered).ok());  // answered: not pending

  std::atomic<int> late{0};
  held["hold-1"]->set_on_late([&late](const absl::Status& st, const HS* r) {
    if (st.ok() && r != nullptr && r->status() == HS::SERVING) ++late;
  });
  HS first;
  first.set_status(HS::SERVING);
  held["hold-0"]->Complete(first);  // answered just before: AbandonPending leaves it alone
  EXPECT_EQ(calls->AbandonPending(absl::UnavailableError("going away, outcome unknown")), 1u);
  for (auto& f : status) ASSERT_EQ(f.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_TRUE(status[0].get().ok());
  EXPECT_EQ(resps[0].status(), HS::SERVING);
  const grpc::Status abandoned = status[1].get();
  EXPECT_EQ(abandoned.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(abandoned.error_message(), "going away, outcome unknown");
  held["hold-1"]->Complete(first);  // the exchange answered after all: on record, not sent
  EXPECT_EQ(late.load(), 1);
  EXPECT_EQ(calls->AbandonPending(absl::UnavailableError("again")), 0u);
  server->Shutdown(std::chrono::milliseconds(0));
  calls->Close();
}

// Busy-poll mode (`bitunix-orders --busy-poll`): no queue thread; one thread polls the queue and an
// io_context in turn. A call's handler, the answer it posts to the io_context, and the Finish all
// run on that thread; Close() from another thread returns only once that thread has seen the
// queue shut down and empty, and Poll() says so by returning false.
TEST(AsyncServerPolled, OneThreadServesEveryCallAndCloseWaitsUntilItHasSeenTheQueueEmpty) {
  hv1::Health::AsyncService svc;
  auto started = GrpcServer::Start({.address = "127.0.0.1:0", .services = {&svc}, .async_queue = true});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<GrpcServer> server = std::move(*started);
  auto calls = MakeServer(*server);
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::atomic<int> handled_elsewhere{0}, answered_elsewhere{0};
  std::thread::id poller;
  std::mutex poller_mu;
  auto on_poller = [&] {
    std::lock_guard<std::mutex> lock(poller_mu);
    return std::this_thread::get_id() == poller;
  };
  calls->Add<hv1::HealthCheckRequest, HS>(
      [&svc](grpc::ServerContext* c, hv1::HealthCheckRequest* q, grpc::ServerAsyncResponseWriter<HS>* w,
             grpc::ServerCompletionQueue* cq, void* tag) { svc.RequestCheck(c, q, w, cq, cq, tag); },
      [&](grpc::ServerContext*, const hv1::HealthCheckRequest&, std::shared_ptr<UnaryReply<HS>> reply) {
        if (!on_poller()) ++handled_elsewhere;
        boost::asio::post(ioc, [&, reply] {  // as the engine answers: from the io_context
          if (!on_poller()) ++answered_elsewhere;
          HS r;
          r.set_status(HS::SERVING);
          reply->Complete(r);
        });
      });
  calls->StartPolled();
  std::atomic<bool> hold{false};  // the polling thread stops polling while set
  std::atomic<bool> held{false};  // ... and says so here
  std::atomic<bool> saw_queue_end{false};
  std::thread loop([&] {
    {
      std::lock_guard<std::mutex> lock(poller_mu);
      poller = std::this_thread::get_id();
    }
    bool open = true;
    while (open || !ioc.stopped()) {
      if (hold) {
        held = true;
        std::this_thread::yield();
        continue;
      }
      if (open) open = calls->Poll();
      if (!open) saw_queue_end = true;
      ioc.poll();
    }
  });
  auto stub = hv1::Health::NewStub(grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 50; ++i) {
    HS r;
    grpc::Status st = stub->Check(Context().get(), hv1::HealthCheckRequest(), &r);
    ASSERT_TRUE(st.ok()) << i << ": " << st.error_message();
    EXPECT_EQ(r.status(), HS::SERVING);
  }
  EXPECT_EQ(handled_elsewhere.load(), 0);
  EXPECT_EQ(answered_elsewhere.load(), 0);
  server->Shutdown(std::chrono::milliseconds(0));
  hold = true;  // Close() cannot finish while nobody polls
  while (!held) std::this_thread::yield();
  auto closed = std::async(std::launch::async, [&] { calls->Close(); });
  EXPECT_EQ(closed.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout)
      << "Close() returned while the polling thread was not polling";
  hold = false;
  ASSERT_EQ(closed.wait_for(seconds(10)), std::future_status::ready);
  const auto give_up = std::chrono::steady_clock::now() + seconds(10);
  while (!saw_queue_end && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  ASSERT_TRUE(saw_queue_end.load()) << "Poll() never said the queue had ended";
  work.reset();
  ioc.stop();
  loop.join();
}

}  // namespace
}  // namespace bx::orders

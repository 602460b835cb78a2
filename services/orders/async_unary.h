// Unary RPCs through gRPC's async API, on a completion-queue thread of their own.
//
// Why not the callback API (which StreamUpdates keeps): in the gRPC of Debian 12 (1.51) the
// callback API runs every reaction on a separate "nexting" thread, so each call pays one more
// thread hand-off on the way in and one on the way out; a thread waiting on an async completion
// queue polls the connection itself. Measured by bench-grpc-api-rtt (docs/BENCHMARKS.md): a
// call finished from another thread, as the order engine does, takes ~30–45 µs less through the
// async API.
//
// Each method keeps one call armed (waiting for a request); the thread re-arms it as a request
// arrives. A call is answered exactly once, from any thread, through its UnaryReply; if the
// client cancels or the deadline passes first, the reply's on-complete hook hears CANCELLED at
// once and a later answer is dropped. Closing: after grpc::Server::Shutdown has returned,
// Close() stops all finishing, shuts the queue down, drains it and joins the thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace bx::orders {

/// What to do when a completion-queue tag comes back.
class CqTag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

/// How an error becomes a grpc::Status (trailers may be added to the context before Finish).
using ToGrpcStatusFn = grpc::Status (*)(const absl::Status&, grpc::ServerContextBase*);

class AsyncUnaryServer {
 public:
  /// `cancelled`: what a call's on-complete hook hears when the call ends before its answer.
  AsyncUnaryServer(std::unique_ptr<grpc::ServerCompletionQueue> cq, ToGrpcStatusFn to_status, absl::Status cancelled);
  ~AsyncUnaryServer();
  AsyncUnaryServer(const AsyncUnaryServer&) = delete;
  AsyncUnaryServer& operator=(const AsyncUnaryServer&) = delete;

  /// Before Start(): one method. `request` is the generated RequestXxx bound to the service;
  /// `handle` gets each arrived call (on the queue thread; it must not block).
  template <class Req, class Resp, class Handle>
  void Add(std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                              grpc::ServerCompletionQueue*, void*)>
               request,
           Handle handle);

  /// Arms every method and starts the queue thread.
  void Start();
  /// After grpc::Server::Shutdown returned (every call is then done or cancelled): no further
  /// Finish or re-arm, queue shut down and drained, thread joined. Idempotent.
  void Close();

  grpc::ServerCompletionQueue* cq() { return cq_.get(); }
  /// Runs `f` unless closed, holding off Close() while it runs; false when closed.
  template <class F>
  bool IfOpen(F&& f) {
    std::shared_lock<std::shared_mutex> lock(gate_);
    if (closed_) return false;
    f();
    return true;
  }

 private:
  struct Method {
    virtual ~Method() = default;
    virtual void Arm(AsyncUnaryServer* server) = 0;
  };
  template <class Req, class Resp, class Handle>
  struct MethodOf;
  template <class Req, class Resp, class Handle>
  friend class AsyncUnaryCall;
  /// Runs every tag the queue returns until it is shut down and empty.
  void Drain();

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  ToGrpcStatusFn to_status_;
  absl::Status cancelled_;
  std::vector<std::unique_ptr<Method>> methods_;
  std::shared_mutex gate_;
  bool closed_ = false;
  bool started_ = false;
  std::thread thread_;
};

/// The answering side of one call, shared with whoever will answer it (the engine's callback).
/// Valid after the call is gone: answers are then dropped.
template <class Resp>
class UnaryReply {
 public:
  /// Sees the outcome once, before Finish (metrics, audit; nullptr response on errors).
  using OnComplete = std::function<void(const absl::Status&, const Resp*)>;
  /// Any thread; the first answer (or a cancellation) wins.
  void Complete(absl::StatusOr<Resp> r) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_ == nullptr || finished_) return;
    finished_ = true;
    if (r.ok()) {
      if (on_complete_) on_complete_(absl::OkStatus(), &*r);
      finish_(&*r, grpc::Status::OK);
    } else {
      if (on_complete_) on_complete_(r.status(), nullptr);
      finish_(nullptr, to_status_(r.status(), ctx_));
    }
  }

  void set_on_complete(OnComplete f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_complete_ = std::move(f);
  }

 private:
  template <class, class, class>
  friend class AsyncUnaryCall;
  std::mutex mu_;
  bool finished_ = false;
  OnComplete on_complete_;
  ToGrpcStatusFn to_status_ = nullptr;
  grpc::ServerContextBase* ctx_ = nullptr;
  std::function<void(const Resp*, const grpc::Status&)> finish_;  ///< null once the call is gone
};

/// One call of one method: armed, then handled, then finished or cancelled; deletes itself
/// when the queue has returned every tag it gave out.
template <class Req, class Resp, class Handle>
class AsyncUnaryCall {
 public:
  using Method = typename AsyncUnaryServer::template MethodOf<Req, Resp, Handle>;

  static void Arm(AsyncUnaryServer* server, Method* method) {
    auto* c = new AsyncUnaryCall(server, method);
    c->ctx_.AsyncNotifyWhenDone(&c->done_tag_);
    method->request(&c->ctx_, &c->req_, &c->responder_, server->cq(), &c->request_tag_);
  }

 private:
  struct Tag final : CqTag {
    Tag(AsyncUnaryCall* c, void (AsyncUnaryCall::*f)(bool)) : call(c), fn(f) {}
    void Proceed(bool ok) override { (call->*fn)(ok); }
    AsyncUnaryCall* call;
    void (AsyncUnaryCall::*fn)(bool);
  };

  AsyncUnaryCall(AsyncUnaryServer* server, Method* method)
      : server_(server), method_(method), reply_(std::make_shared<UnaryReply<Resp>>()) {}

  void OnRequest(bool ok) {
    if (!ok) {  // the server is shutting down: the call never started, no other tag will come
      delete this;
      return;
    }
    refs_.store(1);  // the done tag
    reply_->ctx_ = &ctx_;
    reply_->to_status_ = server_->to_status_;
    reply_->finish_ = [this](const Resp* resp, const grpc::Status& s) {  // under reply_->mu_
      server_->IfOpen([&] {
        refs_.fetch_add(1);  // the finish tag
        if (resp != nullptr) {
          responder_.Finish(*resp, s, &finish_tag_);
        } else {
          responder_.FinishWithError(s, &finish_tag_);
        }
      });
    };
    Method* method = method_;  // nothing of this call is touched once its handler ran
    AsyncUnaryServer* server = server_;
    method->handle(&ctx_, req_, reply_);
    server->IfOpen([server, method] { Arm(server, method); });  // after the handler: off the call's path
  }

  void OnDone(bool) {
    {
      std::lock_guard<std::mutex> lock(reply_->mu_);
      if (!reply_->finished_) {  // cancelled (client, deadline or shutdown) before any answer
        reply_->finished_ = true;
        if (reply_->on_complete_) reply_->on_complete_(server_->cancelled_, nullptr);
      }
    }
    Unref();
  }

  void OnFinish(bool) { Unref(); }

  void Unref() {
    if (refs_.fetch_sub(1) != 1) return;
    {
      std::lock_guard<std::mutex> lock(reply_->mu_);
      reply_->finish_ = nullptr;  // later answers are dropped
      reply_->on_complete_ = nullptr;
    }
    delete this;
  }

  AsyncUnaryServer* server_;
  Method* method_;
  grpc::ServerContext ctx_;
  Req req_;
  grpc::ServerAsyncResponseWriter<Resp> responder_{&ctx_};
  std::shared_ptr<UnaryReply<Resp>> reply_;
  std::atomic<int> refs_{0};
  Tag request_tag_{this, &AsyncUnaryCall::OnRequest};
  Tag done_tag_{this, &AsyncUnaryCall::OnDone};
  Tag finish_tag_{this, &AsyncUnaryCall::OnFinish};
};

template <class Req, class Resp, class Handle>
struct AsyncUnaryServer::MethodOf final : AsyncUnaryServer::Method {
  template <class R>
  MethodOf(R r, Handle h) : request(std::move(r)), handle(std::move(h)) {}
  std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*, grpc::ServerCompletionQueue*,
                     void*)>
      request;
  Handle handle;  ///< void(grpc::ServerContext*, const Req&, std::shared_ptr<UnaryReply<Resp>>)
  void Arm(AsyncUnaryServer* server) override { AsyncUnaryCall<Req, Resp, Handle>::Arm(server, this); }
};

template <class Req, class Resp, class Handle>
void AsyncUnaryServer::Add(std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                                              grpc::ServerCompletionQueue*, void*)>
                               request,
                           Handle handle) {
  methods_.push_back(std::make_unique<MethodOf<Req, Resp, Handle>>(std::move(request), std::move(handle)));
}

}  // namespace bx::orders

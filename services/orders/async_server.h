// gRPC's async API on a completion-queue thread of the service's own: unary calls and
// server-streaming calls.
//
// Why not the callback API: in the gRPC of Debian 12 (1.51) the callback API runs every reaction
// on a separate "nexting" thread, so each call pays one more thread hand-off on the way in and one
// on the way out. Worse, as soon as one callback-API method is registered in a process, that
// thread polls every connection of the process (gRPC's epoll engine lets one idle thread poll
// for all), so even async calls are read there and handed over. A thread waiting on an async
// completion queue polls the connection itself. Measured by bench-grpc-api-rtt and
// bench-orders (docs/BENCHMARKS.md).
//
// Each method keeps one call armed (waiting for a request); the thread re-arms it as a request
// arrives. A unary call is answered exactly once, from any thread, through its UnaryReply; if the
// client cancels or the deadline passes first, the reply's on-complete hook hears CANCELLED at
// once and a later answer is dropped. A streaming call writes through its StreamWriter (one write
// in flight; any thread) and ends with one Finish, or when the client goes away. Closing: after
// grpc::Server::Shutdown has returned, Close() stops all finishing and writing, shuts the queue
// down, drains it and joins the thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
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

/// A tag that calls one member function of its call.
template <class Call>
struct MemberTag final : CqTag {
  MemberTag(Call* c, void (Call::*f)(bool)) : call(c), fn(f) {}
  void Proceed(bool ok) override { (call->*fn)(ok); }
  Call* call;
  void (Call::*fn)(bool);
};

/// How an error becomes a grpc::Status (trailers may be added to the context before Finish).
using ToGrpcStatusFn = grpc::Status (*)(const absl::Status&, grpc::ServerContextBase*);

/// A unary call that has arrived and has not ended yet, as the server tracks it for shutdown.
class PendingReply {
 public:
  /// Ends the call with `why` unless it has its answer already; a later answer is then handed
  /// to the reply's on-late hook, as for a call the client cancelled. False if it had ended.
  virtual bool Abandon(const absl::Status& why) = 0;

 protected:
  ~PendingReply() = default;
};

class AsyncServer {
 public:
  /// `cancelled`: what a call's on-complete hook hears when the call ends before its answer.
  AsyncServer(std::unique_ptr<grpc::ServerCompletionQueue> cq, ToGrpcStatusFn to_status, absl::Status cancelled);
  ~AsyncServer();
  AsyncServer(const AsyncServer&) = delete;
  AsyncServer& operator=(const AsyncServer&) = delete;

  /// Before Start(): one method. `request` is the generated RequestXxx bound to the service;
  /// `handle` gets each arrived call (on the queue thread; it must not block).
  template <class Req, class Resp, class Handle>
  void Add(std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                              grpc::ServerCompletionQueue*, void*)>
               request,
           Handle handle);

  /// Before Start(): one server-streaming method. `handle` gets each arrived call on the queue
  /// thread: void(grpc::ServerContext*, const Req&, std::shared_ptr<StreamWriter<Resp>>).
  template <class Req, class Resp, class Handle>
  void AddStream(std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncWriter<Resp>*, grpc::CompletionQueue*,
                                    grpc::ServerCompletionQueue*, void*)>
                     request,
                 Handle handle);

  /// Arms every method and starts the queue thread.
  void Start();
  /// Arms every method without a thread of its own: the caller's one thread calls Poll() over and
  /// over (busy-poll mode), from now until Poll() returns false.
  void StartPolled();
  /// Polled mode only, from the polling thread: runs every tag that is ready now, without
  /// waiting for more. False once the queue is shut down and empty (the call after Close()).
  bool Poll();
  /// After grpc::Server::Shutdown returned (every call is then done or cancelled): no further
  /// Finish or re-arm, queue shut down and drained, thread joined (polled mode: until the polling
  /// thread has seen the queue empty). Idempotent.
  void Close();
  /// Any thread: ends every unary call still waiting for its answer with `why` (streams are not
  /// touched). For shutdown, before gRPC's own deadline cancels what is left with a bare
  /// "Cancelling all calls" that tells the caller nothing. Returns how many it ended.
  size_t AbandonPending(const absl::Status& why);

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
    virtual void Arm(AsyncServer* server) = 0;
  };
  /// One method: how to request its next call, what handles it, and which call class runs it.
  template <class Call, class RequestFn, class Handle>
  struct MethodOf final : Method {
    MethodOf(RequestFn r, Handle h) : request(std::move(r)), handle(std::move(h)) {}
    RequestFn request;
    Handle handle;
    void Arm(AsyncServer* server) override { Call::Arm(server, this); }
  };
  template <class Req, class Resp, class Handle>
  friend class AsyncUnaryCall;
  template <class Req, class Resp, class Handle>
  friend class AsyncStreamCall;
  /// Runs every tag the queue returns until it is shut down and empty.
  void Drain();
  void Track(const void* call, std::shared_ptr<PendingReply> reply);
  void Untrack(const void* call);

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  ToGrpcStatusFn to_status_;
  absl::Status cancelled_;
  std::vector<std::unique_ptr<Method>> methods_;
  std::shared_mutex gate_;
  std::mutex pending_mu_;
  std::unordered_map<const void*, std::shared_ptr<PendingReply>> pending_;  ///< unary calls between arrival and end
  bool closed_ = false;
  bool started_ = false;
  bool polled_ = false;
  std::mutex drained_mu_;
  std::condition_variable drained_cv_;
  bool drained_ = false;  ///< polled mode: Poll() has seen the queue shut down and empty
  std::thread thread_;
};

/// The answering side of one call, shared with whoever will answer it (the engine's callback).
/// Valid after the call is gone: answers are then dropped.
template <class Resp>
class UnaryReply final : public PendingReply {
 public:
  /// Sees the outcome once, before Finish (metrics, audit; nullptr response on errors).
  using OnComplete = std::function<void(const absl::Status&, const Resp*)>;
  /// Any thread; the first answer (or a cancellation) wins.
  void Complete(absl::StatusOr<Resp> r) {
    std::lock_guard<std::mutex> lock(mu_);
    if (gone_.load(std::memory_order_relaxed) && on_late_) {  // the caller is gone; what happened is still worth a record
      auto late = std::move(on_late_);
      on_late_ = nullptr;
      late(r.ok() ? absl::OkStatus() : r.status(), r.ok() ? &*r : nullptr);
      return;
    }
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

  bool Abandon(const absl::Status& why) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_ == nullptr || finished_) return false;
    finished_ = true;
    gone_.store(true, std::memory_order_release);  // what still comes is late, and on record as such
    if (on_complete_) on_complete_(why, nullptr);
    finish_(nullptr, to_status_(why, ctx_));
    return true;
  }

  /// Any thread. True once the call has ended without an answer (client cancel, deadline,
  /// shutdown): whatever is still working on it may stop if nothing was sent yet.
  /// Lock-free: the rate limiter asks it on the executor thread while another thread may hold
  /// the reply's mutex through a Finish.
  bool gone() const { return gone_.load(std::memory_order_acquire); }

  void set_on_complete(OnComplete f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_complete_ = std::move(f);
  }
  /// Sees the answer that arrives after the call was cancelled (client, deadline or shutdown),
  /// once; it is not sent anywhere. Kept after the call is gone.
  void set_on_late(OnComplete f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_late_ = std::move(f);
  }

 private:
  template <class, class, class>
  friend class AsyncUnaryCall;
  std::mutex mu_;
  bool finished_ = false;
  /// Finished by a cancellation, not by an answer. Written under mu_, read without it by gone().
  std::atomic<bool> gone_{false};
  OnComplete on_complete_;
  OnComplete on_late_;
  ToGrpcStatusFn to_status_ = nullptr;
  grpc::ServerContextBase* ctx_ = nullptr;
  std::function<void(const Resp*, const grpc::Status&)> finish_;  ///< null once the call is gone
};

/// One call of one method: armed, then handled, then finished or cancelled; deletes itself
/// when the queue has returned every tag it gave out.
template <class Req, class Resp, class Handle>
class AsyncUnaryCall {
 public:
  using RequestFn = std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                                       grpc::ServerCompletionQueue*, void*)>;
  using Method = AsyncServer::MethodOf<AsyncUnaryCall, RequestFn, Handle>;

  static void Arm(AsyncServer* server, Method* method) {
    auto* c = new AsyncUnaryCall(server, method);
    c->ctx_.AsyncNotifyWhenDone(&c->done_tag_);
    method->request(&c->ctx_, &c->req_, &c->responder_, server->cq(), &c->request_tag_);
  }

 private:
  using Tag = MemberTag<AsyncUnaryCall>;

  AsyncUnaryCall(AsyncServer* server, Method* method)
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
    AsyncServer* server = server_;
    server->Track(this, reply_);
    method->handle(&ctx_, req_, reply_);
    server->IfOpen([server, method] { Arm(server, method); });  // after the handler: off the call's path
  }

  void OnDone(bool) {
    {
      std::lock_guard<std::mutex> lock(reply_->mu_);
      if (!reply_->finished_) {  // cancelled (client, deadline or shutdown) before any answer
        reply_->finished_ = true;
        reply_->gone_.store(true, std::memory_order_release);
        if (reply_->on_complete_) reply_->on_complete_(server_->cancelled_, nullptr);
      }
    }
    Unref();
  }

  void OnFinish(bool) { Unref(); }

  void Unref() {
    if (refs_.fetch_sub(1) != 1) return;
    server_->Untrack(this);
    {
      std::lock_guard<std::mutex> lock(reply_->mu_);
      reply_->finish_ = nullptr;  // later answers are dropped
      reply_->on_complete_ = nullptr;
    }
    delete this;
  }

  AsyncServer* server_;
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
void AsyncServer::Add(std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                                              grpc::ServerCompletionQueue*, void*)>
                               request,
                           Handle handle) {
  using Call = AsyncUnaryCall<Req, Resp, Handle>;
  methods_.push_back(std::make_unique<typename Call::Method>(std::move(request), std::move(handle)));
}

/// The writing side of one server-streaming call, shared with whoever produces its messages.
/// Thread-safe. Valid after the call is gone: writes then return false.
template <class Resp>
class StreamWriter {
 public:
  /// Hears each write's completion (false: the call is gone), on the queue thread, without any
  /// of the writer's locks held: it may start the next write.
  using OnWriteDone = std::function<void(bool ok)>;
  /// Hears once that the call has ended (finished, cancelled by the client or by shutdown).
  using OnDone = std::function<void()>;

  /// Starts one write of `msg`, which must stay valid and unchanged until its write completes.
  /// False (nothing written) while another write is in flight, after Finish, or once the call
  /// is gone.
  bool Write(const Resp* msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (start_write_ == nullptr || finishing_ || write_in_flight_) return false;
    write_in_flight_ = start_write_(msg);
    return write_in_flight_;
  }
  /// Ends the call with `s`, after the write in flight (if any) completes. The first call wins.
  void Finish(grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (start_finish_ == nullptr || finishing_) return;
    finishing_ = true;
    if (write_in_flight_) {
      pending_finish_ = std::move(s);
      return;
    }
    start_finish_(s);
  }
  void set_on_write_done(OnWriteDone f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_write_done_ = std::move(f);
  }
  void set_on_done(OnDone f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_done_ = std::move(f);
  }

 private:
  template <class, class, class>
  friend class AsyncStreamCall;
  std::mutex mu_;
  bool write_in_flight_ = false;
  bool finishing_ = false;
  std::optional<grpc::Status> pending_finish_;
  OnWriteDone on_write_done_;
  OnDone on_done_;
  std::function<bool(const Resp*)> start_write_;            ///< null once the call is gone
  std::function<void(const grpc::Status&)> start_finish_;  ///< null once the call is gone
};

/// One call of one server-streaming method: armed, then handled, then written to until finished
/// or cancelled; deletes itself when the queue has returned every tag it gave out.
template <class Req, class Resp, class Handle>
class AsyncStreamCall {
 public:
  using RequestFn = std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncWriter<Resp>*,
                                       grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*)>;
  using Method = AsyncServer::MethodOf<AsyncStreamCall, RequestFn, Handle>;

  static void Arm(AsyncServer* server, Method* method) {
    auto* c = new AsyncStreamCall(server, method);
    c->ctx_.AsyncNotifyWhenDone(&c->done_tag_);
    method->request(&c->ctx_, &c->req_, &c->writer_, server->cq(), server->cq(), &c->request_tag_);
  }

 private:
  using Tag = MemberTag<AsyncStreamCall>;

  AsyncStreamCall(AsyncServer* server, Method* method)
      : server_(server), method_(method), out_(std::make_shared<StreamWriter<Resp>>()) {}

  void OnRequest(bool ok) {
    if (!ok) {  // the server is shutting down: the call never started, no other tag will come
      delete this;
      return;
    }
    refs_.store(1);  // the done tag
    out_->start_write_ = [this](const Resp* msg) {  // under out_->mu_
      return server_->IfOpen([&] {
        refs_.fetch_add(1);  // the write tag
        writer_.Write(*msg, &write_tag_);
      });
    };
    out_->start_finish_ = [this](const grpc::Status& s) {  // under out_->mu_
      server_->IfOpen([&] {
        refs_.fetch_add(1);  // the finish tag
        writer_.Finish(s, &finish_tag_);
      });
    };
    Method* method = method_;
    AsyncServer* server = server_;
    method->handle(&ctx_, req_, out_);
    server->IfOpen([server, method] { Arm(server, method); });
  }

  void OnWrite(bool ok) {
    typename StreamWriter<Resp>::OnWriteDone hook;
    {
      std::lock_guard<std::mutex> lock(out_->mu_);
      out_->write_in_flight_ = false;
      if (out_->pending_finish_ && out_->start_finish_) {
        out_->start_finish_(*out_->pending_finish_);
        out_->pending_finish_.reset();
      }
      hook = out_->on_write_done_;
    }
    if (hook) hook(ok);
    Unref();
  }

  void OnDone(bool) {
    typename StreamWriter<Resp>::OnDone hook;
    {
      std::lock_guard<std::mutex> lock(out_->mu_);
      // The call is over (finished, or cancelled: then no Finish is needed): nothing may take a
      // new tag from here on, so the count below can only fall.
      out_->start_write_ = nullptr;
      out_->start_finish_ = nullptr;
      out_->pending_finish_.reset();
      hook = std::move(out_->on_done_);
      out_->on_done_ = nullptr;
    }
    if (hook) hook();
    Unref();
  }

  void OnFinish(bool) { Unref(); }

  void Unref() {
    if (refs_.fetch_sub(1) != 1) return;
    {
      std::lock_guard<std::mutex> lock(out_->mu_);
      out_->start_write_ = nullptr;
      out_->start_finish_ = nullptr;
      out_->on_write_done_ = nullptr;
      out_->on_done_ = nullptr;
    }
    delete this;
  }

  AsyncServer* server_;
  Method* method_;
  grpc::ServerContext ctx_;
  Req req_;
  grpc::ServerAsyncWriter<Resp> writer_{&ctx_};
  std::shared_ptr<StreamWriter<Resp>> out_;
  std::atomic<int> refs_{0};
  Tag request_tag_{this, &AsyncStreamCall::OnRequest};
  Tag done_tag_{this, &AsyncStreamCall::OnDone};
  Tag write_tag_{this, &AsyncStreamCall::OnWrite};
  Tag finish_tag_{this, &AsyncStreamCall::OnFinish};
};

template <class Req, class Resp, class Handle>
void AsyncServer::AddStream(std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncWriter<Resp>*,
                                               grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*)>
                                request,
                            Handle handle) {
  using Call = AsyncStreamCall<Req, Resp, Handle>;
  methods_.push_back(std::make_unique<typename Call::Method>(std::move(request), std::move(handle)));
}

}  // namespace bx::orders

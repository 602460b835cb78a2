#include "services/orders/async_server.h"

#include <pthread.h>

namespace bx::orders {

AsyncServer::AsyncServer(std::unique_ptr<grpc::ServerCompletionQueue> cq, ToGrpcStatusFn to_status,
                                   absl::Status cancelled)
    : cq_(std::move(cq)), to_status_(to_status), cancelled_(std::move(cancelled)) {}

AsyncServer::~AsyncServer() { Close(); }

void AsyncServer::Start() {
  if (started_) return;
  started_ = true;
  for (auto& m : methods_) m->Arm(this);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "orders-grpc-cq");
    Drain();
  });
}

void AsyncServer::StartPolled() {
  if (started_) return;
  started_ = true;
  polled_ = true;
  for (auto& m : methods_) m->Arm(this);
}

bool AsyncServer::Poll() {
  void* tag = nullptr;
  bool ok = false;
  for (;;) {
    switch (cq_->AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC))) {
      case grpc::CompletionQueue::GOT_EVENT:
        static_cast<CqTag*>(tag)->Proceed(ok);
        break;
      case grpc::CompletionQueue::TIMEOUT:
        return true;
      case grpc::CompletionQueue::SHUTDOWN: {
        std::lock_guard<std::mutex> lock(drained_mu_);
        drained_ = true;
        drained_cv_.notify_all();
        return false;
      }
    }
  }
}

void AsyncServer::Drain() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
}

void AsyncServer::Track(const void* call, std::shared_ptr<PendingReply> reply) {
  std::lock_guard<std::mutex> lock(pending_mu_);
  pending_.emplace(call, std::move(reply));
}

void AsyncServer::Untrack(const void* call) {
  std::lock_guard<std::mutex> lock(pending_mu_);
  pending_.erase(call);
}

size_t AsyncServer::AbandonPending(const absl::Status& why) {
  std::vector<std::shared_ptr<PendingReply>> replies;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    for (auto& [call, reply] : pending_) replies.push_back(reply);
  }
  // Outside pending_mu_: a Finish may complete at once and its call untrack itself.
  size_t ended = 0;
  for (auto& r : replies) ended += r->Abandon(why) ? 1 : 0;
  return ended;
}

void AsyncServer::Close() {
  {
    std::unique_lock<std::shared_mutex> lock(gate_);
    if (closed_) return;
    closed_ = true;
  }
  cq_->Shutdown();
  if (polled_) {
    std::unique_lock<std::mutex> lock(drained_mu_);
    drained_cv_.wait(lock, [this] { return drained_; });
  } else if (thread_.joinable()) {
    thread_.join();
  } else {
    Drain();  // never started: drain here
  }
}

}  // namespace bx::orders

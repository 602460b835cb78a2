// Client-side helpers of the order service's integration tests: a StreamUpdates reader on its
// own thread, and a unary call started without waiting.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bitunix/orders/v1/orders.grpc.pb.h"

namespace bx::orders::testing {

namespace v1 = ::bitunix::orders::v1;

/// Reads a StreamUpdates stream on its own thread into a vector; cancels it when destroyed.
class StreamReader {
 public:
  StreamReader(v1::OrderService::Stub& stub, std::unique_ptr<grpc::ClientContext> ctx, v1::StreamUpdatesRequest req)
      : ctx_(std::move(ctx)) {
    reader_ = stub.StreamUpdates(ctx_.get(), req);
    thread_ = std::thread([this] {
      v1::StreamUpdatesResponse msg;
      while (reader_->Read(&msg)) {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& e : msg.events()) events_.push_back(e);
      }
      status_ = reader_->Finish();
      done_ = true;
    });
  }
  ~StreamReader() {
    ctx_->TryCancel();
    thread_.join();
  }
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  std::vector<v1::UpdateEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  bool Has(const std::function<bool(const v1::UpdateEvent&)>& pred) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : events_) {
      if (pred(e)) return true;
    }
    return false;
  }
  /// The order events of one client id, in stream order.
  std::vector<v1::Order> OrderEvents(const std::string& cid) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<v1::Order> out;
    for (const auto& e : events_) {
      if (e.has_order() && e.order().client_id() == cid) out.push_back(e.order());
    }
    return out;
  }
  /// True once the stream has ended; status() is then its final status.
  bool done() const { return done_.load(); }
  grpc::Status status() const { return status_; }

 private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<v1::StreamUpdatesResponse>> reader_;
  mutable std::mutex mu_;
  std::vector<v1::UpdateEvent> events_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  grpc::Status status_;
};

/// One unary call started without waiting: its request and answer live here, its status arrives
/// on `status` (set `done` from the call's callback).
template <class Req, class Resp>
struct PendingCall {
  Req req;
  std::unique_ptr<grpc::ClientContext> ctx;
  Resp resp;
  std::promise<grpc::Status> done;
  std::future<grpc::Status> status = done.get_future();
  PendingCall() = default;
  PendingCall(const PendingCall&) = delete;
  PendingCall& operator=(const PendingCall&) = delete;
  ~PendingCall() {  // a test that stopped early: the callback must not outlive `done`
    if (status.valid()) {
      ctx->TryCancel();
      status.wait();
    }
  }
};

}  // namespace bx::orders::testing

// A typed gRPC client for Subscribe in tests: reads on its own thread into a vector the test
// waits on (bounded), and can pause reading to act as a slow consumer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bitunix/marketdata/v1/marketdata.grpc.pb.h"

namespace bx::md::testing {

namespace v1 = ::bitunix::marketdata::v1;

class StreamReader {
 public:
  using Events = std::vector<v1::MarketEvent>;

  StreamReader(const std::shared_ptr<grpc::Channel>& channel, v1::SubscribeRequest request,
               const std::map<std::string, std::string>& metadata = {}, bool start_paused = false)
      : stub_(v1::MarketDataService::NewStub(channel)), paused_(start_paused) {
    for (const auto& [k, v] : metadata) ctx_.AddMetadata(k, v);
    thread_ = std::thread([this, request = std::move(request)] { Run(request); });
  }
  ~StreamReader() {
    ctx_.TryCancel();
    Resume();
    thread_.join();
  }

  template <class Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(events_) || done_; }) && pred(events_);
  }
  bool WaitFinished(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }
  Events events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  size_t messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  std::optional<grpc::Status> status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  void Pause() {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = true;
  }
  void Resume() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      paused_ = false;
    }
    cv_.notify_all();
  }
  void Cancel() { ctx_.TryCancel(); }

 private:
  void Run(const v1::SubscribeRequest& request) {
    auto reader = stub_->Subscribe(&ctx_, request);
    v1::SubscribeResponse resp;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !paused_; });
      }
      if (!reader->Read(&resp)) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++messages_;
        for (auto& e : *resp.mutable_events()) events_.push_back(std::move(e));
      }
      cv_.notify_all();
    }
    grpc::Status st = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(mu_);
      status_ = st;
      done_ = true;
    }
    cv_.notify_all();
  }

  std::unique_ptr<v1::MarketDataService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  Events events_;
  size_t messages_ = 0;
  bool paused_;
  bool done_ = false;
  std::optional<grpc::Status> status_;
  std::thread thread_;
};

inline size_t Count(const StreamReader::Events& ev, const std::function<bool(const v1::MarketEvent&)>& f) {
  size_t n = 0;
  for (const auto& e : ev) n += f(e) ? 1 : 0;
  return n;
}

}  // namespace bx::md::testing

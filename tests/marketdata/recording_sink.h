// A StreamSink that records batches (decoded as SubscribeResponse) and lets the test complete
// writes when it chooses, like a client that reads at its own pace.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "services/marketdata/stream.h"

namespace bx::md::testing {

class RecordingSink : public StreamSink {
 public:
  /// auto_ack: complete every write at once (a fast client).
  explicit RecordingSink(bool auto_ack = false) : auto_ack_(auto_ack) {}
  void set_stream(Stream* s) { stream_ = s; }

  void StartWrite(BatchBuffer batch) override {
    v1::SubscribeResponse resp;
    bool ok = resp.ParseFromArray(batch.data(), static_cast<int>(batch.size()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      parse_ok_ &= ok;
      batches_.push_back(resp);
      write_threads_.push_back(std::this_thread::get_id());
      for (const auto& e : resp.events()) events_.push_back(e);
      in_flight_ = true;
    }
    cv_.notify_all();
    if (auto_ack_) Ack();
  }
  void Finish(absl::Status status) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = status;
    }
    cv_.notify_all();
  }

  /// As gRPC after TryCancel, at worst inline on the calling thread: the write in flight
  /// completes (not ok) and the call is cancelled.
  void Abandon() override {
    abandons_.fetch_add(1);
    Ack(false);
    stream_->Cancel();
  }
  int abandons() const { return abandons_.load(); }

  /// Completes the write in flight.
  void Ack(bool ok = true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!in_flight_) return;
      in_flight_ = false;
    }
    stream_->OnWriteDone(ok);
  }

  /// Waits (bounded) until `pred` holds over the recorded events.
  template <class Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(events_); });
  }
  bool WaitEvents(size_t n) {
    return WaitFor([n](const std::vector<v1::MarketEvent>& e) { return e.size() >= n; });
  }
  bool WaitFinished(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return finished_.has_value(); });
  }
  bool WaitInFlight(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return in_flight_; });
  }

  std::vector<v1::MarketEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<v1::SubscribeResponse> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  std::optional<absl::Status> finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  bool parse_ok() {
    std::lock_guard<std::mutex> lock(mu_);
    return parse_ok_;
  }
  bool in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return in_flight_;
  }
  /// The thread that started each write, in order.
  std::vector<std::thread::id> write_threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return write_threads_;
  }

 private:
  std::atomic<int> abandons_{0};
  const bool auto_ack_;
  Stream* stream_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::SubscribeResponse> batches_;
  std::vector<v1::MarketEvent> events_;
  std::vector<std::thread::id> write_threads_;
  std::optional<absl::Status> finished_;
  bool in_flight_ = false;
  bool parse_ok_ = true;
};

}  // namespace bx::md::testing

// Test doubles for the order service: a manual scheduler driven by FakeClock, and a scripted
// HttpClient. Everything runs on the test thread, so tests are deterministic.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/net/http_client.h"
#include "common/net/ws_client.h"
#include "services/orders/scheduler.h"

namespace bx::orders::testing {

class ManualScheduler final : public Scheduler {
 public:
  explicit ManualScheduler(FakeClock& clock) : clock_(clock) {}
  void Post(std::function<void()> fn) override;
  TimerId RunAt(SteadyTime when, std::function<void()> fn) override;
  void Cancel(TimerId id) override;
  const Clock& clock() const override { return clock_; }
  /// Everything runs on the test thread; replies are still posted so ordering stays realistic.
  bool OnExecutorThread() const override { return false; }

  /// Runs posted work and due timers until nothing more is runnable at the current time.
  size_t RunUntilIdle();
  /// Moves the clock forward by `d`, stopping at each due timer on the way and running it.
  void Advance(std::chrono::nanoseconds d);
  /// Advances in `step`s until `done()` or `limit` elapsed; returns done().
  bool AdvanceUntil(const std::function<bool()>& done, std::chrono::nanoseconds limit,
                    std::chrono::nanoseconds step = std::chrono::milliseconds(10));
  size_t pending_timers() const;

 private:
  struct Timer {
    SteadyTime when;
    std::function<void()> fn;
  };
  FakeClock& clock_;
  mutable std::mutex mu_;
  std::deque<std::function<void()>> posted_;
  std::map<TimerId, Timer> timers_;
  TimerId next_id_ = 0;
};

/// An HttpClient whose replies the test decides. With a responder set, every request is
/// answered at once (inline); otherwise requests wait in pending() until completed.
class FakeHttpClient final : public net::HttpClient {
 public:
  using Responder = std::function<net::HttpResult(const net::HttpRequest&)>;
  void Send(net::HttpRequest request, net::HttpCallback done) override;
  net::HttpClientStats Stats() const override { return {}; }

  void set_responder(Responder r) {
    std::lock_guard<std::mutex> lock(mu_);
    responder_ = std::move(r);
  }
  std::vector<net::HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  size_t pending() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size();
  }
  /// Completes the oldest pending request; false if none.
  bool CompleteNext(net::HttpResult result);
  const net::HttpRequest& pending_request(size_t i) const { return pending_.at(i).first; }

 private:
  mutable std::mutex mu_;
  Responder responder_;
  std::vector<net::HttpRequest> requests_;
  std::deque<std::pair<net::HttpRequest, net::HttpCallback>> pending_;
};

/// A WebSocket whose traffic the test drives: it records sent frames and lets the test open,
/// push frames and close. Thread-safe.
class FakeWsClient final : public net::WsClient {
 public:
  void Connect(Handlers handlers) override;
  void Send(std::string text) override;
  void Close() override;
  void Abort() override;
  bool is_open() const override;

  /// Test side.
  bool Open();                       ///< on_open of the pending Connect; false if none
  bool Push(const std::string& text);  ///< on_text
  bool PushBinary(const std::string& data);  ///< on_binary
  bool Drop(absl::Status why = absl::UnavailableError("connection reset"));  ///< on_closed
  std::vector<std::string> sent() const;
  int connects() const;
  bool connecting() const;

 private:
  mutable std::mutex mu_;
  Handlers handlers_;
  bool connected_ = false, open_ = false;
  int connects_ = 0;
  std::vector<std::string> sent_;
};

/// A complete HTTP response.
net::HttpResult HttpReply(int status, std::string body, int64_t date_ms = 0);
/// A transport failure.
net::HttpResult HttpFailure(absl::Status status, bool maybe_sent);
/// `{"code":0,"data":<data>,"msg":"Success"}`.
std::string OkEnvelope(const std::string& data_json);
/// `{"code":<code>,"data":null,"msg":<msg>}`.
std::string ErrorEnvelope(int code, const std::string& msg);

/// Query parameter `key` of a request target ("" if absent; no URL decoding beyond %2C).
std::string QueryParam(const std::string& target, const std::string& key);
/// Path of a request target.
std::string TargetPath(const std::string& target);

}  // namespace bx::orders::testing

// Test doubles for the transports: a scriptable WebSocket client and HTTP client whose callbacks
// run through a ManualExecutor (like the real io thread, never inline).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/net/http_client.h"
#include "common/net/ws_client.h"
#include "services/marketdata/executor.h"

namespace bx::md::testing {

class FakeWsClient : public net::WsClient {
 public:
  explicit FakeWsClient(Executor* io, const Clock* clock = nullptr) : io_(io), clock_(clock) {}

  void Connect(Handlers handlers) override {
    handlers_ = std::move(handlers);
    ++connects;
    connecting_ = true;
  }
  void Send(std::string text) override { sent.push_back(std::move(text)); }
  void Close() override {
    ++closes;
    Drop(absl::OkStatus());
  }
  void Abort() override {
    ++aborts;
    Drop(absl::AbortedError("aborted"));
  }
  bool is_open() const override { return open_; }

  // Test controls (deliver through the executor, as the io thread would). Once its owner deleted
  // it (Destroyed), the client delivers nothing more, like the real one: the test's controls on
  // it are no-ops, and what it posted before is dropped.
  void Open() {
    if (destroyed()) return;
    connecting_ = false;
    open_ = true;
    auto h = handlers_.on_open;
    io_->Post([h, live = live_] {
      if (*live) h();
    });
  }
  /// recv_ns 0 = the clock's now (as the real client stamps frames). Each Text is one socket
  /// read (on_read_end follows) unless `end_read` is false: a read that goes on, or that an error
  /// (Drop) ends.
  void Text(std::string text, int64_t recv_ns = 0, bool end_read = true) {
    if (destroyed()) return;
    if (recv_ns == 0) recv_ns = clock_ != nullptr ? clock_->NowNs() : 1;
    auto h = handlers_.on_text;
    auto end = end_read ? handlers_.on_read_end : nullptr;
    io_->Post([h, end, text = std::move(text), recv_ns, live = live_] {
      if (!*live) return;
      h(text, recv_ns);
      if (end) end();
    });
  }
  /// Ends a socket read that Text(..., end_read=false) left open.
  void EndRead() {
    if (destroyed()) return;
    auto end = handlers_.on_read_end;
    if (end) {
      io_->Post([end, live = live_] {
        if (*live) end();
      });
    }
  }
  void Drop(absl::Status why) {
    if (destroyed() || (!open_ && !connecting_)) return;
    open_ = false;
    connecting_ = false;
    auto h = handlers_.on_closed;
    io_->Post([h, why, live = live_] {
      if (*live) h(why);
    });
  }
  bool connecting() const { return connecting_; }
  /// Its owner (the upstream) deleted it.
  bool destroyed() const { return !*live_; }
  void Destroyed() {
    *live_ = false;
    open_ = false;
    connecting_ = false;
    handlers_ = {};
  }

  std::vector<std::string> sent;
  int connects = 0;
  int closes = 0;
  int aborts = 0;

 private:
  Executor* io_;
  const Clock* clock_;
  Handlers handlers_;
  bool open_ = false;
  bool connecting_ = false;
  std::shared_ptr<bool> live_ = std::make_shared<bool>(true);
};

/// What the code under test owns: forwards to a FakeWsClient the factory keeps, so a test may
/// still look at (and harmlessly poke) a client the code deleted.
class FakeWsHandle final : public net::WsClient {
 public:
  explicit FakeWsHandle(FakeWsClient* client) : client_(client) {}
  ~FakeWsHandle() override { client_->Destroyed(); }
  void Connect(Handlers handlers) override { client_->Connect(std::move(handlers)); }
  void Send(std::string text) override { client_->Send(std::move(text)); }
  void Close() override { client_->Close(); }
  void Abort() override { client_->Abort(); }
  bool is_open() const override { return client_->is_open(); }

 private:
  FakeWsClient* client_;
};

/// Makes FakeWsClients and keeps them (and pointers to them in `clients`, which a test may clear).
struct FakeWsFactory {
  explicit FakeWsFactory(Executor* io, const Clock* clock = nullptr) : io(io), clock(clock) {}
  std::function<std::unique_ptr<net::WsClient>()> Fn() {
    return [this] {
      owned.push_back(std::make_unique<FakeWsClient>(io, clock));
      clients.push_back(owned.back().get());
      return std::make_unique<FakeWsHandle>(owned.back().get());
    };
  }
  Executor* io;
  const Clock* clock;
  std::vector<FakeWsClient*> clients;
  std::vector<std::unique_ptr<FakeWsClient>> owned;
};

class FakeHttpClient : public net::HttpClient {
 public:
  explicit FakeHttpClient(Executor* io) : io_(io) {}
  /// Answers requests; default: 404 for everything.
  std::function<net::HttpResult(const net::HttpRequest&)> responder = [](const net::HttpRequest&) {
    net::HttpResult r;
    r.response.status = 404;
    return r;
  };
  void Send(net::HttpRequest request, net::HttpCallback done) override {
    requests.push_back(request);
    net::HttpResult result = responder(request);
    auto deliver = [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); };
    if (hold) {
      held_.push_back(std::move(deliver));
    } else {
      io_->Post(std::move(deliver));
    }
  }
  /// While set, replies wait (the request stays in flight) until ReleaseHeld().
  bool hold = false;
  /// Delivers the held replies through the executor; returns how many.
  size_t ReleaseHeld() {
    const size_t n = held_.size();
    for (auto& fn : held_) io_->Post(std::move(fn));
    held_.clear();
    return n;
  }
  net::HttpClientStats Stats() const override { return {}; }

  int CountTarget(const std::string& prefix) const {
    int n = 0;
    for (const auto& r : requests) n += r.target.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
  std::vector<net::HttpRequest> requests;

 private:
  Executor* io_;
  std::vector<std::function<void()>> held_;
};

inline net::HttpResult HttpOk(std::string body) {
  net::HttpResult r;
  r.response.status = 200;
  r.response.body = std::move(body);
  return r;
}

}  // namespace bx::md::testing

#include "tests/orders/fakes.h"

#include <algorithm>

namespace bx::orders::testing {

void ManualScheduler::Post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  posted_.push_back(std::move(fn));
}

Scheduler::TimerId ManualScheduler::RunAt(SteadyTime when, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  TimerId id = ++next_id_;
  timers_.emplace(id, Timer{when, std::move(fn)});
  return id;
}

void ManualScheduler::Cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  timers_.erase(id);
}

size_t ManualScheduler::pending_timers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return timers_.size();
}

size_t ManualScheduler::RunUntilIdle() {
  size_t ran = 0;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!posted_.empty()) {
        fn = std::move(posted_.front());
        posted_.pop_front();
      } else {
        // Earliest due timer (ties by id = creation order).
        auto best = timers_.end();
        const SteadyTime now = clock_.Steady();
        for (auto it = timers_.begin(); it != timers_.end(); ++it) {
          if (it->second.when <= now && (best == timers_.end() || it->second.when < best->second.when)) best = it;
        }
        if (best == timers_.end()) return ran;
        fn = std::move(best->second.fn);
        timers_.erase(best);
      }
    }
    fn();
    ++ran;
  }
  return ran;
}

void ManualScheduler::Advance(std::chrono::nanoseconds d) {
  const SteadyTime end = clock_.Steady() + d;
  RunUntilIdle();
  for (int guard = 0; guard < 1'000'000; ++guard) {
    SteadyTime next = end;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, t] : timers_) next = std::min(next, t.when);
    }
    const SteadyTime now = clock_.Steady();
    if (next > now) clock_.Advance(next - now);
    RunUntilIdle();
    if (clock_.Steady() >= end) return;
  }
}

bool ManualScheduler::AdvanceUntil(const std::function<bool()>& done, std::chrono::nanoseconds limit,
                                   std::chrono::nanoseconds step) {
  RunUntilIdle();
  for (std::chrono::nanoseconds t{0}; !done() && t < limit; t += step) Advance(step);
  return done();
}

void FakeHttpClient::Send(net::HttpRequest request, net::HttpCallback done) {
  Responder responder;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    responder = responder_;
    if (!responder) {
      pending_.emplace_back(std::move(request), std::move(done));
      return;
    }
  }
  done(responder(request));
}

bool FakeHttpClient::CompleteNext(net::HttpResult result) {
  net::HttpCallback done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.empty()) return false;
    done = std::move(pending_.front().second);
    pending_.pop_front();
  }
  done(std::move(result));
  return true;
}

void FakeWsClient::Connect(Handlers handlers) {
  std::lock_guard<std::mutex> lock(mu_);
  handlers_ = std::move(handlers);
  connected_ = true;
  open_ = false;
  ++connects_;
}

void FakeWsClient::Send(std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_) sent_.push_back(std::move(text));
}

void FakeWsClient::Close() { Drop(absl::OkStatus()); }

void FakeWsClient::Abort() { Drop(absl::CancelledError("aborted")); }

bool FakeWsClient::is_open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

bool FakeWsClient::Open() {
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!connected_ || open_) return false;
    open_ = true;
    cb = handlers_.on_open;
  }
  if (cb) cb();
  return true;
}

bool FakeWsClient::Push(const std::string& text) {
  std::function<void(std::string_view, int64_t)> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_) return false;
    cb = handlers_.on_text;
  }
  if (cb) cb(text, 0);
  return true;
}

bool FakeWsClient::PushBinary(const std::string& data) {
  std::function<void(std::string_view)> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_) return false;
    cb = handlers_.on_binary;
  }
  if (cb) cb(data);
  return true;
}

bool FakeWsClient::Drop(absl::Status why) {
  std::function<void(absl::Status)> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!connected_) return false;
    connected_ = false;
    open_ = false;
    cb = handlers_.on_closed;
  }
  if (cb) cb(std::move(why));
  return true;
}

std::vector<std::string> FakeWsClient::sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sent_;
}

int FakeWsClient::connects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connects_;
}

bool FakeWsClient::connecting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_ && !open_;
}

net::HttpResult HttpReply(int status, std::string body, int64_t date_ms) {
  net::HttpResult r;
  r.status = absl::OkStatus();
  r.maybe_sent = true;
  r.response.status = status;
  r.response.body = std::move(body);
  r.response.date_ms = date_ms;
  return r;
}

net::HttpResult HttpFailure(absl::Status status, bool maybe_sent) {
  net::HttpResult r;
  r.status = std::move(status);
  r.maybe_sent = maybe_sent;
  return r;
}

std::string OkEnvelope(const std::string& data_json) {
  return R"({"code":0,"data":)" + data_json + R"(,"msg":"Success"})";
}

std::string ErrorEnvelope(int code, const std::string& msg) {
  return R"({"code":)" + std::to_string(code) + R"(,"data":null,"msg":")" + msg + R"("})";
}

std::string TargetPath(const std::string& target) { return target.substr(0, target.find('?')); }

std::string QueryParam(const std::string& target, const std::string& key) {
  auto q = target.find('?');
  if (q == std::string::npos) return "";
  std::string rest = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t amp = rest.find('&', pos);
    std::string kv = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.substr(0, eq) == key) {
      std::string v = kv.substr(eq + 1);
      for (size_t i; (i = v.find("%2C")) != std::string::npos;) v.replace(i, 3, ",");
      return v;
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

}  // namespace bx::orders::testing

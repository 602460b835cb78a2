#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <unordered_map>

#include "services/orders/scheduler.h"

namespace bx::orders {
namespace {

class AsioScheduler final : public Scheduler {
 public:
  explicit AsioScheduler(boost::asio::io_context& ioc) : ioc_(ioc) {}

  void Post(std::function<void()> fn) override { boost::asio::post(ioc_, std::move(fn)); }

  TimerId RunAt(SteadyTime when, std::function<void()> fn) override {
    auto timer = std::make_shared<boost::asio::steady_timer>(ioc_, when);
    TimerId id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id = ++next_id_;
      timers_[id] = timer;
    }
    timer->async_wait([this, id, fn = std::move(fn)](const boost::system::error_code& ec) {
      bool live;
      {
        std::lock_guard<std::mutex> lock(mu_);
        live = timers_.erase(id) > 0;  // false: cancelled, even if it had already expired
      }
      if (!ec && live) fn();
    });
    return id;
  }

  void Cancel(TimerId id) override {
    std::shared_ptr<boost::asio::steady_timer> timer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = timers_.find(id);
      if (it == timers_.end()) return;
      timer = it->second;
      timers_.erase(it);
    }
    timer->cancel();
  }

  const Clock& clock() const override { return SystemClock::Instance(); }
  bool OnExecutorThread() const override { return ioc_.get_executor().running_in_this_thread(); }

 private:
  boost::asio::io_context& ioc_;
  std::mutex mu_;
  TimerId next_id_ = 0;
  std::unordered_map<TimerId, std::shared_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace

std::unique_ptr<Scheduler> MakeAsioScheduler(boost::asio::io_context& ioc) {
  return std::make_unique<AsioScheduler>(ioc);
}

}  // namespace bx::orders

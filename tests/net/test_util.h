// Small synchronisation helpers for the transport tests: an io thread for the client under test
// and an inbox that the test thread waits on (with a timeout, never a sleep).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "common/net/ws_client.h"

namespace bx::net::testing {

/// Runs an io_context on `threads` threads until destroyed.
class IoThread {
 public:
  explicit IoThread(int threads = 1) : guard_(ioc_.get_executor()) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~IoThread() {
    guard_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }
  boost::asio::io_context& ioc() { return ioc_; }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

/// Deletes on the (single-threaded) io thread and waits: once it returns, none of the object's
/// handlers is running or will run, so what they captured may go away.
template <class T>
struct IoDeleter {
  boost::asio::io_context* ioc = nullptr;
  void operator()(T* p) const {
    std::promise<void> done;
    boost::asio::post(*ioc, [&] {
      delete p;
      done.set_value();
    });
    done.get_future().wait();
  }
};

/// A thread-safe queue the test thread pops with a timeout.
template <class T>
class Inbox {
 public:
  void Push(T v) {
    // Notify under the lock: once Pop returns, the pusher no longer touches this object, so the
    // test may destroy it.
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(std::move(v));
    cv_.notify_all();
  }
  std::optional<T> Pop(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !items_.empty(); })) return std::nullopt;
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

/// Waits until `pred` (evaluated under no lock; must be thread-safe) holds, polling a condition
/// variable that `Notify` wakes; false on timeout.
class Signal {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    ++gen_;
    cv_.notify_all();
  }
  bool WaitFor(const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    while (!pred()) {
      // Short waits bound the cost of a missed notification from code that cannot Notify.
      if (cv_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                      std::chrono::milliseconds(20))) ==
              std::cv_status::timeout &&
          std::chrono::steady_clock::now() >= deadline) {
        return pred();
      }
    }
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t gen_ = 0;
};

/// One server-to-client WebSocket frame, byte for byte: `first_byte` is FIN/RSV/opcode as sent
/// (so tests can forge bad frames), the length in its shortest form, a zero mask when `masked`
/// (which no server may send).
inline std::string ServerFrame(uint8_t first_byte, std::string_view payload, bool masked = false) {
  std::string out;
  out.push_back(static_cast<char>(first_byte));
  const size_t n = payload.size();
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (n < 126) {
    out.push_back(static_cast<char>(n) | mask_bit);
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(126) | mask_bit);
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(127) | mask_bit);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(static_cast<uint64_t>(n) >> (56 - 8 * i)));
  }
  if (masked) out.append("\0\0\0\0", 4);
  out.append(payload);
  return out;
}

/// Both WsClient threading modes, for INSTANTIATE_TEST_SUITE_P over IoThreads.
inline auto AllIoThreads() { return ::testing::Values(IoThreads::kMany, IoThreads::kOne); }
inline std::string IoThreadsName(const ::testing::TestParamInfo<IoThreads>& p) {
  return p.param == IoThreads::kOne ? "OneThread" : "Strand";
}

}  // namespace bx::net::testing

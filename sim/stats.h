// Counters behind GET /control/stats. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace bx::sim {

class Stats {
 public:
  std::atomic<int64_t> public_connections{0};
  std::atomic<int64_t> private_connections{0};
  std::atomic<int64_t> subscribe_messages{0};
  std::atomic<int64_t> unsubscribe_messages{0};
  std::atomic<int64_t> frames_sent{0};
  std::atomic<int64_t> orders_placed{0};
  std::atomic<int64_t> logins_ok{0};
  std::atomic<int64_t> logins_failed{0};
  std::atomic<int64_t> gzip_replies_sent{0};
  std::atomic<int64_t> rest_idle_closed{0};  ///< keep-alive REST connections closed while idle
  std::atomic<int64_t> rest_close_notify_sent{0};  ///< of those, TLS ones whose close_notify went out

  void CountRestCall(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    ++rest_calls_[path];
  }
  std::map<std::string, int64_t> rest_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rest_calls_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> rest_calls_;
};

}  // namespace bx::sim

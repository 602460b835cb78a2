// A mutex that spins briefly before sleeping (glibc's PTHREAD_MUTEX_ADAPTIVE_NP). The topic rings'
// critical sections are a copy of a few events: a short spin beats a futex sleep and wake of the
// WebSocket reader thread (measured: ~5,000 voluntary context switches/s of the reader with
// std::mutex at one firehose subscriber, ~0-600 with this). Still a pthread mutex, so
// ThreadSanitizer sees it.
#pragma once

#include <pthread.h>

namespace bx::md {

class AdaptiveMutex {
 public:
  AdaptiveMutex() {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&mu_, &attr);
    pthread_mutexattr_destroy(&attr);
  }
  ~AdaptiveMutex() { pthread_mutex_destroy(&mu_); }
  AdaptiveMutex(const AdaptiveMutex&) = delete;
  AdaptiveMutex& operator=(const AdaptiveMutex&) = delete;

  void lock() { pthread_mutex_lock(&mu_); }
  bool try_lock() { return pthread_mutex_trylock(&mu_) == 0; }
  void unlock() { pthread_mutex_unlock(&mu_); }

 private:
  pthread_mutex_t mu_;
};

}  // namespace bx::md

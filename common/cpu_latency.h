// A PM QoS CPU wake-up latency request (/dev/cpu_dma_latency), held while the object lives.
//
// On an idle CPU the kernel picks a sleep state; waking from it costs tens of µs on a VM (an
// exit to the hypervisor and an interrupt back). Every thread hand-off on a request's path pays
// that. A request of 0 µs keeps idle CPUs in their polling state instead: runnable threads are
// not delayed, idle cores spin (CPU time and power for latency). The kernel drops the request
// when the file is closed, i.e. when this object is destroyed or the process exits.
// Needs write access to the device: root, or a privileged container.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace bx {

class CpuLatencyRequest {
 public:
  static constexpr const char* kDevice = "/dev/cpu_dma_latency";

  /// Opens `device` and writes `max_us` (a 32-bit binary value, as the kernel expects).
  static absl::StatusOr<std::unique_ptr<CpuLatencyRequest>> Hold(int32_t max_us, const std::string& device = kDevice);

  ~CpuLatencyRequest();
  CpuLatencyRequest(const CpuLatencyRequest&) = delete;
  CpuLatencyRequest& operator=(const CpuLatencyRequest&) = delete;

  /// The value of --cpu-dma-latency-us: null for -1 (off), else the held request (logged).
  static absl::StatusOr<std::unique_ptr<CpuLatencyRequest>> FromOption(int64_t value,
                                                                       const std::string& device = kDevice);

  int32_t max_us() const { return max_us_; }

 private:
  CpuLatencyRequest(int fd, int32_t max_us) : fd_(fd), max_us_(max_us) {}
  int fd_;
  int32_t max_us_;
};

}  // namespace bx

#include "common/cpu_latency.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace bx {

absl::StatusOr<std::unique_ptr<CpuLatencyRequest>> CpuLatencyRequest::Hold(int32_t max_us,
                                                                           const std::string& device) {
  if (max_us < 0) return absl::InvalidArgumentError(absl::StrCat("CPU wake-up latency must be >= 0 µs, got ", max_us));
  const int fd = ::open(device.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open ", device, " to request a CPU wake-up latency of ", max_us, " µs: ", std::strerror(errno),
        " (needs root or a privileged container; or leave --cpu-dma-latency-us unset)"));
  }
  const ssize_t n = ::write(fd, &max_us, sizeof max_us);
  if (n != static_cast<ssize_t>(sizeof max_us)) {
    const int err = errno;
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("cannot write the CPU wake-up latency request to ", device, ": ",
                                                      n < 0 ? std::strerror(err) : "short write"));
  }
  return std::unique_ptr<CpuLatencyRequest>(new CpuLatencyRequest(fd, max_us));
}

absl::StatusOr<std::unique_ptr<CpuLatencyRequest>> CpuLatencyRequest::FromOption(int64_t value,
                                                                                 const std::string& device) {
  if (value == -1) return std::unique_ptr<CpuLatencyRequest>();
  if (value < 0 || value > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("--cpu-dma-latency-us must be -1 (off) or 0..", INT32_MAX, ", got ", value));
  }
  auto held = Hold(static_cast<int32_t>(value), device);
  if (held.ok()) Log(LogLevel::kInfo, "main", "holding a CPU wake-up latency request", {{"max_us", value}});
  return held;
}

CpuLatencyRequest::~CpuLatencyRequest() { ::close(fd_); }

}  // namespace bx

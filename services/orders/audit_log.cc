#include "services/orders/audit_log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace bx::orders {

AuditLog::AuditLog(std::string path) : path_(std::move(path)) {
  if (!path_.empty()) {
    file_ = std::fopen(path_.c_str(), "a+");  // appends; read only to look at the last byte
    if (file_ == nullptr) {
      Log(LogLevel::kError, "audit", "cannot open audit file; audit goes to the log only", {{"path", path_}});
      return;
    }
    // A record cut short (the process died in the middle of writing it, or the disk filled up)
    // would have the first record of this run glued to it, spoiling both: end that line first.
    struct stat st {};
    char last = '\n';
    const int fd = fileno(file_);
    if (::fstat(fd, &st) == 0 && st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
      std::fputc('\n', file_);
      std::fflush(file_);
      Log(LogLevel::kWarn, "audit", "the audit file ended in the middle of a record (cut short); that record is left as it is",
          {{"path", path_}});
    }
  }
}

AuditLog::~AuditLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void AuditLog::Write(const AuditRecord& r) {
  Log(LogLevel::kInfo, "audit", r.action,
      {{"caller", r.caller},
       {"action", r.action},
       {"client_id", r.client_id},
       {"order_id", r.order_id},
       {"symbol", r.symbol},
       {"result", r.result},
       {"exchange_code", r.exchange_code},
       {"detail", r.detail}});
  if (file_ == nullptr) return;
  const int64_t ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  std::string line = absl::StrCat(
      "{\"ts_ms\":", ts_ms, ",\"caller\":\"", JsonEscape(r.caller), "\",\"action\":\"", JsonEscape(r.action),
      "\",\"client_id\":\"", JsonEscape(r.client_id), "\",\"order_id\":\"", JsonEscape(r.order_id),
      "\",\"symbol\":\"", JsonEscape(r.symbol), "\",\"result\":\"", JsonEscape(r.result),
      "\",\"exchange_code\":", r.exchange_code, ",\"detail\":\"", JsonEscape(r.detail), "\"}\n");
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace bx::orders

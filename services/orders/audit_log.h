// The audit trail: one line per state-changing call (caller, action, client id, symbol, order id,
// result), to the log (component "audit") and, when configured, appended as JSON lines to a file.
// Never holds tokens, keys or signatures.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace bx::orders {

struct AuditRecord {
  std::string caller;
  std::string action;  ///< gRPC method, e.g. "PlaceOrder"
  std::string client_id;
  std::string order_id;
  std::string symbol;
  std::string result;  ///< "OK" or the gRPC code name; PlaceOrder adds the PlaceResult
  int exchange_code = 0;
  std::string detail;  ///< error message (never secrets)
};

class AuditLog {
 public:
  /// `path` empty = log only.
  explicit AuditLog(std::string path = "");
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  /// Thread-safe.
  void Write(const AuditRecord& r);
  bool file_ok() const { return path_.empty() || file_ != nullptr; }

 private:
  std::string path_;
  std::mutex mu_;
  FILE* file_ = nullptr;
};

}  // namespace bx::orders

// The exchange's listed symbols and trading rules (trading_pairs), refreshed periodically. Subscribe
// requests are validated against it before anything is subscribed upstream: the exchange answers
// an unknown symbol with one frame of empty levels and then silence (reference section 8).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include <mutex>
#include "services/marketdata/channel.h"

namespace bx::md {

class SymbolRegistry {
 public:
  /// Thread-safe. Replaces the list (from a trading_pairs reply) stamped with `now_ns`.
  void Update(std::vector<v1::SymbolInfo> symbols, int64_t now_ns);
  bool loaded() const;
  int64_t refreshed_at_ns() const;

  /// Thread-safe. The symbol's rules, case-insensitively; nullopt when not listed.
  std::optional<v1::SymbolInfo> Find(std::string_view symbol) const;
  /// OK when `symbol` may be streamed (listed, OPEN or CANCEL_ONLY); otherwise INVALID_ARGUMENT
  /// saying why (or UNAVAILABLE while the list has not been loaded yet).
  absl::Status CheckStreamable(std::string_view symbol) const;
  /// All symbols in exchange order, or just `only` (unknown names are skipped).
  std::vector<v1::SymbolInfo> List(const std::vector<std::string>& only = {}) const;
  size_t size() const;

 private:
  struct Snapshot {
    std::vector<v1::SymbolInfo> list;
    absl::flat_hash_map<std::string, size_t> index;
    int64_t refreshed_at_ns = 0;
  };
  std::shared_ptr<const Snapshot> Get() const;

  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bx::md

// The simulator's control API (its own HTTP port): fault injection, runtime knobs, stats, the
// message log and the account's orders, for tests and demos. Transport-free: the HTTP adapter
// passes method, target and body. Every POST answers {"ok":true,...} or HTTP 400
// {"ok":false,"error":"..."}.
#pragma once

#include <string>

#include "sim/context.h"
#include "sim/rest_api.h"

namespace bx::sim {

class ControlApi {
 public:
  explicit ControlApi(SimContext& ctx) : ctx_(ctx) {}
  /// Thread-safe.
  RestReply Handle(const std::string& method, const std::string& target, const std::string& body);

 private:
  RestReply HandleUnchecked(const std::string& method, const std::string& target, const std::string& body);
  RestReply Stats() const;
  RestReply Log(const RestRequest& req) const;
  RestReply Orders() const;

  SimContext& ctx_;
};

}  // namespace bx::sim

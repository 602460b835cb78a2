// The simulator's control API (its own HTTP port): fault injection, runtime knobs, stats, the
// message log and the account's orders, for tests and demos. Transport-free: the HTTP adapter
// passes method, target and body. Every POST answers {"ok":true,...} or HTTP 400
// {"ok":false,"error":"..."}.
#pragma once

#include <functional>
#include <string>

#include "sim/context.h"
#include "sim/rest_api.h"

namespace bx::sim {

class ControlApi {
 public:
  explicit ControlApi(SimContext& ctx) : ctx_(ctx) {}
  /// Thread-safe. Every endpoint but POST /control/close_idle_rest, which needs HandleAsync.
  RestReply Handle(const std::string& method, const std::string& target, const std::string& body);
  /// Thread-safe. Every endpoint; `reply` runs once, here or later on another thread (close_idle_rest
  /// answers once every REST connection has, from that connection's strand).
  void HandleAsync(const std::string& method, const std::string& target, const std::string& body,
                   std::function<void(RestReply)> reply);

 private:
  RestReply HandleUnchecked(const std::string& method, const std::string& target, const std::string& body);
  RestReply Stats() const;
  RestReply Log(const RestRequest& req) const;
  RestReply Orders() const;
  RestReply Trades(const RestRequest& req) const;

  SimContext& ctx_;
};

}  // namespace bx::sim

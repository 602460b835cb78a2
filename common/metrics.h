// Prometheus exposition: one registry per process, served at http://<metrics-addr>/metrics.
#pragma once

#include <memory>
#include <string>

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"

namespace bx {

class MetricsServer {
 public:
  /// Binds `host_port` (port 0 = any free port) and serves the registry.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& host_port);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  /// "host:port" actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::string address_;
};

/// Buckets for latency histograms in seconds: 5 µs .. 10 s, roughly x2.5 per step.
std::vector<double> LatencyBucketsSeconds();

}  // namespace bx

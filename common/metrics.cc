#include "common/metrics.h"

#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "common/url.h"

namespace bx {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& host_port) {
  auto hp = ParseHostPort(host_port);
  if (!hp.ok()) return hp.status();
  std::unique_ptr<MetricsServer> m(new MetricsServer());
  m->registry_ = std::make_shared<prometheus::Registry>();
  const bool v6 = hp->first.find(':') != std::string::npos;
  std::string bind = v6 ? absl::StrCat("[", hp->first, "]:", hp->second) : absl::StrCat(hp->first, ":", hp->second);
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(bind, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", host_port, ": ", e.what()));
  }
  m->exposer_->RegisterCollectable(m->registry_);
  auto ports = m->exposer_->GetListeningPorts();
  if (ports.empty()) return absl::UnavailableError(absl::StrCat("metrics: no port bound for ", host_port));
  m->address_ = v6 ? absl::StrCat("[", hp->first, "]:", ports.front()) : absl::StrCat(hp->first, ":", ports.front());
  return m;
}

std::vector<double> LatencyBucketsSeconds() {
  return {5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3,
          10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0, 10.0};
}

}  // namespace bx

#include "services/orders/async_health.h"

#include <algorithm>
#include <optional>

namespace bx::orders {

namespace hv1 = ::grpc::health::v1;

/// One Watch call: the latest status not yet written waits while a write is in flight (older
/// ones are superseded, as in gRPC's own service).
class AsyncHealthService::Watcher {
 public:
  Watcher(std::string service, std::shared_ptr<StreamWriter<hv1::HealthCheckResponse>> out)
      : service_(std::move(service)), out_(std::move(out)) {}

  const std::string& service() const { return service_; }

  void Send(ServingStatus s) {
    std::lock_guard<std::mutex> lock(mu_);
    next_ = s;
    if (!writing_) StartLocked();
  }
  /// After what is queued has been written, the call ends with UNAVAILABLE.
  void EndAfterDrain() {
    std::lock_guard<std::mutex> lock(mu_);
    end_ = true;
    if (!writing_) StartLocked();
  }
  void OnWriteDone(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (ok) StartLocked();
  }

 private:
  void StartLocked() {
    if (next_ && (!sent_ || *next_ != *sent_)) {
      msg_.set_status(*next_);
      sent_ = next_;
      next_.reset();
      writing_ = out_->Write(&msg_);
      if (writing_) return;
    }
    next_.reset();
    if (end_) out_->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
  }

  const std::string service_;
  const std::shared_ptr<StreamWriter<hv1::HealthCheckResponse>> out_;
  std::mutex mu_;
  hv1::HealthCheckResponse msg_;  // the write in flight
  std::optional<ServingStatus> sent_, next_;
  bool writing_ = false;
  bool end_ = false;
};

AsyncHealthService::~AsyncHealthService() = default;

AsyncHealthService::ServingStatus AsyncHealthService::StatusLocked(const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? hv1::HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

void AsyncHealthService::AddTo(AsyncServer& server) {
  server.Add<hv1::HealthCheckRequest, hv1::HealthCheckResponse>(
      [this](grpc::ServerContext* c, hv1::HealthCheckRequest* q,
             grpc::ServerAsyncResponseWriter<hv1::HealthCheckResponse>* w, grpc::ServerCompletionQueue* cq,
             void* tag) { RequestCheck(c, q, w, cq, cq, tag); },
      [this](grpc::ServerContext*, const hv1::HealthCheckRequest& q,
             std::shared_ptr<UnaryReply<hv1::HealthCheckResponse>> reply) {
        ServingStatus s;
        {
          std::lock_guard<std::mutex> lock(mu_);
          s = StatusLocked(q.service());
        }
        if (s == hv1::HealthCheckResponse::SERVICE_UNKNOWN) {
          reply->Complete(absl::NotFoundError("service name unknown"));
          return;
        }
        hv1::HealthCheckResponse r;
        r.set_status(s);
        reply->Complete(std::move(r));
      });
  server.AddStream<hv1::HealthCheckRequest, hv1::HealthCheckResponse>(
      [this](grpc::ServerContext* c, hv1::HealthCheckRequest* q, grpc::ServerAsyncWriter<hv1::HealthCheckResponse>* w,
             grpc::CompletionQueue* cq, grpc::ServerCompletionQueue* ncq,
             void* tag) { RequestWatch(c, q, w, cq, ncq, tag); },
      [this](grpc::ServerContext*, const hv1::HealthCheckRequest& q,
             std::shared_ptr<StreamWriter<hv1::HealthCheckResponse>> out) {
        auto w = std::make_shared<Watcher>(q.service(), out);
        std::weak_ptr<Watcher> weak = w;
        out->set_on_write_done([weak](bool ok) {
          if (auto watcher = weak.lock()) watcher->OnWriteDone(ok);
        });
        out->set_on_done([this, weak] {
          if (auto watcher = weak.lock()) Remove(watcher.get());
        });
        std::lock_guard<std::mutex> lock(mu_);
        watchers_.push_back(w);
        w->Send(StatusLocked(q.service()));
        if (shut_down_) w->EndAfterDrain();
      });
}

void AsyncHealthService::SetServingStatus(const std::string& service, bool serving) {
  const ServingStatus s = serving ? hv1::HealthCheckResponse::SERVING : hv1::HealthCheckResponse::NOT_SERVING;
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  statuses_[service] = s;
  for (const auto& w : watchers_) {
    if (w->service() == service) w->Send(s);
  }
}

void AsyncHealthService::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [name, s] : statuses_) s = hv1::HealthCheckResponse::NOT_SERVING;
  for (const auto& w : watchers_) {
    w->Send(StatusLocked(w->service()));
    w->EndAfterDrain();
  }
}

void AsyncHealthService::Remove(const Watcher* w) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(), [w](const auto& p) { return p.get() == w; }),
                  watchers_.end());
}

size_t AsyncHealthService::watchers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watchers_.size();
}

}  // namespace bx::orders

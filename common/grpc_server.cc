#include "common/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/url.h"

namespace bx {

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(GrpcServerOptions options) {
  auto hp = ParseHostPort(options.address);
  if (!hp.ok()) return hp.status();
  // A process-wide flag that BuildAndStart reads: servers are built one at a time.
  grpc::EnableDefaultHealthCheckService(options.health == nullptr);
  if (options.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServer> s(new GrpcServer());
  grpc::ServerBuilder builder;
  int selected_port = 0;
  auto creds = options.credentials ? options.credentials : grpc::InsecureServerCredentials();
  builder.AddListeningPort(options.address, creds, &selected_port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  for (const auto& [k, v] : options.int_args) builder.AddChannelArgument(k, v);
  for (grpc::Service* svc : options.services) builder.RegisterService(svc);
  if (options.async_queue) s->async_queue_ = builder.AddCompletionQueue();
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || selected_port == 0) {
    return absl::UnavailableError(absl::StrCat("grpc: cannot listen on ", options.address));
  }
  const bool v6 = hp->first.find(':') != std::string::npos;
  s->address_ = v6 ? absl::StrCat("[", hp->first, "]:", selected_port) : absl::StrCat(hp->first, ":", selected_port);

  s->service_names_ = options.health_service_names;
  s->health_ = options.health;
  s->SetServingStatus(kLivenessService, true);
  s->SetReady(false);
  return s;
}

GrpcServer::~GrpcServer() {
  Shutdown(std::chrono::milliseconds(0));
  if (async_queue_) {  // asked for and never taken: shut down and drain it
    async_queue_->Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (async_queue_->Next(&tag, &ok)) {
    }
  }
}

void GrpcServer::SetServingStatus(const std::string& service, bool serving) {
  if (health_ != nullptr) {
    health_->SetServingStatus(service, serving);
  } else if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(service, serving);
  }
}

void GrpcServer::SetReady(bool ready) {
  ready_ = ready;
  SetServingStatus("", ready);
  for (const auto& name : service_names_) SetServingStatus(name, ready);
}

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_ || !server_) return;
  shut_down_ = true;
  SetReady(false);
  if (health_ != nullptr) health_->Shutdown();  // gRPC's own service does this in Server::Shutdown
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
}

}  // namespace bx

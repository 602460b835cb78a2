// The gRPC adapter: MarketDataService on the callback API. Subscribe is served through the
// generated raw method (grpc::ByteBuffer responses built from the shared pre-encoded events) so
// reflection still describes the typed messages; the unary calls read the cache or the exchange's
// REST API. Handlers validate, call the core and map absl::Status to grpc::Status; nothing blocks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include <mutex>
#include "bitunix/marketdata/v1/marketdata.grpc.pb.h"
#include "common/clock.h"
#include "services/marketdata/hub.h"
#include "services/marketdata/rest_client.h"
#include "services/marketdata/symbol_registry.h"
#include "services/marketdata/topic_demand.h"

namespace bx::md {

struct ServiceOptions {
  int max_symbols_per_stream = 100;
  int max_streams_per_client = 64;
  /// Most Subscribe streams open at once in this process, whoever opens them (x-client-id is
  /// self-declared and a peer address is per connection: this is the bound that holds).
  int max_streams = 10000;
  int max_klines = 10000;
  /// Metadata key naming a client for the per-client stream limit; without it, the peer address.
  std::string client_id_header = "x-client-id";
};

/// GetKlines trailing metadata when an oldest-first answer stops before end_time_ms (at `limit`
/// candles or the page cap): "true", and the start_time_ms to ask for next.
inline constexpr const char* kKlinesTruncatedKey = "x-bitunix-truncated";
inline constexpr const char* kKlinesNextStartKey = "x-bitunix-next-start-time-ms";

/// absl::Status -> grpc::Status (the codes have the same numbers).
grpc::Status ToGrpcStatus(const absl::Status& s);

using MarketDataServiceBase =
    v1::MarketDataService::WithRawCallbackMethod_Subscribe<v1::MarketDataService::CallbackService>;

class MarketDataServiceImpl final : public MarketDataServiceBase {
 public:
  MarketDataServiceImpl(ServiceOptions options, Hub* hub, TopicDemand* demand, SymbolRegistry* symbols,
                        MarketRestClient* rest, const Clock& clock);
  ~MarketDataServiceImpl() override;

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* GetOrderBook(grpc::CallbackServerContext* context, const v1::GetOrderBookRequest* request,
                                         v1::GetOrderBookResponse* response) override;
  grpc::ServerUnaryReactor* GetKlines(grpc::CallbackServerContext* context, const v1::GetKlinesRequest* request,
                                      v1::GetKlinesResponse* response) override;
  grpc::ServerUnaryReactor* ListSymbols(grpc::CallbackServerContext* context, const v1::ListSymbolsRequest* request,
                                        v1::ListSymbolsResponse* response) override;
  grpc::ServerUnaryReactor* GetTickers(grpc::CallbackServerContext* context, const v1::GetTickersRequest* request,
                                       v1::GetTickersResponse* response) override;
  grpc::ServerUnaryReactor* GetFundingRate(grpc::CallbackServerContext* context,
                                           const v1::GetFundingRateRequest* request,
                                           v1::GetFundingRateResponse* response) override;
  grpc::ServerUnaryReactor* ListFundingRates(grpc::CallbackServerContext* context,
                                             const v1::ListFundingRatesRequest* request,
                                             v1::ListFundingRatesResponse* response) override;
  grpc::ServerUnaryReactor* GetFundingRateHistory(grpc::CallbackServerContext* context,
                                                  const v1::GetFundingRateHistoryRequest* request,
                                                  v1::GetFundingRateHistoryResponse* response) override;
  grpc::ServerUnaryReactor* GetPositionTiers(grpc::CallbackServerContext* context,
                                             const v1::GetPositionTiersRequest* request,
                                             v1::GetPositionTiersResponse* response) override;

  /// Every open stream gets a STATE_SHUTTING_DOWN status and then ends with UNAVAILABLE; new
  /// streams are refused. Call before grpc::Server::Shutdown.
  void Shutdown();
  /// Streams open now.
  size_t open_streams() const;

 private:
  /// A symbol for a REST-backed unary call: upper-cased, known and tradable, and a REST client
  /// configured; INVALID_ARGUMENT (or UNAVAILABLE) saying what is wrong otherwise.
  absl::StatusOr<std::string> RestSymbol(const std::string& raw) const;
  class SubscribeReactor;
  friend class SubscribeReactor;

  /// Validates a request and resolves its topics (or says what to fix).
  absl::Status Plan(const v1::SubscribeRequest& req, std::vector<std::string>* symbols,
                    std::vector<TopicRef>* topics) const;
  absl::Status AdmitClient(const std::string& client);
  /// Ends a stream with STATE_SHUTTING_DOWN and UNAVAILABLE.
  static void CloseForShutdown(Stream& s);
  void StreamEnded(const std::string& client);

  const ServiceOptions options_;
  Hub* const hub_;
  TopicDemand* const demand_;
  SymbolRegistry* const symbols_;
  MarketRestClient* const rest_;
  const Clock& clock_;
  std::atomic<uint64_t> next_stream_id_{0};
  std::atomic<bool> shutting_down_{false};

  mutable std::mutex clients_mu_;
  absl::flat_hash_map<std::string, int> streams_per_client_ ABSL_GUARDED_BY(clients_mu_);
  int admitted_streams_ ABSL_GUARDED_BY(clients_mu_) = 0;
};

}  // namespace bx::md

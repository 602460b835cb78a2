// bitunix-orders: wiring only. Options -> OrdersApp -> ready line -> wait for a signal -> shutdown.
#include <cstdio>
#include <iostream>

#include "common/config.h"
#include "common/cpu_latency.h"
#include "common/logging.h"
#include "common/process.h"
#include "services/orders/orders_app.h"
#include "services/orders/orders_options.h"

int main(int argc, char** argv) {
  bx::BlockShutdownSignals();
  auto config = bx::Config::Load("bitunix-orders", bx::orders::OrdersOptionSpecs(), argc, argv);
  if (!config.ok()) {
    std::fprintf(stderr, "bitunix-orders: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->help_requested()) {
    std::cout << config->Usage();
    return 0;
  }
  bx::LogLevel level = bx::LogLevel::kInfo;
  bx::ParseLogLevel(config->Str("log-level"), &level);
  bx::InitLogging(level, config->Str("log-format") == "json");

  auto cpu_latency = bx::CpuLatencyRequest::FromOption(config->Int("cpu-dma-latency-us"));
  if (!cpu_latency.ok()) {
    std::fprintf(stderr, "bitunix-orders: %s\n", std::string(cpu_latency.status().message()).c_str());
    return 2;
  }
  auto options = bx::orders::OrdersOptionsFromConfig(*config);
  if (!options.ok()) {
    std::fprintf(stderr, "bitunix-orders: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  auto app = bx::orders::OrdersApp::Start(std::move(*options));
  if (!app.ok()) {
    std::fprintf(stderr, "bitunix-orders: %s\n", std::string(app.status().message()).c_str());
    return 1;
  }
  bx::PrintReadyLine({{"grpc", (*app)->grpc_address()}, {"metrics", (*app)->metrics_address()}});
  auto sig = bx::WaitForShutdownSignal();
  bx::Log(bx::LogLevel::kInfo, "orders", "signal received", {{"signal", sig.value_or(0)}});
  (*app)->Shutdown(config->Duration("shutdown-grace"));
  app->reset();
  return 0;
}

// bitunix-marketdata: wiring only (the logic is the bitunix_marketdata library).
#include <cstdio>

#include "absl/synchronization/mutex.h"


#include "common/config.h"
#include "common/cpu_latency.h"
#include "common/logging.h"
#include "common/process.h"
#include "services/marketdata/app.h"
#if defined(__SANITIZE_ADDRESS__)  // GCC
#define BX_MD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // Clang
#define BX_MD_ASAN 1
#endif
#endif
#if defined(BX_MD_ASAN)
#include <sanitizer/lsan_interface.h>
#endif

int main(int argc, char** argv) {
  bx::BlockShutdownSignals();
  // absl::Mutex (inside gRPC) runs its deadlock detector in Debian's build: a graph lookup per lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto config = bx::Config::Load("bitunix-marketdata", bx::md::MarketDataOptionSpecs(), argc, argv);
  if (!config.ok()) {
    std::fprintf(stderr, "bitunix-marketdata: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->help_requested()) {
    std::fputs(config->Usage().c_str(), stdout);
    return 0;
  }
  bx::LogLevel level = bx::LogLevel::kInfo;
  bx::ParseLogLevel(config->Str("log-level"), &level);
  bx::InitLogging(level, config->Str("log-format") == "json");
#if defined(BITUNIX_MD_HASWELL) && (defined(__x86_64__) || defined(__amd64__))
  // The frame parser was compiled for AVX2 (BITUNIX_MD_HASWELL): refuse to start elsewhere.
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("bmi") || !__builtin_cpu_supports("pclmul")) {
    std::fprintf(stderr,
                 "bitunix-marketdata: this build needs an x86-64 CPU with AVX2/BMI/PCLMUL; "
                 "rebuild with -DBITUNIX_MD_HASWELL=OFF\n");
    return 2;
  }
#endif
  auto cpu_latency = bx::CpuLatencyRequest::FromOption(config->Int("cpu-dma-latency-us"));
  if (!cpu_latency.ok()) {
    std::fprintf(stderr, "bitunix-marketdata: %s\n", std::string(cpu_latency.status().message()).c_str());
    return 2;
  }
  auto options = bx::md::AppOptionsFromConfig(*config);
  if (!options.ok()) {
    std::fprintf(stderr, "bitunix-marketdata: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  auto app = bx::md::App::Start(std::move(*options));
  if (!app.ok()) {
    bx::Log(bx::LogLevel::kError, "main", "cannot start", {{"error", app.status().ToString()}});
    return 1;
  }
  bx::PrintReadyLine({{"grpc", (*app)->grpc_address()}, {"metrics", (*app)->metrics_address()}});
  const auto grace = config->Duration("shutdown-grace");
  auto sig = bx::WaitForShutdownSignal();
  bx::Log(bx::LogLevel::kInfo, "main", "signal received", {{"signal", sig.value_or(0)}});
  (*app)->Stop(grace);
  // Stop() ended every stream and connection. The Prometheus exposer's embedded web server takes
  // up to ~2 s to join its threads; the process is exiting, so skip that teardown. Under
  // AddressSanitizer the leak checker is told that this one object graph is left on purpose.
  bx::md::App* left = app->release();
#if defined(BX_MD_ASAN)
  __lsan_ignore_object(left);
#else
  static_cast<void>(left);
#endif
  return 0;
}

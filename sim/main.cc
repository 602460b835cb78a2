// bitunix-sim: the Bitunix futures exchange simulator (user reference: docs/SIMULATOR.md). Prints
// one JSON ready line on stdout, logs to stderr, exits on SIGTERM/SIGINT.
#include <cstdio>
#include <iostream>

#include "common/config.h"
#include "common/logging.h"
#include "common/process.h"
#include "sim/sim_config.h"
#include "sim/simulator.h"

int main(int argc, char** argv) {
  bx::BlockShutdownSignals();
  auto cfg = bx::Config::Load("bitunix-sim", bx::sim::SimOptionSpecs(), argc, argv, bx::ProcessEnv, "BITUNIX_SIM_");
  if (!cfg.ok()) {
    std::cerr << "bitunix-sim: " << cfg.status().message() << "\n";
    return 2;
  }
  if (cfg->help_requested()) {
    std::cout << cfg->Usage()
              << "\nControl API: HTTP on --control-addr (fault injection, knobs, stats, log, orders; keep it on\n"
                 "localhost). Every endpoint with its fields and examples: docs/SIMULATOR.md.\n";
    return 0;
  }
  bx::LogLevel level = bx::LogLevel::kInfo;
  bx::ParseLogLevel(cfg->Str("log-level"), &level);
  bx::InitLogging(level, cfg->Str("log-format") == "json");
  auto sim_cfg = bx::sim::SimConfigFrom(*cfg);
  if (!sim_cfg.ok()) {
    std::cerr << "bitunix-sim: " << sim_cfg.status().message() << "\n";
    return 2;
  }
  auto sim = bx::sim::Simulator::Start(*sim_cfg);
  if (!sim.ok()) {
    std::cerr << "bitunix-sim: " << sim.status().message() << "\n";
    return 1;
  }
  bx::PrintReadyLine({{"rest", (*sim)->rest_url()},
                      {"public_ws", (*sim)->public_ws_url()},
                      {"private_ws", (*sim)->private_ws_url()},
                      {"control", (*sim)->control_url()}});
  auto sig = bx::WaitForShutdownSignal();
  bx::Log(bx::LogLevel::kInfo, "sim", "shutting down", {{"signal", sig.value_or(0)}});
  (*sim)->Stop();
  return 0;
}

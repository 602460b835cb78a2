// JSON parser choice for the WebSocket hot path: the service's FrameParser (its plain trade path,
// then simdjson On Demand for everything else), the same parser with simdjson only, and
// nlohmann/json DOM extracting the same fields, on the captured fixtures and on a firehose-like
// trade frame. Prints ns/frame per parser (median of 5 repetitions), and the trade frame parsed and
// encoded (FrameParser + EventEncoder, the reader thread's work before Hub::Publish).
//
//   bench-md-parser [--fixtures DIR] [--iterations N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "services/marketdata/event_encoder.h"
#include "services/marketdata/frame_parser.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  std::string name;
  std::string text;
};

// The same extraction with nlohmann: envelope + every data field as a string view/copy.
size_t NlohmannExtract(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return 0;
  size_t n = 0;
  auto str = [&](const nlohmann::json& v) {
    if (v.is_string()) n += v.get_ref<const std::string&>().size();
  };
  if (auto it = j.find("ch"); it != j.end()) str(*it);
  if (auto it = j.find("symbol"); it != j.end()) str(*it);
  if (auto it = j.find("ts"); it != j.end() && it->is_number()) n += static_cast<size_t>(it->get<int64_t>() & 1);
  auto it = j.find("data");
  if (it == j.end()) return n;
  const auto& d = *it;
  if (d.is_array()) {
    for (const auto& item : d) {
      for (const auto& [k, v] : item.items()) str(v);
    }
  } else if (d.is_object()) {
    for (const auto& [k, v] : d.items()) {
      if (v.is_array()) {
        for (const auto& level : v) {
          for (const auto& x : level) str(x);
        }
      } else {
        str(v);
      }
    }
  }
  return n;
}

template <class F>
double MedianNsPerFrame(const std::vector<Sample>& samples, int iterations, F&& f) {
  std::vector<double> runs;
  size_t sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto start = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      for (const auto& s : samples) sink += f(s.text);
    }
    auto ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    runs.push_back(ns / (static_cast<double>(iterations) * static_cast<double>(samples.size())));
  }
  if (sink == 42) std::puts("");  // keep the work observable
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = BITUNIX_FIXTURES_DIR;
  int iterations = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--fixtures") == 0) dir = argv[i + 1];
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atoi(argv[i + 1]);
  }
  std::vector<Sample> fixtures;
  std::ifstream in(dir + "/bitunix/ws-public.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto rec = nlohmann::json::parse(line);
    fixtures.push_back({rec["kind"].get<std::string>(),
                        rec.contains("raw") ? rec["raw"].get<std::string>() : rec["message"].dump()});
  }
  if (fixtures.empty()) {
    std::fprintf(stderr, "no fixtures under %s\n", dir.c_str());
    return 1;
  }
  std::vector<Sample> trade = {
      {"trade", R"({"ch":"trade","symbol":"BTCUSDT","ts":1775540872598,"data":[{"t":"2026-04-07T05:47:52Z","p":"68621.4","v":"0.7142","s":"buy"}]})"}};
  // A full 15-level book, as depth_book15 sends.
  std::string book = R"({"ch":"depth_book15","symbol":"BTCUSDT","ts":1790126515693,"data":{"b":[)";
  for (int i = 0; i < 15; ++i) book += (i ? "," : "") + std::string("[\"8669") + std::to_string(i % 10) + ".6\",\"2.274\"]";
  book += R"(],"a":[)";
  for (int i = 0; i < 15; ++i) book += (i ? "," : "") + std::string("[\"8670") + std::to_string(i % 10) + ".7\",\"0.7095\"]";
  book += "]}}";
  std::vector<Sample> books = {{"depth_book15", book}};

  bx::md::FrameParser parser;
  bx::md::FrameParser general(bx::md::FrameParser::Options{.plain_trades = false});
  auto parse_with = [](bx::md::FrameParser& p) {
    return [&p](const std::string& t) -> size_t {
      auto r = p.Parse(t);
      return r.ok() ? (*r)->trades.size() + (*r)->bids.size() + 1 : 0;
    };
  };
  std::printf("%-28s %12s %12s %12s %8s\n", "input", "parser ns", "simdjson ns", "nlohmann ns", "ratio");
  for (auto* set : {&fixtures, &trade, &books}) {
    const char* name = set == &fixtures ? "captured fixtures (mix)" : set == &trade ? "trade frame (~128 B)" : "depth_book15 (15 levels)";
    double p = MedianNsPerFrame(*set, iterations, parse_with(parser));
    double a = MedianNsPerFrame(*set, iterations, parse_with(general));
    double b = MedianNsPerFrame(*set, iterations / 4 + 1, NlohmannExtract);
    std::printf("%-28s %12.0f %12.0f %12.0f %7.1fx\n", name, p, a, b, b / a);
  }
  // What the reader thread does with a trade frame before Hub::Publish: parse, then encode each trade.
  bx::md::EventEncoder encoder;
  std::string event;
  auto parse_encode = [&](const std::string& t) -> size_t {
    auto r = parser.Parse(t);
    if (!r.ok()) return 0;
    size_t n = 0;
    for (const auto& tr : (*r)->trades) {
      bx::md::EventHeader h{.symbol = "BTCUSDT", .channel = bx::md::v1::CHANNEL_TRADE,
                            .exchange_ts_ms = (*r)->ts, .gateway_ts_ns = 1};
      encoder.Trade(h, tr, &event);
      n += event.size();
    }
    return n;
  };
  std::printf("%-28s %12.0f\n", "trade frame + EventEncoder", MedianNsPerFrame(trade, iterations, parse_encode));
  return 0;
}

// bench-md-reader: how fast the gateway's reader thread can go, stage by stage, on the
// simulator's firehose: the project's WsClient (bx::net, Beast) with an empty handler, then
// + FrameParser, + EventEncoder, + Hub::Publish into a ring nobody reads. Compared with
// bitunix-ws-reader (a bare synchronous Beast reader, "limit A") it shows where the reader
// thread's time goes. Prints one JSON line.
//
//   bench-md-reader --url ws://127.0.0.1:P/public/ --symbols BTCUSDT --seconds 5 --warmup 1
//                   --stage transport|parse|encode|publish
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/net/ws_client.h"
#include "common/url.h"
#include "services/marketdata/event_encoder.h"
#include "services/marketdata/frame_parser.h"
#include "services/marketdata/hub.h"

namespace {

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, stage = "transport", symbols = "BTCUSDT", io_threads = "one";
  double seconds = 5, warmup = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--url") url = argv[i + 1];
    else if (a == "--stage") stage = argv[i + 1];
    else if (a == "--symbols") symbols = argv[i + 1];
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--warmup") warmup = std::atof(argv[i + 1]);
    else if (a == "--io-threads") io_threads = argv[i + 1];
  }
  auto parsed_url = bx::ParseUrl(url);
  if (!parsed_url.ok() || (io_threads != "one" && io_threads != "many")) {
    std::fprintf(stderr,
                 "usage: bench-md-reader --url ws://H:P/public/ [--stage transport|parse|encode|publish] "
                 "[--io-threads one|many]\n");
    return 2;
  }
  const int level = stage == "transport" ? 0 : stage == "parse" ? 1 : stage == "encode" ? 2 : 3;
  boost::asio::io_context ioc;
  bx::net::WsOptions opt;
  opt.url = *parsed_url;
  // "one" is what the gateway does (one md-io thread, no strand); "many" gives each connection a strand.
  auto ws = bx::net::MakeBeastWsClient(ioc, opt, bx::SystemClock::Instance(),
                                       io_threads == "one" ? bx::net::IoThreads::kOne : bx::net::IoThreads::kMany);
  bx::md::FrameParser parser;
  bx::md::EventEncoder encoder;
  bx::md::Hub hub({}, bx::SystemClock::Instance());
  bx::md::TopicRing* ring = hub.Topic("trade:BTCUSDT", "BTCUSDT", {.channel = bx::md::v1::CHANNEL_TRADE});
  std::string scratch;
  bx::md::PublishBatch staged;  // as the gateway: published per socket read, at most kMaxEvents at a time
  std::atomic<uint64_t> frames{0}, events{0}, errors{0};
  bx::net::WsClient::Handlers h;
  h.on_open = [&] {
    std::string msg = "{\"op\":\"subscribe\",\"args\":[";
    size_t start = 0;
    bool first = true;
    while (start <= symbols.size()) {
      size_t comma = symbols.find(',', start);
      if (comma == std::string::npos) comma = symbols.size();
      if (comma > start) {
        msg += std::string(first ? "" : ",") + "{\"symbol\":\"" + symbols.substr(start, comma - start) +
               "\",\"ch\":\"trade\"}";
        first = false;
      }
      start = comma + 1;
    }
    ws->Send(msg + "]}");
  };
  h.on_text = [&](std::string_view data, int64_t recv_ns) {
    frames.fetch_add(1, std::memory_order_relaxed);
    if (level == 0) return;
    auto f = parser.Parse(data);
    if (!f.ok()) {
      errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (level == 1 || (*f)->kind != bx::md::FrameKind::kPush) return;
    for (const auto& t : (*f)->trades) {
      bx::md::EventHeader hdr{.symbol = "BTCUSDT", .channel = bx::md::v1::CHANNEL_TRADE,
                              .exchange_ts_ms = (*f)->ts, .gateway_ts_ns = recv_ns};
      bx::md::EventLayout layout = encoder.Trade(hdr, t, &scratch);
      if (level == 3) {
        staged.Add(ring, scratch, layout, recv_ns);
        if (staged.full()) staged.Flush(hub);
      }
      events.fetch_add(1, std::memory_order_relaxed);
    }
  };
  h.on_read_end = [&] {
    if (!staged.empty()) staged.Flush(hub);
  };
  h.on_closed = [&](absl::Status s) {
    std::fprintf(stderr, "closed: %s\n", s.ToString().c_str());
    ioc.stop();
  };
  ws->Connect(h);
  std::thread io([&] { ioc.run(); });
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  const uint64_t f0 = frames.load();
  const double c0 = ProcessCpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t n = frames.load() - f0;
  const double cpu_total = ProcessCpuSeconds() - c0;
  ws->Abort();
  ioc.stop();
  io.join();
  std::printf("{\"stage\":\"%s\",\"seconds\":%.2f,\"frames\":%llu,\"frames_per_sec\":%.0f,\"parse_errors\":%llu,"
              "\"process_cpu_pct\":%.0f}\n",
              stage.c_str(), elapsed, static_cast<unsigned long long>(n), static_cast<double>(n) / elapsed,
              static_cast<unsigned long long>(errors.load()), 100 * cpu_total / elapsed);
  return 0;
}

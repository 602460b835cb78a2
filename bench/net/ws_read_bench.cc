// WebSocket read throughput: the WsClient read loop against a bare Beast reader, both reading the
// same firehose (pre-encoded ~128-byte trade frames, many per socket write) on loopback.
//
//   bench-net-ws-read [frames_per_run=2000000] [runs=3]
//
// Prints frames/s per run and min/median/max per reader, plus the ratios of medians. WsClient is
// read twice: made for any number of io threads (a strand per connection) and for one
// (IoThreads::kOne, no strand: what both services use).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "common/net/ws_client.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

const std::string kTrade =
    R"({"ch":"trade","symbol":"BTCUSDT","ts":1732178884994,"data":[{"p":"60000.5","v":"0.012","s":"buy","t":"2024-11-21T08:48:04Z"}]})";

// Unmasked server text frames, back to back: what a coalescing server writes.
std::string EncodeFrames(size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    out.push_back(static_cast<char>(0x81));  // FIN + text, unmasked (server to client)
    if (kTrade.size() < 126) {
      out.push_back(static_cast<char>(kTrade.size()));
    } else {  // 16-bit extended length
      out.push_back(static_cast<char>(126));
      out.push_back(static_cast<char>((kTrade.size() >> 8) & 0xff));
      out.push_back(static_cast<char>(kTrade.size() & 0xff));
    }
    out += kTrade;
  }
  return out;
}

// Accepts one connection per run, upgrades it, writes `frames` frames, waits for the client to go.
class Firehose {
 public:
  explicit Firehose(size_t frames) : frames_(frames), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Run(); });
  }
  ~Firehose() {
    stop_ = true;
    boost::system::error_code ec;
    // Wake the blocking accept with a throwaway connection.
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  void Run() {
    const std::string chunk = EncodeFrames(1000);
    while (!stop_) {
      tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      websocket::stream<tcp::socket> ws(std::move(sock));
      ws.accept(ec);
      if (ec) continue;
      for (size_t sent = 0; sent < frames_ && !ec; sent += 1000) {
        asio::write(ws.next_layer(), asio::buffer(chunk), ec);
      }
      // Drain until the client closes.
      char buf[4096];
      while (!ec) ws.next_layer().read_some(asio::buffer(buf), ec);
    }
  }

  size_t frames_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The reference: a bare Beast async read loop (what perf-facts.md calls Limit A, "read only").
double BareBeast(uint16_t port, size_t frames) {
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
  ws.next_layer().set_option(tcp::no_delay(true));
  ws.handshake("127.0.0.1", "/public/");
  beast::flat_buffer buffer;
  size_t count = 0, bytes = 0;
  Clock::time_point start, end;
  std::function<void(beast::error_code, size_t)> on_read;
  on_read = [&](beast::error_code ec, size_t) {
    if (ec) {
      std::fprintf(stderr, "bare reader: %s\n", ec.message().c_str());
      return;
    }
    if (count == 0) start = Clock::now();
    bytes += buffer.size();
    buffer.consume(buffer.size());
    if (++count == frames) {
      end = Clock::now();
      return;
    }
    ws.async_read(buffer, on_read);
  };
  ws.async_read(buffer, on_read);
  ioc.run();
  if (count != frames || bytes != frames * kTrade.size()) {
    std::fprintf(stderr, "bare reader got %zu frames\n", count);
    std::exit(1);
  }
  boost::system::error_code ec;
  ws.next_layer().close(ec);
  return static_cast<double>(frames - 1) / std::chrono::duration<double>(end - start).count();
}

// The gateway's reader: bx::net::WsClient with an inline on_text.
double GatewayClient(uint16_t port, size_t frames, bx::net::IoThreads threads) {
  asio::io_context ioc;
  bx::net::WsOptions options;
  options.url = *bx::ParseUrl("ws://127.0.0.1:" + std::to_string(port) + "/public/");
  auto client = bx::net::MakeBeastWsClient(ioc, options, bx::SystemClock::Instance(), threads);
  size_t count = 0, bytes = 0;
  Clock::time_point start, end;
  bx::net::WsClient::Handlers h;
  h.on_text = [&](std::string_view data, int64_t) {
    if (count == frames) return;  // Abort() is posted; frames may still be in the buffer
    if (count == 0) start = Clock::now();
    bytes += data.size();
    if (++count == frames) {
      end = Clock::now();
      client->Abort();
    }
  };
  h.on_closed = [&](absl::Status s) {
    if (count != frames) std::fprintf(stderr, "WsClient: %s\n", std::string(s.message()).c_str());
    ioc.stop();
  };
  client->Connect(std::move(h));
  ioc.run();
  if (count != frames || bytes != frames * kTrade.size()) {
    std::fprintf(stderr, "WsClient got %zu frames\n", count);
    std::exit(1);
  }
  client.reset();
  return static_cast<double>(frames - 1) / std::chrono::duration<double>(end - start).count();
}

struct Summary {
  double min, median, max;
};

Summary Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v.front(), v[v.size() / 2], v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  const size_t frames = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  if (frames < 1000 || frames % 1000 != 0 || runs < 1) {
    std::fprintf(stderr, "usage: %s [frames_per_run, a multiple of 1000] [runs]\n", argv[0]);
    return 2;
  }
  Firehose server(frames);
  std::vector<double> bare, many, one;
  for (int i = 0; i < runs; ++i) {  // interleaved, so drift hits all alike
    bare.push_back(BareBeast(server.port(), frames));
    many.push_back(GatewayClient(server.port(), frames, bx::net::IoThreads::kMany));
    one.push_back(GatewayClient(server.port(), frames, bx::net::IoThreads::kOne));
    std::printf("run %d: bare Beast %.2fM frames/s, WsClient (strand) %.2fM, WsClient (one thread) %.2fM\n", i + 1,
                bare.back() / 1e6, many.back() / 1e6, one.back() / 1e6);
  }
  const Summary b = Summarise(bare), g = Summarise(many), o = Summarise(one);
  std::printf("bare Beast reader:           median %.2fM frames/s (%.2f-%.2fM)\n", b.median / 1e6, b.min / 1e6,
              b.max / 1e6);
  std::printf("WsClient, strand (kMany):    median %.2fM frames/s (%.2f-%.2fM)\n", g.median / 1e6, g.min / 1e6,
              g.max / 1e6);
  std::printf("WsClient, one thread (kOne): median %.2fM frames/s (%.2f-%.2fM)\n", o.median / 1e6, o.min / 1e6,
              o.max / 1e6);
  std::printf("ratios of medians to bare:   %.2f (strand), %.2f (one thread)\n", g.median / b.median,
              o.median / b.median);
  return 0;
}

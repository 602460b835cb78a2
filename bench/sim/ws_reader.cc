// bitunix-ws-reader: a bare Beast WebSocket client that connects to a Bitunix-style public socket,
// subscribes to one channel for some symbols, counts frames for N seconds (optionally parsing each
// with simdjson On Demand, extracting ch, symbol, ts and the first trade's t, p, v, s as views) and
// prints one JSON line: frames, frames/s, bytes, its own CPU. It is "limit A" of the benchmarks:
// how fast one plain reader can take frames off one socket.
//
//   bitunix-ws-reader --url ws://127.0.0.1:P/public/ --channel trade --symbols BTCUSDT,ETHUSDT
//                     --seconds 5 [--parse simdjson] [--warmup 1]
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

struct Options {
  std::string url = "ws://127.0.0.1:8080/public/";
  std::string channel = "trade";
  std::vector<std::string> symbols = {"BTCUSDT"};
  double seconds = 5;
  double warmup = 1;
  bool parse = false;
};

struct UrlParts {
  bool tls = false;
  std::string host, port, target;
};

bool ParseUrl(const std::string& url, UrlParts* out) {
  std::string rest;
  if (url.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else if (url.rfind("wss://", 0) == 0) {
    rest = url.substr(6);
    out->tls = true;
  } else {
    return false;
  }
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out->target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    out->host = hostport;
    out->port = out->tls ? "443" : "80";
  } else {
    out->host = hostport.substr(0, colon);
    out->port = hostport.substr(colon + 1);
  }
  return !out->host.empty();
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Result {
  uint64_t frames = 0, bytes = 0, parse_errors = 0;
  double seconds = 0, cpu_seconds = 0;
  uint64_t checksum = 0;  // keeps the parser's work observable
};

// Parses one frame the way the market-data service does (views into the buffer, no copies).
bool ParseFrame(simdjson::ondemand::parser& parser, const char* data, size_t len, size_t capacity,
                uint64_t* checksum) {
  auto doc = parser.iterate(data, len, capacity);
  if (doc.error()) return false;
  std::string_view ch, symbol, t, p, v, s;
  int64_t ts = 0;
  if (doc["ch"].get_string().get(ch)) return false;
  if (doc["symbol"].get_string().get(symbol)) return false;
  if (doc["ts"].get_int64().get(ts)) return false;
  simdjson::ondemand::array arr;
  if (doc["data"].get_array().get(arr) == simdjson::SUCCESS) {
    for (auto item : arr) {
      simdjson::ondemand::object o;
      if (item.get_object().get(o)) return false;
      for (auto field : o) {
        std::string_view key;
        if (field.unescaped_key().get(key)) return false;
        std::string_view val;
        if (field.value().get_string().get(val)) return false;
        if (key == "t") t = val;
        else if (key == "p") p = val;
        else if (key == "v") v = val;
        else if (key == "s") s = val;
      }
      break;
    }
  }
  *checksum += static_cast<uint64_t>(ts) + ch.size() + symbol.size() + t.size() + p.size() + v.size() + s.size();
  return true;
}

template <class Ws>
Result Run(Ws& ws, const Options& opt, int native_fd) {
  std::string sub = "{\"op\":\"subscribe\",\"args\":[";
  for (size_t i = 0; i < opt.symbols.size(); ++i) {
    if (i > 0) sub += ',';
    sub += "{\"symbol\":\"" + opt.symbols[i] + "\",\"ch\":\"" + opt.channel + "\"}";
  }
  sub += "]}";
  ws.text(true);
  ws.write(net::buffer(sub));

  // A watchdog ends the blocking read loop at the deadline by shutting the socket down.
  std::atomic<bool> done{false};
  std::mutex mu;
  std::condition_variable cv;
  const auto total = std::chrono::duration<double>(opt.warmup + opt.seconds);
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, total, [&] { return done.load(); });
    done = true;
    ::shutdown(native_fd, SHUT_RDWR);
  });

  simdjson::ondemand::parser parser;
  beast::flat_buffer buffer;
  Result r;
  const auto start = std::chrono::steady_clock::now();
  const auto measure_from = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(opt.warmup));
  bool measuring = opt.warmup <= 0;
  double cpu_start = CpuSeconds();
  auto t0 = start;
  beast::error_code ec;
  while (!done) {
    buffer.clear();
    ws.read(buffer, ec);
    if (ec) break;
    if (!measuring) {
      if (std::chrono::steady_clock::now() < measure_from) continue;
      measuring = true;
      t0 = std::chrono::steady_clock::now();
      cpu_start = CpuSeconds();
    }
    const size_t n = buffer.size();
    ++r.frames;
    r.bytes += n;
    if (opt.parse) {
      buffer.reserve(n + simdjson::SIMDJSON_PADDING);
      const auto* data = static_cast<const char*>(buffer.data().data());
      if (!ParseFrame(parser, data, n, buffer.capacity(), &r.checksum)) ++r.parse_errors;
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.cpu_seconds = CpuSeconds() - cpu_start;
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  return r;
}

void Usage() {
  std::cerr << "usage: bitunix-ws-reader --url ws://HOST:PORT/public/ [--channel trade] [--symbols A,B]\n"
               "                         [--seconds 5] [--warmup 1] [--parse none|simdjson]\n";
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url") {
      opt.url = next();
    } else if (a == "--channel") {
      opt.channel = next();
    } else if (a == "--symbols") {
      opt.symbols = absl::StrSplit(next(), ',', absl::SkipEmpty());
    } else if (a == "--seconds") {
      opt.seconds = std::stod(next());
    } else if (a == "--warmup") {
      opt.warmup = std::stod(next());
    } else if (a == "--parse") {
      const std::string p = next();
      if (p != "none" && p != "simdjson") {
        Usage();
        return 2;
      }
      opt.parse = p == "simdjson";
    } else {
      Usage();
      return a == "--help" ? 0 : 2;
    }
  }
  UrlParts u;
  if (!ParseUrl(opt.url, &u) || opt.symbols.empty() || opt.seconds <= 0) {
    Usage();
    return 2;
  }
  try {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(u.host, u.port);
    Result r;
    auto configure = [](auto& ws) {
      websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::client);
      t.keep_alive_pings = false;  // Bitunix kills sockets on protocol pings; JSON pings are not needed here
      t.idle_timeout = websocket::stream_base::none();
      ws.set_option(t);
      ws.read_message_max(64u << 20);
    };
    if (u.tls) {
      net::ssl::context ctx(net::ssl::context::tls_client);
      ctx.set_verify_mode(net::ssl::verify_none);
      websocket::stream<beast::ssl_stream<tcp::socket>> ws(ioc, ctx);
      net::connect(beast::get_lowest_layer(ws), endpoints);
      ws.next_layer().handshake(net::ssl::stream_base::client);
      configure(ws);
      ws.handshake(u.host, u.target);
      r = Run(ws, opt, beast::get_lowest_layer(ws).native_handle());
    } else {
      websocket::stream<tcp::socket> ws(ioc);
      net::connect(ws.next_layer(), endpoints);
      configure(ws);
      ws.handshake(u.host, u.target);
      r = Run(ws, opt, ws.next_layer().native_handle());
    }
    const double fps = r.seconds > 0 ? static_cast<double>(r.frames) / r.seconds : 0;
    std::string syms;
    for (size_t i = 0; i < opt.symbols.size(); ++i) syms += (i ? ",\"" : "\"") + opt.symbols[i] + "\"";
    std::printf(
        "{\"url\":\"%s\",\"channel\":\"%s\",\"symbols\":[%s],\"parse\":\"%s\",\"seconds\":%.3f,\"frames\":%llu,"
        "\"frames_per_sec\":%.0f,\"bytes\":%llu,\"mb_per_sec\":%.1f,\"parse_errors\":%llu,\"reader_cpu_pct\":%.0f,"
        "\"checksum\":%llu}\n",
        opt.url.c_str(), opt.channel.c_str(), syms.c_str(), opt.parse ? "simdjson" : "none", r.seconds,
        static_cast<unsigned long long>(r.frames), fps, static_cast<unsigned long long>(r.bytes),
        r.seconds > 0 ? static_cast<double>(r.bytes) / r.seconds / 1e6 : 0.0,
        static_cast<unsigned long long>(r.parse_errors), r.seconds > 0 ? 100.0 * r.cpu_seconds / r.seconds : 0.0,
        static_cast<unsigned long long>(r.checksum));
    return r.frames > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bitunix-ws-reader: " << e.what() << "\n";
    return 1;
  }
}

// The market-data upstream state machine (UpstreamManager) driven by anything the exchange's
// socket can send, interleaved with time passing, disconnects and reconnects; the WebSocket and
// REST transports are the test fakes, the clock is fake. One subscriber stream listens to a
// trade, book, ticker, price and kline topic throughout. Input: one step per line:
//   'A' + byte   advance the clock by (byte % 64) ticks of 50 ms (pings, pong timeouts,
//                staleness, backoff, REST fallback all run on ticks)
//   'D'          the newest connection drops;  'O'  the newest connection opens
//   'R' + frame  a text frame in the same socket read as the 'R' frames before it (the read ends
//                at the next other step, or in the error of a 'D')
//   anything else  a text frame on the newest connection, in a read of its own (so captured
//                frames work as seeds)
// Properties: no crash, leak or UB; what the subscriber receives always decodes; its sequence
// numbers run 1, 2, 3, ... with no hole; every trade and book level is exact decimal text.
#include <cstdint>
#include <memory>
#include <string>

#include "common/decimal.h"
#include "common/logging.h"
#include "fuzz/fuzz_check.h"
#include "services/marketdata/upstream.h"
#include "tests/marketdata/fakes.h"
#include "tests/marketdata/recording_sink.h"

namespace {

namespace md = ::bx::md;
namespace v1 = ::bitunix::marketdata::v1;
using md::testing::FakeHttpClient;
using md::testing::FakeWsFactory;
using md::testing::HttpOk;
using md::testing::RecordingSink;

constexpr const char* kPairs =
    R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","basePrecision":4,)"
    R"("quotePrecision":1,"symbolStatus":"OPEN"}]})";

class Harness {
 public:
  Harness() {
    hub_ = std::make_unique<md::Hub>(md::HubOptions{}, clock_);
    http_.responder = [](const bx::net::HttpRequest& r) {
      if (r.target.rfind("/api/v1/futures/market/trading_pairs", 0) == 0) return HttpOk(kPairs);
      if (r.target.rfind("/api/v1/futures/market/depth", 0) == 0) {
        return HttpOk(R"({"code":0,"msg":"Success","data":{"asks":[["101","1"]],"bids":[["100","2"]]}})");
      }
      if (r.target.rfind("/api/v1/futures/market/tickers", 0) == 0) {
        return HttpOk(R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","lastPrice":"100","open":"90"}]})");
      }
      bx::net::HttpResult fail;
      fail.response.status = 500;
      return fail;
    };
    rest_ = std::make_unique<md::MarketRestClient>(&http_, &io_, clock_, md::RestClientOptions{});
    md::UpstreamOptions opt;
    opt.seed = 7;
    up_ = std::make_unique<md::UpstreamManager>(opt, hub_.get(), &symbols_, rest_.get(), &io_, ws_.Fn(), clock_);
    up_->Start();
    io_.RunPending();
    Newest().Open();
    io_.RunPending();

    std::vector<md::TopicRef> refs;
    std::vector<md::Stream::TopicSub> subs;
    for (const char* ch : {"trade", "depth_book5", "ticker", "price", "market_kline_1min"}) {
      auto spec = md::ParseExchangeChannel(ch);
      FUZZ_CHECK(spec.has_value(), "channel %s", ch);
      md::TopicRing* ring = hub_->Topic(md::TopicKey(ch, "BTCUSDT"), "BTCUSDT", *spec);
      refs.push_back({ring, ch});
      subs.push_back({ring, md::OverflowPolicy::kDrop});
    }
    stream_ = std::make_shared<md::Stream>(hub_.get(), 1, "fuzz", subs, std::vector<std::string>{"BTCUSDT"}, true,
                                           std::vector<md::InitialStatus>{md::InitialStatus{}});
    hub_->AddStream(stream_);
    sink_.set_stream(stream_.get());
    stream_->Start(&sink_);
    up_->Acquire(refs);
    io_.RunPending();
  }

  ~Harness() {
    stream_->Detach();
    up_.reset();
    rest_.reset();
    hub_.reset();
  }

  bx::md::testing::FakeWsClient& Newest() { return *ws_.clients.back(); }

  void Step(std::string_view line) {
    const bool in_read = !line.empty() && line[0] == 'R';
    if (line == "D") {
      // The read under way (if any) ends in the error: on_closed, no on_read_end.
      reading_ = nullptr;
      Newest().Drop(absl::UnavailableError("fuzz: connection lost"));
      io_.RunPending();
      return;
    }
    if (!in_read) EndRead();  // any other step runs after the read under way has ended
    if (line.size() == 2 && line[0] == 'A') {
      const int ticks = static_cast<unsigned char>(line[1]) % 64;
      for (int i = 0; i < ticks; ++i) {
        clock_.Advance(std::chrono::milliseconds(50));
        up_->Tick();
        io_.RunPending();
      }
      return;
    }
    if (line == "O") {
      if (!Newest().is_open()) Newest().Open();
    } else if (Newest().is_open()) {
      if (in_read) {
        if (reading_ != &Newest()) EndRead();
        reading_ = &Newest();
        Newest().Text(std::string(line.substr(1)), 0, /*end_read=*/false);
      } else {
        Newest().Text(std::string(line));
      }
    }
    io_.RunPending();
  }

  // Ends the socket read that 'R' lines extended (on_read_end), as the real client always does
  // before any other handler runs.
  void EndRead() {
    if (reading_ == nullptr) return;
    reading_->EndRead();
    reading_ = nullptr;
    io_.RunPending();
  }

  void Check() {
    EndRead();
    stream_->Pump();
    FUZZ_CHECK(sink_.parse_ok(), "a batch the subscriber got does not decode");
    uint64_t expect = 1;
    for (const auto& e : sink_.events()) {
      FUZZ_CHECK(e.seq() == expect, "seq %llu where %llu was due", static_cast<unsigned long long>(e.seq()),
                 static_cast<unsigned long long>(expect));
      ++expect;
      if (e.has_trade()) {
        FUZZ_CHECK(bx::IsDecimal(e.trade().price()) && bx::IsDecimal(e.trade().qty()), "trade '%s' '%s'",
                   e.trade().price().c_str(), e.trade().qty().c_str());
      }
      for (const auto* side : {&e.order_book().bids(), &e.order_book().asks()}) {
        for (const auto& l : *side) {
          FUZZ_CHECK(bx::IsDecimal(l.price()) && bx::IsDecimal(l.qty()), "level '%s' '%s'", l.price().c_str(),
                     l.qty().c_str());
        }
      }
    }
  }

 private:
  bx::FakeClock clock_;
  md::ManualExecutor io_;
  bx::md::testing::FakeWsClient* reading_ = nullptr;  // the connection whose read 'R' lines extend
  FakeWsFactory ws_{&io_, &clock_};
  FakeHttpClient http_{&io_};
  md::SymbolRegistry symbols_;
  std::unique_ptr<md::Hub> hub_;
  std::unique_ptr<md::MarketRestClient> rest_;
  std::unique_ptr<md::UpstreamManager> up_;
  RecordingSink sink_{true};
  std::shared_ptr<md::Stream> stream_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    bx::InitLogging(bx::LogLevel::kError, false);  // reconnects and stale feeds are expected here
    return true;
  }();
  (void)quiet;
  Harness h;
  bx::fuzz::StepLines(h, data, size);
  h.Check();
  return 0;
}

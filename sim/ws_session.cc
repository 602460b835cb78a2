// Server-side WebSocket sessions (public and private). One strand per connection: reads, protocol
// handling, timers and writes run on it; Send() may be called from any thread and queues encoded
// frames that the next write coalesces (one socket write carries every frame queued since the last
// one, plus firehose batches).
#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "sim/frames.h"
#include "sim/server_internal.h"
#include "sim/signature.h"
#include "sim/ws_framing.h"
#include "sim/ws_protocol.h"

namespace bx::sim {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr size_t kMaxPendingBytes = 64u << 20;  // a consumer this far behind is dropped
constexpr size_t kFirehoseBatchBytes = 256u << 10;
constexpr size_t kFirehoseMaxFramesPerWrite = 8192;
// A paced firehose ticks about once per frame (so frames arrive spread out, as live trades do, not
// in bursts), but never faster than kFirehoseMinTick nor slower than kFirehoseMaxTick; "max" writes
// whenever the socket takes more and ticks at the slowest.
constexpr auto kFirehoseMinTick = std::chrono::microseconds(100);
constexpr auto kFirehoseMaxTick = std::chrono::microseconds(5000);
constexpr auto kFirehoseIdleTick = std::chrono::milliseconds(100);

// The control log keeps what was received, but not login signatures.
std::string RedactSign(const std::string& text) {
  const std::string key = "\"sign\":\"";
  auto at = text.find(key);
  if (at == std::string::npos) return text;
  auto end = text.find('"', at + key.size());
  if (end == std::string::npos) return text;
  return text.substr(0, at + key.size()) + "<redacted>" + text.substr(end);
}

template <class Stream>
class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(SimContext& ctx, Stream&& stream, std::string leftover, bool is_private, uint64_t drop_epoch)
      : ctx_(ctx),
        drop_epoch_(drop_epoch),
        stream_(std::move(stream)),
        strand_(stream_.get_executor()),
        private_(is_private),
        id_(ctx.next_conn_id.fetch_add(1)),
        kind_(is_private ? "ws_private" : "ws_public"),
        open_sec_(ctx.clock.NowMs() / 1000),
        subs_(static_cast<size_t>(ctx.config.ws_max_subs)),
        rate_(ctx.config.ws_max_msgs_per_sec),
        idle_timer_(strand_),
        firehose_timer_(strand_) {
    parser_.Feed(leftover);
  }

  ~WsSession() override { Cleanup(); }

  void Start() {
    beast::get_lowest_layer(stream_).expires_never();
    const bool registered = ctx_.hub.Add(this->shared_from_this(), drop_epoch_);
    (private_ ? ctx_.stats.private_connections : ctx_.stats.public_connections)++;
    if (!registered) {
      // A drop came while the 101 was on its way: this connection is dropped too.
      Shutdown("aborted by control during the upgrade");
      return;
    }
    last_inbound_ = SteadyClock::now();
    SendText(ConnectFrame());
    ArmIdleTimer();
    // Bytes that came with the upgrade request may already hold frames.
    ProcessParsed();
    if (!closed()) DoRead();
  }

  uint64_t id() const override { return id_; }
  bool is_private() const override { return private_; }

  void Send(std::shared_ptr<const std::string> frame, std::string_view text) override {
    if (ctx_.faults.Stalled(private_)) return;  // stalled: sockets stay open, nothing is sent
    bool post = false;
    bool overflow = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      if (pending_bytes_ + frame->size() > kMaxPendingBytes) {
        overflow = true;
      } else {
        pending_bytes_ += frame->size();
        pending_.push_back(std::move(frame));
        if (!writing_) post = writing_ = true;
      }
    }
    if (overflow) {
      Log(LogLevel::kWarn, "sim", "slow consumer dropped", {{"conn", id_}});
      Abort();
      return;
    }
    ctx_.stats.frames_sent++;
    if (!text.empty()) ctx_.log.Add(ctx_.clock.NowMs(), id_, "out", kind_, text);
    if (post) net::post(strand_, [self = this->shared_from_this()] { self->StartWrite(); });
  }

  void Abort() override {
    net::post(strand_, [self = this->shared_from_this()] { self->Shutdown("aborted by control"); });
  }

 private:
  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

  void SendText(const std::string& text) {
    Send(std::make_shared<const std::string>(EncodeServerFrame(WsOpcode::kText, text)), text);
  }

  // --- reading ---

  void DoRead() {
    stream_.async_read_some(net::buffer(read_buf_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(beast::error_code ec, size_t n) {
    if (ec) {
      Shutdown("read ended");
      return;
    }
    parser_.Feed(std::string_view(read_buf_.data(), n));
    ProcessParsed();
    if (!closed()) DoRead();
  }

  void ProcessParsed() {
    while (!closed()) {
      std::string error;
      auto msg = parser_.Next(&error);
      if (!error.empty()) {
        Log(LogLevel::kInfo, "sim", "ws protocol error", {{"conn", id_}, {"error", error}});
        Shutdown("protocol error");
        return;
      }
      if (!msg) return;
      HandleMessage(*msg);
    }
  }

  void HandleMessage(const WsFrameParser::Message& m) {
    const auto now = SteadyClock::now();
    last_inbound_ = now;
    const bool first = first_frame_;
    first_frame_ = false;
    if (!rate_.Record(now)) {
      ctx_.log.Add(ctx_.clock.NowMs(), id_, "in", kind_, m.payload);
      Log(LogLevel::kInfo, "sim", "too many inbound messages: disconnecting", {{"conn", id_}});
      Shutdown("inbound rate");
      return;
    }
    switch (m.opcode) {
      case WsOpcode::kPing:
        // Live: a protocol-level ping as the very first client frame kills the socket.
        if (first) {
          Shutdown("protocol ping as first frame");
          return;
        }
        Send(std::make_shared<const std::string>(EncodeServerFrame(WsOpcode::kPong, m.payload)), "");
        return;
      case WsOpcode::kPong:
        return;
      case WsOpcode::kClose: {
        std::lock_guard<std::mutex> lock(mu_);
        close_after_write_ = true;
        pending_.push_back(std::make_shared<const std::string>(
            EncodeServerFrame(WsOpcode::kClose, m.payload.substr(0, std::min<size_t>(m.payload.size(), 2)))));
        if (!writing_) {
          writing_ = true;
          net::post(strand_, [self = this->shared_from_this()] { self->StartWrite(); });
        }
        return;
      }
      case WsOpcode::kBinary:
        ctx_.log.Add(ctx_.clock.NowMs(), id_, "in", kind_, "<binary frame>");
        return;
      case WsOpcode::kText:
      case WsOpcode::kContinuation:
        ctx_.log.Add(ctx_.clock.NowMs(), id_, "in", kind_, private_ ? RedactSign(m.payload) : m.payload);
        try {
          HandleText(m.payload);
        } catch (const std::exception& e) {
          Log(LogLevel::kError, "sim", "ws message handler failed", {{"conn", id_}, {"error", e.what()}});
        }
        return;
    }
  }

  void HandleText(const std::string& text) {
    ClientMessage msg = ParseClientMessage(text);
    switch (msg.kind) {
      case ClientMessage::Kind::kPing:
        if (ctx_.faults.Stalled(private_)) return;  // stalled: no pong either
        SendText(PongFrame(msg.ping_value, open_sec_));
        return;
      case ClientMessage::Kind::kSubscribe:
        ctx_.stats.subscribe_messages++;
        private_ ? SubscribePrivate(msg.args) : SubscribePublic(msg.args);
        return;
      case ClientMessage::Kind::kUnsubscribe: {
        ctx_.stats.unsubscribe_messages++;
        std::vector<StreamArg> args = msg.args;
        if (private_) {
          for (auto& a : args) a.symbol.clear();
        }
        for (const auto& a : subs_.Remove(args)) {
          ctx_.hub.Unsubscribe(id_, a);
          pending_subs_.erase(a);  // a delayed subscribe not yet in effect never takes effect
        }
        RefreshFirehoseSymbols();
        SendText(UnsubscribeReply(ctx_.clock.NowMs()));
        return;
      }
      case ClientMessage::Kind::kLogin:
        if (private_) Login(msg.login);
        return;
      case ClientMessage::Kind::kUnknownOp:
      case ClientMessage::Kind::kInvalid:
        return;  // live: no reply
    }
  }

  void SubscribePublic(const std::vector<StreamArg>& args) {
    std::vector<StreamArg> valid;
    std::vector<ChannelInfo> infos;
    for (const auto& a : args) {
      if (a.symbol.empty()) continue;
      auto info = ClassifyPublicChannel(a.ch);
      if (!info) continue;  // unknown channel: silently ignored
      valid.push_back(a);
    }
    // A refusal is immediate (the stream counts against --ws-max-subs from now on); the stream's
    // data starts after --ws-subscribe-delay, each stream's delay drawn on its own.
    auto r = subs_.Add(valid);
    for (const auto& a : r.added) {
      const auto delay = ctx_.NextSubscribeDelay();
      if (delay.count() <= 0) {
        TakeEffect(a);
        continue;
      }
      Pending& p = pending_subs_[a];
      p.token = ++next_pending_token_;
      p.timer = std::make_unique<net::steady_timer>(strand_, delay);
      p.timer->async_wait([self = this->shared_from_this(), a, token = p.token](beast::error_code ec) {
        if (ec) return;
        auto it = self->pending_subs_.find(a);
        // Unsubscribed meanwhile (and perhaps subscribed again: a newer token) or closed.
        if (it == self->pending_subs_.end() || it->second.token != token) return;
        self->pending_subs_.erase(it);
        if (self->closed()) return;
        self->TakeEffect(a);
        self->RefreshFirehoseSymbols();
      });
    }
    if (r.refused > 0) SendText(SubscribeRefused(ctx_.config.ws_max_subs));
    RefreshFirehoseSymbols();
  }

  // The stream starts: its subscribers get its pushes from now on, a stateful one its current value.
  // (The caller refreshes the firehose symbols, once for all the streams it started.)
  void TakeEffect(const StreamArg& a) {
    ctx_.hub.Subscribe(id_, a);
    InitialPush(a, *ClassifyPublicChannel(a.ch));
  }

  // First frame of a new stream: stateful channels get their current value at once; an unknown,
  // PREVIEW or STOP symbol gets one frame of empty levels on depth channels, then silence.
  void InitialPush(const StreamArg& a, const ChannelInfo& info) {
    const SymbolSpec* spec = ctx_.catalog.Find(a.symbol);
    if (spec == nullptr || !spec->tradable()) {
      if (info.kind == ChannelKind::kDepth) {
        SendText(EmptyDepthFrame(a.ch, a.symbol, ctx_.clock.NowMs(), info.depth_levels == 0 ? 15 : info.depth_levels));
      }
      return;
    }
    if (auto text = ctx_.exchange.PublicFrame(a, info)) SendText(*text);
  }

  void SubscribePrivate(const std::vector<StreamArg>& args) {
    if (!logged_in_) return;
    std::vector<StreamArg> valid;
    for (const auto& a : args) {
      if (IsPrivateChannel(a.ch)) valid.push_back(StreamArg{a.ch, ""});
    }
    auto r = subs_.Add(valid);
    for (const auto& a : r.added) ctx_.hub.Subscribe(id_, a);
    if (r.refused > 0) SendText(SubscribeRefused(ctx_.config.ws_max_subs));
  }

  void Login(const LoginArgs& login) {
    AuthVerdict v = VerifyWsLogin(login, {ctx_.config.api_key, ctx_.config.api_secret}, ctx_.clock.NowMs(),
                                  ctx_.config.rest_time_window.count());
    if (v.ok()) {
      logged_in_ = true;
      ctx_.stats.logins_ok++;
      SendText(R"({"op":"login","data":{"result":true}})");
    } else {
      ctx_.stats.logins_failed++;
      SendText(absl::StrCat("{\"op\":\"login\",\"data\":{\"result\":false,\"code\":", v.code, ",\"msg\":\"",
                            JsonEscape(v.msg), "\"}}"));
    }
  }

  // --- firehose ---

  void RefreshFirehoseSymbols() {
    fh_symbols_.clear();
    for (const auto& s : subs_.streams()) {
      if (s.ch != "trade" || pending_subs_.contains(s)) continue;
      const int sym = ctx_.catalog.IndexOf(s.symbol);
      if (ctx_.firehose_pool->has(sym)) fh_symbols_.push_back(sym);
    }
    fh_cursors_.assign(ctx_.catalog.all().size(), 0);
    if (!fh_symbols_.empty() && !fh_timer_armed_) ArmFirehoseTimer(std::chrono::milliseconds(0));
  }

  // Runs only while the connection has trade subscriptions (it is how a runtime firehose change
  // reaches idle sockets).
  void ArmFirehoseTimer(std::chrono::microseconds d) {
    fh_timer_armed_ = true;
    firehose_timer_.expires_after(d);
    firehose_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      self->fh_timer_armed_ = false;
      if (!ec) self->OnFirehoseTick();
    });
  }

  void OnFirehoseTick() {
    if (closed() || fh_symbols_.empty()) return;
    const int64_t rate = ctx_.firehose_rate.load();
    const auto now = SteadyClock::now();
    const double dt = std::chrono::duration<double>(now - fh_last_).count();
    fh_last_ = now;
    const bool active = rate != 0 && !fh_symbols_.empty();
    if (!active) {
      fh_due_ = 0;
      ArmFirehoseTimer(kFirehoseIdleTick);
      return;
    }
    if (rate > 0) {
      const double cap = static_cast<double>(rate) * static_cast<double>(fh_symbols_.size());
      fh_due_ = std::min(cap, fh_due_ + cap * std::min(dt, 1.0));
    }
    bool start = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!writing_ && !closed_) start = writing_ = true;
    }
    if (start) StartWrite();
    ArmFirehoseTimer(FirehoseTick(rate));
  }

  std::chrono::microseconds FirehoseTick(int64_t rate) const {
    if (rate <= 0) return kFirehoseMaxTick;
    const int64_t per_frame_us = 1'000'000 / std::max<int64_t>(1, rate * static_cast<int64_t>(fh_symbols_.size()));
    return std::clamp(std::chrono::microseconds(per_frame_us), kFirehoseMinTick, kFirehoseMaxTick);
  }

  // Appends due firehose frames to fh_batch_; returns how many.
  size_t FillFirehose() {
    fh_batch_.clear();
    const int64_t rate = ctx_.firehose_rate.load();
    if (rate == 0 || fh_symbols_.empty() || ctx_.faults.Stalled(private_)) return 0;
    size_t frames = 0;
    if (rate < 0) {
      frames = kFirehoseMaxFramesPerWrite;
    } else {
      frames = std::min(kFirehoseMaxFramesPerWrite, static_cast<size_t>(fh_due_));
      fh_due_ -= static_cast<double>(frames);
    }
    if (frames == 0) return 0;
    const int64_t ts = ctx_.clock.NowMs();
    const size_t nsym = fh_symbols_.size();
    size_t written = 0;
    for (size_t i = 0; i < nsym && written < frames; ++i) {
      const size_t share = frames / nsym + (i < frames % nsym ? 1 : 0);
      const int sym = fh_symbols_[(fh_rr_ + i) % nsym];
      ctx_.firehose_pool->Append(sym, share, ts, &fh_batch_, &fh_cursors_[static_cast<size_t>(sym)]);
      written += share;
      if (rate < 0 && fh_batch_.size() >= kFirehoseBatchBytes) break;
    }
    fh_rr_ = (fh_rr_ + 1) % nsym;
    ctx_.stats.frames_sent += static_cast<int64_t>(written);
    return written;
  }

  // --- writing ---

  void StartWrite() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) {
        writing_ = false;
        return;
      }
      inflight_.swap(pending_);
      pending_.clear();
      pending_bytes_ = 0;
    }
    if (!private_) FillFirehose();
    if (inflight_.empty() && fh_batch_.empty()) {
      bool close_now = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!pending_.empty()) {
          net::post(strand_, [self = this->shared_from_this()] { self->StartWrite(); });
          return;
        }
        writing_ = false;
        close_now = close_after_write_;
      }
      if (close_now) Shutdown("client closed");
      return;
    }
    buffers_.clear();
    for (const auto& f : inflight_) buffers_.push_back(net::buffer(*f));
    if (!fh_batch_.empty()) buffers_.push_back(net::buffer(fh_batch_));
    net::async_write(stream_, buffers_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(beast::error_code ec) {
    inflight_.clear();
    if (ec) {
      Shutdown("write failed");
      return;
    }
    StartWrite();
  }

  // --- lifetime ---

  void ArmIdleTimer() {
    idle_timer_.expires_at(last_inbound_ + ctx_.config.ws_idle_timeout);
    idle_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed()) return;
      if (SteadyClock::now() >= self->last_inbound_ + self->ctx_.config.ws_idle_timeout) {
        // Live: closed without a close frame (the client sees 1006).
        self->Shutdown("idle timeout");
        return;
      }
      self->ArmIdleTimer();
    });
  }

  void Shutdown(const char* why) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      pending_.clear();
      pending_bytes_ = 0;
    }
    Log(LogLevel::kDebug, "sim", "ws closed", {{"conn", id_}, {"why", why}});
    beast::error_code ec;
    auto& sock = beast::get_lowest_layer(stream_).socket();
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    idle_timer_.cancel();
    firehose_timer_.cancel();
    pending_subs_.clear();  // destroying a timer cancels its wait
    Cleanup();
  }

  void Cleanup() {
    if (cleaned_) return;
    cleaned_ = true;
    ctx_.hub.Remove(id_);
    (private_ ? ctx_.stats.private_connections : ctx_.stats.public_connections)--;
  }

  SimContext& ctx_;
  const uint64_t drop_epoch_;
  Stream stream_;
  typename Stream::executor_type strand_;
  const bool private_;
  const uint64_t id_;
  const std::string kind_;
  const int64_t open_sec_;
  std::array<char, 16 * 1024> read_buf_{};
  WsFrameParser parser_;
  SubscriptionSet subs_;
  InboundRateRule rate_;
  bool first_frame_ = true;
  bool logged_in_ = false;
  SteadyClock::time_point last_inbound_;
  net::steady_timer idle_timer_;
  net::steady_timer firehose_timer_;
  // Public subscribes waiting out --ws-subscribe-delay (they count in subs_ already).
  struct Pending {
    uint64_t token = 0;
    std::unique_ptr<net::steady_timer> timer;
  };
  std::map<StreamArg, Pending> pending_subs_;
  uint64_t next_pending_token_ = 0;

  std::vector<int> fh_symbols_;
  std::vector<size_t> fh_cursors_;
  size_t fh_rr_ = 0;
  bool fh_timer_armed_ = false;
  double fh_due_ = 0;
  SteadyClock::time_point fh_last_ = SteadyClock::now();
  std::string fh_batch_;

  std::mutex mu_;
  std::vector<std::shared_ptr<const std::string>> pending_;
  size_t pending_bytes_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
  std::vector<std::shared_ptr<const std::string>> inflight_;
  std::vector<net::const_buffer> buffers_;
  bool cleaned_ = false;
};

}  // namespace

template <class Stream>
void StartWsSession(SimContext& ctx, Stream&& stream, std::string leftover, bool is_private, uint64_t drop_epoch) {
  auto s = std::make_shared<WsSession<Stream>>(ctx, std::move(stream), std::move(leftover), is_private, drop_epoch);
  s->Start();
}

template void StartWsSession<PlainStream>(SimContext&, PlainStream&&, std::string, bool, uint64_t);
template void StartWsSession<TlsStream>(SimContext&, TlsStream&&, std::string, bool, uint64_t);

}  // namespace bx::sim

// HTTP sessions: the exchange port (REST, WS upgrades at /public/ and /private/, REST fault
// injection) and the control port. One strand per connection; keep-alive; bounded requests.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <sys/socket.h>

#include <cerrno>
#include <ctime>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "common/logging.h"
#include "sim/frames.h"
#include "sim/gzip.h"
#include "sim/server_internal.h"
#include "sim/ws_framing.h"

namespace bx::sim {

namespace http = beast::http;

namespace {

constexpr auto kControlKeepAliveIdle = std::chrono::seconds(300);
// How long an idle close's TLS close_notify may take to go out: a peer that reads nothing cannot
// keep the session alive longer than this.
constexpr auto kCloseNotifyTimeout = std::chrono::seconds(1);
constexpr size_t kBodyLimit = 1u << 20;

RestReply FaultReply(const std::string& kind) {
  if (kind == "http_500") {
    return {500, "<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html"};
  }
  if (kind == "http_502") return {502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"};
  if (kind == "http_429") return {429, "<html><body><h1>429 Too Many Requests</h1></body></html>", "text/html"};
  if (kind == "code_10006") return {200, ErrorBody(10006, "Request too frequently")};
  return {200, ErrorBody(10005, "Too many requests")};  // code_10005
}

template <class Derived, class Stream>
class HttpSessionBase {
 protected:
  HttpSessionBase(SimContext& ctx, Stream&& stream)
      : ctx_(ctx), stream_(std::move(stream)), timer_(stream_.get_executor()) {}

  Derived& self() { return static_cast<Derived&>(*this); }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    parser_->header_limit(64 * 1024);
    // The next request's deadline is our timer, not the stream's: Beast's closes the socket when
    // it expires, too early for a TLS close_notify to go out first.
    read_deadline_ = std::chrono::steady_clock::now() + self().IdleTimeout();
    beast::get_lowest_layer(stream_).expires_never();
    reading_ = true;
    timer_.expires_at(read_deadline_);
    timer_.async_wait([s = self().shared_from_this(), gen = ++read_gen_](beast::error_code ec) {
      if (!ec) s->OnReadDeadline(gen);
    });
    http::async_read(stream_, buffer_, *parser_,
                     [s = self().shared_from_this()](beast::error_code ec, size_t) { s->OnRead(ec); });
  }

  // The next request has not arrived (in full) within the idle timeout.
  void OnReadDeadline(uint64_t gen) {
    if (!reading_ || gen != read_gen_ || closing_ || closed_) return;  // completed or closing since
    if (Idle()) {
      self().OnIdleTimeout();
    } else {
      Close();  // a request only partly here: dropped, as the stream's own timeout did
    }
  }

  void OnRead(beast::error_code ec) {
    reading_ = false;
    timer_.cancel();
    if (closing_) {  // the read was cancelled for an idle close (a racing request is not served)
      if (!closed_) SendCloseNotify();
      return;
    }
    if (closed_) return;  // closed by us meanwhile; a request that raced the close is not served
    // What follows (the reply, or the 101) keeps the deadline the stream's timeout gave it.
    beast::get_lowest_layer(stream_).expires_at(read_deadline_);
    if (ec) {
      if (ec == http::error::body_limit || ec == http::error::header_limit) {
        Write({413, ErrorBody(10002, "Parameter error: request too large")}, false);
        return;
      }
      Close();
      return;
    }
    self().OnRequest(parser_->release());
  }

  void Write(const RestReply& reply, bool keep_alive, unsigned version = 11) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(reply.http_status),
                                                                   version);
    res->set(http::field::server, "bitunix-sim");
    res->set(http::field::date, HttpDate(ctx_.clock.NowMs()));
    res->set(http::field::content_type, reply.content_type);
    if (!reply.content_encoding.empty()) {
      res->set(http::field::content_encoding, reply.content_encoding);
      res->set(http::field::vary, "Accept-Encoding");
    }
    res->keep_alive(keep_alive);
    res->body() = reply.body;
    res->prepare_payload();
    writing_ = true;
    http::async_write(stream_, *res, [s = self().shared_from_this(), res](beast::error_code ec, size_t) {
      s->writing_ = false;
      s->OnWritten(!ec && res->keep_alive());
    });
  }

  void Close() {
    closed_ = true;
    beast::error_code ec;
    auto& sock = beast::get_lowest_layer(stream_).socket();
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    timer_.cancel();
  }

  // Closes a connection with no write pending. Over TLS with `close_notify`, a TLS close_notify
  // goes out before the FIN, as servers in front of the exchange send one; otherwise the FIN
  // alone (over TLS the client sees a truncated stream). `closed` (may be empty) runs once the
  // close is on the wire.
  void CloseGracefully(bool close_notify, std::function<void()> closed) {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      if (close_notify && !closed_) {
        closing_ = true;
        after_close_ = std::move(closed);
        if (reading_) {
          // A pending SSL read and a shutdown must not overlap: OnRead goes on once it is cancelled.
          // Should the read not end (its bytes were already on their way to the strand, and it
          // reads on for the rest), the FIN goes out alone after kCloseNotifyTimeout.
          timer_.expires_after(kCloseNotifyTimeout);
          timer_.async_wait([s = self().shared_from_this()](beast::error_code ec) {
            if (!ec && !s->closed_) s->FinishClose();
          });
          beast::get_lowest_layer(stream_).cancel();
        } else {
          SendCloseNotify();
        }
        return;
      }
    }
    Close();
    if (closed) closed();
  }

  // close_notify in one direction, then the FIN: like a server's keep-alive close, it does not
  // wait for the peer's close_notify (SSL_RECEIVED_SHUTDOWN makes async_shutdown end once ours is
  // written), and a peer that reads nothing holds it for kCloseNotifyTimeout at most.
  void SendCloseNotify() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      SSL* ssl = stream_.native_handle();
      SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
      beast::get_lowest_layer(stream_).expires_after(kCloseNotifyTimeout);
      stream_.async_shutdown([s = self().shared_from_this()](beast::error_code ec) {
        if (!ec) s->ctx_.stats.rest_close_notify_sent++;
        s->FinishClose();
      });
    }
  }

  void FinishClose() {
    Close();
    if (auto closed = std::exchange(after_close_, nullptr)) closed();
  }

  // A reply went out: read the next request on a keep-alive connection, else close.
  void OnWritten(bool keep_alive) {
    if (!keep_alive) {
      Close();
      return;
    }
    DoRead();
  }

  // Between requests: waiting for a request of which no byte has arrived. Call on the strand.
  bool Idle() { return reading_ && !closing_ && !closed_ && !parser_->got_some() && NothingReceived(); }

  // Nothing of a next request here yet: none buffered (a pipelined request, TLS plaintext) and
  // none waiting in the socket (EOF counts as nothing).
  bool NothingReceived() {
    if (buffer_.size() > 0) return false;
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      if (SSL_pending(stream_.native_handle()) > 0) return false;
    }
    char c;
    const ssize_t r = ::recv(beast::get_lowest_layer(stream_).socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }

  // TCP reset: no reply at all.
  void Reset() {
    beast::error_code ec;
    auto& sock = beast::get_lowest_layer(stream_).socket();
    sock.set_option(net::socket_base::linger(true, 0), ec);
    sock.close(ec);
    closed_ = true;
    timer_.cancel();
  }

  SimContext& ctx_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  net::steady_timer timer_;  // the next request's deadline while reading; a hang fault's delay
  std::chrono::steady_clock::time_point read_deadline_;
  uint64_t read_gen_ = 0;   // bumps with every read; a deadline firing late compares it
  bool reading_ = false;    // an async_read for the next request is pending
  bool writing_ = false;    // a reply's async_write is pending
  bool closing_ = false;    // a TLS close_notify is on its way (CloseGracefully)
  bool closed_ = false;     // Close() or Reset() ran
  std::function<void()> after_close_;  // CloseGracefully's `closed`, once the close is out
};

template <class Stream>
class ExchangeSession final : public HttpSessionBase<ExchangeSession<Stream>, Stream>,
                              public RestConnection,
                              public std::enable_shared_from_this<ExchangeSession<Stream>> {
  using Base = HttpSessionBase<ExchangeSession<Stream>, Stream>;
  friend Base;

 public:
  ExchangeSession(SimContext& ctx, Stream&& stream, std::string peer_ip)
      : Base(ctx, std::move(stream)), peer_ip_(std::move(peer_ip)), strand_(this->stream_.get_executor()) {}
  ~ExchangeSession() override {
    if (registry_id_ != 0) this->ctx_.rest_conns.Remove(registry_id_);
  }

  void CloseIfIdle(bool close_notify, std::function<void(bool closed)> done) override {
    // strand_, not stream_'s executor: after an upgrade the stream has moved to the WS session.
    net::post(strand_, [s = this->shared_from_this(), close_notify, done = std::move(done)]() mutable {
      // A reply still being written may already be all the client has read: decide once it is.
      if (s->writing_) {
        s->idle_close_waiters_.emplace_back(close_notify, std::move(done));
        return;
      }
      if (!s->Idle()) {
        done(false);
        return;
      }
      s->CloseIdle(close_notify, [done = std::move(done)] { done(true); });
    });
  }

  void Run() {
    registry_id_ = this->ctx_.rest_conns.Add(this->weak_from_this());
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      beast::get_lowest_layer(this->stream_).expires_after(std::chrono::seconds(10));
      this->stream_.async_handshake(net::ssl::stream_base::server,
                                    [s = this->shared_from_this()](beast::error_code ec) {
                                      if (ec) {
                                        s->Close();
                                        return;
                                      }
                                      s->DoRead();
                                    });
    } else {
      this->DoRead();
    }
  }

 private:
  void OnRequest(http::request<http::string_body> req) {
    if (beast::websocket::is_upgrade(req)) {
      Upgrade(std::move(req));
      return;
    }
    RestRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    ParseTarget(r.target, &r.path, &r.query);
    for (const auto& f : req) r.headers[absl::AsciiStrToLower(std::string(f.name_string()))] = std::string(f.value());
    r.body = req.body();
    r.peer_ip = peer_ip_;
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    auto& ctx = this->ctx_;
    // Decided when the request arrives: a delayed reply keeps the coding it was asked with.
    gzip_ = ctx.gzip_replies.load() && AcceptsGzip(r.headers["accept-encoding"]);
    const uint64_t conn = ConnId();
    ctx.log.Add(ctx.clock.NowMs(), conn, "in", "rest", r.method + " " + r.target + (r.body.empty() ? "" : " " + r.body));

    auto fault = ctx.faults.TakeRestFault(r.path);
    if (!fault) {
      Reply(SafeHandle(r), keep_alive, version);
      return;
    }
    Log(LogLevel::kInfo, "sim", "rest fault", {{"kind", fault->kind}, {"path", r.path}, {"after", fault->after}});
    std::optional<RestReply> real;
    if (fault->after) real = SafeHandle(r);  // executed, then the reply is lost or replaced
    if (fault->kind == "reset") {
      ctx.log.Add(ctx.clock.NowMs(), conn, "out", "rest", "<reset>");
      this->Reset();
      return;
    }
    if (fault->kind == "hang") {
      this->timer_.expires_after(std::chrono::milliseconds(fault->hang_ms));
      this->timer_.async_wait([s = this->shared_from_this(), real, keep_alive, version](beast::error_code ec) {
        if (ec) return;
        if (real) {
          s->Reply(*real, keep_alive, version);
        } else {
          s->ctx_.log.Add(s->ctx_.clock.NowMs(), s->conn_id_, "out", "rest", "<closed after hang>");
          s->Close();
        }
      });
      return;
    }
    Reply(FaultReply(fault->kind), keep_alive, version);
  }

  // No exception may cross an I/O handler: a bug becomes a 500 and a log line, not a dead thread.
  RestReply SafeHandle(const RestRequest& r) {
    try {
      return this->ctx_.rest->Handle(r);
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "sim", "REST handler failed", {{"path", r.path}, {"error", e.what()}});
      return {500, ErrorBody(1, "Network Error")};
    }
  }

  void Reply(const RestReply& reply, bool keep_alive, unsigned version) {
    this->ctx_.log.Add(this->ctx_.clock.NowMs(), conn_id_, "out", "rest",
                       std::to_string(reply.http_status) + " " + reply.body);
    if (!gzip_) {
      this->Write(reply, keep_alive, version);
      return;
    }
    RestReply encoded = reply;
    encoded.body = GzipCompress(reply.body);
    encoded.content_encoding = "gzip";
    this->ctx_.stats.gzip_replies_sent++;
    this->Write(encoded, keep_alive, version);
  }

  uint64_t ConnId() { return conn_id_ ? conn_id_ : (conn_id_ = this->ctx_.next_conn_id.fetch_add(1)); }

  std::chrono::milliseconds IdleTimeout() const { return this->ctx_.config.rest_idle_timeout; }
  void OnIdleTimeout() { CloseIdle(this->ctx_.config.rest_idle_close_notify, nullptr); }

  // The base's write completion, with the close_idle_rest calls that waited for it.
  void OnWritten(bool keep_alive) {
    auto waiters = std::exchange(idle_close_waiters_, {});
    if (keep_alive && !waiters.empty() && this->NothingReceived()) {
      // Two calls at once asking different modes: the first one's.
      const bool close_notify = waiters.front().first;
      CloseIdle(close_notify, [waiters = std::move(waiters)] {
        for (const auto& w : waiters) w.second(true);
      });
      return;
    }
    Base::OnWritten(keep_alive);
    for (auto& w : waiters) w.second(false);
  }

  // Counts, logs and closes an idle connection; `closed` (may be empty) runs once the close is out.
  void CloseIdle(bool close_notify, std::function<void()> closed) {
    this->ctx_.stats.rest_idle_closed++;
    this->ctx_.log.Add(this->ctx_.clock.NowMs(), ConnId(), "out", "rest", "<closed idle>");
    this->CloseGracefully(close_notify, std::move(closed));
  }

  void Upgrade(http::request<http::string_body> req) {
    auto& ctx = this->ctx_;
    std::string_view target(req.target().data(), req.target().size());
    target = target.substr(0, target.find('?'));
    const bool is_public = target == "/public/" || target == "/public";
    const bool is_private = target == "/private/" || target == "/private";
    if (!is_public && !is_private) {
      this->Write({404, ErrorBody(404, "Not Found")}, false, req.version());
      return;
    }
    if (ctx.faults.RefusingConnections()) {
      this->Write({503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", "text/html"},
                  false, req.version());
      return;
    }
    const std::string key(req[http::field::sec_websocket_key]);
    if (key.empty() || req[http::field::sec_websocket_version] != "13") {
      this->Write({400, "bad websocket upgrade", "text/plain"}, false, req.version());
      return;
    }
    // Taken before the 101 goes out: a drop between now and the session's start reaches it.
    const uint64_t drop_epoch = ctx.hub.DropEpoch(is_private);
    auto res = std::make_shared<http::response<http::empty_body>>(http::status::switching_protocols, req.version());
    res->set(http::field::upgrade, "websocket");
    res->set(http::field::connection, "Upgrade");
    res->set(http::field::sec_websocket_accept, WsAcceptKey(key));
    res->set(http::field::date, HttpDate(ctx.clock.NowMs()));
    res->set(http::field::server, "bitunix-sim");
    http::async_write(this->stream_, *res, [s = this->shared_from_this(), res, is_private, drop_epoch](beast::error_code ec, size_t) {
      if (ec) {
        s->Close();
        return;
      }
      std::string leftover = beast::buffers_to_string(s->buffer_.data());
      StartWsSession(s->ctx_, std::move(s->stream_), std::move(leftover), is_private, drop_epoch);
    });
  }

  std::string peer_ip_;
  net::any_io_executor strand_;
  uint64_t registry_id_ = 0;
  uint64_t conn_id_ = 0;
  bool gzip_ = false;  // the current request's reply goes out gzip-encoded
  // CloseIfIdle calls during a write: (close_notify, done).
  std::vector<std::pair<bool, std::function<void(bool)>>> idle_close_waiters_;
};

class ControlSession final : public HttpSessionBase<ControlSession, PlainStream>,
                             public std::enable_shared_from_this<ControlSession> {
  using Base = HttpSessionBase<ControlSession, PlainStream>;
  friend Base;

 public:
  ControlSession(SimContext& ctx, ControlApi& api, PlainStream&& stream)
      : Base(ctx, std::move(stream)), api_(api) {}
  void Run() { DoRead(); }

 private:
  static std::chrono::milliseconds IdleTimeout() { return kControlKeepAliveIdle; }
  void OnIdleTimeout() { Close(); }

  void OnRequest(http::request<http::string_body> req) {
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    // Some actions answer later, from other connections' strands: come back to ours to write.
    auto reply_fn = [s = shared_from_this(), keep_alive, version](RestReply reply) {
      net::dispatch(s->stream_.get_executor(),
                    [s, reply = std::move(reply), keep_alive, version] { s->Write(reply, keep_alive, version); });
    };
    try {
      api_.HandleAsync(std::string(req.method_string()), std::string(req.target()), req.body(), reply_fn);
    } catch (const std::exception& e) {
      reply_fn({500, std::string("{\"ok\":false,\"error\":\"internal: ") + JsonEscape(e.what()) + "\"}"});
    }
  }
  ControlApi& api_;
};

}  // namespace

void StartExchangeSession(SimContext& ctx, tcp::socket socket, net::ssl::context* ssl) {
  beast::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  std::string ip = ec ? "unknown" : ep.address().to_string();
  socket.set_option(tcp::no_delay(true), ec);
  if (ssl != nullptr) {
    auto s = std::make_shared<ExchangeSession<TlsStream>>(ctx, TlsStream(PlainStream(std::move(socket)), *ssl), ip);
    s->Run();
  } else {
    auto s = std::make_shared<ExchangeSession<PlainStream>>(ctx, PlainStream(std::move(socket)), ip);
    s->Run();
  }
}

void StartControlSession(SimContext& ctx, ControlApi& api, tcp::socket socket) {
  auto s = std::make_shared<ControlSession>(ctx, api, PlainStream(std::move(socket)));
  s->Run();
}

}  // namespace bx::sim

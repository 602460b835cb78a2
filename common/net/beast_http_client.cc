// The Beast adapter behind HttpClient: a keep-alive pool of HTTP/1.1 connections (plain or TLS)
// driven on one strand. See the `## net` section of docs/ARCHITECTURE.md for the policy.
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cctype>
#include <deque>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "common/net/content_coding.h"
#include "common/net/http_client.h"
#include "common/net/http_date.h"
#include "common/net/resolve_internal.h"
#include "common/net/tls_internal.h"

namespace bx::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;
using SteadyTime = std::chrono::steady_clock::time_point;
using beast::error_code;

constexpr uint32_t kHeaderLimit = 64 * 1024;

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

bool IsTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// Rejects what would let a caller's bytes break the request framing (CR/LF injection and such).
absl::Status ValidateRequest(const HttpRequest& r) {
  if (!IsToken(r.method)) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP method '", r.method, "'"));
  }
  if (r.target.empty() || r.target.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("bad request target '", r.target, "': must start with '/'"));
  }
  for (char c : r.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad request target '", r.target, "': spaces and control characters "
                       "must be percent-encoded"));
    }
  }
  for (const auto& [name, value] : r.headers) {
    if (!IsToken(name)) {
      return absl::InvalidArgumentError(absl::StrCat("bad header name '", name, "'"));
    }
    const std::string lower = Lower(name);
    if (lower == "content-length" || lower == "transfer-encoding") {
      return absl::InvalidArgumentError(
          absl::StrCat("header '", name, "' is set by the client from the body; do not pass it"));
    }
    for (char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') {
        return absl::InvalidArgumentError(
            absl::StrCat("header '", name, "' has a CR, LF or NUL in its value"));
      }
    }
  }
  return absl::OkStatus();
}

// Errors meaning "the server closed/reset this connection" (a stale keep-alive connection when
// they hit a reused connection before any response byte).
bool IsConnectionClosed(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

struct Conn;

// One request from Send to its callback.
struct Call {
  explicit Call(const Strand& strand) : timer(strand) {}
  enum class Phase { kQueued, kConnecting, kWriting, kReading, kDone };

  HttpRequest request;
  HttpCallback done;
  SteadyTime start;
  asio::steady_timer timer;  // the request deadline
  Phase phase = Phase::kQueued;
  bool deadline_hit = false;
  bool retried = false;  // a stale-connection retry happened: the first attempt may have arrived
  std::shared_ptr<Conn> conn;
  HttpResponse response;
};
using CallPtr = std::shared_ptr<Call>;

// One pooled connection.
struct Conn {
  enum class State { kConnecting, kIdle, kBusy, kClosed };

  Conn(const Strand& strand, ssl::context* tls_ctx) : timer(strand) {
    if (tls_ctx != nullptr) {
      tls.emplace(strand, *tls_ctx);
    } else {
      plain.emplace(strand);
    }
  }
  tcp::socket& Socket() { return tls ? tls->next_layer() : *plain; }
  template <class F>
  void WithStream(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(*plain);
    }
  }

  State state = State::kConnecting;
  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  asio::steady_timer timer;  // connect timeout while connecting, idle timeout while idle
  std::unique_ptr<internal::HostLookup> lookup;  // while the host name is being looked up
  std::vector<tcp::endpoint> endpoints;
  beast::flat_buffer buffer;
  std::shared_ptr<internal::VerifyFailure> verify = std::make_shared<internal::VerifyFailure>();
  uint64_t exchanges = 0;   // completed request/response pairs
  uint64_t watch_gen = 0;   // bumps on every state change; stale timer/wait completions compare it
  bool connect_timed_out = false;
  SteadyTime idle_since;
  http::request<http::string_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
};
using ConnPtr = std::shared_ptr<Conn>;

class Pool final : public std::enable_shared_from_this<Pool> {
 public:
  Pool(asio::io_context& ioc, HttpClientOptions options, const Clock& clock)
      : strand_(asio::make_strand(ioc)), options_(std::move(options)), clock_(clock) {
    if (options_.base.tls()) {
      auto ctx = internal::MakeClientTlsContext(options_.tls);
      if (ctx.ok()) {
        tls_ctx_ = *std::move(ctx);
      } else {
        config_error_ = ctx.status();
      }
    }
    if (options_.max_connections == 0) options_.max_connections = 1;
    where_ = absl::StrCat(options_.base.host, ":", options_.base.port);
  }

  // Any thread.
  void Send(HttpRequest request, HttpCallback done) {
    requests_total_.fetch_add(1, std::memory_order_relaxed);
    auto call = std::make_shared<Call>(strand_);
    call->request = std::move(request);
    call->done = std::move(done);
    call->start = std::chrono::steady_clock::now();
    asio::post(strand_, [self = shared_from_this(), call] { self->Start(call); });
  }

  // Any thread. Fails everything pending with CANCELLED and closes every connection.
  void Shutdown() {
    asio::post(strand_, [self = shared_from_this()] {
      self->shutting_down_ = true;
      auto queued = std::move(self->queue_);
      self->queue_.clear();
      for (auto& call : queued) {
        self->Finish(call, absl::CancelledError("HTTP client destroyed before the request was sent"),
                     false);
      }
      auto conns = self->conns_;
      for (auto& conn : conns) self->CloseConn(conn);
      self->UpdateGauges();
    });
  }

  HttpClientStats Stats() const {
    HttpClientStats s;
    s.connections_open = connections_open_.load(std::memory_order_relaxed);
    s.connections_busy = connections_busy_.load(std::memory_order_relaxed);
    s.requests_queued = requests_queued_.load(std::memory_order_relaxed);
    s.requests_total = requests_total_.load(std::memory_order_relaxed);
    s.connects_total = connects_total_.load(std::memory_order_relaxed);
    s.reuses_total = reuses_total_.load(std::memory_order_relaxed);
    s.retries_total = retries_total_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  // ---- everything below runs on strand_ ----

  void Start(const CallPtr& call) {
    if (shutting_down_) {
      Finish(call, absl::CancelledError("HTTP client destroyed"), false);
      return;
    }
    if (!config_error_.ok()) {
      Finish(call, config_error_, false);
      return;
    }
    if (absl::Status s = ValidateRequest(call->request); !s.ok()) {
      Finish(call, s, false);
      return;
    }
    call->timer.expires_at(call->start + call->request.timeout);
    call->timer.async_wait([self = shared_from_this(), call](error_code ec) {
      if (!ec) self->OnDeadline(call);
    });
    // Behind every request of its priority or higher, ahead of lower ones.
    auto at = std::find_if(queue_.begin(), queue_.end(),
                           [&](const CallPtr& q) { return q->request.priority < call->request.priority; });
    queue_.insert(at, call);
    Dispatch();
  }

  // Hands queued requests to idle connections, opening new ones up to max_connections (one more
  // for a request of priority > 0). Priority-0 requests never hold more than max_connections
  // connections at once, so that one more is always there for an urgent request.
  void Dispatch() {
    while (!queue_.empty() && !shutting_down_) {
      const bool urgent = queue_.front()->request.priority > 0;
      if (!urgent && BusyConnections() >= options_.max_connections) break;
      if (ConnPtr idle = TakeIdle()) {
        CallPtr call = PopQueue();
        Reuse(idle, call);
        continue;
      }
      if (conns_.size() < options_.max_connections + (urgent ? 1 : 0)) {
        Connect(PopQueue());
        continue;
      }
      break;
    }
    UpdateGauges();
  }

  size_t BusyConnections() const {
    size_t busy = 0;
    for (const auto& c : conns_) {
      if (c->state == Conn::State::kBusy || c->state == Conn::State::kConnecting) ++busy;
    }
    return busy;
  }

  CallPtr PopQueue() {
    CallPtr call = std::move(queue_.front());
    queue_.pop_front();
    return call;
  }

  // The most recently used idle connection that is still open (LIFO keeps few connections warm
  // and lets the rest reach idle_timeout). Dead ones found on the way are closed.
  ConnPtr TakeIdle() {
    for (;;) {
      ConnPtr best;
      for (auto& c : conns_) {
        if (c->state == Conn::State::kIdle && (!best || c->idle_since > best->idle_since)) best = c;
      }
      if (!best) return nullptr;
      if (StillOpen(*best)) return best;
      CloseConn(best);
    }
  }

  // A non-blocking peek: EOF (0), unsolicited bytes (> 0, e.g. a TLS close_notify) or an error
  // all mean the server is done with this connection; only "would block" means it is usable.
  static bool StillOpen(Conn& conn) {
    // Bytes already pulled off the socket (after the last response, or a TLS alert such as
    // close_notify read along with it) mean the same: the server said something unasked.
    if (conn.buffer.size() > 0) return false;
    if (conn.tls) {
      SSL* ssl = conn.tls->native_handle();
      if (SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) return false;
    }
    char c;
    const ssize_t r = ::recv(conn.Socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r >= 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }

  void Reuse(const ConnPtr& conn, const CallPtr& call) {
    ++conn->watch_gen;
    conn->state = Conn::State::kBusy;
    error_code ignored;
    conn->timer.cancel();
    conn->Socket().cancel(ignored);  // the idle watch
    reuses_total_.fetch_add(1, std::memory_order_relaxed);
    call->conn = conn;
    Write(conn, call);
  }

  void Connect(const CallPtr& call) {
    auto conn = std::make_shared<Conn>(strand_, tls_ctx_.get());
    conns_.push_back(conn);
    connects_total_.fetch_add(1, std::memory_order_relaxed);
    call->phase = Call::Phase::kConnecting;
    call->conn = conn;
    const uint64_t gen = ++conn->watch_gen;
    conn->timer.expires_after(options_.connect_timeout);
    conn->timer.async_wait([self = shared_from_this(), conn, call, gen](error_code ec) {
      if (ec || gen != conn->watch_gen || conn->state != Conn::State::kConnecting) return;
      conn->connect_timed_out = true;
      // Fails the call now, not when the pending step notices (a lookup may never notice: see
      // OnDeadline).
      self->FailConnect(conn, call, asio::error::timed_out, "connecting");
    });

    error_code ec;
    auto addr = asio::ip::make_address(options_.base.host, ec);
    if (!ec) {
      conn->endpoints.emplace_back(addr, options_.base.port);
      StartTcpConnect(conn, call);
      return;
    }
    // Weak references only: closing the connection cancels the lookup, and a late result (the
    // lookup cannot be interrupted) finds no one (resolve_internal.h).
    conn->lookup = internal::AsyncHostLookup(
        strand_, options_.base.host, options_.base.port,
        [weak_self = weak_from_this(), weak_conn = std::weak_ptr<Conn>(conn),
         weak_call = std::weak_ptr<Call>(call)](error_code rec, internal::Endpoints endpoints) {
          auto self = weak_self.lock();
          auto c = weak_conn.lock();
          auto k = weak_call.lock();
          if (!self || !c || !k) return;
          c->lookup.reset();
          if (rec || c->state == Conn::State::kClosed) {
            self->FailConnect(c, k, rec ? rec : asio::error::operation_aborted, "resolving");
            return;
          }
          c->endpoints = std::move(endpoints);
          self->StartTcpConnect(c, k);
        });
  }

  void StartTcpConnect(const ConnPtr& conn, const CallPtr& call) {
    asio::async_connect(conn->Socket(), conn->endpoints,
                        [self = shared_from_this(), conn, call](error_code ec, const tcp::endpoint&) {
                          self->OnConnected(conn, call, ec);
                        });
  }

  void OnConnected(const ConnPtr& conn, const CallPtr& call, error_code ec) {
    if (ec || conn->state == Conn::State::kClosed) {
      FailConnect(conn, call, ec ? ec : asio::error::operation_aborted, "connecting");
      return;
    }
    error_code ignored;
    conn->Socket().set_option(tcp::no_delay(true), ignored);
    if (!conn->tls) {
      OnReady(conn, call);
      return;
    }
    std::string err =
        internal::PrepareTlsStream(*conn->tls, options_.base.host, options_.tls.verify, conn->verify);
    if (!err.empty()) {
      CloseConn(conn);
      Finish(call, absl::UnavailableError(err), false);
      Dispatch();
      return;
    }
    conn->tls->async_handshake(ssl::stream_base::client,
                               [self = shared_from_this(), conn, call](error_code hec) {
                                 if (hec || conn->state == Conn::State::kClosed) {
                                   self->FailConnect(conn, call,
                                                     hec ? hec : asio::error::operation_aborted,
                                                     "in the TLS handshake");
                                   return;
                                 }
                                 self->OnReady(conn, call);
                               });
  }

  void OnReady(const ConnPtr& conn, const CallPtr& call) {
    ++conn->watch_gen;
    conn->timer.cancel();
    conn->state = Conn::State::kBusy;
    Write(conn, call);
  }

  void FailConnect(const ConnPtr& conn, const CallPtr& call, error_code ec, const char* stage) {
    const bool timed_out = conn->connect_timed_out;
    CloseConn(conn);
    absl::Status status;
    if (shutting_down_) {
      status = absl::CancelledError("HTTP client destroyed while connecting");
    } else if (call->deadline_hit) {
      status = absl::DeadlineExceededError(
          absl::StrCat("deadline of ", call->request.timeout.count(), " ms exceeded while connecting to ",
                       where_, " (nothing sent)"));
    } else if (timed_out) {
      status = absl::UnavailableError(absl::StrCat("connect timeout after ",
                                                   options_.connect_timeout.count(), " ms to ",
                                                   where_));
    } else {
      status = absl::UnavailableError(absl::StrCat(
          "cannot connect to ", where_, ": ", internal::DescribeNetError(ec, conn->verify.get()),
          " (", stage, ")"));
    }
    Finish(call, std::move(status), false);
    Dispatch();
  }

  void BuildRequest(Conn& conn, const HttpRequest& r) {
    auto& req = conn.req;
    req = {};
    req.version(11);
    const http::verb verb = http::string_to_verb(r.method);
    if (verb != http::verb::unknown) {
      req.method(verb);
    } else {
      req.method_string(r.method);
    }
    req.target(r.target);
    bool has_host = false, has_ua = false, has_accept_enc = false, has_ctype = false;
    for (const auto& [name, value] : r.headers) {
      const std::string lower = Lower(name);
      has_host |= lower == "host";
      has_ua |= lower == "user-agent";
      has_accept_enc |= lower == "accept-encoding";
      has_ctype |= lower == "content-type";
    }
    if (!has_host) req.set(http::field::host, options_.base.HostHeader());
    if (!has_ua) req.set(http::field::user_agent, options_.user_agent);
    if (!has_accept_enc) req.set(http::field::accept_encoding, "gzip");
    if (!has_ctype && !r.body.empty()) req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : r.headers) req.insert(name, value);
    req.keep_alive(true);
    req.body() = r.body;
    req.prepare_payload();
  }

  void Write(const ConnPtr& conn, const CallPtr& call) {
    BuildRequest(*conn, call->request);
    call->phase = Call::Phase::kWriting;
    call->response.sent_ns = clock_.NowNs();
    conn->WithStream([&](auto& stream) {
      http::async_write(stream, conn->req,
                        [self = shared_from_this(), conn, call](error_code ec, size_t n) {
                          self->OnWritten(conn, call, ec, n);
                        });
    });
  }

  bool CanRetryStale(const Conn& conn, const Call& call) const {
    return call.request.method == "GET" && conn.exchanges > 0 && !call.retried &&
           !call.deadline_hit && !shutting_down_;
  }

  void Retry(const ConnPtr& conn, const CallPtr& call) {
    CloseConn(conn);
    call->retried = true;
    call->conn.reset();
    retries_total_.fetch_add(1, std::memory_order_relaxed);
    Connect(call);  // the slot just freed; a fresh connection, never another pooled one
    UpdateGauges();
  }

  void OnWritten(const ConnPtr& conn, const CallPtr& call, error_code ec, size_t n) {
    if (call->phase == Call::Phase::kDone) return;
    if (ec) {
      if (IsConnectionClosed(ec) && CanRetryStale(*conn, *call)) {
        Retry(conn, call);
        return;
      }
      // Plain TCP with nothing written is provably unsent; a TLS record may have left in part.
      const bool maybe_sent = conn->tls.has_value() || n > 0;
      FailExchange(conn, call, ec, maybe_sent, "sending the request");
      return;
    }
    call->phase = Call::Phase::kReading;
    ReadHeader(conn, call);
  }

  void ReadHeader(const ConnPtr& conn, const CallPtr& call) {
    conn->parser.emplace();
    conn->parser->header_limit(kHeaderLimit);
    conn->parser->body_limit(options_.max_body_bytes);
    if (call->request.method == "HEAD") conn->parser->skip(true);
    conn->WithStream([&](auto& stream) {
      http::async_read_header(stream, conn->buffer, *conn->parser,
                              [self = shared_from_this(), conn, call](error_code rec, size_t) {
                                self->OnHeader(conn, call, rec);
                              });
    });
  }

  void OnHeader(const ConnPtr& conn, const CallPtr& call, error_code ec) {
    if (call->phase == Call::Phase::kDone) return;
    if (ec) {
      const bool nothing_read = !conn->parser->got_some() && conn->buffer.size() == 0;
      if (IsConnectionClosed(ec) && nothing_read && CanRetryStale(*conn, *call)) {
        Retry(conn, call);
        return;
      }
      FailExchange(conn, call, ec, true, "waiting for the response");
      return;
    }
    const unsigned status = conn->parser->get().result_int();
    if (status >= 100 && status < 200 && status != 101) {
      // An interim response (100 Continue, 103 Early Hints): the final one follows on the same
      // connection (RFC 9110 §15.2). Taking it for the answer would lose the real reply.
      ReadHeader(conn, call);
      return;
    }
    call->response.received_ns = clock_.NowNs();
    if (conn->parser->is_done()) {
      OnBody(conn, call, {});
      return;
    }
    conn->WithStream([&](auto& stream) {
      http::async_read(stream, conn->buffer, *conn->parser,
                       [self = shared_from_this(), conn, call](error_code rec, size_t) {
                         self->OnBody(conn, call, rec);
                       });
    });
  }

  void OnBody(const ConnPtr& conn, const CallPtr& call, error_code ec) {
    if (call->phase == Call::Phase::kDone) return;
    if (ec) {
      FailExchange(conn, call, ec, true, "reading the response body");
      return;
    }
    const bool keep_alive = conn->parser->keep_alive() && !conn->parser->need_eof();
    auto msg = conn->parser->release();
    conn->parser.reset();
    ++conn->exchanges;
    if (keep_alive && !shutting_down_) {
      Park(conn);
    } else {
      CloseConn(conn);
    }

    HttpResult result;
    result.maybe_sent = true;
    result.response = std::move(call->response);
    HttpResponse& resp = result.response;
    resp.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) {
      std::string name = Lower(std::string_view(field.name_string().data(), field.name_string().size()));
      std::string value(field.value().data(), field.value().size());
      auto [it, inserted] = resp.headers.emplace(std::move(name), value);
      if (!inserted) absl::StrAppend(&it->second, ", ", value);
    }
    if (auto it = resp.headers.find("date"); it != resp.headers.end()) {
      resp.date_ms = ParseHttpDateMs(it->second);
    }
    auto enc = resp.headers.find("content-encoding");
    if (enc != resp.headers.end()) {
      auto decoded = DecodeContent(enc->second, std::move(msg.body()), options_.max_body_bytes);
      if (!decoded.ok()) {
        result.status = absl::InternalError(
            absl::StrCat("cannot decode the response body from ", where_, call->request.target, ": ",
                         decoded.status().message()));
        Finish(call, std::move(result));
        Dispatch();
        return;
      }
      resp.body = *std::move(decoded);
    } else {
      resp.body = std::move(msg.body());
    }
    Finish(call, std::move(result));
    Dispatch();
  }

  void FailExchange(const ConnPtr& conn, const CallPtr& call, error_code ec, bool maybe_sent,
                    const char* stage) {
    CloseConn(conn);
    absl::Status status;
    if (shutting_down_) {
      status = absl::CancelledError(absl::StrCat("HTTP client destroyed while ", stage));
    } else if (call->deadline_hit) {
      status = absl::DeadlineExceededError(absl::StrCat(
          "deadline of ", call->request.timeout.count(), " ms exceeded while ", stage, " (",
          call->request.method, " ", where_, call->request.target, ")"));
    } else if (ec == http::error::body_limit) {
      status = absl::InternalError(absl::StrCat("response body from ", where_, " exceeds max_body_bytes (",
                                                options_.max_body_bytes, ")"));
    } else if (ec == http::error::header_limit) {
      status = absl::InternalError(
          absl::StrCat("response header from ", where_, " exceeds ", kHeaderLimit, " bytes"));
    } else if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) {
      status = absl::InternalError(
          absl::StrCat("malformed HTTP response from ", where_, ": ", ec.message()));
    } else {
      status = absl::UnavailableError(absl::StrCat(
          internal::DescribeNetError(ec, conn->verify.get()), " while ", stage, " (",
          call->request.method, " ", where_, call->request.target,
          conn->exchanges > 0 ? ", reused connection)" : ")"));
    }
    Finish(call, std::move(status), maybe_sent);
    Dispatch();
  }

  // Idle: watched for the server closing it, closed after idle_timeout.
  void Park(const ConnPtr& conn) {
    conn->state = Conn::State::kIdle;
    conn->idle_since = std::chrono::steady_clock::now();
    const uint64_t gen = ++conn->watch_gen;
    conn->timer.expires_after(options_.idle_timeout);
    conn->timer.async_wait([self = shared_from_this(), conn, gen](error_code ec) {
      if (!ec && gen == conn->watch_gen && conn->state == Conn::State::kIdle) self->CloseConn(conn);
    });
    conn->Socket().async_wait(tcp::socket::wait_read,
                              [self = shared_from_this(), conn, gen](error_code ec) {
                                if (ec == asio::error::operation_aborted) return;
                                if (gen == conn->watch_gen && conn->state == Conn::State::kIdle) {
                                  self->CloseConn(conn);
                                }
                              });
  }

  void CloseConn(const ConnPtr& conn) {
    if (conn->state == Conn::State::kClosed) return;
    conn->state = Conn::State::kClosed;
    ++conn->watch_gen;
    error_code ignored;
    conn->timer.cancel();
    conn->lookup.reset();  // a lookup under way is left to finish on its own thread, unheard
    conn->Socket().shutdown(tcp::socket::shutdown_both, ignored);
    conn->Socket().close(ignored);
    conns_.erase(std::remove(conns_.begin(), conns_.end(), conn), conns_.end());
    UpdateGauges();
  }

  void OnDeadline(const CallPtr& call) {
    if (call->phase == Call::Phase::kDone) return;
    call->deadline_hit = true;
    if (call->phase == Call::Phase::kQueued) {
      queue_.erase(std::remove(queue_.begin(), queue_.end(), call), queue_.end());
      Finish(call,
             absl::DeadlineExceededError(absl::StrCat(
                 "deadline of ", call->request.timeout.count(),
                 " ms exceeded while waiting for a connection (max_connections=",
                 options_.max_connections, ", nothing sent)")),
             false);
      UpdateGauges();
      return;
    }
    if (call->phase == Call::Phase::kConnecting && call->conn) {
      // Nothing was written yet: answer now. A host-name lookup cannot be interrupted (a blocking
      // getaddrinfo on a thread of its own), so waiting for it to fail would hold the caller as
      // long as the DNS server stalls.
      FailConnect(call->conn, call, asio::error::operation_aborted, "connecting");
      return;
    }
    // The pending operation on the connection fails and reports DEADLINE_EXCEEDED.
    if (call->conn) {
      error_code ignored;
      call->conn->Socket().close(ignored);
    }
  }

  void Finish(const CallPtr& call, absl::Status status, bool maybe_sent) {
    HttpResult result;
    result.status = std::move(status);
    result.maybe_sent = maybe_sent;
    Finish(call, std::move(result));
  }

  void Finish(const CallPtr& call, HttpResult result) {
    if (call->phase == Call::Phase::kDone) return;
    call->phase = Call::Phase::kDone;
    result.maybe_sent |= call->retried;
    call->timer.cancel();
    call->conn.reset();
    UpdateGauges();
    if (call->done) {
      HttpCallback done = std::move(call->done);
      done(std::move(result));
    }
  }

  void UpdateGauges() {
    int busy = 0;
    for (const auto& c : conns_) {
      if (c->state == Conn::State::kBusy || c->state == Conn::State::kConnecting) ++busy;
    }
    connections_open_.store(static_cast<int>(conns_.size()), std::memory_order_relaxed);
    connections_busy_.store(busy, std::memory_order_relaxed);
    requests_queued_.store(static_cast<int>(queue_.size()), std::memory_order_relaxed);
  }

  Strand strand_;
  HttpClientOptions options_;
  const Clock& clock_;
  std::shared_ptr<ssl::context> tls_ctx_;
  absl::Status config_error_;
  std::string where_;  // host:port, for messages

  std::deque<CallPtr> queue_;
  std::vector<ConnPtr> conns_;
  bool shutting_down_ = false;

  std::atomic<int> connections_open_{0};
  std::atomic<int> connections_busy_{0};
  std::atomic<int> requests_queued_{0};
  std::atomic<uint64_t> requests_total_{0};
  std::atomic<uint64_t> connects_total_{0};
  std::atomic<uint64_t> reuses_total_{0};
  std::atomic<uint64_t> retries_total_{0};
};

class BeastHttpClient final : public HttpClient {
 public:
  BeastHttpClient(asio::io_context& ioc, HttpClientOptions options, const Clock& clock)
      : pool_(std::make_shared<Pool>(ioc, std::move(options), clock)) {}
  ~BeastHttpClient() override { pool_->Shutdown(); }

  void Send(HttpRequest request, HttpCallback done) override {
    pool_->Send(std::move(request), std::move(done));
  }
  HttpClientStats Stats() const override { return pool_->Stats(); }

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<HttpClient> MakeBeastHttpClient(boost::asio::io_context& ioc, HttpClientOptions options,
                                                const Clock& clock) {
  return std::make_unique<BeastHttpClient>(ioc, std::move(options), clock);
}

}  // namespace bx::net

// The Beast adapter behind WsClient. One Session per Connect(), on its own strand (or, when one
// thread runs the io_context, on the io_context's own executor); the read loop reuses one
// flat_buffer and calls on_text inline, so steady-state reading allocates nothing.
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/net/tls_internal.h"
#include "common/net/ws_client.h"

namespace bx::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
// A session's executor: a strand when several threads may run the io_context; the io_context's
// own executor when exactly one does (IoThreads::kOne). A strand costs a lock per handler and an
// atomic reference count per executor copy, and Beast copies the executor several times per
// frame: without it the read loop reads ~25 % more frames per second (docs/BENCHMARKS.md, net).
using Strand = asio::strand<asio::io_context::executor_type>;
using Direct = asio::io_context::executor_type;
// I/O objects bound to the concrete executor type rather than any_io_executor: a strand does not
// fit any_io_executor's small buffer, so every Beast operation copying the executor would allocate.
template <class Ex>
struct IoTypes {
  using Socket = asio::basic_stream_socket<tcp, Ex>;
  using Resolver = asio::ip::basic_resolver<tcp, Ex>;
  using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                           asio::wait_traits<std::chrono::steady_clock>, Ex>;
};
// Where outstanding work is counted: the io_context itself (what a strand forwards it to).
inline Direct InnerOf(const Strand& s) { return s.get_inner_executor(); }
inline Direct InnerOf(const Direct& d) { return d; }
using beast::error_code;

RateLimitedLog& WsLog() {
  static RateLimitedLog log(5, std::chrono::seconds(10));
  return log;
}

// One reusable block for the read loop's operations (Asio's "custom allocation" pattern). The
// read chain has at most one operation outstanding and Asio frees an operation's memory before
// invoking its handler, so one slot serves every frame; anything bigger or concurrent falls back
// to the heap. Only ever touched by the read chain, whose steps are sequenced by Asio.
class HandlerMemory {
 public:
  HandlerMemory() = default;
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;
  void* Allocate(size_t size) {
    if (!in_use_ && size <= sizeof(storage_)) {
      in_use_ = true;
      return &storage_;
    }
    return ::operator new(size);
  }
  void Deallocate(void* p) {
    if (p == &storage_) {
      in_use_ = false;
    } else {
      ::operator delete(p);
    }
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[1024];
  bool in_use_ = false;
};

template <class T>
class HandlerAllocator {
 public:
  using value_type = T;
  explicit HandlerAllocator(HandlerMemory& mem) : mem_(&mem) {}
  template <class U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : mem_(other.mem_) {}
  T* allocate(size_t n) { return static_cast<T*>(mem_->Allocate(sizeof(T) * n)); }
  void deallocate(T* p, size_t) { mem_->Deallocate(p); }
  bool operator==(const HandlerAllocator& o) const noexcept { return mem_ == o.mem_; }
  bool operator!=(const HandlerAllocator& o) const noexcept { return mem_ != o.mem_; }

 private:
  template <class>
  friend class HandlerAllocator;
  HandlerMemory* mem_;
};

// Lets the read chain take the next buffered frame without a trip through the scheduler.
//
// Beast completes an async_read whose frame is already in its read buffer (a 1,536-byte recv holds
// about a dozen trade frames) with a post: one scheduler round trip, and with it one epoll_wait,
// per frame — most of the read loop's cost (docs/BENCHMARKS.md, net). While the read handler is
// running on the strand, ReadChainExecutor::post runs such a completion inline instead, up to
// kMaxDepth nested frames; beyond that depth, and everywhere else, it posts to the strand as
// usual. Running inline keeps the strand's guarantee: it only happens on the thread that is
// already inside the strand.
class InlineBudget {
 public:
  static constexpr int kMaxDepth = 32;
  // Marks the read handler as running (and so allowed to run a completion inline).
  class Scope {
   public:
    explicit Scope(InlineBudget& b) : b_(b), was_active_(b.active_) { b_.active_ = true; }
    ~Scope() { b_.active_ = was_active_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    InlineBudget& b_;
    bool was_active_;
  };
  bool TryEnter() {
    if (!active_ || depth_ >= kMaxDepth) return false;
    ++depth_;
    return true;
  }
  void Leave() { --depth_; }

 private:
  bool active_ = false;
  int depth_ = 0;
};

// A Networking-TS executor over the session's executor whose post() may run inline (above). It
// points at the session's executor and budget rather than copying a strand (a copy is an atomic
// reference count, and Beast copies the executor several times per frame). Every copy lives in an
// operation that also holds the read handler, which keeps the session alive while the operation
// runs. Outstanding-work counting goes to the io_context itself (what the strand forwards it to):
// when the io_context is destroyed with a read still pending, Asio destroys the handler (and so
// possibly the session and its strand) before the operation's work guard, and that guard must
// not reach into the freed strand.
template <class Ex>
class ReadChainExecutor {
 public:
  ReadChainExecutor(const Ex& strand, InlineBudget& budget)
      : strand_(&strand), inner_(InnerOf(strand)), budget_(&budget) {}
  asio::execution_context& context() const noexcept { return inner_.context(); }
  void on_work_started() const noexcept { inner_.on_work_started(); }
  void on_work_finished() const noexcept { inner_.on_work_finished(); }
  template <class F, class A>
  void dispatch(F&& f, const A& a) const {
    strand_->dispatch(std::forward<F>(f), a);
  }
  template <class F, class A>
  void post(F&& f, const A& a) const {
    if (budget_->TryEnter()) {
      std::decay_t<F> fn(std::forward<F>(f));
      std::move(fn)();
      budget_->Leave();
      return;
    }
    strand_->post(std::forward<F>(f), a);
  }
  template <class F, class A>
  void defer(F&& f, const A& a) const {
    strand_->defer(std::forward<F>(f), a);
  }
  friend bool operator==(const ReadChainExecutor& a, const ReadChainExecutor& b) noexcept {
    return a.strand_ == b.strand_ && a.budget_ == b.budget_;
  }
  friend bool operator!=(const ReadChainExecutor& a, const ReadChainExecutor& b) noexcept { return !(a == b); }

 private:
  const Ex* strand_;
  Direct inner_;
  InlineBudget* budget_;
};

// The read loop's completion handler: recycled memory (HandlerMemory) and the inline executor.
template <class Ex, class Handler>
class ReadHandler {
 public:
  using allocator_type = HandlerAllocator<Handler>;
  using executor_type = ReadChainExecutor<Ex>;
  ReadHandler(HandlerMemory& mem, ReadChainExecutor<Ex> ex, Handler h)
      : mem_(mem), ex_(std::move(ex)), handler_(std::move(h)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(mem_); }
  executor_type get_executor() const noexcept { return ex_; }
  template <class... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  HandlerMemory& mem_;
  ReadChainExecutor<Ex> ex_;
  Handler handler_;
};

class SessionBase;

// What the client facade and its sessions share.
struct Shared {
  std::mutex mu;
  std::shared_ptr<SessionBase> current;  // guarded by mu; the session not yet closed
  std::atomic<bool> open{false};
  std::atomic<bool> detached{false};     // the client was destroyed: run no more handlers
};

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Start() = 0;                 // on the strand
  virtual void Send(std::string text) = 0;  // any thread
  virtual void Close() = 0;                 // any thread
  virtual void Abort(absl::Status reason) = 0;  // any thread
};

template <bool kTls, class Ex>
class Session final : public SessionBase {
  using Socket = typename IoTypes<Ex>::Socket;
  using Resolver = typename IoTypes<Ex>::Resolver;
  using Timer = typename IoTypes<Ex>::Timer;
  using Next = std::conditional_t<kTls, beast::ssl_stream<Socket>, Socket>;

 public:
  Session(const Ex& strand, std::shared_ptr<const WsOptions> options, const Clock& clock,
          std::shared_ptr<ssl::context> tls_ctx, std::shared_ptr<Shared> shared,
          WsClient::Handlers handlers)
      : strand_(strand),
        options_(std::move(options)),
        clock_(clock),
        tls_ctx_(std::move(tls_ctx)),
        shared_(std::move(shared)),
        handlers_(std::move(handlers)),
        ws_(MakeStream(strand, tls_ctx_.get())),
        timer_(strand),
        resolver_(strand) {
    if (!handlers_.on_text) handlers_.on_text = [](std::string_view, int64_t) {};
  }

  void Start() override {
    io_thread_ = std::this_thread::get_id();
    if (finished_) return;  // Close()/Abort() got in first
    timer_.expires_after(options_->connect_timeout);
    timer_.async_wait([this, self = shared_from_this()](error_code ec) {
      if (ec || finished_ || opened_) return;
      timed_out_ = true;
      resolver_.cancel();
      error_code ignored;
      beast::get_lowest_layer(ws_).close(ignored);
    });
    error_code ec;
    auto addr = asio::ip::make_address(options_->url.host, ec);
    if (!ec) {
      endpoints_.emplace_back(addr, options_->url.port);
      TcpConnect();
      return;
    }
    resolver_.async_resolve(
        options_->url.host, std::to_string(options_->url.port),
        [this, self = shared_from_this()](error_code rec, typename Resolver::results_type results) {
          if (finished_) return;
          if (rec) {
            FailConnect(rec, "resolving the host");
            return;
          }
          for (const auto& entry : results) endpoints_.push_back(entry.endpoint());
          TcpConnect();
        });
  }

  void Send(std::string text) override {
    asio::post(strand_, [this, self = shared_from_this(), text = std::move(text)]() mutable {
      if (finished_ || close_requested_) return;
      queued_bytes_ += text.size();
      queue_.push_back(std::move(text));
      if (queued_bytes_ > options_->max_send_queue_bytes) {
        Finish(absl::ResourceExhaustedError(absl::StrCat(
            "send queue over max_send_queue_bytes (", options_->max_send_queue_bytes,
            "): the connection is not draining", Where())));
        return;
      }
      if (opened_ && !writing_) DoWrite();
    });
  }

  void Close() override {
    asio::post(strand_, [this, self = shared_from_this()] {
      if (finished_ || close_requested_) return;
      close_requested_ = true;
      if (!opened_) {
        Finish(absl::CancelledError(
            absl::StrCat("closed by client before the connection opened", Where())));
        return;
      }
      if (!writing_) StartClose();  // else after the queued frames are written
    });
  }

  void Abort(absl::Status reason) override {
    asio::post(strand_, [this, self = shared_from_this(), reason = std::move(reason)]() mutable {
      Finish(std::move(reason));
    });
  }

 private:
  static websocket::stream<Next> MakeStream(const Ex& strand, ssl::context* ctx) {
    if constexpr (kTls) {
      return websocket::stream<Next>(strand, *ctx);
    } else {
      (void)ctx;
      return websocket::stream<Next>(strand);
    }
  }

  std::string Where() const { return absl::StrCat(" (", options_->url.ToString(), ")"); }

  // Without a strand nothing serialises handlers that run on different threads. A second thread
  // running the io_context is a caller's error that would race silently: say so loudly.
  void CheckOneThread() {
    if (std::this_thread::get_id() == io_thread_ || thread_warned_) return;
    thread_warned_ = true;
    WsLog().Log(LogLevel::kError, "net", "ws-io-threads",
                "WebSocket client made for one io thread (IoThreads::kOne) runs handlers on another: "
                "its io_context is run by more than one thread; use IoThreads::kMany",
                {{"url", options_->url.ToString()}});
  }

  void TcpConnect() {
    asio::async_connect(beast::get_lowest_layer(ws_), endpoints_,
                        [this, self = shared_from_this()](error_code ec, const tcp::endpoint&) {
                          if (finished_) return;
                          if (ec) {
                            FailConnect(ec, "connecting");
                            return;
                          }
                          error_code ignored;
                          beast::get_lowest_layer(ws_).set_option(tcp::no_delay(true), ignored);
                          if constexpr (kTls) {
                            TlsHandshake();
                          } else {
                            Upgrade();
                          }
                        });
  }

  void TlsHandshake() {
    if constexpr (kTls) {
      std::string err = internal::PrepareTlsStream(ws_.next_layer(), options_->url.host,
                                                   options_->tls.verify, verify_);
      if (!err.empty()) {
        Finish(absl::UnavailableError(err + Where()));
        return;
      }
      ws_.next_layer().async_handshake(ssl::stream_base::client,
                                       [this, self = shared_from_this()](error_code ec) {
                                         if (finished_) return;
                                         if (ec) {
                                           FailConnect(ec, "in the TLS handshake");
                                           return;
                                         }
                                         Upgrade();
                                       });
    }
  }

  void Upgrade() {
    websocket::stream_base::timeout t;
    // Bounds the opening and the closing handshake; the overall connect timer also applies.
    t.handshake_timeout = options_->connect_timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;  // Bitunix kills sockets that send protocol pings; it uses JSON pings
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [ua = options_->user_agent](websocket::request_type& req) {
          req.set(beast::http::field::user_agent, ua);
        }));
    websocket::permessage_deflate pmd;  // never negotiated by the exchange: keep it off
    pmd.client_enable = false;
    pmd.server_enable = false;
    ws_.set_option(pmd);
    ws_.read_message_max(options_->max_message_bytes);
    ws_.auto_fragment(false);
    ws_.async_handshake(upgrade_response_, options_->url.HostHeader(), options_->url.target,
                        [this, self = shared_from_this()](error_code ec) {
                          if (finished_) return;
                          if (ec) {
                            FailConnect(ec, "in the WebSocket upgrade", /*upgrade_answered=*/true);
                            return;
                          }
                          OnOpen();
                        });
  }

  void OnOpen() {
    timer_.cancel();
    opened_ = true;
    ws_.text(true);
    shared_->open.store(true);
    if (handlers_.on_open && !shared_->detached.load()) handlers_.on_open();
    if (finished_) return;
    DoRead();
    if (!queue_.empty() && !writing_) {
      DoWrite();
    } else if (close_requested_ && !writing_) {
      StartClose();
    }
  }

  // The hot path: no allocation per frame (one reused buffer, recycled handler memory).
  // `self` keeps the session alive while a read is pending; it is handed from one read to the
  // next instead of taking a new reference per frame.
  void DoRead() { DoRead(shared_from_this()); }
  void DoRead(std::shared_ptr<SessionBase> self) {
    auto on_read = [this, self = std::move(self)](error_code ec, size_t) mutable {
      InlineBudget::Scope in_read_handler(read_budget_);
      if constexpr (std::is_same_v<Ex, Direct>) CheckOneThread();
      if (finished_) return;
      if (ec) {
        Finish(ReadError(ec));
        return;
      }
      if (ws_.got_text()) {
        const auto data = buffer_.data();
        if (!shared_->detached.load(std::memory_order_relaxed)) {
          handlers_.on_text(std::string_view(static_cast<const char*>(data.data()), data.size()),
                            clock_.NowNs());
        }
      } else {
        WsLog().Log(LogLevel::kWarn, "net", "ws-binary", "ignored a binary WebSocket frame",
                    {{"url", options_->url.ToString()}, {"bytes", buffer_.size()}});
      }
      buffer_.consume(buffer_.size());
      if (!finished_) DoRead(std::move(self));
    };
    ws_.async_read(buffer_, ReadHandler<Ex, decltype(on_read)>(
                                read_memory_, ReadChainExecutor<Ex>(strand_, read_budget_), std::move(on_read)));
  }

  void DoWrite() {
    writing_ = true;
    ws_.async_write(asio::buffer(queue_.front()),
                    [this, self = shared_from_this()](error_code ec, size_t) {
                      if (finished_) return;
                      if (ec) {
                        Finish(WriteError(ec));
                        return;
                      }
                      queued_bytes_ -= queue_.front().size();
                      queue_.pop_front();
                      if (!queue_.empty()) {
                        DoWrite();
                        return;
                      }
                      writing_ = false;
                      if (close_requested_ && !close_started_) StartClose();
                    });
  }

  void StartClose() {
    close_started_ = true;
    ws_.async_close(websocket::close_code::normal, [this, self = shared_from_this()](error_code ec) {
      if (finished_) return;
      Finish(ec && ec != asio::error::operation_aborted ? ReadError(ec) : ClientClosed());
    });
  }

  absl::Status ClientClosed() const {
    return absl::CancelledError(absl::StrCat("closed by client", Where()));
  }

  absl::Status ReadError(const error_code& ec) const {
    if (close_requested_) {
      if (ec == beast::error::timeout) {
        return absl::DeadlineExceededError(
            absl::StrCat("closed by client; the server did not answer the close frame", Where()));
      }
      return ClientClosed();
    }
    if (ec == websocket::error::closed) {
      const auto& r = ws_.reason();
      return absl::UnavailableError(absl::StrCat(
          "closed by server: code ", static_cast<int>(r.code),
          r.reason.empty() ? std::string() : absl::StrCat(" '", std::string(r.reason.c_str()), "'"),
          Where()));
    }
    if (ec == websocket::error::message_too_big) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "message too big: over max_message_bytes (", options_->max_message_bytes, ")", Where()));
    }
    if (ec == beast::http::error::end_of_stream || ec == asio::error::eof) {
      return absl::UnavailableError(
          absl::StrCat("end of stream (connection closed without a close frame)", Where()));
    }
    if (ec == ssl::error::stream_truncated) {
      return absl::UnavailableError(absl::StrCat("end of stream (tls: stream truncated)", Where()));
    }
    if (ec == asio::error::connection_reset) {
      return absl::UnavailableError(absl::StrCat("connection reset by peer", Where()));
    }
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(absl::StrCat("websocket timeout", Where()));
    }
    return absl::UnavailableError(
        absl::StrCat(internal::DescribeNetError(ec, verify_.get()), Where()));
  }

  absl::Status WriteError(const error_code& ec) const { return ReadError(ec); }

  // `upgrade_answered`: the server's upgrade reply was read (a default-constructed response says
  // "200 OK", which must not be quoted for a refused TCP connect).
  void FailConnect(const error_code& ec, const char* stage, bool upgrade_answered = false) {
    if (timed_out_) {
      Finish(absl::DeadlineExceededError(absl::StrCat("connect timeout after ",
                                                      options_->connect_timeout.count(),
                                                      " ms (TCP + TLS + upgrade)", Where())));
      return;
    }
    std::string detail = internal::DescribeNetError(ec, verify_.get());
    if (upgrade_answered && upgrade_response_.result_int() != 0) {
      absl::StrAppend(&detail, ": HTTP ", upgrade_response_.result_int(), " ",
                      std::string(upgrade_response_.reason()));
    }
    Finish(absl::UnavailableError(absl::StrCat("connect failed ", stage, ": ", detail, Where())));
  }

  // Ends the session exactly once: closes the socket, detaches from the client, runs on_closed.
  void Finish(absl::Status reason) {
    if (finished_) return;
    finished_ = true;
    // A read handler can run nested inside earlier ones (ReadChainExecutor), and only the
    // innermost holds the session: the frames below it still touch the session as they return.
    // This keeps it alive until the strand runs again, after the whole chain has unwound.
    asio::post(strand_, [keep = shared_from_this()] {});
    opened_ = false;
    timer_.cancel();
    resolver_.cancel();
    error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    queue_.clear();
    queued_bytes_ = 0;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      if (shared_->current.get() == this) {
        shared_->current.reset();
        shared_->open.store(false);
      }
    }
    auto on_closed = std::move(handlers_.on_closed);
    handlers_ = {};
    if (on_closed && !shared_->detached.load()) on_closed(std::move(reason));
  }

  Ex strand_;  // a strand, or the io_context's executor when one thread runs it (IoThreads::kOne)
  std::shared_ptr<const WsOptions> options_;
  const Clock& clock_;
  std::shared_ptr<ssl::context> tls_ctx_;
  std::shared_ptr<Shared> shared_;
  WsClient::Handlers handlers_;
  websocket::stream<Next> ws_;
  Timer timer_;
  Resolver resolver_;
  std::vector<tcp::endpoint> endpoints_;
  websocket::response_type upgrade_response_;
  std::shared_ptr<internal::VerifyFailure> verify_ = std::make_shared<internal::VerifyFailure>();
  HandlerMemory read_memory_;
  InlineBudget read_budget_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool opened_ = false;
  bool finished_ = false;
  bool timed_out_ = false;
  bool writing_ = false;
  bool close_requested_ = false;
  bool close_started_ = false;
  std::thread::id io_thread_;  // the thread that ran Start(): with IoThreads::kOne, the only one
  bool thread_warned_ = false;
};

class BeastWsClient final : public WsClient {
 public:
  BeastWsClient(asio::io_context& ioc, WsOptions options, const Clock& clock, IoThreads threads)
      : ioc_(ioc), options_(std::make_shared<WsOptions>(std::move(options))), clock_(clock), threads_(threads) {
    if (options_->url.tls()) {
      auto ctx = internal::MakeClientTlsContext(options_->tls);
      if (ctx.ok()) {
        tls_ctx_ = *std::move(ctx);
      } else {
        config_error_ = ctx.status();
      }
    }
    if (options_->url.scheme != "ws" && options_->url.scheme != "wss" && config_error_.ok()) {
      config_error_ = absl::InvalidArgumentError(
          absl::StrCat("WebSocket URL must be ws:// or wss://, got '", options_->url.ToString(), "'"));
    }
  }

  ~BeastWsClient() override {
    shared_->detached.store(true);
    std::shared_ptr<SessionBase> s;
    {
      // Taking it out breaks the Session -> Shared -> Session cycle even if the io_context never
      // runs the Abort below (stopped before it got to it).
      std::lock_guard<std::mutex> lock(shared_->mu);
      s = std::move(shared_->current);
      shared_->current.reset();
      shared_->open.store(false);
    }
    if (s) s->Abort(absl::CancelledError("WebSocket client destroyed"));
  }

  void Connect(Handlers handlers) override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->current || !config_error_.ok()) {
      absl::Status why = !config_error_.ok()
                             ? config_error_
                             : absl::FailedPreconditionError(
                                   "Connect() while a connection is active: wait for on_closed");
      asio::post(ioc_, [h = std::move(handlers), why, shared = shared_] {
        if (h.on_closed && !shared->detached.load()) h.on_closed(why);
      });
      return;
    }
    std::shared_ptr<SessionBase> session = threads_ == IoThreads::kOne
                                               ? MakeSession(ioc_.get_executor(), std::move(handlers))
                                               : MakeSession(asio::make_strand(ioc_), std::move(handlers));
    shared_->current = session;
  }

  void Send(std::string text) override {
    std::shared_ptr<SessionBase> s = Current();
    if (s) {
      s->Send(std::move(text));
      return;
    }
    WsLog().Log(LogLevel::kWarn, "net", "ws-send-closed",
                "Send() with no connection: frame dropped",
                {{"url", options_->url.ToString()}, {"bytes", text.size()}});
  }

  void Close() override {
    if (auto s = Current()) s->Close();
  }

  void Abort() override {
    if (auto s = Current()) s->Abort(absl::CancelledError(absl::StrCat("aborted by client (",
                                                                       options_->url.ToString(), ")")));
  }

  bool is_open() const override { return shared_->open.load(); }

 private:
  template <class Ex>
  std::shared_ptr<SessionBase> MakeSession(const Ex& ex, Handlers handlers) {
    std::shared_ptr<SessionBase> session;
    if (options_->url.tls()) {
      session = std::make_shared<Session<true, Ex>>(ex, options_, clock_, tls_ctx_, shared_, std::move(handlers));
    } else {
      session = std::make_shared<Session<false, Ex>>(ex, options_, clock_, tls_ctx_, shared_, std::move(handlers));
    }
    asio::post(ex, [session] { session->Start(); });
    return session;
  }

  std::shared_ptr<SessionBase> Current() {
    std::lock_guard<std::mutex> lock(shared_->mu);
    return shared_->current;
  }

  asio::io_context& ioc_;
  std::shared_ptr<WsOptions> options_;
  const Clock& clock_;
  const IoThreads threads_;
  std::shared_ptr<ssl::context> tls_ctx_;
  absl::Status config_error_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace

std::unique_ptr<WsClient> MakeBeastWsClient(boost::asio::io_context& ioc, WsOptions options,
                                            const Clock& clock, IoThreads threads) {
  return std::make_unique<BeastWsClient>(ioc, std::move(options), clock, threads);
}

}  // namespace bx::net

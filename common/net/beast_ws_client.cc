// The Beast adapter behind WsClient. One Session per Connect(), on its own strand (or, when one
// thread runs the io_context, on the io_context's own executor). Beast and Asio carry the TCP,
// TLS and HTTP upgrade; the frames are the project's own (ws_frame.h): the read loop reads large
// chunks into one reused flat_buffer and decodes every frame they hold in one pass, calling
// on_text inline, so steady-state reading allocates nothing and costs one read per chunk rather
// than one composed Beast operation per frame (docs/BENCHMARKS.md, net).
#include <sys/ioctl.h>

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
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/net/resolve_internal.h"
#include "common/net/tls_internal.h"
#include "common/net/ws_client.h"
#include "common/net/ws_frame.h"

namespace bx::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
// A session's executor: a strand when several threads may run the io_context; the io_context's
// own executor when exactly one does (IoThreads::kOne). A strand costs a lock per handler and an
// atomic reference count per executor copy (docs/BENCHMARKS.md, net).
using Direct = asio::io_context::executor_type;
// I/O objects bound to the concrete executor type rather than any_io_executor: a strand does not
// fit any_io_executor's small buffer, so every operation copying the executor would allocate.
template <class Ex>
struct IoTypes {
  using Socket = asio::basic_stream_socket<tcp, Ex>;
  using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                           asio::wait_traits<std::chrono::steady_clock>, Ex>;
};
using beast::error_code;

RateLimitedLog& WsLog() {
  static RateLimitedLog log(5, std::chrono::seconds(10));
  return log;
}

// One reusable block for the read loop's operations (Asio's "custom allocation" pattern). The
// read chain has at most one operation outstanding and Asio frees an operation's memory before
// invoking its handler, so one slot serves every read; anything bigger or concurrent falls back
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

// The read loop's completion handler, with recycled memory (HandlerMemory). It runs on the I/O
// object's executor (the session's strand, or the io_context's own executor).
template <class Handler>
class ReadHandler {
 public:
  using allocator_type = HandlerAllocator<Handler>;
  ReadHandler(HandlerMemory& mem, Handler h) : mem_(mem), handler_(std::move(h)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(mem_); }
  template <class... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  HandlerMemory& mem_;
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
  using Timer = typename IoTypes<Ex>::Timer;
  using Stream = std::conditional_t<kTls, beast::ssl_stream<Socket>, Socket>;
  // Bytes asked of the socket per read. The firehose's trade frames are ~130 bytes, so one read
  // carries hundreds of frames, all decoded in one pass over the buffer.
  static constexpr size_t kReadChunk = 64 * 1024;

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
        stream_(MakeStream(strand, tls_ctx_.get())),
        timer_(strand),
        decoder_(options_->max_message_bytes) {
    if (!handlers_.on_text) handlers_.on_text = [](std::string_view, int64_t) {};
  }

  void Start() override {
    io_thread_ = std::this_thread::get_id();
    if (finished_) return;  // Close()/Abort() got in first
    timer_.expires_after(options_->connect_timeout);
    timer_.async_wait([this, self = shared_from_this()](error_code ec) {
      if (ec || finished_ || opened_) return;
      // Ends the attempt now rather than when the step under way notices: a host-name lookup
      // never would (resolve_internal.h); Finish drops it, and closes the socket under the rest.
      timed_out_ = true;
      FailConnect(asio::error::timed_out, stage_);
    });
    error_code ec;
    auto addr = asio::ip::make_address(options_->url.host, ec);
    if (!ec) {
      endpoints_.emplace_back(addr, options_->url.port);
      TcpConnect();
      return;
    }
    stage_ = "looking up the host";
    // The lookup holds only a weak reference: a session that ended (or was destroyed with its
    // io_context) cancelled it, and a late result finds no one.
    std::weak_ptr<Session> weak = std::static_pointer_cast<Session>(shared_from_this());
    lookup_ = internal::AsyncHostLookup(
        strand_, options_->url.host, options_->url.port,
        [weak](error_code rec, internal::Endpoints endpoints) {
          auto self = weak.lock();
          if (!self || self->finished_) return;
          self->lookup_.reset();
          if (rec) {
            self->FailConnect(rec, "looking up the host");
            return;
          }
          self->endpoints_ = std::move(endpoints);
          self->TcpConnect();
        });
  }

  void Send(std::string text) override {
    asio::post(strand_, [this, self = shared_from_this(), text = std::move(text)]() mutable {
      if (finished_ || close_requested_ || ending_) return;  // nothing may follow a close frame
      Enqueue(WsOpcode::kText, text);
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
      if (finished_ || close_requested_ || ending_) return;
      close_requested_ = true;
      if (!opened_) {
        Finish(absl::CancelledError(
            absl::StrCat("closed by client before the connection opened", Where())));
        return;
      }
      // After the frames already queued; the server's close frame (or its TCP close) ends it.
      // The close timeout runs while frames ahead of the close frame still drain only as long
      // as they make no progress, and restarts once the close frame is out.
      close_index_ = frames_popped_ + queue_.size();
      Enqueue(WsOpcode::kClose, WsClosePayload(1000));
      ArmCloseTimer(absl::DeadlineExceededError(
          absl::StrCat("closed by client; the server did not answer the close frame", Where())));
      if (!writing_) DoWrite();
    });
  }

  void Abort(absl::Status reason) override {
    asio::post(strand_, [this, self = shared_from_this(), reason = std::move(reason)]() mutable {
      Finish(std::move(reason));
    });
  }

 private:
  static Stream MakeStream(const Ex& strand, ssl::context* ctx) {
    if constexpr (kTls) {
      return Stream(strand, *ctx);
    } else {
      (void)ctx;
      return Stream(strand);
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
    stage_ = "connecting";
    asio::async_connect(beast::get_lowest_layer(stream_), endpoints_,
                        [this, self = shared_from_this()](error_code ec, const tcp::endpoint&) {
                          if (finished_) return;
                          if (ec) {
                            FailConnect(ec, "connecting");
                            return;
                          }
                          error_code ignored;
                          beast::get_lowest_layer(stream_).set_option(tcp::no_delay(true), ignored);
                          if constexpr (kTls) {
                            TlsHandshake();
                          } else {
                            Upgrade();
                          }
                        });
  }

  void TlsHandshake() {
    if constexpr (kTls) {
      stage_ = "in the TLS handshake";
      std::string err = internal::PrepareTlsStream(stream_, options_->url.host, options_->tls.verify, verify_);
      if (!err.empty()) {
        Finish(absl::UnavailableError(err + Where()));
        return;
      }
      stream_.async_handshake(ssl::stream_base::client, [this, self = shared_from_this()](error_code ec) {
        if (finished_) return;
        if (ec) {
          FailConnect(ec, "in the TLS handshake");
          return;
        }
        Upgrade();
      });
    }
  }

  // The opening handshake (RFC 6455 section 4.1) over Beast's HTTP: no extension is offered
  // (the exchange negotiates no permessage-deflate), and the connect timer bounds it.
  void Upgrade() {
    stage_ = "in the WebSocket upgrade";
    ws_key_ = NewWsKey();
    upgrade_request_.method(http::verb::get);
    upgrade_request_.target(options_->url.target);
    upgrade_request_.version(11);
    upgrade_request_.set(http::field::host, options_->url.HostHeader());
    upgrade_request_.set(http::field::upgrade, "websocket");
    upgrade_request_.set(http::field::connection, "Upgrade");
    upgrade_request_.set(http::field::sec_websocket_key, ws_key_);
    upgrade_request_.set(http::field::sec_websocket_version, "13");
    upgrade_request_.set(http::field::user_agent, options_->user_agent);
    http::async_write(stream_, upgrade_request_, [this, self = shared_from_this()](error_code ec, size_t) {
      if (finished_) return;
      if (ec) {
        FailConnect(ec, "in the WebSocket upgrade");
        return;
      }
      upgrade_parser_.emplace();
      upgrade_parser_->body_limit(kMaxUpgradeBody);
      // Frames the server sends right behind its 101 stay in rbuf_ for the read loop.
      http::async_read(stream_, rbuf_, *upgrade_parser_, [this, self = shared_from_this()](error_code rec, size_t) {
        if (finished_) return;
        if (rec) {
          FailConnect(rec, "in the WebSocket upgrade");
          return;
        }
        std::string why = CheckUpgradeReply(upgrade_parser_->get());
        upgrade_parser_.reset();
        if (!why.empty()) {
          Finish(absl::UnavailableError(absl::StrCat("connect failed in the WebSocket upgrade: ", why, Where())));
          return;
        }
        OnOpen();
      });
    });
  }

  static constexpr size_t kMaxUpgradeBody = 16 * 1024;

  // Empty when `res` accepts our upgrade; else what is wrong with it.
  std::string CheckUpgradeReply(const http::response<http::string_body>& res) const {
    if (res.result_int() != 101) {
      std::string body = res.body().substr(0, 200);
      return absl::StrCat("HTTP ", res.result_int(), " ", std::string(res.reason()),
                          body.empty() ? "" : absl::StrCat(": ", body));
    }
    if (!absl::EqualsIgnoreCase(std::string(res[http::field::upgrade]), "websocket")) {
      return "the 101 reply has no 'Upgrade: websocket'";
    }
    if (!HasToken(std::string(res[http::field::connection]), "upgrade")) {
      return "the 101 reply has no 'Connection: Upgrade'";
    }
    if (std::string(res[http::field::sec_websocket_accept]) != WsAcceptFor(ws_key_)) {
      return "the 101 reply's Sec-WebSocket-Accept does not match our key";
    }
    if (!res[http::field::sec_websocket_extensions].empty()) {
      return absl::StrCat("the server chose an extension that was not offered: ",
                          std::string(res[http::field::sec_websocket_extensions]));
    }
    return {};
  }

  static bool HasToken(const std::string& list, std::string_view token) {
    for (absl::string_view part : absl::StrSplit(list, ',')) {
      if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(part), std::string(token))) return true;
    }
    return false;
  }

  void OnOpen() {
    timer_.cancel();
    opened_ = true;
    shared_->open.store(true);
    if (handlers_.on_open && !shared_->detached.load()) handlers_.on_open();
    if (finished_) return;
    if (!queue_.empty() && !writing_) DoWrite();
    // Room for a chunk plus the partial frame a chunk leaves behind, so the buffer does not grow
    // (allocate) while small frames stream in; a bigger frame grows it once.
    rbuf_.reserve(2 * kReadChunk);
    recv_ns_ = clock_.NowNs();
    ReadLoop(shared_from_this());
  }

  // The hot path. Decodes every complete frame in the buffer (the upgrade reply may have brought
  // some), then reads the next chunk. One reused buffer and recycled handler memory: steady-state
  // reading allocates nothing. `self` keeps the session alive while a read is pending; it is
  // handed from one read to the next instead of taking a new reference per read.
  void ReadLoop(std::shared_ptr<SessionBase> self) {
    const bool go_on = DecodeBuffered();
    if (!finished_ && handlers_.on_read_end && !shared_->detached.load(std::memory_order_relaxed)) {
      handlers_.on_read_end();
    }
    if (!go_on || finished_) return;
    size_t want = kReadChunk;
    if (need_ > rbuf_.size()) want = std::max(want, need_ - rbuf_.size());
    auto on_read = [this, self = std::move(self)](error_code ec, size_t n) mutable {
      if constexpr (std::is_same_v<Ex, Direct>) CheckOneThread();
      if (finished_) return;
      if (ec) {
        Finish(ReadError(ec));
        return;
      }
      rbuf_.commit(n);
      recv_ns_ = clock_.NowNs();  // every frame of this read arrived by now
      ReadLoop(std::move(self));
    };
    stream_.async_read_some(rbuf_.prepare(want), ReadHandler<decltype(on_read)>(read_memory_, std::move(on_read)));
  }

  // False when the session ended, or stops reading (the server's close frame arrived).
  bool DecodeBuffered() {
    while (true) {
      const auto data = rbuf_.data();
      const auto r = decoder_.Decode(static_cast<const char*>(data.data()), data.size());
      switch (r.kind) {
        case WsFrameDecoder::Kind::kNeedMore:
          rbuf_.consume(r.consumed);
          need_ = r.need;
          return true;
        case WsFrameDecoder::Kind::kError:
          // 1009 for an oversized message, 1002 for a protocol violation (RFC 6455 7.4.1).
          FailWithClose(r.error.code() == absl::StatusCode::kResourceExhausted ? 1009 : 1002,
                        absl::Status(r.error.code(), absl::StrCat(r.error.message(), Where())));
          return false;
        case WsFrameDecoder::Kind::kMessage: {
          const bool go_on = OnMessage(r.opcode, r.payload);
          rbuf_.consume(r.consumed);  // after the handler: the payload points into rbuf_
          if (!go_on || finished_) return false;
          break;
        }
      }
    }
  }

  // One message from the server; false: stop reading.
  bool OnMessage(WsOpcode op, std::string_view payload) {
    switch (op) {
      case WsOpcode::kText:
        if (!shared_->detached.load(std::memory_order_relaxed)) handlers_.on_text(payload, recv_ns_);
        return true;
      case WsOpcode::kBinary:
        if (shared_->detached.load(std::memory_order_relaxed)) return true;
        if (handlers_.on_binary) {
          handlers_.on_binary(payload);
        } else {
          WsLog().Log(LogLevel::kWarn, "net", "ws-binary", "ignored a binary WebSocket frame",
                      {{"url", options_->url.ToString()}, {"bytes", payload.size()}});
        }
        return true;
      case WsOpcode::kPing:
        if (close_requested_) return true;  // our close frame is queued: nothing may follow it
        Pong(payload);
        return true;
      case WsOpcode::kPong:
      case WsOpcode::kContinuation:
        return true;
      case WsOpcode::kClose:
        OnCloseFrame(payload);
        return false;
    }
    return true;
  }

  void OnCloseFrame(std::string_view payload) {
    WsClose close;
    if (!ParseWsClose(payload, &close)) {
      FailWithClose(1002, absl::UnavailableError(absl::StrCat(
                              "protocol error: close frame with a 1-byte payload or a status code no endpoint may "
                              "send (1005, 1006, 1015, reserved)",
                              Where())));
      return;
    }
    if (close_requested_) {  // the answer to ours
      Finish(ClientClosed());
      return;
    }
    // The server's close: answer it (echoing its code), then end once the answer is written.
    absl::Status status = absl::UnavailableError(absl::StrCat(
        "closed by server: code ", close.code,
        close.reason.empty() ? std::string() : absl::StrCat(" '", std::string(close.reason), "'"), Where()));
    SendCloseThenEnd(close.code == 1005 ? std::string() : WsClosePayload(close.code), std::move(status));
  }

  // Fails the connection because of what the server sent: a close frame with `code` tells it why
  // (unless ours is already out), then the session ends with `status`. Reading has stopped.
  void FailWithClose(uint16_t code, absl::Status status) {
    if (close_requested_ || ending_) {
      Finish(std::move(status));
      return;
    }
    SendCloseThenEnd(WsClosePayload(code), std::move(status));
  }

  // Drops unsent frames (nothing may follow a close frame; they are lost either way), queues the
  // close frame and ends with `status` once it is written, or after the close timeout.
  void SendCloseThenEnd(std::string close_payload, absl::Status status) {
    // A frame being written stays: the write in flight reads from it.
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queued_bytes_ -= queue_.back().size();
      queue_.pop_back();
    }
    pong_index_.reset();  // a queued pong went with them: nothing may replace the close frame
    Enqueue(WsOpcode::kClose, close_payload);
    ending_ = status;
    ArmCloseTimer(std::move(status));
    if (!writing_) DoWrite();
  }

  void ArmCloseTimer(absl::Status on_expiry) {
    close_expiry_ = std::move(on_expiry);
    const uint64_t mark_written = bytes_written_;
    const int64_t mark_unsent = KernelUnsent();
    timer_.expires_after(options_->close_timeout);
    timer_.async_wait([this, self = shared_from_this(), mark_written, mark_unsent](error_code ec) mutable {
      if (ec || finished_) return;
      // After Close(): what was queued before the close frame (in our queue or the kernel's) is
      // still going out, on a slow link rather than a dead one. Its tail is not cut: the
      // timeout starts over, and counts once everything is out.
      const int64_t unsent = KernelUnsent();
      if (close_index_ && (bytes_written_ != mark_written || (unsent >= 0 && unsent < mark_unsent))) {
        ArmCloseTimer(std::move(close_expiry_));
        return;
      }
      Finish(std::move(close_expiry_));
    });
  }

  // Bytes the kernel holds for this socket that the peer has not acknowledged; -1 if unknown.
  int64_t KernelUnsent() {
    int n = 0;
    if (::ioctl(beast::get_lowest_layer(stream_).native_handle(), TIOCOUTQ, &n) != 0) return -1;
    return n;
  }

  // Answers a ping. A pong still waiting in the queue (not being written) answers the newest ping
  // instead (RFC 6455 5.5.3 allows it): a server's ping flood while the socket does not drain
  // holds one pong, not one per ping.
  void Pong(std::string_view payload) {
    if (pong_index_) {
      const uint64_t at = *pong_index_ - frames_popped_;
      if (at < queue_.size() && !(writing_ && at == 0)) {
        std::string frame;
        AppendWsClientFrame(&frame, WsOpcode::kPong, payload, NewWsMask());
        queued_bytes_ = queued_bytes_ - queue_[at].size() + frame.size();
        queue_[at] = std::move(frame);
        return;
      }
    }
    pong_index_ = frames_popped_ + queue_.size();
    Enqueue(WsOpcode::kPong, payload);
    if (!writing_) DoWrite();
  }

  void Enqueue(WsOpcode op, std::string_view payload) {
    std::string frame;
    AppendWsClientFrame(&frame, op, payload, NewWsMask());
    queued_bytes_ += frame.size();
    queue_.push_back(std::move(frame));
  }

  void DoWrite() {
    if (queue_.empty()) return;
    writing_ = true;
    asio::async_write(stream_, asio::buffer(queue_.front()), [this, self = shared_from_this()](error_code ec, size_t) {
      if (finished_) return;
      if (ec) {
        Finish(ending_ ? *ending_ : WriteError(ec));
        return;
      }
      queued_bytes_ -= queue_.front().size();
      bytes_written_ += queue_.front().size();
      queue_.pop_front();
      ++frames_popped_;
      // Our close frame is out: the server has close_timeout from now to answer it.
      if (close_index_ && frames_popped_ == *close_index_ + 1 && !ending_) ArmCloseTimer(std::move(close_expiry_));
      if (!queue_.empty()) {
        DoWrite();
        return;
      }
      writing_ = false;
      if (ending_) Finish(*ending_);  // our closing frame (an answer, or why we fail) is out
    });
  }

  absl::Status ClientClosed() const {
    return absl::CancelledError(absl::StrCat("closed by client", Where()));
  }

  absl::Status ReadError(const error_code& ec) const {
    if (close_requested_) return ClientClosed();
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
    return absl::UnavailableError(
        absl::StrCat(internal::DescribeNetError(ec, verify_.get()), Where()));
  }

  absl::Status WriteError(const error_code& ec) const { return ReadError(ec); }

  void FailConnect(const error_code& ec, const char* stage) {
    if (timed_out_) {
      Finish(absl::DeadlineExceededError(absl::StrCat(
          "connect timeout after ", options_->connect_timeout.count(),
          " ms (host lookup + TCP + TLS + upgrade), still ", stage, Where())));
      return;
    }
    Finish(absl::UnavailableError(absl::StrCat("connect failed ", stage, ": ",
                                               internal::DescribeNetError(ec, verify_.get()), Where())));
  }

  // Ends the session exactly once: closes the socket, detaches from the client, runs on_closed.
  // Every caller holds a reference to the session (a handler's `self`), so it outlives this call.
  void Finish(absl::Status reason) {
    if (finished_) return;
    finished_ = true;
    opened_ = false;
    timer_.cancel();
    lookup_.reset();  // a lookup under way is left to finish on its own thread, unheard
    error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);
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
  Stream stream_;
  Timer timer_;
  std::unique_ptr<internal::HostLookup> lookup_;  // while the host name is being looked up
  const char* stage_ = "connecting";  // the connect step under way, for a connect timeout
  std::vector<tcp::endpoint> endpoints_;
  std::string ws_key_;
  http::request<http::empty_body> upgrade_request_;
  std::optional<http::response_parser<http::string_body>> upgrade_parser_;
  std::shared_ptr<internal::VerifyFailure> verify_ = std::make_shared<internal::VerifyFailure>();
  HandlerMemory read_memory_;
  beast::flat_buffer rbuf_;  // the upgrade reply, then frames
  WsFrameDecoder decoder_;
  size_t need_ = 0;          // bytes the frame under way needs in rbuf_ (0: unknown yet)
  int64_t recv_ns_ = 0;      // when the bytes being decoded were read
  std::deque<std::string> queue_;  // encoded (masked) frames, written in order, one at a time
  size_t queued_bytes_ = 0;
  uint64_t frames_popped_ = 0;           // frames written so far: queue_[i] is frame frames_popped_ + i
  std::optional<uint64_t> pong_index_;  // the newest pong queued (by that count)
  std::optional<uint64_t> close_index_;  // our close frame (Close()), by that count
  uint64_t bytes_written_ = 0;           // progress of the writes, for the close timer
  absl::Status close_expiry_;            // how the session ends if the close timer expires
  std::optional<absl::Status> ending_;  // our closing frame is queued: end with this once it is out
  bool opened_ = false;
  bool finished_ = false;
  bool timed_out_ = false;
  bool writing_ = false;
  bool close_requested_ = false;
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

// WebSocket client for the exchange feeds: ws and wss (SNI, chain + host-name verification),
// text frames, no library-level pings (Bitunix uses JSON pings and kills sockets that send
// protocol pings first), no permessage-deflate (the exchange does not negotiate it).
//
// Interface here; Beast adapter in beast_ws_client.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/net/tls.h"
#include "common/url.h"

namespace boost::asio {
class io_context;
}

namespace bx::net {

struct WsOptions {
  Url url;
  TlsOptions tls;
  std::chrono::milliseconds connect_timeout{5000};  ///< host lookup + TCP + TLS + upgrade
  /// After our close frame (Close(), or failing a connection with 1002/1009): how long to wait for
  /// the server's answer, or for the frame to leave a stalled socket, before dropping TCP. After
  /// Close() it counts only while nothing moves: frames queued before the close frame (in our
  /// queue or the kernel's) still draining on a slow link start it over, so their tail is not cut.
  std::chrono::milliseconds close_timeout{1000};
  size_t max_message_bytes = 16 * 1024 * 1024;       ///< depth_books frames are ~460 KB
  /// Unsent frames beyond this many bytes end the connection (RESOURCE_EXHAUSTED): a stalled
  /// socket must not grow memory without bound.
  size_t max_send_queue_bytes = 8 * 1024 * 1024;
  std::string user_agent = "bitunix-gateway/0.1";  ///< sent in the upgrade request
};

class WsClient {
 public:
  struct Handlers {
    /// The upgrade completed.
    std::function<void()> on_open;
    /// One text frame. `data` is valid only during the call; `recv_ns` is the wall time the frame
    /// was read. Runs on the io thread: parse inline, never block.
    std::function<void(std::string_view data, int64_t recv_ns)> on_text;
    /// Optional. One binary frame (the exchange sends none), `data` valid only during the call.
    /// Without it binary frames are dropped with a rate-limited warning.
    std::function<void(std::string_view data)> on_binary;
    /// Optional. Runs after the frames of one socket read have gone to on_text, before the next
    /// read, so a consumer can batch its work per read. Not after on_closed (which also ends a
    /// read that hit an error): flush there too.
    std::function<void()> on_read_end;
    /// The connection ended (or never opened). Called exactly once per Connect(), after which the
    /// client may be connected again.
    std::function<void(absl::Status reason)> on_closed;
  };

  virtual ~WsClient() = default;
  /// Starts connecting. Handlers run on the io thread.
  virtual void Connect(Handlers handlers) = 0;
  /// Thread-safe. Queues a text frame; frames are written in order, one write in flight.
  virtual void Send(std::string text) = 0;
  /// Thread-safe. Closes (close frame, then TCP); on_closed follows.
  virtual void Close() = 0;
  /// Thread-safe. Drops the TCP connection without a close frame; on_closed follows.
  virtual void Abort() = 0;
  virtual bool is_open() const = 0;
};

/// How many threads run the io_context a client is made on.
enum class IoThreads {
  /// Any number: each connection has its own strand, so its handlers never run concurrently.
  kMany,
  /// Exactly one thread runs the io_context (Send, Close and Abort may still be called from any
  /// thread). Connections then skip the strand: its lock per handler and reference counts per
  /// executor copy cost ~25 % of the read loop's throughput (docs/BENCHMARKS.md, net). A handler
  /// seen on a second thread is logged as an error (kMany is then the right choice).
  kOne,
};

/// The Beast implementation. All I/O runs on `ioc`, which the caller runs (see IoThreads).
/// `clock` (which must outlive the client) stamps recv_ns. Destroying the client aborts an open
/// connection without running on_closed. No handler runs after the destructor returns if it is
/// called after on_closed, or on the io thread of a single-threaded `ioc`; from another thread a
/// handler already running may still finish. Destroy the client before `ioc`. A bad
/// `tls.ca_file` or a non-ws(s) URL makes every Connect end in on_closed(INVALID_ARGUMENT).
std::unique_ptr<WsClient> MakeBeastWsClient(boost::asio::io_context& ioc, WsOptions options,
                                            const Clock& clock = SystemClock::Instance(),
                                            IoThreads threads = IoThreads::kMany);

}  // namespace bx::net

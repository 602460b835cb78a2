#include "tests/net/test_ws_server.h"

#include <condition_variable>
#include <optional>
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange unincluded
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace bx::net::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct TestWsServer::Impl {
  // Declared before ioc: coroutine frames still pending when the io_context is destroyed touch
  // these from their destructors, so they must outlive it.
  std::optional<ssl::context> tls;
  bool never_upgrade = false;
  TestWsServer* owner = nullptr;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<ConnRecord> records;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::thread thread;

  template <class F>
  void Update(size_t i, F&& f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      f(records[i]);
    }
    cv.notify_all();
  }

  template <class Stream>
  asio::awaitable<void> Run(websocket::stream<Stream>& ws, size_t idx) {
    ws.control_callback([this, idx](websocket::frame_type kind, beast::string_view) {
      Update(idx, [&](ConnRecord& r) {
        if (kind == websocket::frame_type::ping) ++r.pings_from_client;
        if (kind == websocket::frame_type::pong) ++r.pongs_from_client;
      });
    });
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws.set_option(t);
    ws.read_message_max(64 * 1024 * 1024);
    error_code ec;
    websocket::request_type upgrade;
    beast::flat_buffer hbuf;
    co_await beast::http::async_read(ws.next_layer(), hbuf, upgrade,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    Update(idx, [&](ConnRecord& r) { r.user_agent = std::string(upgrade[beast::http::field::user_agent]); });
    co_await ws.async_accept(upgrade, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    ws.text(true);
    beast::flat_buffer buf;
    for (;;) {
      co_await ws.async_read(buf, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        const int code = ec == websocket::error::closed ? static_cast<int>(ws.reason().code) : -1;
        Update(idx, [&](ConnRecord& r) {
          r.close_code_from_client = code;
          r.end_error = ec.message();
        });
        co_return;
      }
      std::string msg = beast::buffers_to_string(buf.data());
      buf.consume(buf.size());
      Update(idx, [&](ConnRecord& r) { r.messages.push_back(msg); });
      std::istringstream in(msg);
      std::string cmd;
      in >> cmd;
      if (cmd == "burst") {
        int n = 0;
        in >> n;
        for (int i = 0; i < n && !ec; ++i) {
          const std::string frame = std::to_string(i);
          co_await ws.async_write(asio::buffer(frame), asio::redirect_error(asio::use_awaitable, ec));
        }
      } else if (cmd == "burstbig") {
        // N small frames and then one of M bytes, hand-encoded into a single TCP write so the client
        // finds them all in one read buffer.
        int n = 0;
        size_t m = 0;
        in >> n >> m;
        std::string bytes;
        auto append = [&bytes](const std::string& payload) {
          bytes.push_back(static_cast<char>(0x81));  // FIN + text, unmasked (server to client)
          if (payload.size() < 126) {
            bytes.push_back(static_cast<char>(payload.size()));
          } else {
            bytes.push_back(static_cast<char>(126));
            bytes.push_back(static_cast<char>((payload.size() >> 8) & 0xff));
            bytes.push_back(static_cast<char>(payload.size() & 0xff));
          }
          bytes += payload;
        };
        for (int i = 0; i < n; ++i) append(std::to_string(i));
        append(std::string(m, 'x'));
        co_await asio::async_write(ws.next_layer(), asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
      } else if (cmd == "big") {
        size_t n = 0;
        in >> n;
        std::string frame(n, 'a');
        for (size_t i = 0; i < n; ++i) frame[i] = static_cast<char>('a' + i % 26);
        co_await ws.async_write(asio::buffer(frame), asio::redirect_error(asio::use_awaitable, ec));
      } else if (cmd == "close") {
        int code = 1000;
        std::string reason;
        in >> code >> reason;
        websocket::close_reason cr;
        cr.code = static_cast<uint16_t>(code);
        cr.reason = reason;
        co_await ws.async_close(cr, asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      } else if (cmd == "drop") {
        beast::get_lowest_layer(ws).close(ec);
        co_return;
      } else if (cmd == "ping") {
        co_await ws.async_ping({}, asio::redirect_error(asio::use_awaitable, ec));
      } else {
        co_await ws.async_write(asio::buffer(msg), asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec) co_return;
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket, size_t idx) {
    struct EndMark {
      Impl* impl;
      size_t idx;
      ~EndMark() { impl->Update(idx, [](ConnRecord& r) { r.ended = true; }); }
    } end_mark{this, idx};
    if (never_upgrade) {
      // Hold the TCP connection open and say nothing until the client gives up.
      char c;
      error_code ec;
      co_await socket.async_read_some(asio::buffer(&c, 1), asio::redirect_error(asio::use_awaitable, ec));
      while (!ec) {
        co_await socket.async_read_some(asio::buffer(&c, 1),
                                        asio::redirect_error(asio::use_awaitable, ec));
      }
      co_return;
    }
    if (tls) {
      websocket::stream<beast::ssl_stream<tcp::socket>> ws(std::move(socket), *tls);
      error_code ec;
      co_await ws.next_layer().async_handshake(ssl::stream_base::server,
                                               asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      co_await Run(ws, idx);
    } else {
      websocket::stream<tcp::socket> ws(std::move(socket));
      co_await Run(ws, idx);
    }
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      error_code ec;
      tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      size_t idx;
      {
        std::lock_guard<std::mutex> lock(mu);
        idx = records.size();
        records.emplace_back();
      }
      ++owner->accepted_;
      cv.notify_all();
      asio::co_spawn(ioc, Serve(std::move(s), idx), asio::detached);
    }
  }
};

TestWsServer::TestWsServer(const TestCert* cert, bool never_upgrade) : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->never_upgrade = never_upgrade;
  if (cert != nullptr) {
    impl_->tls.emplace(ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(cert->cert_file());
    impl_->tls->use_private_key_file(cert->key_file(), ssl::context::pem);
  }
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->ioc, impl_->Accept(), asio::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

TestWsServer::~TestWsServer() {
  impl_->ioc.stop();
  impl_->thread.join();
  impl_.reset();
}

TestWsServer::ConnRecord TestWsServer::conn(size_t i) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return i < impl_->records.size() ? impl_->records[i] : ConnRecord{};
}

bool TestWsServer::WaitFor(const std::function<bool(const std::vector<ConnRecord>&)>& pred,
                           std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return pred(impl_->records); });
}

}  // namespace bx::net::testing

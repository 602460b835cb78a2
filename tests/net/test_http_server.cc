#include "tests/net/test_http_server.h"

#include <openssl/ssl.h>

#include <cctype>
#include <optional>
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange unincluded

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace bx::net::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::string SeenRequest::Header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers) {
    if (Lower(k) == lower_name) return v;
  }
  return {};
}

int SeenRequest::CountHeader(const std::string& lower_name) const {
  int n = 0;
  for (const auto& [k, v] : headers) n += Lower(k) == lower_name ? 1 : 0;
  return n;
}

struct TestHttpServer::Impl {
  // Declared before ioc: coroutine frames still pending when the io_context is destroyed touch
  // these from their destructors, so they must outlive it.
  std::optional<ssl::context> tls;
  Handler handler;
  TestHttpServer* owner = nullptr;
  mutable std::mutex mu;
  std::vector<SeenRequest> seen;
  int held = 0;
  bool gate_open = false;
  asio::io_context ioc;
  std::vector<std::shared_ptr<asio::steady_timer>> gate_waiters;
  tcp::acceptor acceptor{ioc};
  std::thread thread;

  // Counts open connections for the lifetime of one served connection.
  struct OpenTracker {
    explicit OpenTracker(TestHttpServer* o) : owner(o) {
      const int now = ++owner->open_;
      int prev = owner->max_open_.load();
      while (prev < now && !owner->max_open_.compare_exchange_weak(prev, now)) {
      }
    }
    ~OpenTracker() { --owner->open_; }
    TestHttpServer* owner;
  };

  asio::awaitable<void> Hold(int n) {
    ++held;
    if (gate_open) co_return;
    if (held >= n) {
      gate_open = true;
      for (auto& t : gate_waiters) t->cancel();
      gate_waiters.clear();
      co_return;
    }
    auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::seconds(5));
    gate_waiters.push_back(timer);
    error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  template <class Stream>
  asio::awaitable<void> Exchange(Stream& stream, int id, std::string sni) {
    beast::flat_buffer buf;
    for (int index = 0;; ++index) {
      http::request<http::string_body> req;
      error_code ec;
      co_await http::async_read(stream, buf, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      SeenRequest s;
      s.conn_id = id;
      s.index_on_conn = index;
      s.method = std::string(req.method_string());
      s.target = std::string(req.target());
      for (const auto& f : req) {
        s.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
      s.body = req.body();
      s.sni = sni;
      {
        std::lock_guard<std::mutex> lock(mu);
        seen.push_back(s);
      }
      Reply reply = handler(s);
      auto& sock = beast::get_lowest_layer(stream);
      switch (reply.kind) {
        case Reply::Kind::kHang:
          continue;
        case Reply::Kind::kReset:
          sock.set_option(asio::socket_base::linger(true, 0), ec);
          sock.close(ec);
          co_return;
        case Reply::Kind::kCloseNoReply:
          sock.shutdown(tcp::socket::shutdown_both, ec);
          sock.close(ec);
          co_return;
        case Reply::Kind::kRespond:
          break;
      }
      if (reply.hold_until_in_flight > 0) co_await Hold(reply.hold_until_in_flight);
      if (reply.interim_status != 0) {
        http::response<http::empty_body> interim{static_cast<http::status>(reply.interim_status), 11};
        interim.set(http::field::link, "</static/app.css>; rel=preload");
        http::response_serializer<http::empty_body> sr{interim};
        co_await http::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      for (const auto& [k, v] : reply.headers) res.insert(k, v);
      res.body() = reply.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      if (reply.close_after || !req.keep_alive()) {
        sock.shutdown(tcp::socket::shutdown_both, ec);
        sock.close(ec);
        co_return;
      }
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket, int id) {
    OpenTracker tracker(owner);
    if (tls) {
      ssl::stream<tcp::socket> stream(std::move(socket), *tls);
      error_code ec;
      co_await stream.async_handshake(ssl::stream_base::server,
                                      asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
      co_await Exchange(stream, id, sni != nullptr ? sni : "");
    } else {
      co_await Exchange(socket, id, "");
    }
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      error_code ec;
      tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      const int id = ++owner->accepted_;
      asio::co_spawn(ioc, Serve(std::move(s), id), asio::detached);
    }
  }
};

TestHttpServer::TestHttpServer(Handler handler, const TestCert* cert) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->owner = this;
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

TestHttpServer::~TestHttpServer() {
  impl_->ioc.stop();
  impl_->thread.join();
  impl_.reset();
}

std::vector<SeenRequest> TestHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->seen;
}

}  // namespace bx::net::testing

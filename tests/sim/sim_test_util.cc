#include "tests/sim/sim_test_util.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/clock.h"
#include "common/signing.h"
#include "common/url.h"

namespace bx::sim::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

SimConfig FastConfig() {
  SimConfig c;
  c.push_interval = milliseconds(50);
  c.kline_push_interval = milliseconds(200);
  c.trade_rate = 20;
  c.book_depth = 2000;
  return c;
}

std::unique_ptr<Simulator> StartSim(SimConfig config) {
  auto sim = Simulator::Start(std::move(config));
  EXPECT_TRUE(sim.ok()) << sim.status();
  if (!sim.ok()) return nullptr;
  return std::move(*sim);
}

namespace {

// Runs `ioc` until `done` or the deadline; true when done.
bool RunUntil(net::io_context& ioc, const bool& done, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ioc.restart();
  while (!done) {
    if (ioc.run_one_until(deadline) == 0) break;
  }
  return done;
}

net::ssl::context& ClientTls() {
  static net::ssl::context ctx = [] {
    net::ssl::context c(net::ssl::context::tls_client);
    c.set_verify_mode(net::ssl::verify_none);
    return c;
  }();
  return ctx;
}

template <class Stream>
HttpResult DoHttp(net::io_context& ioc, Stream& stream, const http::request<http::string_body>& req,
                  milliseconds timeout) {
  HttpResult r;
  bool done = false;
  beast::error_code ec;
  http::async_write(stream, req, [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, timeout) || ec) {
    r.error = done ? ec.message() : "timeout writing";
    return r;
  }
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  done = false;
  http::async_read(stream, buf, res, [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, timeout) || ec) {
    r.error = done ? ec.message() : "timeout reading";
    return r;
  }
  r.ok = true;
  r.status = static_cast<int>(res.result_int());
  r.body = res.body();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  return r;
}

}  // namespace

HttpTestClient::HttpTestClient(std::string base_url, milliseconds timeout) : timeout_(timeout) {
  auto u = ParseUrl(base_url);
  EXPECT_TRUE(u.ok()) << base_url;
  if (u.ok()) {
    scheme_ = u->scheme;
    host_ = u->host;
    port_ = u->port;
  }
}

HttpResult HttpTestClient::Request(const std::string& method, const std::string& target, const std::string& body,
                                   const std::map<std::string, std::string>& headers) {
  net::io_context ioc;
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, host_ + ":" + std::to_string(port_));
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST") {
    req.body() = body;
    if (headers.find("Content-Type") == headers.end()) req.set(http::field::content_type, "application/json");
  }
  req.prepare_payload();
  tcp::endpoint ep(net::ip::make_address(host_), port_);
  beast::tcp_stream tcp_stream(ioc);
  bool done = false;
  beast::error_code ec;
  tcp_stream.async_connect(ep, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, timeout_) || ec) {
    HttpResult r;
    r.error = "connect: " + (done ? ec.message() : std::string("timeout"));
    return r;
  }
  if (scheme_ == "https") {
    beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp_stream), ClientTls());
    done = false;
    tls.async_handshake(net::ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!RunUntil(ioc, done, timeout_) || ec) {
      HttpResult r;
      r.error = "tls handshake: " + (done ? ec.message() : std::string("timeout"));
      return r;
    }
    return DoHttp(ioc, tls, req, timeout_);
  }
  return DoHttp(ioc, tcp_stream, req, timeout_);
}

SignedClient::SignedClient(std::string base_url, std::string api_key, std::string secret)
    : http_(std::move(base_url)), key_(std::move(api_key)), secret_(std::move(secret)) {}

std::map<std::string, std::string> SignedClient::Headers(const std::string& sign_query, const std::string& body) const {
  const std::string nonce = RandomNonce();
  const std::string ts = std::to_string(SystemClock::Instance().NowMs() + ts_offset_ms_);
  return {{"api-key", key_},
          {"nonce", nonce},
          {"timestamp", ts},
          {"sign", RestSign(nonce, ts, key_, sign_query, body, secret_)},
          {"Content-Type", "application/json"},
          {"language", "en-US"}};
}

HttpResult SignedClient::Get(const std::string& path, std::vector<std::pair<std::string, std::string>> params) {
  const auto canonical = CanonicalParams(std::move(params));
  const std::string qs = UrlQueryString(canonical);
  return http_.Get(qs.empty() ? path : path + "?" + qs, Headers(SignQueryString(canonical), ""));
}

HttpResult SignedClient::Post(const std::string& path, const std::string& body) {
  return http_.Post(path, body, Headers("", body));
}

struct WsTestClient::Impl {
  net::io_context ioc;
  std::unique_ptr<websocket::stream<beast::tcp_stream>> plain;
  std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> tls;
  beast::flat_buffer buffer;
  bool read_pending = false;
  bool read_done = false;
  beast::error_code read_ec;

  template <class F>
  void With(F&& f) {
    if (plain) {
      f(*plain);
    } else if (tls) {
      f(*tls);
    }
  }
};

WsTestClient::WsTestClient() : impl_(std::make_unique<Impl>()) {}
WsTestClient::~WsTestClient() = default;

bool WsTestClient::Connect(const std::string& url, milliseconds timeout) {
  auto u = ParseUrl(url);
  if (!u.ok()) {
    error_ = std::string(u.status().message());
    return false;
  }
  Impl& im = *impl_;
  tcp::endpoint ep(net::ip::make_address(u->host), u->port);
  beast::tcp_stream stream(im.ioc);
  bool done = false;
  beast::error_code ec;
  stream.async_connect(ep, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  if (!RunUntil(im.ioc, done, timeout) || ec) {
    error_ = "connect: " + (done ? ec.message() : std::string("timeout"));
    return false;
  }
  websocket::response_type res;
  auto handshake = [&](auto& ws) {
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    websocket::stream_base::timeout t{};
    t.handshake_timeout = timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws.set_option(t);
    done = false;
    ws.async_handshake(res, u->HostHeader(), u->target, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
  };
  if (u->tls()) {
    auto tls_stream = beast::ssl_stream<beast::tcp_stream>(std::move(stream), ClientTls());
    done = false;
    tls_stream.async_handshake(net::ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!RunUntil(im.ioc, done, timeout) || ec) {
      error_ = "tls: " + (done ? ec.message() : std::string("timeout"));
      return false;
    }
    im.tls = std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(std::move(tls_stream));
    handshake(*im.tls);
  } else {
    im.plain = std::make_unique<websocket::stream<beast::tcp_stream>>(std::move(stream));
    handshake(*im.plain);
  }
  if (!RunUntil(im.ioc, done, timeout) || ec) {
    upgrade_status_ = static_cast<int>(res.result_int());
    error_ = "upgrade: " + (done ? ec.message() : std::string("timeout"));
    im.plain.reset();
    im.tls.reset();
    return false;
  }
  closed_ = false;
  return true;
}

bool WsTestClient::Send(const std::string& text) {
  Impl& im = *impl_;
  bool done = false;
  beast::error_code ec;
  im.With([&](auto& ws) {
    ws.text(true);
    ws.async_write(net::buffer(text), [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
  });
  if (!RunUntil(im.ioc, done, milliseconds(3000)) || ec) {
    error_ = done ? ec.message() : "write timeout";
    return false;
  }
  return true;
}

bool WsTestClient::SendProtocolPing() {
  Impl& im = *impl_;
  bool done = false;
  beast::error_code ec;
  im.With([&](auto& ws) {
    ws.async_ping({}, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
  });
  return RunUntil(im.ioc, done, milliseconds(3000)) && !ec;
}

std::optional<std::string> WsTestClient::Read(milliseconds timeout) {
  Impl& im = *impl_;
  if (closed_ || (!im.plain && !im.tls)) return std::nullopt;
  if (!im.read_pending) {
    im.read_pending = true;
    im.read_done = false;
    im.buffer.clear();
    im.With([&](auto& ws) {
      ws.async_read(im.buffer, [&im](beast::error_code e, size_t) {
        im.read_ec = e;
        im.read_done = true;
      });
    });
  }
  if (!RunUntil(im.ioc, im.read_done, timeout)) return std::nullopt;
  im.read_pending = false;
  if (im.read_ec) {
    closed_ = true;
    closed_with_frame_ = im.read_ec == websocket::error::closed;
    error_ = im.read_ec.message();
    return std::nullopt;
  }
  im.With([&](auto& ws) { last_binary_ = ws.got_binary(); });
  return beast::buffers_to_string(im.buffer.data());
}

std::optional<Json> WsTestClient::ReadUntil(const std::function<bool(const Json&)>& pred, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto text = Read(left);
    if (!text) return std::nullopt;
    Json j = Json::parse(*text, nullptr, false);
    if (!j.is_discarded() && pred(j)) return j;
  }
}

void WsTestClient::Close() {
  Impl& im = *impl_;
  im.With([&](auto& ws) {
    beast::error_code ec;
    beast::get_lowest_layer(ws).socket().close(ec);
  });
  closed_ = true;
}

std::string SubscribeMsg(const std::vector<std::pair<std::string, std::string>>& ch_symbol, const std::string& op) {
  OrderedJson j;
  j["op"] = op;
  j["args"] = OrderedJson::array();
  for (const auto& [ch, sym] : ch_symbol) {
    OrderedJson a;
    if (!sym.empty()) a["symbol"] = sym;
    a["ch"] = ch;
    j["args"].push_back(a);
  }
  return j.dump();
}

bool WaitFor(const std::function<bool()>& pred, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

Json Stats(const Simulator& sim) {
  HttpTestClient c(sim.control_url());
  auto r = c.Get("/control/stats");
  EXPECT_EQ(r.status, 200) << r.error;
  return r.json();
}

Json Control(const Simulator& sim, const std::string& name, const Json& body) {
  HttpTestClient c(sim.control_url());
  auto r = c.Post("/control/" + name, body.dump());
  Json j = r.json();
  if (r.status != 200) j["http_status"] = r.status;
  return j;
}

SelfSignedCert::~SelfSignedCert() {
  std::error_code ec;
  if (!dir.empty()) std::filesystem::remove_all(dir, ec);
}

SelfSignedCert::SelfSignedCert() {
  char dir_template[] = "/tmp/bitunix-sim-tls-XXXXXX";
  const char* made = mkdtemp(dir_template);
  EXPECT_NE(made, nullptr);
  if (made == nullptr) return;
  dir = made;
  const std::string cert_path = dir + "/cert.pem";
  const std::string key_path = dir + "/key.pem";
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  if (X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "IP:127.0.0.1")) {
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, pkey, EVP_sha256());
  FILE* f = std::fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(pkey);
  cert = cert_path;
  key = key_path;
}

}  // namespace bx::sim::testing

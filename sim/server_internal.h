// Beast plumbing of the simulator (private to sim/): sessions for the exchange port (REST + WS
// upgrade), WebSocket sessions over plain or TLS streams, and control-port sessions.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <string>

#include "sim/context.h"
#include "sim/control_api.h"

namespace bx::sim {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

/// An accepted connection on the exchange port: HTTP/1.1 REST, upgraded to WS at /public/ and
/// /private/. `ssl` null = plain.
void StartExchangeSession(SimContext& ctx, tcp::socket socket, net::ssl::context* ssl);
/// An accepted connection on the control port.
void StartControlSession(SimContext& ctx, ControlApi& api, tcp::socket socket);

/// Takes over an upgraded stream (the 101 reply already written); `leftover` holds bytes read
/// past the upgrade request.
template <class Stream>
/// `drop_epoch`: ctx.hub.DropEpoch(is_private) when the 101 was sent (a drop since then closes it).
void StartWsSession(SimContext& ctx, Stream&& stream, std::string leftover, bool is_private, uint64_t drop_epoch);

extern template void StartWsSession<PlainStream>(SimContext&, PlainStream&&, std::string, bool, uint64_t);
extern template void StartWsSession<TlsStream>(SimContext&, TlsStream&&, std::string, bool, uint64_t);

}  // namespace bx::sim

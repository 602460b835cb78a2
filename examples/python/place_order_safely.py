#!/usr/bin/env python3
"""Places one order through bitunix-orders so that it is never placed twice, then cancels it.

    BITUNIX_GATEWAY_TOKEN=... python3 examples/python/place_order_safely.py \\
        --orders 127.0.0.1:50052 --symbol BTCUSDT --side buy --qty 0.01 --price 20000
    python3 examples/python/place_order_safely.py --token-file ~/.config/bitunix/token ...

The pattern (see PlaceOrder in proto/bitunix/orders/v1/orders.proto and docs/ORDERS.md):
  1. Choose the client id ONCE, before the first attempt. It is the order's idempotency key: the
     gateway and the exchange both refuse to place a second order under it.
  2. Call PlaceOrder with a deadline. If the answer is lost (UNAVAILABLE, DEADLINE_EXCEEDED) or the
     gateway itself could not tell (PLACE_RESULT_UNKNOWN), the order may or may not exist. Retry
     with the SAME client id: an order that exists comes back as PLACE_RESULT_DUPLICATE, one that
     does not is placed now. A new client id here could place the order twice.
  3. ALREADY_EXISTS means the client id belongs to a different order: stop, never touch it.
  4. Refusals carry a bitunix.common.v1.ExchangeError (exchange code, gateway reason) in the rich
     status details.
  5. Cancel by client id; read the order back until its status is final.

Exit status: 0 placed and cancelled (or dry run), 2 refused (nothing placed), 3 client id taken by
another order, 4 outcome still unknown after --give-up-after (look the client id up before
placing anything else), 1 anything else.
"""
import argparse
import os
import random
import secrets
import sys
import time

import grpc

try:
    from bitunix.common.v1 import common_pb2
    from bitunix.orders.v1 import orders_pb2 as pb
    from bitunix.orders.v1 import orders_pb2_grpc as pb_grpc
    from google.rpc import status_pb2
except ImportError as e:
    sys.exit(f"place_order_safely.py: the Python gRPC stubs are not importable ({e}).\n"
             "Generate them from the repository's proto/ directory and put them on PYTHONPATH:\n"
             "  python3 -m grpc_tools.protoc -I proto --python_out=gen --grpc_python_out=gen \\\n"
             "      bitunix/common/v1/common.proto bitunix/marketdata/v1/marketdata.proto \\\n"
             "      bitunix/orders/v1/orders.proto google/rpc/status.proto\n"
             "  PYTHONPATH=gen python3 examples/python/place_order_safely.py ...\n"
             "(see examples/README.md)")

Code = grpc.StatusCode
# The call may have reached the exchange, or not: only the same client id can find out safely.
# (RESOURCE_EXHAUSTED: rate limited, nothing executed; retrying it with the same id is safe too.)
RETRY = {Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.RESOURCE_EXHAUSTED}
FINAL = {pb.ORDER_STATUS_FILLED, pb.ORDER_STATUS_CANCELED, pb.ORDER_STATUS_PART_FILLED_CANCELED,
         pb.ORDER_STATUS_EXPIRED, pb.ORDER_STATUS_SYSTEM_CANCELED}


def exchange_error(err):
    """The ExchangeError of a failed call: from the rich status details (google.rpc.Status in the
    grpc-status-details-bin trailer), else from the plain x-bitunix-* trailers; None when the
    gateway sent neither (the call failed before reaching it, e.g. on the client's deadline)."""
    trailers = dict(err.trailing_metadata() or ())
    raw = trailers.get("grpc-status-details-bin")
    if raw:
        for detail in status_pb2.Status.FromString(raw).details:
            e = common_pb2.ExchangeError()
            if detail.Unpack(e):
                return e
    if "x-gateway-reason" not in trailers:
        return None
    return common_pb2.ExchangeError(code=int(trailers.get("x-bitunix-code", 0) or 0),
                                    message=trailers.get("x-bitunix-msg", ""),
                                    reason=trailers.get("x-gateway-reason", ""))


def describe(err):
    e = exchange_error(err)
    if e is None:
        return f"{err.code().name}: {err.details()}"
    return (f"{err.code().name}: exchange code {e.code} reason {e.reason or '-'}"
            f"{' endpoint ' + e.endpoint if e.endpoint else ''}: {e.message or err.details()}")


def read_token(path):
    if path:
        with open(os.path.expanduser(path)) as f:
            token = f.read().strip()
    else:
        token = os.environ.get("BITUNIX_GATEWAY_TOKEN", "").strip()
    if not token:
        sys.exit("place_order_safely.py: no bearer token: pass --token-file FILE or set BITUNIX_GATEWAY_TOKEN")
    return token  # never printed


class Client:
    def __init__(self, args, token):
        self.args = args
        self.channel = grpc.insecure_channel(args.orders)
        self.stub = pb_grpc.OrderServiceStub(self.channel)
        self.auth = (("authorization", f"Bearer {token}"),)

    def get_order(self, client_id):
        """The order under client_id, or None when the exchange does not have it."""
        req = pb.GetOrderRequest(order=pb.OrderRef(client_id=client_id))
        try:
            return self.stub.GetOrder(req, metadata=self.auth, timeout=self.args.deadline).order
        except grpc.RpcError as e:
            if e.code() == Code.NOT_FOUND:
                return None
            raise

    def place(self, req):
        """Places req until its outcome is known. Returns (order id, order) or exits."""
        give_up = time.monotonic() + self.args.give_up_after
        backoff, attempt, ambiguous = 0.5, 0, False
        while True:
            attempt += 1
            try:
                r = self.stub.PlaceOrder(req, metadata=self.auth, timeout=self.args.deadline)
                result = pb.PlaceResult.Name(r.result)
                if r.result in (pb.PLACE_RESULT_ACCEPTED, pb.PLACE_RESULT_DUPLICATE):
                    # DUPLICATE: an earlier attempt of ours did reach the exchange; this is that order.
                    print(f"attempt {attempt}: {result} order_id={r.order_id} client_id={r.client_id} "
                          f"status={pb.OrderStatus.Name(r.order.status)}")
                    return r.order_id, r.order
                if r.result == pb.PLACE_RESULT_DRY_RUN:
                    print(f"attempt {attempt}: {result}: would send {r.dry_run.method} {r.dry_run.path} {r.dry_run.body}")
                    return None, None
                # PLACE_RESULT_UNKNOWN: the exchange's answer was lost and the gateway could not find
                # the order yet (it keeps looking). It may well exist: same client id again.
                ambiguous = True
                print(f"attempt {attempt}: {result} client_id={r.client_id}: the order may exist; "
                      "retrying with the same client_id")
            except grpc.RpcError as e:
                if e.code() in RETRY:
                    ambiguous = ambiguous or e.code() != Code.RESOURCE_EXHAUSTED
                    print(f"attempt {attempt}: {describe(e)}: outcome unknown; retrying with the same client_id")
                elif e.code() == Code.ALREADY_EXISTS:
                    # The id is taken by an order with other parameters (someone else's, or an older
                    # one of ours). Do not cancel or modify it, and do not silently pick a new id.
                    print(f"attempt {attempt}: {describe(e)}: client_id {req.client_id} belongs to a "
                          "different order; nothing placed, that order left alone")
                    sys.exit(3)
                elif ambiguous:
                    # A refusal now says nothing about an earlier lost attempt (which may hold the
                    # margin this one was refused for): ask for the client id before concluding.
                    print(f"attempt {attempt}: {describe(e)}; an earlier attempt was ambiguous: looking "
                          f"up client_id {req.client_id}")
                    order = self.get_order(req.client_id)
                    if order is not None:
                        print(f"found: order_id={order.order_id} status={pb.OrderStatus.Name(order.status)}")
                        return order.order_id, order
                    print("not found: nothing was placed")
                    sys.exit(2)
                else:
                    print(f"refused: {describe(e)}; nothing placed")
                    sys.exit(2)
            if time.monotonic() + backoff > give_up:
                print(f"outcome still unknown after {self.args.give_up_after}s: look up client_id "
                      f"{req.client_id} (GetOrder) before placing anything else")
                sys.exit(4)
            time.sleep(random.uniform(backoff / 2, backoff))
            backoff = min(backoff * 2, 5.0)

    def cancel(self, symbol, client_id):
        """Cancels by client id (cancelling twice is harmless), then waits for a final status."""
        req = pb.CancelOrdersRequest(symbol=symbol, orders=[pb.OrderRef(client_id=client_id)])
        deadline = time.monotonic() + self.args.give_up_after
        while True:
            try:
                res = self.stub.CancelOrders(req, metadata=self.auth, timeout=self.args.deadline).results[0]
                if res.accepted:
                    print(f"cancel accepted for client_id={client_id}")
                else:
                    print(f"cancel not accepted: code {res.error.code} reason {res.error.reason}: {res.error.message}")
            except grpc.RpcError as e:
                if e.code() not in RETRY or time.monotonic() > deadline:
                    print(f"cancel failed: {describe(e)}")
                    return 1
                print(f"cancel: {describe(e)}; cancelling again")
                time.sleep(0.5)
                continue
            # A success means the exchange took the request; the final state comes afterwards.
            while True:
                order = self.get_order(client_id)
                status = pb.OrderStatus.Name(order.status) if order else "NOT_FOUND"
                if order is not None and order.status in FINAL:
                    print(f"final: order_id={order.order_id} client_id={client_id} status={status}")
                    return 0 if order.status == pb.ORDER_STATUS_CANCELED else 1
                if time.monotonic() > deadline:
                    print(f"order still {status} after {self.args.give_up_after}s")
                    return 1
                time.sleep(0.2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", default="127.0.0.1:50052", help="order service address (HOST:PORT)")
    p.add_argument("--token-file", help="file holding the bearer token (else $BITUNIX_GATEWAY_TOKEN)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--side", choices=("buy", "sell"), default="buy")
    p.add_argument("--qty", required=True, help="quantity, a decimal string")
    p.add_argument("--price", required=True, help="limit price, a decimal string")
    p.add_argument("--client-id", help="idempotency key (1-32 of [A-Za-z0-9_-]); default: a new random one")
    p.add_argument("--deadline", type=float, default=10.0, help="seconds per call")
    p.add_argument("--give-up-after", type=float, default=120.0, help="seconds to keep resolving an unknown outcome")
    p.add_argument("--dry-run", action="store_true", help="validate and sign only")
    args = p.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    client = Client(args, read_token(args.token_file))

    # Chosen once, before anything is sent, and kept for every retry. A real bot stores it (with
    # the order's intent) before the first attempt, so that even after a crash it can look it up.
    client_id = args.client_id or "ex-" + secrets.token_hex(12)
    print(f"client_id={client_id}")
    req = pb.PlaceOrderRequest(symbol=args.symbol.upper(), side=common_pb2.SIDE_BUY if args.side == "buy"
                               else common_pb2.SIDE_SELL, type=pb.ORDER_TYPE_LIMIT, qty=args.qty,
                               price=args.price, client_id=client_id, dry_run=args.dry_run)
    try:
        order_id, _ = client.place(req)
        if order_id is None:
            return 0
        return client.cancel(req.symbol, client_id)
    except grpc.RpcError as e:
        print(f"failed: {describe(e)}")
        return 1
    finally:
        client.channel.close()


if __name__ == "__main__":
    sys.exit(main())

"""bitunix-orders end to end with real clients: Python grpcio with a bearer token (place, duplicate
client id, cancel, get, account, unauthenticated refusal, rich error details) and `buf curl`
through server reflection (including grpc.health.v1 Check and Watch), against the real simulator."""
import os
import unittest

import grpc

import harness
from bitunix.common.v1 import common_pb2
from bitunix.orders.v1 import orders_pb2, orders_pb2_grpc
from google.rpc import status_pb2
from grpc_health_v1 import health_pb2, health_pb2_grpc

SERVICE = "bitunix.orders.v1.OrderService"


def auth(token):
    return (("authorization", f"Bearer {token}"),)


def resting_buy(client_id, qty="0.01", price="20000"):
    return orders_pb2.PlaceOrderRequest(symbol="BTCUSDT", side=common_pb2.SIDE_BUY, type=orders_pb2.ORDER_TYPE_LIMIT,
                                        qty=qty, price=price, client_id=client_id)


def trailers(err):
    return {k: v for k, v in (err.trailing_metadata() or ())}


class OrdersE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = harness.Sim().start()
        cls.orders = harness.Orders(cls.sim, "--mode=paper", "--health-interval=500ms").start()
        cls.channel = grpc.insecure_channel(cls.orders.grpc)
        cls.stub = orders_pb2_grpc.OrderServiceStub(cls.channel)
        harness.wait_serving(cls.orders.grpc, SERVICE)
        cls.trade = auth(harness.Orders.TRADE_TOKEN)
        cls.read = auth(harness.Orders.READ_TOKEN)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.orders.stop()
        cls.sim.stop()

    def sim_orders(self, client_id):
        orders = self.sim.control("/control/orders")["orders"]
        return [o for o in orders if o["clientId"] == client_id]

    def test_the_requested_threading_mode_is_the_one_running(self):
        # ctest runs this file twice: as is, and as orders_e2e_busy_poll with BITUNIX_BUSY_POLL=true
        # in the environment, which the binary reads like --busy-poll=true.
        busy = os.environ.get("BITUNIX_BUSY_POLL") == "true"
        self.assertIn(f"busy_poll={'true' if busy else 'false'}", self.orders.log_text())

    def test_health_check_and_watch(self):
        health = health_pb2_grpc.HealthStub(self.channel)
        live = health.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=5)
        self.assertEqual(live.status, health_pb2.HealthCheckResponse.SERVING)
        with self.assertRaises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        self.assertEqual(unknown.exception.code(), grpc.StatusCode.NOT_FOUND)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
        self.assertEqual(next(watch).status, health_pb2.HealthCheckResponse.SERVING)
        watch.cancel()
        unknown_watch = health.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
        self.assertEqual(next(unknown_watch).status, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        unknown_watch.cancel()

    def test_place_duplicate_get_cancel(self):
        first = self.stub.PlaceOrder(resting_buy("py-e2e-1"), metadata=self.trade, timeout=10)
        self.assertEqual(first.result, orders_pb2.PLACE_RESULT_ACCEPTED)
        self.assertEqual(first.client_id, "py-e2e-1")
        self.assertTrue(first.order_id)
        again = self.stub.PlaceOrder(resting_buy("py-e2e-1"), metadata=self.trade, timeout=10)
        self.assertEqual(again.result, orders_pb2.PLACE_RESULT_DUPLICATE)
        self.assertEqual(again.order_id, first.order_id)
        self.assertEqual(len(self.sim_orders("py-e2e-1")), 1)

        got = self.stub.GetOrder(orders_pb2.GetOrderRequest(order=orders_pb2.OrderRef(client_id="py-e2e-1")),
                                 metadata=self.read, timeout=10)
        self.assertEqual(got.order.order_id, first.order_id)
        self.assertEqual(got.order.status, orders_pb2.ORDER_STATUS_NEW)

        cancel = self.stub.CancelOrders(
            orders_pb2.CancelOrdersRequest(symbol="BTCUSDT", orders=[orders_pb2.OrderRef(order_id=first.order_id)]),
            metadata=self.trade, timeout=10)
        self.assertTrue(cancel.results[0].accepted)
        got = self.stub.GetOrder(orders_pb2.GetOrderRequest(order=orders_pb2.OrderRef(order_id=first.order_id)),
                                 metadata=self.read, timeout=10)
        self.assertEqual(got.order.status, orders_pb2.ORDER_STATUS_CANCELED)

    def test_generated_client_id_is_returned(self):
        r = self.stub.PlaceOrder(resting_buy(""), metadata=self.trade, timeout=10)
        self.assertEqual(r.result, orders_pb2.PLACE_RESULT_ACCEPTED)
        self.assertTrue(r.client_id.startswith("gw"))
        self.assertEqual(len(self.sim_orders(r.client_id)), 1)

    def test_account(self):
        acc = self.stub.GetAccount(orders_pb2.GetAccountRequest(), metadata=self.read, timeout=10)
        self.assertEqual(acc.account.margin_coin, "USDT")
        self.assertTrue(acc.account.available)

    def test_unauthenticated_and_read_only_refusals(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.PlaceOrder(resting_buy("py-e2e-noauth"), timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(trailers(ctx.exception).get("x-gateway-reason"), "UNAUTHENTICATED")
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.GetAccount(orders_pb2.GetAccountRequest(), metadata=auth("not-a-token-0000000000"), timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.PlaceOrder(resting_buy("py-e2e-readonly"), metadata=self.read, timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(self.sim_orders("py-e2e-noauth") + self.sim_orders("py-e2e-readonly"), [])

    def test_errors_carry_exchange_error_details(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.PlaceOrder(resting_buy("py-e2e-bad", qty="0.000001"), metadata=self.trade, timeout=10)
        err = ctx.exception
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        md = trailers(err)
        self.assertEqual(md.get("x-gateway-reason"), "VALIDATION")
        self.assertEqual(md.get("x-bitunix-code"), "0")
        rich = status_pb2.Status.FromString(md["grpc-status-details-bin"])
        detail = common_pb2.ExchangeError()
        self.assertTrue(rich.details[0].Unpack(detail))
        self.assertEqual(detail.reason, "VALIDATION")
        self.assertIn("basePrecision", detail.message)

    def test_buf_curl_through_reflection(self):
        token_header = f"Authorization: Bearer {harness.Orders.TRADE_TOKEN}"
        _, docs, _ = harness.buf_curl(self.orders.grpc, f"{SERVICE}/GetAccount", {}, headers=[token_header])
        self.assertEqual(docs[0]["account"]["marginCoin"], "USDT")
        _, docs, _ = harness.buf_curl(
            self.orders.grpc, f"{SERVICE}/PlaceOrder",
            {"symbol": "BTCUSDT", "side": "SIDE_BUY", "type": "ORDER_TYPE_LIMIT", "qty": "0.01", "price": "20000",
             "clientId": "buf-e2e-1"},
            headers=[token_header])
        self.assertEqual(docs[0]["result"], "PLACE_RESULT_ACCEPTED")
        self.assertEqual(len(self.sim_orders("buf-e2e-1")), 1)
        code, _, err = harness.buf_curl(self.orders.grpc, f"{SERVICE}/GetAccount", {}, expect_ok=False)
        self.assertNotEqual(code, 0)
        self.assertIn("unauthenticated", err.lower())
        # The service's own grpc.health.v1, described through reflection like any other.
        _, docs, _ = harness.buf_curl(self.orders.grpc, "grpc.health.v1.Health/Check", {"service": SERVICE})
        self.assertEqual(docs[0]["status"], "SERVING")


if __name__ == "__main__":
    unittest.main()

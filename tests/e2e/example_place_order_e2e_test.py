"""examples/python/place_order_safely.py against the real simulator and bitunix-orders: one order
per run, whatever happens to the first attempt. Checked on the exchange itself (the simulator's
/control/orders): a clean run, a first placement made ambiguous by the simulator's fault injection
(executed, but its answer lost and the lookups failing: PLACE_RESULT_UNKNOWN), a first attempt
that times out at the client (DEADLINE_EXCEEDED while the gateway is frozen), a client id taken by
another order (ALREADY_EXISTS: that order is left alone), and an exchange refusal whose exchange
code is read from the status details."""
import re
import signal
import tempfile
import unittest

import grpc

import harness
from bitunix.common.v1 import common_pb2
from bitunix.orders.v1 import orders_pb2, orders_pb2_grpc
from example_proc import python_example

SERVICE = "bitunix.orders.v1.OrderService"
TRADE = "/api/v1/futures/trade/"
TOKEN = harness.Orders.TRADE_TOKEN


class PlaceOrderSafelyExample(unittest.TestCase):
    def setUp(self):
        # A fresh exchange per test: "exactly one order" is counted over everything it holds.
        self.sim = harness.Sim().start()
        self.addCleanup(self.sim.stop)
        self.orders = harness.Orders(self.sim, "--mode=paper", "--health-interval=500ms").start()
        self.addCleanup(self.orders.__exit__)
        self.channel = grpc.insecure_channel(self.orders.grpc)
        self.addCleanup(self.channel.close)
        harness.wait_serving(self.orders.grpc, SERVICE)

    def run_example(self, *args, token_env=True):
        env = {"BITUNIX_GATEWAY_TOKEN": TOKEN} if token_env else {"BITUNIX_GATEWAY_TOKEN": ""}
        ex = python_example("place_order_safely.py", "--orders", self.orders.grpc, *args, env=env)
        self.addCleanup(ex.kill)
        return ex

    def exchange_orders(self):
        return self.sim.control("/control/orders")["orders"]

    def client_id(self, ex):
        _, m = ex.wait_line(r"^client_id=([A-Za-z0-9_-]{1,32})$")
        return m.group(1)

    def assert_one_cancelled_order(self, ex, client_id):
        """Exactly one order on the exchange, under client_id, cancelled; the example said so."""
        orders = self.exchange_orders()
        self.assertEqual([(o["clientId"], o["status"]) for o in orders], [(client_id, "CANCELED")], ex.text())
        self.assertEqual(ex.output()[-1],
                         f"final: order_id={orders[0]['orderId']} client_id={client_id} status=ORDER_STATUS_CANCELED")
        # Every attempt used the one client id chosen at the start.
        self.assertEqual(set(re.findall(r"client_id=([A-Za-z0-9_-]+)", "\n".join(ex.output()))), {client_id})
        return orders[0]

    def test_places_once_and_cancels_by_client_id(self):
        with tempfile.NamedTemporaryFile("w", suffix=".token") as f:
            f.write(TOKEN + "\n")
            f.flush()
            ex = self.run_example("--token-file", f.name, "--qty", "0.01", "--price", "20000", token_env=False)
            self.assertEqual(ex.finish(), 0, ex.text())
        cid = self.client_id(ex)
        self.assertRegex(ex.output()[1], rf"^attempt 1: PLACE_RESULT_ACCEPTED order_id=\d+ client_id={cid} ")
        order = self.assert_one_cancelled_order(ex, cid)
        self.assertEqual((order["side"], order["price"], order["qty"]), ("BUY", "20000", "0.01"))
        self.assertNotIn(TOKEN, ex.text())

    def test_an_ambiguous_first_placement_is_resolved_with_the_same_client_id(self):
        # The exchange executes the first placement but its answer is lost (no reply for 5 s, past
        # the call's REST budget), every lookup by client id fails, and the private feed is silent:
        # the gateway cannot tell, and answers PLACE_RESULT_UNKNOWN.
        self.sim.control("/control/stall", {"which": "private", "seconds": 120})
        self.sim.control("/control/rest_faults", {"kind": "hang", "apply": "after", "hang_ms": 5000,
                                                  "path": TRADE + "place_order"})
        for lookup in ("get_order_detail", "get_pending_orders", "get_history_orders"):
            self.sim.control("/control/rest_faults", {"kind": "http_502", "count": 100000, "path": TRADE + lookup})
        ex = self.run_example("--qty", "0.01", "--price", "20000", "--deadline", "3")
        cid = self.client_id(ex)
        ex.wait_line(rf"^attempt 1: PLACE_RESULT_UNKNOWN client_id={cid}: the order may exist; retrying with the same client_id$")
        # It really is on the exchange already: a retry under a new client id would double it.
        first = [o for o in self.exchange_orders() if o["clientId"] == cid]
        self.assertEqual(len(first), 1, ex.text())
        self.sim.control("/control/reset", {})  # the exchange answers again
        self.assertEqual(ex.finish(), 0, ex.text())
        _, m = ex.wait_line(r"^attempt (\d+): PLACE_RESULT_(DUPLICATE|ACCEPTED) order_id=(\d+) ")
        self.assertGreaterEqual(int(m.group(1)), 2)
        self.assertEqual(m.group(3), first[0]["orderId"], "the retry must return the order of the first attempt")
        self.assert_one_cancelled_order(ex, cid)

    def test_a_deadline_exceeded_attempt_is_retried_with_the_same_client_id(self):
        # The gateway is frozen: the client's deadline passes with no answer at all.
        self.orders.signal(signal.SIGSTOP)
        self.addCleanup(self.orders.signal, signal.SIGCONT)
        ex = self.run_example("--qty", "0.01", "--price", "20000", "--deadline", "2")
        cid = self.client_id(ex)
        ex.wait_line(r"^attempt 1: DEADLINE_EXCEEDED: .*: outcome unknown; retrying with the same client_id$")
        self.orders.signal(signal.SIGCONT)
        self.assertEqual(ex.finish(), 0, ex.text())
        ex.wait_line(rf"^attempt \d+: PLACE_RESULT_(ACCEPTED|DUPLICATE) order_id=\d+ client_id={cid} ")
        self.assert_one_cancelled_order(ex, cid)

    def test_already_exists_leaves_the_other_order_alone(self):
        stub = orders_pb2_grpc.OrderServiceStub(self.channel)
        other = stub.PlaceOrder(orders_pb2.PlaceOrderRequest(
            symbol="BTCUSDT", side=common_pb2.SIDE_BUY, type=orders_pb2.ORDER_TYPE_LIMIT, qty="0.01", price="20000",
            client_id="taken-1"), metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=10)
        self.assertEqual(other.result, orders_pb2.PLACE_RESULT_ACCEPTED)
        ex = self.run_example("--client-id", "taken-1", "--qty", "0.02", "--price", "21000")
        self.assertEqual(ex.finish(), 3, ex.text())
        self.assertRegex(ex.output()[-1], r"^attempt 1: ALREADY_EXISTS: exchange code 0 reason DUPLICATE_CLIENT_ID: .*"
                                          r"client_id taken-1 belongs to a different order")
        # The other order is untouched: still open, its own price.
        self.assertEqual([(o["clientId"], o["status"], o["price"]) for o in self.exchange_orders()],
                         [("taken-1", "NEW", "20000")])

    def test_an_exchange_refusal_shows_the_exchange_code_and_places_nothing(self):
        # 400 BTC at 20000 needs 400,000 USDT of margin at 20x; the account holds 100,000.
        ex = self.run_example("--qty", "400", "--price", "20000")
        self.assertEqual(ex.finish(), 2, ex.text())
        self.assertRegex(ex.output()[-1], r"^refused: FAILED_PRECONDITION: exchange code 20003 reason EXCHANGE_REJECTED "
                                          r"endpoint /api/v1/futures/trade/place_order: .*; nothing placed$")
        self.assertEqual(self.exchange_orders(), [])

    def test_without_a_token_nothing_is_sent(self):
        ex = self.run_example("--qty", "0.01", "--price", "20000", token_env=False)
        self.assertNotEqual(ex.finish(), 0)
        self.assertIn("no bearer token: pass --token-file FILE or set BITUNIX_GATEWAY_TOKEN", ex.stderr)
        self.assertEqual(self.exchange_orders(), [])


if __name__ == "__main__":
    unittest.main()

"""examples/node/client.js (Node.js, @grpc/grpc-js + @grpc/proto-loader loading proto/ at run time)
against the real simulator and both services: it reads N trades with a continuous seq, then places
one LIMIT order under its client id and cancels it; the exchange holds exactly that order, cancelled.

Node and the npm packages are installed by scripts/bootstrap (node from Debian, the packages into
tools/npm/node_modules); a missing one fails this test with a message saying so, never a skip."""
import os
import re
import shutil
import tempfile
import unittest


import harness
from example_proc import EXAMPLES, ROOT, Example, seqs

NODE_MODULES = os.path.join(ROOT, "tools", "npm", "node_modules")
CLIENT = os.path.join(EXAMPLES, "node", "client.js")


def node_env():
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node is not installed: run scripts/bootstrap (it installs Debian's nodejs)")
    for pkg in ("@grpc/grpc-js", "@grpc/proto-loader"):
        if not os.path.isdir(os.path.join(NODE_MODULES, pkg)):
            raise AssertionError(f"{pkg} is missing from {NODE_MODULES}: run scripts/bootstrap")
    return node, {"NODE_PATH": NODE_MODULES}


class NodeExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node, cls.env = node_env()
        cls.sim = harness.Sim("--push-interval=50ms", "--trade-rate=20").start()
        try:
            cls.md = harness.MarketData(cls.sim).start()
            cls.orders = harness.Orders(cls.sim, "--mode=paper", "--health-interval=500ms").start()
        except Exception:
            cls.sim.stop()
            raise
        harness.wait_serving(cls.md.grpc, "bitunix.marketdata.v1.MarketDataService")
        harness.wait_serving(cls.orders.grpc, "bitunix.orders.v1.OrderService")

    @classmethod
    def tearDownClass(cls):
        cls.orders.__exit__()
        cls.md.stop()
        cls.sim.stop()

    def run_client(self, *args, env=None):
        e = dict(self.env)
        e.update(env or {})
        ex = Example([self.node, CLIENT, "--md", self.md.grpc, "--orders", self.orders.grpc, *args], env=e)
        self.addCleanup(ex.kill)
        return ex

    def test_trades_then_one_order_placed_and_cancelled(self):
        ex = self.run_client("--count", "8", "--symbol", "ETHUSDT", "--qty", "0.5", "--price", "1500",
                             env={"BITUNIX_GATEWAY_TOKEN": harness.Orders.TRADE_TOKEN})
        self.assertEqual(ex.finish(), 0, ex.text())
        lines = ex.output()
        trades = [line for line in lines if re.match(r"seq=\d+ ETHUSDT trade [\d.]+ @ [\d.]+ (BUY|SELL)$", line)]
        self.assertEqual(len(trades), 8, ex.text())
        self.assertRegex(lines[0], r"^seq=1 status STATE_LIVE ")
        self.assertEqual(seqs(lines), list(range(1, len(seqs(lines)) + 1)), ex.text())
        self.assertIn("trades done: 8 trades, seq continuous", lines)
        _, m = ex.wait_line(r"^clientId=(node-[0-9a-f]{20})$")
        cid = m.group(1)
        orders = [o for o in self.sim.control("/control/orders")["orders"] if o["clientId"] == cid]
        self.assertEqual([(o["symbol"], o["side"], o["qty"], o["price"], o["status"]) for o in orders],
                         [("ETHUSDT", "BUY", "0.5", "1500", "CANCELED")], ex.text())
        self.assertRegex(ex.text(), rf"attempt 1: PLACE_RESULT_ACCEPTED orderId={orders[0]['orderId']} clientId={cid}")
        self.assertEqual(lines[-1], f"final: orderId={orders[0]['orderId']} clientId={cid} status=ORDER_STATUS_CANCELED")
        self.assertNotIn(harness.Orders.TRADE_TOKEN, ex.text())

    def test_without_a_token_it_only_streams(self):
        before = self.sim.control("/control/orders")["orders"]
        ex = self.run_client("--count", "3", env={"BITUNIX_GATEWAY_TOKEN": ""})
        self.assertEqual(ex.finish(), 0, ex.text())
        self.assertEqual(ex.output()[-1], "no token (--token-file or BITUNIX_GATEWAY_TOKEN): not placing an order")
        self.assertEqual(self.sim.control("/control/orders")["orders"], before)

    def test_a_refused_order_shows_the_gateway_reason(self):
        ex = self.run_client("--count", "1", "--qty", "0.000001", "--client-id", "node-bad-1",
                             env={"BITUNIX_GATEWAY_TOKEN": harness.Orders.TRADE_TOKEN})
        self.assertEqual(ex.finish(), 2, ex.text())
        self.assertRegex(ex.output()[-1], r"^refused: INVALID_ARGUMENT: exchange code 0 reason VALIDATION: .*basePrecision")
        self.assertEqual([o for o in self.sim.control("/control/orders")["orders"] if o["clientId"] == "node-bad-1"], [])

    def test_without_the_npm_packages_it_says_how_to_install_them(self):
        # A copy outside the tree, so that no node_modules directory above it can be found.
        tmp = tempfile.mkdtemp(prefix="bitunix-node-example-")
        self.addCleanup(shutil.rmtree, tmp)
        shutil.copy(CLIENT, tmp)
        ex = Example([self.node, os.path.join(tmp, "client.js")], env={"NODE_PATH": ""})
        self.addCleanup(ex.kill)
        self.assertEqual(ex.finish(), 2, ex.text())
        self.assertIn("NODE_PATH=tools/npm/node_modules (scripts/bootstrap installs them there)", ex.stderr)


if __name__ == "__main__":
    unittest.main()

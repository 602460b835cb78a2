"""bitunix-marketdata end to end: the real binary against the simulator, driven by a Python grpcio
client (stubs generated from the protos) and by `buf curl` through server reflection."""
import time
import unittest

import grpc

import harness
from bitunix.marketdata.v1 import marketdata_pb2 as pb
from bitunix.marketdata.v1 import marketdata_pb2_grpc as pb_grpc
from bitunix.common.v1 import common_pb2

SERVICE = "bitunix.marketdata.v1.MarketDataService"
FAST_SIM = ("--push-interval=50ms", "--kline-interval-push=200ms", "--trade-rate=20")


class MarketDataE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = harness.Sim(*FAST_SIM).start()
        try:
            cls.md = harness.MarketData(cls.sim).start()
        except Exception:
            cls.sim.stop()
            raise
        cls.channel = grpc.insecure_channel(cls.md.grpc)
        cls.stub = pb_grpc.MarketDataServiceStub(cls.channel)
        harness.wait_serving(cls.md.grpc, SERVICE)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        code = cls.md.stop()
        cls.sim.stop()
        assert code == 0, f"bitunix-marketdata exited with {code}:\n{cls.md.log_text()}"

    def test_subscribe_trades_and_book(self):
        req = pb.SubscribeRequest(symbols=["BTCUSDT"], channels=[pb.CHANNEL_TRADE, pb.CHANNEL_ORDER_BOOK], book_depth=5)
        call = self.stub.Subscribe(req, timeout=20)
        events = []
        deadline = time.monotonic() + 15
        for resp in call:
            events.extend(resp.events)
            kinds = {e.WhichOneof("payload") for e in events}
            if {"trade", "order_book"} <= kinds or time.monotonic() > deadline:
                break
        call.cancel()
        kinds = {e.WhichOneof("payload") for e in events}
        self.assertLessEqual({"trade", "order_book", "status"}, kinds)
        self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
        live = [e for e in events if e.HasField("status")]
        self.assertEqual(live[0].status.state, common_pb2.StreamStatus.STATE_LIVE)
        for e in events:
            if e.HasField("trade"):
                self.assertEqual(e.symbol, "BTCUSDT")
                self.assertEqual(e.channel, pb.CHANNEL_TRADE)
                self.assertGreater(e.exchange_ts_ms, 0)
                self.assertGreater(e.gateway_ts_ns, 0)
                float(e.trade.price)  # a decimal string
            if e.HasField("order_book"):
                self.assertEqual(e.order_book.depth, 5)
                self.assertGreater(len(e.order_book.bids), 0)
                self.assertLessEqual(len(e.order_book.bids), 5)

    def test_get_klines_pages_past_200(self):
        resp = self.stub.GetKlines(pb.GetKlinesRequest(symbol="BTCUSDT", interval=pb.KLINE_INTERVAL_1M, limit=350),
                                   timeout=20)
        self.assertEqual(len(resp.klines), 350)
        self.assertGreaterEqual(resp.pages, 2)
        times = [k.open_time_ms for k in resp.klines]
        self.assertEqual(times, sorted(set(times)))
        self.assertTrue(all(t2 - t1 == 60000 for t1, t2 in zip(times, times[1:])))

    def test_list_symbols(self):
        resp = self.stub.ListSymbols(pb.ListSymbolsRequest(), timeout=10)
        by_name = {s.symbol: s for s in resp.symbols}
        self.assertEqual(by_name["BTCUSDT"].status, pb.SYMBOL_STATUS_OPEN)
        self.assertEqual(by_name["PREVIEWUSDT"].status, pb.SYMBOL_STATUS_PREVIEW)
        self.assertGreater(resp.refreshed_at_ns, 0)

    def test_bad_requests_are_invalid_argument(self):
        for req, words in [
            (pb.SubscribeRequest(symbols=[], channels=[pb.CHANNEL_TRADE]), "symbols is empty"),
            (pb.SubscribeRequest(symbols=["NOPEUSDT"], channels=[pb.CHANNEL_TRADE]), "unknown symbol"),
            (pb.SubscribeRequest(symbols=["BTCUSDT"], channels=[]), "channels is empty"),
            (pb.SubscribeRequest(symbols=["BTCUSDT"], channels=[pb.CHANNEL_ORDER_BOOK], book_depth=20), "book_depth"),
        ]:
            with self.assertRaises(grpc.RpcError) as ctx:
                for _ in self.stub.Subscribe(req, timeout=10):
                    pass
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(words, ctx.exception.details())
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.GetOrderBook(pb.GetOrderBookRequest(symbol="BTCUSDT", depth=7), timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_buf_curl_unary_calls(self):
        _, docs, _ = harness.buf_curl(self.md.grpc, f"{SERVICE}/ListSymbols", {})
        names = [s["symbol"] for s in docs[0]["symbols"]]
        self.assertIn("BTCUSDT", names)
        _, docs, _ = harness.buf_curl(self.md.grpc, f"{SERVICE}/GetOrderBook", {"symbol": "BTCUSDT", "depth": 5})
        self.assertEqual(len(docs[0]["book"]["bids"]), 5)
        _, docs, _ = harness.buf_curl(self.md.grpc, "grpc.health.v1.Health/Check", {"service": SERVICE})
        self.assertEqual(docs[0]["status"], "SERVING")

    def test_buf_curl_subscribe_stream(self):
        # A server stream never ends by itself: read it for a few seconds (the deadline ends it).
        code, docs, _ = harness.buf_curl(self.md.grpc, f"{SERVICE}/Subscribe",
                                         {"symbols": ["ETHUSDT"], "channels": ["CHANNEL_TRADE", "CHANNEL_TICKER"]},
                                         timeout="3s", expect_ok=False)
        events = [e for d in docs for e in d.get("events", [])]
        self.assertGreater(len(events), 2, f"buf curl exit {code}")
        self.assertEqual(events[0]["status"]["state"], "STATE_LIVE")
        self.assertTrue(any("ticker" in e or "trade" in e for e in events))

    def test_buf_curl_bad_request(self):
        code, _, err = harness.buf_curl(self.md.grpc, f"{SERVICE}/GetKlines",
                                        {"symbol": "BTCUSDT", "interval": "KLINE_INTERVAL_3M"}, expect_ok=False)
        self.assertNotEqual(code, 0)
        self.assertIn("invalid_argument", err.lower())

    def test_bxctl_watch_ends_cleanly_on_ctrl_c(self):
        # bxctl's watch used to cancel its stream from inside a signal handler, which absl's Mutex
        # caught as "illegal recursion" and aborted on when the signal landed while the reading
        # thread held a lock. Now a thread of its own takes the signal: every round must end the
        # watch with exit 0 and nothing on stderr. Several rounds, with the signal at varied points.
        import os
        import select
        import signal
        import subprocess
        for round_ in range(6):
            proc = subprocess.Popen([harness.BXCTL_BIN, "--md", self.md.grpc, "watch", "BTCUSDT", "ETHUSDT",
                                     "--channels", "trade,book,ticker,mark"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                lines, buf, deadline = 0, b"", time.monotonic() + 20
                while lines < 3 + round_ * 4 and time.monotonic() < deadline:
                    ready, _, _ = select.select([proc.stdout], [], [], 1.0)
                    if ready:
                        chunk = os.read(proc.stdout.fileno(), 65536)
                        if not chunk:
                            break
                        buf += chunk
                        lines = buf.count(b"\n")
                self.assertGreaterEqual(lines, 3, f"round {round_}: no live data from bxctl")
                proc.send_signal(signal.SIGINT)
                _, err = proc.communicate(timeout=10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            self.assertEqual(proc.returncode, 0, f"round {round_}: {err.decode(errors='replace')}")
            self.assertEqual(err.decode(errors="replace").strip(), "", f"round {round_}")


if __name__ == "__main__":
    unittest.main()

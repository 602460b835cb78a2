"""examples/python/watch_market.py against the real simulator and bitunix-marketdata: it streams
trades and books with a continuous seq, prints the in-band status and Gap events of an upstream
drop and replaces its book with the snapshot that follows the gap, resubscribes after a server
restart, and exits 2 on a refused request."""
import os
import re
import signal
import unittest


import harness
from example_proc import python_example, seqs

FAST_SIM = ("--push-interval=50ms", "--trade-rate=20")
SERVICE = "bitunix.marketdata.v1.MarketDataService"


class WatchMarketExample(unittest.TestCase):
    def setUp(self):
        self.sim = harness.Sim(*FAST_SIM).start()
        self.addCleanup(self.sim.stop)
        self.md = harness.MarketData(self.sim).start()
        self.addCleanup(self.md.stop)
        harness.wait_serving(self.md.grpc, SERVICE)

    def run_until(self, ex, *patterns, timeout=30):
        """Waits for each pattern in turn, each on a later line than the previous one."""
        at = 0
        for p in patterns:
            at, _ = ex.wait_line(p, start=at, timeout=timeout)
            at += 1
        return at

    def test_count_events_with_a_continuous_seq(self):
        ex = python_example("watch_market.py", "--md", self.md.grpc, "--count", "40", "BTCUSDT", "ETHUSDT")
        self.addCleanup(ex.kill)
        self.assertEqual(ex.finish(), 0, ex.text())
        lines = ex.output()
        data = [line for line in lines if re.match(r"seq=\d+ (BTCUSDT|ETHUSDT) (trade|book) ", line)]
        self.assertEqual(len(data), 40, ex.text())
        kinds = {tuple(line.split()[1:3]) for line in data}
        self.assertLessEqual({("BTCUSDT", "trade"), ("BTCUSDT", "book"), ("ETHUSDT", "trade"), ("ETHUSDT", "book")},
                             kinds, ex.text())
        self.assertRegex(lines[1], r"^seq=1 status STATE_LIVE ")
        # Every event of the one stream was printed, in order, from 1.
        self.assertEqual(seqs(lines), list(range(1, len(seqs(lines)) + 1)), ex.text())
        self.assertEqual(lines[-1], "done: 40 data events, seq continuous")
        self.assertEqual(sum(line.startswith("subscribing") for line in lines), 1)

    def test_upstream_drop_shows_status_and_gap_and_the_book_is_replaced(self):
        ex = python_example("watch_market.py", "--md", self.md.grpc, "BTCUSDT")
        self.addCleanup(ex.kill)
        at = self.run_until(ex, r"^seq=\d+ BTCUSDT book ")
        self.sim.control("/control/drop_connections", {"which": "public"})
        gap_at, _ = ex.wait_line(r"^seq=\d+ gap REASON_UPSTREAM_RECONNECT .* book reset: BTCUSDT ", start=at)
        lines = ex.output()
        self.assertTrue(any(re.match(r"seq=\d+ status STATE_RECONNECTING symbols=BTCUSDT", line) for line in lines[at:gap_at]),
                        "no RECONNECTING status before the gap:\n" + ex.text())
        # After the gap: RECOVERED, and the first book is a snapshot that replaces the dropped one
        # (the example flags only the first book after a gap that way).
        ex.wait_line(r"^seq=\d+ status STATE_RECOVERED symbols=BTCUSDT", start=at)
        book_at, _ = ex.wait_line(r"^seq=\d+ BTCUSDT book ", start=gap_at)
        self.assertRegex(ex.output()[book_at], r" snapshot \(replaces the book dropped at the gap\)$", ex.text())
        ex.wait_line(r"^seq=\d+ BTCUSDT trade ", start=book_at)  # live again
        self.assertEqual(ex.finish(sig=signal.SIGINT), 0, ex.text())
        lines = ex.output()
        self.assertEqual(seqs(lines), list(range(1, len(seqs(lines)) + 1)), ex.text())
        self.assertEqual(sum(line.startswith("subscribing") for line in lines), 1, "the stream itself never ended")
        self.assertRegex(lines[-1], r"^interrupted: \d+ data events$")

    def test_resubscribes_with_backoff_after_a_server_restart(self):
        ex = python_example("watch_market.py", "--md", self.md.grpc, "BTCUSDT", "ETHUSDT")
        self.addCleanup(ex.kill)
        at = self.run_until(ex, r"^seq=\d+ ETHUSDT trade ")
        address = self.md.grpc
        self.assertEqual(self.md.stop(), 0)
        # The server says it is going away, then the stream ends UNAVAILABLE: subscribe again.
        at = self.run_until(ex, r"^seq=\d+ status STATE_SHUTTING_DOWN ", r"^stream ended: UNAVAILABLE.*; resubscribing in")
        at, _ = ex.wait_line(r"^subscribing to BTCUSDT,ETHUSDT .*\(attempt 2\)$", start=at)
        # The same address again (a restarted server).
        md2 = harness.MarketData(self.sim, f"--grpc-addr={address}").start()
        self.addCleanup(md2.stop)
        self.assertEqual(md2.grpc, address)
        # A fresh stream: seq starts at 1 again, data flows for both symbols.
        live_at, _ = ex.wait_line(r"^seq=1 status STATE_LIVE ", start=at)
        sub_at = max(i for i, line in enumerate(ex.output()[:live_at]) if line.startswith("subscribing"))
        ex.wait_line(r"^seq=\d+ BTCUSDT trade ", start=sub_at)
        ex.wait_line(r"^seq=\d+ ETHUSDT trade ", start=sub_at)
        self.assertEqual(ex.finish(sig=signal.SIGINT), 0, ex.text())
        lines = ex.output()
        retries = [line for line in lines if line.startswith("stream ended")]
        # The first end is the documented UNAVAILABLE; later attempts may meet the old server still
        # exiting (CANCELLED) or no server at all (UNAVAILABLE): each one is retried.
        self.assertRegex(retries[0], r"^stream ended: UNAVAILABLE: server shutting down")
        self.assertTrue(all(re.match(r"stream ended: (UNAVAILABLE|CANCELLED)", r) for r in retries), ex.text())
        self.assertEqual(sum(line.startswith("subscribing") for line in lines), len(retries) + 1, ex.text())
        delays = [float(re.search(r"resubscribing in ([\d.]+)s", r).group(1)) for r in retries]
        # Backoff: each delay at most the doubling cap, and a stream of failures never waits less.
        for i, d in enumerate(delays):
            self.assertLessEqual(d, min(0.25 * 2 ** i, 10.0) + 1e-9, ex.text())
            self.assertGreaterEqual(d, min(0.25 * 2 ** i, 10.0) / 2 - 1e-9, ex.text())
        last = lines[sub_at:]
        self.assertEqual(seqs(last), list(range(1, len(seqs(last)) + 1)), ex.text())

    def test_a_refused_request_exits_2(self):
        ex = python_example("watch_market.py", "--md", self.md.grpc, "NOPEUSDT")
        self.addCleanup(ex.kill)
        self.assertEqual(ex.finish(), 2, ex.text())
        self.assertIn("refused: INVALID_ARGUMENT", ex.stderr)
        self.assertFalse([line for line in ex.output() if "resubscribing" in line])


class WatchMarketWithoutStubs(unittest.TestCase):
    def test_missing_stubs_say_how_to_generate_them(self):
        ex = python_example("watch_market.py", "BTCUSDT", env={"PYTHONPATH": os.devnull})
        self.addCleanup(ex.kill)
        self.assertNotEqual(ex.finish(), 0)
        self.assertIn("python3 -m grpc_tools.protoc -I proto", ex.stderr)
        self.assertIn("examples/README.md", ex.stderr)


if __name__ == "__main__":
    unittest.main()

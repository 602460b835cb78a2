"""The README's main job, `scripts/demo`, run as a user runs it: it starts the simulator and both
services, places one paper order through bitunix-orders, streams live market data with bxctl,
and on Ctrl-C (SIGINT to its process group, as a terminal sends it) stops every process.

Run with DEMO_SKIP_BUILD=1 against the test build (the build and the package install are what
scripts/test has just done).
"""
import os
import re
import select
import signal
import socket
import subprocess
import time
import unittest

import harness

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO = os.path.join(ROOT, "scripts", "demo")


def port_open(address):
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


class DemoTest(unittest.TestCase):
    def test_demo_places_an_order_streams_data_and_stops_everything_on_ctrl_c(self):
        self.run_demo(lambda demo: os.killpg(demo.pid, signal.SIGINT))  # Ctrl-C in its terminal

    def test_demo_stops_everything_when_only_the_script_is_terminated(self):
        # `kill <pid of scripts/demo>`: only the script gets the signal; it must stop its children.
        self.run_demo(lambda demo: demo.send_signal(signal.SIGTERM))

    def run_demo(self, stop):
        env = dict(os.environ, BUILD_DIR=harness.BUILD_DIR, DEMO_SKIP_BUILD="1",
                   DEMO_SYMBOLS="BTCUSDT ETHUSDT")
        demo = subprocess.Popen([DEMO], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        out_lines, err_text = [], b""
        # What a user must see: trades and a top of book for both symbols.
        wanted = {(sym, kind) for sym in ("BTCUSDT", "ETHUSDT") for kind in ("trade", "book")}
        seen = set()
        deadline = time.monotonic() + 60
        buf = b""
        try:
            while seen != wanted and time.monotonic() < deadline:
                ready, _, _ = select.select([demo.stdout, demo.stderr], [], [], 1.0)
                for f in ready:
                    chunk = os.read(f.fileno(), 65536)
                    if f is demo.stderr:
                        err_text += chunk
                        continue
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        text = line.decode(errors="replace")
                        out_lines.append(text)
                        m = re.match(r"\S+\s+(BTCUSDT|ETHUSDT)\s+(trade|book)\s", text)
                        if m:
                            seen.add((m.group(1), m.group(2)))
                if demo.poll() is not None:
                    break
            self.assertIsNone(demo.poll(), "the demo exited by itself:\n" + err_text.decode(errors="replace"))
            self.assertEqual(seen, wanted, "missing live data; stdout:\n" + "\n".join(out_lines[-20:]))
        finally:
            if demo.poll() is None:
                stop(demo)
            try:
                rest_out, rest_err = demo.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                rest_out, rest_err = demo.communicate()
                self.fail("the demo did not stop within 20 s of the signal")
        err = (err_text + rest_err).decode(errors="replace")

        self.assertEqual(demo.returncode, 130, err)
        self.assertIn("result: PLACE_RESULT_ACCEPTED", err)
        self.assertRegex(err, r'client_id: "demo\d+"')
        self.assertIn("demo: stopped every process", err)
        # Every process the demo started is gone: nothing answers on the ports they reported.
        addresses = re.findall(r"(?:REST http://|control http://|gRPC |metrics http://)(127\.0\.0\.1:\d+)", err)
        self.assertEqual(len(addresses), 6, err)  # sim REST + control, 2 x (gRPC + metrics)
        for address in addresses:
            self.assertFalse(port_open(address), f"{address} still answers after the demo stopped")
        logs = re.search(r"logs\s+(\S+)/\*\.log", err)
        self.assertIsNotNone(logs, err)
        self.assertFalse(os.path.exists(logs.group(1)), "the demo left its work directory behind")


if __name__ == "__main__":
    unittest.main()

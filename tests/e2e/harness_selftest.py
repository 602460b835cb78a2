"""The e2e tooling itself works: stubs import, buf runs, the harness reads ready lines and cleans up."""
import os
import subprocess
import sys
import unittest

import harness


class HarnessSelfTest(unittest.TestCase):
    def test_generated_stubs_import(self):
        from bitunix.marketdata.v1 import marketdata_pb2, marketdata_pb2_grpc  # noqa: F401
        from bitunix.orders.v1 import orders_pb2, orders_pb2_grpc  # noqa: F401
        from grpc_health_v1 import health_pb2, health_pb2_grpc  # noqa: F401
        req = marketdata_pb2.SubscribeRequest(symbols=["BTCUSDT"], channels=[marketdata_pb2.CHANNEL_TRADE])
        self.assertEqual(marketdata_pb2.SubscribeRequest.FromString(req.SerializeToString()), req)

    def test_buf_is_installed(self):
        out = subprocess.run([harness.BUF, "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_process_ready_line_and_cleanup(self):
        script = "import sys,time; print('{\"addr\":\"127.0.0.1:1\"}', flush=True); time.sleep(60)"
        p = harness.Process([sys.executable, "-c", script])
        with p:
            self.assertEqual(p.ready["addr"], "127.0.0.1:1")
            pid = p.proc.pid
        self.assertIsNotNone(p.proc.returncode)
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)

    def test_process_without_ready_line_fails_clearly(self):
        p = harness.Process([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])
        with self.assertRaises(RuntimeError) as ctx:
            p.start()
        self.assertIn("boom", str(ctx.exception))

    def test_temp_files_are_removed_when_the_test_process_ends(self):
        # A test that uses start()/stop() (or whose start fails) never reaches __exit__: its stderr
        # log must still not stay in /tmp (they collected by hundreds; Orders' tokens file is
        # removed the same way).
        code = ("import sys, harness\n"
                "p = harness.Process([sys.executable, '-c', 'import sys; sys.stderr.write(\"x\"); sys.exit(1)'])\n"
                "try:\n    p.start()\nexcept RuntimeError:\n    pass\n"
                "print(p.log.name)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        self.assertEqual(out.returncode, 0, out.stderr)
        log = out.stdout.strip()
        self.assertTrue(log.startswith("/") and "bitunix-e2e-" in log, out.stdout)
        self.assertFalse(os.path.exists(log), f"{log} left behind")


if __name__ == "__main__":
    unittest.main()

"""Harness for end-to-end tests: start bitunix-sim and the services on 127.0.0.1 port 0, read
their one-line JSON ready reports, run real clients (Python grpcio, buf curl) against them, and
clean up every process.

    with harness.Sim() as sim, harness.MarketData(sim) as md:
        channel = grpc.insecure_channel(md.grpc)
        ...

Binaries come from $BITUNIX_BUILD_DIR (set by ctest); `buf` from $BITUNIX_BUF.
"""
import atexit
import json
import os
import select
import signal
import subprocess
import tempfile
import time
import urllib.request

BUILD_DIR = os.environ.get("BITUNIX_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
BUF = os.environ.get("BITUNIX_BUF", "buf")

SIM_BIN = os.path.join(BUILD_DIR, "sim", "bitunix-sim")
MD_BIN = os.path.join(BUILD_DIR, "services", "marketdata", "bitunix-marketdata")
ORDERS_BIN = os.path.join(BUILD_DIR, "services", "orders", "bitunix-orders")
BXCTL_BIN = os.path.join(BUILD_DIR, "tools", "bxctl")


def _remove_at_exit(path):
    """Deletes a temp file when the test process ends, however the test used it (context manager,
    or start()/stop() in setUp/tearDown, or a start that failed): failure messages have already
    quoted what they need from it by then."""
    def remove():
        try:
            os.unlink(path)
        except OSError:
            pass
    atexit.register(remove)


class Process:
    """A child process that prints one JSON ready line on stdout; stderr goes to a temp log."""

    def __init__(self, argv, env=None, ready_timeout=30.0):
        self.argv = list(argv)
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.ready_timeout = ready_timeout
        self.proc = None
        self.ready = None
        self.log = tempfile.NamedTemporaryFile(prefix="bitunix-e2e-", suffix=".log", delete=False)
        _remove_at_exit(self.log.name)

    def start(self):
        if not os.path.exists(self.argv[0]):
            raise FileNotFoundError(f"{self.argv[0]} is not built")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.log, env=self.env)
        deadline = time.monotonic() + self.ready_timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise TimeoutError(f"{self.argv[0]} printed no ready line in {self.ready_timeout}s; log:\n{self.log_text()}")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    self.proc.wait()
                    self.proc.stdout.close()
                    raise RuntimeError(f"{self.argv[0]} exited before its ready line; log:\n{self.log_text()}")
                line += chunk
        self.ready = json.loads(line)
        return self

    def log_text(self):
        self.log.flush()
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


class Sim(Process):
    """bitunix-sim on port 0. Attributes: rest, public_ws, private_ws, control_url (URLs);
    control(path, body) calls the control API."""

    API_KEY = "sim-api-key"
    API_SECRET = "sim-api-secret"

    def __init__(self, *extra_args, env=None):
        super().__init__([SIM_BIN, "--addr=127.0.0.1:0", "--control-addr=127.0.0.1:0", *extra_args], env=env)

    def start(self):
        super().start()
        self.rest, self.public_ws, self.private_ws = self.ready["rest"], self.ready["public_ws"], self.ready["private_ws"]
        self.control_url = self.ready["control"]
        return self

    def control(self, path, body=None):
        """POST (with body) or GET a control endpoint; returns the decoded JSON reply."""
        url = self.control_url.rstrip("/") + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


def service_args(sim, ws_url):
    """Listen addresses and exchange endpoints; each service takes only its own WebSocket URL."""
    return ["--grpc-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", ws_url, f"--rest-url={sim.rest}"]


class MarketData(Process):
    """bitunix-marketdata against a Sim. Attributes: grpc, metrics ("host:port")."""

    def __init__(self, sim, *extra_args, env=None):
        super().__init__([MD_BIN, *service_args(sim, f"--ws-url={sim.public_ws}"), *extra_args], env=env)

    def start(self):
        super().start()
        self.grpc, self.metrics = self.ready["grpc"], self.ready["metrics"]
        return self


class Orders(Process):
    """bitunix-orders against a Sim with the sim's credentials and the given bearer tokens
    ({token: "trade"|"read"}, tokens >= 16 characters). Attributes: grpc, metrics."""

    TRADE_TOKEN = "e2e-trade-token-0123456789abcdef"
    READ_TOKEN = "e2e-read-token-0123456789abcdef0"

    def __init__(self, sim, *extra_args, tokens=None, env=None):
        self.tokens_file = tempfile.NamedTemporaryFile("w", prefix="bitunix-tokens-", suffix=".txt", delete=False)
        _remove_at_exit(self.tokens_file.name)
        tokens = tokens or {self.TRADE_TOKEN: "trade", self.READ_TOKEN: "read"}
        for i, (token, role) in enumerate(tokens.items()):
            self.tokens_file.write(f"e2e-{role}-{i} {role} {token}\n")  # name role token
        self.tokens_file.close()
        e = {"BITUNIX_API_KEY": Sim.API_KEY, "BITUNIX_API_SECRET": Sim.API_SECRET}
        e.update(env or {})
        super().__init__([ORDERS_BIN, *service_args(sim, f"--private-ws-url={sim.private_ws}"), f"--auth-tokens-file={self.tokens_file.name}", *extra_args], env=e)

    def start(self):
        super().start()
        self.grpc, self.metrics = self.ready["grpc"], self.ready["metrics"]
        return self

    def __exit__(self, *exc):
        super().__exit__(*exc)
        try:
            os.unlink(self.tokens_file.name)
        except OSError:
            pass


def buf_curl(address, method, data=None, headers=(), timeout="20s", expect_ok=True):
    """Calls `buf curl --protocol grpc --http2-prior-knowledge` through server reflection.
    `method` is "package.Service/Method". Returns (exit code, list of decoded JSON responses, stderr)."""
    argv = [BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--timeout", timeout]
    for h in headers:
        argv += ["-H", h]
    if data is not None:
        argv += ["-d", json.dumps(data)]
    argv.append(f"http://{address}/{method}")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    docs = []
    dec = json.JSONDecoder()
    text = p.stdout.strip()
    i = 0
    while i < len(text):
        obj, end = dec.raw_decode(text, i)
        docs.append(obj)
        i = end
        while i < len(text) and text[i].isspace():
            i += 1
    if expect_ok and p.returncode != 0:
        raise AssertionError(f"buf curl {method} failed ({p.returncode}): {p.stderr}")
    return p.returncode, docs, p.stderr


def wait_for(predicate, timeout=15.0, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a truthy value (returned) or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def wait_serving(address, service, timeout=20.0):
    """Polls grpc.health.v1 Check(`service`) at `address` until SERVING (raises TimeoutError)."""
    import grpc
    from grpc_health_v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        def serving():
            try:
                r = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                return r.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                return False
        wait_for(serving, timeout=timeout, what=f"{service} SERVING at {address}")

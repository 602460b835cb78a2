"""The chart's observability against a real Prometheus server (Debian's /usr/bin/prometheus).

Starts bitunix-sim and both services (harness, 127.0.0.1, port 0), then Prometheus scraping both
metrics ports every second with the chart's alerting rules (k8s/helm/bitunix-gateway/files/
prometheus-rules.yaml) loaded, and checks through Prometheus' HTTP API:
  - both targets are up, with no scrape error;
  - every rule group of the file is loaded and every rule evaluates (health "ok", no lastError)
    after at least two evaluations, and no alert is active while everything is healthy;
  - after real traffic (a Subscribe stream receiving data, a paper order placed with a bearer
    token) every expression of the Grafana dashboard (files/grafana-dashboard.json) evaluates, and
    every target except those listed in MAY_BE_EMPTY returns data (a PlaceOrder latency
    quantile a real number);
  - an upstream outage caused with the simulator's control API makes BitunixMdUpstreamDown pending
    for the market-data target while BitunixOrdersPrivateStreamDown stays absent, and the alert
    goes away once the feed is back.
Every wait polls the API until a condition holds or a deadline passes."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import grpc
import yaml

import harness
from bitunix.common.v1 import common_pb2
from bitunix.marketdata.v1 import marketdata_pb2 as md_pb
from bitunix.marketdata.v1 import marketdata_pb2_grpc as md_grpc
from bitunix.orders.v1 import orders_pb2, orders_pb2_grpc

PROMETHEUS = os.environ.get("BITUNIX_PROMETHEUS", "/usr/bin/prometheus")
CHART_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "k8s", "helm", "bitunix-gateway",
                           "files")
RULES = os.path.join(CHART_FILES, "prometheus-rules.yaml")
DASHBOARD = os.path.join(CHART_FILES, "grafana-dashboard.json")

NAMESPACE = "e2e"   # the target label a Kubernetes scrape (ServiceMonitor) adds; the dashboard filters on it
# What Grafana's $__rate_interval would stand for (at least 4 scrape intervals); long enough that
# the one order placed is still inside the window when the expressions are evaluated.
RATE_INTERVAL = "30s"

# Dashboard targets (panel title, refId) that return nothing after the test's traffic, and why.
# Exact: the test fails if one of them has data (then drop it here). Everything else the dashboard
# reads exists from start-up (gauges, label sets the services make up front) or is caused below.
MAY_BE_EMPTY = {
    # Validation refusals are labelled by the rule that refused (series made on the first refusal,
    # orders_metrics.cc); every order this test places is valid.
    ("Refused before the exchange", "B"): "no order was refused by validation",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """/usr/bin/prometheus on 127.0.0.1 with `config` (a dict), its TSDB in a temp directory.
    Prometheus cannot listen on port 0: a free port is chosen and the start retried when another
    process took it in between."""

    def __init__(self, config, attempts=5):
        self.config = config
        self.attempts = attempts
        self.dir = tempfile.mkdtemp(prefix="bitunix-prometheus-")
        self.proc = None
        self.url = None

    def log_text(self):
        with open(os.path.join(self.dir, "prometheus.log"), errors="replace") as f:
            return f.read()

    def start(self):
        if not os.access(PROMETHEUS, os.X_OK):
            raise FileNotFoundError(f"{PROMETHEUS} missing: run scripts/bootstrap (Debian package prometheus)")
        config_file = os.path.join(self.dir, "prometheus.yml")
        with open(config_file, "w") as f:
            yaml.safe_dump(self.config, f)
        for _ in range(self.attempts):
            port = free_port()
            log = open(os.path.join(self.dir, "prometheus.log"), "w")
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config_file}", f"--storage.tsdb.path={self.dir}/data",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=info"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
            log.close()
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    pass
                time.sleep(0.1)
            if self.proc.poll() is None:
                self.stop()
                raise TimeoutError(f"prometheus not ready in 30s; log:\n{self.log_text()}")
            if "address already in use" not in self.log_text():
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}; log:\n{self.log_text()}")
        raise RuntimeError(f"prometheus found no free port in {self.attempts} attempts")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:   # 4xx/5xx carry a JSON error body
            return json.loads(e.read())

    def query(self, expr):
        return self.api("query", query=expr)


def dashboard_targets():
    """(panel title, refId, expr) of every query of the dashboard, rows included."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p["title"], t["refId"], t["expr"]))
            walk(p.get("panels", []))
    walk(dash["panels"])
    return dash, out


def substitute(expr, namespace):
    """The expression as Grafana would send it with the namespace variable set to one value."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("${namespace}", namespace)
    expr = expr.replace("$namespace", namespace)
    left = re.findall(r"\$\{?\w+", expr)
    assert not left, f"unsubstituted variables {left} in {expr}"
    return expr


class PrometheusLive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = []
        try:
            cls.sim = cls.enter(harness.Sim())
            # A short reconnect cap, so the feed is back soon after the outage below ends.
            cls.md = cls.enter(harness.MarketData(cls.sim, "--backoff-max=1s"))
            cls.orders = cls.enter(harness.Orders(cls.sim, "--mode=paper"))
            with open(RULES) as f:
                rules = yaml.safe_load(f)
            cls.expected_groups = {g["name"]: len(g["rules"]) for g in rules["groups"]}

            def job(name, address):
                # The job and target labels a ServiceMonitor of the chart gives (job = Service name).
                return {"job_name": f"bitunix-gateway-{name}", "metrics_path": "/metrics",
                        "static_configs": [{"targets": [address],
                                            "labels": {"namespace": NAMESPACE, "service": f"bitunix-gateway-{name}",
                                                       "endpoint": "metrics", "pod": f"{name}-0"}}]}
            config = {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "rule_files": [os.path.abspath(RULES)],
                "scrape_configs": [job("marketdata", cls.md.metrics), job("orders", cls.orders.metrics)],
            }
            cls.prom = cls.enter(Prometheus(config))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def enter(cls, ctx):
        cls.stack.append(ctx)   # before __enter__: a failed start still removes its temp files
        return ctx.__enter__()

    @classmethod
    def tearDownClass(cls):
        while cls.stack:
            cls.stack.pop().__exit__(None, None, None)

    def wait(self, predicate, what, timeout=60):
        try:
            return harness.wait_for(predicate, timeout=timeout, interval=0.25, what=what)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; prometheus log tail:\n"
                                 + "\n".join(self.prom.log_text().splitlines()[-20:]))

    def targets_up(self):
        active = self.prom.api("targets", state="active")["data"]["activeTargets"]
        self.last_targets = active
        return len(active) == 2 and all(t["health"] == "up" and not t["lastError"] for t in active)

    def rule_groups(self):
        return self.prom.api("rules")["data"]["groups"]

    def alerts(self):
        return self.prom.api("alerts")["data"]["alerts"]

    def test_1_targets_rules_and_quiet_alerts(self):
        self.last_targets = []
        try:
            self.wait(self.targets_up, "both targets up")
        except AssertionError as e:
            raise AssertionError(f"{e}\ntargets: {json.dumps(self.last_targets, indent=1)}")
        jobs = {t["labels"]["job"]: t["scrapeUrl"] for t in self.last_targets}
        self.assertEqual(jobs, {"bitunix-gateway-marketdata": f"http://{self.md.metrics}/metrics",
                                "bitunix-gateway-orders": f"http://{self.orders.metrics}/metrics"})

        # Every group of the rule file loaded, with all its rules.
        groups = self.rule_groups()
        self.assertEqual({g["name"]: len(g["rules"]) for g in groups}, self.expected_groups)

        # Two evaluations after both targets were up: note each group's last evaluation now and
        # wait until every group has been evaluated twice more.
        def evaluated():
            return {g["name"]: g["lastEvaluation"] for g in self.rule_groups()}
        start = evaluated()
        seen = {name: 0 for name in start}
        previous = dict(start)

        def twice():
            now = evaluated()
            for name, at in now.items():
                if at != previous[name]:
                    seen[name] += 1
                    previous[name] = at
            return all(n >= 2 for n in seen.values())
        self.wait(twice, "two rule evaluations of every group", timeout=30)
        for g in self.rule_groups():
            for r in g["rules"]:
                with self.subTest(group=g["name"], rule=r["name"]):
                    self.assertEqual(r["health"], "ok", f"{r['name']}: {r.get('lastError')}")
                    self.assertFalse(r.get("lastError"), r["name"])
                    self.assertEqual(r["type"], "alerting")

        # The targets carry the labels a ServiceMonitor gives (job, namespace, service, pod,
        # endpoint): a service label of the same name would come out renamed exported_<name>, and
        # the rules and dashboard would not find it.
        names = self.prom.api("labels", **{"match[]": '{__name__=~"bitunix_.+"}'})["data"]
        self.assertIn("exchange_endpoint", names)
        self.assertEqual([n for n in names if n.startswith("exported_")], [], names)
        # Healthy sim and services: no alert pending or firing (an absent() rule may be pending
        # for a moment before the first scrape; it must clear).
        self.wait(lambda: not self.alerts(), "no active alert while healthy", timeout=30)

    def test_2_dashboard_queries_after_traffic(self):
        self.wait(self.targets_up, "both targets up")
        stop = threading.Event()
        received = []
        md_channel = grpc.insecure_channel(self.md.grpc)
        orders_channel = grpc.insecure_channel(self.orders.grpc)
        try:
            harness.wait_serving(self.md.grpc, "bitunix.marketdata.v1.MarketDataService")
            harness.wait_serving(self.orders.grpc, "bitunix.orders.v1.OrderService")
            # A Subscribe stream kept open (subscribers, queues, gateway->client latency) ...
            call = md_grpc.MarketDataServiceStub(md_channel).Subscribe(
                md_pb.SubscribeRequest(symbols=["BTCUSDT"], channels=[md_pb.CHANNEL_TRADE, md_pb.CHANNEL_ORDER_BOOK],
                                       book_depth=5), timeout=120)

            def consume():
                try:
                    for resp in call:
                        received.extend(e.WhichOneof("payload") for e in resp.events)
                        if stop.is_set():
                            break
                except grpc.RpcError:
                    pass
            reader = threading.Thread(target=consume, daemon=True)
            reader.start()
            self.wait(lambda: {"trade", "order_book"} <= set(received), "trades and books on the stream", timeout=20)

            # ... and a paper order placed with the trade token (gRPC and exchange requests, their
            # latency, rate-limit tokens, the private stream's order push).
            stub = orders_pb2_grpc.OrderServiceStub(orders_channel)

            def place(client_id):
                r = stub.PlaceOrder(
                    orders_pb2.PlaceOrderRequest(symbol="BTCUSDT", side=common_pb2.SIDE_BUY,
                                                 type=orders_pb2.ORDER_TYPE_LIMIT, qty="0.01", price="20000",
                                                 client_id=client_id),
                    metadata=(("authorization", f"Bearer {harness.Orders.TRADE_TOKEN}"),), timeout=10)
                self.assertEqual(r.result, orders_pb2.PLACE_RESULT_ACCEPTED)
            place("prom-live-1")
            # A labelled counter is made on its first event, so rate() cannot see that event (the
            # series starts at 1): once Prometheus has the series, a second order makes the
            # latency quantiles real numbers.
            self.wait(lambda: self.prom.query(
                'bitunix_orders_grpc_requests_total{method=~".*PlaceOrder",code="OK"} > 0')["data"]["result"],
                "PlaceOrder counted in Prometheus")
            place("prom-live-2")
            place_p99 = ('histogram_quantile(0.99, sum by (le) (rate(bitunix_orders_grpc_request_seconds_bucket'
                         f'{{method=~".*PlaceOrder"}}[{RATE_INTERVAL}])))')
            self.wait(lambda: [x for x in self.prom.query(place_p99)["data"]["result"]
                               if 0 < float(x["value"][1]) < 10], "a PlaceOrder latency quantile")

            # Every dashboard expression: accepted at once; with data (apart from MAY_BE_EMPTY)
            # once Prometheus has scraped the traffic's effects twice (rate() needs two samples).
            dash, targets = dashboard_targets()
            self.assertGreaterEqual(len(targets), 40, "dashboard not read")

            def evaluate():
                empty, failed = [], []
                for title, ref, expr in targets:
                    q = substitute(expr, NAMESPACE)
                    r = self.prom.query(q)
                    if r.get("status") != "success":
                        failed.append(f"{title} {ref}: {r.get('errorType')}: {r.get('error')}\n    {q}")
                    elif not r["data"]["result"]:
                        empty.append((title, ref, q))
                self.assertFalse(failed, "dashboard queries Prometheus refused:\n" + "\n".join(failed))
                return empty, [f"{t} {ref}: {q}" for t, ref, q in empty if (t, ref) not in MAY_BE_EMPTY]
            last = {}

            def all_with_data():
                last["empty"], last["unexpected"] = evaluate()
                return not last["unexpected"]
            try:
                harness.wait_for(all_with_data, timeout=20, interval=0.5, what="data in every dashboard target")
            except TimeoutError:
                self.fail("dashboard targets without data after traffic:\n" + "\n".join(last["unexpected"]))
            empty = last["empty"]
            # The list is exact: a target listed there that has data (or is gone) is a stale entry.
            stale = set(MAY_BE_EMPTY) - {(t, ref) for t, ref, _ in empty}
            self.assertFalse(stale, f"MAY_BE_EMPTY lists targets that are not (or no longer) empty: {sorted(stale)}")

            # The namespace variable's query finds the targets' namespace.
            var = next(v for v in dash["templating"]["list"] if v["name"] == "namespace")
            m = re.fullmatch(r"label_values\((.*), *(\w+)\)", var["query"]["query"])
            self.assertIsNotNone(m, var["query"])
            values = self.prom.api(f"label/{m.group(2)}/values", **{"match[]": m.group(1)})["data"]
            self.assertEqual(values, [NAMESPACE])
        finally:
            stop.set()
            md_channel.close()
            orders_channel.close()

    def test_3_upstream_outage_raises_its_alert(self):
        self.wait(self.targets_up, "both targets up")
        self.wait(lambda: self.prom.query("bitunix_md_upstream_up == 1")["data"]["result"], "feed up in Prometheus")
        # New public connections refused for a minute and the open one dropped: the feed is down.
        self.sim.control("/control/refuse_connections", {"seconds": 60})
        self.sim.control("/control/drop_connections", {"which": "public"})

        def pending(name):
            return [a for a in self.alerts() if a["labels"]["alertname"] == name]
        got = self.wait(lambda: pending("BitunixMdUpstreamDown"), "BitunixMdUpstreamDown active", timeout=30)
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["state"], "pending")   # for: 2m; pending is the condition holding
        self.assertEqual(got[0]["labels"]["instance"], self.md.metrics)
        self.assertEqual(got[0]["labels"]["severity"], "critical")
        self.assertEqual(got[0]["labels"]["namespace"], NAMESPACE)
        # The private stream was not touched: its alert stays absent.
        self.assertEqual(pending("BitunixOrdersPrivateStreamDown"), [])

        # The feed back: the alert clears.
        self.sim.control("/control/reset", {})
        self.wait(lambda: not pending("BitunixMdUpstreamDown"), "BitunixMdUpstreamDown cleared", timeout=60)
        self.assertEqual(pending("BitunixOrdersPrivateStreamDown"), [])

    def test_4_the_first_exchange_rate_limit_raises_its_alert(self):
        # BitunixOrdersExchangeRateLimited counts single events (increase() > 0, no for:). The
        # service exports every endpoint's 429/10005/10006 series at zero from the start, so the
        # process's very first 429 is an increase Prometheus can see (a series made by that 429
        # would start at 1 and never show one).
        self.wait(self.targets_up, "both targets up")
        self.wait(lambda: self.prom.query(
            'bitunix_orders_exchange_requests_total{exchange_endpoint="flash_close_position",result="http_429"} == 0'
        )["data"]["result"], "the 429 series scraped at zero")
        self.sim.control("/control/rest_faults", {"kind": "http_429", "count": 1,
                                                  "path": "/api/v1/futures/trade/flash_close_position"})
        with grpc.insecure_channel(self.orders.grpc) as channel:
            stub = orders_pb2_grpc.OrderServiceStub(channel)
            with self.assertRaises(grpc.RpcError) as refused:
                stub.FlashClosePosition(orders_pb2.FlashClosePositionRequest(position_id="no-such-position"),
                                        metadata=(("authorization", f"Bearer {harness.Orders.TRADE_TOKEN}"),),
                                        timeout=10)
            self.assertEqual(refused.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, refused.exception.details())

        def firing():
            return [a for a in self.alerts()
                    if a["labels"]["alertname"] == "BitunixOrdersExchangeRateLimited" and a["state"] == "firing"]
        got = self.wait(firing, "BitunixOrdersExchangeRateLimited firing after one 429", timeout=30)
        self.assertEqual(got[0]["labels"]["instance"], self.orders.metrics)


if __name__ == "__main__":
    unittest.main()

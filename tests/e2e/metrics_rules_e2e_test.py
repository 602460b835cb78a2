"""The alerting rules (k8s/helm/bitunix-gateway/files/prometheus-rules.yaml) watch series the real
services export: every metric a rule names is in bitunix-marketdata's or bitunix-orders' /metrics
from the first scrape, and every label value a rule matches on is one the service exports (or, for
the few that only appear after the event they count, one the service's code makes)."""
import os
import re
import unittest
import urllib.request

import yaml

import harness

RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "k8s", "helm", "bitunix-gateway", "files",
                     "prometheus-rules.yaml")

# Label values that exist only once their event happened (the series is made on first use); each
# is what the code writes: rest_client.cc ResultLabel ("http_5xx", "timeout", "network",
# "bad_reply"). The rate-limit answers (http_429, code_10005, code_10006) and the limiter's
# "refused" are exported at zero from the start (an alert counting single events needs that), so
# they are not listed here: the test requires them in the first scrape.
MADE_ON_FIRST_USE = {
    ("bitunix_orders_exchange_requests_total", "result"): {"http_5xx", "timeout", "network", "bad_reply"},
}

SELECTOR = re.compile(r"\b(bitunix_[a-z0-9_]+)(?:\{([^}]*)\})?")
MATCHER = re.compile(r'([a-z_]+)\s*(=~|=|!=|!~)\s*"([^"]*)"')
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(address):
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    series = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or line.startswith("#"):
            continue
        name = re.sub(r"_(bucket|sum|count)$", "", m.group(1)) if m.group(1).endswith(("_bucket", "_sum", "_count")) \
            else m.group(1)
        series.setdefault(name, []).append(dict(LABEL.findall(m.group(2) or "")))
    return series


def rule_selectors():
    """(alert, metric, [(label, op, value)]) for every metric selector in every rule."""
    out = []
    for group in yaml.safe_load(open(RULES))["groups"]:
        for rule in group["rules"]:
            for m in SELECTOR.finditer(rule["expr"]):
                out.append((rule["alert"], m.group(1), MATCHER.findall(m.group(2) or "")))
    return out


class AlertRulesWatchRealSeries(unittest.TestCase):
    def test_every_metric_and_label_value_in_the_rules_is_exported(self):
        with harness.Sim() as sim, harness.MarketData(sim) as md, harness.Orders(sim) as orders:
            # Both services export their gauges once they are up; wait for the orders skew
            # estimate and the market-data upstream gauge to be there.
            harness.wait_for(lambda: "bitunix_md_upstream_up" in scrape(md.metrics), what="md metrics")
            harness.wait_for(lambda: "bitunix_orders_clock_skew_seconds" in scrape(orders.metrics),
                             what="orders metrics")
            exported = scrape(md.metrics)
            exported.update(scrape(orders.metrics))
        selectors = rule_selectors()
        self.assertGreaterEqual(len({s[0] for s in selectors}), 20, "rules not read")
        for alert, metric, matchers in selectors:
            with self.subTest(alert=alert, metric=metric):
                self.assertTrue(metric in exported, f"{alert}: {metric} is not exported by either service")
                for label, op, value in matchers:
                    values = value.split("|") if op == "=~" else [value]
                    seen = {s.get(label) for s in exported[metric]}
                    later = MADE_ON_FIRST_USE.get((metric, label), set())
                    for v in values:
                        self.assertTrue(v in seen or v in later,
                                        f"{alert}: {metric}{{{label}=\"{v}\"}} is never exported (exported: {sorted(x for x in seen if x)})")


    def test_private_stream_alert_knows_whether_the_stream_runs(self):
        # BitunixOrdersPrivateStreamDown joins on bitunix_orders_private_ws_enabled: 1 with the
        # private stream (the default), 0 with --private-stream=false (no alert for a stream
        # that was never meant to run).
        def gauge(address, name):
            text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
            m = re.search(rf"^{name} (\S+)$", text, re.M)
            return float(m.group(1)) if m else None
        with harness.Sim() as sim:
            with harness.Orders(sim) as orders:
                harness.wait_for(lambda: gauge(orders.metrics, "bitunix_orders_private_ws_connected") == 1,
                                 what="private stream connected")
                self.assertEqual(gauge(orders.metrics, "bitunix_orders_private_ws_enabled"), 1)
            with harness.Orders(sim, "--private-stream=false") as orders:
                self.assertEqual(gauge(orders.metrics, "bitunix_orders_private_ws_enabled"), 0)
                self.assertEqual(gauge(orders.metrics, "bitunix_orders_private_ws_connected"), 0)


if __name__ == "__main__":
    unittest.main()

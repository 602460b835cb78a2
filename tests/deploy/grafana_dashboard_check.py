#!/usr/bin/env python3
"""Structural checks of the chart's Grafana dashboard (k8s/helm/bitunix-gateway/files/
grafana-dashboard.json); Grafana itself is not installed here. Valid JSON; unique panel ids; every
panel placed (gridPos inside the 24-column grid, no two overlapping); every panel but a row has at
least one target, each with an expr and a unique refId; a `datasource` variable of type prometheus
that every panel, target and query variable uses; range selectors all [$__rate_interval]; only the
dashboard's own variables referenced. Whether each expr evaluates and has data against the real
services: tests/e2e/prometheus_live_e2e_test.py."""
import json
import re
import sys

path = sys.argv[1]
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


dash = json.load(open(path))   # invalid JSON fails here
for key in ("title", "uid", "schemaVersion", "panels", "templating"):
    check(key in dash, f"dashboard has no {key}")

variables = {v["name"]: v for v in dash["templating"]["list"]}
ds = variables.get("datasource")
check(ds is not None and ds["type"] == "datasource" and ds["query"] == "prometheus",
      "no `datasource` variable of type datasource with query prometheus")
names = set(variables) | {"__rate_interval"}
USES_DS = {"type": "prometheus", "uid": "${datasource}"}
for v in variables.values():
    if v["type"] == "query":
        check(v.get("datasource") == USES_DS, f"variable {v['name']}: datasource is not ${{datasource}}")

panels = []


def walk(ps):
    for p in ps:
        panels.append(p)
        walk(p.get("panels", []))


walk(dash["panels"])
ids = [p.get("id") for p in panels]
check(all(isinstance(i, int) for i in ids), "a panel without an integer id")
check(len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}")

cells = {}
for p in panels:
    where = f"panel {p.get('id')} {p.get('title')!r}"
    g = p.get("gridPos")
    if not g or not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
        errors.append(f"{where}: no gridPos with integer h, w, x, y")
        continue
    check(g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, f"{where}: gridPos outside the grid {g}")
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            other = cells.setdefault((x, y), where)
            if other != where:
                errors.append(f"{where} overlaps {other} at ({x}, {y})")
                break
        else:
            continue
        break
    if p.get("type") == "row":
        check(not p.get("targets"), f"{where}: a row with targets")
        continue
    check(p.get("title"), f"{where}: no title")
    check(p.get("datasource") == USES_DS, f"{where}: datasource is not ${{datasource}}: {p.get('datasource')}")
    targets = p.get("targets") or []
    check(targets, f"{where}: no targets")
    refs = [t.get("refId") for t in targets]
    check(len(refs) == len(set(refs)) and all(refs), f"{where}: refIds missing or repeated: {refs}")
    for t in targets:
        expr = t.get("expr", "")
        check(expr.strip(), f"{where} {t.get('refId')}: no expr")
        check(t.get("datasource") == USES_DS, f"{where} {t.get('refId')}: datasource is not ${{datasource}}")
        for r in re.findall(r"\[([^\]]*)\]", expr):
            check(r == "$__rate_interval", f"{where} {t.get('refId')}: range [{r}], not [$__rate_interval]")
        for v in re.findall(r"\$\{?(\w+)", expr):
            check(v in names, f"{where} {t.get('refId')}: unknown variable ${v}")
        check(re.search(r"\bbitunix_(md|orders)_", expr), f"{where} {t.get('refId')}: reads no bitunix_ metric")

if errors:
    print("\n".join(f"{path}: {e}" for e in errors), file=sys.stderr)
    sys.exit(1)
print(f"grafana dashboard: {len(panels)} panels, structure OK", file=sys.stderr)

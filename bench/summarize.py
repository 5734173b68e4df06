#!/usr/bin/env python3
"""Summarise bench/run.sh's results.jsonl: per measurement, the median over passes, min-max,
and the ratio ferric / Ironic (or Ironic / ferric where lower is better), as Markdown."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# (name, workload, selector, metric, higher_is_better, unit)
MEASURES = [
    ("RSS idle", "rss_idle", lambda r: True, "rss_mib", False, "MiB"),
    ("GET /v1/nodes/detail, small fleet", "list_detail", lambda r: r["repeat"] and r.get("_i") == 0, "median_ms", False, "ms"),
    ("node create, concurrency 1", "create", lambda r: r["concurrency"] == 1, "per_second", True, "req/s"),
    ("node create, concurrency 8", "create", lambda r: r["concurrency"] == 8, "per_second", True, "req/s"),
    ("provision round trips (manage, provide, deploy, undeploy)", "provision", lambda r: True, "round_trips_per_second", True, "nodes/s"),
    ("inspection reports processed", "inspect", lambda r: True, "per_second", True, "reports/s"),
    ("agent heartbeats", "heartbeat", lambda r: True, "per_second", True, "req/s"),
    ("agent heartbeat p99", "heartbeat", lambda r: True, ("latency", "p99_ms"), False, "ms"),
    ("GET /v1/nodes/detail, large fleet", "list_detail", lambda r: r.get("_i") == 1, "median_ms", False, "ms"),
    ("RSS after the large fleet", "rss_after", lambda r: True, "rss_mib", False, "MiB"),
]
# Tell the two list measurements of a pass apart by order.
seen = defaultdict(int)
for r in rows:
    if r["workload"] == "list_detail":
        k = (r["label"], r["pass"])
        r["_i"] = seen[k]
        seen[k] += 1

def metric(r, m):
    return r[m[0]][m[1]] if isinstance(m, tuple) else r[m]

def stats(label, wl, sel, m):
    vals = [metric(r, m) for r in rows if r["label"] == label and r["workload"] == wl and sel(r)]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)

def fmt(s, unit):
    if s is None:
        return "-"
    med, lo, hi, n = s
    return f"{med:,.1f} {unit} ({lo:,.1f}-{hi:,.1f}, n={n})"

sizes = {r["_i"]: r["nodes"] for r in rows if r["workload"] == "list_detail"}
print("Median over passes (min-max, n passes). Last column: how many times better ferric is")
print("(throughput ratio, or Ironic / ferric for latency and memory).\n")
print("| measurement | ferric | Ironic 39 | ferric vs Ironic |")
print("|---|---|---|---|")
for name, wl, sel, m, higher, unit in MEASURES:
    if wl == "list_detail":
        i = 0 if "small" in name else 1
        name = f"GET /v1/nodes/detail, {sizes.get(i, '?')} nodes"
    f, i_ = stats("ferric", wl, sel, m), stats("ironic", wl, sel, m)
    ratio = "-"
    if f and i_ and f[0] > 0 and i_[0] > 0:
        x = f[0] / i_[0] if higher else i_[0] / f[0]
        ratio = f"{x:,.1f}x"
    print(f"| {name} | {fmt(f, unit)} | {fmt(i_, unit)} | {ratio} |")

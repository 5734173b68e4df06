#!/usr/bin/env python3
"""Summarise bench/run.sh's results.jsonl as Markdown: per measurement the median over passes,
min-max, the size it ran at, the ratio ferric vs Ironic (throughput ferric/Ironic; latency and
memory Ironic/ferric: "how many times better ferric is"), and issue 7's goal for ferric.

    summarize.py results.jsonl

The last line, "Ratios computed: K of W", counts the ratios expected (a measurement of both
servers, or of one only where the other failed) and computed.
"""
import json
import statistics
import sys

MB = 1e6 / 2**20  # MiB per MB: the goals are in MB, RSS is read in KiB

# (name in results, title, metric path, higher is better, unit, size field, goal (op, value) or None, ratio expected)
MEASURES = [
    ("rss_idle", "RSS idle", "rss_mib", False, "MiB", None, ("<", 15 * MB), True),
    ("create_c1", "node create, concurrency 1", "per_second", True, "req/s", "count", None, True),
    ("create_c1", "node create, concurrency 1, p50", "latency.p50_ms", False, "ms", "count", None, False),
    ("create_c8", "node create, concurrency 8", "per_second", True, "req/s", "count", (">", 10000), True),
    ("create_c8", "node create, concurrency 8, p50", "latency.p50_ms", False, "ms", "count", None, False),
    ("list_small", "GET /v1/nodes/detail, whole fleet (small)", "median_ms", False, "ms", "nodes", ("<", 5), True),
    ("provision", "provision round trips (manage, provide, deploy, undeploy)", "round_trips_per_second", True, "nodes/s", "count", (">", 2000), True),
    ("provision", "provision transitions", "transitions_per_second", True, "/s", "count", None, False),
    ("inspect", "inspection reports processed (/v1/continue_inspection to manageable)", "per_second", True, "reports/s", "count", (">", 2000), True),
    ("inspect", "inspection POST p50", "post_latency.p50_ms", False, "ms", "count", None, False),
    ("heartbeat", "agent heartbeats", "per_second", True, "req/s", "agents", (">", 20000), True),
    ("heartbeat", "agent heartbeat p50", "latency.p50_ms", False, "ms", "agents", None, False),
    ("heartbeat", "agent heartbeat p99", "latency.p99_ms", False, "ms", "agents", ("<", 5), True),
    ("list_large", "GET /v1/nodes/detail, whole fleet (large)", "median_ms", False, "ms", "nodes", ("<", 40), False),
    ("list_large", "GET /v1/nodes/detail, large fleet, first page of 1,000", "first_page_median_ms", False, "ms", "nodes", None, False),
    ("rss_after", "RSS after the large fleet and its listing", "rss_mib", False, "MiB", "nodes", ("<", 60 * MB), False),
    ("demo", "ferric alone: lab machines bulk-inspected (network boot, agent, hooks)", "inspected_per_second", True, "nodes/s", "nodes", None, False),
    ("demo", "ferric alone: lab enroll + manage (Redfish verify)", "enroll_and_manage_seconds", False, "s", "nodes", None, False),
    ("demo", "ferric alone: lab bulk inspection", "inspection_seconds", False, "s", "nodes", None, False),
    ("demo", "ferric alone: lab demo, total (enroll, manage, inspect, check the fleet)", "total_seconds", False, "s", "nodes", None, False),
    ("demo", "ferric alone: lab demo, peak RSS of ferric serve", "server_rss_peak_mib", False, "MiB", "nodes", None, False),
    ("demo", "ferric alone: lab demo, peak RSS of the lab (BMCs, agents)", "lab_rss_peak_mib", False, "MiB", "nodes", None, False),
    ("demo", "ferric alone: lab demo, peak open files of the lab", "lab_fds_peak", False, "fds", "nodes", None, False),
    ("power_sync", "ferric alone: one power sync run over 10,000 in-sync nodes (conductor, in-process BMCs)", "ms", False, "ms", "nodes", None, False),
    ("lab_bmcs", "ferric alone: 10,000 lab Redfish BMCs started", "start_ms", False, "ms", "nodes", None, False),
    ("lab_bmcs", "ferric alone: GET of every BMC's system over HTTP (64 at a time)", "sweep_per_second", True, "req/s", "nodes", None, False),
]

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]


def get(r, path):
    for k in path.split("."):
        if not isinstance(r, dict) or k not in r:
            return None
        r = r[k]
    return r


def size_of(label, name, field):
    """The size a measurement ran at (nodes listed, count, agents): taken from the rows."""
    if field is None:
        return None
    if name == "rss_after":
        vals = [r.get("nodes") for r in rows if r["label"] == label and r.get("name") == "list_large"]
    else:
        vals = [r.get(field) for r in rows if r["label"] == label and r.get("name") == name]
    vals = [v for v in vals if v is not None]
    return int(statistics.median(vals)) if vals else None


def stats(label, name, path):
    vals = [get(r, path) for r in rows if r["label"] == label and r.get("name") == name]
    vals = [v for v in vals if isinstance(v, (int, float))]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def fmt(s, unit, size):
    if s is None:
        return "-"
    med, lo, hi, n = s
    d = 2 if med < 10 else 1 if med < 1000 else 0
    at = f" @{size:,}" if size else ""
    return f"{med:,.{d}f} {unit} ({lo:,.{d}f}-{hi:,.{d}f}, n={n}){at}"


print("Median over passes (min-max, n = passes), @ = the size it ran at (nodes, agents or count).")
print("Ratio: how many times better ferric is (throughput ferric / Ironic; latency and memory Ironic /")
print("ferric); computed only where both measured the same thing at comparable sizes.\n")
print("| measurement | ferric | Ironic 39 | ferric vs Ironic | goal (ferric) |")
print("|---|---|---|---|---|")
computed = wanted = 0
for name, title, path, higher, unit, size_field, goal, want_ratio in MEASURES:
    wanted += want_ratio
    f, i = stats("ferric", name, path), stats("ironic", name, path)
    fs, is_ = size_of("ferric", name, size_field), size_of("ironic", name, size_field)
    if f is None and i is None:
        continue
    ratio = "-"
    if f and i and f[0] > 0 and i[0] > 0:
        x = f[0] / i[0] if higher else i[0] / f[0]
        computed += want_ratio
        ratio = f"{x:,.1f}x" if want_ratio else f"({x:,.1f}x, sizes differ)" if fs != is_ else f"{x:,.1f}x"
    g = ""
    if goal and f:
        op, v = goal
        met = f[0] < v if op == "<" else f[0] >= v
        gap = f[0] / v if op == "<" else v / f[0]
        g = f"{op} {v:,.4g} {unit}: " + ("met" if met else f"missed ({gap:,.1f}x off)")
    print(f"| {title} | {fmt(f, unit, fs)} | {fmt(i, unit, is_)} | {ratio} | {g} |")

loads = [f"{r['label']} pass {r['pass']}: {r['loadavg']}" for r in rows if r.get("workload") == "loadavg"]
if loads:
    print("\nLoad average at the start of each pass: " + "; ".join(loads))
print(f"\nRatios computed: {computed} of {wanted}")

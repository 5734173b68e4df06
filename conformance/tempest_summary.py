#!/usr/bin/env python3
"""Summarise a tempest (stestr) subunit v2 stream and check it against a baseline.

Used by run_tempest.sh; run with the tempest venv's python (needs python-subunit and
testtools, both tempest dependencies).

  tempest_summary.py --subunit FILE --json OUT.json --baseline BASELINE.txt
                     [--update-baseline] [--meta key=value ...]

Prints a human summary; the last line is exactly `N passed, N failed, N skipped`.
Exit status: 0 when every baseline test passed (or --update-baseline), 1 when a
baseline test did not pass or the stream holds no test results at all.

Test ids are normalised by dropping tempest's attribute suffix (`[id-...,negative]`),
so `pkg.mod.Class.test_x[id-1234,negative]` becomes `pkg.mod.Class.test_x`.
Class-level fixtures appear as `setUpClass (pkg.mod.Class)` (and tearDownClass).
"""

import argparse
import datetime
import json
import os
import re
import sys

import subunit
import testtools

PLUGIN_PREFIX = "ironic_tempest_plugin.tests.api.admin."
KEY_MODULES = [
    "test_api_discovery", "test_nodes", "test_nodestates", "test_ports",
    "test_ports_negative", "test_portgroups", "test_chassis", "test_drivers",
    "test_conductor",
]
PASS = {"success", "xfail"}
FAIL = {"fail", "uxsuccess"}
SKIP = {"skip"}

_SUFFIX = re.compile(r"\[[^\[\]]*\]$")
_FIXTURE = re.compile(r"^(setUpClass|tearDownClass|setUpModule|tearDownModule) "
                      r"\((.+)\)$")


def normalise(test_id):
    test_id = test_id.strip()
    m = _FIXTURE.match(test_id)
    if m:
        return "%s (%s)" % (m.group(1), _SUFFIX.sub("", m.group(2)))
    return _SUFFIX.sub("", test_id)


def module_of(test_id):
    m = _FIXTURE.match(test_id)
    dotted = m.group(2) if m else test_id
    if dotted.startswith(PLUGIN_PREFIX):
        return dotted[len(PLUGIN_PREFIX):].split(".", 1)[0]
    parts = dotted.split(".")
    # pkg.module.Class.test -> module
    return parts[-3] if len(parts) >= 3 else dotted


def _detail_text(details, name, limit):
    d = details.get(name)
    if d is None:
        return None
    try:
        text = "".join(d.iter_text())
    except Exception:  # noqa: BLE001
        try:
            text = b"".join(d.iter_bytes()).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001
            return None
    text = text.strip()
    if len(text) > limit:
        text = "..." + text[-limit:]
    return text


def read_stream(path):
    tests = {}

    def on_test(t):
        status = t.get("status")
        if status in (None, "exists", "inprogress"):
            return
        tid = normalise(t["id"])
        details = t.get("details") or {}
        reason = None
        if status in SKIP:
            reason = _detail_text(details, "reason", 500)
        elif status in FAIL:
            reason = (_detail_text(details, "traceback", 2000)
                      or _detail_text(details, "reason", 2000))
        timestamps = t.get("timestamps") or [None, None]
        dur = None
        if timestamps[0] and timestamps[1]:
            dur = (timestamps[1] - timestamps[0]).total_seconds()
        prev = tests.get(tid)
        # Same normalised id twice (should not happen): keep the worst outcome.
        if prev is not None and prev["status"] in FAIL:
            return
        tests[tid] = {"status": status, "reason": reason, "duration": dur}

    with open(path, "rb") as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            stream.run(result)
        finally:
            result.stopTestRun()
    return tests


def read_baseline(path):
    ids = []
    if not path or not os.path.exists(path):
        return ids
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                ids.append(normalise(line))
    return ids


def write_baseline(path, passed, meta):
    header = [
        "# Tempest tests that must pass against ferric (run_tempest.sh checks this list).",
        "# One normalised test id per line (tempest's [id-...] suffix stripped); '#' starts",
        "# a comment. Regenerate with: conformance/run_tempest.sh --update-baseline URL MAXV",
        "# Last generated %s against %s (max microversion %s): %d tests." % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            meta.get("baremetal_url", "?"), meta.get("max_microversion", "?"),
            len(passed)),
    ]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(header + sorted(passed)) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subunit", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--update-baseline", action="store_true")
    ap.add_argument("--meta", action="append", default=[],
                    help="key=value added to the JSON summary")
    args = ap.parse_args()

    meta = dict(kv.split("=", 1) for kv in args.meta if "=" in kv)
    for k in ("duration_s", "tempest_rc"):
        if k in meta:
            try:
                meta[k] = int(meta[k])
            except ValueError:
                pass

    tests = {}
    if os.path.exists(args.subunit) and os.path.getsize(args.subunit) > 0:
        tests = read_stream(args.subunit)

    by = {"passed": [], "failed": [], "skipped": []}
    for tid, t in tests.items():
        if t["status"] in PASS:
            by["passed"].append(tid)
        elif t["status"] in FAIL:
            by["failed"].append(tid)
        elif t["status"] in SKIP:
            by["skipped"].append(tid)
        else:
            by["failed"].append(tid)
    for v in by.values():
        v.sort()

    modules = {m: {"passed": 0, "failed": 0, "skipped": 0} for m in KEY_MODULES}
    for outcome, ids in by.items():
        for tid in ids:
            modules.setdefault(module_of(tid),
                               {"passed": 0, "failed": 0, "skipped": 0})[outcome] += 1

    baseline = read_baseline(args.baseline)
    passed_set = set(by["passed"])
    missing = [tid for tid in baseline if tid not in passed_set]
    baseline_state = {}
    for tid in missing:
        baseline_state[tid] = tests[tid]["status"] if tid in tests else "not run"

    summary = dict(meta)
    summary.update({
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "counts": {"passed": len(by["passed"]), "failed": len(by["failed"]),
                   "skipped": len(by["skipped"]), "total": len(tests)},
        "modules": {m: modules[m] for m in sorted(modules)},
        "passed": by["passed"],
        "failed": by["failed"],
        "skipped": by["skipped"],
        "skip_reasons": {tid: tests[tid]["reason"] for tid in by["skipped"]},
        "failure_details": {tid: tests[tid]["reason"] for tid in by["failed"]},
        "durations_s": {tid: tests[tid]["duration"] for tid in sorted(tests)},
        "baseline": {
            "file": args.baseline,
            "required": len(baseline),
            "not_passed": missing,
            "not_passed_status": baseline_state,
            "updated": bool(args.update_baseline),
        },
    })
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, args.json)

    # ---- human summary ----
    out = sys.stdout
    out.write("\n===== tempest summary (%s, max microversion %s) =====\n" % (
        meta.get("baremetal_url", "?"), meta.get("max_microversion", "?")))
    if by["failed"]:
        out.write("Failed (%d):\n" % len(by["failed"]))
        for tid in by["failed"]:
            reason = tests[tid]["reason"] or ""
            last = [ln for ln in reason.splitlines() if ln.strip()]
            out.write("  FAIL %s\n" % tid)
            if last:
                out.write("       %s\n" % last[-1].strip()[:200])
    if by["skipped"]:
        out.write("Skipped (%d):\n" % len(by["skipped"]))
        for tid in by["skipped"]:
            reason = (tests[tid]["reason"] or "").replace("\n", " ")
            out.write("  SKIP %s: %s\n" % (tid, reason[:160]))
    out.write("\n  %-32s %6s %6s %7s\n" % ("module", "passed", "failed", "skipped"))
    for m in KEY_MODULES + sorted(set(modules) - set(KEY_MODULES)):
        c = modules[m]
        out.write("  %-32s %6d %6d %7d\n" % (m, c["passed"], c["failed"], c["skipped"]))
    out.write("Summary JSON: %s\n" % args.json)

    rc = 0
    if not tests:
        out.write("ERROR: tempest produced no test results (see the run log)\n")
        rc = 1
    if args.update_baseline:
        if tests:
            write_baseline(args.baseline, by["passed"], meta)
            out.write("Baseline updated: %s (%d tests)\n" % (args.baseline, len(by["passed"])))
        else:
            out.write("Baseline NOT updated (no results)\n")
    else:
        if missing:
            out.write("BASELINE FAILURE: %d of %d required tests did not pass:\n"
                      % (len(missing), len(baseline)))
            for tid in missing:
                out.write("  %s [%s]\n" % (tid, baseline_state[tid]))
            rc = 1
        else:
            out.write("Baseline OK: all %d required tests passed (%s)\n"
                      % (len(baseline), args.baseline))
    out.write("%d passed, %d failed, %d skipped\n"
              % (len(by["passed"]), len(by["failed"]), len(by["skipped"])))
    out.flush()
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - keep the "last line" contract
        import traceback
        traceback.print_exc()
        print("ERROR: could not summarise the tempest results")
        print("0 passed, 0 failed, 0 skipped")
        sys.exit(3)

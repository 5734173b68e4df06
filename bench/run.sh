#!/usr/bin/env bash
# Side-by-side benchmarks of ferric and real OpenStack Ironic 39 on this machine.
#
# Usage: bench/run.sh [--quick] [--runs N] [--only ferric|ironic] [--out DIR]
#   --quick   small N (CI's short form, so the harness cannot rot); default: the full sizes
#   --runs N  passes per server, each on a fresh server and database (default 3; 1 with --quick)
# Every pass starts the server fresh, then: RSS idle; GET /v1/nodes/detail at 1,000 nodes;
# node creates at concurrency 1 and 8; provision round trips (manage, provide, deploy,
# undeploy) on fake-hardware; inspection reports at /v1/continue_inspection; agent heartbeats;
# then 10,000 nodes: list again and RSS. The load generator (crates/bench, `ferric-bench`) is a
# separate process on loopback; both share the machine's cores with the server.
# Output: one JSON line per measurement in OUT/results.jsonl, and OUT/summary.md (medians,
# min-max, ratios) printed at the end. Ironic runs from the venv conformance/setup.sh makes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
QUICK=0; RUNS=""; ONLY=""; OUT="$ROOT/bench/out"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  RUNS="${RUNS:-1}"; N_LIST=100; N_BIG=300; N_CREATE=100; N_PROV=20; N_INSP=20; N_AGENTS=20; HB_SECS=2
else
  RUNS="${RUNS:-3}"; N_LIST=1000; N_BIG=10000; N_CREATE=1000; N_PROV=500; N_INSP=500; N_AGENTS=1000; HB_SECS=10
fi
FIXTURE="${FERRIC_BENCH_FIXTURE:-$ROOT/../shared/fixtures/inspection/metal3-inspector-data-kvm-vm.json}"
mkdir -p "$OUT"; : > "$OUT/results.jsonl"
cd "$ROOT"
cargo build --release --bin ferric --bin ferric-bench >/dev/null
FERRIC="$ROOT/target/release/ferric"; BENCH="$ROOT/target/release/ferric-bench"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 600); do curl -sf "$1/" >/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; return 1; }

SERVER_PID=""; IRONIC_PORT=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; fi
  if [ -n "$IRONIC_PORT" ]; then bash conformance/ironic_reference.sh stop "$IRONIC_PORT" >/dev/null 2>&1 || true; IRONIC_PORT=""; fi
}
trap stop_server EXIT

start_server() {  # $1 = ferric|ironic; sets URL and SERVER_PID (the process whose RSS counts)
  local port; port=$(free_port)
  URL="http://127.0.0.1:$port"
  if [ "$1" = ferric ]; then
    rm -rf "$OUT/ferric-data"
    "$FERRIC" serve --data-dir "$OUT/ferric-data" --listen "127.0.0.1:$port" --inspector-listen "" > "$OUT/ferric.log" 2>&1 &
    SERVER_PID=$!
    wait_up "$URL"
  else
    IRONIC_PORT=$port
    bash conformance/ironic_reference.sh start "$port" > "$OUT/ironic-start.log" 2>&1
    SERVER_PID_IRONIC=$(cat "/tmp/ferric-ironic-ref-$port/ironic.pid")
  fi
}

m() {  # run one measurement and record it
  local label="$1" pass="$2"; shift 2
  "$BENCH" --url "$URL" --label "$label" "$@" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["pass"]=int(sys.argv[1]); print(json.dumps(d))' "$pass" | tee -a "$OUT/results.jsonl"
}

for server in ferric ironic; do
  [ -n "$ONLY" ] && [ "$ONLY" != "$server" ] && continue
  for pass in $(seq 1 "$RUNS"); do
    echo "== $server, pass $pass/$RUNS" >&2
    start_server "$server"
    pid="${SERVER_PID:-}"; [ "$server" = ironic ] && pid="$SERVER_PID_IRONIC"
    sleep 1
    m "$server" "$pass" rss --pid "$pid" >/dev/null
    sed -i '$ s/"workload": "rss"/"workload": "rss_idle"/' "$OUT/results.jsonl"
    m "$server" "$pass" list --ensure "$N_LIST" --repeat 5 >/dev/null
    m "$server" "$pass" create --count "$N_CREATE" --concurrency 1 >/dev/null
    m "$server" "$pass" create --count "$N_CREATE" --concurrency 8 >/dev/null
    m "$server" "$pass" provision --count "$N_PROV" --concurrency 8 >/dev/null
    m "$server" "$pass" inspect --count "$N_INSP" --concurrency 8 --fixture "$FIXTURE" >/dev/null
    m "$server" "$pass" heartbeat --agents "$N_AGENTS" --seconds "$HB_SECS" --concurrency 8 --fixture "$FIXTURE" >/dev/null
    m "$server" "$pass" list --ensure "$N_BIG" --repeat 5 >/dev/null
    m "$server" "$pass" rss --pid "$pid" >/dev/null
    sed -i '$ s/"workload": "rss"/"workload": "rss_after"/' "$OUT/results.jsonl"
    stop_server
  done
done
python3 "$HERE/summarize.py" "$OUT/results.jsonl" | tee "$OUT/summary.md"

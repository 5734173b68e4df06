#!/usr/bin/env bash
# Instructions per request of `ferric serve`, counted by callgrind (repeatable whatever else the
# machine is doing; this VM has no hardware counters for perf).
#
# Usage: bench/callgrind.sh heartbeat|create|inspect [SMALL LARGE]
#   Runs the workload twice, each on a fresh server under `valgrind --tool=callgrind`, with a
#   small and a large size (heartbeat: seconds of load from 20 agents; create: node count;
#   inspect: nodes, each created, managed, put in inspect wait and sent one real report), and
#   prints (Ir(large) - Ir(small)) / (ops(large) - ops(small)): the server's user-space
#   instructions per operation, start-up and idle work cancelled out. Kernel time (fsync,
#   wake-ups) is not counted. The callgrind files stay in bench/out/callgrind/ for
#   `callgrind_annotate --inclusive=yes`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; ROOT="$(cd "$HERE/.." && pwd)"
W="${1:?workload: heartbeat|create|inspect}"
case "$W" in
  heartbeat) SMALL="${2:-5}"; LARGE="${3:-20}" ;;
  create) SMALL="${2:-300}"; LARGE="${3:-1500}" ;;
  inspect) SMALL="${2:-50}"; LARGE="${3:-200}" ;;
  *) echo "unknown workload $W" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --release --bin ferric --bin ferric-bench >/dev/null 2>&1)
FIX="$ROOT/../shared/fixtures/inspection/metal3-inspector-data-kvm-vm.json"
OUT="$ROOT/bench/out/callgrind"; mkdir -p "$OUT"

one() {  # one SIZE -> "IR OPS"
  local size="$1" d="$OUT/$W-$1" port
  rm -rf "$d"; mkdir -p "$d"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf '[api]\ncallback_rate_per_minute = 0\n' > "$d/ferric.toml"
  valgrind --tool=callgrind --callgrind-out-file="$d/callgrind.out" "$CARGO_TARGET_DIR/release/ferric" serve \
    --config "$d/ferric.toml" --data-dir "$d/data" --listen "127.0.0.1:$port" --inspector-listen "" > "$d/ferric.log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
  local b=("$CARGO_TARGET_DIR/release/ferric-bench" --url "http://127.0.0.1:$port" --label ferric) line ops
  case "$W" in
    heartbeat) line=$("${b[@]}" heartbeat --agents 20 --seconds "$size" --concurrency 8 --fixture "$FIX")
               ops=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["heartbeats"])' "$line") ;;
    create) "${b[@]}" create --count "$size" --concurrency 8 >/dev/null; ops=$size ;;
    inspect) "${b[@]}" inspect --count "$size" --concurrency 8 --fixture "$FIX" >/dev/null; ops=$size ;;
  esac
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  echo "$(awk '/^summary:/ {print $2}' "$d/callgrind.out") $ops"
}
read -r IR1 N1 < <(one "$SMALL")
read -r IR2 N2 < <(one "$LARGE")
python3 - "$W" "$IR1" "$N1" "$IR2" "$N2" <<'PY'
import json, sys
w, ir1, n1, ir2, n2 = sys.argv[1], *map(int, sys.argv[2:])
per = (ir2 - ir1) / (n2 - n1)
print(json.dumps({"workload": w, "ops": [n1, n2], "instructions": [ir1, ir2], "instructions_per_op": round(per)}))
PY

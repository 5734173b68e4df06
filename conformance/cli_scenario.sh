#!/usr/bin/env bash
# Drive a Bare Metal API server with the real `baremetal` CLI (python-ironicclient 6.3.0)
# through a node's life cycle and assert, after every step, what Ironic would show.
#
# Usage: conformance/cli_scenario.sh <baremetal_url>
#   e.g. conformance/cli_scenario.sh http://127.0.0.1:6385
# Environment:
#   FERRIC_VENV_DIR         venvs (see setup.sh; the clients venv is created if missing)
#   FERRIC_CLI_WAIT         seconds for each --wait and each state poll (default 120)
#   FERRIC_CLI_TIMEOUT      hard limit for any single CLI invocation (default FERRIC_CLI_WAIT+30)
#   OS_BAREMETAL_API_VERSION  passed through (default: the CLI's "latest", negotiated down)
# Output: one PASS/FAIL line per step, then `N passed, N failed` alone on the last line.
# Exit status: 0 when every step passed, 1 otherwise, 2 on usage errors.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0" >&2; exit 2
fi
URL="${1%/}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV_DIR="${FERRIC_VENV_DIR:-$REPO/.venv-conformance}"
export FERRIC_VENV_DIR="$VENV_DIR"
[ -x "$VENV_DIR/clients/bin/baremetal" ] || "$HERE/setup.sh" clients >&2
BM="$VENV_DIR/clients/bin/baremetal"
PY="$VENV_DIR/clients/bin/python"

WAIT="${FERRIC_CLI_WAIT:-120}"
CMD_TIMEOUT="${FERRIC_CLI_TIMEOUT:-$((WAIT + 30))}"

export OS_ENDPOINT="$URL" OS_AUTH_TYPE=none
unset OS_CLOUD OS_AUTH_URL OS_TOKEN OS_USERNAME OS_PASSWORD OS_PROJECT_NAME 2>/dev/null || true

SUFFIX="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
NODE_NAME="ferric-cli-$SUFFIX"
MAC="52:54:00:$(head -c 3 /dev/urandom | od -An -tx1 | sed 's/^ //; s/ /:/g')"
NODE=""         # node UUID once created
PORT=""         # port UUID once created
NODE_DELETED=0

PASSED=0; FAILED=0; ERR=""; OUT=""
RESULTS=()

cleanup() {
  # Best effort: leave no node behind when the scenario stopped half way.
  if [ -n "$NODE" ] && [ "$NODE_DELETED" = 0 ]; then
    timeout 30 "$BM" node maintenance set "$NODE" >/dev/null 2>&1 || true
    timeout 30 "$BM" node delete "$NODE" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ---------------------------------------------------------------------------
# bm ARGS...: run the CLI, output in $OUT; on failure put a message in $ERR.
bm() {
  local rc=0
  OUT="$(timeout "$CMD_TIMEOUT" "$BM" "$@" 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ]; then
    ERR="'baremetal $*' exited $rc${OUT:+: $OUT}"
    [ "$rc" -eq 124 ] && ERR="'baremetal $*' timed out after ${CMD_TIMEOUT}s"
  fi
  return "$rc"
}

# jcheck JSON EXPR...: each EXPR is key=value (value `null`, `true`, `false`, JSON or a
# plain string); compares against the top-level JSON object. Prints mismatches.
jcheck() {
  local json="$1"; shift
  "$PY" - "$json" "$@" <<'EOF'
import json, sys
try:
    doc = json.loads(sys.argv[1])
except ValueError:
    print("not JSON: %r" % sys.argv[1][:300]); sys.exit(1)
bad = []
for expr in sys.argv[2:]:
    key, _, want = expr.partition("=")
    try:
        want_v = json.loads(want)
    except ValueError:
        want_v = want
    if key not in doc:
        bad.append("%s missing" % key)
    elif doc[key] != want_v:
        bad.append("%s=%s (expected %s)" % (key, json.dumps(doc[key]), json.dumps(want_v)))
if bad:
    print("; ".join(bad)); sys.exit(1)
EOF
}

# jfield JSON KEY: print a top-level field.
jfield() {
  "$PY" -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# expect_node EXPR...: `baremetal node show -f json` and check fields.
expect_node() {
  local msg
  bm node show -f json "$NODE" || return 1
  if ! msg="$(jcheck "$OUT" "$@")"; then ERR="node $NODE: $msg"; return 1; fi
}

# wait_node EXPR...: poll expect_node (power changes are asynchronous) up to $WAIT s.
wait_node() {
  local deadline=$(( $(date +%s) + WAIT ))
  while :; do
    expect_node "$@" && return 0
    [ "$(date +%s)" -ge "$deadline" ] && { ERR="after ${WAIT}s: $ERR"; return 1; }
    sleep 1
  done
}

# in_list JSON UUID [EXPR...]: the list (`-f json`, keys are field names) contains an
# entry whose uuid is UUID and whose fields match.
in_list() {
  "$PY" - "$@" <<'EOF'
import json, sys
rows = json.loads(sys.argv[1]); uuid = sys.argv[2]
row = next((r for r in rows if r.get("uuid") == uuid), None)
if row is None:
    print("%s not in list (%d entries)" % (uuid, len(rows))); sys.exit(1)
bad = []
for expr in sys.argv[3:]:
    key, _, want = expr.partition("=")
    try:
        want = json.loads(want)
    except ValueError:
        pass
    if row.get(key, "<missing>") != want:
        bad.append("%s=%s (expected %s)" % (key, json.dumps(row.get(key, "<missing>")), json.dumps(want)))
if bad:
    print("; ".join(bad)); sys.exit(1)
EOF
}

need_node() { [ -n "$NODE" ] || { ERR="no node (node_create failed)"; return 1; }; }

run_step() {
  local name="$1" t0 dt
  ERR=""
  t0=$(date +%s%N)
  if "step_$name"; then
    dt=$(( ($(date +%s%N) - t0) / 1000000 ))
    dt="$((dt / 1000)).$(( (dt % 1000) / 100 ))"
    PASSED=$((PASSED + 1)); RESULTS+=("PASS $name")
    echo "PASS  $name (${dt}s)"
  else
    FAILED=$((FAILED + 1)); RESULTS+=("FAIL $name")
    echo "FAIL  $name: ${ERR:-failed}"
  fi
}

# --- steps -----------------------------------------------------------------------------
step_node_create() {
  local msg
  bm node create -f json --driver fake-hardware --name "$NODE_NAME" \
    --property cpus=4 --property memory_mb=8192 --property local_gb=100 || return 1
  NODE="$(jfield "$OUT" uuid)"
  [ -n "$NODE" ] || { ERR="no uuid in: $OUT"; return 1; }
  if ! msg="$(jcheck "$OUT" driver=fake-hardware name="$NODE_NAME" provision_state=enroll \
       power_state=null maintenance=false \
       'properties={"cpus": 4, "memory_mb": 8192, "local_gb": 100}')"; then
    ERR="create response: $msg"; return 1
  fi
}

step_port_create() {
  local msg
  need_node || return 1
  bm port create -f json --node "$NODE" "$MAC" || return 1
  PORT="$(jfield "$OUT" uuid)"
  [ -n "$PORT" ] || { ERR="no uuid in: $OUT"; return 1; }
  if ! msg="$(jcheck "$OUT" address="$MAC" node_uuid="$NODE")"; then
    ERR="create response: $msg"; return 1
  fi
}

step_node_list() {
  local msg
  need_node || return 1
  bm node list -f json || return 1
  if ! msg="$(in_list "$OUT" "$NODE" name="$NODE_NAME" provision_state=enroll \
       power_state=null maintenance=false instance_uuid=null)"; then ERR="node list: $msg"; return 1; fi
}

step_node_show() {
  local msg
  need_node || return 1
  expect_node uuid="$NODE" name="$NODE_NAME" driver=fake-hardware provision_state=enroll \
    power_state=null target_provision_state=null last_error=null || return 1
  # by name too
  bm node show -f json "$NODE_NAME" || return 1
  if ! msg="$(jcheck "$OUT" uuid="$NODE")"; then ERR="show by name: $msg"; return 1; fi
}

step_manage() {
  need_node || return 1
  bm node manage --wait "$WAIT" "$NODE" || return 1
  expect_node provision_state=manageable target_provision_state=null last_error=null
}

step_inspect() {
  need_node || return 1
  bm node inspect --wait "$WAIT" "$NODE" || return 1
  expect_node provision_state=manageable target_provision_state=null last_error=null
}

step_provide() {
  need_node || return 1
  bm node provide --wait "$WAIT" "$NODE" || return 1
  expect_node provision_state=available target_provision_state=null last_error=null
}

step_power_on() {
  need_node || return 1
  bm node power on "$NODE" || return 1
  wait_node "power_state=power on" target_power_state=null last_error=null
}

step_power_off() {
  need_node || return 1
  bm node power off "$NODE" || return 1
  wait_node "power_state=power off" target_power_state=null last_error=null
}

step_deploy() {
  need_node || return 1
  bm node deploy --wait "$WAIT" "$NODE" || return 1
  expect_node provision_state=active target_provision_state=null last_error=null
}

step_undeploy() {
  need_node || return 1
  bm node undeploy --wait "$WAIT" "$NODE" || return 1
  expect_node provision_state=available target_provision_state=null last_error=null
}

step_node_list_long() {
  local msg
  need_node || return 1
  bm node list --long -f json || return 1
  if ! msg="$(in_list "$OUT" "$NODE" driver=fake-hardware name="$NODE_NAME" \
       provision_state=available "power_state=power off" maintenance=false \
       target_provision_state=null 'properties={"cpus": 4, "memory_mb": 8192, "local_gb": 100}')"; then
    ERR="node list --long: $msg"; return 1
  fi
}

step_port_list() {
  local msg
  [ -n "$PORT" ] || { ERR="no port (port_create failed)"; return 1; }
  bm port list -f json || return 1
  if ! msg="$(in_list "$OUT" "$PORT" address="$MAC")"; then ERR="port list: $msg"; return 1; fi
  bm port list -f json --node "$NODE" || return 1
  if ! msg="$(in_list "$OUT" "$PORT" address="$MAC")"; then ERR="port list --node: $msg"; return 1; fi
}

step_port_delete() {
  [ -n "$PORT" ] || { ERR="no port (port_create failed)"; return 1; }
  bm port delete "$PORT" || return 1
  if bm port show "$PORT"; then ERR="port $PORT still shown after delete"; return 1; fi
  bm port list -f json --node "$NODE" || return 1
  [ "$(echo "$OUT" | tr -d ' \n')" = "[]" ] || { ERR="node still has ports: $OUT"; return 1; }
}

step_node_delete() {
  need_node || return 1
  bm node delete "$NODE" || return 1
  NODE_DELETED=1
  if bm node show "$NODE"; then ERR="node $NODE still shown after delete"; return 1; fi
  case "$OUT" in
    *"could not be found"*|*"Not Found"*|*"404"*) ;;
    *) ERR="node show after delete did not report 'not found': $OUT"; return 1 ;;
  esac
}

# --- run -------------------------------------------------------------------------------
echo "cli_scenario: $URL (node $NODE_NAME, port $MAC, baremetal $("$BM" --version 2>&1 | tail -1))"
STEPS=(node_create port_create node_list node_show manage inspect provide power_on power_off
       deploy undeploy node_list_long port_list port_delete node_delete)
for s in "${STEPS[@]}"; do run_step "$s"; done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]

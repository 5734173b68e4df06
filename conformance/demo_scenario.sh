#!/usr/bin/env bash
# `ferric demo` end to end, then the real clients against `ferric demo --keep-running`.
#
# Usage: conformance/demo_scenario.sh FERRIC_BINARY
#   1. `ferric demo -f json` (20 simulated servers, Redfish BMCs, network boot, the real agent):
#      exit status 0, every node manageable and matching its simulated hardware.
#   2. `ferric demo --keep-running`: the `baremetal` CLI (python-ironicclient) and openstacksdk
#      list the 20 nodes, show one with its inventory, power it on and off through its BMC.
# Last line: "N passed, M failed". Needs the clients venv (conformance/setup.sh clients).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
FERRIC="${1:?usage: demo_scenario.sh FERRIC_BINARY}"
VENV="${FERRIC_VENV_DIR:-$ROOT/.venv-conformance}/clients"
PY="$VENV/bin/python"
passed=0; failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK="$(mktemp -d /tmp/ferric-demo-ci.XXXXXX)"
DEMO_PID=""
cleanup() { [ -n "$DEMO_PID" ] && kill -INT "$DEMO_PID" 2>/dev/null; sleep 1; rm -rf "$WORK"; }
trap cleanup EXIT

# 1. The demo to completion.
API=$(free_port); PXE=$(free_port)
start=$(date +%s.%N)
if timeout 300 "$FERRIC" demo -f json --listen "127.0.0.1:$API" --pxe-listen "127.0.0.1:$PXE" > "$WORK/demo.json" 2> "$WORK/demo.err"; then
  ok "ferric demo ran to completion ($(python3 -c "print(round($(date +%s.%N) - $start, 1))") s)"
else
  fail "ferric demo failed: $(tail -5 "$WORK/demo.err")"
fi
python3 - "$WORK/demo.json" <<'EOF' && ok "20 nodes manageable, each matching its simulated hardware (CPUs, RAM, disks by serial, NICs by MAC, serial)" || fail "demo results: see above"
import json, sys
d = json.load(open(sys.argv[1]))
nodes = d["nodes"]
bad = [(n["name"], n["provision_state"], n["mismatches"]) for n in nodes if n["provision_state"] != "manageable" or not n["matches"]]
if len(nodes) != 20 or bad or d["mismatched"] != 0:
    print(f"{len(nodes)} nodes; bad: {bad}")
    sys.exit(1)
profiles = {n["profile"] for n in nodes}
if len(profiles) < 3:
    print(f"only profiles {profiles}")
    sys.exit(1)
print(f"   inspection took {d['inspection_seconds']:.1f} s; profiles {sorted(profiles)}")
EOF

# 2. --keep-running, with the real clients.
API=$(free_port); PXE=$(free_port)
"$FERRIC" demo --keep-running --data-dir "$WORK/kept" --listen "127.0.0.1:$API" --pxe-listen "127.0.0.1:$PXE" > "$WORK/kept.out" 2> "$WORK/kept.err" &
DEMO_PID=$!
for _ in $(seq 1 600); do grep -q "Still running" "$WORK/kept.err" 2>/dev/null && break; sleep 0.2; done
if grep -q "Still running" "$WORK/kept.err"; then ok "ferric demo --keep-running is up"; else fail "demo --keep-running: $(tail -5 "$WORK/kept.err")"; fi
export OS_ENDPOINT="http://127.0.0.1:$API" OS_AUTH_TYPE=none
n=$("$VENV/bin/baremetal" node list -f value -c provision_state 2>&1 | grep -c '^manageable$')
[ "$n" = 20 ] && ok "baremetal node list: 20 manageable nodes" || fail "baremetal node list: $n manageable"
first=$("$VENV/bin/baremetal" node list -f value -c Name | head -1)
drv=$("$VENV/bin/baremetal" node show "$first" -f value -c driver)
[ "$drv" = redfish ] && ok "baremetal node show $first: driver redfish" || fail "driver is '$drv'"
pw=$("$VENV/bin/baremetal" node show "$first" -f json -c driver_info | python3 -c 'import json,sys; print(json.load(sys.stdin)["driver_info"].get("redfish_password"))')
[ "$pw" = "******" ] && ok "the BMC password is masked" || fail "redfish_password shown as '$pw'"
"$VENV/bin/baremetal" node inventory save "$first" --file "$WORK/inv.json" >/dev/null 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["inventory"]["cpu"]["count"] > 0 and d["inventory"]["disks"] else 1)' "$WORK/inv.json" \
  && ok "baremetal node inventory save: the agent's inventory (CPUs, disks)" || fail "inventory: $(head -c 300 "$WORK/inv.json" 2>/dev/null)"
"$VENV/bin/baremetal" node power on "$first" --power-timeout 30 >/dev/null 2>&1
st=$("$VENV/bin/baremetal" node show "$first" -f value -c power_state)
[ "$st" = "power on" ] && ok "baremetal node power on through the virtual Redfish BMC" || fail "power state '$st'"
"$VENV/bin/baremetal" node power off "$first" --power-timeout 30 >/dev/null 2>&1
st=$("$VENV/bin/baremetal" node show "$first" -f value -c power_state)
[ "$st" = "power off" ] && ok "baremetal node power off" || fail "power state '$st'"
"$PY" - "$OS_ENDPOINT" <<'EOF' && ok "openstacksdk lists the 20 nodes with their properties" || fail "openstacksdk"
import sys, openstack
conn = openstack.connect(auth_type="none", baremetal_endpoint_override=sys.argv[1], baremetal_api_version="1.96")
nodes = list(conn.baremetal.nodes(details=True))
good = [n for n in nodes if n.provision_state == "manageable" and int(n.properties.get("cpus", 0)) > 0]
if len(good) != 20:
    print(len(nodes), len(good)); sys.exit(1)
EOF
kill -INT "$DEMO_PID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DEMO_PID" 2>/dev/null; then fail "demo did not stop on Ctrl-C"; else ok "Ctrl-C stops the demo"; DEMO_PID=""; fi
if grep -q panicked "$WORK/kept.err" "$WORK/demo.err" "$WORK/kept/ferric.log" 2>/dev/null; then fail "a panic"; else ok "no panics"; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

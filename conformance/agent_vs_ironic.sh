#!/usr/bin/env bash
# Schema compatibility, measured: ferric's agent inspects THIS machine and reports to real
# OpenStack Ironic 39.0.0 (conformance/ironic_reference.sh). Ironic must accept the report at
# /v1/continue_inspection, run its own hooks over it and move the node to manageable.
#
# Usage: conformance/agent_vs_ironic.sh AGENT_BINARY [PORT]   (PORT of the reference Ironic, default 6398)
# Prints one PASS/FAIL line per check and `N passed, N failed` last; exits 1 on any failure.
set -euo pipefail
AGENT="${1:?usage: agent_vs_ironic.sh AGENT_BINARY [PORT]}"
PORT="${2:-6398}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
URL="http://127.0.0.1:$PORT"
cleanup() { bash "$HERE/ironic_reference.sh" stop "$PORT" >/dev/null 2>&1 || true; }
trap cleanup EXIT
bash "$HERE/ironic_reference.sh" start "$PORT" >/dev/null
H=(-H "X-OpenStack-Ironic-API-Version: 1.84" -H "Content-Type: application/json")
api() { curl -sS --max-time 20 "${H[@]}" "$@"; }
# The NIC this machine really has: ferric's agent reports it, Ironic looks the node up by it.
MAC="$("$AGENT" agent inventory | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["mac_address"])')"
NODE=$(api -X POST "$URL/v1/nodes" -d '{"driver":"fake-hardware","name":"ferric-agent-self","inspect_interface":"agent"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
api -X POST "$URL/v1/ports" -d "{\"address\":\"$MAC\",\"node_uuid\":\"$NODE\"}" >/dev/null
state() { api "$URL/v1/nodes/$NODE" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["provision_state"])'; }
wait_state() { for _ in $(seq 1 "$2"); do [ "$(state)" = "$1" ] && return 0; sleep 1; done; return 1; }
api -X PUT "$URL/v1/nodes/$NODE/states/provision" -d '{"target":"manage"}' >/dev/null; wait_state manageable 60
api -X PUT "$URL/v1/nodes/$NODE/states/provision" -d '{"target":"inspect"}' >/dev/null; wait_state "inspect wait" 60
# The agent posts its report, then looks the node up; once Ironic is done the node is no
# longer waiting, so the lookup gives up after its (short) timeout: that exit is expected.
timeout 60 "$AGENT" agent --cmdline /dev/null --ipa-api-url "$URL" --ipa-inspection-collectors default,pci-devices \
  --ipa-listen-port 19998 --ipa-advertise-host 127.0.0.1 --ipa-lookup-timeout 5 > /tmp/ferric-agent-vs-ironic.log 2>&1 || true
wait_state manageable 60 || true
api "$URL/v1/nodes/$NODE" > /tmp/ferric-agent-vs-ironic-node.json
api "$URL/v1/nodes/$NODE/inventory" > /tmp/ferric-agent-vs-ironic-inv.json || true
python3 - "$MAC" <<'PY'
import json, sys
mac = sys.argv[1]
node = json.load(open("/tmp/ferric-agent-vs-ironic-node.json"))
try:
    data = json.load(open("/tmp/ferric-agent-vs-ironic-inv.json"))
except Exception:
    data = {}
inv = data.get("inventory", {})
checks = [
    ("Ironic accepted and processed the report (manageable)", node["provision_state"] == "manageable", (node["provision_state"], node["last_error"])),
    ("no error recorded", node["last_error"] is None, node["last_error"]),
    ("Ironic's architecture hook set cpu_arch", node["properties"].get("cpu_arch") == "x86_64", node["properties"]),
    ("Ironic stored ferric's inventory", [i["mac_address"] for i in inv.get("interfaces", [])][:1] == [mac], inv.get("interfaces")),
    ("Ironic kept the plugin data", "pci_devices" in data.get("plugin_data", {}), sorted(data.get("plugin_data", {}))),
]
failed = 0
for name, ok, got in checks:
    print(("PASS  " if ok else "FAIL  ") + name + ("" if ok else f": got {got}"))
    failed += not ok
print(f"{len(checks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY

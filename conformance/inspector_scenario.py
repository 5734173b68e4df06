#!/usr/bin/env python3
"""The real python-ironic-inspector-client (`openstack baremetal introspection ...`) against
ferric's ironic-inspector API.

Usage: conformance/inspector_scenario.py IRONIC_URL INSPECTOR_URL
  (run with the clients venv's python: $FERRIC_VENV_DIR/clients/bin/python)

Two fake-hardware nodes with the agent inspect interface are enrolled with the real
`baremetal` CLI and made manageable; then, with the real `openstack` CLI and the inspector
client's OSC plugin (no Keystone: --os-auth-type none --inspector-url):
  introspection start (two nodes), status (waiting), the ramdisk's report posted to
  /v1/continue as IPA posts it (no version header), list (finished), data save (the stored
  inventory equals the one sent), data save --unprocessed, interface list, reprocess,
  start + abort (status error with the abort message), and errors for an unknown node.
Prints one line per check and ends with "N passed, M failed".
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

IRONIC, INSPECTOR = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/")
BIN = os.path.dirname(sys.executable)
FIXTURES = os.environ.get("FERRIC_INSPECTION_FIXTURES",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/fixtures/inspection"))
ENV = dict(os.environ, OS_AUTH_TYPE="none", OS_ENDPOINT=IRONIC, OS_BAREMETAL_API_VERSION="1.84")
for k in ("OS_CLOUD", "OS_AUTH_URL", "OS_TOKEN", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME"):
    ENV.pop(k, None)
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def run(*args, tool="openstack", ok=True):
    cmd = [os.path.join(BIN, tool)]
    if tool == "openstack":
        cmd += ["--os-auth-type", "none", "--inspector-url", INSPECTOR]
    cmd += list(args)
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    if ok and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def js(*args):
    return json.loads(run(*args, "-f", "json").stdout)


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_status(node, want, timeout=30):
    st = None
    end = time.time() + timeout
    while time.time() < end:
        st = js("baremetal", "introspection", "status", node)
        if st["state"] == want:
            return st
        time.sleep(0.2)
    return st


# Two real servers' reports, found by their BMC addresses (ports are created by inspection).
reports = {
    "insp-dell-r710": fixture("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json"),
    "insp-dell-r7615": fixture("understack-dell-r7615-node-inventory-lldp.json"),
}

uuids = {}
for name, rep in reports.items():
    run("node", "delete", name, tool="baremetal", ok=False)
    out = run("node", "create", "--driver", "fake-hardware", "--inspect-interface", "agent", "--name", name,
              "--driver-info", f"ipmi_address={rep['inventory']['bmc_address']}", "-f", "value", "-c", "uuid",
              tool="baremetal").stdout.strip()
    uuids[name] = out
    run("node", "manage", name, "--wait", "30", tool="baremetal")
names = list(reports)

# rules: import a file of inspector rules, list, show
import tempfile
rules = [{"description": "ferric conformance: tag every machine with 2+ CPUs",
          "conditions": [{"op": "ge", "field": "data://inventory.cpu.count", "value": 2}],
          "actions": [{"action": "set-attribute", "path": "/extra/tagged_by", "value": "inspector-rule"},
                      {"action": "set-capability", "name": "conformance", "value": "yes"}]}]
run("baremetal", "introspection", "rule", "purge")
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump(rules, f)
imported = js("baremetal", "introspection", "rule", "import", f.name)
check("rule import creates the rule", len(imported) == 1 and imported[0]["Description"] == rules[0]["description"], imported)
listed = js("baremetal", "introspection", "rule", "list")
check("rule list shows it", [r["UUID"] for r in listed] == [imported[0]["UUID"]], listed)
shown = js("baremetal", "introspection", "rule", "show", imported[0]["UUID"])
check("rule show has its conditions and actions", shown["actions"] == rules[0]["actions"]
      and shown["conditions"][0]["field"] == "data://inventory.cpu.count", shown)

# start (several nodes at once) and status
run("baremetal", "introspection", "start", *names)
for n in names:
    st = js("baremetal", "introspection", "status", n)
    check(f"status {n} waiting after start", st["state"] == "waiting" and st["finished"] is False
          and st["uuid"] == uuids[n], st)
lst = js("baremetal", "introspection", "list")
check("list shows both nodes waiting", sorted(r["UUID"] for r in lst) == sorted(uuids.values())
      and all(r["Finished at"] is None and r["Started at"] for r in lst), lst)

# the ramdisk's reports, as IPA posts them (no version header)
for n in names:
    code, body = post(f"{INSPECTOR}/v1/continue", reports[n])
    check(f"continue {n} -> 200 with the node's uuid", code == 200 and body == {"uuid": uuids[n]}, (code, body))
for n in names:
    st = wait_status(n, "finished")
    check(f"status {n} finished", st and st["finished"] is True and st["error"] is None, st)
    node = json.loads(run("node", "show", n, "-f", "json", tool="baremetal").stdout)
    check(f"{n} manageable with cpu_arch", node["provision_state"] == "manageable"
          and node["properties"].get("cpu_arch") == reports[n]["inventory"]["cpu"]["architecture"], node["last_error"])

    check(f"{n}: the imported rule was applied", node["extra"].get("tagged_by") == "inspector-rule"
          and "conformance:yes" in (node["properties"].get("capabilities") or ""), (node["extra"], node["properties"].get("capabilities")))

# data save: the stored data has the inventory that was sent
n0 = names[0]
data = json.loads(run("baremetal", "introspection", "data", "save", n0).stdout)
check("data save returns the inventory sent", data.get("inventory") == reports[n0]["inventory"], list(data)[:10])
check("data save has the processed interfaces", isinstance(data.get("all_interfaces"), dict) and data["all_interfaces"], list(data))
raw = json.loads(run("baremetal", "introspection", "data", "save", "--unprocessed", n0).stdout)
sent = {k: v for k, v in reports[n0].items() if k != "logs"}
check("data save --unprocessed returns the report as sent", raw == sent, sorted(set(raw) ^ set(sent)))
ifaces = js("baremetal", "introspection", "interface", "list", n0)
macs = sorted(i["MAC Address"] for i in ifaces)
want = sorted(i["mac_address"].lower() for i in reports[n0]["inventory"]["interfaces"] if i.get("mac_address"))
check("interface list shows the reported NICs", macs and set(macs) <= set(want), (macs, want))

# reprocess
run("baremetal", "introspection", "reprocess", n0)
st = wait_status(n0, "finished")
check("reprocess leaves the node finished", st["state"] == "finished", st)

# start again, then abort
run("baremetal", "introspection", "start", n0)
check("status waiting after the second start", wait_status(n0, "waiting")["state"] == "waiting")
run("baremetal", "introspection", "abort", n0)
st = wait_status(n0, "error")
check("abort: status error with the abort message", st["state"] == "error" and st["finished"] is True
      and st["error"] == "Inspection was aborted by request.", st)

# errors for an unknown node: a clear message, non-zero exit
p = run("baremetal", "introspection", "status", "no-such-node", ok=False)
check("status of an unknown node fails clearly", p.returncode != 0 and "was not found" in p.stderr, p.stderr.strip())
p = run("baremetal", "introspection", "start", "no-such-node", ok=False)
check("start of an unknown node fails clearly", p.returncode != 0 and "was not found" in p.stderr, p.stderr.strip())

run("baremetal", "introspection", "rule", "purge")
check("rule purge removes every rule", js("baremetal", "introspection", "rule", "list") == [])
for n in names:
    run("node", "delete", n, tool="baremetal", ok=False)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

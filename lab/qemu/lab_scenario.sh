#!/usr/bin/env bash
# The lab's QEMU mode end to end: `ferric demo --qemu 2` runs two real QEMU VMs (TCG) behind
# ferric's virtual Redfish BMCs; they network-boot through their NIC's iPXE ROM from ferric's
# boot server, run the static agent in the ramdisk, and are inspected through the public API
# with the redfish driver. Then the real `baremetal` CLI drives a VM's power through its BMC,
# which maps onto QEMU processes and QMP.
#
# Every expected value comes from what QEMU was really started with (the command lines
# recorded in <work>/<vm>.argv.jsonl, the disk images' sizes from qemu-img), never from ferric.
#
# Usage: lab/qemu/lab_scenario.sh FERRIC_BINARY
# The VMs' DHCP boot file is boot.ipxe on ferric's TFTP (`--tftp-listen`); without it (the
# README's example) it is the HTTP boot server's /boot.ipxe: the rest is the same.
# Builds what it needs: QEMU (lab/qemu/setup.sh), the musl agent, the ramdisk. Needs the clients
# venv (conformance/setup.sh clients). Last line: "N passed, M failed"; exits 1 on a failure.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
FERRIC="${1:?usage: lab_scenario.sh FERRIC_BINARY}"
VENV="${FERRIC_VENV_DIR:-$REPO/.venv-conformance}/clients"
BM="$VENV/bin/baremetal"
passed=0; failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK="$(mktemp -d /tmp/ferric-qemu-lab.XXXXXX)"
DEMO_PID=""
cleanup() {
  [ -n "$DEMO_PID" ] && kill -INT "$DEMO_PID" 2>/dev/null && sleep 3
  pkill -f "qemu-system-x86_64.*$WORK" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

set -e
bash "$HERE/setup.sh" >/dev/null
rustup target list --installed | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl >/dev/null
(cd "$REPO" && cargo build --release --target x86_64-unknown-linux-musl -p ferric-agent --bin ferric-agent 2>&1 | tail -1)
AGENT="${CARGO_TARGET_DIR:-$REPO/target}/x86_64-unknown-linux-musl/release/ferric-agent"
bash "$REPO/lab/ramdisk/build.sh" "$AGENT" "$WORK/rd" >/dev/null
set +e

API=$(free_port); PXE=$(free_port); TFTP=$(free_port)
start=$(date +%s)
"$FERRIC" demo --qemu 2 --kernel "$WORK/rd/vmlinuz" --ramdisk "$WORK/rd/initramfs.gz" --data-dir "$WORK/d" \
  --listen "127.0.0.1:$API" --pxe-listen "127.0.0.1:$PXE" --tftp-listen "127.0.0.1:$TFTP" --keep-running --timeout 400 -f json > "$WORK/demo.json" 2> "$WORK/demo.err" &
DEMO_PID=$!
for _ in $(seq 1 2100); do
  grep -q "Still running" "$WORK/demo.err" 2>/dev/null && break
  kill -0 "$DEMO_PID" 2>/dev/null || break
  sleep 0.2
done
took=$(( $(date +%s) - start ))
if grep -q "Still running" "$WORK/demo.err"; then
  ok "ferric demo --qemu 2: two VMs enrolled, managed and inspected in $took s"
else
  fail "ferric demo --qemu 2 did not finish: $(tail -5 "$WORK/demo.err")"
  for c in "$WORK"/d/qemu/*.console.log; do echo "--- $c"; tail -c 3000 "$c"; done
  echo "$passed passed, $((failed)) failed"; exit 1
fi

export OS_ENDPOINT="http://127.0.0.1:$API" OS_AUTH_TYPE=none
# The inventories as ferric stored them, through the API.
for name in $(python3 -c 'import json,sys; print(" ".join(n["name"] for n in json.load(open(sys.argv[1]))["nodes"]))' "$WORK/demo.json"); do
  curl -sS -H "X-OpenStack-Ironic-API-Version: 1.96" "$OS_ENDPOINT/v1/nodes/$name" > "$WORK/$name.node.json"
  curl -sS -H "X-OpenStack-Ironic-API-Version: 1.96" "$OS_ENDPOINT/v1/nodes/$name/inventory" > "$WORK/$name.inv.json"
  for img in "$WORK"/d/qemu/"$name"-*.qcow2; do
    qemu-img info --force-share --output=json "$img" > "$img.info.json"
  done
done

(python3 - "$WORK" "$PXE" "$TFTP" <<'PY'
import glob, json, os, re, sys
work, pxe, tftp = sys.argv[1], sys.argv[2], sys.argv[3]
demo = json.load(open(f"{work}/demo.json"))
passed = failed = 0
def check(what, cond, got=""):
    global passed, failed
    print(("ok - " if cond else "FAIL - ") + what + ("" if cond else f": {got}"))
    passed, failed = passed + bool(cond), failed + (not cond)

def opts(s):
    # QEMU's key=value,... with ",," for a literal comma.
    out, parts = {}, re.split(r"(?<!,),(?!,)", s)
    for p in parts:
        k, _, v = p.partition("=")
        out[k] = v.replace(",,", ",")
    return out

check("two nodes in the fleet table, both matching their hardware", len(demo["nodes"]) == 2 and demo["mismatched"] == 0, demo["nodes"])
for n in demo["nodes"]:
    name = n["name"]
    argv = json.loads(open(f"{work}/d/qemu/{name}.argv.jsonl").readline())
    pairs = list(zip(argv, argv[1:]))
    flag = lambda f: [b for a, b in pairs if a == f]
    smbios = {opts(s)["type"]: opts(s) for s in flag("-smbios")}
    devices = [opts(d) | {"_model": d.split(",")[0]} for d in flag("-device")]
    drives = {opts(d)["id"]: opts(d)["file"] for d in flag("-drive")}
    size = lambda f: json.load(open(f + ".info.json"))["virtual-size"]
    node = json.load(open(f"{work}/{name}.node.json"))
    inv = json.load(open(f"{work}/{name}.inv.json"))["inventory"]
    sv = inv["system_vendor"]
    check(f"{name}: manageable, powered off", (node["provision_state"], node["power_state"]) == ("manageable", "power off"), (node["provision_state"], node["power_state"]))
    check(f"{name}: driver redfish, inspected in band", node["driver"] == "redfish" and node["inspect_interface"] == "agent", (node["driver"], node["inspect_interface"]))
    t1 = smbios["1"]
    # IPA's product_name carries the SKU in parentheses, as lshw's `product` does.
    check(f"{name}: SMBIOS serial, manufacturer, product (SKU) as QEMU's -smbios type=1",
          (sv["serial_number"], sv["manufacturer"], sv["product_name"]) == (t1["serial"], t1["manufacturer"], f'{t1["product"]} ({t1["sku"]})'), (sv, t1))
    t0 = smbios["0"]
    check(f"{name}: firmware vendor and version as -smbios type=0", (sv["firmware"]["vendor"], sv["firmware"]["version"]) == (t0["vendor"], t0["version"]), sv["firmware"])
    check(f"{name}: CPU count = -smp", inv["cpu"]["count"] == int(flag("-smp")[0]) == node["properties"].get("cpus"), (inv["cpu"]["count"], flag("-smp")))
    mem = int(flag("-m")[0])
    check(f"{name}: memory physical_mb = -m {mem}", inv["memory"]["physical_mb"] == mem == node["properties"].get("memory_mb"), inv["memory"])
    want_disks = {d["serial"]: (size(drives[d["drive"]]), d.get("model")) for d in devices if d["_model"] in ("ide-hd", "nvme")}
    got_disks = {d["serial"]: (d["size"], d["model"] if want_disks.get(d["serial"], (0, 0))[1] is not None else None) for d in inv["disks"]}
    check(f"{name}: disks by serial with the images' sizes (and the SATA model)", got_disks == want_disks, (got_disks, want_disks))
    drv = {"virtio-net-pci": "virtio_net", "e1000": "e1000"}
    want_nics = sorted((d["mac"], drv[d["_model"]]) for d in devices if d["_model"] in drv)
    got_nics = sorted((i["mac_address"], i["driver"]) for i in inv["interfaces"])
    check(f"{name}: NICs by MAC and driver", got_nics == want_nics, (got_nics, want_nics))
    boot_mac = next(d["mac"] for d in devices if "bootindex" in d and d["_model"] in drv)
    check(f"{name}: the PXE interface is the NIC that network-booted", inv["boot"]["pxe_interface"].replace("01-", "", 1).replace("-", ":") == boot_mac, inv["boot"])
    con = open(f"{work}/d/qemu/{name}.console.log", errors="replace").read()
    hy = boot_mac.replace(":", "-")
    check(f"{name}: iPXE fetched boot.ipxe over ferric's TFTP, then the per-MAC script, kernel and ramdisk over HTTP",
          f"tftp://10.0.2.2:{tftp}/boot.ipxe... ok" in con and all(f"http://10.0.2.2:{pxe}/{p}... ok" in con for p in (f"ipxe/{hy}", "images/kernel", "images/ramdisk")),
          [l for l in con.splitlines() if "10.0.2.2" in l][:6])
print(f"{passed} passed, {failed} failed")
PY
) | tee "$WORK/checks.log"
p=$(tail -1 "$WORK/checks.log" | awk '{print $1}'); f=$(tail -1 "$WORK/checks.log" | awk '{print $3}')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))

# Power through the BMC: QEMU processes and QMP.
vm=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][0]["name"])' "$WORK/demo.json")
qpid() { pgrep -f "qemu-system-x86_64.* -name $vm " | head -1; }
boots() { grep -ac "SeaBIOS (version" "$WORK/d/qemu/$vm.console.log"; }
# The BMC answers at once; QEMU starts or stops right after: wait (at most 15 s) for a pid
# other than $1 ("" for any).
new_pid() { local p; for _ in $(seq 1 75); do p=$(qpid); [ -n "$p" ] && [ "$p" != "$1" ] && { echo "$p"; return; }; sleep 0.2; done; }
[ -z "$(qpid)" ] && ok "after inspection no QEMU process runs for $vm (powered off through the BMC: QMP quit)" || fail "$vm's QEMU still runs: $(qpid)"
"$BM" node power on "$vm" --power-timeout 60 >/dev/null 2>&1
p1=$(new_pid "")
last=$(tail -1 "$WORK/d/qemu/$vm.argv.jsonl")
[ -n "$p1" ] && [ "$("$BM" node show "$vm" -f value -c power_state)" = "power on" ] && echo "$last" | grep -q 'ide-hd[^"]*bootindex=1' \
  && ok "baremetal node power on: QEMU started (pid $p1), booting its disk" || fail "power on: pid '$p1', argv $last"
b1=$(boots)
"$BM" node reboot "$vm" --power-timeout 60 >/dev/null 2>&1
for _ in $(seq 1 75); do [ "$(boots)" -gt "$b1" ] && break; sleep 0.2; done
p2=$(qpid)
[ "$p2" = "$p1" ] && [ "$(boots)" -gt "$b1" ] && ok "baremetal node reboot: QMP system_reset, the same process booted again" || fail "reboot: pid $p1 -> '$p2', boots $b1 -> $(boots)"
"$BM" node boot device set "$vm" pxe >/dev/null 2>&1
"$BM" node reboot "$vm" --power-timeout 60 >/dev/null 2>&1
p3=$(new_pid "$p1")
last=$(tail -1 "$WORK/d/qemu/$vm.argv.jsonl")
[ -n "$p3" ] && [ "$p3" != "$p1" ] && echo "$last" | grep -q 'virtio-net-pci[^"]*bootindex=1' \
  && ok "boot device pxe + reboot: a new QEMU process (pid $p3) with the NIC bootable" || fail "pxe reboot: pid $p1 -> '$p3', argv $last"
"$BM" node power off "$vm" --power-timeout 60 >/dev/null 2>&1
for _ in $(seq 1 75); do [ -z "$(qpid)" ] && break; sleep 0.2; done
[ -z "$(qpid)" ] && [ "$("$BM" node show "$vm" -f value -c power_state)" = "power off" ] && ok "baremetal node power off: the QEMU process is gone" || fail "power off: pid '$(qpid)'"

kill -INT "$DEMO_PID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DEMO_PID" 2>/dev/null && fail "the demo did not stop on Ctrl-C" || ok "Ctrl-C stops the demo"
DEMO_PID=""
[ -z "$(pgrep -f "qemu-system-x86_64.*$WORK")" ] && ok "no QEMU process left behind" || fail "QEMU processes left: $(pgrep -f "qemu-system-x86_64.*$WORK")"

# `ferric lab --qemu` alone: the VMs' BMCs answer, nothing runs until a BMC powers a VM on.
"$FERRIC" lab --qemu 1 --qemu-work "$WORK/lab" -f json > "$WORK/lab.json" 2> "$WORK/lab.err" &
LAB_PID=$!
addr=""
for _ in $(seq 1 50); do
  addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["driver_info"]["redfish_address"])' "$WORK/lab.json" 2>/dev/null) && [ -n "$addr" ] && break; sleep 0.2
done
sys=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["driver_info"]["redfish_system_id"])' "$WORK/lab.json" 2>/dev/null)
st=$(curl -s -u admin:password "$addr$sys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["PowerState"])' 2>/dev/null)
[ "$st" = "Off" ] && [ -z "$(pgrep -f "qemu-system-x86_64.*$WORK/lab")" ] && ok "ferric lab --qemu 1: its BMC at $addr reads Off, no VM runs" || fail "ferric lab --qemu: BMC '$addr' state '$st'"
kill -INT "$LAB_PID" 2>/dev/null; wait "$LAB_PID" 2>/dev/null

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# End to end on real (emulated) hardware: a QEMU VM with a known identity boots ferric's ramdisk
# (direct kernel boot), ferric's static agent inspects the VM and reports to a running ferric,
# and the node's stored inventory must match the VM's definition exactly.
#
# Usage: lab/qemu/inspect_e2e.sh URL   (a ferric listening on 127.0.0.1; slirp maps 10.0.2.2 to it)
# Builds what it needs: QEMU (lab/qemu/setup.sh), the musl agent, the ramdisk.
# Prints one PASS/FAIL line per check and `N passed, N failed` last; exits 1 on any failure.
set -euo pipefail
URL="${1:?usage: inspect_e2e.sh URL}"
PORT="${URL##*:}"; PORT="${PORT%%/*}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="$(mktemp -d)"
QEMU_PID=""
cleanup() { [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

bash "$HERE/setup.sh" >/dev/null
rustup target list --installed | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl >/dev/null
(cd "$REPO" && cargo build --release --target x86_64-unknown-linux-musl -p ferric-agent --bin ferric-agent 2>&1 | tail -1)
AGENT="${CARGO_TARGET_DIR:-$REPO/target}/x86_64-unknown-linux-musl/release/ferric-agent"
bash "$REPO/lab/ramdisk/build.sh" "$AGENT" "$WORK/rd" >/dev/null

MAC=52:54:00:e2:e0:01
MAC2=52:54:00:e2:e0:02
SERIAL="FERRIC-E2E-$(date +%s)"
DISK_SERIAL=DISK-E2E-01
DISK2_SERIAL=DISK-E2E-02
MEM_MB=768
H=(-H "X-OpenStack-Ironic-API-Version: latest" -H "Content-Type: application/json")
api() { curl -sS --max-time 10 "${H[@]}" "$@"; }
NAME="e2e-vm-$(date +%s)"
NODE=$(api -X POST "$URL/v1/nodes" -d "{\"driver\":\"fake-hardware\",\"name\":\"$NAME\",\"inspect_interface\":\"agent\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
api -X POST "$URL/v1/ports" -d "{\"address\":\"$MAC\",\"node_uuid\":\"$NODE\"}" >/dev/null
state() { api "$URL/v1/nodes/$NODE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["provision_state"])'; }
wait_state() { for _ in $(seq 1 "$2"); do [ "$(state)" = "$1" ] && return 0; sleep 1; done; return 1; }
api -X PUT "$URL/v1/nodes/$NODE/states/provision" -d '{"target":"manage"}' >/dev/null; wait_state manageable 30
api -X PUT "$URL/v1/nodes/$NODE/states/provision" -d '{"target":"inspect"}' >/dev/null; wait_state "inspect wait" 30

qemu-img create -f qcow2 "$WORK/disk.qcow2" 2G >/dev/null
qemu-img create -f qcow2 "$WORK/disk2.qcow2" 5G >/dev/null
start=$(date +%s)
timeout 300 qemu-system-x86_64 -accel tcg -m "$MEM_MB" -smp 1 -nographic -no-reboot \
  -kernel "$WORK/rd/vmlinuz" -initrd "$WORK/rd/initramfs.gz" \
  -append "console=ttyS0 panic=-1 ipa-api-url=http://10.0.2.2:$PORT ipa-inspection-collectors=default BOOTIF=01-${MAC//:/-}" \
  -smbios "type=1,manufacturer=Ferric,product=E2E-Server,serial=$SERIAL" \
  -drive "file=$WORK/disk.qcow2,if=none,id=d0" -device "virtio-blk-pci,drive=d0,serial=$DISK_SERIAL" \
  -device ahci,id=ahci0 -drive "file=$WORK/disk2.qcow2,if=none,id=d1" \
  -device "ide-hd,bus=ahci0.0,drive=d1,serial=$DISK2_SERIAL,model=FERRIC E2E SATA,rotation_rate=1" \
  -netdev user,id=n0 -device "virtio-net-pci,netdev=n0,mac=$MAC" \
  -netdev user,id=n1,restrict=on,ipv6=off,net=10.0.3.0/24 -device "e1000,netdev=n1,mac=$MAC2" > "$WORK/console.log" 2>&1 &
QEMU_PID=$!
ok=0; wait_state manageable 240 && ok=1
took=$(( $(date +%s) - start ))
kill "$QEMU_PID" 2>/dev/null || true; QEMU_PID=""
if [ "$ok" != 1 ]; then
  echo "FAIL  inspection did not finish in 240 s (state: $(state))"; tail -30 "$WORK/console.log"; echo "0 passed, 1 failed"; exit 1
fi
api -H "X-OpenStack-Ironic-API-Version: 1.84" "$URL/v1/nodes/$NODE/inventory" > "$WORK/inv.json"
api "$URL/v1/nodes/$NODE" > "$WORK/node.json"
python3 - "$WORK/inv.json" "$WORK/node.json" "$SERIAL" "$DISK_SERIAL" "$MAC" "$MEM_MB" "$took" "$DISK2_SERIAL" "$MAC2" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))["inventory"]; node = json.load(open(sys.argv[2]))
serial, disk_serial, mac, mem_mb, took = sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7]
disk2_serial, mac2 = sys.argv[8], sys.argv[9]
nics = {i["mac_address"]: i for i in inv["interfaces"]}
checks = [
    ("node manageable", node["provision_state"] == "manageable", node["provision_state"]),
    ("node powered off", node["power_state"] == "power off", node["power_state"]),
    ("cpu_arch property", node["properties"].get("cpu_arch") == "x86_64", node["properties"]),
    ("SMBIOS serial", inv["system_vendor"]["serial_number"] == serial, inv["system_vendor"]),
    ("SMBIOS manufacturer/product", (inv["system_vendor"]["manufacturer"], inv["system_vendor"]["product_name"]) == ("Ferric", "E2E-Server"), inv["system_vendor"]),
    ("CPU count", inv["cpu"]["count"] == 1, inv["cpu"]["count"]),
    ("memory physical_mb", inv["memory"]["physical_mb"] == mem_mb, inv["memory"]),
    ("disks: size, serial, model, rotational", [(d["name"], d["size"], d["serial"], d["model"], d["rotational"]) for d in inv["disks"]]
        == [("/dev/sda", 5 * 1024**3, disk2_serial, "FERRIC E2E SATA", False), ("/dev/vda", 2 * 1024**3, disk_serial, None, True)], inv["disks"]),
    ("NICs: MACs and drivers", sorted((m, i["driver"]) for m, i in nics.items()) == [(mac, "virtio_net"), (mac2, "e1000")], inv["interfaces"]),
    ("second NIC's DHCP address", nics.get(mac2, {}).get("ipv4_address") == "10.0.3.15", nics.get(mac2)),
    ("PXE interface", inv["boot"]["pxe_interface"].replace("01-", "", 1).replace("-", ":") == mac, inv["boot"]),
]
failed = 0
for name, ok, got in checks:
    print(("PASS  " if ok else "FAIL  ") + name + ("" if ok else f": got {got}"))
    failed += not ok
print(f"(inspection took {took} s from QEMU start under TCG)")
print(f"{len(checks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY

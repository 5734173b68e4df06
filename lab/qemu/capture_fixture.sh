#!/usr/bin/env bash
# Capture the fixture tree of a QEMU VM with a known identity: SMBIOS types 0-3, 3 CPUs,
# 1536 MiB, three disks on three buses (virtio-blk, scsi-hd on virtio-scsi, SATA on AHCI) and
# three NICs (virtio-net, e1000, e1000e) with fixed MACs, each on its own slirp network (DHCP
# gives 10.0.2.15, 10.0.3.15, 10.0.4.15; no IPv6, whose autoconfiguration would race the capture). The VM boots ferric's ramdisk with
# `ferric.capture=/dev/ttyS1`: its /init runs `ferric agent capture` and writes the tree to the
# second serial port, then powers off. The tree lands in crates/agent/tests/fixtures/qemu-vm
# (or OUT_DIR), which tests/hardware.rs `qemu_vm_fixture` reads with exact expectations.
#
# Usage: lab/qemu/capture_fixture.sh [OUT_DIR]
# Needs root (QEMU and the ramdisk's tools install with apt; lab/qemu/setup.sh). TCG only.
# The VM's definition below is what the test asserts: change both together. Values that differ
# between boots (the CPU's MHz, meminfo's MemTotal, the kernel's build) are asserted from the
# tree itself; re-running this script and the test shows what else moved.
# Under TCG on 2 cores the VM takes ~20 s (plus the agent's musl build and the ramdisk).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$REPO/crates/agent/tests/fixtures/qemu-vm}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
WORK="$(mktemp -d)"
QEMU_PID=""
cleanup() { [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

bash "$HERE/setup.sh" >/dev/null
rustup target list --installed | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl >/dev/null
(cd "$REPO" && cargo build --release --target x86_64-unknown-linux-musl -p ferric-agent --bin ferric-agent 2>&1 | tail -1)
AGENT="$TARGET/x86_64-unknown-linux-musl/release/ferric-agent"
bash "$REPO/lab/ramdisk/build.sh" "$AGENT" "$WORK/rd" >/dev/null

# Sparse raw disks: nothing is written to them.
truncate -s 2G "$WORK/vda.raw"
truncate -s 6G "$WORK/sda.raw"
truncate -s 3G "$WORK/sdb.raw"

timeout 300 qemu-system-x86_64 -accel tcg -cpu qemu64 -m 1536 -smp cpus=3,sockets=1,cores=3,threads=1 \
  -display none -monitor none -no-reboot \
  -serial "file:$WORK/console.log" -serial "file:$WORK/capture.txt" \
  -kernel "$WORK/rd/vmlinuz" -initrd "$WORK/rd/initramfs.gz" \
  -append "console=ttyS0 panic=-1 ferric.capture=/dev/ttyS1 BOOTIF=01-52-54-00-f0-00-01" \
  -smbios "type=0,vendor=Ferric Firmware,version=FW-1.2.3,date=03/14/2024,release=1.2" \
  -smbios "type=1,manufacturer=Ferric Labs,product=FX-3000,version=rev-A,serial=FX3K-0042,uuid=5d1c0b7e-1c8a-4d7e-9f3a-0e2b6c4d8a10,sku=FX3K-SKU-7,family=FX" \
  -smbios "type=2,manufacturer=Ferric Labs,product=FX-Board,version=B1,serial=BRD-7788,asset=BRD-ASSET" \
  -smbios "type=3,manufacturer=Ferric Labs,version=C1,serial=CHS-5566,asset=CHS-ASSET,sku=CHS-SKU" \
  -drive "file=$WORK/vda.raw,format=raw,if=none,id=d0" \
  -device "virtio-blk-pci,drive=d0,serial=FERRIC-VBLK-0001,logical_block_size=512,physical_block_size=4096" \
  -device virtio-scsi-pci,id=scsi0 \
  -drive "file=$WORK/sda.raw,format=raw,if=none,id=d1" \
  -device "scsi-hd,bus=scsi0.0,drive=d1,serial=FERRIC-SCSI-0002,wwn=0x5000c500a1b2c3d4,rotation_rate=7200" \
  -device ahci,id=ahci0 \
  -drive "file=$WORK/sdb.raw,format=raw,if=none,id=d2" \
  -device "ide-hd,bus=ahci0.0,drive=d2,serial=FERRIC-SATA-0003,model=FERRIC SATA SSD,rotation_rate=1" \
  -netdev user,id=n0,restrict=on,ipv6=off,net=10.0.2.0/24 -device virtio-net-pci,netdev=n0,mac=52:54:00:f0:00:01 \
  -netdev user,id=n1,restrict=on,ipv6=off,net=10.0.3.0/24 -device e1000,netdev=n1,mac=52:54:00:f0:00:02 \
  -netdev user,id=n2,restrict=on,ipv6=off,net=10.0.4.0/24 -device e1000e,netdev=n2,mac=52:54:00:f0:00:03 &
QEMU_PID=$!
rc=0; wait "$QEMU_PID" || rc=$?
QEMU_PID=""
if ! grep -q FERRIC-CAPTURE-END "$WORK/capture.txt" 2>/dev/null; then
  echo "capture_fixture.sh: no capture from the VM (qemu exit $rc); console:" >&2
  tail -40 "$WORK/console.log" >&2
  exit 1
fi
tr -d '\r' < "$WORK/capture.txt" | sed -n '/FERRIC-CAPTURE-BEGIN/,/FERRIC-CAPTURE-END/p' | sed '1d;$d' \
  | base64 -d | gunzip > "$WORK/capture.tar"
rm -rf "$OUT" && mkdir -p "$OUT"
tar -xf "$WORK/capture.tar" -C "$OUT"
# git keeps no empty directories: drop them here too, so the tree tested is the tree committed.
find "$OUT" -mindepth 1 -type d -empty -delete
# Keep the committed tree small: no file over 64 KiB is taken; report the biggest.
echo "captured into $OUT: $(find "$OUT" -type f | wc -l) files, $(du -sh --apparent-size "$OUT" | cut -f1)"
find "$OUT" -type f -size +8k -printf '  %s %P\n' | sort -rn | head -5

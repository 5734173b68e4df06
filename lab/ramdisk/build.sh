#!/usr/bin/env bash
# Build the agent ramdisk: a Debian kernel and an initramfs with busybox, the NIC/disk driver
# modules and ferric's static agent as the service.
#
# Usage: lab/ramdisk/build.sh AGENT_BINARY [OUT_DIR]
#   AGENT_BINARY  a static x86_64 binary started as `AGENT_BINARY agent` by /init (build it with
#                 `cargo build --release --target x86_64-unknown-linux-musl -p ferric-agent`)
#   OUT_DIR       default lab/ramdisk/out; gets vmlinuz, initramfs.gz and manifest.txt
# Needs root for apt-get (busybox-static, kmod, cpio); the kernel package is only downloaded and
# unpacked (dpkg -x), never installed on the host. Facts: shared/reference/machine-notes.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AGENT="${1:?usage: build.sh AGENT_BINARY [OUT_DIR]}"
OUT="${2:-$HERE/out}"
CACHE="${FERRIC_RAMDISK_CACHE:-$HERE/.cache}"
[ -x "$AGENT" ] || { echo "build.sh: $AGENT is not an executable" >&2; exit 2; }
if ! file -L "$AGENT" 2>/dev/null | grep -q "statically linked\|static-pie linked"; then
  echo "build.sh: warning: $AGENT does not look statically linked; it may not run in the ramdisk" >&2
fi

need=()
command -v busybox >/dev/null || [ -x /bin/busybox ] || need+=(busybox-static)
command -v modprobe >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
BUSYBOX="$(command -v busybox || echo /bin/busybox)"
if ! "$BUSYBOX" --list | grep -qx udhcpc || ldd "$BUSYBOX" >/dev/null 2>&1; then
  # The dynamic busybox from Debian's `busybox` package is no use in an initramfs.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
  BUSYBOX=/bin/busybox
fi

# The kernel: whatever linux-image-amd64 points at, downloaded once into the cache.
mkdir -p "$CACHE"
KPKG="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')"
[ -n "$KPKG" ] || { apt-get update -qq; KPKG="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')"; }
KDIR="$CACHE/$KPKG"
if [ ! -d "$KDIR/lib/modules" ]; then
  (cd "$CACHE" && apt-get download -qq "$KPKG" 2>&1 | grep -v "unsandboxed" >&2 || true)
  rm -rf "$KDIR" && mkdir -p "$KDIR"
  dpkg -x "$CACHE"/"$KPKG"_*.deb "$KDIR"
fi
KVER="$(ls "$KDIR/lib/modules" | head -1)"
# The package ships no modules.dep (depmod runs at install time): make one for modprobe -d.
[ -f "$KDIR/lib/modules/$KVER/modules.dep" ] || depmod -b "$KDIR" "$KVER"

# Modules the lab's VMs and common servers need (NICs, disks, ACPI power button), loaded in this
# order by /init. sd_mod first: each disk controller's disks then get their sdX names while its
# module loads (module init waits for its asynchronous probes), so the names follow this order
# instead of a race between controllers.
MODULES=(sd_mod e1000 e1000e virtio_net virtio_pci virtio_blk virtio_scsi ata_piix ahci sr_mod
         nvme button evdev af_packet)
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,run,tmp,var/log,usr/bin,usr/sbin,lib/modules}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for app in $("$BUSYBOX" --list); do [ "$app" = busybox ] || ln -sf busybox "$ROOT/bin/$app"; done
cp "$AGENT" "$ROOT/bin/ferric"
chmod 0755 "$ROOT/bin/ferric"
# Debug info is no use in the ramdisk (34 MB -> a few MB).
command -v strip >/dev/null && strip "$ROOT/bin/ferric" 2>/dev/null || true
loaded=()
for m in "${MODULES[@]}"; do
  deps="$(modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" 2>/dev/null || true)"
  [ -n "$deps" ] || continue
  while read -r kind path _; do
    [ "$kind" = insmod ] || continue
    rel="${path#"$KDIR"}"
    mkdir -p "$ROOT$(dirname "$rel")"
    cp "$path" "$ROOT$rel"
  done <<< "$deps"
  loaded+=("$m")
done
mkdir -p "$ROOT/lib/modules/$KVER"
cp "$KDIR/lib/modules/$KVER"/modules.{order,builtin}* "$ROOT/lib/modules/$KVER/" 2>/dev/null || true
depmod -b "$ROOT" "$KVER"

cat > "$ROOT/init" <<'INIT'
#!/bin/sh
# PID 1 of the ferric agent ramdisk. It must never exit (panic=-1 reboots on a kernel panic).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /run /tmp && mount -t devpts devpts /dev/pts 2>/dev/null
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
echo "ferric ramdisk: loading modules"
for m in $(cat /etc/ferric-modules); do modprobe "$m" 2>/dev/null; done
sleep 1
ip link set lo up
for dev in /sys/class/net/*; do
  n="${dev##*/}"; [ "$n" = lo ] && continue
  ip link set "$n" up
  udhcpc -i "$n" -n -q -t 5 -T 2 -s /etc/udhcpc.script >/dev/null 2>&1 &
done
wait
hostname ferric-ramdisk
# `ferric.capture=/dev/ttyS1` (lab/qemu/capture_fixture.sh): capture the hardware tree the
# collectors read, write it there as base64 of a tar.gz between marker lines, power off.
cap="$(sed -n 's/.*ferric\.capture=\([^ ]*\).*/\1/p' /proc/cmdline)"
if [ -n "$cap" ]; then
  echo "ferric ramdisk: capturing the hardware tree to $cap"
  /bin/ferric agent capture --out /tmp/capture.tar
  stty -F "$cap" raw -echo 2>/dev/null
  { echo "FERRIC-CAPTURE-BEGIN"; gzip -9 -c /tmp/capture.tar | base64; echo "FERRIC-CAPTURE-END"; } > "$cap"
  sync
  echo "ferric ramdisk: capture written; powering off"
  poweroff -f
  while true; do sleep 60; done
fi
echo "ferric ramdisk: starting the agent"
while true; do
  /bin/ferric agent --cmdline /proc/cmdline
  echo "ferric ramdisk: the agent exited ($?); restarting in 5 s"
  sleep 5
done
INIT
chmod 0755 "$ROOT/init"
printf '%s\n' "${loaded[@]}" > "$ROOT/etc/ferric-modules"
cat > "$ROOT/etc/udhcpc.script" <<'DHCP'
#!/bin/sh
# Minimal udhcpc hook: configure the address, the default route and DNS.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface" 2>/dev/null
    [ -n "$dns" ] && for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf
    ;;
esac
exit 0
DHCP
chmod 0755 "$ROOT/etc/udhcpc.script"

mkdir -p "$OUT"
cp "$KDIR/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -9 > "$OUT/initramfs.gz"
{
  echo "kernel: $KPKG ($KVER)"
  echo "modules: ${loaded[*]}"
  echo "agent: $(basename "$AGENT") $(sha256sum "$AGENT" | cut -c1-16)"
  echo "initramfs: $(du -h "$OUT/initramfs.gz" | cut -f1)"
} > "$OUT/manifest.txt"
cat "$OUT/manifest.txt"

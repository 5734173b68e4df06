#!/usr/bin/env bash
# Install QEMU (TCG only here) for the lab's VMs. The image carries qemu-utils from
# bookworm-backports, which breaks bookworm's own qemu-system: install from backports.
# Idempotent; needs root. Facts: shared/reference/machine-notes.md.
set -euo pipefail
if command -v qemu-system-x86_64 >/dev/null && [ -e /usr/lib/ipxe/qemu/efi-virtio.rom ]; then
  exit 0
fi
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/ferric-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports \
  qemu-system-x86 ipxe-qemu >/dev/null
qemu-system-x86_64 --version | head -1

#!/usr/bin/env bash
# In-band inspection as ironic-python-agent 13.0.0 does it, against a Bare Metal API server:
# ipa_fake_agent.py over three recorded inventories.
#
# Usage: conformance/ipa_scenario.sh URL [ipa_fake_agent.py options, e.g. --reinspect --debug]
#   URL: the server's root URL (no /v1), e.g. http://127.0.0.1:6385
#
# Creates the ipa venv first if needed (conformance/setup.sh ipa; idempotent, under a
# second when up to date). Fixtures are read from $FERRIC_INSPECTION_FIXTURES (default
# /work/shared/fixtures/inspection):
#   metal3-inspector-data-kvm-vm.json                     VM, 2 NICs, no BMC address
#                                                        (found through an enrolled port)
#   metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json  Dell, BIOS, 4 NICs, BMC
#   understack-dell-r7615-node-inventory-lldp.json        Dell, UEFI, 6 NICs, BMC v4 + v6
# Output: one PASS/FAIL line per step, `N passed, N failed` alone on the last line; exit 1
# on any failed step, 2 on usage or set-up errors.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV_DIR="${FERRIC_VENV_DIR:-$REPO/.venv-conformance}"
export FERRIC_VENV_DIR="$VENV_DIR"
FIXTURES="${FERRIC_INSPECTION_FIXTURES:-/work/shared/fixtures/inspection}"

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0" >&2
  exit 2
fi
URL="${1%/}"; shift

"$HERE/setup.sh" ipa >&2 || { echo "ipa_scenario.sh: setup.sh ipa failed" >&2; exit 2; }

ARGS=()
for f in metal3-inspector-data-kvm-vm.json \
         metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json \
         understack-dell-r7615-node-inventory-lldp.json; do
  [ -f "$FIXTURES/$f" ] || { echo "ipa_scenario.sh: fixture $FIXTURES/$f not found" >&2; exit 2; }
  ARGS+=(--fixture "$FIXTURES/$f")
done

exec "$VENV_DIR/ipa/bin/python" "$HERE/ipa_fake_agent.py" "$URL" "${ARGS[@]}" "$@"

#!/usr/bin/env bash
# Create the Python virtualenvs used by the conformance harness. Idempotent.
#
# Usage: conformance/setup.sh [clients] [tempest] [ironic] [ipa] [--force]
#   (no venv names = clients tempest; ironic and ipa only when named)
#
#   clients : python-ironicclient 6.3.0 (the `baremetal` CLI) + openstacksdk 4.22.0
#   tempest : tempest 47.0.0 + ironic-tempest-plugin 3.2.0
#   ironic  : OpenStack Ironic 39.0.0 (reference server, see ironic_reference.sh)
#   ipa     : ironic-python-agent 13.0.0 (its client code, for ipa_fake_agent.py)
#
# Environment:
#   FERRIC_VENV_DIR          where the venvs live (default <repo>/.venv-conformance)
#   FERRIC_PYTHON            interpreter to build venvs with (default python3, needs >= 3.10)
#   FERRIC_NO_CONSTRAINTS=1  do not apply requirements/constraints-*.txt (transitive pins)
#
# Each venv gets a stamp file holding a hash of what was requested; when the stamp
# matches and the entry points exist, nothing is done (well under a second).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV_DIR="${FERRIC_VENV_DIR:-$REPO/.venv-conformance}"
PYTHON="${FERRIC_PYTHON:-python3}"
PIP_TIMEOUT="${FERRIC_PIP_TIMEOUT:-1200}"   # seconds, per venv

FORCE=0
WANT=()
for a in "$@"; do
  case "$a" in
    clients|tempest|ironic|ipa) WANT+=("$a") ;;
    --force) FORCE=1 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
[ ${#WANT[@]} -eq 0 ] && WANT=(clients tempest)

log() { echo "[setup] $*"; }

command -v "$PYTHON" >/dev/null 2>&1 || { echo "setup.sh: $PYTHON not found" >&2; exit 1; }
"$PYTHON" - <<'EOF' || { echo "setup.sh: need CPython >= 3.10" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
EOF
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "setup.sh: '$PYTHON -m venv' is unusable (on Debian: apt-get install -y python3-venv)" >&2
  exit 1
fi
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"

reqs_for() {
  case "$1" in
    clients) echo "python-ironicclient==6.3.0 openstacksdk==4.22.0 python-openstackclient==10.5.0 python-ironic-inspector-client==5.4.0" ;;
    tempest) echo "tempest==47.0.0 ironic-tempest-plugin==3.2.0" ;;
    ironic)  echo "ironic==39.0.0" ;;
    ipa)     echo "ironic-python-agent==13.0.0" ;;
  esac
}
check_for() {   # an entry point that must exist once installed
  case "$1" in
    clients) echo "bin/baremetal" ;;
    tempest) echo "bin/tempest" ;;
    ironic)  echo "bin/ironic" ;;
    ipa)     echo "bin/ironic-python-agent" ;;
  esac
}

ensure_venv() {
  local name="$1" dir="$VENV_DIR/$1" reqs cons stamp want_stamp t0
  reqs="$(reqs_for "$name")"
  cons="$HERE/requirements/constraints-$name.txt"
  if [ "${FERRIC_NO_CONSTRAINTS:-0}" = 1 ] || [ ! -f "$cons" ]; then cons=""; fi
  want_stamp="$( { echo "py=$PYVER"; echo "reqs=$reqs"; if [ -n "$cons" ]; then cat "$cons"; fi; } | sha256sum | cut -c1-16)"
  stamp="$dir/.ferric-stamp"
  if [ "$FORCE" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] \
     && [ -x "$dir/$(check_for "$name")" ]; then
    log "$name: up to date in $dir ($reqs)"
    return 0
  fi
  t0=$(date +%s)
  log "$name: creating venv $dir (python $PYVER)"
  rm -rf "$dir"
  mkdir -p "$VENV_DIR"
  "$PYTHON" -m venv "$dir"
  log "$name: pip install $reqs${cons:+ (constraints: ${cons#$REPO/})}"
  # shellcheck disable=SC2086
  if ! timeout "$PIP_TIMEOUT" "$dir/bin/pip" install --quiet --disable-pip-version-check \
        --no-input --retries 3 --timeout 60 ${cons:+-c "$cons"} $reqs; then
    echo "setup.sh: pip install for '$name' failed (or timed out after ${PIP_TIMEOUT}s)" >&2
    rm -rf "$dir"
    exit 1
  fi
  "$dir/bin/pip" check --disable-pip-version-check >/dev/null \
    || log "$name: warning: 'pip check' reports conflicts (continuing)"
  echo "$want_stamp" > "$stamp"
  log "$name: installed in $(( $(date +%s) - t0 ))s"
}

for v in "${WANT[@]}"; do ensure_venv "$v"; done

for v in "${WANT[@]}"; do
  case "$v" in
    clients) log "baremetal CLI : $VENV_DIR/clients/bin/baremetal" ;;
    tempest) log "tempest       : $VENV_DIR/tempest/bin/tempest" ;;
    ironic)  log "ironic        : $VENV_DIR/ironic/bin/ironic" ;;
    ipa)     log "ipa python    : $VENV_DIR/ipa/bin/python" ;;
  esac
done

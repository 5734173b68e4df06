#!/usr/bin/env bash
# Run the ironic-tempest-plugin admin API tests (tempest 47.0.0 + ironic-tempest-plugin
# 3.2.0) against a noauth Bare Metal endpoint, via a stub Keystone (keystone_stub.py).
#
# Usage: conformance/run_tempest.sh [--update-baseline] <baremetal_url> <max_microversion>
#   e.g. conformance/run_tempest.sh http://127.0.0.1:6385 1.115
#
# Writes conformance/out/tempest-summary.json (counts, per-module counts, test ids per
# outcome, skip reasons, failure tracebacks) plus tempest-run.log, tempest.log,
# tempest-results.subunit and the tempest.conf/accounts.yaml used.
# Checks conformance/tempest-baseline.txt: exit 1 if any listed test did not pass, else 0
# (other failures do not matter). --update-baseline rewrites the baseline with the tests
# that passed in this run (exit 0). The last line printed is `N passed, N failed, N skipped`.
#
# Environment:
#   FERRIC_VENV_DIR             venvs (see setup.sh; the tempest venv is created if missing)
#   FERRIC_TEMPEST_REGEX        default ironic_tempest_plugin.tests.api.admin
#   FERRIC_TEMPEST_CONCURRENCY  default 2
#   FERRIC_TEMPEST_TIMEOUT      whole-run limit in seconds (default 3600)
#   FERRIC_TEMPEST_BASELINE     baseline file (default conformance/tempest-baseline.txt)
#   FERRIC_TEMPEST_OUT          output dir (default conformance/out)
#   FERRIC_TEMPEST_DEBUG=1      tempest debug logging (request/response bodies in tempest.log)
#   FERRIC_TEMPEST_QUIET=1      do not echo tempest's per-test output (still in tempest-run.log)
#   FERRIC_KEEP_WORKSPACE=1     keep the temporary tempest workspace
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV_DIR="${FERRIC_VENV_DIR:-$REPO/.venv-conformance}"
export FERRIC_VENV_DIR="$VENV_DIR"

UPDATE=0
ARGS=()
for a in "$@"; do
  case "$a" in
    --update-baseline) UPDATE=1 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    -*) echo "run_tempest.sh: unknown option $a" >&2; exit 2 ;;
    *) ARGS+=("$a") ;;
  esac
done
if [ ${#ARGS[@]} -ne 2 ]; then awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0" >&2; exit 2; fi
URL="${ARGS[0]%/}"
MAXV="${ARGS[1]}"
[[ "$MAXV" =~ ^1\.[0-9]+$|^latest$ ]] || { echo "run_tempest.sh: bad max microversion '$MAXV'" >&2; exit 2; }

REGEX="${FERRIC_TEMPEST_REGEX:-ironic_tempest_plugin.tests.api.admin}"
CONCURRENCY="${FERRIC_TEMPEST_CONCURRENCY:-2}"
RUN_TIMEOUT="${FERRIC_TEMPEST_TIMEOUT:-3600}"
BASELINE="${FERRIC_TEMPEST_BASELINE:-$HERE/tempest-baseline.txt}"
OUT="${FERRIC_TEMPEST_OUT:-$HERE/out}"
DEBUG="$( [ "${FERRIC_TEMPEST_DEBUG:-0}" = 1 ] && echo true || echo false )"

[ -x "$VENV_DIR/tempest/bin/tempest" ] || "$HERE/setup.sh" tempest
TVENV="$VENV_DIR/tempest"
TPY="$TVENV/bin/python"

mkdir -p "$OUT"
rm -f "$OUT"/tempest-summary.json "$OUT"/tempest-run.log "$OUT"/tempest.log \
      "$OUT"/tempest-results.subunit "$OUT"/tempest.conf "$OUT"/accounts.yaml
WS="$(mktemp -d "${TMPDIR:-/tmp}/ferric-tempest.XXXXXX")"
KS_PID=""
TEMPEST_PID=""

cleanup() {
  local rc=$?
  if [ -n "$TEMPEST_PID" ] && kill -0 "$TEMPEST_PID" 2>/dev/null; then
    # `timeout` leads its own process group: signal the whole tempest tree.
    kill -TERM -- "-$TEMPEST_PID" 2>/dev/null || kill -TERM "$TEMPEST_PID" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$TEMPEST_PID" 2>/dev/null || true
  fi
  if [ -n "$KS_PID" ] && kill -0 "$KS_PID" 2>/dev/null; then
    kill -TERM "$KS_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$KS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$KS_PID" 2>/dev/null || true
  fi
  if [ "${FERRIC_KEEP_WORKSPACE:-0}" = 1 ]; then
    echo "tempest workspace kept: $WS" >&2
  else
    rm -rf "$WS"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[run_tempest] $*"; }

# --- 1. the server under test must answer GET / -----------------------------------------
if ! "$TPY" - "$URL" <<'EOF'
import sys, time, urllib.request
url = sys.argv[1] + "/"
deadline = time.time() + 30
while True:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception as e:  # noqa: BLE001
        err = e
    if time.time() > deadline:
        print("[run_tempest] %s does not answer GET / (%s)" % (url, err), file=sys.stderr)
        sys.exit(1)
    time.sleep(1)
EOF
then
  echo "0 passed, 0 failed, 0 skipped"
  exit 1
fi

# --- 2. stub keystone on a free loopback port ----------------------------------------
"$TPY" "$HERE/keystone_stub.py" --host 127.0.0.1 --port 0 --port-file "$WS/keystone.port" \
  --baremetal-url "$URL" 2> "$WS/keystone.log" &
KS_PID=$!
for _ in $(seq 1 100); do
  [ -s "$WS/keystone.port" ] && break
  kill -0 "$KS_PID" 2>/dev/null || { cat "$WS/keystone.log" >&2; echo "keystone stub died" >&2; exit 1; }
  sleep 0.1
done
[ -s "$WS/keystone.port" ] || { echo "keystone stub did not start within 10s" >&2; exit 1; }
KS_PORT="$(cat "$WS/keystone.port")"
KS_URL="http://127.0.0.1:$KS_PORT"
log "keystone stub: $KS_URL/v3 (pid $KS_PID) -> baremetal $URL"

# --- 3. tempest workspace ----------------------------------------------------------------
mkdir -p "$WS/etc" "$WS/logs" "$WS/lock"
{
  # Pre-provisioned accounts (tempest locks one per test class and worker, so give
  # more than the concurrency). System-scoped accounts need user_domain_name.
  n=$(( CONCURRENCY * 2 + 2 ))
  for i in $(seq 1 "$n"); do
    cat <<EOF
- username: 'admin$i'
  password: 'secret'
  project_name: 'admin$i'
  user_domain_name: 'Default'
  project_domain_name: 'Default'
  roles:
  - 'admin'
- username: 'system_admin$i'
  password: 'secret'
  user_domain_name: 'Default'
  system: 'all'
  roles:
  - 'admin'
- username: 'member$i'
  password: 'secret'
  project_name: 'member$i'
  user_domain_name: 'Default'
  project_domain_name: 'Default'
  roles:
  - 'member'
EOF
  done
} > "$WS/etc/accounts.yaml"

cat > "$WS/etc/tempest.conf" <<EOF
[DEFAULT]
debug = $DEBUG
log_dir = $WS/logs
log_file = tempest.log
use_stderr = false

[oslo_concurrency]
lock_path = $WS/lock

[auth]
use_dynamic_credentials = false
test_accounts_file = $WS/etc/accounts.yaml
default_credentials_domain_name = Default
create_isolated_networks = false
admin_username = admin1
admin_password = secret
admin_project_name = admin1
admin_domain_name = Default

[identity]
uri_v3 = $KS_URL/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public
disable_ssl_certificate_validation = true

[identity-feature-enabled]
api_v2 = false
api_v2_admin = false
api_v3 = true
trust = false

[service_available]
ironic = true
ironic_inspector = false
nova = false
neutron = false
glance = false
cinder = false
swift = false

[enforce_scope]
ironic = false
ironic_inspector = false

[compute]
build_interval = 1
build_timeout = 120

[validation]
run_validation = false

[baremetal]
catalog_type = baremetal
endpoint_type = public
driver = fake-hardware
min_microversion = 1.1
max_microversion = $MAXV
power_timeout = 60
deploywait_timeout = 15
active_timeout = 120
unprovision_timeout = 120
association_timeout = 30
enabled_drivers = fake-hardware
enabled_hardware_types = fake-hardware
enabled_bios_interfaces = fake,no-bios
enabled_boot_interfaces = fake
enabled_console_interfaces = fake,no-console
enabled_deploy_interfaces = fake
enabled_inspect_interfaces = fake,no-inspect
enabled_management_interfaces = fake
enabled_power_interfaces = fake
enabled_raid_interfaces = fake,no-raid
enabled_rescue_interfaces = fake,no-rescue
enabled_vendor_interfaces = fake,no-vendor

[baremetal_feature_enabled]
ipxe_enabled = false
adoption = false
software_raid = false
deploy_time_raid = false
EOF
cp "$WS/etc/tempest.conf" "$WS/etc/accounts.yaml" "$OUT/"

# --- 4. run tempest ------------------------------------------------------------------------
log "tempest run --regex '$REGEX' --concurrency $CONCURRENCY (limit ${RUN_TIMEOUT}s, max microversion $MAXV)"
T0=$(date +%s)
TEMPEST_RC=0
(
  cd "$WS"
  # `timeout` makes itself a process-group leader; on expiry it signals the group.
  exec timeout --kill-after=30 "$RUN_TIMEOUT" env PATH="$TVENV/bin:$PATH" \
    "$TVENV/bin/tempest" run --config-file "$WS/etc/tempest.conf" \
    --regex "$REGEX" --concurrency "$CONCURRENCY"
) > "$OUT/tempest-run.log" 2>&1 < /dev/null &
TEMPEST_PID=$!
if [ "${FERRIC_TEMPEST_QUIET:-0}" = 1 ]; then
  wait "$TEMPEST_PID" || TEMPEST_RC=$?
else
  tail -n +1 -f --pid="$TEMPEST_PID" "$OUT/tempest-run.log" &
  TAIL_PID=$!
  wait "$TEMPEST_PID" || TEMPEST_RC=$?
  wait "$TAIL_PID" 2>/dev/null || true
fi
TEMPEST_PID=""
DUR=$(( $(date +%s) - T0 ))
[ "$TEMPEST_RC" -eq 124 ] && log "tempest run timed out after ${RUN_TIMEOUT}s"
log "tempest exited $TEMPEST_RC after ${DUR}s"

# --- 5. results ---------------------------------------------------------------------------
if [ -d "$WS/.stestr" ]; then
  (cd "$WS" && timeout 120 "$TVENV/bin/stestr" last --subunit > "$OUT/tempest-results.subunit" 2>/dev/null) || true
fi
cp "$WS/logs/tempest.log" "$OUT/tempest.log" 2>/dev/null || true
cp "$WS/keystone.log" "$OUT/keystone-stub.log" 2>/dev/null || true

SUMMARY_ARGS=(--subunit "$OUT/tempest-results.subunit" --json "$OUT/tempest-summary.json"
  --baseline "$BASELINE"
  --meta "baremetal_url=$URL" --meta "max_microversion=$MAXV" --meta "regex=$REGEX"
  --meta "concurrency=$CONCURRENCY" --meta "duration_s=$DUR" --meta "tempest_rc=$TEMPEST_RC"
  --meta "tempest=47.0.0" --meta "ironic_tempest_plugin=3.2.0")
[ "$UPDATE" = 1 ] && SUMMARY_ARGS+=(--update-baseline)
RC=0
"$TPY" "$HERE/tempest_summary.py" "${SUMMARY_ARGS[@]}" || RC=$?
exit "$RC"

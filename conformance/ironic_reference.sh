#!/usr/bin/env bash
# Run real OpenStack Ironic 39.0.0 standalone (noauth, rpc_transport=none, SQLite,
# fake-hardware) as a reference server for the conformance scripts.
#
# Usage:
#   conformance/ironic_reference.sh start [PORT]    install (if needed), fresh DB, start in
#                                                    the background, wait until GET / answers
#   conformance/ironic_reference.sh stop [PORT]     stop it
#   conformance/ironic_reference.sh status [PORT]
#   conformance/ironic_reference.sh selftest [PORT] fresh start, run cli_scenario.sh,
#                                                    sdk_scenario.py and run_tempest.sh against it
#                                                    (tempest output in conformance/out/ironic-reference,
#                                                    no baseline unless FERRIC_TEMPEST_BASELINE is set),
#                                                    stop
# PORT defaults to 6399. State (ironic.conf, ironic.sqlite, ironic.log, ironic.pid) lives in
# $FERRIC_IRONIC_WORKDIR (default /tmp/ferric-ironic-ref-PORT).
# Environment: FERRIC_VENV_DIR (see setup.sh), FERRIC_IRONIC_START_TIMEOUT (default 180 s).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV_DIR="${FERRIC_VENV_DIR:-$REPO/.venv-conformance}"
export FERRIC_VENV_DIR="$VENV_DIR"
IRONIC_VENV="$VENV_DIR/ironic"

CMD="${1:-}"
PORT="${2:-6399}"
case "$PORT" in ''|*[!0-9]*) echo "ironic_reference.sh: bad port '$PORT'" >&2; exit 2 ;; esac
WORK="${FERRIC_IRONIC_WORKDIR:-/tmp/ferric-ironic-ref-$PORT}"
URL="http://127.0.0.1:$PORT"
START_TIMEOUT="${FERRIC_IRONIC_START_TIMEOUT:-180}"
PIDFILE="$WORK/ironic.pid"

log() { echo "[ironic-ref] $*"; }

answers() {  # GET / answers with 200
  "$IRONIC_VENV/bin/python" - "$URL" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/", timeout=3) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

write_conf() {
  cat > "$WORK/ironic.conf" <<EOF
[DEFAULT]
auth_strategy = noauth
rpc_transport = none
host = localhost
debug = false
log_file = $WORK/ironic.log
use_stderr = false
enabled_hardware_types = fake-hardware
enabled_bios_interfaces = fake,no-bios
enabled_boot_interfaces = fake
enabled_console_interfaces = fake,no-console
enabled_deploy_interfaces = fake
enabled_firmware_interfaces = fake,no-firmware
enabled_inspect_interfaces = fake,agent,no-inspect
enabled_management_interfaces = fake
enabled_network_interfaces = noop
enabled_power_interfaces = fake
enabled_raid_interfaces = fake,no-raid
enabled_rescue_interfaces = fake,no-rescue
enabled_storage_interfaces = noop
enabled_vendor_interfaces = fake,no-vendor
default_network_interface = noop

[api]
host_ip = 127.0.0.1
port = $PORT
api_workers = 1

[conductor]
sync_power_state_interval = 0
automated_clean = true

[database]
connection = sqlite:///$WORK/ironic.sqlite

[dhcp]
dhcp_provider = none

[inspector]
require_managed_boot = false
callback_endpoint_override = $URL

[agent]
require_tls = false

[oslo_concurrency]
lock_path = $WORK/locks
EOF
}

do_start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid) at $URL"
    answers && return 0
    log "pid $pid does not answer; restarting"; do_stop
  fi
  "$HERE/setup.sh" ironic
  mkdir -p "$WORK/locks"
  rm -f "$WORK"/ironic.sqlite* "$WORK/ironic.log"
  write_conf
  log "creating schema ($WORK/ironic.sqlite)"
  timeout 300 "$IRONIC_VENV/bin/ironic-dbsync" --config-file "$WORK/ironic.conf" create_schema \
    > "$WORK/dbsync.log" 2>&1 || { cat "$WORK/dbsync.log" >&2; exit 1; }
  log "starting ironic on $URL (log $WORK/ironic.log)"
  # setsid: own session and process group (pgid == pid), so stop can signal the whole
  # tree; the child records its own pid (setsid may fork when run under job control).
  rm -f "$PIDFILE"
  setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$PIDFILE" \
    "$IRONIC_VENV/bin/ironic" --config-file "$WORK/ironic.conf" \
    > "$WORK/ironic.stdout" 2>&1 < /dev/null &
  local i=0 pid=""
  for _ in $(seq 1 50); do [ -s "$PIDFILE" ] && break; sleep 0.1; done
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] || { echo "ironic did not start (no pid file)" >&2; exit 1; }
  while ! answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "ironic exited during startup; last log lines:" >&2
      tail -n 30 "$WORK/ironic.stdout" "$WORK/ironic.log" >&2 2>/dev/null || true
      exit 1
    fi
    i=$((i + 1))
    if [ "$i" -gt $((START_TIMEOUT * 2)) ]; then
      echo "ironic did not answer GET / within ${START_TIMEOUT}s" >&2
      do_stop; exit 1
    fi
    sleep 0.5
  done
  log "ready: $URL (pid $pid, $((i / 2))s)"
}

do_stop() {
  local pid i
  if ! pid="$(running_pid)"; then log "not running"; rm -f "$PIDFILE"; return 0; fi
  log "stopping pid $pid"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still alive after 10s, sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

case "$CMD" in
  start) do_start ;;
  stop) do_stop ;;
  status)
    if pid="$(running_pid)" && answers; then log "running (pid $pid) at $URL"; else log "not running"; exit 1; fi ;;
  selftest)
    # fresh server and database, then every harness script; always stops the server
    "$HERE/setup.sh" clients tempest ironic
    do_stop
    trap 'do_stop' EXIT
    trap 'exit 130' INT TERM
    do_start
    cli_rc=0; sdk_rc=0; tempest_rc=0
    "$HERE/cli_scenario.sh" "$URL" || cli_rc=$?
    "$VENV_DIR/clients/bin/python" "$HERE/sdk_scenario.py" "$URL" || sdk_rc=$?
    FERRIC_TEMPEST_QUIET="${FERRIC_TEMPEST_QUIET:-1}" \
    FERRIC_TEMPEST_OUT="${FERRIC_TEMPEST_OUT:-$HERE/out/ironic-reference}" \
    FERRIC_TEMPEST_BASELINE="${FERRIC_TEMPEST_BASELINE:-/dev/null}" \
      "$HERE/run_tempest.sh" "$URL" "${FERRIC_MAX_MICROVERSION:-1.115}" || tempest_rc=$?
    log "selftest exit codes: cli_scenario=$cli_rc sdk_scenario=$sdk_rc run_tempest=$tempest_rc"
    [ "$cli_rc$sdk_rc$tempest_rc" = 000 ] ;;
  *) awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0"; exit 2 ;;
esac

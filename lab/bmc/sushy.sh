#!/usr/bin/env bash
# Redfish BMC emulator for the driver tests: sushy-tools 2.2.0 (sushy-emulator) with its fake
# systems driver. No VMs, no libvirt. Listens on 127.0.0.1 only.
#
# Usage:
#   lab/bmc/sushy.sh setup [--force]
#       venv ${FERRIC_VENV_DIR:-<repo>/.venv-conformance}/sushy with sushy-tools==2.2.0, pinned by
#       conformance/requirements/constraints-sushy.txt. Idempotent (stamp file), well under 1 s
#       when up to date.
#   lab/bmc/sushy.sh start PORT STATE_DIR N [--auth USER:PASS] [--tls] [--power-delay SECS]
#                          [--notify URL]
#       Writes STATE_DIR/sushy.conf with N fake systems and starts sushy-emulator in the
#       background on 127.0.0.1:PORT; waits until it answers, prints its PID (only that, on
#       stdout). Systems, i = 0..N-1 (N <= 256):
#         name  sushy-i
#         uuid  5e5e0000-0000-4000-8000-<i as 12 decimal digits>   e.g. ...-000000000001
#         NICs  52:54:00:5e:XX:00 and 52:54:00:5e:XX:01 (XX = i in hex, 2 digits)
#         power Off, boot device Hdd, boot mode UEFI (the fake driver's defaults)
#         Storage "1" with drives "disk-0" (100 GiB, SATA) and "disk-1" (1 TiB, SAS)
#       Every start wipes the emulator's persisted state (STATE_DIR/state) so it is deterministic.
#       --auth USER:PASS  HTTP basic auth (htpasswd, bcrypt) on everything but /, /redfish and
#                         /redfish/v1. sushy-tools 2.2.0 has no SessionService.
#       --tls             HTTPS with a CA + server certificate made by openssl in STATE_DIR/tls
#                         (ca.pem is the one to trust; SAN IP:127.0.0.1, DNS:localhost). TLS 1.2 only.
#       --power-delay S   Make power changes apply after S seconds instead of upstream's random
#                         1-11 s (not configurable in sushy-tools: this monkeypatches the fake
#                         driver's random.randint at start-up). 0 = visible on the next GET.
#       --notify URL      Fake driver's external notifier: on every change of a system it PUTs
#                         the system's dict as JSON to URL (synchronously, inside the request).
#       Also writes STATE_DIR/sushy.json (base URL, credentials, CA, the systems) for tests.
#   lab/bmc/sushy.sh stop STATE_DIR
#       Stops the emulator started with that STATE_DIR (SIGTERM, then SIGKILL after 5 s).
#
# Environment:
#   FERRIC_VENV_DIR          where the venvs live (default <repo>/.venv-conformance)
#   FERRIC_PYTHON            interpreter to build the venv with (default python3, needs >= 3.10)
#   FERRIC_NO_CONSTRAINTS=1  install without conformance/requirements/constraints-sushy.txt
#   FERRIC_SUSHY_WAIT        seconds to wait for the emulator to answer (default 30)
# Facts, timings and pitfalls: lab/bmc/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV_DIR="${FERRIC_VENV_DIR:-$REPO/.venv-conformance}"
VENV="$VENV_DIR/sushy"
PYTHON="${FERRIC_PYTHON:-python3}"
PIP_TIMEOUT="${FERRIC_PIP_TIMEOUT:-1200}"
REQS="sushy-tools==2.2.0"
CONS="$REPO/conformance/requirements/constraints-sushy.txt"

log() { echo "[sushy] $*" >&2; }
die() { echo "sushy.sh: $*" >&2; exit 1; }
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
usage() { awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0"; }

# ---------------------------------------------------------------------------------------------
cmd_setup() {
  local force=0 cons="$CONS" want_stamp stamp t0 pyver
  for a in "$@"; do
    case "$a" in
      --force) force=1 ;;
      *) die "setup: unknown argument '$a'" ;;
    esac
  done
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "need CPython >= 3.10"
  if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    die "'$PYTHON -m venv' is unusable (on Debian: apt-get install -y python3-venv)"
  fi
  pyver="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
  if [ "${FERRIC_NO_CONSTRAINTS:-0}" = 1 ] || [ ! -f "$cons" ]; then cons=""; fi
  want_stamp="$( { echo "py=$pyver"; echo "reqs=$REQS"; if [ -n "$cons" ]; then cat "$cons"; fi; } \
                 | sha256sum | cut -c1-16)"
  stamp="$VENV/.ferric-stamp"
  if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] \
     && [ -x "$VENV/bin/sushy-emulator" ]; then
    log "up to date in $VENV ($REQS)"
    return 0
  fi
  t0=$(date +%s)
  log "creating venv $VENV (python $pyver)"
  rm -rf "$VENV"
  mkdir -p "$VENV_DIR"
  "$PYTHON" -m venv "$VENV"
  log "pip install $REQS${cons:+ (constraints: ${cons#"$REPO"/})}"
  # shellcheck disable=SC2086
  if ! timeout "$PIP_TIMEOUT" "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        --no-input --retries 3 --timeout 60 ${cons:+-c "$cons"} $REQS; then
    rm -rf "$VENV"
    die "pip install failed (or timed out after ${PIP_TIMEOUT}s)"
  fi
  "$VENV/bin/pip" check --disable-pip-version-check >/dev/null \
    || log "warning: 'pip check' reports conflicts (continuing)"
  echo "$want_stamp" > "$stamp"
  log "installed in $(( $(date +%s) - t0 ))s: $VENV/bin/sushy-emulator"
}

# ---------------------------------------------------------------------------------------------
port_busy_tcp() {   # something listens on 127.0.0.1:PORT or *:PORT (TCP, v4 or v6)
  local hex
  hex="$(printf '%04X' "$1")"
  awk -v h=":$hex" 'NR>1 && $4=="0A" && substr($2, length($2)-4)==h {f=1} END {exit !f}' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

make_tls() {   # CA + server cert (SAN IP:127.0.0.1, DNS:localhost), EC P-256, 10 years
  local dir="$1"
  command -v openssl >/dev/null || die "--tls needs openssl (apt-get install -y openssl)"
  rm -rf "$dir"; mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=ferric lab sushy CA" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >/dev/null 2>&1 || die "openssl: CA generation failed"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$dir/key.pem" -out "$dir/server.csr" >/dev/null 2>&1 \
    || die "openssl: CSR generation failed"
  cat > "$dir/server.ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -CAcreateserial -days 3650 -sha256 -extfile "$dir/server.ext" -out "$dir/cert.pem" \
    >/dev/null 2>&1 || die "openssl: server certificate signing failed"
  rm -f "$dir/server.csr" "$dir/ca.srl"
}

cmd_start() {
  [ $# -ge 3 ] || { usage >&2; exit 2; }
  local port="$1" sdir="$2" n="$3" auth="" tls=0 delay="" notify=""
  shift 3
  while [ $# -gt 0 ]; do
    case "$1" in
      --auth) [ $# -ge 2 ] || die "--auth needs USER:PASS"; auth="$2"; shift 2 ;;
      --auth=*) auth="${1#--auth=}"; shift ;;
      --tls) tls=1; shift ;;
      --power-delay) [ $# -ge 2 ] || die "--power-delay needs SECS"; delay="$2"; shift 2 ;;
      --power-delay=*) delay="${1#--power-delay=}"; shift ;;
      --notify) [ $# -ge 2 ] || die "--notify needs URL"; notify="$2"; shift 2 ;;
      --notify=*) notify="${1#--notify=}"; shift ;;
      *) die "start: unknown argument '$1'" ;;
    esac
  done
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "bad PORT '$port'"
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 256 ] || die "N must be 1..256"
  [ -z "$delay" ] || [[ "$delay" =~ ^[0-9]+$ ]] || die "--power-delay takes whole seconds"
  if [ -n "$auth" ]; then
    [[ "$auth" == *:* ]] && [ -n "${auth%%:*}" ] || die "--auth takes USER:PASS"
  fi
  [ -x "$VENV/bin/sushy-emulator" ] || die "no venv at $VENV: run 'lab/bmc/sushy.sh setup' first"
  command -v curl >/dev/null || die "curl is needed (apt-get install -y curl)"

  mkdir -p "$sdir"
  sdir="$(cd "$sdir" && pwd)"
  local conf="$sdir/sushy.conf" pidf="$sdir/sushy.pid" logf="$sdir/sushy.log"
  if [ -f "$pidf" ] && is_ours "$(cat "$pidf")" "$conf"; then
    die "already running in $sdir (pid $(cat "$pidf")): stop it first"
  fi
  rm -f "$pidf"
  if port_busy_tcp "$port"; then die "TCP port $port is already in use"; fi

  rm -rf "$sdir/state"; mkdir -p "$sdir/state"
  local scheme=http cert="" key="" ca=""
  if [ "$tls" = 1 ]; then
    make_tls "$sdir/tls"
    scheme=https cert="$sdir/tls/cert.pem" key="$sdir/tls/key.pem" ca="$sdir/tls/ca.pem"
  fi
  local user="" pass="" htpasswd=""
  if [ -n "$auth" ]; then
    user="${auth%%:*}" pass="${auth#*:}" htpasswd="$sdir/htpasswd"
  fi

  # Config and manifest from Python (the config is a Python file: repr() keeps it well-formed).
  SUSHY_PORT="$port" SUSHY_SDIR="$sdir" SUSHY_N="$n" SUSHY_USER="$user" SUSHY_PASS="$pass" \
  SUSHY_HTPASSWD="$htpasswd" SUSHY_CERT="$cert" SUSHY_KEY="$key" SUSHY_CA="$ca" \
  SUSHY_SCHEME="$scheme" SUSHY_DELAY="$delay" SUSHY_NOTIFY="$notify" \
  "$VENV/bin/python" - <<'PY'
import json, os
e = os.environ
port, sdir, n = int(e["SUSHY_PORT"]), e["SUSHY_SDIR"], int(e["SUSHY_N"])
systems, storage, drives = [], {}, {}
for i in range(n):
    uuid = "5e5e0000-0000-4000-8000-%012d" % i
    s = {"uuid": uuid, "name": "sushy-%d" % i, "power_state": "Off",
         "nics": [{"mac": "52:54:00:5e:%02x:%02x" % (i, j)} for j in range(2)]}
    if e["SUSHY_NOTIFY"]:
        s["external_notifier"] = True
    systems.append(s)
    storage[uuid] = [{"Id": "1", "Name": "Local Storage Controller",
                      "StorageControllers": [{"MemberId": "0", "Name": "Contoso Integrated RAID",
                                              "SpeedGbps": 12}],
                      "Drives": ["disk-0", "disk-1"]}]
    drives[(uuid, "1")] = [
        {"Id": "disk-0", "Name": "Drive Sample 0", "CapacityBytes": 100 * 1024**3, "Protocol": "SATA"},
        {"Id": "disk-1", "Name": "Drive Sample 1", "CapacityBytes": 1024**4, "Protocol": "SAS"},
    ]
conf = {
    "SUSHY_EMULATOR_LISTEN_IP": "127.0.0.1",
    "SUSHY_EMULATOR_LISTEN_PORT": port,
    "SUSHY_EMULATOR_FAKE_DRIVER": True,
    "SUSHY_EMULATOR_STATE_DIR": os.path.join(sdir, "state"),
    "SUSHY_EMULATOR_FAKE_SYSTEMS": systems,
    "SUSHY_EMULATOR_STORAGE": storage,
    "SUSHY_EMULATOR_DRIVES": drives,
}
if e["SUSHY_CERT"]:
    conf["SUSHY_EMULATOR_SSL_CERT"] = e["SUSHY_CERT"]
    conf["SUSHY_EMULATOR_SSL_KEY"] = e["SUSHY_KEY"]
if e["SUSHY_HTPASSWD"]:
    import bcrypt  # a sushy-tools dependency; only bcrypt hashes are accepted
    # cost 4: the middleware runs bcrypt on every request (cost 12 = ~0.3 s per request here)
    h = bcrypt.hashpw(e["SUSHY_PASS"].encode(), bcrypt.gensalt(rounds=4)).decode()
    with open(e["SUSHY_HTPASSWD"], "w") as f:
        f.write("%s:%s\n" % (e["SUSHY_USER"], h))
    conf["SUSHY_EMULATOR_AUTH_FILE"] = e["SUSHY_HTPASSWD"]
if e["SUSHY_NOTIFY"]:
    conf["EXTERNAL_NOTIFICATION_URL"] = e["SUSHY_NOTIFY"]
with open(os.path.join(sdir, "sushy.conf"), "w") as f:
    f.write("# written by lab/bmc/sushy.sh; read by sushy-emulator (Flask from_pyfile)\n")
    for k, v in conf.items():
        f.write("%s = %r\n" % (k, v))
manifest = {
    "url": "%s://127.0.0.1:%d" % (e["SUSHY_SCHEME"], port),
    "username": e["SUSHY_USER"] or None, "password": e["SUSHY_PASS"] or None,
    "ca": e["SUSHY_CA"] or None,
    "power_delay": int(e["SUSHY_DELAY"]) if e["SUSHY_DELAY"] else None,
    "systems": [{"name": s["name"], "uuid": s["uuid"], "macs": [x["mac"] for x in s["nics"]],
                 "path": "/redfish/v1/Systems/" + s["uuid"]} for s in systems],
}
with open(os.path.join(sdir, "sushy.json"), "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
PY

  local -a cmd
  if [ -n "$delay" ]; then
    # sushy-tools hard-codes random.randint(1, 11) in FakeDriver.set_power_state: replace the
    # module's `random` with a stub returning the wanted delay, then run the normal entry point.
    cat > "$sdir/launch.py" <<PY
import sys, types
from sushy_tools.emulator.resources.systems import fakedriver
fakedriver.random = types.SimpleNamespace(randint=lambda a, b: $delay)
from sushy_tools.emulator.main import main
sys.argv[0] = "sushy-emulator"
sys.exit(main())
PY
    cmd=("$VENV/bin/python" "$sdir/launch.py" --config "$conf")
  else
    rm -f "$sdir/launch.py"
    cmd=("$VENV/bin/sushy-emulator" --config "$conf")
  fi

  local t0 pid url curl_opts=(-s -o /dev/null -w '%{http_code}' --max-time 2)
  t0=$(date +%s%N)
  # New session: no controlling terminal, not in the caller's process group. The shell writes
  # its own pid and execs, so the pid file holds the emulator's pid.
  setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$pidf" "${cmd[@]}" \
    > "$logf" 2>&1 < /dev/null &
  for _ in $(seq 1 50); do [ -s "$pidf" ] && break; sleep 0.02; done
  pid="$(cat "$pidf" 2>/dev/null || true)"
  [ -n "$pid" ] || die "could not start sushy-emulator (see $logf)"
  if [ "$tls" = 1 ]; then curl_opts+=(--cacert "$ca"); fi
  url="$scheme://127.0.0.1:$port/redfish/v1/"
  local deadline=$(( $(date +%s) + ${FERRIC_SUSHY_WAIT:-30} ))
  while :; do
    if ! pid_alive "$pid"; then
      tail -n 20 "$logf" >&2 || true
      rm -f "$pidf"
      die "sushy-emulator exited during start-up (log: $logf)"
    fi
    [ "$(curl "${curl_opts[@]}" "$url" 2>/dev/null || true)" = 200 ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      kill "$pid" 2>/dev/null || true
      rm -f "$pidf"
      die "sushy-emulator did not answer $url within ${FERRIC_SUSHY_WAIT:-30}s (log: $logf)"
    fi
    sleep 0.05
  done
  log "up at $scheme://127.0.0.1:$port in $(( ($(date +%s%N) - t0) / 1000000 )) ms" \
      "($n systems${auth:+, basic auth}${delay:+, power delay ${delay}s}; manifest $sdir/sushy.json)"
  echo "$pid"
}

cmd_stop() {
  [ $# -eq 1 ] || { usage >&2; exit 2; }
  stop_emulator "$1" sushy.pid sushy.conf
}

case "${1:-}" in
  setup) shift; cmd_setup "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop)  shift; cmd_stop "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac

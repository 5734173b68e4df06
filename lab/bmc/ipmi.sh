#!/usr/bin/env bash
# IPMI BMC emulator for the driver tests: OpenIPMI's ipmi_sim (Debian openipmi 2.0.33) serving
# IPMI 2.0 RMCP+ (lanplus) and IPMI 1.5 (lan) on 127.0.0.1:PORT/udp, with a chassis that keeps
# its power state and boot device in files. No VM behind it.
#
# Usage:
#   lab/bmc/ipmi.sh setup
#       apt-get installs openipmi (ipmi_sim) and ipmitool when missing (apt-get update only
#       when the package lists do not know them). Needs root. Idempotent.
#   lab/bmc/ipmi.sh start PORT STATE_DIR [USER PASS]
#       USER/PASS default to admin/password (user id 2, ADMINISTRATOR; no anonymous user).
#       Writes STATE_DIR/{lan.conf,sim.emu,chassis_control,lan_control}, resets the chassis to
#       power off / no boot override, starts ipmi_sim in the background on 127.0.0.1:PORT,
#       waits until `mc info` answers, prints its PID (only that, on stdout).
#       Chassis state, readable by tests:
#         STATE_DIR/power        1 or 0
#         STATE_DIR/boot         none | pxe | default (= disk) | cdrom | bios
#         STATE_DIR/chassis.log  one line per request ipmi_sim makes: "<epoch.ns> set power 1"
#       Also STATE_DIR/ipmi.json (host, port, user, password) for tests.
#       STATE_DIR must be a path without spaces or quotes (it goes into shell command lines).
#   lab/bmc/ipmi.sh stop STATE_DIR
#       Stops the ipmi_sim started with that STATE_DIR (SIGTERM, then SIGKILL after 5 s).
#
# Talk to it with: ipmitool -I lanplus -C 3 -H 127.0.0.1 -p PORT -U USER -P PASS ...
# (without -C 3 ipmitool 1.8.19 spends ~10 s on cipher suite discovery; -C 17 is refused).
# Environment: FERRIC_IPMI_WAIT  seconds to wait for ipmi_sim to answer (default 15)
# Facts, timings and pitfalls: lab/bmc/README.md.
set -euo pipefail

log() { echo "[ipmi] $*" >&2; }
die() { echo "ipmi.sh: $*" >&2; exit 1; }
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
usage() { awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0"; }

# ---------------------------------------------------------------------------------------------
cmd_setup() {
  [ $# -eq 0 ] || die "setup takes no arguments"
  if command -v ipmi_sim >/dev/null && command -v ipmitool >/dev/null; then
    log "ipmi_sim and ipmitool present ($(ipmitool -V 2>&1 | head -1))"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "installing openipmi/ipmitool needs root"
  local pkgs=(openipmi ipmitool) p
  export DEBIAN_FRONTEND=noninteractive
  # Update the lists only when apt does not know a package (a fresh image may have none).
  for p in "${pkgs[@]}"; do
    # (no `| grep -q` here: under pipefail its early exit can fail the pipeline via SIGPIPE)
    if [[ "$(apt-cache policy "$p" 2>/dev/null || true)" != *"Candidate: "[0-9]* ]]; then
      log "apt-get update (no candidate for $p)"
      apt-get update -qq
      break
    fi
  done
  log "apt-get install ${pkgs[*]}"
  if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; then
    log "install failed: apt-get update and retry"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  command -v ipmi_sim >/dev/null && command -v ipmitool >/dev/null \
    || die "ipmi_sim/ipmitool still missing after apt-get install"
  log "installed: $(ipmitool -V 2>&1 | head -1), openipmi $(dpkg-query -W -f='${Version}' openipmi)"
}

# ---------------------------------------------------------------------------------------------
port_busy_udp() {   # a UDP socket bound to PORT (any address, v4 or v6)
  local hex
  hex="$(printf '%04X' "$1")"
  awk -v h=":$hex" 'NR>1 && substr($2, length($2)-4)==h {f=1} END {exit !f}' \
    /proc/net/udp /proc/net/udp6 2>/dev/null
}

write_chassis_control() {   # $1 = path. Protocol: lanserv/ipmi_sim_chassiscontrol upstream.
  cat > "$1" <<'SH'
#!/bin/sh
# chassis_control program for ipmi_sim (written by lab/bmc/ipmi.sh).
# ipmi_sim runs it through popen as:  chassis_control STATE_DIR get PARM...
#                                      chassis_control STATE_DIR set PARM "VALUE" ...
# PARM: power (0|1), reset (1 = pulse), boot (none|pxe|default|cdrom|bios; "boot" is also what
# ipmi_sim asks for on Boot Info Ack), shutdown (1 = soft off), identify ("INTERVAL FORCE").
# "get" prints PARM:VALUE lines. A non-zero exit makes ipmi_sim answer "Unspecified error".
d="$1"; op="$2"
[ -n "$d" ] && [ -d "$d" ] || { echo "no state dir '$d'"; exit 1; }
shift 2
echo "$(date +%s.%N) $op $*" >> "$d/chassis.log"
put() { printf '%s\n' "$2" > "$d/$1.tmp" && mv -f "$d/$1.tmp" "$d/$1"; }
case "$op" in
  get)
    for p in "$@"; do
      case "$p" in
        power) v="$(cat "$d/power" 2>/dev/null || echo 0)" ;;
        boot)  v="$(cat "$d/boot" 2>/dev/null || echo none)" ;;
        *) echo "Invalid parameter: $p"; exit 1 ;;
      esac
      echo "$p:$v"
    done
    ;;
  set)
    while [ $# -gt 0 ]; do
      p="$1"
      [ $# -ge 2 ] || { echo "No value present for parameter $p"; exit 1; }
      v="$2"; shift 2
      case "$p" in
        power) case "$v" in 0|1) put power "$v" ;; *) echo "bad power $v"; exit 1 ;; esac ;;
        reset) ;;                    # a pulse: power stays as it is (logged above)
        shutdown) put power 0 ;;     # soft off: the "OS" obeys at once
        boot) case "$v" in none|pxe|default|cdrom|bios) put boot "$v" ;;
                *) echo "Invalid boot value: $v"; exit 1 ;; esac ;;
        identify) ;;
        *) echo "Invalid parameter: $p"; exit 1 ;;
      esac
    done
    ;;
  check) exit 1 ;;
  *) echo "Unknown operation: $op"; exit 1 ;;
esac
exit 0
SH
  chmod +x "$1"
}

write_lan_control() {   # $1 = path, $2 = MAC. Answers `lan print` with fixed values.
  cat > "$1" <<SH
#!/bin/sh
# lan_config_program for ipmi_sim (written by lab/bmc/ipmi.sh): fixed LAN parameters.
# Called as: lan_control DEVICE get PARM...   /   lan_control DEVICE set PARM "VALUE"...
op="\$2"; shift 2
case "\$op" in
  get)
    for p in "\$@"; do
      case "\$p" in
        ip_addr) v=127.0.0.1 ;;
        ip_addr_src) v=static ;;
        mac_addr) v=$2 ;;
        subnet_mask) v=255.0.0.0 ;;
        default_gw_ip_addr|backup_gw_ip_addr) v=0.0.0.0 ;;
        default_gw_mac_addr|backup_gw_mac_addr) v=00:00:00:00:00:00 ;;
        *) echo "Invalid parameter: \$p"; exit 1 ;;
      esac
      echo "\$p:\$v"
    done ;;
  set|check) exit 0 ;;           # accepted and ignored: the address stays 127.0.0.1
  *) echo "Unknown operation: \$op"; exit 1 ;;
esac
SH
  chmod +x "$1"
}

cmd_start() {
  [ $# -eq 2 ] || [ $# -eq 4 ] || { usage >&2; exit 2; }
  local port="$1" sdir="$2" user="${3:-admin}" pass="${4:-password}"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "bad PORT '$port'"
  [[ "$user" =~ ^[A-Za-z0-9._-]{1,16}$ ]] || die "USER: 1-16 of [A-Za-z0-9._-]"
  [ "${#pass}" -ge 1 ] && [ "${#pass}" -le 20 ] || die "PASS: 1-20 characters (IPMI 2.0 limit)"
  # lan.conf splits on blanks before it looks at quotes: no whitespace, '"' or '\' in it.
  [[ "$pass" =~ ^[^[:space:]\"\\]+$ ]] || die "PASS may not contain whitespace, \" or \\"
  command -v ipmi_sim >/dev/null || die "ipmi_sim missing: run 'lab/bmc/ipmi.sh setup'"
  command -v ipmitool >/dev/null || die "ipmitool missing: run 'lab/bmc/ipmi.sh setup'"
  mkdir -p "$sdir"
  sdir="$(cd "$sdir" && pwd)"
  [[ "$sdir" =~ ^[A-Za-z0-9/._+-]+$ ]] || die "STATE_DIR '$sdir' must not contain spaces or quotes"
  local conf="$sdir/lan.conf" pidf="$sdir/ipmi_sim.pid" logf="$sdir/ipmi_sim.log"
  if [ -f "$pidf" ] && is_ours "$(cat "$pidf")" "$conf"; then
    die "already running in $sdir (pid $(cat "$pidf")): stop it first"
  fi
  rm -f "$pidf"
  # ipmi_sim does not fail when the port is taken (it keeps running, deaf): check first.
  if port_busy_udp "$port"; then die "UDP port $port is already in use"; fi

  local mac guid
  mac="$(printf '52:54:00:5f:%02x:%02x' $(( port >> 8 )) $(( port & 255 )))"
  guid="$(printf '5e5e0000000040008000000000%06x' "$port")"
  write_chassis_control "$sdir/chassis_control"
  write_lan_control "$sdir/lan_control" "$mac"
  rm -rf "$sdir/sim"; mkdir -p "$sdir/sim"   # ipmi_sim's persistence (users, SEL, ...): fresh
  printf '0\n' > "$sdir/power"
  printf 'none\n' > "$sdir/boot"
  : > "$sdir/chassis.log"

  cat > "$conf" <<EOF
# lan.conf for ipmi_sim (written by lab/bmc/ipmi.sh; see ipmi_lan(5))
name "ferric-bmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $port
    priv_limit admin
    # IPMI 1.5 (-I lan): digest auth only, no "none"/"straight" (they would skip the password)
    allowed_auths_callback md2 md5
    allowed_auths_user md2 md5
    allowed_auths_operator md2 md5
    allowed_auths_admin md2 md5
    guid $guid
    lan_config_program "$sdir/lan_control lan0"
  endlan
  chassis_control "$sdir/chassis_control $sdir"
  # user-id enabled name password max-priv max-sessions auths
  user 2 true "$user" "$pass" admin 10 md2 md5
EOF
  cat > "$sdir/sim.emu" <<'EOF'
# ipmi_sim commands (written by lab/bmc/ipmi.sh; see ipmi_sim_cmd(5)): one BMC at 0x20
mc_setbmc 0x20
# addr dev-id sdrs dev-rev fw-major fw-minor dev-support manufacturer product
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
EOF
  printf '{"host": "127.0.0.1", "port": %d, "username": "%s", "password": "%s", "mac": "%s"}\n' \
    "$port" "$user" "$pass" "$mac" > "$sdir/ipmi.json"

  local t0 pid
  t0=$(date +%s%N)
  # -n: no console on stdin/stdout (needed to run detached); -s: persistence under STATE_DIR.
  setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$pidf" \
    ipmi_sim -c "$conf" -f "$sdir/sim.emu" -s "$sdir/sim" -n > "$logf" 2>&1 < /dev/null &
  for _ in $(seq 1 50); do [ -s "$pidf" ] && break; sleep 0.02; done
  pid="$(cat "$pidf" 2>/dev/null || true)"
  [ -n "$pid" ] || die "could not start ipmi_sim (see $logf)"
  local deadline=$(( $(date +%s) + ${FERRIC_IPMI_WAIT:-15} ))
  while :; do
    if ! pid_alive "$pid"; then
      tail -n 20 "$logf" >&2 || true; rm -f "$pidf"
      die "ipmi_sim exited during start-up (log: $logf)"
    fi
    if port_busy_udp "$port" && ipmitool -I lanplus -C 3 -N 1 -R 1 -H 127.0.0.1 -p "$port" \
         -U "$user" -P "$pass" mc info >/dev/null 2>&1; then
      break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      kill "$pid" 2>/dev/null || true; rm -f "$pidf"
      die "ipmi_sim did not answer on 127.0.0.1:$port within ${FERRIC_IPMI_WAIT:-15}s (log: $logf)"
    fi
    sleep 0.05
  done
  : > "$sdir/chassis.log"   # drop the start-up probe's lines
  log "up at 127.0.0.1:$port/udp in $(( ($(date +%s%N) - t0) / 1000000 )) ms (user $user)"
  echo "$pid"
}

cmd_stop() {
  [ $# -eq 1 ] || { usage >&2; exit 2; }
  stop_emulator "$1" ipmi_sim.pid lan.conf
}

case "${1:-}" in
  setup) shift; cmd_setup "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop)  shift; cmd_stop "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac

# Shared by sushy.sh and ipmi.sh (sourced; they define log()): the processes they start.

pid_alive() {   # a live (non-zombie) process
  local pid="$1" st
  [ -r "/proc/$pid/stat" ] || return 1
  st="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

is_ours() {   # pid is alive and was started with MARKER (a STATE_DIR's config file) on its command line
  local pid="$1" marker="$2" cmdline
  pid_alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *"$marker"* ]]
}

stop_emulator() {   # STATE_DIR PIDFILE_NAME MARKER_NAME: SIGTERM, SIGKILL after 5 s; stale pid files removed
  local sdir="$1" pidf pid
  [ -d "$sdir" ] || { log "no state dir $sdir: nothing to stop"; return 0; }
  sdir="$(cd "$sdir" && pwd)"
  pidf="$sdir/$2"
  [ -f "$pidf" ] || { log "not running ($pidf missing)"; return 0; }
  pid="$(cat "$pidf")"
  if ! is_ours "$pid" "$sdir/$3"; then
    log "pid $pid is not running (or not ours): removing stale $pidf"
    rm -f "$pidf"; return 0
  fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.05; done
  if pid_alive "$pid"; then log "pid $pid ignored SIGTERM: SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$pidf"
  log "stopped pid $pid"
}

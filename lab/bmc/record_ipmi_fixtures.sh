#!/usr/bin/env bash
# Record real ipmitool 1.8.19 output against ipmi_sim (lab/bmc/ipmi.sh) into
# crates/drivers/tests/fixtures/ipmitool/ (or OUT_DIR): one NAME.json per command with
#   {"argv": [...after the connection options...], "rc", "stdout", "stderr", "elapsed_ms",
#    "chassis_after": {"power", "boot"}}
# plus index.json. Connection options (not repeated per file):
#   ipmitool -I lanplus -C 3 -H 127.0.0.1 -p PORT -U admin -P password
# Usage: lab/bmc/record_ipmi_fixtures.sh [OUT_DIR]   (needs: lab/bmc/ipmi.sh setup)
# Port: FERRIC_IPMI_REC_PORT (default 16401).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$REPO/crates/drivers/tests/fixtures/ipmitool}"
PORT="${FERRIC_IPMI_REC_PORT:-16401}"
TMP="$(mktemp -d /tmp/ferric-ipmi-rec.XXXXXX)"
SD="$TMP/bmc"
mkdir -p "$OUT" "$TMP/raw"
cleanup() { "$HERE/ipmi.sh" stop "$SD" >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
"$HERE/ipmi.sh" start "$PORT" "$SD" admin password >/dev/null

CONN=(-I lanplus -C 3 -H 127.0.0.1 -p "$PORT")
: > "$TMP/raw/list"

# rec NAME [ENV=VAL] -- ipmitool-args...    (records "$@" after --)
rec() {
  local name="$1"; shift
  local -a envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local t0 t1 rc=0
  t0=$(date +%s%N)
  timeout 20 env "${envs[@]}" ipmitool "${CONN[@]}" "$@" > "$TMP/raw/$name.out" 2> "$TMP/raw/$name.err" < /dev/null || rc=$?
  t1=$(date +%s%N)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( (t1 - t0) / 1000000 ))" \
    "$(cat "$SD/power")" "$(cat "$SD/boot")" "$(printf '%s\037' "${envs[@]}" "$@")" >> "$TMP/raw/list"
  echo "  rc=$rc $* -> $name" >&2
}
U=(-U admin -P password)
rec mc_info -- "${U[@]}" mc info
rec mc_guid -- "${U[@]}" mc guid
rec lan_print -- "${U[@]}" lan print
rec chassis_status_off -- "${U[@]}" chassis status
rec power_status_off -- "${U[@]}" chassis power status
rec power_on -- "${U[@]}" chassis power on
rec power_status_on -- "${U[@]}" chassis power status
rec chassis_status_on -- "${U[@]}" chassis status
rec power_reset -- "${U[@]}" chassis power reset
rec power_soft -- "${U[@]}" chassis power soft
rec power_status_after_soft -- "${U[@]}" chassis power status
rec power_cycle_when_off -- "${U[@]}" chassis power cycle
rec power_status_right_after_cycle -- "${U[@]}" chassis power status
sleep 1.5
rec power_status_1500ms_after_cycle -- "${U[@]}" chassis power status
rec power_off -- "${U[@]}" chassis power off
rec power_diag -- "${U[@]}" chassis power diag
rec bootparam_get5_initial -- "${U[@]}" chassis bootparam get 5
rec bootdev_pxe -- "${U[@]}" chassis bootdev pxe
rec bootparam_get5_pxe -- "${U[@]}" chassis bootparam get 5
rec bootdev_disk -- "${U[@]}" chassis bootdev disk
rec bootparam_get5_disk -- "${U[@]}" chassis bootparam get 5
rec bootdev_cdrom -- "${U[@]}" chassis bootdev cdrom
rec bootparam_get5_cdrom -- "${U[@]}" chassis bootparam get 5
rec bootdev_bios -- "${U[@]}" chassis bootdev bios
rec bootparam_get5_bios -- "${U[@]}" chassis bootparam get 5
rec bootdev_safe_unsupported -- "${U[@]}" chassis bootdev safe
rec bootdev_none -- "${U[@]}" chassis bootdev none
rec bootparam_get5_none -- "${U[@]}" chassis bootparam get 5
rec bootdev_pxe_efiboot_persistent -- "${U[@]}" chassis bootdev pxe options=efiboot,persistent
rec bootparam_get5_after_efiboot -- "${U[@]}" chassis bootparam get 5
# What Ironic's ipmitool driver sends for UEFI + persistent + PXE, and the raw read back.
rec raw_set_boot_uefi_persistent_pxe -- "${U[@]}" raw 0x00 0x08 0x05 0xe0 0x04 0x00 0x00 0x00
rec raw_get_boot_flags -- "${U[@]}" raw 0x00 0x09 0x05 0x00 0x00
rec wrong_password -- -U admin -P wrong chassis power status
rec unknown_user -- -U nobody -P password chassis power status
rec env_password IPMI_PASSWORD=password -- -U admin -E chassis power status
rec env_password_wrong IPMI_PASSWORD=wrong -- -U admin -E chassis power status
rec env_password_unset -- -U admin -E chassis power status
rec cipher_17_unsupported -- -C 17 "${U[@]}" chassis power status
rec ipmi15_lan -- -I lan "${U[@]}" chassis power status

python3 - "$TMP/raw" "$OUT" "$PORT" "$(ipmitool -V 2>&1 | head -1)" \
  "$(dpkg-query -W -f='${Version}' openipmi 2>/dev/null || echo unknown)" <<'PY'
import json, os, sys
raw, out, port, itv, oiv = sys.argv[1:6]
index = []
for line in open(os.path.join(raw, "list")):
    name, rc, ms, power, boot, argv = line.rstrip("\n").split("\t")
    argv = [a for a in argv.split("\037") if a != ""]
    rec = {"argv": argv, "rc": int(rc),
           "stdout": open(os.path.join(raw, name + ".out"), encoding="utf-8", errors="replace").read(),
           "stderr": open(os.path.join(raw, name + ".err"), encoding="utf-8", errors="replace").read(),
           "elapsed_ms": int(ms), "chassis_after": {"power": power, "boot": boot}}
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(rec, f, indent=2)
        f.write("\n")
    index.append({"file": name + ".json", "argv": argv, "rc": int(rc)})
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"recorded_with": "%s against ipmi_sim (openipmi %s) from lab/bmc/ipmi.sh, "
                                "lab/bmc/record_ipmi_fixtures.sh" % (itv, oiv),
               "connection": ["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", port],
               "note": "argv holds only what follows the connection options; ENV=VAL items "
                       "before the first option were set in the environment",
               "fixtures": index}, f, indent=2)
    f.write("\n")
print("%d fixtures in %s" % (len(index), out))
PY

#!/usr/bin/env bash
# Record real sushy-emulator (sushy-tools 2.2.0, fake driver) replies with curl into
# crates/drivers/tests/fixtures/sushy/ (or OUT_DIR). Starts and stops its own emulators:
#   run A  lab/bmc/sushy.sh start PORT_A <tmp>/a 2                 (plain HTTP, no auth,
#                                                                 upstream 1-11 s power delay)
#   run B  lab/bmc/sushy.sh start PORT_B <tmp>/b 1 --auth admin:s3cret --tls
# Files:
#   NAME.json        a 200 reply's body, byte for byte as the emulator sent it
#   NAME.reply.json  {"request": {method, path, body}, "status", "headers", "body"} for actions,
#                    errors and redirects (body parsed as JSON when it is JSON, else a string,
#                    null when empty)
#   index.json       every file with its method, path, status and run
# Usage: lab/bmc/record_sushy_fixtures.sh [OUT_DIR]   (needs: lab/bmc/sushy.sh setup; curl)
# Ports: FERRIC_SUSHY_REC_PORT_A (default 18401), FERRIC_SUSHY_REC_PORT_B (default 18402).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$REPO/crates/drivers/tests/fixtures/sushy}"
PORT_A="${FERRIC_SUSHY_REC_PORT_A:-18401}"
PORT_B="${FERRIC_SUSHY_REC_PORT_B:-18402}"
TMP="$(mktemp -d /tmp/ferric-sushy-rec.XXXXXX)"
RAW="$TMP/raw"
mkdir -p "$OUT" "$RAW"

cleanup() {
  "$HERE/sushy.sh" stop "$TMP/a" >/dev/null 2>&1 || true
  "$HERE/sushy.sh" stop "$TMP/b" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

"$HERE/sushy.sh" start "$PORT_A" "$TMP/a" 2 >/dev/null
"$HERE/sushy.sh" start "$PORT_B" "$TMP/b" 1 --auth admin:s3cret --tls >/dev/null

A="http://127.0.0.1:$PORT_A"
B="https://127.0.0.1:$PORT_B"
CA="$TMP/b/tls/ca.pem"
S0=5e5e0000-0000-4000-8000-000000000000
SYS="/redfish/v1/Systems/$S0"
: > "$RAW/list"

# rec RUN KIND NAME METHOD PATH [BODY [extra curl args...]]   (BODY '' = none)
#   KIND: res (200 body only) or reply (envelope)
rec() {
  local run="$1" kind="$2" name="$3" method="$4" path="$5" body="${6:-}" base
  shift 6 || shift $#
  local -a args=(-s -X "$method" -D "$RAW/$name.h" -o "$RAW/$name.b" -w '%{http_code}')
  if [ "$run" = a ]; then base="$A"; else base="$B"; args+=(--cacert "$CA"); fi
  case "$body" in
    "") ;;
    "{"*) args+=(-H 'Content-Type: application/json' --data-raw "$body") ;;
    *) args+=(--data-raw "$body") ;;   # form-encoded (curl's default type): a non-JSON body
  esac
  args+=("$@")
  local code
  code="$(curl "${args[@]}" "$base$path")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$run" "$method" "$path" "$code" "$body" >> "$RAW/list"
  echo "  $code $method $path -> $name" >&2
}
AUTH=(-u admin:s3cret)
wait_power() {   # wait_power STATE: poll the system (run A) until PowerState is STATE, max 15 s
  for _ in $(seq 1 150); do
    [[ "$(curl -s "$A$SYS" || true)" == *"\"PowerState\": \"$1\""* ]] && return 0
    sleep 0.1
  done
  echo "power never became $1" >&2; return 1
}

echo "run A: $A (2 systems, no auth)" >&2
rec a res root GET /redfish/v1/
rec a res systems GET /redfish/v1/Systems
rec a res system GET "$SYS"
rec a res system_1 GET "/redfish/v1/Systems/5e5e0000-0000-4000-8000-000000000001"
rec a reply system_by_name GET /redfish/v1/Systems/sushy-0
rec a res ethernet_interfaces GET "$SYS/EthernetInterfaces"
rec a res ethernet_interface GET "$SYS/EthernetInterfaces/52:54:00:5e:00:00"
rec a reply ethernet_interface_unknown GET "$SYS/EthernetInterfaces/52:54:00:5e:ff:ff"
rec a reply processors GET "$SYS/Processors"
rec a reply processor GET "$SYS/Processors/CPU0"
rec a reply memory GET "$SYS/Memory"
rec a reply memory_member GET "$SYS/Memory/DIMM0"
rec a reply simple_storage GET "$SYS/SimpleStorage"
rec a res storage_collection GET "$SYS/Storage"
rec a res storage GET "$SYS/Storage/1"
rec a res drive GET "$SYS/Storage/1/Drives/disk-0"
rec a res drive_1 GET "$SYS/Storage/1/Drives/disk-1"
rec a reply volumes GET "$SYS/Storage/1/Volumes"
rec a reply bios GET "$SYS/BIOS"
rec a res secure_boot GET "$SYS/SecureBoot"
rec a res managers GET /redfish/v1/Managers
rec a res manager GET "/redfish/v1/Managers/$S0"
rec a res virtual_media GET "$SYS/VirtualMedia"
rec a res virtual_media_cd GET "$SYS/VirtualMedia/Cd"
rec a reply manager_virtual_media GET "/redfish/v1/Managers/$S0/VirtualMedia"
rec a res chassis_collection GET /redfish/v1/Chassis
rec a res chassis GET /redfish/v1/Chassis/15693887-7984-9484-3272-842188918912
rec a reply session_service GET /redfish/v1/SessionService
rec a reply sessions GET /redfish/v1/SessionService/Sessions
rec a reply sessions_post POST /redfish/v1/SessionService/Sessions '{"UserName":"admin","Password":"s3cret"}'
rec a reply unknown_system GET /redfish/v1/Systems/no-such-system
rec a reply unknown_manager GET /redfish/v1/Managers/no-such-manager

# Power: each ResetType from the system's ResetType@Redfish.AllowableValues (no ActionInfo).
rec a reply reset_On POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"On"}'
wait_power On
rec a res system_power_on GET "$SYS"
rec a reply reset_On_again POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"On"}'
rec a reply reset_ForceOff POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"ForceOff"}'
rec a reply reset_GracefulShutdown POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"GracefulShutdown"}'
rec a reply reset_GracefulRestart POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"GracefulRestart"}'
rec a reply reset_ForceRestart POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"ForceRestart"}'
rec a reply reset_Nmi POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"Nmi"}'
rec a reply reset_ForceOn POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"ForceOn"}'
rec a reply reset_bad_type POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"PushPowerButton"}'
rec a reply reset_no_type POST "$SYS/Actions/ComputerSystem.Reset" '{}'
rec a reply reset_not_json POST "$SYS/Actions/ComputerSystem.Reset" 'ResetType=On'
rec a reply reset_unknown_system POST /redfish/v1/Systems/no-such-system/Actions/ComputerSystem.Reset '{"ResetType":"On"}'

# Boot.
rec a reply patch_boot_pxe_once PATCH "$SYS" '{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}'
rec a res system_boot_pxe GET "$SYS"
rec a reply patch_boot_mode_legacy PATCH "$SYS" '{"Boot":{"BootSourceOverrideMode":"Legacy"}}'
rec a res system_boot_mode_legacy GET "$SYS"
rec a reply patch_boot_mode_uefi PATCH "$SYS" '{"Boot":{"BootSourceOverrideMode":"UEFI"}}'
rec a reply patch_boot_mode_Uefi_miscased PATCH "$SYS" '{"Boot":{"BootSourceOverrideMode":"Uefi"}}'
rec a res system_boot_mode_Uefi_miscased GET "$SYS"
rec a reply patch_boot_mode_uefi_restore PATCH "$SYS" '{"Boot":{"BootSourceOverrideMode":"UEFI"}}'
rec a reply patch_boot_target_bogus PATCH "$SYS" '{"Boot":{"BootSourceOverrideTarget":"Floppy"}}'
rec a reply patch_boot_hdd PATCH "$SYS" '{"Boot":{"BootSourceOverrideTarget":"Hdd","BootSourceOverrideEnabled":"Continuous"}}'
rec a reply patch_boot_empty PATCH "$SYS" '{"Boot":{}}'
rec a reply patch_no_boot PATCH "$SYS" '{"AssetTag":"x"}'
rec a reply patch_unknown_system PATCH /redfish/v1/Systems/no-such-system '{"Boot":{"BootSourceOverrideTarget":"Pxe"}}'

echo "run B: $B (1 system, basic auth admin:s3cret, TLS)" >&2
rec b res auth_root_without_credentials GET /redfish/v1/
rec b reply auth_none GET /redfish/v1/Systems
rec b reply auth_bad_password GET /redfish/v1/Systems '' -u admin:wrong
rec b reply auth_unknown_user GET /redfish/v1/Systems '' -u nobody:s3cret
rec b reply auth_bearer GET /redfish/v1/Systems '' -H 'Authorization: Bearer abc'
rec b reply auth_x_auth_token GET /redfish/v1/Systems '' -H 'X-Auth-Token: abc'
rec b res auth_systems GET /redfish/v1/Systems '' "${AUTH[@]}"
rec b res auth_system GET "$SYS" '' "${AUTH[@]}"
rec b reply auth_session_service GET /redfish/v1/SessionService '' "${AUTH[@]}"
rec b reply auth_sessions_post_without_credentials POST /redfish/v1/SessionService/Sessions '{"UserName":"admin","Password":"s3cret"}'
rec b reply auth_sessions_post POST /redfish/v1/SessionService/Sessions '{"UserName":"admin","Password":"s3cret"}' "${AUTH[@]}"
rec b reply auth_reset_On POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"On"}' "${AUTH[@]}"
rec b reply auth_reset_without_credentials POST "$SYS/Actions/ComputerSystem.Reset" '{"ResetType":"On"}'

SUSHY_VERSION="$("$REPO/.venv-conformance/sushy/bin/pip" show sushy-tools 2>/dev/null | awk '/^Version/ {print $2}' || true)"
python3 - "$RAW" "$OUT" "${SUSHY_VERSION:-2.2.0}" <<'PY'
import json, os, sys
raw, out, version = sys.argv[1:4]
index = []
for line in open(os.path.join(raw, "list")):
    name, kind, run, method, path, code, body = line.rstrip("\n").split("\t")
    status = int(code)
    data = open(os.path.join(raw, name + ".b"), "rb").read()
    head = open(os.path.join(raw, name + ".h"), "rb").read().decode("latin-1")
    blocks = [b for b in head.replace("\r\n", "\n").split("\n\n") if b.strip()]
    lines = blocks[-1].split("\n")        # the last reply (no -L, so the only one)
    headers = {}
    for h in lines[1:]:
        if ":" in h:
            k, v = h.split(":", 1)
            headers[k.strip()] = v.strip()
    if kind == "res":
        if status != 200:
            sys.exit("%s: expected 200, got %d" % (name, status))
        json.loads(data)                  # must be valid JSON
        fname = name + ".json"
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
    else:
        text = data.decode("utf-8")
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = text
        try:
            req_body = json.loads(body) if body else None
        except ValueError:
            req_body = body
        env = {"request": {"method": method, "path": path, "body": req_body},
               "status": status, "status_line": lines[0], "headers": headers, "body": parsed}
        fname = name + ".reply.json"
        with open(os.path.join(out, fname), "w") as f:
            json.dump(env, f, indent=2)
            f.write("\n")
    index.append({"file": fname, "run": run, "method": method, "path": path, "status": status})
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"recorded_with": "sushy-tools %s, fake driver, lab/bmc/record_sushy_fixtures.sh" % version,
               "runs": {"a": "2 systems, http, no auth", "b": "1 system, https, basic auth admin:s3cret"},
               "fixtures": index}, f, indent=2)
    f.write("\n")
print("%d fixtures in %s" % (len(index), out))
PY

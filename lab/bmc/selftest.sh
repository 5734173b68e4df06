#!/usr/bin/env bash
# Self-test of the lab BMC emulators: sets both up (lab/bmc/{sushy,ipmi}.sh setup), starts them
# on 127.0.0.1, checks what the driver tests rely on, stops them. Last line: "N passed, N failed".
# Usage: lab/bmc/selftest.sh   (ports: FERRIC_BMC_TEST_SUSHY_PORT 18501, FERRIC_BMC_TEST_IPMI_PORT 16601)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SPORT="${FERRIC_BMC_TEST_SUSHY_PORT:-18501}"
IPORT="${FERRIC_BMC_TEST_IPMI_PORT:-16601}"
TMP="$(mktemp -d /tmp/ferric-bmc-selftest.XXXXXX)"
cleanup() {
  "$HERE/sushy.sh" stop "$TMP/sushy" >/dev/null 2>&1 || true
  "$HERE/sushy.sh" stop "$TMP/sushy-plain" >/dev/null 2>&1 || true
  "$HERE/ipmi.sh" stop "$TMP/ipmi" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() {   # check DESCRIPTION EXPECTED ACTUAL  (ACTUAL must contain EXPECTED)
  if [[ "$3" == *"$2"* ]]; then ok "$1"; else bad "$1: wanted '$2' in '$3'"; fi
}

"$HERE/sushy.sh" setup
"$HERE/ipmi.sh" setup

# --- Redfish -----------------------------------------------------------------------------
"$HERE/sushy.sh" start "$SPORT" "$TMP/sushy" 2 --auth admin:s3cret --tls --power-delay 0 >/dev/null
C=(curl -s --max-time 5 --cacert "$TMP/sushy/tls/ca.pem")
R="https://127.0.0.1:$SPORT/redfish/v1"
S="$R/Systems/5e5e0000-0000-4000-8000-000000000001"
check "redfish root without credentials" '"RedfishVersion"' "$("${C[@]}" "$R/")"
check "redfish 401 without credentials" 401 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$R/Systems")"
check "redfish 401 bad password" 401 "$("${C[@]}" -o /dev/null -w '%{http_code}' -u admin:x "$R/Systems")"
check "redfish systems with basic auth" '"Members@odata.count": 2' "$("${C[@]}" -u admin:s3cret "$R/Systems")"
check "redfish system name" '"Name": "sushy-1"' "$("${C[@]}" -u admin:s3cret "$S")"
check "redfish NIC MAC" '52:54:00:5e:01:01' "$("${C[@]}" -u admin:s3cret "$S/EthernetInterfaces")"
check "redfish no SessionService" 404 "$("${C[@]}" -o /dev/null -w '%{http_code}' -u admin:s3cret "$R/SessionService")"
check "redfish reset On" 204 "$("${C[@]}" -o /dev/null -w '%{http_code}' -u admin:s3cret \
  -H 'Content-Type: application/json' -d '{"ResetType":"On"}' "$S/Actions/ComputerSystem.Reset")"
check "redfish power On (delay 0)" '"PowerState": "On"' "$("${C[@]}" -u admin:s3cret "$S")"
check "redfish PATCH boot Pxe" 204 "$("${C[@]}" -o /dev/null -w '%{http_code}' -u admin:s3cret -X PATCH \
  -H 'Content-Type: application/json' \
  -d '{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}' "$S")"
check "redfish boot target Pxe" '"BootSourceOverrideTarget": "Pxe"' "$("${C[@]}" -u admin:s3cret "$S")"
check "redfish drive capacity" '"CapacityBytes": 107374182400' \
  "$("${C[@]}" -u admin:s3cret "$S/Storage/1/Drives/disk-0")"
check "redfish unknown system 404" 404 "$("${C[@]}" -o /dev/null -w '%{http_code}' -u admin:s3cret "$R/Systems/nope")"
"$HERE/sushy.sh" stop "$TMP/sushy" >/dev/null 2>&1
# Upstream (unpatched) delay: the change is not visible at once, and is within 11 s.
"$HERE/sushy.sh" start "$SPORT" "$TMP/sushy-plain" 1 >/dev/null
P="http://127.0.0.1:$SPORT/redfish/v1/Systems/5e5e0000-0000-4000-8000-000000000000"
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"ResetType":"On"}' "$P/Actions/ComputerSystem.Reset"
t0=$(date +%s%N); state=""
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 13000 ]; do
  state="$(curl -s "$P")"; [[ "$state" == *'"PowerState": "On"'* ]] && break; sleep 0.1
done
check "redfish upstream power delay <= 11 s ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" '"PowerState": "On"' "$state"
"$HERE/sushy.sh" stop "$TMP/sushy-plain" >/dev/null 2>&1

# --- IPMI --------------------------------------------------------------------------------
"$HERE/ipmi.sh" start "$IPORT" "$TMP/ipmi" admin password >/dev/null
I=(ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$IPORT" -U admin -P password)
ipmi() { "${I[@]}" "$@" 2>&1 < /dev/null || true; }
check "ipmi mc info" "IPMI Version              : 2.0" "$(ipmi mc info)"
check "ipmi power off at start" "Chassis Power is off" "$(ipmi chassis power status)"
ipmi chassis power on >/dev/null
check "ipmi power on" "Chassis Power is on" "$(ipmi chassis power status)"
check "ipmi power file" 1 "$(cat "$TMP/ipmi/power")"
ipmi chassis power reset >/dev/null
check "ipmi reset logged" "set reset 1" "$(cat "$TMP/ipmi/chassis.log")"
ipmi chassis power off >/dev/null
check "ipmi power off" "Chassis Power is off" "$(ipmi chassis power status)"
ipmi chassis bootdev pxe >/dev/null
check "ipmi bootparam 5 pxe" "Boot Device Selector : Force PXE" "$(ipmi chassis bootparam get 5)"
ipmi chassis bootdev disk >/dev/null
check "ipmi bootparam 5 disk" "Force Boot from default Hard-Drive" "$(ipmi chassis bootparam get 5)"
check "ipmi lan print" "IP Address              : 127.0.0.1" "$(ipmi lan print)"
check "ipmi wrong password" "Unable to establish IPMI v2 / RMCP+ session" \
  "$(ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$IPORT" -U admin -P wrong chassis power status 2>&1 < /dev/null || true)"
check "ipmi -E with IPMI_PASSWORD" "Chassis Power is off" \
  "$(IPMI_PASSWORD=password ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$IPORT" -U admin -E chassis power status 2>&1 < /dev/null || true)"
"$HERE/ipmi.sh" stop "$TMP/ipmi" >/dev/null 2>&1

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

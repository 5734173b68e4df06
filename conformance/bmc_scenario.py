#!/usr/bin/env python3
"""ferric's Redfish and IPMI drivers against real BMC emulators, through the real `baremetal` CLI.

Usage: $FERRIC_VENV_DIR/clients/bin/python conformance/bmc_scenario.py FERRIC_BINARY

Starts and stops everything itself: sushy-tools emulators and an ipmi_sim (lab/bmc/sushy.sh,
lab/bmc/ipmi.sh; both must have been set up), small misbehaving servers of its own (one that
hangs, one that answers garbage, a closed port), an HTTP listener for sushy's change
notifications, and `FERRIC_BINARY serve` on a fresh data dir with short BMC time-outs. Every
outcome is checked on the BMC side too (Redfish GETs with basic auth, `ipmitool -E`, the
ipmi_sim state files, sushy's change notifications), not only in ferric's record.

Output: one line per check, "ok - <what>" or "FAIL - <what>: <evidence>"; emulator limitations
that make a check impossible are "SKIP - <what>: <why>" (never counted as passed). The last line
is "N passed, M failed"; the exit status is 1 when M > 0.

Environment:
  FERRIC_VENV_DIR   venvs (clients/ with the baremetal CLI, sushy/ made by lab/bmc/sushy.sh setup)
  FERRIC_BMC_OUT    if set, ferric's log and the emulators' logs are copied there at the end
  FERRIC_BMC_KEEP=1 keep the temporary directory
"""
import concurrent.futures
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

if len(sys.argv) != 2:
    sys.stderr.write(__doc__)
    sys.exit(2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERRIC = os.path.abspath(sys.argv[1])
VENV_DIR = os.environ.get("FERRIC_VENV_DIR") or os.path.join(REPO, ".venv-conformance")
BM = os.path.join(VENV_DIR, "clients", "bin", "baremetal")
SUSHY_SH = os.path.join(REPO, "lab", "bmc", "sushy.sh")
IPMI_SH = os.path.join(REPO, "lab", "bmc", "ipmi.sh")
GIB = 1 << 30
BOUND = 30.0          # every failure against a bad BMC must be recorded within this (s)
WAIT = 60             # --wait for manage / inspect (s)
T0 = time.time()

passed = failed = skipped = 0
_print_lock = threading.Lock()


def check(what, ok, evidence=""):
    global passed, failed
    with _print_lock:
        if ok:
            passed += 1
            print(f"ok - {what}", flush=True)
        else:
            failed += 1
            ev = evidence if isinstance(evidence, str) else repr(evidence)
            print(f"FAIL - {what}: {ev[:1500]}", flush=True)
    return ok


def skip(what, why):
    global skipped
    with _print_lock:
        skipped += 1
        print(f"SKIP - {what}: {why}", flush=True)


def note(msg):
    with _print_lock:
        print(f"# [{time.time() - T0:5.1f}s] {msg}", flush=True)


# --- processes --------------------------------------------------------------------------------
TMP = tempfile.mkdtemp(prefix="ferric-bmc-")
SUFFIX = secrets.token_hex(3)


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sh(*cmd, timeout=60, env=None):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


STARTED = []   # (kind, state dir) to stop


def start_sushy(name, n, *opts):
    sdir = os.path.join(TMP, name)
    for _ in range(3):   # a port picked free may be taken by the time sushy binds it
        port = free_port()
        p = sh("bash", SUSHY_SH, "start", str(port), sdir, str(n), *opts, timeout=60)
        if p.returncode == 0:
            STARTED.append(("sushy", sdir))
            with open(os.path.join(sdir, "sushy.json")) as f:
                m = json.load(f)
            m["dir"] = sdir
            return m
        if "already in use" not in p.stderr:
            break
    raise RuntimeError(f"sushy.sh start {name} failed: {p.stderr.strip()[-800:]}")


def start_ipmi(name, user, password):
    sdir = os.path.join(TMP, name)
    for _ in range(3):
        port = free_port(socket.SOCK_DGRAM)
        p = sh("bash", IPMI_SH, "start", str(port), sdir, user, password, timeout=60)
        if p.returncode == 0:
            STARTED.append(("ipmi", sdir))
            with open(os.path.join(sdir, "ipmi.json")) as f:
                m = json.load(f)
            m["dir"] = sdir
            return m
        if "already in use" not in p.stderr:
            break
    raise RuntimeError(f"ipmi.sh start {name} failed: {p.stderr.strip()[-800:]}")


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass


class NotifyHandler(Quiet):
    """sushy's external notifier: every change of a system is PUT here as the system's dict."""
    seen = []

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        NotifyHandler.seen.append((time.time(), doc))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT


class GarbageHandler(Quiet):
    """A 'BMC' that answers every request with 200 and a body that is not JSON."""
    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = b"\x00\xffgarbage{{{ <html> not json \x7f"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer


def serve_http(handler):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class HangServer:
    """Accepts TCP connections and never answers (nor closes them)."""
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.accepted = 0
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)

    def close(self):
        self.stop = True
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()


# --- the API and the CLI ------------------------------------------------------------------------
API = None
CLI_ENV = dict(os.environ, OS_AUTH_TYPE="none")
for k in ("OS_CLOUD", "OS_AUTH_URL", "OS_TOKEN", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME",
          "OS_BAREMETAL_API_VERSION"):
    CLI_ENV.pop(k, None)


class CliError(Exception):
    pass


def bm(*args, timeout=120, ok=True):
    cmd = [BM] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, env=CLI_ENV, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CliError(f"'baremetal {' '.join(map(str, args))}' timed out after {timeout}s")
    if ok and p.returncode != 0:
        raise CliError(f"'baremetal {' '.join(map(str, args))}' exited {p.returncode}: "
                       f"{(p.stderr or p.stdout).strip()[-800:]}")
    return p


def bmj(*args, **kw):
    return json.loads(bm(*args, "-f", "json", **kw).stdout)


def node_api(ident):
    r = requests.get(f"{API}/v1/nodes/{ident}", headers={"X-OpenStack-Ironic-API-Version": "1.81"},
                     timeout=10)
    r.raise_for_status()
    return r.json()


def wait_node(ident, pred, timeout):
    """Poll ferric until pred(node); returns (node, seconds, reached)."""
    t = time.time()
    while True:
        n = node_api(ident)
        if pred(n):
            return n, time.time() - t, True
        if time.time() - t > timeout:
            return n, time.time() - t, False
        time.sleep(0.1)


def idle(n):
    return n.get("target_power_state") is None and n.get("target_provision_state") is None \
        and n.get("reservation") is None


def brief(n, *keys):
    keys = keys or ("provision_state", "power_state", "target_power_state", "reservation", "last_error")
    return {k: n.get(k) for k in keys}


# --- the BMCs' side ------------------------------------------------------------------------------
def rf_get(s, path):
    r = requests.get(s["url"] + path, auth=(s["username"], s["password"]),
                     verify=s["ca"] or True, timeout=10)
    r.raise_for_status()
    return r.json()


def rf_system(s, i):
    return rf_get(s, s["systems"][i]["path"])


def ipmitool(b, *cmd):
    env = dict(os.environ, IPMI_PASSWORD=b["password"])
    return sh("ipmitool", "-I", "lanplus", "-C", "3", "-H", b["host"], "-p", str(b["port"]),
              "-U", b["username"], "-E", *cmd, timeout=30, env=env)


def read(path):
    with open(path) as f:
        return f.read().strip()


class PsWatch:
    """Polls `ps -eo ppid=,args=` while IPMI operations run: every ipmitool command line seen."""
    def __init__(self):
        self.lines = []
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                out = subprocess.run(["ps", "-eo", "ppid=,args="], capture_output=True, text=True,
                                     timeout=10).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            self.samples += 1
            for line in out.splitlines():
                ppid, _, args = line.strip().partition(" ")
                # An exiting process shows as "[ipmitool]", a zombie as "[ipmitool] <defunct>":
                # the kernel has freed its command line, so there is nothing to check.
                if "ipmitool" in args and not args.startswith(("ps ", "[")):
                    self.lines.append((int(ppid) if ppid.isdigit() else -1, args.strip()))

    def stop(self):
        self._stop.set()
        self._t.join(timeout=15)


# --- the scenario ----------------------------------------------------------------------------
PW = {k: f"{k}{secrets.token_hex(5)}" for k in ("rfA", "rfB", "rfC", "ipmi", "rfBad", "ipBad", "rfX")}


def section_drivers():
    drivers = bmj("driver", "list")
    names = set()
    for d in drivers:
        for v in d.values():
            if isinstance(v, str):
                names.add(v)
    check("driver list shows redfish and ipmi", {"redfish", "ipmi"} <= names, drivers)
    want = {
        "redfish": ["redfish_address", "redfish_system_id", "redfish_username", "redfish_password",
                    "redfish_verify_ca", "redfish_auth_type"],
        "ipmi": ["ipmi_address", "ipmi_port", "ipmi_username", "ipmi_password", "ipmi_priv_level",
                 "ipmi_protocol_version", "ipmi_cipher_suite"],
    }
    for drv, keys in want.items():
        props = bmj("driver", "property", "list", drv)
        have = {p.get("Property") or p.get("property") for p in props}
        missing = [k for k in keys if k not in have]
        check(f"driver property list {drv} names {', '.join(keys)}", not missing,
              f"missing {missing}; listed {sorted(have)}")


def create(name, driver, info, *extra):
    args = ["node", "create", "--driver", driver, "--name", name]
    for k, v in info.items():
        args += ["--driver-info", f"{k}={v}"]
    return bmj(*args, *extra)


def rf_info(s, system=None, password=None):
    info = {"redfish_address": s["url"], "redfish_username": s["username"],
            "redfish_password": password or s["password"]}
    if system is not None:
        info["redfish_system_id"] = s["systems"][system]["path"]
    if s.get("ca"):
        info["redfish_verify_ca"] = s["ca"]
    return info


def power(node, verb, want, timeout=45):
    """`baremetal node power on|off` / `baremetal node reboot`, then wait until ferric is done."""
    t = time.time()
    if verb == "reboot":
        bm("node", "reboot", node)
    else:
        bm("node", "power", verb, node)
    n, _, done = wait_node(node, lambda n: n.get("target_power_state") is None, timeout)
    return n, time.time() - t, done


def section_redfish(A, B):
    sys1 = A["systems"][1]
    name = f"bmc-rf-{SUFFIX}"
    n = create(name, "redfish", rf_info(A, system=1))
    check("redfish: node create --driver redfish with redfish_system_id",
          n.get("driver") == "redfish" and n.get("provision_state") == "enroll", brief(n, "driver", "provision_state"))
    shown = bmj("node", "show", name)
    di = shown.get("driver_info", {})
    check("redfish: node show -f json masks redfish_password as ******",
          di.get("redfish_password") == "******" and PW["rfA"] not in json.dumps(shown),
          di)

    bm("node", "manage", name, "--wait", WAIT)
    n = node_api(name)
    bmc = rf_system(A, 1)
    check("redfish: manage --wait -> manageable, power off as the BMC says",
          n["provision_state"] == "manageable" and n["power_state"] == "power off" and not n["last_error"]
          and bmc["PowerState"] == "Off", (brief(n), bmc["PowerState"]))

    # power on: the addressed system (and only it) goes On
    n, secs, done = power(name, "on", "power on")
    states = [rf_system(A, i)["PowerState"] for i in range(len(A["systems"]))]
    check(f"redfish: power on -> power on, the BMC's system 1 On, systems 0 and 2 untouched ({secs:.1f}s)",
          done and n["power_state"] == "power on" and not n["last_error"] and states == ["Off", "On", "Off"],
          (brief(n), states))

    # reboot: ForceRestart reaches the BMC (sushy's notifications show it), ends On
    mark = time.time()
    n, secs, done = power(name, "reboot", "power on")
    resets = [d.get("pending_power", {}).get("power_state") for t, d in NotifyHandler.seen
              if t >= mark and d and d.get("uuid") == sys1["uuid"] and d.get("pending_power")]
    bmc = rf_system(A, 1)
    check(f"redfish: reboot -> the BMC got ForceRestart and is On again, ferric says power on ({secs:.1f}s)",
          done and n["power_state"] == "power on" and not n["last_error"] and "ForceRestart" in resets
          and bmc["PowerState"] == "On", (brief(n), resets, bmc["PowerState"]))

    mark = time.time()
    n, secs, done = power(name, "off", "power off")
    resets = [d.get("pending_power", {}).get("power_state") for t, d in NotifyHandler.seen
              if t >= mark and d and d.get("uuid") == sys1["uuid"] and d.get("pending_power")]
    bmc = rf_system(A, 1)
    # (sushy records ForceOff and GracefulShutdown alike as a pending "Off")
    check(f"redfish: power off -> the BMC got a power-off request (pending Off) and is Off ({secs:.1f}s)",
          done and n["power_state"] == "power off" and not n["last_error"] and "Off" == bmc["PowerState"]
          and "Off" in resets, (brief(n), resets, bmc["PowerState"]))

    # boot devices: one-time pxe, one-time disk, persistent pxe
    for dev, target, persistent in (("pxe", "Pxe", False), ("disk", "Hdd", False), ("pxe", "Pxe", True)):
        bm("node", "boot", "device", "set", name, dev, *(["--persistent"] if persistent else []))
        show = bmj("node", "boot", "device", "show", name)
        bmc = rf_system(A, 1)["Boot"]
        ok = show.get("boot_device") == dev and bmc["BootSourceOverrideTarget"] == target
        if persistent:
            ok = ok and show.get("persistent") is True
        check(f"redfish: boot device set {dev}{' --persistent' if persistent else ''} -> boot device show "
              f"says {dev}{' (persistent)' if persistent else ''}, the BMC's BootSourceOverrideTarget is {target}",
              ok, (show, bmc))
    skip("redfish: one-time vs persistent boot on the BMC",
         "sushy-tools 2.2.0 ignores BootSourceOverrideEnabled (always reads Continuous), so a one-time "
         "setting cannot be told from a persistent one on the BMC side")

    # out-of-band inspection
    t = time.time()
    bm("node", "inspect", name, "--wait", WAIT)
    secs = time.time() - t
    n = node_api(name)
    props = n.get("properties", {})
    bmc = rf_system(A, 1)
    gib = (bmc.get("MemorySummary") or {}).get("TotalSystemMemoryGiB")
    want_mem = int(round(gib * 1024)) if gib else None
    drives = []
    for st in rf_get(A, bmc["Storage"]["@odata.id"])["Members"]:
        for d in rf_get(A, st["@odata.id"]).get("Drives", []):
            drives.append(rf_get(A, d["@odata.id"])["CapacityBytes"])
    first = next((d for d in drives if d >= 4 * GIB), 0)
    want_gb = str(max(first // GIB - 1, 0))
    mode = {"UEFI": "uefi", "Legacy": "bios"}.get(bmc["Boot"].get("BootSourceOverrideMode"))
    caps = dict(c.split(":", 1) for c in (props.get("capabilities") or "").split(",") if ":" in c)
    check(f"redfish: inspect --wait -> manageable, local_gb {want_gb} (first drive of the BMC's "
          f"{[d // GIB for d in drives]} GiB, less one), memory_mb "
          f"{want_mem if want_mem else 'absent (sushy has no TotalSystemMemoryGiB)'}, "
          f"capability boot_mode:{mode} ({secs:.1f}s)",
          n["provision_state"] == "manageable" and not n["last_error"] and str(props.get("local_gb")) == want_gb
          and props.get("memory_mb") == want_mem and drives == [100 * GIB, 1024 * GIB]
          and caps.get("boot_mode") == mode, (brief(n), props, drives))
    inv = json.loads(bm("node", "inventory", "save", name).stdout)
    inv = inv.get("inventory", inv)
    disks = sorted(d.get("size") for d in inv.get("disks", []))
    macs = sorted(i.get("mac_address") for i in inv.get("interfaces", []))
    bmc_macs = sorted(rf_get(A, m["@odata.id"])["MACAddress"].lower()
                      for m in rf_get(A, bmc["EthernetInterfaces"]["@odata.id"])["Members"])
    check("redfish: node inventory save has the BMC's drives (100 GiB, 1 TiB) and NIC MACs",
          disks == sorted(drives) and macs == bmc_macs == sorted(sys1["macs"]), (disks, macs, bmc_macs))
    ports = bmj("port", "list", "--node", name)
    addrs = sorted((p.get("address") or p.get("Address") or "").lower() for p in ports)
    check("redfish: inspection created a port for each of the BMC's NIC MACs", addrs == bmc_macs,
          (addrs, bmc_macs))

    # No redfish_system_id, the BMC has exactly one system (and TLS with the lab CA): picked.
    name_b = f"bmc-rf-auto-{SUFFIX}"
    create(name_b, "redfish", rf_info(B))
    bm("node", "manage", name_b, "--wait", WAIT)
    n = node_api(name_b)
    check("redfish: a node without redfish_system_id on a one-system BMC (HTTPS, redfish_verify_ca = "
          "the lab CA) -> manageable", n["provision_state"] == "manageable" and not n["last_error"], brief(n))
    n, secs, done = power(name_b, "on", "power on")
    bmc = rf_system(B, 0)
    check(f"redfish: power on of the auto-picked system -> the BMC's only system On ({secs:.1f}s)",
          done and n["power_state"] == "power on" and not n["last_error"] and bmc["PowerState"] == "On",
          (brief(n), bmc["PowerState"]))


def section_slow(C):
    """sushy without --power-delay: a power change shows 1-11 s after the request (sushy computes
    int(now) + randint(1, 11), so it can also be a few ms). ferric must wait for it."""
    name = f"bmc-rf-slow-{SUFFIX}"
    create(name, "redfish", rf_info(C, system=0))
    bm("node", "manage", name, "--wait", WAIT)
    for attempt in range(3):
        if attempt:
            # The last delay was too short to see ferric waiting: off, and on once more.
            n, _, done = power(name, "off", "power off")
            if not check("redfish: upstream random power delay, power off before another try",
                         done and n["power_state"] == "power off" and not n["last_error"], brief(n)):
                return
        t = time.time()
        bm("node", "power", "on", name)
        polls = []          # (ferric's power_state, its target_power_state, the BMC's PowerState)
        while True:
            n = node_api(name)
            bmc = rf_system(C, 0)["PowerState"]
            polls.append((n["power_state"], n["target_power_state"], bmc))
            if n["target_power_state"] is None or time.time() - t > 45:
                break
            time.sleep(0.25)
        secs = time.time() - t
        bmc = rf_system(C, 0)["PowerState"]
        # ferric never says "power on" before the BMC does (ferric is read first, then the BMC)
        premature = [p for p in polls if p[0] == "power on" and p[2] != "On"]
        waited = [p for p in polls if p[1] == "power on" and p[2] == "Off"]
        ended = n["power_state"] == "power on" and not n["last_error"] and bmc == "On" and not premature
        if not ended or waited:
            check(f"redfish: upstream random power delay -> ferric waited for the BMC ({len(waited)} polls saw "
                  f"it waiting while the BMC was still Off) and ends power on, BMC On ({secs:.1f}s)",
                  ended and waited, {"node": brief(n), "bmc": bmc, "premature": premature,
                                     "polls": polls[:3] + polls[-3:]})
            return
        note(f"power delay was too short to observe ({secs:.1f}s, polls {polls}): trying again")
    check("redfish: upstream random power delay -> ferric seen waiting for the BMC", False,
          "three power-ons in a row applied before a single poll could see the BMC still Off")


def section_ipmi(I, watch):
    name = f"bmc-ipmi-{SUFFIX}"
    info = {"ipmi_address": I["host"], "ipmi_port": I["port"], "ipmi_username": I["username"],
            "ipmi_password": I["password"]}
    n = create(name, "ipmi", info)
    shown = bmj("node", "show", name)
    check("ipmi: node create --driver ipmi; node show masks ipmi_password as ******",
          n.get("driver") == "ipmi" and shown["driver_info"].get("ipmi_password") == "******"
          and I["password"] not in json.dumps(shown), shown.get("driver_info"))
    bm("node", "manage", name, "--wait", WAIT)
    n = node_api(name)
    lan = ipmitool(I, "lan", "print").stdout
    lan_mac = next((l.split(" : ", 1)[1].strip() for l in lan.splitlines() if l.startswith("MAC Address")), None)
    bmc_info = n.get("driver_internal_info", {}).get("bmc", {})
    check("ipmi: manage --wait -> manageable, driver_internal_info.bmc has the MAC of `lan print`",
          n["provision_state"] == "manageable" and not n["last_error"] and n["power_state"] == "power off"
          and bmc_info.get("mac_address") == lan_mac == I["mac"],
          (brief(n), bmc_info, lan_mac, I["mac"]))

    log = os.path.join(I["dir"], "chassis.log")
    for verb, want, file_v, word in (("on", "power on", "1", "on"), ("reboot", "power on", "1", "on"),
                                     ("off", "power off", "0", "off")):
        mark = len(read(log).splitlines())
        n, secs, done = power(name, verb, want)
        st = ipmitool(I, "power", "status").stdout.strip()
        fv = read(os.path.join(I["dir"], "power"))
        sets = [l.split(" ", 1)[1] for l in read(log).splitlines()[mark:] if " set " in l]
        # what the chassis was told: on = power 1; reboot (from on) = power 0 then power 1
        want_sets = {"on": ["set power 1"], "reboot": ["set power 0", "set power 1"], "off": ["set power 0"]}[verb]
        check(f"ipmi: {'reboot' if verb == 'reboot' else 'power ' + verb} -> {want}; the chassis got "
              f"{' then '.join(want_sets)}, ipmitool says '{st}' ({secs:.1f}s)",
              done and n["power_state"] == want and not n["last_error"] and fv == file_v
              and st == f"Chassis Power is {word}" and sets == want_sets, (brief(n), st, fv, sets))

    bm("node", "boot", "device", "set", name, "pxe")
    show = bmj("node", "boot", "device", "show", name)
    param = ipmitool(I, "chassis", "bootparam", "get", "5").stdout
    fb = read(os.path.join(I["dir"], "boot"))
    check("ipmi: boot device set pxe -> boot device show says pxe; ipmitool bootparam says Force PXE",
          show.get("boot_device") == "pxe" and "Force PXE" in param and fb == "pxe", (show, param, fb))
    skip("ipmi: boot device --persistent on the BMC",
         "ipmi_sim 2.0.33 keeps only the boot device: the persistent, EFI and valid bits are dropped "
         "(bootparam get 5 always says 'Options apply to only next boot')")

    # Reliability of the ps check: more IPMI calls until ferric's ipmitool has been caught a few times.
    for _ in range(6):
        if sum(1 for ppid, _ in watch.lines if ppid == FERRIC_PID[0]) >= 3:
            break
        power(name, "on", "power on")
        power(name, "off", "power off")
    return name


def bad_case(label, name, driver, info, expect, fix):
    """Create, manage (no --wait), and wait until ferric has given up: enroll, unlocked."""
    create(name, driver, info)
    t = time.time()
    bm("node", "manage", name)
    n, _, done = wait_node(name, lambda n: n["provision_state"] == "enroll" and idle(n) and n["last_error"],
                           BOUND + 15)
    secs = time.time() - t   # from before the CLI call: an upper bound
    err = n.get("last_error") or ""
    shown = err.split(". Error: ", 1)[-1][:150]
    check(f"bad BMC, {label}: back in enroll in {secs:.1f}s (< {BOUND:.0f}s), reservation null, "
          f"last_error '...{shown}'", done and secs < BOUND and n["reservation"] is None
          and all(e.lower() in err.lower() for e in expect), (brief(n), f"wanted {expect}"))
    if fix is None:
        return
    args = []
    for k, v in fix.items():
        args += ["--driver-info", f"{k}={v}"]
    bm("node", "set", name, *args)
    bm("node", "manage", name, "--wait", WAIT)
    n = node_api(name)
    check(f"bad BMC, {label}: fixed with node set --driver-info -> manage --wait -> manageable",
          n["provision_state"] == "manageable" and not n["last_error"] and n["reservation"] is None, brief(n))


def section_bad(A, I, hang, garbage_port, closed_port):
    good = rf_info(A, system=0)
    fix_rf = {"redfish_address": A["url"], "redfish_system_id": A["systems"][0]["path"],
              "redfish_password": A["password"]}
    cases = [
        ("redfish wrong password (HTTP 401)", f"bmc-bad-pw-{SUFFIX}", "redfish",
         dict(good, redfish_password=PW["rfBad"]), ["401"], {"redfish_password": A["password"]}),
        ("redfish unreachable (closed port)", f"bmc-bad-down-{SUFFIX}", "redfish",
         dict(good, redfish_address=f"http://127.0.0.1:{closed_port}", redfish_password=PW["rfX"]),
         ["Redfish connection failed", "refused"], fix_rf),
        ("redfish BMC that accepts and never answers", f"bmc-bad-hang-{SUFFIX}", "redfish",
         dict(good, redfish_address=f"http://127.0.0.1:{hang.port}", redfish_password=PW["rfX"]),
         ["Redfish connection failed", "timed out"], fix_rf),
        ("redfish BMC answering 200 with garbage", f"bmc-bad-garbage-{SUFFIX}", "redfish",
         dict(good, redfish_address=f"http://127.0.0.1:{garbage_port}", redfish_password=PW["rfX"]),
         ["not JSON"], fix_rf),
        ("redfish without redfish_system_id on a 3-system BMC", f"bmc-bad-multi-{SUFFIX}", "redfish",
         rf_info(A), ["manages 3 ComputerSystems", "redfish_system_id"],
         {"redfish_system_id": A["systems"][2]["path"]}),
        ("ipmi wrong password", f"bmc-bad-ipmi-{SUFFIX}", "ipmi",
         {"ipmi_address": I["host"], "ipmi_port": I["port"], "ipmi_username": I["username"],
          "ipmi_password": PW["ipBad"]}, ["Unable to establish IPMI v2 / RMCP+ session"],
         {"ipmi_password": I["password"]}),
    ]
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as ex:
        futs = {ex.submit(bad_case, *c): c[0] for c in cases}
        for f in concurrent.futures.as_completed(futs):
            try:
                f.result()
            except Exception as e:  # noqa: BLE001 - a broken step is a failed check, with evidence
                check(f"bad BMC, {futs[f]}: scenario step", False, f"{type(e).__name__}: {e}")
    check("bad BMC: the hanging server was really connected to", hang.accepted > 0, hang.accepted)


FERRIC_PID = [None]


def main():
    global API
    procs = []
    watch = None
    hang = notify = garbage = None
    logf_path = os.path.join(TMP, "ferric.log")
    try:
        for tool in (BM, os.path.join(VENV_DIR, "sushy", "bin", "sushy-emulator")):
            if not os.access(tool, os.X_OK):
                raise RuntimeError(f"{tool} missing: run conformance/setup.sh clients and lab/bmc/sushy.sh setup")
        if not shutil.which("ipmitool") or not shutil.which("ipmi_sim"):
            raise RuntimeError("ipmitool/ipmi_sim missing: run lab/bmc/ipmi.sh setup")
        notify = serve_http(NotifyHandler)
        garbage = serve_http(GarbageHandler)
        hang = HangServer()
        closed_port = free_port()
        notify_url = f"http://127.0.0.1:{notify.server_address[1]}/notify"
        A = start_sushy("sushy-a", 3, "--auth", f"admin:{PW['rfA']}", "--power-delay", "0", "--notify", notify_url)
        B = start_sushy("sushy-b", 1, "--auth", f"admin:{PW['rfB']}", "--power-delay", "0", "--tls")
        C = start_sushy("sushy-c", 1, "--auth", f"admin:{PW['rfC']}")
        I = start_ipmi("ipmi", "admin", PW["ipmi"])
        note(f"emulators up: sushy {A['url']} (3 systems), {B['url']} (1, TLS), {C['url']} (1, upstream "
             f"power delay), ipmi_sim udp/{I['port']}; hang :{hang.port}, garbage :{garbage.server_address[1]}, "
             f"closed :{closed_port}")

        port = free_port()
        API = f"http://127.0.0.1:{port}"
        CLI_ENV["OS_ENDPOINT"] = API
        env = dict(os.environ,
                   FERRIC_IPMI__MIN_COMMAND_INTERVAL="0.2",
                   FERRIC_IPMI__COMMAND_RETRY_TIMEOUT="10",
                   FERRIC_IPMI__COMMAND_TIMEOUT="10",
                   FERRIC_CONDUCTOR__POWER_STATE_CHANGE_TIMEOUT="30",
                   FERRIC_REDFISH__CONNECTION_ATTEMPTS="2",
                   FERRIC_REDFISH__CONNECTION_RETRY_INTERVAL="0.2",
                   FERRIC_REDFISH__READ_TIMEOUT="2",
                   FERRIC_REDFISH__CONNECT_TIMEOUT="2",
                   RUST_LOG="info,ferric=debug,ferric_drivers=debug,ferric_conductor=debug,ferric_api=debug")
        logf = open(logf_path, "w")
        fp = subprocess.Popen([FERRIC, "serve", "--data-dir", os.path.join(TMP, "data"),
                               "--listen", f"127.0.0.1:{port}", "--inspector-listen", ""],
                              env=env, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              start_new_session=True)
        procs.append(fp)
        FERRIC_PID[0] = fp.pid
        for _ in range(150):
            try:
                if requests.get(API + "/", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if fp.poll() is not None:
                raise RuntimeError(f"ferric exited {fp.returncode}: {open(logf_path).read()[-2000:]}")
            time.sleep(0.1)
        else:
            raise RuntimeError("ferric did not answer within 15 s")
        note(f"ferric serve on {API} (pid {fp.pid}, log {logf_path})")

        sections = [
            ("drivers", section_drivers, ()),
            ("redfish", section_redfish, (A, B)),
            ("redfish upstream power delay", section_slow, (C,)),
        ]
        for label, fn, args in sections:
            note(label)
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001
                check(f"{label}: scenario step", False, f"{type(e).__name__}: {e}")

        note("ipmi (ps is polled for ipmitool command lines from here on)")
        watch = PsWatch()
        try:
            section_ipmi(I, watch)
        except Exception as e:  # noqa: BLE001
            check("ipmi: scenario step", False, f"{type(e).__name__}: {e}")
        note("bad BMCs (in parallel)")
        try:
            section_bad(A, I, hang, garbage.server_address[1], closed_port)
        except Exception as e:  # noqa: BLE001
            check("bad BMC: scenario step", False, f"{type(e).__name__}: {e}")
        watch.stop()

        note("secrets")
        ours = [a for ppid, a in watch.lines if ppid == FERRIC_PID[0]]
        leaks = [a for _, a in watch.lines if any(p in a for p in (PW["ipmi"], PW["ipBad"]))]
        if not ours:
            check("secrets: ps never shows an IPMI password in an ipmitool command line", False,
                  f"inconclusive: no ipmitool process of ferric's was seen in {watch.samples} ps samples")
        else:
            check(f"secrets: ps never shows an IPMI password in an ipmitool command line ({len(ours)} of "
                  f"ferric's ipmitool processes seen in {watch.samples} ps samples, e.g. '{ours[0]}')",
                  not leaks and all("-E" in a.split() for a in ours),
                  leaks or [a for a in ours if "-E" not in a.split()][:3])
        every = bm("node", "list", "--long", "-f", "json").stdout
        nodes = json.loads(every)
        for nd in nodes:
            r = requests.get(f"{API}/v1/nodes/{nd['uuid']}/history?detail=true",
                             headers={"X-OpenStack-Ironic-API-Version": "1.81"}, timeout=10)
            every += r.text
        found = sorted(k for k, p in PW.items() if p in every)
        check(f"secrets: no password in node list --long ({len(nodes)} nodes) nor in any node's history",
              not found and len(nodes) >= 10 and "******" in every, f"passwords of {found} shown")
        logf.flush()
        fp.send_signal(signal.SIGTERM)
        try:
            fp.wait(timeout=15)
        except subprocess.TimeoutExpired:
            fp.kill()
            fp.wait(timeout=5)
        log = open(logf_path, errors="replace").read()
        found = sorted(k for k, p in PW.items() if p in log)
        check(f"secrets: ferric's log ({len(log)} bytes, debug level) never contains a password used",
              not found and len(log) > 0, f"passwords of {found} found in {logf_path}")
        check("ferric's log has no panic", "panicked" not in log,
              [l for l in log.splitlines() if "panicked" in l][:3])
    except Exception as e:  # noqa: BLE001
        check("scenario set-up", False, f"{type(e).__name__}: {e}")
    finally:
        if watch:
            watch.stop()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        for kind, sdir in reversed(STARTED):
            sh("bash", SUSHY_SH if kind == "sushy" else IPMI_SH, "stop", sdir, timeout=30)
        for srv in (notify, garbage):
            if srv:
                srv.shutdown()
                srv.server_close()
        if hang:
            hang.close()
        out = os.environ.get("FERRIC_BMC_OUT")
        if out:
            os.makedirs(out, exist_ok=True)
            for src, dst in [(logf_path, "ferric.log")] + [
                    (os.path.join(d, f), f"{os.path.basename(d)}-{f}") for _, d in STARTED
                    for f in ("sushy.log", "ipmi_sim.log", "chassis.log")]:
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(out, dst))
        if os.environ.get("FERRIC_BMC_KEEP") == "1":
            note(f"kept {TMP}")
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    note(f"took {time.time() - T0:.0f}s; {skipped} documented skips (not counted as passed)")
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Power-state sync at scale against real BMC emulators (sushy-tools 2.2.0).

    power_sync_scenario.py FERRIC_BINARY [N_HEALTHY]

Starts its own `ferric serve` (short sync and recovery intervals) and three kinds of BMC:
  * healthy: one sushy-emulator with N_HEALTHY systems (default 60);
  * dead:    a second sushy-emulator with 10 systems, killed half-way (connection refused);
  * slow and hanging: a TCP relay in front of the healthy emulator that delays every
    answer by 1 s (5 nodes) or, once switched, never answers (5 nodes).
Every node is enrolled with the redfish driver and managed while all BMCs answer. Then some
healthy and slow nodes are switched on behind ferric's back (drift), the dead emulator is
killed and the hanging relay switched on. Checked, on the BMCs themselves where possible:
  - drifted healthy and slow nodes are forced back to their recorded state within a few
    sync intervals, while dead and hanging BMCs are failing (one bad BMC delays nobody);
  - dead and hanging nodes end in maintenance with fault "power failure" and Ironic's reason;
  - nodes whose BMCs come back are taken out of maintenance by the power failure recovery;
  - no node is left locked; the passwords never reach ferric's log.
Last line: "N passed, M failed"; exit status 1 if anything failed.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SUSHY = os.path.join(ROOT, "lab", "bmc", "sushy.sh")
PASSWORD = "s3cret-sync"
INTERVAL = 2          # [conductor] sync_power_state_interval
RETRIES = 2           # power_state_sync_max_retries
RESULTS = {"passed": 0, "failed": 0}


def check(ok, what, evidence=""):
    if ok:
        RESULTS["passed"] += 1
        print(f"ok - {what}", flush=True)
    else:
        RESULTS["failed"] += 1
        print(f"FAIL - {what}: {evidence}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, auth=None, headers=None, timeout=10):
    h = {"Content-Type": "application/json", "X-OpenStack-Ironic-API-Version": "1.96"}
    h.update(headers or {})
    if auth:
        import base64
        h["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw.strip() else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


class Relay:
    """TCP relay to an upstream port: 'pass', 'slow' (each answer delayed) or 'hang'."""

    def __init__(self, upstream, mode="pass", delay=1.0):
        self.upstream, self.mode, self.delay = upstream, mode, delay
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        if self.mode == "hang":
            time.sleep(3600)
            return
        try:
            u = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            c.close()
            return
        def pump(a, b, slow):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    if slow and self.mode == "slow":
                        time.sleep(self.delay)
                    b.sendall(d)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        threading.Thread(target=pump, args=(u, c, True), daemon=True).start()
        pump(c, u, False)


def sushy_start(port, state, n):
    out = subprocess.run([SUSHY, "start", str(port), state, str(n), "--auth", f"admin:{PASSWORD}", "--power-delay", "0"],
                         check=True, capture_output=True, text=True)
    with open(os.path.join(state, "sushy.json")) as f:
        return json.load(f), out.stdout.strip()


def sushy_stop(state):
    subprocess.run([SUSHY, "stop", state], capture_output=True)


def bmc_power(port, path):
    st, sysj = http("GET", f"http://127.0.0.1:{port}{path}", auth=("admin", PASSWORD))
    return sysj.get("PowerState") if st == 200 and isinstance(sysj, dict) else None


def bmc_set_power(port, path, reset):
    st, _ = http("POST", f"http://127.0.0.1:{port}{path}/Actions/ComputerSystem.Reset", {"ResetType": reset}, auth=("admin", PASSWORD))
    return st


def wait(pred, timeout, step=0.5):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def main():
    ferric = sys.argv[1]
    n_healthy = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    work = tempfile.mkdtemp(prefix="ferric-powersync-")
    procs = []
    states = []
    log_path = os.path.join(work, "ferric.log")
    try:
        healthy_state, dead_state = os.path.join(work, "rf-healthy"), os.path.join(work, "rf-dead")
        hp, dp = free_port(), free_port()
        healthy, _ = sushy_start(hp, healthy_state, n_healthy)
        states.append(healthy_state)
        dead, _ = sushy_start(dp, dead_state, 10)
        states.append(dead_state)
        slow_relay = Relay(hp, "slow", 1.0)
        hang_relay = Relay(hp, "pass")

        api_port = free_port()
        api = f"http://127.0.0.1:{api_port}"
        env = dict(os.environ,
                   FERRIC_CONDUCTOR__SYNC_POWER_STATE_INTERVAL=str(INTERVAL),
                   FERRIC_CONDUCTOR__POWER_STATE_SYNC_MAX_RETRIES=str(RETRIES),
                   FERRIC_CONDUCTOR__POWER_FAILURE_RECOVERY_INTERVAL=str(INTERVAL),
                   FERRIC_CONDUCTOR__POWER_STATE_SYNC_TIMEOUT="3",
                   FERRIC_REDFISH__CONNECTION_ATTEMPTS="2",
                   FERRIC_REDFISH__CONNECTION_RETRY_INTERVAL="0.2",
                   FERRIC_REDFISH__CONNECT_TIMEOUT="2",
                   FERRIC_REDFISH__READ_TIMEOUT="5")
        logf = open(log_path, "w")
        procs.append(subprocess.Popen([ferric, "serve", "--data-dir", os.path.join(work, "data"), "--listen", f"127.0.0.1:{api_port}",
                                       "--inspector-listen", ""], stdout=logf, stderr=subprocess.STDOUT, env=env))
        if not wait(lambda: http("GET", api + "/")[0] == 200, 30):
            check(False, "ferric starts", open(log_path).read()[-2000:])
            return

        # Enroll: (name, port, system path, group)
        plan = []
        for i, s in enumerate(healthy["systems"]):
            if i < 5:
                plan.append((f"slow-{i}", slow_relay.port, s["path"], "slow"))
            elif i < 10:
                plan.append((f"hang-{i}", hang_relay.port, s["path"], "hang"))
            else:
                plan.append((f"ok-{i}", hp, s["path"], "healthy"))
        for i, s in enumerate(dead["systems"]):
            plan.append((f"dead-{i}", dp, s["path"], "dead"))
        t0 = time.time()
        uuids = {}
        for name, port, path, group in plan:
            st, n = http("POST", api + "/v1/nodes", {"name": name, "driver": "redfish", "driver_info": {
                "redfish_address": f"http://127.0.0.1:{port}", "redfish_system_id": path,
                "redfish_username": "admin", "redfish_password": PASSWORD}})
            if st != 201:
                check(False, f"create {name}", f"{st} {n}")
                return
            uuids[name] = n["uuid"]
            http("PUT", f"{api}/v1/nodes/{n['uuid']}/states/provision", {"target": "manage"})

        def node(name):
            return http("GET", f"{api}/v1/nodes/{uuids[name]}")[1]

        managed = wait(lambda: all(node(n)["provision_state"] == "manageable" for n in uuids), 120, 1)
        check(managed, f"{len(uuids)} redfish nodes enrolled and managed ({time.time() - t0:.1f} s)",
              [(n, node(n)["provision_state"], node(n)["last_error"]) for n in uuids if node(n)["provision_state"] != "manageable"][:5])
        check(all(node(n)["power_state"] == "power off" for n in uuids), "every node's recorded power state is the BMC's (off)")

        # Drift behind ferric's back: 10 healthy and 2 slow systems switched on at the BMC.
        drifted = [p for p in plan if p[3] == "healthy"][:10] + [p for p in plan if p[3] == "slow"][:2]
        for name, port, path, group in drifted:
            bmc_set_power(hp, path, "On")
        # The dead BMC dies; the hanging relay stops answering.
        sushy_stop(dead_state)
        hang_relay.mode = "hang"
        t_break = time.time()

        back = wait(lambda: all(bmc_power(hp, p[2]) == "Off" for p in drifted), INTERVAL * 6 + 10, 0.5)
        took = time.time() - t_break
        check(back, f"drifted nodes forced back off at their BMCs while dead and hanging BMCs fail ({took:.1f} s, interval {INTERVAL} s)",
              [(p[0], bmc_power(hp, p[2])) for p in drifted])
        check(back and took < INTERVAL * 4 + 8, "the correction came on schedule, not after the bad BMCs' time-outs", f"{took:.1f} s")
        check(all(node(p[0])["power_state"] == "power off" and not node(p[0])["maintenance"] for p in drifted),
              "their records still say power off, not in maintenance")

        bad = [p[0] for p in plan if p[3] in ("dead", "hang")]
        in_maint = wait(lambda: all(node(n)["maintenance"] and node(n)["fault"] == "power failure" for n in bad),
                        INTERVAL * (RETRIES + 4) + 20, 1)
        check(in_maint, f"{len(bad)} dead or hanging BMCs put their nodes in maintenance with fault 'power failure'",
              [(n, node(n)["maintenance"], node(n)["fault"]) for n in bad if not node(n)["maintenance"]][:5])
        reason = node(bad[0])["maintenance_reason"] or ""
        check("During sync_power_state, max retries exceeded for node" in reason and "Switching node to maintenance mode" in reason,
              "the maintenance reason is Ironic's", reason)
        healthy_names = [p[0] for p in plan if p[3] in ("healthy", "slow")]
        check(not any(node(n)["maintenance"] for n in healthy_names), "no healthy or slow node went into maintenance",
              [n for n in healthy_names if node(n)["maintenance"]])

        # The BMCs come back: recovery takes the nodes out of maintenance.
        sushy_start(dp, dead_state, 10)
        hang_relay.mode = "pass"
        recovered = wait(lambda: not any(node(n)["maintenance"] for n in bad), INTERVAL * 6 + 20, 1)
        check(recovered, "power failure recovery takes every node out of maintenance once its BMC answers",
              [(n, node(n)["maintenance_reason"]) for n in bad if node(n)["maintenance"]][:5])
        check(all(node(n)["fault"] is None for n in bad), "the fault is cleared")

        st, lst = http("GET", api + "/v1/nodes?fields=name,reservation&limit=1000")
        locked = [n for n in lst["nodes"] if n.get("reservation")]
        # A sync may hold a lock for a moment; none may stay.
        if locked:
            time.sleep(INTERVAL * 2)
            st, lst = http("GET", api + "/v1/nodes?fields=name,reservation&limit=1000")
            locked = [n for n in lst["nodes"] if n.get("reservation")]
        check(not locked, "no node is left locked", locked[:5])
        with open(log_path) as f:
            text = f.read()
        check(PASSWORD not in text, "the BMC password never reaches ferric's log")
        check("panicked" not in text, "ferric did not panic")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for s in states:
            sushy_stop(s)
        print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed", flush=True)


if __name__ == "__main__":
    main()
    sys.exit(1 if RESULTS["failed"] or not RESULTS["passed"] else 0)

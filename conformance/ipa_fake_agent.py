#!/usr/bin/env python3
"""A fake ironic-python-agent: IPA 13.0.0's own client code, fed recorded inventories.

Usage: conformance/ipa_fake_agent.py URL [--fixture PATH]... [--keep] [--debug]
  URL        the server's root URL (no /v1), e.g. http://127.0.0.1:6385
  --fixture  an inspection report (JSON object with a top-level "inventory");
             repeatable. Default: metal3-inspector-data-kvm-vm.json from
             $FERRIC_INSPECTION_FIXTURES (default /work/shared/fixtures/inspection)
  --keep     do not delete the nodes at the end
  --debug    IPA's and this script's debug logging on stderr, tracebacks on failure
  --reinspect  then inspect the node a second time with a freshly booted agent (new
             APIClient, no token): lookup must hand out a fresh token (not '******'),
             heartbeat, report, manageable again with the same ports

(Re-executes itself with $FERRIC_VENV_DIR/ipa/bin/python when ironic_python_agent
is not importable; run `conformance/setup.sh ipa` first.)

For every fixture, through the Bare Metal API (X-OpenStack-Ironic-API-Version 1.84):
create a fake-hardware node with inspect_interface=agent, manage it, start inspection
and wait for `inspect wait`. Then, as the ramdisk would, with IPA's own code:
  * ironic_api_client.APIClient(URL): version discovery (GET /) and lookup_node()
    with the inventory's NICs as hardware info plus the node UUID, at the microversion
    IPA negotiates itself (min(server, 1.62));
  * APIClient.heartbeat() with the agent token handed out by the lookup (at 1.68);
  * inspector.call_inspector(data, failures) with the fixture's inventory, IPA's oslo
    config holding the ipa-api-url / ipa-inspection-callback-url kernel parameters
    (URL and URL/v1/continue_inspection), so the report goes out exactly as IPA sends
    it (no microversion header; the server answers {"uuid": ...}).
Then it waits until the node leaves `inspecting` and asserts: provision_state
manageable, no last_error, properties.cpu_arch == inventory.cpu.architecture, one port
with the PXE MAC and pxe_enabled true (and no other port unless the harness enrolled
one, see below), power_state "power off", and GET /v1/nodes/{id}/inventory returns
the inventory that was sent. Negative: the same report sent again (node no longer
waiting) is refused with 404 and changes nothing.

Node lookup for the report (IPA sends no node UUID at 1.1): a node without ports is
found by its BMC address, so when the inventory has a usable bmc_address the node is
enrolled with driver_info.ipmi_address = that address. Inventories without one
(VMs report 0.0.0.0) need a known MAC: the harness then enrolls a port for a
non-PXE NIC, and expects inspection to add the PXE port and set pxe_enabled=false on
the enrolled one (Ironic's ports hook with update_pxe_enabled=True).

One PASS/FAIL line per step, `N passed, N failed` alone on the last line; exit 1 on
any failure. Bounded waits: $FERRIC_IPA_WAIT (default 60 s) per state wait,
$FERRIC_IPA_LOOKUP_TIMEOUT (default 30 s) for IPA's lookup retries; IPA's inspection
callback retries (on 409/5xx/connection errors) are shortened to 5 attempts 1-3 s
apart. Nothing on this machine's hardware is read: the inventory comes from the
fixture, and IPA's kernel-parameter cache is preset so /proc/cmdline and virtual
media are never looked at.
"""

import argparse
import copy
import json
import logging
import os
import sys
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURE_DIR = os.environ.get("FERRIC_INSPECTION_FIXTURES",
                                     "/work/shared/fixtures/inspection")
DEFAULT_FIXTURE = "metal3-inspector-data-kvm-vm.json"
MGMT_VERSION = "1.84"
NAME_PREFIX = "ipa-fake-"
UNUSABLE_BMC = ("", "0.0.0.0", "::", "::/0", "127.0.0.1", "::1")


def _reexec_in_venv():
    venv = os.environ.get("FERRIC_VENV_DIR",
                          os.path.join(os.path.dirname(HERE), ".venv-conformance"))
    py = os.path.join(venv, "ipa", "bin", "python")
    if os.path.exists(py) and not os.environ.get("FERRIC_IPA_REEXEC"):
        os.environ["FERRIC_IPA_REEXEC"] = "1"
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    sys.stderr.write("ironic_python_agent not importable; run conformance/setup.sh ipa\n")
    sys.exit(2)


try:
    import ironic_python_agent  # noqa: F401
except ImportError:
    _reexec_in_venv()

import requests  # noqa: E402  (IPA's dependency, in the ipa venv)


class Check(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Check(msg)


def norm_mac(mac):
    """Lower-case colon form; accepts PXELINUX's 01-aa-bb-... as Ironic's get_pxe_mac does."""
    if not mac:
        return None
    mac = mac.strip().lower()
    if "-" in mac:
        mac = mac.split("-", 1)[1].replace("-", ":") if mac.count("-") == 6 else mac.replace("-", ":")
    return mac


# --------------------------------------------------------------------------- IPA set-up

def setup_ipa(url, debug):
    """Configure IPA's oslo config as a ramdisk booted with ipa-api-url would be."""
    from ironic_python_agent import utils as ipa_utils
    # Preset the kernel-parameter cache before ironic_python_agent.config is imported:
    # its option defaults come from it, and /proc/cmdline (or a vmedia device) is then
    # never read. ipa-api-url and ipa-inspection-callback-url are what Ironic puts on an
    # inspection ramdisk's command line; only the `default` collector's data is sent.
    if "ironic_python_agent.config" in sys.modules:
        raise RuntimeError("ironic_python_agent.config was imported before its kernel "
                           "parameters were preset; it may have read /proc/cmdline")
    ipa_utils._set_cached_params({
        "ipa-api-url": url,
        "ipa-inspection-callback-url": url + "/v1/continue_inspection",
        "ipa-inspection-collectors": "default",
    })
    from oslo_config import cfg
    from oslo_log import log as oslo_log
    from ironic_python_agent import config as ipa_config
    conf = cfg.CONF
    ipa_config.populate_config()
    oslo_log.register_options(conf)
    conf(args=[], project="ironic-python-agent", default_config_files=[],
         default_config_dirs=[])
    conf.set_override("debug", bool(debug))
    oslo_log.setup(conf, "ironic-python-agent")
    if not debug:
        logging.getLogger().setLevel(logging.WARNING)
    from ironic_python_agent import inspector
    # Bound IPA's retries of the report on 409/5xx/connection errors (defaults: 5
    # attempts, 5-30 s apart); the code path is otherwise untouched.
    inspector._RETRY_WAIT = 1
    inspector._RETRY_WAIT_MAX = 3
    return conf


class Recorder:
    """Records the HTTP requests IPA's code makes (method, path, microversion, status)."""

    def __init__(self):
        self.calls = []
        self._orig = None

    def __enter__(self):
        self.calls = []
        self._orig = requests.Session.request
        orig, calls = self._orig, self.calls

        def request(session, method, url, *a, **kw):
            hdrs = kw.get("headers") or {}
            ver = hdrs.get("X-OpenStack-Ironic-API-Version")
            try:
                resp = orig(session, method, url, *a, **kw)
            except Exception as e:  # noqa: BLE001
                calls.append((method, url, ver, type(e).__name__))
                raise
            calls.append((method, url, ver, resp.status_code))
            return resp

        requests.Session.request = request
        return self

    def __exit__(self, *exc):
        requests.Session.request = self._orig
        return False

    def summary(self):
        out = []
        for method, url, ver, status in self.calls:
            path = url.split("://", 1)[-1]
            path = path[path.find("/"):] if "/" in path else "/"
            out.append("%s %s @%s -> %s" % (method, path.split("?")[0], ver or "none", status))
        return "; ".join(out)


# --------------------------------------------------------------------------- the API

class Api:
    def __init__(self, url, timeout=30):
        self.url = url
        self.s = requests.Session()
        self.timeout = timeout

    def req(self, method, path, body=None, version=MGMT_VERSION, expect=None):
        headers = {"Accept": "application/json"}
        if version:
            headers["X-OpenStack-Ironic-API-Version"] = version
        if body is not None:
            headers["Content-Type"] = "application/json"
        r = self.s.request(method, self.url + path, headers=headers,
                           data=None if body is None else json.dumps(body),
                           timeout=self.timeout)
        if expect is not None and r.status_code not in expect:
            raise Check("%s %s -> %d (expected %s): %s"
                        % (method, path, r.status_code, "/".join(map(str, expect)),
                           r.text[:400]))
        return r

    def get(self, path, **kw):
        r = self.req("GET", path, expect=(200,), **kw)
        return r.json()

    def node(self, ident):
        return self.get("/v1/nodes/%s" % ident)

    def ports(self, node_uuid):
        return self.get("/v1/ports?node=%s&detail=True" % node_uuid)["ports"]

    def make_deletable(self, node_uuid, wait):
        """Bring one of our nodes to a state it can be deleted from: abort a waiting
        inspection (-> inspect failed), manage a failed one (-> manageable)."""
        node = self.wait_state(node_uuid, lambda n: n["provision_state"] != "inspecting"
                               and not n.get("target_power_state"), "a stable state", wait)
        if node["provision_state"] == "inspect wait":
            self.req("PUT", "/v1/nodes/%s/states/provision" % node_uuid, {"target": "abort"},
                     expect=(202,))
            node = self.wait_state(node_uuid, lambda n: n["provision_state"] != "inspect wait",
                                   "the abort", wait)
        if node["provision_state"] == "inspect failed":
            self.req("PUT", "/v1/nodes/%s/states/provision" % node_uuid, {"target": "manage"},
                     expect=(202,))
            self.wait_state(node_uuid, lambda n: n["provision_state"] == "manageable",
                            "manageable", wait)

    def delete_node(self, node_uuid, wait):
        self.make_deletable(node_uuid, wait)
        self.req("DELETE", "/v1/nodes/%s" % node_uuid, expect=(204,))
        self.req("GET", "/v1/nodes/%s" % node_uuid, expect=(404,))

    def wait_state(self, node_uuid, pred, desc, wait):
        deadline = time.monotonic() + wait
        node = self.node(node_uuid)
        while not pred(node):
            if time.monotonic() > deadline:
                raise Check("timed out after %ds waiting for %s: provision_state %r, "
                            "target %r, last_error %r"
                            % (wait, desc, node.get("provision_state"),
                               node.get("target_provision_state"), node.get("last_error")))
            time.sleep(0.5)
            node = self.node(node_uuid)
        return node


# --------------------------------------------------------------------------- scenario

class Fixture:
    def __init__(self, path):
        self.path = path
        self.short = os.path.basename(path).rsplit(".", 1)[0]
        with open(path) as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("inventory"), dict):
            raise ValueError("%s: no top-level 'inventory' object" % path)
        self.doc = doc
        self.inventory = doc["inventory"]
        inv = self.inventory
        self.arch = (inv.get("cpu") or {}).get("architecture")
        self.pxe_mac = norm_mac((inv.get("boot") or {}).get("pxe_interface"))
        self.ifaces = [i for i in inv.get("interfaces") or [] if i.get("mac_address")]
        self.macs = [norm_mac(i["mac_address"]) for i in self.ifaces]
        bmc = inv.get("bmc_address") or ""
        self.bmc = bmc if bmc not in UNUSABLE_BMC else None
        if not self.arch:
            raise ValueError("%s: inventory.cpu.architecture missing" % path)
        if not self.pxe_mac or self.pxe_mac not in self.macs:
            raise ValueError("%s: inventory.boot.pxe_interface %r is not one of the NICs %s"
                             % (path, self.pxe_mac, self.macs))

    def report(self):
        """What IPA's `default` collector sends (inventory, root_disk, boot_interface,
        configuration); call_inspector adds `error`. The `logs` collector is left out:
        it would tar up this machine's journal."""
        data = {"inventory": copy.deepcopy(self.inventory),
                "boot_interface": (self.inventory.get("boot") or {}).get("pxe_interface"),
                "configuration": {"collectors": ["default"], "managers": []}}
        if self.doc.get("root_disk"):
            data["root_disk"] = copy.deepcopy(self.doc["root_disk"])
        return data

    def hardware_info(self):
        """The hardware info IPA's lookup uses: NetworkInterface objects for the NICs."""
        from ironic_python_agent import hardware
        nics = []
        for i in self.ifaces:
            nics.append(hardware.NetworkInterface(
                i.get("name"), i["mac_address"],
                ipv4_address=i.get("ipv4_address"), ipv6_address=i.get("ipv6_address"),
                has_carrier=i.get("has_carrier", True), lldp=i.get("lldp"),
                vendor=i.get("vendor"), product=i.get("product"),
                client_id=i.get("client_id"), biosdevname=i.get("biosdevname"),
                speed_mbps=i.get("speed_mbps"), pci_address=i.get("pci_address"),
                driver=i.get("driver")))
        return {"interfaces": nics}


def run_fixture(api, url, fx, conf, step, opts):
    from ironic_python_agent import errors, inspector, ironic_api_client
    from ironic_python_agent import utils as ipa_utils

    st = {"node": None, "client": None, "content": None, "callback_ok": False,
          "final": None, "enrolled_mac": None}
    tag = "[%s]" % fx.short
    wait = opts.wait

    def need(key, what):
        if not st.get(key):
            raise Check("skipped: %s failed" % what)
        return st[key]

    def preclean():
        # Leftovers from an earlier run own ports with these MACs and would make the
        # lookup ambiguous (or find a node that is not waiting). Only our own nodes are
        # removed; anything else is reported.
        stale = set()
        for mac in fx.macs:
            for p in api.get("/v1/ports/detail?address=%s" % mac)["ports"]:
                stale.add(p["node_uuid"])
        foreign = []
        for nu in sorted(stale):
            n = api.node(nu)
            if not (n.get("name") or "").startswith(NAME_PREFIX):
                foreign.append("%s (%s)" % (nu, n.get("name")))
                continue
            api.delete_node(nu, wait)
        check(not foreign, "nodes not made by this harness own the fixture's MACs: %s"
              % ", ".join(foreign))

    def create():
        name = "%s%s-%s" % (NAME_PREFIX, fx.short[:40], uuid.uuid4().hex[:6])
        body = {"name": name, "driver": "fake-hardware", "inspect_interface": "agent"}
        if fx.bmc:
            body["driver_info"] = {"ipmi_address": fx.bmc}
        node = api.req("POST", "/v1/nodes", body, expect=(201,)).json()
        st["node"] = node["uuid"]
        check(node.get("inspect_interface") == "agent",
              "inspect_interface %r" % node.get("inspect_interface"))
        check(node.get("provision_state") == "enroll",
              "provision_state %r" % node.get("provision_state"))
        if not fx.bmc:
            # No usable BMC address in the inventory: enroll a known (non-PXE) MAC so
            # the report can be matched to the node, as an operator would.
            others = [m for m in fx.macs if m != fx.pxe_mac]
            mac = others[0] if others else fx.pxe_mac
            api.req("POST", "/v1/ports", {"address": mac, "node_uuid": node["uuid"]},
                    expect=(201,))
            st["enrolled_mac"] = mac

    def manage():
        nu = need("node", "node_create")
        api.req("PUT", "/v1/nodes/%s/states/provision" % nu, {"target": "manage"},
                expect=(202,))
        node = api.wait_state(nu, lambda n: n["provision_state"] in ("manageable", "enroll")
                              and not n.get("target_provision_state"),
                              "manageable", wait)
        check(node["provision_state"] == "manageable",
              "provision_state %r, last_error %r" % (node["provision_state"],
                                                      node.get("last_error")))

    def inspect():
        nu = need("node", "node_create")
        api.req("PUT", "/v1/nodes/%s/states/provision" % nu, {"target": "inspect"},
                expect=(202,))
        node = api.wait_state(nu, lambda n: n["provision_state"] != "inspecting",
                              "inspect wait", wait)
        check(node["provision_state"] == "inspect wait",
              "provision_state %r, last_error %r" % (node["provision_state"],
                                                      node.get("last_error")))
        check(node.get("target_provision_state") == "manageable",
              "target_provision_state %r" % node.get("target_provision_state"))
        # The ramdisk is booted: fake power on.
        node = api.wait_state(nu, lambda n: n.get("power_state") == "power on"
                              and not n.get("target_power_state"), "power on", wait)

    def version_discovery():
        need("node", "node_create")
        root = api.get("/", version=None)
        server = tuple(int(x) for x in root["default_version"]["version"].split("."))
        client = ironic_api_client.APIClient(url)
        with Recorder() as rec:
            got = client._get_ironic_api_version()
        st["client"] = client
        check(got == server, "IPA negotiated %r, GET / says %r" % (got, server))
        check(got >= ironic_api_client.MIN_IRONIC_VERSION,
              "server version %r below IPA's minimum %r"
              % (got, ironic_api_client.MIN_IRONIC_VERSION))
        check([c[:2] for c in rec.calls] == [("GET", url + "/")], rec.summary())
        return "IPA sees %d.%d" % got

    def lookup():
        nu = need("node", "node_create")
        client = need("client", "version_discovery")
        with Recorder() as rec:
            content = client.lookup_node(hardware_info=fx.hardware_info(),
                                         timeout=opts.lookup_timeout, starting_interval=1,
                                         node_uuid=nu, max_interval=5)
        check(content["node"]["uuid"] == nu, "lookup returned node %r" % content["node"]["uuid"])
        want = "%d.%d" % min(client._get_ironic_api_version(),
                             ironic_api_client.AGENT_TOKEN_IRONIC_VERSION)
        check(rec.calls and rec.calls[-1][1].split("?")[0] == url + "/v1/lookup"
              and rec.calls[-1][2] == want and rec.calls[-1][3] == 200,
              "expected one GET /v1/lookup @%s -> 200, got: %s" % (want, rec.summary()))
        config = content.get("config") or {}
        check(isinstance(config.get("heartbeat_timeout"), int),
              "config.heartbeat_timeout %r" % config.get("heartbeat_timeout"))
        token = config.get("agent_token")
        # agent.py: a token of >= 32 characters is adopted, '******' means "already
        # handed out" (fatal for a fresh agent).
        check(isinstance(token, str) and len(token) >= 32,
              "config.agent_token %r is not a fresh token" % token)
        client.agent_token = token
        st["content"] = content
        return rec.summary()

    def heartbeat():
        nu = need("node", "node_create")
        client = need("client", "version_discovery")
        need("content", "lookup")
        with Recorder() as rec:
            client.heartbeat(uuid=nu, advertise_address=("127.0.0.1", 9999),
                             advertise_protocol="http")
        want = "%d.%d" % min(client._get_ironic_api_version(),
                             ironic_api_client.MAX_KNOWN_VERSION)
        check(len(rec.calls) == 1 and rec.calls[0][2] == want and rec.calls[0][3] == 202,
              "expected one POST /v1/heartbeat @%s -> 202, got: %s" % (want, rec.summary()))
        node = api.node(nu)
        check(node["provision_state"] == "inspect wait",
              "heartbeat moved the node to %r" % node["provision_state"])
        return rec.summary()

    def callback_url():
        want = url + "/v1/continue_inspection"
        check(conf.inspection_callback_url == want,
              "CONF.inspection_callback_url %r" % conf.inspection_callback_url)
        check(conf.api_url == url, "CONF.api_url %r" % conf.api_url)
        check(inspector.is_enabled(), "IPA says inspection is disabled")
        check(inspector._get_urls() == [want], "IPA would post to %r" % inspector._get_urls())

    def inspection_callback():
        nu = need("node", "node_create")
        need("content", "lookup")
        failures = ipa_utils.AccumulatedFailures(exc_class=errors.InspectionError)
        with Recorder() as rec:
            resp = inspector.call_inspector(fx.report(), failures)
        check(len(rec.calls) == 1 and rec.calls[0][2] is None and rec.calls[0][3] == 202,
              "expected one POST /v1/continue_inspection (no version header) -> 202, "
              "got: %s" % rec.summary())
        check(resp == {"uuid": nu}, "answer %r, expected {'uuid': %r}" % (resp, nu))
        st["callback_ok"] = True
        return rec.summary()

    def finish():
        nu = need("node", "node_create")
        need("callback_ok", "inspection_callback")
        node = api.wait_state(nu, lambda n: n["provision_state"] not in
                              ("inspecting", "inspect wait"), "the end of inspection", wait)
        st["final"] = node
        check(node["provision_state"] == "manageable",
              "provision_state %r, last_error %r" % (node["provision_state"],
                                                      node.get("last_error")))
        check(not node.get("target_provision_state"),
              "target_provision_state %r" % node.get("target_provision_state"))
        check(node.get("last_error") is None, "last_error %r" % node.get("last_error"))

    def properties():
        node = need("final", "inspection_finish")
        got = (node.get("properties") or {}).get("cpu_arch")
        check(got == fx.arch, "properties.cpu_arch %r, inventory says %r" % (got, fx.arch))

    def ports():
        nu = need("node", "node_create")
        need("final", "inspection_finish")
        got = api.ports(nu)
        pxe = [p for p in got if norm_mac(p["address"]) == fx.pxe_mac]
        check(len(pxe) == 1, "%d ports with the PXE MAC %s: %s"
              % (len(pxe), fx.pxe_mac, [(p["address"], p.get("pxe_enabled")) for p in got]))
        check(pxe[0].get("pxe_enabled") is True,
              "PXE port pxe_enabled %r" % pxe[0].get("pxe_enabled"))
        expected = {fx.pxe_mac}
        if st["enrolled_mac"]:
            expected.add(st["enrolled_mac"])
        have = {norm_mac(p["address"]) for p in got}
        check(have == expected and len(got) == len(expected),
              "ports %s, expected %s" % (sorted(have), sorted(expected)))
        for p in got:
            if norm_mac(p["address"]) != fx.pxe_mac:
                check(p.get("pxe_enabled") is False,
                      "non-PXE port %s kept pxe_enabled %r (update_pxe_enabled)"
                      % (p["address"], p.get("pxe_enabled")))
        return "%d port(s)" % len(got)

    def power():
        nu = need("node", "node_create")
        need("final", "inspection_finish")
        node = api.wait_state(nu, lambda n: not n.get("target_power_state"),
                              "the power transition", wait)
        check(node.get("power_state") == "power off",
              "power_state %r" % node.get("power_state"))

    def stored_inventory():
        nu = need("node", "node_create")
        need("final", "inspection_finish")
        got = api.get("/v1/nodes/%s/inventory" % nu)
        check(got.get("inventory") == fx.inventory,
              "stored inventory differs from the one sent (keys %s)"
              % sorted((got.get("inventory") or {}).keys()))
        check(isinstance(got.get("plugin_data"), dict),
              "plugin_data %r" % type(got.get("plugin_data")).__name__)

    def snapshot(nu):
        n = api.node(nu)
        keep = ("provision_state", "target_provision_state", "power_state", "properties",
                "last_error", "inspection_started_at", "inspection_finished_at",
                "updated_at", "driver_internal_info")
        return ({k: n.get(k) for k in keep},
                sorted((p["uuid"], p["address"], p.get("pxe_enabled"), p.get("updated_at"))
                       for p in api.ports(nu)),
                api.get("/v1/nodes/%s/inventory" % nu))

    def callback_again():
        nu = need("node", "node_create")
        need("final", "inspection_finish")
        before = snapshot(nu)
        failures = ipa_utils.AccumulatedFailures(exc_class=errors.InspectionError)
        with Recorder() as rec:
            try:
                resp = inspector.call_inspector(fx.report(), failures)
            except errors.InspectionError as e:
                err = str(e)
            else:
                raise Check("accepted again: %r (%s)" % (resp, rec.summary()))
        statuses = [c[3] for c in rec.calls]
        check(statuses == [404], "expected a single 404, got: %s (%s)"
              % (rec.summary(), err[:200]))
        time.sleep(1)  # let anything wrongly started show up
        after = snapshot(nu)
        for label, b, a in zip(("node", "ports", "inventory"), before, after):
            if b != a:
                diff = b
                if isinstance(b, dict) and isinstance(a, dict):
                    diff = {k: (b.get(k), a.get(k)) for k in set(b) | set(a)
                            if b.get(k) != a.get(k)}
                raise Check("the refused report changed the %s: %s" % (label, diff))
        return rec.summary()

    def reinspect_wait():
        nu = need("node", "node_create")
        need("final", "inspection_finish")
        st["ports_before"] = sorted((p["uuid"], norm_mac(p["address"]), p.get("pxe_enabled"))
                                    for p in api.ports(nu))
        api.req("PUT", "/v1/nodes/%s/states/provision" % nu, {"target": "inspect"},
                expect=(202,))
        node = api.wait_state(nu, lambda n: n["provision_state"] != "inspecting",
                              "inspect wait", wait)
        check(node["provision_state"] == "inspect wait",
              "provision_state %r, last_error %r" % (node["provision_state"],
                                                      node.get("last_error")))
        st["re_wait"] = True

    def reinspect_lookup():
        # A freshly booted ramdisk: a new agent with no token of its own.
        nu = need("node", "node_create")
        need("re_wait", "reinspect_wait")
        client = ironic_api_client.APIClient(url)
        with Recorder() as rec:
            content = client.lookup_node(hardware_info=fx.hardware_info(),
                                         timeout=opts.lookup_timeout, starting_interval=1,
                                         node_uuid=nu, max_interval=5)
        token = (content.get("config") or {}).get("agent_token")
        check(token != "******",
              "lookup answered the masked token '******' (%s): the token of the previous "
              "ramdisk was not wiped; IPA 13 (agent.py process_lookup_data) then logs "
              "FATAL and locks down, so the node never heartbeats" % rec.summary())
        check(isinstance(token, str) and len(token) >= 32,
              "config.agent_token %r is not a fresh token" % token)
        check(token != (st["client"].agent_token if st.get("client") else None),
              "the first ramdisk's token was handed out again")
        client.agent_token = token
        st["re_client"] = client
        return rec.summary()

    def reinspect_heartbeat():
        nu = need("node", "node_create")
        client = need("re_client", "reinspect_lookup")
        with Recorder() as rec:
            client.heartbeat(uuid=nu, advertise_address=("127.0.0.1", 9998),
                             advertise_protocol="http")
        check([c[3] for c in rec.calls] == [202], rec.summary())

    def reinspect_callback():
        nu = need("node", "node_create")
        need("re_client", "reinspect_lookup")
        failures = ipa_utils.AccumulatedFailures(exc_class=errors.InspectionError)
        resp = inspector.call_inspector(fx.report(), failures)
        check(resp == {"uuid": nu}, "answer %r" % (resp,))
        node = api.wait_state(nu, lambda n: n["provision_state"] not in
                              ("inspecting", "inspect wait"), "the end of inspection", wait)
        check(node["provision_state"] == "manageable" and node.get("last_error") is None,
              "provision_state %r, last_error %r" % (node["provision_state"],
                                                      node.get("last_error")))
        check((node.get("properties") or {}).get("cpu_arch") == fx.arch,
              "properties %r" % node.get("properties"))
        after = sorted((p["uuid"], norm_mac(p["address"]), p.get("pxe_enabled"))
                       for p in api.ports(nu))
        check(after == st["ports_before"], "ports changed: %s -> %s"
              % (st["ports_before"], after))

    def delete():
        api.delete_node(need("node", "node_create"), wait)

    step(tag, "preclean", preclean)
    step(tag, "node_create", create)
    step(tag, "manage", manage)
    step(tag, "inspect_wait", inspect)
    step(tag, "ipa_version_discovery", version_discovery)
    step(tag, "ipa_lookup", lookup)
    step(tag, "ipa_heartbeat", heartbeat)
    step(tag, "ipa_callback_url", callback_url)
    step(tag, "ipa_inspection_callback", inspection_callback)
    step(tag, "inspection_finish", finish)
    step(tag, "cpu_arch", properties)
    step(tag, "ports", ports)
    step(tag, "power_off", power)
    step(tag, "stored_inventory", stored_inventory)
    step(tag, "callback_again_refused", callback_again)
    if opts.reinspect:
        step(tag, "reinspect_wait", reinspect_wait)
        step(tag, "reinspect_lookup_fresh_token", reinspect_lookup)
        step(tag, "reinspect_heartbeat", reinspect_heartbeat)
        step(tag, "reinspect_callback", reinspect_callback)
    if not opts.keep and st["node"]:
        step(tag, "node_delete", delete)


def main():
    ap = argparse.ArgumentParser(description="fake IPA (13.0.0 client code) inspection check")
    ap.add_argument("url")
    ap.add_argument("--fixture", action="append", default=[])
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--reinspect", action="store_true")
    opts = ap.parse_args()
    url = opts.url.rstrip("/")
    opts.wait = int(os.environ.get("FERRIC_IPA_WAIT", "60"))
    opts.lookup_timeout = int(os.environ.get("FERRIC_IPA_LOOKUP_TIMEOUT", "30"))
    fixtures = opts.fixture or [os.path.join(DEFAULT_FIXTURE_DIR, DEFAULT_FIXTURE)]

    results = []

    def step(tag, label, fn):
        t0 = time.monotonic()
        try:
            detail = fn()
        except Exception as e:  # noqa: BLE001 - report every failure
            results.append(False)
            print("FAIL  %s %s: %s: %s" % (tag, label, type(e).__name__, e), flush=True)
            if opts.debug:
                traceback.print_exc()
        else:
            results.append(True)
            print("PASS  %s %s (%.1fs)%s" % (tag, label, time.monotonic() - t0,
                                             ": %s" % detail if detail else ""), flush=True)

    from importlib.metadata import version
    conf = setup_ipa(url, opts.debug)
    print("ipa_fake_agent: %s (ironic-python-agent %s, %d fixture(s))"
          % (url, version("ironic-python-agent"), len(fixtures)), flush=True)
    api = Api(url)
    for path in fixtures:
        try:
            fx = Fixture(path)
        except Exception as e:  # noqa: BLE001
            results.append(False)
            print("FAIL  [%s] load: %s: %s" % (os.path.basename(path), type(e).__name__, e))
            continue
        print("-- %s: arch %s, PXE %s, %d NICs, BMC %s" % (fx.short, fx.arch, fx.pxe_mac,
                                                           len(fx.macs), fx.bmc or "none"),
              flush=True)
        run_fixture(api, url, fx, conf, step, opts)

    passed = sum(results)
    failed = len(results) - passed
    sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""openstacksdk check against a noauth Bare Metal endpoint.

Usage: conformance/sdk_scenario.py <baremetal_url>
  (re-executes itself with $FERRIC_VENV_DIR/clients/bin/python when the current
  interpreter has no openstacksdk; run setup.sh first)

Steps: connect (auth_type=none, baremetal_endpoint_override=URL), create a
fake-hardware node, list, get, set provision state 'manage' with wait (expects
manageable), delete (and check it is gone). Prints one PASS/FAIL line per step
and `N passed, N failed` alone on the last line; exit 1 on any failure.
$FERRIC_SDK_WAIT bounds each wait (default 120 s).
"""

import os
import sys
import time
import traceback
import uuid


def _sdk_version():
    try:
        from importlib.metadata import version
        return version("openstacksdk")
    except Exception:  # noqa: BLE001
        return "?"


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    url = sys.argv[1].rstrip("/")
    wait = int(os.environ.get("FERRIC_SDK_WAIT", "120"))

    try:
        import openstack
        from openstack import exceptions as os_exc
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        venv = os.environ.get("FERRIC_VENV_DIR",
                              os.path.join(os.path.dirname(here), ".venv-conformance"))
        py = os.path.join(venv, "clients", "bin", "python")
        if os.path.exists(py) and not os.environ.get("FERRIC_SDK_REEXEC"):
            os.environ["FERRIC_SDK_REEXEC"] = "1"
            os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
        sys.stderr.write("openstacksdk not importable; run conformance/setup.sh\n")
        return 2

    name = "ferric-sdk-%s" % uuid.uuid4().hex[:8]
    state = {"conn": None, "node": None, "deleted": False}
    results = []

    def step(label, fn):
        t0 = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every failure
            results.append(False)
            print("FAIL  %s: %s: %s" % (label, type(e).__name__, e))
            if os.environ.get("FERRIC_SDK_DEBUG"):
                traceback.print_exc()
        else:
            results.append(True)
            print("PASS  %s (%.1fs)" % (label, time.monotonic() - t0))

    def need_node():
        if state["node"] is None:
            raise RuntimeError("no node (create failed)")
        return state["node"]

    def check(cond, msg):
        if not cond:
            raise AssertionError(msg)

    def connect():
        conn = openstack.connect(auth_type="none",
                                 baremetal_endpoint_override=url,
                                 api_timeout=60)
        state["conn"] = conn

    def create():
        conn = state["conn"]
        node = conn.baremetal.create_node(
            name=name, driver="fake-hardware",
            properties={"cpus": 2, "memory_mb": 4096, "local_gb": 20})
        state["node"] = node
        check(node.id, "no uuid in create response")
        check(node.name == name, "name %r != %r" % (node.name, name))
        check(node.driver == "fake-hardware", "driver %r" % node.driver)
        check(node.provision_state == "enroll",
              "provision_state %r != 'enroll'" % node.provision_state)

    def list_():
        node = need_node()
        ids = [n.id for n in state["conn"].baremetal.nodes()]
        check(node.id in ids, "%s not in node list (%d nodes)" % (node.id, len(ids)))
        detailed = {n.id: n for n in state["conn"].baremetal.nodes(details=True)}
        check(node.id in detailed, "%s not in detailed node list" % node.id)
        check(detailed[node.id].driver == "fake-hardware",
              "detailed list driver %r" % detailed[node.id].driver)

    def get():
        node = need_node()
        got = state["conn"].baremetal.get_node(node.id)
        check(got.id == node.id and got.name == name, "get by uuid: %r" % got)
        got = state["conn"].baremetal.get_node(name)
        check(got.id == node.id, "get by name returned %s" % got.id)
        check(got.properties.get("cpus") == 2, "properties %r" % got.properties)

    def manage():
        node = need_node()
        res = state["conn"].baremetal.set_node_provision_state(
            node.id, "manage", wait=True, timeout=wait)
        check(res.provision_state == "manageable",
              "provision_state %r after wait" % res.provision_state)
        got = state["conn"].baremetal.get_node(node.id)
        check(got.provision_state == "manageable",
              "provision_state %r on get" % got.provision_state)
        check(got.last_error is None, "last_error %r" % got.last_error)

    def delete():
        node = need_node()
        state["conn"].baremetal.delete_node(node.id, ignore_missing=False)
        state["deleted"] = True
        try:
            state["conn"].baremetal.get_node(node.id)
        except os_exc.NotFoundException:
            pass
        else:
            raise AssertionError("node %s still found after delete" % node.id)

    print("sdk_scenario: %s (openstacksdk %s, node %s)"
          % (url, _sdk_version(), name))
    step("connect", connect)
    if state["conn"] is not None:
        step("node_create", create)
        step("node_list", list_)
        step("node_get", get)
        step("manage_wait", manage)
        step("node_delete", delete)
        if state["node"] is not None and not state["deleted"]:
            try:  # best-effort cleanup
                state["conn"].baremetal.delete_node(state["node"].id)
            except Exception:  # noqa: BLE001
                pass
    passed = sum(results)
    failed = len(results) - passed
    sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

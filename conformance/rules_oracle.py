#!/usr/bin/env python3
"""Real Ironic 39 as the oracle for ferric's inspection rules engine.

Runs each case of conformance/rules_cases.json through Ironic's own
``ironic.common.inspection_rules.engine.apply_rules`` (stored rules replaced by the case's
rules, a stand-in node and ports with Ironic's attribute semantics) and writes what Ironic
did to conformance/rules_oracle.json: the error text, or the node's fields, the ports and the
plugin data afterwards. ferric's test ``rules::tests::oracle_cases_match_ironic`` (crates/core)
runs the same cases and must get the same results.

Usage: IRONIC_PY=.venv-conformance/ironic/bin/python conformance/rules_oracle.py
       (or run it with the Ironic venv's python directly)
"""
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

from oslo_config import cfg  # noqa: E402

import ironic.conf  # noqa: E402,F401
from ironic.common import exception  # noqa: E402
from ironic.common.inspection_rules import engine  # noqa: E402
from ironic.common.inspection_rules import validation  # noqa: E402
from ironic import objects  # noqa: E402

objects.register_all()

cfg.CONF([], project="ironic", default_config_files=[])


class Node(object):
    """The attributes rules touch, as on Ironic's Node object."""

    def __init__(self, d):
        self.__dict__.update(copy.deepcopy(d))

    def save(self):
        pass


class Port(Node):
    pass


class Task(object):
    def __init__(self, node, ports):
        self.node = node
        self.ports = ports
        self.context = None


FIELDS = ["driver", "properties", "driver_info", "extra"]
PORT_FIELDS = ["uuid", "extra", "local_link_connection", "physical_network", "pxe_enabled"]


def run(case):
    rules = []
    for i, body in enumerate(case["rules"]):
        body = copy.deepcopy(body)
        validation.validate_rule(body)
        body.setdefault("uuid", "r%d" % i)
        body.setdefault("priority", 0)
        body.setdefault("sensitive", False)
        body.setdefault("conditions", [])
        rules.append(body)
    engine.objects.InspectionRule.list = classmethod(lambda cls, context, filters: rules)
    node = Node(case["node"])
    ports = [Port(p) for p in case.get("ports", [])]
    plugin_data = copy.deepcopy(case["plugin_data"])
    out = {"name": case["name"]}
    try:
        engine.apply_rules(Task(node, ports), copy.deepcopy(case["inventory"]), plugin_data, "main")
        out["error"] = None
    except exception.IronicException as e:
        out["error"] = str(e)
        return out
    out["node"] = {f: getattr(node, f) for f in FIELDS}
    out["ports"] = [{f: getattr(p, f) for f in PORT_FIELDS} for p in ports]
    out["plugin_data"] = plugin_data
    return out


def plain(o):
    """Ironic's masking proxies (extend-plugin-data stores one) as plain JSON."""
    if hasattr(o, "_original"):
        return list(o._original)
    if hasattr(o, "_data"):
        return dict(o._data)
    raise TypeError(repr(o))


def main():
    cases = json.load(open(os.path.join(HERE, "rules_cases.json")))
    results = [run(c) for c in cases]
    with open(os.path.join(HERE, "rules_oracle.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True, default=plain)
        f.write("\n")
    print("%d cases written to conformance/rules_oracle.json" % len(results))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Oracle for ferric's inspection hooks: feed the real inventories of shared/fixtures
through Ironic 39's own hook code (ironic.drivers.modules.inspect_utils with the
ironic.inspection.hooks entry points) and check the results against the values ferric's
tests assert (crates/core/src/inspection/tests.rs, fixture_* tests). Ports live in an
in-memory stand-in for ironic.objects.Port; nothing else is faked.

Run with the Ironic venv:
    /work/main/.venv-conformance/ironic/bin/python conformance/inspection_hooks_oracle.py [FIXTURES_DIR]
Exit status 0 when every check passes; each mismatch is printed.
"""

import copy
import json
import os
import sys
import warnings
from unittest import mock

warnings.filterwarnings("ignore")

FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "inspection")
if not os.path.isdir(FIXTURES):
    FIXTURES = "/work/shared/fixtures/inspection"

from ironic.conf import CONF  # noqa: E402
from ironic.common import exception  # noqa: E402
from ironic import objects  # noqa: E402

objects.register_all()
import ironic.objects.port as ironic_port  # noqa: E402
from ironic.drivers.modules import inspect_utils  # noqa: E402

CONF([], project="ironic", default_config_files=[])
CONF.set_override("hooks", ",".join([
    "ramdisk-error", "validate-interfaces", "ports", "architecture", "cpus", "memory", "raid-device",
    "root-device", "boot-mode", "cpu-capabilities", "pci-devices", "accelerators", "extra-hardware",
    "parse-lldp", "local-link-connection", "physical-network"]), "inspector")
CONF.set_override("physical_network_cidr_map", [
    "10.8.146.0/24:provisioning", "172.22.0.0/24:provisioning", "10.4.50.0/24:physnet-prov"], "inspector")

PORTS = []


class FakePort:
    """The parts of ironic.objects.Port the hooks use."""

    def __init__(self, context=None, address=None, node_id=None, pxe_enabled=True, extra=None,
                 local_link_connection=None, physical_network=None, uuid=None):
        self.address = address.lower()
        self.node_id = node_id
        self.pxe_enabled = pxe_enabled
        self.extra = extra or {}
        self.local_link_connection = local_link_connection or {}
        self.physical_network = physical_network
        self.uuid = uuid or "new-%s" % self.address
        self.id = self.uuid
        self._changed_fields = set()

    def create(self):
        if any(p.address == self.address for p in PORTS):
            raise exception.MACAlreadyExists(mac=self.address)
        PORTS.append(self)

    def save(self):
        pass

    def destroy(self):
        PORTS.remove(self)

    def set_local_link_connection(self, key, value):
        self.local_link_connection[key] = value

    @classmethod
    def list_by_node_id(cls, context, node_id):
        return [p for p in PORTS if p.node_id == node_id]

    @classmethod
    def get_by_address(cls, context, address):
        for p in PORTS:
            if p.address == address:
                return p
        raise exception.PortNotFound(port=address)


class FakeNode:
    def __init__(self, uuid, properties):
        self.uuid = uuid
        self.id = 1
        self.properties = properties

    def set_property(self, k, v):
        self.properties[k] = v

    def save(self):
        pass


class FakeTask:
    context = None

    def __init__(self, node):
        self.node = node


UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
FAILURES = []


def check(label, got, want):
    if got != want:
        FAILURES.append(label)
        print("MISMATCH %s:\n  ironic: %s\n  ferric: %s" % (label, json.dumps(got, sort_keys=True), json.dumps(want, sort_keys=True)))
    else:
        print("ok %s" % label)


def run(inventory, plugin_data, properties, ports=()):
    PORTS[:] = [copy.deepcopy(p) for p in ports]
    node = FakeNode(UUID, copy.deepcopy(properties))
    task = FakeTask(node)
    hooks = inspect_utils.validate_inspection_hooks("agent", [x.strip() for x in CONF.inspector.hooks.split(",")])
    with mock.patch.object(objects, "Port", FakePort), mock.patch.object(ironic_port, "Port", FakePort), \
            mock.patch("ironic.objects.node_inventory.NodeInventory.get_by_node_id",
                       side_effect=exception.NodeInventoryNotFound(node=UUID)):
        inspect_utils.run_inspection_hooks(task, inventory, plugin_data, hooks, None)
    return node.properties, {p.address: p for p in PORTS}


def load(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def split(doc):
    pd = copy.deepcopy(doc)
    return pd.pop("inventory"), pd


def port_view(p):
    return {"pxe_enabled": p.pxe_enabled, "extra": p.extra, "local_link_connection": p.local_link_connection,
            "physical_network": p.physical_network}


# Dell R320 (metal3-docs), em2 already a port with an operator-set port_id.
doc = load("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json")
inv, pd = split(doc)
em2 = FakePort(address="b0:83:fe:c6:63:87", node_id=1, pxe_enabled=True,
               local_link_connection={"port_id": "set-by-operator"}, uuid="em2-port")
props, ports = run(inv, pd, {}, [em2])
check("dell properties", props, {
    "cpu_arch": "x86_64", "cpus": 16, "memory_mb": 81920, "local_gb": 557,
    "capabilities": "boot_mode:bios,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true,cpu_txt:true"})
check("dell ports", {a: port_view(p) for a, p in ports.items()}, {
    "b0:83:fe:c6:63:87": {"pxe_enabled": False, "extra": {}, "physical_network": None, "local_link_connection": {
        "port_id": "set-by-operator", "switch_id": "64:64:9b:32:f3:00", "switch_info": "sw01-dist-1b-b12.rdu2"}},
    "b0:83:fe:c6:63:86": {"pxe_enabled": True, "extra": {}, "physical_network": "provisioning", "local_link_connection": {
        "switch_id": "64:64:9b:32:f3:00", "port_id": "ge-0/0/25", "switch_info": "sw01-dist-1b-b12.rdu2"}}})
check("dell parsed_lldp", pd["parsed_lldp"], {n: doc["all_interfaces"][n]["lldp_processed"] for n in ["em1", "em2", "p2p1", "p2p2"]})
check("dell plugin_data keys", sorted(pd), [
    "all_interfaces", "boot_interface", "cpu_arch", "cpus", "error", "extra", "interfaces", "ipmi_address", "local_gb", "macs",
    "memory_mb", "numa_topology", "parsed_lldp", "root_disk", "valid_interfaces"])
check("dell macs", pd["macs"], ["b0:83:fe:c6:63:86"])

inv, pd = split(doc)
pd.pop("root_disk")
props, _ = run(inv, pd, {"root_device": {"model": "perc h710", "size": ">= 500", "wwn": "0x6b083fe0d2d0eb00"}})
check("dell root_disk from hints", pd["root_disk"], doc["root_disk"])
check("dell local_gb from hints", props["local_gb"], 557)

# KVM VM (metal3-docs).
inv, pd = split(load("metal3-inspector-data-kvm-vm.json"))
props, ports = run(inv, pd, {})
check("kvm properties", props, {
    "cpu_arch": "x86_64", "cpus": 2, "memory_mb": 6144, "local_gb": 49,
    "capabilities": "boot_mode:bios,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true"})
check("kvm ports", {a: port_view(p) for a, p in ports.items()}, {
    "00:ca:ff:65:6e:68": {"pxe_enabled": True, "extra": {}, "local_link_connection": {}, "physical_network": "provisioning"}})
check("kvm no parsed_lldp", "parsed_lldp" in pd, False)
check("kvm ipv6 without scope", pd["all_interfaces"]["eth1"]["ipv6_address"], "fe80::2ca:ffff:fe65:6e6a")

# KVM VM with extra-hardware (terraform-provider-ironic), root device hints.
inv, pd = split(load("terraform-ironic-kvm-introspection-data-extra-hardware.json"))
hints = {"hctl": "2:0:0:0", "serial": "drive-scsi0-0-0-0", "rotational": True}
props, ports = run(inv, pd, {"root_device": hints})
check("terraform properties", props, {
    "cpu_arch": "x86_64", "cpus": 4, "memory_mb": 16384, "local_gb": 49, "root_device": hints,
    "capabilities": "boot_mode:bios,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true"})
check("terraform ports", sorted(ports), ["00:61:f4:72:48:d7"])

# Dell R7615 (understack), node properties from the understack node record.
doc = load("understack-dell-r7615-node-inventory-lldp.json")
node_show = load("understack-real-node-show-active-redfish-dell.json")
inv, pd = doc["inventory"], copy.deepcopy(doc["plugin_data"])
props, ports = run(inv, pd, node_show["properties"])
check("r7615 properties", props, {
    "vendor": "Dell Inc.", "cpu_arch": "x86_64", "cpus": 32, "memory_mb": 98304, "local_gb": 445,
    "capabilities": "boot_mode:uefi,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true"})
check("r7615 ports", {a: port_view(p) for a, p in ports.items()}, {
    "d4:04:e6:4f:71:28": {"pxe_enabled": True, "extra": {}, "physical_network": "physnet-prov", "local_link_connection": {
        "switch_id": "c4:7e:e0:e4:55:3f", "port_id": "Ethernet1/4", "switch_info": "f20-3-1.iad3"}}})
check("r7615 parsed_lldp eno3np0", pd["parsed_lldp"]["eno3np0"], {
    "switch_chassis_id": "c4:7e:e0:e4:55:3f", "switch_port_id": "Ethernet1/4",
    "switch_port_description": "Dell-F3GSW04_NIC.Integrated.1-1", "switch_system_name": "f20-3-1.iad3",
    "switch_port_mtu": 9000, "switch_port_vlans": [{"name": "4010_provisioning", "id": 4010}],
    "switch_port_link_aggregation_enabled": False, "switch_port_link_aggregation_support": True,
    "switch_port_link_aggregation_id": 0})
check("r7615 parsed_lldp eno4np1", pd["parsed_lldp"]["eno4np1"], {
    "switch_chassis_id": "40:14:82:81:3e:e3", "switch_port_id": "Ethernet1/4", "switch_port_description": "Ethernet1/4",
    "switch_system_name": "f20-3-1f.iad3", "switch_port_mtu": 1500, "switch_port_link_aggregation_enabled": False,
    "switch_port_link_aggregation_support": True, "switch_port_link_aggregation_id": 0})
check("r7615 plugin_data keys", sorted(pd), [
    "all_interfaces", "boot_interface", "configuration", "error", "local_gb", "macs", "parsed_lldp", "root_disk",
    "valid_interfaces"])

# HP BL460c Gen8 raw extra-hardware records (stackhpc/mungetout), strict mode.
CONF.set_override("extra_hardware_strict", True, "inspector")
pd = {"data": load("stackhpc-mungetout-hp-proliant-bl460c-gen8-extra-hardware-raw.json")}
from ironic.drivers.modules.inspector.hooks import extra_hardware  # noqa: E402
extra_hardware.ExtraHardwareHook()(FakeTask(FakeNode(UUID, {})), {}, pd)
e = pd["extra"]
check("hp extra categories", sorted(e), ["cpu", "disk", "firmware", "ipmi", "memory", "network", "system"])
check("hp extra sizes", [len(e[c]) for c in ["cpu", "disk", "firmware", "ipmi", "memory", "network", "system"]], [6, 1, 1, 43, 18, 2, 3])
check("hp memory", e["memory"]["total"]["size"], 137438953472)
check("hp bios", e["firmware"]["bios"], {"version": "I31", "date": "06/01/2015", "vendor": "HP"})
check("hp data removed", "data" in pd, False)

# The last_error of a ramdisk error, as the agent interface and the conductor build it.
inv, pd = split(load("metal3-inspector-data-kvm-vm.json"))
pd["error"] = "the disks are gone"
try:
    run(inv, pd, {})
    got = None
except Exception as exc:
    got = "Failed to finish inspection: %s" % exception.HardwareInspectionFailure(
        error="failed to run inspection hooks: %s" % exc)
check("ramdisk error last_error", got, (
    "Failed to finish inspection: Failed to inspect hardware. Reason: failed to run inspection hooks: Failed to inspect "
    "hardware. Reason: The following failures happened while running preprocess hooks for node %s:\nError in preprocess "
    "hook ramdisk-error: Failed to inspect hardware. Reason: Ramdisk reported error: the disks are gone" % UUID))

print("%d mismatches" % len(FAILURES))
sys.exit(1 if FAILURES else 0)

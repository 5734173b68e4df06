//! The pipeline: configuration checks, every hook through `process` (success, warnings,
//! Ironic's error texts, hostile input), and every real inventory of shared/fixtures.

use super::*;
use serde_json::json;

const UUID: &str = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";

fn node(props: Value) -> Node {
    Node { uuid: UUID.into(), properties: serde_json::from_value(props).unwrap(), ..Default::default() }
}

fn cfg(hooks: &[&str]) -> HookConfig {
    HookConfig { hooks: hooks.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

fn all() -> HookConfig {
    HookConfig { hooks: HookConfig::all_hooks(), ..Default::default() }
}

fn pd(v: Value) -> Dict {
    serde_json::from_value(v).unwrap()
}

fn inv(pxe: Option<&str>) -> Value {
    let mut v = json!({
        "cpu": {"architecture": "x86_64", "count": 4, "flags": ["fpu", "vmx", "aes", "sse2"]},
        "memory": {"physical_mb": 8192, "total": 8589934592u64},
        "disks": [{"name": "/dev/sda", "size": 107374182400u64, "model": "QEMU HARDDISK", "serial": "S1", "rotational": true}],
        "interfaces": [
            {"name": "eth0", "mac_address": "52:54:00:AA:00:01", "ipv4_address": "192.0.2.10"},
            {"name": "eth1", "mac_address": "52:54:00:aa:00:02", "ipv4_address": null},
            {"name": "lo", "mac_address": "00:00:00:00:00:00", "ipv4_address": "127.0.0.1"},
            {"name": "bad", "mac_address": "not-a-mac"},
            {"name": "dash", "mac_address": "52-54-00-aa-00-07"},
            {"mac_address": "52:54:00:aa:00:09"}
        ]
    });
    if let Some(p) = pxe {
        v["boot"] = json!({"pxe_interface": p, "current_boot_mode": "uefi"});
    }
    v
}

fn run(c: &HookConfig, n: &Node, ports: &[Port], inventory: &Value, plugin: &mut Dict) -> Result<Outcome, String> {
    process(c, n, ports, None, inventory, plugin)
}

fn creates(o: &Outcome) -> Vec<(String, bool)> {
    o.port_changes
        .iter()
        .filter_map(|c| match c {
            PortChange::Create { address, fields } => Some((address.clone(), fields.pxe_enabled)),
            _ => None,
        })
        .collect()
}

fn created(o: &Outcome, mac: &str) -> PortFields {
    o.port_changes
        .iter()
        .find_map(|c| match c {
            PortChange::Create { address, fields } if address == mac => Some(fields.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no port created for {mac}: {:?}", o.port_changes))
}

fn port(uuid: &str, mac: &str, pxe: bool) -> Port {
    Port { uuid: uuid.into(), address: mac.into(), node_uuid: UUID.into(), pxe_enabled: pxe, ..Default::default() }
}

/// What follows "Failed to finish inspection: " for a main-phase hook failure.
fn post_error(reason: &str) -> String {
    format!("Failed to inspect hardware. Reason: failed to run inspection hooks: Failed to inspect hardware. Reason: {reason}")
}

fn unexpected_error(class: &str, msg: &str) -> String {
    post_error(&format!("Unexpected exception {class} during processing for node: {UUID}. Error: {msg}"))
}

// ---------------------------------------------------------------- configuration

#[test]
fn configuration_is_checked_like_ironic_loads_hooks() {
    assert!(HookConfig::default().validate().is_ok());
    assert!(all().validate().is_ok());
    let mut sorted = HookConfig::all_hooks();
    sorted.sort();
    assert_eq!(sorted, KNOWN_HOOKS, "all_hooks lists every known hook once");
    assert_eq!(
        cfg(&["ramdisk-error", "cpus", "bogus", "lldp"]).validate().unwrap_err(),
        "The following hook(s) are missing or failed to load: bogus, lldp"
    );
    assert_eq!(
        cfg(&["ports", "validate-interfaces"]).validate().unwrap_err(),
        "Some hooks failed to load due to dependency problems: Hook ports requires these missing hooks to be enabled before it: validate-interfaces"
    );
    assert_eq!(
        cfg(&["local-link-connection", "physical-network"]).validate().unwrap_err(),
        "Some hooks failed to load due to dependency problems: Hook local-link-connection requires these missing hooks to be enabled before it: validate-interfaces, Hook physical-network requires these missing hooks to be enabled before it: validate-interfaces"
    );
    assert!(cfg(&["cpus", "memory", "parse-lldp", "extra-hardware"]).validate().is_ok(), "hooks without dependencies run alone");
}

#[test]
fn option_parsers() {
    assert_eq!(
        expand_hooks("prehook, $default_hooks ,posthook", "ramdisk-error,ports"),
        ["prehook", "ramdisk-error", "ports", "posthook"]
    );
    assert_eq!(expand_hooks("${default_hooks},cpus,,", "a"), ["a", "cpus"]);
    assert_eq!(
        parse_cpu_capabilities("vmx:cpu_vt, svm:cpu_vt,aes:cpu_aes,vmx:virt").unwrap(),
        [("vmx".to_string(), "virt".to_string()), ("svm".into(), "cpu_vt".into()), ("aes".into(), "cpu_aes".into())]
    );
    assert!(parse_cpu_capabilities("vmx").is_err());
    assert!(parse_cpu_capabilities(":x").is_err());
    let a = PciAlias::parse(r#"{"vendor_id": "8086", "product_id": "154d", "name": "intel_nic"}"#).unwrap();
    assert_eq!((a.vendor_id, a.name), (json!("8086"), json!("intel_nic")));
    assert!(PciAlias::parse(r#"{"vendor_id": "8086", "name": "x"}"#).unwrap_err().contains("exactly"));
    assert!(PciAlias::parse(r#"{"vendor_id": "8086", "product_id": "1", "name": "x", "extra": 1}"#).is_err());
    assert!(PciAlias::parse("not json").is_err());
    assert!(PciAlias::parse("[1]").is_err());
    assert_eq!(parse_cidr_map_entry("10.10.10.0/24:physnet_a").unwrap().1, "physnet_a");
    let (c, n) = parse_cidr_map_entry("2001:db8::/64:physnet_b").unwrap();
    assert_eq!((c.to_string(), n.as_str()), ("2001:db8::/64".to_string(), "physnet_b"));
    assert_eq!(parse_cidr_map_entry("10.10.10.1/24:a").unwrap_err(), "10.10.10.1/24 has host bits set");
    assert!(parse_cidr_map_entry("10.10.10.0/33:a").is_err());
    assert!(parse_cidr_map_entry("10.10.10.0/24").is_err(), "no physical network (the last ':' splits)");
    assert!(parse_cidr_map_entry("10.10.10.0/24:").is_err());
    assert!(parse_cidr_map_entry("nonsense:a").is_err());
    let c = Cidr::parse("0.0.0.0/0").unwrap();
    assert!(c.contains(&"203.0.113.9".parse().unwrap()) && !c.contains(&"::1".parse().unwrap()));
    let c = Cidr::parse("192.0.2.7").unwrap();
    assert_eq!(c.prefix, 32);
    assert!(known_accelerators_from(&json!({"pci_devices": [{"vendor_id": "10de"}]})).unwrap_err().contains("missing vendor_id or device_id"));
    assert!(known_accelerators_from(&json!({"pci_devices": {}})).unwrap_err().contains("should contain a list"));
    assert!(known_accelerators_from(&json!({})).unwrap_err().contains("Could not find pci_devices"));
    assert_eq!(default_known_accelerators().len(), 6);
}

// ---------------------------------------------------------------- default hooks

#[test]
fn defaults_add_only_the_pxe_port_and_set_the_architecture() {
    let mut p = Dict::new();
    let o = run(&HookConfig::default(), &node(json!({})), &[], &inv(Some("01-52-54-00-AA-00-01")), &mut p).unwrap();
    assert_eq!(Value::Object(o.properties.clone()), json!({"cpu_arch": "x86_64"}), "the default hooks set only cpu_arch");
    assert_eq!(creates(&o), vec![("52:54:00:aa:00:01".to_string(), true)]);
    assert_eq!(p["macs"], json!(["52:54:00:AA:00:01"]), "Ironic keeps the inventory's spelling in plugin_data");
    let all: Vec<&String> = p["all_interfaces"].as_object().unwrap().keys().collect();
    assert_eq!(all, ["eth0", "eth1", "lo"], "nameless, invalid and dash-separated MACs are dropped");
    assert_eq!(p["all_interfaces"]["eth0"]["pxe_enabled"], true);
    assert_eq!(p["all_interfaces"]["eth1"]["pxe_enabled"], false);
    assert_eq!(p["all_interfaces"]["eth1"]["ipv6_address"], Value::Null);
}

#[test]
fn without_a_pxe_mac_every_non_loopback_interface_is_added() {
    let o = run(&HookConfig::default(), &node(json!({})), &[], &inv(None), &mut Dict::new()).unwrap();
    assert_eq!(creates(&o), vec![("52:54:00:aa:00:01".into(), false), ("52:54:00:aa:00:02".into(), false)]);
    assert!(o.warnings.iter().any(|w| w.contains("No boot interface")));
    let c = HookConfig { add_ports: AddPorts::Active, ..Default::default() };
    let o = run(&c, &node(json!({})), &[], &inv(None), &mut Dict::new()).unwrap();
    assert_eq!(creates(&o), vec![("52:54:00:aa:00:01".into(), false)], "active: only interfaces with an IP");
    let c = HookConfig { add_ports: AddPorts::All, ..Default::default() };
    let o = run(&c, &node(json!({})), &[], &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
    assert_eq!(creates(&o), vec![("52:54:00:aa:00:01".into(), true), ("52:54:00:aa:00:02".into(), false)]);
    let c = HookConfig { add_ports: AddPorts::Disabled, ..Default::default() };
    let o = run(&c, &node(json!({})), &[], &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
    assert!(o.port_changes.is_empty());
}

#[test]
fn existing_ports_are_kept_updated_or_removed() {
    let ports = vec![port("p1", "52:54:00:aa:00:01", false), port("p2", "52:54:00:aa:00:99", true)];
    let o = run(&HookConfig::default(), &node(json!({})), &ports, &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
    assert!(creates(&o).is_empty(), "the PXE port exists already");
    let upd = |uuid: &str, pxe: bool| PortChange::Update { uuid: uuid.into(), fields: PortFields { pxe_enabled: pxe, ..Default::default() } };
    assert_eq!(o.port_changes, vec![upd("p1", true), upd("p2", false)]);
    for (keep, deleted) in [(KeepPorts::Present, true), (KeepPorts::Added, true), (KeepPorts::All, false)] {
        let c = HookConfig { keep_ports: keep, ..Default::default() };
        let o = run(&c, &node(json!({})), &ports, &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
        let del = PortChange::Delete { uuid: "p2".into(), address: "52:54:00:aa:00:99".into() };
        assert_eq!(o.port_changes.contains(&del), deleted, "{keep:?}");
    }
    // keep_ports=added removes the non-PXE interface's port too; present keeps it.
    let ports = vec![port("p3", "52:54:00:aa:00:02", false)];
    let c = HookConfig { keep_ports: KeepPorts::Added, ..Default::default() };
    let o = run(&c, &node(json!({})), &ports, &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
    assert!(o.port_changes.contains(&PortChange::Delete { uuid: "p3".into(), address: "52:54:00:aa:00:02".into() }));
    let c = HookConfig { keep_ports: KeepPorts::Present, update_pxe_enabled: false, ..Default::default() };
    let o = run(&c, &node(json!({})), &ports, &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
    assert_eq!(o.port_changes.len(), 1, "only the PXE port is created: {:?}", o.port_changes);
}

#[test]
fn dhcp_client_ids_go_to_port_extra() {
    let mut i = inv(Some("52:54:00:aa:00:01"));
    i["interfaces"][0]["client_id"] = json!("ff:00:00:00:00:00:02:00:00:02:c9:00:52:54:00:aa:00:01");
    i["interfaces"][1]["client_id"] = json!("cid-2");
    let mut existing = port("p2", "52:54:00:aa:00:02", false);
    existing.extra.insert("client-id".into(), json!("old"));
    let o = run(&HookConfig::default(), &node(json!({})), &[existing], &i, &mut Dict::new()).unwrap();
    assert_eq!(created(&o, "52:54:00:aa:00:01").extra["client-id"], "ff:00:00:00:00:00:02:00:00:02:c9:00:52:54:00:aa:00:01");
    let PortChange::Update { fields, .. } = &o.port_changes[0] else { panic!("{:?}", o.port_changes) };
    assert_eq!(fields.extra["client-id"], "cid-2");
}

// ---------------------------------------------------------------- errors in Ironic's words

#[test]
fn preprocess_failures_are_collected_in_ironics_words() {
    let mut p = pd(json!({"error": "disk on fire"}));
    let e = run(&HookConfig::default(), &node(json!({})), &[], &json!({"cpu": {}}), &mut p).unwrap_err();
    assert_eq!(
        e,
        format!(
            "Failed to inspect hardware. Reason: failed to run inspection hooks: Failed to inspect hardware. Reason: The following failures \
             happened while running preprocess hooks for node {UUID}:\nError in preprocess hook ramdisk-error: Failed to inspect hardware. \
             Reason: Ramdisk reported error: disk on fire\nUnexpected exception InvalidNodeInventory during preprocess hook \
             validate-interfaces: Inventory for node {UUID} is invalid: no interfaces present in inventory"
        )
    );
    let only_lo = json!({"interfaces": [{"name": "lo", "mac_address": "00:00:00:00:00:00"}]});
    let e = run(&HookConfig::default(), &node(json!({})), &[], &only_lo, &mut Dict::new()).unwrap_err();
    assert!(e.ends_with(&format!("Inventory for node {UUID} is invalid: no network interfaces match the configuration (add_ports set to \"pxe\")")), "{e}");
    let none_valid = json!({"interfaces": [{"name": "x", "mac_address": "zz"}]});
    let e = run(&HookConfig::default(), &node(json!({})), &[], &none_valid, &mut Dict::new()).unwrap_err();
    assert!(e.ends_with("is invalid: no valid network interfaces"), "{e}");
    // A falsy error is no error.
    for ok in [json!(null), json!(""), json!(false)] {
        let mut p = pd(json!({"error": ok}));
        assert!(run(&HookConfig::default(), &node(json!({})), &[], &inv(None), &mut p).is_ok());
    }
}

#[test]
fn architecture_and_memory_report_what_is_missing() {
    let mut i = inv(None);
    i["cpu"] = json!({"count": 2});
    let e = run(&HookConfig::default(), &node(json!({})), &[], &i, &mut Dict::new()).unwrap_err();
    assert_eq!(
        e,
        unexpected_error(
            "InvalidNodeInventory",
            &format!("Inventory for node {UUID} is invalid: Inventory has malformed or missing CPU architecture information: {{'count': 2}} for node {UUID}.")
        )
    );
    let mut i = inv(None);
    i.as_object_mut().unwrap().remove("memory");
    let e = run(&cfg(&["memory"]), &node(json!({})), &[], &i, &mut Dict::new()).unwrap_err();
    assert_eq!(
        e,
        unexpected_error(
            "InvalidNodeInventory",
            &format!("Inventory for node {UUID} is invalid: Inventory has missing memory information: None for node {UUID}.")
        )
    );
    let o = run(&cfg(&["memory", "architecture"]), &node(json!({"memory_mb": 1})), &[], &inv(None), &mut Dict::new()).unwrap();
    assert_eq!(o.properties["memory_mb"], 8192);
    assert_eq!(o.properties["cpu_arch"], "x86_64");
    let mut i = inv(None);
    i["memory"]["physical_mb"] = json!("lots");
    let o = run(&cfg(&["memory"]), &node(json!({})), &[], &i, &mut Dict::new()).unwrap();
    assert_eq!(o.properties["memory_mb"], "lots", "Ironic copies the value as it is");
    assert_eq!(o.warnings.len(), 1);
}

#[test]
fn cpus_as_python_int() {
    let count = |c: Value| {
        let mut i = inv(None);
        i["cpu"]["count"] = c;
        run(&cfg(&["cpus"]), &node(json!({"cpus": 1})), &[], &i, &mut Dict::new())
    };
    assert_eq!(count(json!(32)).unwrap().properties["cpus"], 32);
    assert_eq!(count(json!(" 16 ")).unwrap().properties["cpus"], 16);
    assert_eq!(count(json!(7.9)).unwrap().properties["cpus"], 7);
    let zero = count(json!(0)).unwrap();
    assert_eq!(zero.properties["cpus"], 1, "a zero count leaves the property alone");
    assert_eq!(zero.warnings, ["No CPU count available"]);
    assert_eq!(count(json!("many")).unwrap_err(), unexpected_error("ValueError", "invalid literal for int() with base 10: 'many'"));
    assert!(count(json!(null)).unwrap_err().contains("Unexpected exception TypeError"));
    assert!(count(json!(1e300)).unwrap_err().contains("Unexpected exception OverflowError"));
    assert!(count(json!([1])).unwrap_err().contains("TypeError"));
    let o = run(&cfg(&["cpus"]), &node(json!({})), &[], &json!({}), &mut Dict::new()).unwrap();
    assert!(!o.properties.contains_key("cpus"), "no cpu section: a warning");
    assert!(run(&cfg(&["cpus"]), &node(json!({})), &[], &json!({"cpu": null}), &mut Dict::new()).unwrap_err().contains("AttributeError"));
}

// ---------------------------------------------------------------- capabilities

#[test]
fn boot_mode_and_cpu_capabilities_merge_into_capabilities() {
    let c = cfg(&["boot-mode", "cpu-capabilities"]);
    let n = node(json!({"capabilities": "boot_mode:bios,profile:compute"}));
    let o = run(&c, &n, &[], &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
    assert_eq!(o.properties["capabilities"], "boot_mode:uefi,profile:compute,cpu_vt:true,cpu_aes:true");
    // Custom mapping, in its order.
    let c = HookConfig {
        hooks: vec!["cpu-capabilities".into()],
        cpu_capabilities: parse_cpu_capabilities("sse2:has_sse2,fpu:has_fpu").unwrap(),
        ..Default::default()
    };
    let o = run(&c, &node(json!({})), &[], &inv(None), &mut Dict::new()).unwrap();
    assert_eq!(o.properties["capabilities"], "has_sse2:true,has_fpu:true");
    // Flags but none mapped: Ironic still writes the (empty) capabilities.
    let mut i = inv(None);
    i["cpu"]["flags"] = json!(["fpu"]);
    let o = run(&cfg(&["cpu-capabilities"]), &node(json!({})), &[], &i, &mut Dict::new()).unwrap();
    assert_eq!(o.properties["capabilities"], "");
    // A string of flags is a set of characters in Python: nothing matches.
    i["cpu"]["flags"] = json!("vmx aes");
    let o = run(&cfg(&["cpu-capabilities"]), &node(json!({"capabilities": "a:b"})), &[], &i, &mut Dict::new()).unwrap();
    assert_eq!(o.properties["capabilities"], "a:b");
    // No flags, no boot mode: warnings, capabilities untouched.
    let bare = json!({"cpu": {}, "boot": {}});
    let o = run(&c_bm(), &node(json!({"capabilities": "x:y"})), &[], &bare, &mut Dict::new()).unwrap();
    assert_eq!(o.properties["capabilities"], "x:y");
    assert_eq!(o.warnings.len(), 2);
    // A malformed existing string is a ValueError in Ironic.
    let e = run(&cfg(&["boot-mode"]), &node(json!({"capabilities": "boot_mode:bios,broken"})), &[], &inv(Some("52:54:00:aa:00:01")), &mut Dict::new())
        .unwrap_err();
    assert_eq!(e, unexpected_error("ValueError", "Invalid capabilities string 'boot_mode:bios,broken'."));
    let e = run(&cfg(&["boot-mode"]), &node(json!({"capabilities": {"a": "b"}})), &[], &inv(Some("52:54:00:aa:00:01")), &mut Dict::new())
        .unwrap_err();
    assert!(e.contains("AttributeError"), "{e}");
    i["cpu"]["flags"] = json!([{"x": 1}]);
    assert!(run(&cfg(&["cpu-capabilities"]), &node(json!({})), &[], &i, &mut Dict::new()).unwrap_err().contains("unhashable"));
}

fn c_bm() -> HookConfig {
    cfg(&["boot-mode", "cpu-capabilities"])
}

#[test]
fn pci_devices_count_aliases() {
    let c = HookConfig {
        hooks: vec!["pci-devices".into()],
        pci_device_alias: vec![
            PciAlias::parse(r#"{"vendor_id": "10de", "product_id": "1eb8", "name": "t4"}"#).unwrap(),
            PciAlias::parse(r#"{"vendor_id": "8086", "product_id": "154d", "name": "x520"}"#).unwrap(),
        ],
        ..Default::default()
    };
    let mut p = pd(json!({"pci_devices": [
        {"vendor_id": "8086", "product_id": "154d", "class": "020000", "revision": "01", "bus": "0000:05:00.0"},
        {"vendor_id": "10de", "product_id": "1eb8", "bus": "0000:3b:00.0"},
        {"vendor_id": "8086", "product_id": "154d", "bus": "0000:05:00.1"},
        {"vendor_id": "1234", "product_id": "0001", "bus": "0000:00:01.0"}
    ]}));
    let o = run(&c, &node(json!({"capabilities": "boot_mode:uefi"})), &[], &inv(None), &mut p).unwrap();
    assert_eq!(o.properties["capabilities"], "boot_mode:uefi,x520:2,t4:1");
    // Nothing matches: capabilities untouched.
    let mut p = pd(json!({"pci_devices": [{"vendor_id": "1", "product_id": "2"}]}));
    let o = run(&c, &node(json!({})), &[], &inv(None), &mut p).unwrap();
    assert!(!o.properties.contains_key("capabilities"));
    // No data with aliases configured: a warning.
    let o = run(&c, &node(json!({})), &[], &inv(None), &mut Dict::new()).unwrap();
    assert_eq!(o.warnings.len(), 1);
    let mut p = pd(json!({"pci_devices": [{"vendor_id": "1"}]}));
    assert_eq!(run(&c, &node(json!({})), &[], &inv(None), &mut p).unwrap_err(), unexpected_error("KeyError", "'product_id'"));
    let mut p = pd(json!({"pci_devices": null}));
    assert!(run(&c, &node(json!({})), &[], &inv(None), &mut p).unwrap_err().contains("TypeError"));
}

#[test]
fn accelerators_from_the_known_list() {
    let c = cfg(&["accelerators"]);
    let mut p = pd(json!({"pci_devices": [
        {"vendor_id": "10de", "product_id": "1eb8", "bus": "0000:3b:00.0"},
        {"vendor_id": "8086", "product_id": "154d", "bus": "0000:05:00.0"},
        {"vendor_id": "10de", "product_id": "26b9", "bus": "0000:af:00.0"}
    ]}));
    let o = run(&c, &node(json!({})), &[], &inv(None), &mut p).unwrap();
    assert_eq!(
        o.properties["accelerators"],
        json!([
            {"vendor_id": "10de", "device_id": "1eb8", "type": "GPU", "device_info": "NVIDIA Corporation Tesla T4", "pci_address": "0000:3b:00.0"},
            {"vendor_id": "10de", "device_id": "26b9", "type": "GPU", "device_info": "NVIDIA Corporation L40S", "pci_address": "0000:af:00.0"}
        ])
    );
    // Redfish puts them in the inventory; no known device: an empty list is set.
    let mut i = inv(None);
    i["pci_devices"] = json!([{"vendor_id": "8086", "product_id": "154d", "bus": "x"}]);
    let o = run(&c, &node(json!({"accelerators": [1]})), &[], &i, &mut Dict::new()).unwrap();
    assert_eq!(o.properties["accelerators"], json!([]));
    let o = run(&c, &node(json!({})), &[], &inv(None), &mut Dict::new()).unwrap();
    assert!(!o.properties.contains_key("accelerators") && o.warnings.len() == 1);
    let mut p = pd(json!({"pci_devices": [{"vendor_id": "10de", "product_id": "1eb8"}]}));
    assert_eq!(run(&c, &node(json!({})), &[], &inv(None), &mut p).unwrap_err(), unexpected_error("KeyError", "'bus'"));
    // A custom list.
    let c = HookConfig {
        hooks: vec!["accelerators".into()],
        known_accelerators: known_accelerators_from(&json!({"pci_devices": [{"vendor_id": "8086", "device_id": "154d", "type": "NIC"}]})).unwrap(),
        ..Default::default()
    };
    let o = run(&c, &node(json!({})), &[], &i, &mut Dict::new()).unwrap();
    assert_eq!(o.properties["accelerators"], json!([{"vendor_id": "8086", "device_id": "154d", "type": "NIC", "pci_address": "x"}]));
}

// ---------------------------------------------------------------- root device, local_gb, raid

fn disks_inventory() -> Value {
    let mut i = inv(None);
    i["disks"] = json!([
        {"name": "/dev/sda", "size": 480103981056u64, "model": "PERC H755 Front", "serial": "AAA", "rotational": false, "hctl": "0:3:111:0"},
        {"name": "/dev/sdb", "size": 4000787030016u64, "model": "ST4000NM", "serial": "BBB", "rotational": true, "hctl": "0:3:112:0"},
        {"name": "/dev/nvme0n1", "size": 960197124096u64, "model": "Dell Ent NVMe", "serial": "CCC", "rotational": false}
    ]);
    i
}

#[test]
fn root_device_hints_choose_the_root_disk_and_local_gb() {
    let c = cfg(&["root-device"]);
    let cases = [
        (json!({"serial": "bbb"}), "/dev/sdb", 3725),
        (json!({"size": ">= 500", "rotational": false}), "/dev/nvme0n1", 893),
        (json!({"model": "<in> perc"}), "/dev/sda", 446),
        (json!({"hctl": "0:3:112:0"}), "/dev/sdb", 3725),
        (json!({"name": "s!= /dev/sda"}), "/dev/sdb", 3725),
        (json!({"size": "<range-in> [ 800 1000 ]"}), "/dev/nvme0n1", 893),
    ];
    for (hints, disk, gb) in cases {
        let mut p = Dict::new();
        let o = run(&c, &node(json!({"root_device": hints})), &[], &disks_inventory(), &mut p).unwrap();
        assert_eq!(p["root_disk"]["name"], disk, "{hints}");
        assert_eq!(o.properties["local_gb"], gb, "{hints}");
        assert_eq!(p["local_gb"], gb);
    }
    // skip_block_devices removes disks before matching.
    let n = node(json!({"root_device": {"rotational": false}, "skip_block_devices": [{"name": "/dev/sda"}]}));
    let mut p = Dict::new();
    let o = run(&c, &n, &[], &disks_inventory(), &mut p).unwrap();
    assert_eq!(p["root_disk"]["name"], "/dev/nvme0n1");
    assert!(o.warnings.iter().any(|w| w.contains("skipping devices: /dev/sda")), "{:?}", o.warnings);
    // No hints: the ramdisk's root_disk; no spacing option: the whole GiB count.
    let mut p = pd(json!({"root_disk": {"name": "/dev/sda", "size": 53687091200u64}}));
    let o = run(&c, &node(json!({})), &[], &disks_inventory(), &mut p).unwrap();
    assert_eq!(o.properties["local_gb"], 49);
    let nospace = HookConfig { disk_partitioning_spacing: false, ..c.clone() };
    let o = run(&nospace, &node(json!({})), &[], &disks_inventory(), &mut p).unwrap();
    assert_eq!(o.properties["local_gb"], 50);
    // No root disk: diskless; smaller than 1 GiB: 0 and a warning.
    let o = run(&c, &node(json!({"local_gb": 10})), &[], &disks_inventory(), &mut Dict::new()).unwrap();
    assert_eq!(o.properties["local_gb"], 0);
    let mut p = pd(json!({"root_disk": {"name": "/dev/sda", "size": 1000}}));
    let o = run(&c, &node(json!({})), &[], &disks_inventory(), &mut p).unwrap();
    assert_eq!(o.properties["local_gb"], 0);
    assert!(o.warnings[0].contains("too small"));
    let mut p = pd(json!({"root_disk": {"name": "/dev/sda", "size": u64::MAX}}));
    let o = run(&c, &node(json!({})), &[], &disks_inventory(), &mut p).unwrap();
    assert_eq!(o.properties["local_gb"], u64::MAX / (1 << 30) - 1);
}

#[test]
fn root_device_errors_are_ironics() {
    let c = cfg(&["root-device"]);
    let e = run(&c, &node(json!({"root_device": {"serial": "zzz"}})), &[], &disks_inventory(), &mut Dict::new()).unwrap_err();
    assert_eq!(e, post_error(&format!("No disks satisfied root device hints for node {UUID}")));
    let e = run(&c, &node(json!({"root_device": {"size": "big"}})), &[], &disks_inventory(), &mut Dict::new()).unwrap_err();
    assert_eq!(
        e,
        post_error(&format!(
            "No disks could be found using root device hints {{'size': 'big'}} for node {UUID} because they failed to validate. \
             Error: Root device hint \"size\" is not an integer value. Current value: big"
        ))
    );
    let e = run(&c, &node(json!({"root_device": {"colour": "red"}})), &[], &disks_inventory(), &mut Dict::new()).unwrap_err();
    assert!(e.contains("because they failed to validate. Error: The hints \"colour\" are invalid."), "{e}");
    let e = run(&c, &node(json!({"root_device": {"size": "<in> 10"}})), &[], &disks_inventory(), &mut Dict::new()).unwrap_err();
    assert!(e.contains("argument of type 'float' is not iterable"), "{e}");
    let e = run(&c, &node(json!({"root_device": {"model": "=="}})), &[], &disks_inventory(), &mut Dict::new()).unwrap_err();
    assert!(e.contains("Unexpected exception ParseException"), "{e}");
    let e = run(&c, &node(json!({"root_device": {"size": 10}})), &[], &json!({"interfaces": []}), &mut Dict::new()).unwrap_err();
    assert_eq!(e, unexpected_error("KeyError", "'disks'"));
    let e = run(&c, &node(json!({})), &[], &disks_inventory(), &mut pd(json!({"root_disk": {"size": "1T"}}))).unwrap_err();
    assert!(e.contains("unsupported operand type(s) for //: 'str' and 'int'"), "{e}");
    let e = run(&c, &node(json!({})), &[], &disks_inventory(), &mut pd(json!({"root_disk": {"name": "x"}}))).unwrap_err();
    assert_eq!(e, unexpected_error("KeyError", "'size'"));
    let n = node(json!({"root_device": {"size": 1}, "skip_block_devices": [{"size": "x"}]}));
    assert!(run(&c, &n, &[], &disks_inventory(), &mut Dict::new()).unwrap_err().contains("Unexpected exception ValueError"));
}

#[test]
fn raid_device_learns_the_new_disk() {
    let c = cfg(&["raid-device", "root-device"]);
    let before = json!({"disks": [{"name": "/dev/sda", "serial": "AAA"}, {"name": "/dev/sdb", "serial": "BBB"}]});
    let mut now = disks_inventory();
    now["disks"] = json!([
        {"name": "/dev/sda", "serial": "AAA", "size": 1u64 << 40},
        {"name": "/dev/sdb", "serial": "BBB", "size": 1u64 << 40},
        {"name": "/dev/sdc", "serial": "RAID1", "size": 2u64 << 40}
    ]);
    let mut p = Dict::new();
    let o = process(&c, &node(json!({})), &[], Some(&before), &now, &mut p).unwrap();
    assert_eq!(o.properties["root_device"], json!({"serial": "RAID1"}));
    assert_eq!(p["root_disk"]["name"], "/dev/sdc", "root-device after raid-device uses the new hint");
    assert_eq!(o.properties["local_gb"], 2047);
    // First inspection (nothing stored): nothing learnt.
    let o = process(&c, &node(json!({})), &[], None, &now, &mut Dict::new()).unwrap();
    assert!(!o.properties.contains_key("root_device"));
    // Known root device: left alone.
    let o = process(&c, &node(json!({"root_device": {"serial": "AAA"}})), &[], Some(&before), &now, &mut Dict::new()).unwrap();
    assert_eq!(o.properties["root_device"], json!({"serial": "AAA"}));
    // Two new disks: a warning.
    let o = process(&cfg(&["raid-device"]), &node(json!({})), &[], Some(&json!({"disks": []})), &now, &mut Dict::new()).unwrap();
    assert!(!o.properties.contains_key("root_device"));
    assert!(o.warnings[0].contains("multiple new devices"));
    let o = process(&cfg(&["raid-device"]), &node(json!({})), &[], Some(&now), &now, &mut Dict::new()).unwrap();
    assert_eq!(o.warnings, ["No new devices were found"]);
    let o = process(&cfg(&["raid-device"]), &node(json!({})), &[], Some(&now), &json!({"disks": [{"name": "a"}]}), &mut Dict::new()).unwrap();
    assert!(o.warnings[0].contains("No block device information"));
}

// ---------------------------------------------------------------- LLDP and ports

const CHASSIS: &str = "0464649b32f300"; // MAC 64:64:9b:32:f3:00
const PORT_GE: &str = "0567652d302f302f3235"; // ifName ge-0/0/25

/// `inv()` without its nameless interface, which parse-lldp, local-link-connection and
/// physical-network cannot take (`interface['name']` raises in Ironic).
fn named_inventory(pxe: Option<&str>) -> Value {
    let mut i = inv(pxe);
    i["interfaces"].as_array_mut().unwrap().pop();
    i
}

fn lldp_inventory() -> Value {
    let mut i = named_inventory(Some("52:54:00:aa:00:01"));
    i["interfaces"][0]["lldp"] = json!([[1, CHASSIS], [2, PORT_GE], [5, "73772d31"], [127, "00120f0405ea"]]);
    i["interfaces"][1]["lldp"] = json!([[1, CHASSIS], [2, "0567652d302f302f3236"], [5, "73772d31"]]);
    i
}

#[test]
fn parse_lldp_and_local_link_connection() {
    let c = cfg(&["validate-interfaces", "ports", "parse-lldp", "local-link-connection"]);
    let mut p = Dict::new();
    let o = run(&c, &node(json!({})), &[], &lldp_inventory(), &mut p).unwrap();
    assert_eq!(
        p["parsed_lldp"],
        json!({
            "eth0": {"switch_chassis_id": "64:64:9b:32:f3:00", "switch_port_id": "ge-0/0/25", "switch_system_name": "sw-1", "switch_port_mtu": 1514},
            "eth1": {"switch_chassis_id": "64:64:9b:32:f3:00", "switch_port_id": "ge-0/0/26", "switch_system_name": "sw-1"}
        })
    );
    let f = created(&o, "52:54:00:aa:00:01");
    assert_eq!(
        Value::Object(f.local_link_connection),
        json!({"switch_id": "64:64:9b:32:f3:00", "port_id": "ge-0/0/25", "switch_info": "sw-1"})
    );
    // An existing port of the node: keys it has are kept, the others added.
    let mut eth1 = port("p1", "52:54:00:aa:00:02", false);
    eth1.local_link_connection.insert("port_id".into(), json!("Gi1/0/2"));
    let o = run(&c, &node(json!({})), &[eth1], &lldp_inventory(), &mut Dict::new()).unwrap();
    let PortChange::Update { uuid, fields } = o.port_changes.iter().find(|c| matches!(c, PortChange::Update { .. })).unwrap() else {
        unreachable!()
    };
    assert_eq!(uuid, "p1");
    assert_eq!(
        Value::Object(fields.local_link_connection.clone()),
        json!({"port_id": "Gi1/0/2", "switch_id": "64:64:9b:32:f3:00", "switch_info": "sw-1"})
    );
    // lldp_raw in plugin_data wins over the inventory.
    let mut p = pd(json!({"lldp_raw": {"eth0": [[5, "6f74686572"]]}}));
    let o = run(&c, &node(json!({})), &[], &lldp_inventory(), &mut p).unwrap();
    assert_eq!(p["parsed_lldp"]["eth0"], json!({"switch_system_name": "other"}));
    assert_eq!(Value::Object(created(&o, "52:54:00:aa:00:01").local_link_connection), json!({"switch_info": "other"}));
    // Existing parsed_lldp is updated, not replaced.
    let mut p = pd(json!({"parsed_lldp": {"ethX": {"a": 1}}}));
    run(&cfg(&["parse-lldp"]), &node(json!({})), &[], &lldp_inventory(), &mut p).unwrap();
    assert_eq!(p["parsed_lldp"].as_object().unwrap().len(), 3);
    // A value that is not hexadecimal: parse-lldp fails (Ironic raises binascii.Error)...
    let mut bad = lldp_inventory();
    bad["interfaces"][0]["lldp"] = json!([[1, CHASSIS], [5, "not hex"]]);
    let e = run(&cfg(&["parse-lldp"]), &node(json!({})), &[], &bad, &mut Dict::new()).unwrap_err();
    assert_eq!(e, unexpected_error("Error", "Odd-length string"));
    // ...while local-link-connection leaves that port alone.
    let o = run(&cfg(&["validate-interfaces", "ports", "local-link-connection"]), &node(json!({})), &[], &bad, &mut Dict::new()).unwrap();
    assert!(created(&o, "52:54:00:aa:00:01").local_link_connection.is_empty());
    assert!(o.warnings.iter().any(|w| w.contains("not in correct format")));
}

#[test]
fn parse_lldp_limits_and_hostile_shapes() {
    let c = cfg(&["parse-lldp"]);
    let ifaces: Vec<Value> = (0..100).map(|i| json!({"name": format!("eth{i}"), "lldp": [[5, "61"]]})).collect();
    let mut p = Dict::new();
    let o = run(&c, &node(json!({})), &[], &json!({"interfaces": ifaces}), &mut p).unwrap();
    assert_eq!(p["parsed_lldp"].as_object().unwrap().len(), 64, "Ironic's _MAX_INTERFACES");
    assert!(o.warnings[0].contains("Interface count (100) exceeds maximum supported amount (64)"));
    let e = run(&c, &node(json!({})), &[], &json!({"interfaces": [{"lldp": []}]}), &mut Dict::new()).unwrap_err();
    assert_eq!(e, unexpected_error("KeyError", "'name'"));
    let e = run(&c, &node(json!({})), &[], &lldp_inventory(), &mut pd(json!({"lldp_raw": [1]}))).unwrap_err();
    assert!(e.contains("AttributeError"), "{e}");
    let e = run(&c, &node(json!({})), &[], &json!({}), &mut Dict::new()).unwrap_err();
    assert_eq!(e, unexpected_error("KeyError", "'interfaces'"));
    let o = run(&c, &node(json!({})), &[], &json!({"interfaces": [{"name": "x"}]}), &mut Dict::new()).unwrap();
    assert!(o.warnings[0].contains("No LLDP Data found for interface x"));
}

#[test]
fn physical_network_from_the_cidr_map() {
    let c = HookConfig {
        hooks: vec!["validate-interfaces".into(), "ports".into(), "physical-network".into()],
        add_ports: AddPorts::All,
        physical_network_cidr_map: vec![
            parse_cidr_map_entry("192.0.2.0/24:provisioning").unwrap(),
            parse_cidr_map_entry("192.0.0.0/16:wide").unwrap(),
            parse_cidr_map_entry("2001:db8::/64:v6net").unwrap(),
            parse_cidr_map_entry("192.0.2.0/24:later-wins").unwrap(),
        ],
        ..Default::default()
    };
    let e = run(&c, &node(json!({})), &[], &inv(None), &mut Dict::new()).unwrap_err();
    assert_eq!(e, unexpected_error("KeyError", "'name'"), "a nameless interface, as in Ironic");
    let mut i = named_inventory(None);
    i["interfaces"][1]["ipv6_address"] = json!("2001:db8::5%eth1");
    let mut existing = port("p2", "52:54:00:aa:00:02", false);
    existing.physical_network = Some("old".into());
    let o = run(&c, &node(json!({})), &[existing], &i, &mut Dict::new()).unwrap();
    assert_eq!(created(&o, "52:54:00:aa:00:01").physical_network.as_deref(), Some("later-wins"));
    let PortChange::Update { fields, .. } = o.port_changes.iter().find(|c| matches!(c, PortChange::Update { .. })).unwrap() else {
        unreachable!()
    };
    assert_eq!(fields.physical_network.as_deref(), Some("v6net"));
    // Not in any network: unchanged.
    i["interfaces"][0]["ipv4_address"] = json!("203.0.113.1");
    let o = run(&c, &node(json!({})), &[], &i, &mut Dict::new()).unwrap();
    assert_eq!(created(&o, "52:54:00:aa:00:01").physical_network, None);
}

#[test]
fn extra_hardware_in_the_pipeline() {
    let mut p = pd(json!({"data": [["cpu", "logical", "number", "8"]]}));
    run(&cfg(&["extra-hardware"]), &node(json!({})), &[], &inv(None), &mut p).unwrap();
    assert_eq!(p["extra"], json!({"cpu": {"logical": {"number": 8}}}));
    assert!(!p.contains_key("data"));
}

/// Wrong types everywhere: every hook answers with an error or a warning, never a panic.
#[test]
fn hostile_reports_never_panic() {
    let inventories = [
        json!(null),
        json!([]),
        json!("inventory"),
        json!({}),
        json!({"interfaces": "eth0"}),
        json!({"interfaces": [null, 1, "x", [], {"name": ["x"], "mac_address": 5}]}),
        json!({"interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:00:01", "ipv6_address": 7, "lldp": "zz"}]}),
        json!({"interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:00:01", "lldp": [[1, "09"], [2, ""]]}],
               "cpu": [], "memory": "x", "boot": 5, "disks": {"a": 1}, "pci_devices": "x"}),
        json!({"interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:00:01", "ipv4_address": {"a": 1}}],
               "cpu": {"architecture": null, "count": u64::MAX, "flags": 5}, "memory": {"physical_mb": -1},
               "boot": {"current_boot_mode": ["x"], "pxe_interface": 5}, "disks": [1, null, {"name": 5}]}),
        json!({"interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:00:01", "lldp": [[1e300, "00"], [-1, "00"], [null, "00"]]}],
               "cpu": {"architecture": "x86_64", "count": "1e3"}, "memory": {"physical_mb": 1e300},
               "disks": [{"name": "/dev/sda", "size": -5, "serial": ["x"]}]}),
    ];
    let plugins = [
        json!({}),
        json!({"error": {"code": 1}}),
        json!({"lldp_raw": [1], "pci_devices": "x", "data": 5, "root_disk": {"size": "big"}, "parsed_lldp": 5}),
        json!({"lldp_raw": {"eth0": 5}, "pci_devices": [1, null], "data": [[1, 2, 3, 4, 5], ["a"]], "root_disk": [1]}),
        json!({"all_interfaces": 5, "valid_interfaces": null, "macs": {}, "local_gb": "x", "root_disk": {"size": 1e300}}),
    ];
    let nodes = [
        node(json!({})),
        node(json!({"root_device": {"size": "<range-in> (", "model": 5}, "capabilities": 7, "skip_block_devices": "x"})),
        node(json!({"root_device": "sda", "capabilities": "a", "skip_block_devices": [{}]})),
        node(json!({"root_device": {"rotational": "true", "name": "<or> /dev/sda <or>  "}, "skip_block_devices": [{"serial": "x"}]})),
    ];
    let mut c = all();
    c.add_ports = AddPorts::All;
    c.physical_network_cidr_map = vec![parse_cidr_map_entry("0.0.0.0/0:any").unwrap()];
    c.pci_device_alias = vec![PciAlias::parse(r#"{"vendor_id": "1", "product_id": "2", "name": "n"}"#).unwrap()];
    let mut outcomes = (0, 0);
    for i in &inventories {
        for p in &plugins {
            for n in &nodes {
                let mut p = pd(p.clone());
                match process(&c, n, &[port("p", "52:54:00:aa:00:01", true)], Some(i), i, &mut p) {
                    Ok(_) => outcomes.0 += 1,
                    Err(e) => {
                        assert!(e.starts_with("Failed to inspect hardware. Reason: failed to run inspection hooks: "), "{e}");
                        outcomes.1 += 1;
                    }
                }
            }
        }
    }
    assert_eq!(outcomes.0 + outcomes.1, inventories.len() * plugins.len() * nodes.len());
    assert!(outcomes.1 > 0);
}

// ---------------------------------------------------------------- real inventories

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The old ironic-inspector "processed data" format: the inventory inside, the plugin data
/// (what the ramdisk sent plus inspector's results) around it.
fn split_processed(doc: &Value) -> (Value, Dict) {
    let mut p: Dict = doc.as_object().unwrap().clone();
    let inventory = p.remove("inventory").unwrap();
    (inventory, p)
}

fn full_config(cidr_map: &[&str]) -> HookConfig {
    HookConfig {
        physical_network_cidr_map: cidr_map.iter().map(|e| parse_cidr_map_entry(e).unwrap()).collect(),
        ..all()
    }
}

fn obj(v: Value) -> Dict {
    serde_json::from_value(v).unwrap()
}

/// metal3-docs: a Dell PowerEdge R320 (PERC H710, 4 NICs with Juniper LLDP, BIOS).
/// Expected values read from the fixture with jq; the LLDP expectations are the
/// `lldp_processed` the real ironic-inspector stored in the same document.
#[test]
fn fixture_dell_r320_perc_h710_lldp() {
    let doc = fixture("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json");
    let (inventory, mut p) = split_processed(&doc);
    let expected_root = doc["root_disk"].clone();
    // em2 is already a port (PXE on, an operator-set port_id); em1 is new.
    let mut em2 = port("em2-port", "b0:83:fe:c6:63:87", true);
    em2.local_link_connection.insert("port_id".into(), json!("set-by-operator"));
    let c = full_config(&["10.8.146.0/24:provisioning"]);
    let o = process(&c, &node(json!({})), &[em2], None, &inventory, &mut p).unwrap();
    assert_eq!(
        Value::Object(o.properties.clone()),
        json!({
            "cpu_arch": "x86_64", "cpus": 16, "memory_mb": 81920, "local_gb": 557,
            "capabilities": "boot_mode:bios,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true,cpu_txt:true"
        })
    );
    assert_eq!(
        o.port_changes,
        vec![
            PortChange::Update {
                uuid: "em2-port".into(),
                fields: PortFields {
                    pxe_enabled: false,
                    extra: Dict::new(),
                    local_link_connection: obj(json!({"port_id": "set-by-operator", "switch_id": "64:64:9b:32:f3:00", "switch_info": "sw01-dist-1b-b12.rdu2"})),
                    physical_network: None,
                },
            },
            PortChange::Create {
                address: "b0:83:fe:c6:63:86".into(),
                fields: PortFields {
                    pxe_enabled: true,
                    extra: Dict::new(),
                    local_link_connection: obj(json!({"switch_id": "64:64:9b:32:f3:00", "port_id": "ge-0/0/25", "switch_info": "sw01-dist-1b-b12.rdu2"})),
                    physical_network: Some("provisioning".into()),
                },
            },
        ]
    );
    assert_eq!(p["root_disk"], expected_root);
    assert_eq!(p["local_gb"], 557);
    assert_eq!(p["macs"], json!(["b0:83:fe:c6:63:86"]));
    let valid: Vec<&String> = p["valid_interfaces"].as_object().unwrap().keys().collect();
    assert_eq!(valid, ["em1"]);
    let all_ifaces: Vec<&String> = p["all_interfaces"].as_object().unwrap().keys().collect();
    assert_eq!(all_ifaces, ["em1", "em2", "p2p1", "p2p2"]);
    for name in ["em1", "em2", "p2p1", "p2p2"] {
        assert_eq!(p["parsed_lldp"][name], doc["all_interfaces"][name]["lldp_processed"], "LLDP of {name} as ironic-inspector parsed it");
    }
    assert_eq!(p["parsed_lldp"]["em1"]["switch_port_untagged_vlan_id"], 102);
    assert_eq!(p["parsed_lldp"]["p2p1"]["switch_port_link_aggregation_id"], 662);
    let mut keys: Vec<&String> = p.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["all_interfaces", "boot_interface", "cpu_arch", "cpus", "error", "extra", "interfaces", "ipmi_address", "local_gb", "macs",
         "memory_mb", "numa_topology", "parsed_lldp", "root_disk", "valid_interfaces"]
    );
    // The same machine with root device hints that pick its only disk.
    let (inventory, mut p) = split_processed(&doc);
    p.remove("root_disk");
    let n = node(json!({"root_device": {"model": "perc h710", "size": ">= 500", "wwn": "0x6b083fe0d2d0eb00"}}));
    let o = process(&c, &n, &[], None, &inventory, &mut p).unwrap();
    assert_eq!(p["root_disk"], expected_root);
    assert_eq!(o.properties["local_gb"], 557);
}

/// metal3-docs: a KVM VM (virtio disk and NICs, empty LLDP lists).
#[test]
fn fixture_metal3_kvm_vm() {
    let doc = fixture("metal3-inspector-data-kvm-vm.json");
    let (inventory, mut p) = split_processed(&doc);
    let c = full_config(&["172.22.0.0/24:provisioning", "192.168.111.0/24:baremetal"]);
    let o = process(&c, &node(json!({})), &[], None, &inventory, &mut p).unwrap();
    assert_eq!(
        Value::Object(o.properties.clone()),
        json!({
            "cpu_arch": "x86_64", "cpus": 2, "memory_mb": 6144, "local_gb": 49,
            "capabilities": "boot_mode:bios,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true"
        })
    );
    assert_eq!(
        o.port_changes,
        vec![PortChange::Create {
            address: "00:ca:ff:65:6e:68".into(),
            fields: PortFields { pxe_enabled: true, physical_network: Some("provisioning".into()), ..Default::default() },
        }]
    );
    assert_eq!(p["root_disk"]["name"], "/dev/vda");
    assert_eq!(p["all_interfaces"]["eth1"]["ipv6_address"], "fe80::2ca:ffff:fe65:6e6a", "scope removed");
    assert!(!p.contains_key("parsed_lldp"), "empty LLDP lists parse to nothing");
    // With add_ports=all both NICs get a port and their own physical network.
    let (inventory, mut p) = split_processed(&doc);
    let c = HookConfig { add_ports: AddPorts::All, ..c };
    let o = process(&c, &node(json!({})), &[], None, &inventory, &mut p).unwrap();
    assert_eq!(created(&o, "00:ca:ff:65:6e:6a").physical_network.as_deref(), Some("baremetal"));
    assert!(!created(&o, "00:ca:ff:65:6e:6a").pxe_enabled);
}

/// terraform-provider-ironic: a KVM VM with a QEMU SCSI disk and extra-hardware data.
#[test]
fn fixture_terraform_kvm_extra_hardware() {
    let doc = fixture("terraform-ironic-kvm-introspection-data-extra-hardware.json");
    let (inventory, mut p) = split_processed(&doc);
    let extra = p["extra"].clone();
    let c = full_config(&["172.22.0.0/24:provisioning"]);
    let n = node(json!({"root_device": {"hctl": "2:0:0:0", "serial": "drive-scsi0-0-0-0", "rotational": true}}));
    let o = process(&c, &n, &[], None, &inventory, &mut p).unwrap();
    assert_eq!(
        Value::Object(o.properties.clone()),
        json!({
            "cpu_arch": "x86_64", "cpus": 4, "memory_mb": 16384, "local_gb": 49,
            "root_device": {"hctl": "2:0:0:0", "serial": "drive-scsi0-0-0-0", "rotational": true},
            "capabilities": "boot_mode:bios,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true"
        })
    );
    assert_eq!(p["root_disk"]["model"], "QEMU HARDDISK");
    assert_eq!(
        o.port_changes,
        vec![PortChange::Create {
            address: "00:61:f4:72:48:d7".into(),
            fields: PortFields { pxe_enabled: true, physical_network: Some("provisioning".into()), ..Default::default() },
        }]
    );
    assert_eq!(p["extra"], extra, "already converted: no 'data', extra kept");
    assert!(o.warnings.iter().any(|w| w.contains("No extra hardware information")));
}

/// understack: a Dell PowerEdge R7615 (new-style inventory + plugin_data, UEFI, 6 NICs, 3
/// with LLDP from Cisco Nexus switches). The node starts with the properties of the
/// understack real node record (vendor) to show they are kept. TLVs decoded by hand with xxd.
#[test]
fn fixture_dell_r7615_uefi_lldp() {
    let doc = fixture("understack-dell-r7615-node-inventory-lldp.json");
    let node_show = fixture("understack-real-node-show-active-redfish-dell.json");
    let inventory = doc["inventory"].clone();
    let mut p: Dict = doc["plugin_data"].as_object().unwrap().clone();
    let c = full_config(&["10.4.50.0/24:physnet-prov"]);
    let n = node(node_show["properties"].clone());
    let o = process(&c, &n, &[], None, &inventory, &mut p).unwrap();
    assert_eq!(
        Value::Object(o.properties.clone()),
        json!({
            "vendor": "Dell Inc.", "cpu_arch": "x86_64", "cpus": 32, "memory_mb": 98304, "local_gb": 445,
            "capabilities": "boot_mode:uefi,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true"
        })
    );
    assert_eq!(
        o.port_changes,
        vec![PortChange::Create {
            address: "d4:04:e6:4f:71:28".into(),
            fields: PortFields {
                pxe_enabled: true,
                extra: Dict::new(),
                local_link_connection: obj(json!({"switch_id": "c4:7e:e0:e4:55:3f", "port_id": "Ethernet1/4", "switch_info": "f20-3-1.iad3"})),
                physical_network: Some("physnet-prov".into()),
            },
        }]
    );
    assert_eq!(
        p["parsed_lldp"],
        json!({
            "eno3np0": {
                "switch_chassis_id": "c4:7e:e0:e4:55:3f", "switch_port_id": "Ethernet1/4",
                "switch_port_description": "Dell-F3GSW04_NIC.Integrated.1-1", "switch_system_name": "f20-3-1.iad3",
                "switch_port_mtu": 9000, "switch_port_vlans": [{"name": "4010_provisioning", "id": 4010}],
                "switch_port_link_aggregation_enabled": false, "switch_port_link_aggregation_support": true,
                "switch_port_link_aggregation_id": 0
            },
            "eno4np1": {
                "switch_chassis_id": "40:14:82:81:3e:e3", "switch_port_id": "Ethernet1/4", "switch_port_description": "Ethernet1/4",
                "switch_system_name": "f20-3-1f.iad3", "switch_port_mtu": 1500, "switch_port_link_aggregation_enabled": false,
                "switch_port_link_aggregation_support": true, "switch_port_link_aggregation_id": 0
            },
            "ens2f1np1": {
                "switch_chassis_id": "c4:7e:e0:e7:a0:37", "switch_port_id": "Ethernet1/4", "switch_port_description": "Ethernet1/4",
                "switch_system_name": "f20-3-2f.iad3", "switch_port_mtu": 1500, "switch_port_link_aggregation_enabled": false,
                "switch_port_link_aggregation_support": true, "switch_port_link_aggregation_id": 0
            }
        })
    );
    assert_eq!(o.warnings.iter().filter(|w| w.contains("000142 not recognized")).count(), 6, "two Cisco TLVs per LLDP interface");
    assert_eq!(p["local_gb"], 445);
    assert_eq!(p["root_disk"]["serial"], "00ee9407851b1095300036a76a80e04e");
    let mut keys: Vec<&String> = p.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["all_interfaces", "boot_interface", "configuration", "error", "local_gb", "macs", "parsed_lldp", "root_disk", "valid_interfaces"]
    );
    assert_eq!(p["all_interfaces"].as_object().unwrap().len(), 6);
    // All ports, kept in line: every NIC gets a port, the three with LLDP their switch port.
    let c = HookConfig { add_ports: AddPorts::All, ..c };
    let mut p: Dict = doc["plugin_data"].as_object().unwrap().clone();
    let o = process(&c, &n, &[], None, &inventory, &mut p).unwrap();
    assert_eq!(creates(&o).len(), 6);
    assert_eq!(created(&o, "d4:04:e6:4f:71:29").local_link_connection["switch_info"], "f20-3-1f.iad3");
    assert!(created(&o, "c4:cb:e1:bf:90:dd").local_link_connection.is_empty());
}

/// stackhpc/mungetout: the raw extra-hardware records of an HP ProLiant BL460c Gen8.
#[test]
fn fixture_hp_bl460c_extra_hardware_records() {
    let data = fixture("stackhpc-mungetout-hp-proliant-bl460c-gen8-extra-hardware-raw.json");
    let mut p = pd(json!({"data": data}));
    let mut c = HookConfig { extra_hardware_strict: true, ..cfg(&["extra-hardware"]) };
    let o = process(&c, &node(json!({})), &[], None, &json!({}), &mut p).unwrap();
    assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    assert!(!p.contains_key("data"));
    let e = &p["extra"];
    let mut cats: Vec<&String> = e.as_object().unwrap().keys().collect();
    cats.sort();
    assert_eq!(cats, ["cpu", "disk", "firmware", "ipmi", "memory", "network", "system"]);
    let items = |c: &str| e[c].as_object().unwrap().len();
    assert_eq!(
        [items("cpu"), items("disk"), items("firmware"), items("ipmi"), items("memory"), items("network"), items("system")],
        [6, 1, 1, 43, 18, 2, 3]
    );
    assert_eq!(e["memory"]["total"]["size"], 137438953472u64, "numbers become ints");
    assert_eq!(e["cpu"]["logical"]["number"], 16);
    assert_eq!(e["system"]["product"]["name"], "ProLiant BL460c Gen8 (641016-B21)");
    assert_eq!(e["system"]["product"]["serial"], "TW31NS1381");
    assert_eq!(e["firmware"]["bios"], json!({"version": "I31", "date": "06/01/2015", "vendor": "HP"}));
    assert_eq!(e["disk"]["logical"]["count"], 0);
    c.extra_hardware_strict = false;
    let mut p = pd(json!({"data": fixture("stackhpc-mungetout-hp-proliant-bl460c-gen8-extra-hardware-raw.json")}));
    process(&c, &node(json!({})), &[], None, &json!({}), &mut p).unwrap();
    assert_eq!(p["extra"]["system"]["product"]["vendor"], "HP");
}

/// Every inventory fixture is covered by a test above.
#[test]
fn every_inventory_fixture_has_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection");
    let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json",
            "metal3-inspector-data-kvm-vm.json",
            "stackhpc-mungetout-hp-proliant-bl460c-gen8-extra-hardware-raw.json",
            "terraform-ironic-kvm-introspection-data-extra-hardware.json",
            "understack-dell-r7615-node-inventory-lldp.json",
            "understack-real-node-show-active-redfish-dell.json",
        ],
        "a new fixture needs its own test"
    );
}

//! Inspection processing hooks: the ramdisk's report in, the node's new properties and the
//! port changes out. Pure functions; the conductor applies the result under the node lock.
//!
//! Implemented now: Ironic's default set `ramdisk-error, validate-interfaces, ports,
//! architecture` (`[inspector]default_hooks`), with `add_ports`, `keep_ports` and
//! `update_pxe_enabled` as in Ironic. The other hooks (cpus, memory, root-device, local_gb,
//! boot-mode, LLDP, ...) belong to the inspection issue and are refused by name until then.

use crate::model::{Dict, Node, Port};
use crate::validate::normalize_mac;
use serde_json::{json, Value};

/// Ironic's `[inspector]default_hooks`.
pub const DEFAULT_HOOKS: &[&str] = &["ramdisk-error", "validate-interfaces", "ports", "architecture"];
/// Every hook ferric implements.
pub const KNOWN_HOOKS: &[&str] = DEFAULT_HOOKS;
/// Hooks that inspect the data before the others run (Ironic's `preprocess` phase).
const PREPROCESS: &[&str] = &["ramdisk-error", "validate-interfaces"];

/// `[inspector]add_ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddPorts {
    Pxe,
    Active,
    All,
    Disabled,
}

/// `[inspector]keep_ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepPorts {
    All,
    Present,
    Added,
}

#[derive(Debug, Clone)]
pub struct HookConfig {
    pub hooks: Vec<String>,
    pub add_ports: AddPorts,
    pub keep_ports: KeepPorts,
    pub update_pxe_enabled: bool,
}

impl Default for HookConfig {
    fn default() -> Self {
        HookConfig {
            hooks: DEFAULT_HOOKS.iter().map(|s| s.to_string()).collect(),
            add_ports: AddPorts::Pxe,
            keep_ports: KeepPorts::All,
            update_pxe_enabled: true,
        }
    }
}

impl HookConfig {
    /// Check hook names (unknown ones are a configuration error).
    pub fn validate(&self) -> Result<(), String> {
        for h in &self.hooks {
            if !KNOWN_HOOKS.contains(&h.as_str()) {
                return Err(format!("unknown inspection hook \"{h}\"; known hooks: {}", KNOWN_HOOKS.join(", ")));
            }
        }
        Ok(())
    }
}

/// A change to the node's ports the `ports` hook asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum PortChange {
    Create { address: String, pxe_enabled: bool, extra: Dict },
    Delete { uuid: String, address: String },
    Update { uuid: String, pxe_enabled: bool, extra: Dict },
}

/// What processing produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub properties: Dict,
    pub port_changes: Vec<PortChange>,
}

/// Run the configured hooks over a report. `plugin_data` gains what the hooks compute
/// (`all_interfaces`, `valid_interfaces`, `macs`), as in Ironic.
pub fn process(
    cfg: &HookConfig,
    node: &Node,
    ports: &[Port],
    inventory: &Value,
    plugin_data: &mut Dict,
) -> Result<Outcome, String> {
    let mut out = Outcome { properties: node.properties.clone(), port_changes: Vec::new() };
    let enabled = |h: &str| cfg.hooks.iter().any(|x| x == h);
    for phase_pre in [true, false] {
        for hook in &cfg.hooks {
            if PREPROCESS.contains(&hook.as_str()) != phase_pre {
                continue;
            }
            match hook.as_str() {
                "ramdisk-error" => {
                    if let Some(e) = plugin_data.get("error").filter(|e| !e.is_null() && e.as_str() != Some("")) {
                        let e = e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string());
                        return Err(format!("Ramdisk reported error: {e}"));
                    }
                }
                "validate-interfaces" => validate_interfaces(cfg, inventory, plugin_data)?,
                "ports" => {
                    if !enabled("validate-interfaces") {
                        return Err("the ports hook needs the validate-interfaces hook".into());
                    }
                    out.port_changes = port_changes(cfg, ports, plugin_data);
                }
                "architecture" => {
                    let arch = inventory
                        .get("cpu")
                        .and_then(|c| c.get("architecture"))
                        .and_then(Value::as_str)
                        .filter(|a| !a.is_empty())
                        .ok_or("Inventory has malformed or missing CPU architecture information")?;
                    out.properties.insert("cpu_arch".into(), Value::String(arch.to_string()));
                }
                other => return Err(format!("unknown inspection hook {other}")),
            }
        }
    }
    Ok(out)
}

/// The MAC of the interface the machine PXE-booted from (`boot.pxe_interface`, which may be
/// in BOOTIF form `01-aa-bb-...`).
pub fn pxe_mac(inventory: &Value) -> Option<String> {
    let raw = inventory.get("boot")?.get("pxe_interface")?.as_str()?;
    let mac = if raw.contains('-') { raw.split_once('-').map(|x| x.1).unwrap_or(raw).replace('-', ":") } else { raw.to_string() };
    normalize_mac(&mac)
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// Ironic's validate-interfaces: `all_interfaces` (every named interface with a valid MAC),
/// `valid_interfaces` (those `add_ports` selects) and `macs`.
fn validate_interfaces(cfg: &HookConfig, inventory: &Value, plugin_data: &mut Dict) -> Result<(), String> {
    let ifaces = inventory.get("interfaces").and_then(Value::as_array).ok_or("no interfaces present in inventory")?;
    let pxe = pxe_mac(inventory);
    let mut all = Dict::new();
    for iface in ifaces {
        let Some(o) = iface.as_object() else { continue };
        let Some(name) = o.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else { continue };
        let Some(mac) = o.get("mac_address").and_then(Value::as_str).and_then(normalize_mac) else { continue };
        let mut entry = o.clone();
        let v6 = o.get("ipv6_address").and_then(Value::as_str).map(|a| a.split('%').next().unwrap_or(a).to_string());
        entry.insert("ipv6_address".into(), v6.map(Value::String).unwrap_or(Value::Null));
        entry.insert("mac_address".into(), Value::String(mac.clone()));
        entry.insert("pxe_enabled".into(), Value::Bool(pxe.as_deref() == Some(mac.as_str())));
        all.insert(name.to_string(), Value::Object(entry));
    }
    if all.is_empty() {
        return Err("no valid network interfaces".into());
    }
    let mut valid = Dict::new();
    for (name, iface) in &all {
        let ip = iface.get("ipv4_address").and_then(Value::as_str).or_else(|| iface.get("ipv6_address").and_then(Value::as_str));
        let is_pxe = iface.get("pxe_enabled").and_then(Value::as_bool).unwrap_or(true);
        if name == "lo" || ip.is_some_and(is_loopback) {
            continue;
        }
        if cfg.add_ports == AddPorts::Pxe && pxe.is_some() && !is_pxe {
            continue;
        }
        if cfg.add_ports == AddPorts::Active && ip.is_none_or(str::is_empty) {
            continue;
        }
        valid.insert(name.clone(), iface.clone());
    }
    if valid.is_empty() {
        let mode = match cfg.add_ports {
            AddPorts::Pxe => "pxe",
            AddPorts::Active => "active",
            AddPorts::All => "all",
            AddPorts::Disabled => "disabled",
        };
        return Err(format!("no network interfaces match the configuration (add_ports set to \"{mode}\")"));
    }
    let macs: Vec<Value> = valid.values().filter_map(|i| i.get("mac_address").cloned()).collect();
    plugin_data.insert("all_interfaces".into(), Value::Object(all));
    plugin_data.insert("valid_interfaces".into(), Value::Object(valid));
    plugin_data.insert("macs".into(), Value::Array(macs));
    Ok(())
}

/// Ironic's ports hook: create ports for the valid interfaces, then bring existing ports in
/// line (`keep_ports`, `update_pxe_enabled`, DHCP client ids).
fn port_changes(cfg: &HookConfig, ports: &[Port], plugin_data: &Dict) -> Vec<PortChange> {
    let obj = |k: &str| plugin_data.get(k).and_then(Value::as_object).cloned().unwrap_or_default();
    let (all, valid) = (obj("all_interfaces"), obj("valid_interfaces"));
    let mac_of = |i: &Value| i.get("mac_address").and_then(Value::as_str).unwrap_or("").to_string();
    let mut changes = Vec::new();
    let existing: Vec<&str> = ports.iter().map(|p| p.address.as_str()).collect();
    if cfg.add_ports != AddPorts::Disabled {
        for iface in valid.values() {
            let mac = mac_of(iface);
            if existing.contains(&mac.as_str()) || changes.iter().any(|c| matches!(c, PortChange::Create { address, .. } if *address == mac)) {
                continue;
            }
            let mut extra = Dict::new();
            if let Some(cid) = iface.get("client_id").and_then(Value::as_str).filter(|c| !c.is_empty()) {
                extra.insert("client-id".into(), json!(cid));
            }
            let pxe_enabled = iface.get("pxe_enabled").and_then(Value::as_bool).unwrap_or(false);
            changes.push(PortChange::Create { address: mac, pxe_enabled, extra });
        }
    }
    let expected: Option<Vec<String>> = match cfg.keep_ports {
        KeepPorts::All => None,
        KeepPorts::Present => Some(all.values().map(mac_of).collect()),
        KeepPorts::Added => Some(valid.values().map(mac_of).collect()),
    };
    let pxe_macs: Vec<String> =
        all.values().filter(|i| i.get("pxe_enabled").and_then(Value::as_bool) == Some(true)).map(mac_of).collect();
    for port in ports {
        if let Some(exp) = &expected {
            if !exp.is_empty() && !exp.contains(&port.address) {
                changes.push(PortChange::Delete { uuid: port.uuid.clone(), address: port.address.clone() });
                continue;
            }
        }
        let mut pxe = port.pxe_enabled;
        if cfg.update_pxe_enabled {
            pxe = pxe_macs.contains(&port.address);
        }
        let mut extra = port.extra.clone();
        let new_cid = all
            .values()
            .find(|i| mac_of(i) == port.address)
            .and_then(|i| i.get("client_id").and_then(Value::as_str))
            .filter(|c| !c.is_empty());
        if let Some(cid) = new_cid {
            if extra.get("client-id").and_then(Value::as_str) != Some(cid) {
                extra.insert("client-id".into(), json!(cid));
            }
        }
        if pxe != port.pxe_enabled || extra != port.extra {
            changes.push(PortChange::Update { uuid: port.uuid.clone(), pxe_enabled: pxe, extra });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(pxe: Option<&str>) -> Value {
        let mut v = json!({
            "cpu": {"architecture": "x86_64", "count": 4},
            "interfaces": [
                {"name": "eth0", "mac_address": "52:54:00:AA:00:01", "ipv4_address": "192.0.2.10"},
                {"name": "eth1", "mac_address": "52:54:00:aa:00:02", "ipv4_address": null},
                {"name": "lo", "mac_address": "00:00:00:00:00:00", "ipv4_address": "127.0.0.1"},
                {"name": "bad", "mac_address": "not-a-mac"},
                {"mac_address": "52:54:00:aa:00:09"}
            ]
        });
        if let Some(p) = pxe {
            v["boot"] = json!({"pxe_interface": p, "current_boot_mode": "uefi"});
        }
        v
    }

    fn creates(o: &Outcome) -> Vec<(String, bool)> {
        o.port_changes
            .iter()
            .filter_map(|c| match c {
                PortChange::Create { address, pxe_enabled, .. } => Some((address.clone(), *pxe_enabled)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn defaults_add_only_the_pxe_port_and_set_the_architecture() {
        let mut pd = Dict::new();
        let o = process(&HookConfig::default(), &Node::default(), &[], &inv(Some("01-52-54-00-aa-00-01")), &mut pd).unwrap();
        assert_eq!(o.properties["cpu_arch"], "x86_64");
        assert_eq!(creates(&o), vec![("52:54:00:aa:00:01".to_string(), true)]);
        assert_eq!(pd["macs"], json!(["52:54:00:aa:00:01"]));
        let all: Vec<&String> = pd["all_interfaces"].as_object().unwrap().keys().collect();
        assert_eq!(all, ["eth0", "eth1", "lo"], "nameless and invalid-MAC interfaces are dropped");
    }

    #[test]
    fn without_a_pxe_mac_every_non_loopback_interface_is_added() {
        let mut pd = Dict::new();
        let o = process(&HookConfig::default(), &Node::default(), &[], &inv(None), &mut pd).unwrap();
        assert_eq!(creates(&o), vec![("52:54:00:aa:00:01".into(), false), ("52:54:00:aa:00:02".into(), false)]);
        let cfg = HookConfig { add_ports: AddPorts::Active, ..Default::default() };
        let o = process(&cfg, &Node::default(), &[], &inv(None), &mut Dict::new()).unwrap();
        assert_eq!(creates(&o), vec![("52:54:00:aa:00:01".into(), false)], "active: only interfaces with an IP");
    }

    #[test]
    fn existing_ports_are_kept_updated_or_removed() {
        let port = |uuid: &str, mac: &str, pxe: bool| Port { uuid: uuid.into(), address: mac.into(), pxe_enabled: pxe, ..Default::default() };
        let ports = vec![port("p1", "52:54:00:aa:00:01", false), port("p2", "52:54:00:aa:00:99", true)];
        let o = process(&HookConfig::default(), &Node::default(), &ports, &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
        assert!(creates(&o).is_empty(), "the PXE port exists already");
        assert!(o.port_changes.contains(&PortChange::Update { uuid: "p1".into(), pxe_enabled: true, extra: Dict::new() }));
        assert!(o.port_changes.contains(&PortChange::Update { uuid: "p2".into(), pxe_enabled: false, extra: Dict::new() }));
        let cfg = HookConfig { keep_ports: KeepPorts::Present, ..Default::default() };
        let o = process(&cfg, &Node::default(), &ports, &inv(Some("52:54:00:aa:00:01")), &mut Dict::new()).unwrap();
        assert!(o.port_changes.contains(&PortChange::Delete { uuid: "p2".into(), address: "52:54:00:aa:00:99".into() }));
    }

    #[test]
    fn bad_reports_fail_with_ironic_reasons() {
        let mut pd = Dict::new();
        pd.insert("error".into(), json!("disk on fire"));
        assert_eq!(process(&HookConfig::default(), &Node::default(), &[], &inv(None), &mut pd).unwrap_err(), "Ramdisk reported error: disk on fire");
        let no_arch = json!({"interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:00:01"}]});
        assert!(process(&HookConfig::default(), &Node::default(), &[], &no_arch, &mut Dict::new()).unwrap_err().contains("CPU architecture"));
        let no_ifaces = json!({"cpu": {"architecture": "x86_64"}, "interfaces": [{"name": "lo", "mac_address": "zz"}]});
        assert_eq!(process(&HookConfig::default(), &Node::default(), &[], &no_ifaces, &mut Dict::new()).unwrap_err(), "no valid network interfaces");
        let bad = HookConfig { hooks: vec!["cpus".into()], ..Default::default() };
        assert!(bad.validate().is_err());
    }

    /// Every real inventory in shared/fixtures/inspection goes through the default hooks.
    #[test]
    fn real_inventories_from_shared_fixtures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("shared/fixtures/inspection") {
            let path = entry.unwrap().path();
            let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            // The fixtures are either {inventory, ...plugin data} or a node record with them inside.
            let Some(inventory) = doc.get("inventory").or_else(|| doc.get("data").and_then(|d| d.get("inventory"))) else { continue };
            let mut pd = Dict::new();
            let o = process(&HookConfig::default(), &Node::default(), &[], inventory, &mut pd)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let arch = inventory["cpu"]["architecture"].as_str().unwrap();
            assert_eq!(o.properties["cpu_arch"], arch, "{}", path.display());
            let valid = pd["valid_interfaces"].as_object().unwrap();
            assert_eq!(creates(&o).len(), valid.len(), "{}", path.display());
            if let Some(p) = pxe_mac(inventory) {
                assert_eq!(creates(&o), vec![(p, true)], "{}: only the PXE port", path.display());
            }
            seen += 1;
        }
        assert!(seen >= 3, "expected several real inventories, saw {seen}");
    }
}

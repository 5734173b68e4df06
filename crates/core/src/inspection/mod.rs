//! Inspection processing hooks: the ramdisk's report in, the node's new properties and the
//! port changes out. Pure functions; the conductor applies the result under the node lock.
//!
//! Every hook of Ironic 39 (`ironic.inspection.hooks`), with its name, options and
//! behaviour: `ramdisk-error`, `validate-interfaces`, `ports`, `architecture`, `cpus`,
//! `memory`, `root-device` (root device hints, `skip_block_devices`, `local_gb`),
//! `boot-mode`, `cpu-capabilities`, `pci-devices`, `accelerators`, `parse-lldp`,
//! `local-link-connection`, `physical-network`, `raid-device`, `extra-hardware`.
//! As in Ironic, hooks run in the configured order: first every hook's preprocess step
//! (`ramdisk-error`, `validate-interfaces`; their failures are collected), then every hook.
//! A hook that needs another (`ports`, `local-link-connection`, `physical-network` need
//! `validate-interfaces`) must come after it, or the configuration is refused.
//!
//! Files: `interfaces.rs` (validate-interfaces, ports, physical-network,
//! local-link-connection), `lldp.rs` (TLV parsing, parse-lldp), `properties.rs` (the
//! property hooks and capabilities), `root_device.rs` + `hints.rs` (root device hints,
//! root-device, raid-device), `extra.rs` (extra-hardware), `py.rs` (Python semantics).

mod extra;
pub mod hints;
mod interfaces;
mod lldp;
mod properties;
mod py;
mod root_device;
#[cfg(test)]
mod tests;

pub use properties::{default_known_accelerators, known_accelerators_from, updated_capabilities};

use crate::model::{Dict, Node, Port};
use py::HookError;
use serde_json::Value;
use std::net::IpAddr;

/// Ironic's `[inspector]default_hooks`.
pub const DEFAULT_HOOKS: &[&str] = &["ramdisk-error", "validate-interfaces", "ports", "architecture"];
/// Ironic's `[redfish]default_inspection_hooks`: out-of-band inspection has no ramdisk.
pub const DEFAULT_OOB_HOOKS: &[&str] = &["validate-interfaces", "ports", "architecture"];
/// Every hook ferric implements: all of Ironic 39's `ironic.inspection.hooks`.
pub const KNOWN_HOOKS: &[&str] = &[
    "accelerators",
    "architecture",
    "boot-mode",
    "cpu-capabilities",
    "cpus",
    "extra-hardware",
    "local-link-connection",
    "memory",
    "parse-lldp",
    "pci-devices",
    "physical-network",
    "ports",
    "raid-device",
    "ramdisk-error",
    "root-device",
    "validate-interfaces",
];
/// Hooks with a preprocess step (run for every hook before any hook's main step).
const PREPROCESS: &[&str] = &["ramdisk-error", "validate-interfaces"];
/// Ironic's `[inspector]cpu_capabilities` default (`DEFAULT_CPU_FLAGS_MAPPING`).
pub const DEFAULT_CPU_CAPABILITIES: &[(&str, &str)] =
    &[("vmx", "cpu_vt"), ("svm", "cpu_vt"), ("aes", "cpu_aes"), ("pse", "cpu_hugepages"), ("pdpe1gb", "cpu_hugepages_1g"), ("smx", "cpu_txt")];

/// The hooks a hook needs enabled before it (Ironic's `dependencies`).
pub fn dependencies(hook: &str) -> &'static [&'static str] {
    match hook {
        "ports" | "local-link-connection" | "physical-network" => &["validate-interfaces"],
        _ => &[],
    }
}

/// `[inspector]add_ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddPorts {
    Pxe,
    Active,
    All,
    Disabled,
}

impl AddPorts {
    pub fn as_str(self) -> &'static str {
        match self {
            AddPorts::Pxe => "pxe",
            AddPorts::Active => "active",
            AddPorts::All => "all",
            AddPorts::Disabled => "disabled",
        }
    }
}

/// `[inspector]keep_ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepPorts {
    All,
    Present,
    Added,
}

/// One `[inspector]pci_device_alias` entry (`{"vendor_id": ..., "product_id": ..., "name": ...}`).
#[derive(Debug, Clone, PartialEq)]
pub struct PciAlias {
    pub vendor_id: Value,
    pub product_id: Value,
    pub name: Value,
}

impl PciAlias {
    /// Parse one entry as Ironic does (JSON with exactly these three keys).
    pub fn parse(entry: &str) -> Result<PciAlias, String> {
        let v: Value = serde_json::from_str(entry).map_err(|e| format!("invalid JSON {entry:?}: {e}"))?;
        let Value::Object(o) = v else { return Err(format!("{entry:?} is not a JSON object")) };
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort();
        if keys != ["name", "product_id", "vendor_id"] {
            return Err(format!(
                "{entry:?}: the \"pci_device_alias\" entry should contain exactly the \"vendor_id\", \"product_id\" and \"name\" keys."
            ));
        }
        Ok(PciAlias { vendor_id: o["vendor_id"].clone(), product_id: o["product_id"].clone(), name: o["name"].clone() })
    }
}

/// An IP network (`ipaddress.ip_network(x)`, strict: no host bits set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("{s:?} does not appear to be an IPv4 or IPv6 network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("{s:?}: invalid prefix length")),
            },
        };
        let c = Cidr { addr, prefix };
        if !c.contains(&addr) || c.network_bits(&addr) != Self::bits(&addr) {
            return Err(format!("{s} has host bits set"));
        }
        Ok(c)
    }

    fn bits(a: &IpAddr) -> u128 {
        match a {
            IpAddr::V4(v) => u32::from(*v) as u128,
            IpAddr::V6(v) => u128::from(*v),
        }
    }

    fn network_bits(&self, a: &IpAddr) -> u128 {
        let width = if a.is_ipv4() { 32 } else { 128 };
        let host = width - self.prefix as u32;
        let mask = if host >= 128 { 0 } else { (u128::MAX >> host) << host };
        let full = if width == 32 { mask & 0xffff_ffff } else { mask };
        Self::bits(a) & full
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && self.network_bits(ip) == self.network_bits(&self.addr)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One `[inspector]physical_network_cidr_map` entry: `CIDR:physnet` (split at the last `:`).
pub fn parse_cidr_map_entry(entry: &str) -> Result<(Cidr, String), String> {
    let (cidr, net) = entry.trim().rsplit_once(':').ok_or_else(|| format!("{entry:?} is not CIDR:physical_network"))?;
    if net.is_empty() {
        return Err(format!("{entry:?}: empty physical network"));
    }
    Ok((Cidr::parse(cidr)?, net.to_string()))
}

/// `[inspector]cpu_capabilities` in oslo.config's dict format: `flag:capability,...`.
pub fn parse_cpu_capabilities(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once(':').ok_or_else(|| format!("{pair:?} is not flag:capability"))?;
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if k.is_empty() {
            return Err(format!("{pair:?}: empty CPU flag"));
        }
        match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    Ok(out)
}

/// `[inspector]hooks` with `$default_hooks` / `${default_hooks}` expanded (oslo.config
/// interpolation), split on commas.
pub fn expand_hooks(hooks: &str, default_hooks: &str) -> Vec<String> {
    hooks
        .replace("${default_hooks}", default_hooks)
        .replace("$default_hooks", default_hooks)
        .split(',')
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect()
}

#[derive(Debug, Clone)]
pub struct HookConfig {
    pub hooks: Vec<String>,
    pub add_ports: AddPorts,
    pub keep_ports: KeepPorts,
    pub update_pxe_enabled: bool,
    /// CPU flag → capability, in order (`cpu-capabilities`).
    pub cpu_capabilities: Vec<(String, String)>,
    /// `pci-devices`.
    pub pci_device_alias: Vec<PciAlias>,
    /// `physical-network`.
    pub physical_network_cidr_map: Vec<(Cidr, String)>,
    /// `extra-hardware`.
    pub extra_hardware_strict: bool,
    /// `root-device`: leave 1 GiB for partitioning (`local_gb` = GiB - 1).
    pub disk_partitioning_spacing: bool,
    /// `accelerators`: the validated `pci_devices` of the known accelerators file.
    pub known_accelerators: Vec<Dict>,
}

impl Default for HookConfig {
    fn default() -> Self {
        HookConfig {
            hooks: DEFAULT_HOOKS.iter().map(|s| s.to_string()).collect(),
            add_ports: AddPorts::Pxe,
            keep_ports: KeepPorts::All,
            update_pxe_enabled: true,
            cpu_capabilities: DEFAULT_CPU_CAPABILITIES.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            pci_device_alias: Vec::new(),
            physical_network_cidr_map: Vec::new(),
            extra_hardware_strict: false,
            disk_partitioning_spacing: true,
            known_accelerators: default_known_accelerators(),
        }
    }
}

impl HookConfig {
    /// Every hook of Ironic, in an order that satisfies the dependencies.
    pub fn all_hooks() -> Vec<String> {
        [
            "ramdisk-error",
            "validate-interfaces",
            "ports",
            "architecture",
            "cpus",
            "memory",
            "raid-device",
            "root-device",
            "boot-mode",
            "cpu-capabilities",
            "pci-devices",
            "accelerators",
            "extra-hardware",
            "parse-lldp",
            "local-link-connection",
            "physical-network",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Ironic's hook loading checks: unknown names (`missing_entrypoints_callback`), then
    /// dependencies (`validate_inspection_hooks`), with Ironic's messages.
    pub fn validate(&self) -> Result<(), String> {
        let missing: Vec<&str> = self.hooks.iter().map(String::as_str).filter(|h| !KNOWN_HOOKS.contains(h)).collect();
        if !missing.is_empty() {
            return Err(format!("The following hook(s) are missing or failed to load: {}", missing.join(", ")));
        }
        let mut loaded: Vec<&str> = Vec::new();
        let mut errors = Vec::new();
        for h in &self.hooks {
            let missing: Vec<&str> = dependencies(h).iter().copied().filter(|d| !loaded.contains(d)).collect();
            if missing.is_empty() {
                loaded.push(h);
            } else {
                errors.push(format!("Hook {h} requires these missing hooks to be enabled before it: {}", missing.join(", ")));
            }
        }
        if !errors.is_empty() {
            return Err(format!("Some hooks failed to load due to dependency problems: {}", errors.join(", ")));
        }
        Ok(())
    }
}

/// A port's fields inspection may set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PortFields {
    pub pxe_enabled: bool,
    pub extra: Dict,
    pub local_link_connection: Dict,
    pub physical_network: Option<String>,
}

/// A change to the node's ports the hooks ask for.
#[derive(Debug, Clone, PartialEq)]
pub enum PortChange {
    Create { address: String, fields: PortFields },
    Delete { uuid: String, address: String },
    Update { uuid: String, fields: PortFields },
}

/// What processing produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The node's properties after every hook.
    pub properties: Dict,
    pub port_changes: Vec<PortChange>,
    /// What Ironic logs as warnings (missing data, skipped values); the conductor logs them.
    pub warnings: Vec<String>,
}

/// A port as the hooks see it while they run: the node's ports plus the ones `ports`
/// created, minus the ones it removed (Ironic's hooks read the database in between).
#[derive(Debug, Clone)]
pub(crate) struct WorkPort {
    pub uuid: Option<String>,
    pub address: String,
    pub fields: PortFields,
    pub deleted: bool,
}

/// What the hooks share while they run.
pub(crate) struct State<'a> {
    pub node_uuid: &'a str,
    pub inventory: &'a Value,
    pub previous_inventory: Option<&'a Value>,
    pub props: Dict,
    pub ports: Vec<WorkPort>,
    pub warnings: Vec<String>,
}

/// Run the configured hooks over a report, as Ironic's `run_inspection_hooks`.
/// `plugin_data` gains what the hooks compute (`all_interfaces`, `valid_interfaces`, `macs`,
/// `root_disk`, `local_gb`, `parsed_lldp`, `extra`, ...). `previous_inventory` is the
/// inventory stored by the node's last inspection (for raid-device).
///
/// The error is the text Ironic's agent inspect interface raises (what follows
/// "Failed to finish inspection: " in the node's `last_error`).
pub fn process(
    cfg: &HookConfig,
    node: &Node,
    ports: &[Port],
    previous_inventory: Option<&Value>,
    inventory: &Value,
    plugin_data: &mut Dict,
) -> Result<Outcome, String> {
    let mut st = State {
        node_uuid: &node.uuid,
        inventory,
        previous_inventory,
        props: node.properties.clone(),
        ports: ports
            .iter()
            .map(|p| WorkPort {
                uuid: Some(p.uuid.clone()),
                address: p.address.clone(),
                fields: PortFields {
                    pxe_enabled: p.pxe_enabled,
                    extra: p.extra.clone(),
                    local_link_connection: p.local_link_connection.clone(),
                    physical_network: p.physical_network.clone(),
                },
                deleted: false,
            })
            .collect(),
        warnings: Vec::new(),
    };
    let wrap = |reason: String| format!("Failed to inspect hardware. Reason: failed to run inspection hooks: {reason}");
    // Preprocess: every hook, failures collected.
    let mut failures = Vec::new();
    for hook in &cfg.hooks {
        if !PREPROCESS.contains(&hook.as_str()) {
            continue;
        }
        let r = match hook.as_str() {
            "ramdisk-error" => ramdisk_error(plugin_data),
            _ => interfaces::validate_interfaces(&mut st, cfg, plugin_data),
        };
        match r {
            Ok(()) => {}
            Err(HookError::Failure(e)) => {
                failures.push(format!("Error in preprocess hook {hook}: Failed to inspect hardware. Reason: {e}"))
            }
            Err(HookError::Unexpected(class, e)) => {
                failures.push(format!("Unexpected exception {class} during preprocess hook {hook}: {e}"))
            }
        }
    }
    if !failures.is_empty() {
        return Err(wrap(format!(
            "Failed to inspect hardware. Reason: The following failures happened while running preprocess hooks for node {}:\n{}",
            node.uuid,
            failures.join("\n")
        )));
    }
    for hook in &cfg.hooks {
        let r = match hook.as_str() {
            "ramdisk-error" | "validate-interfaces" => Ok(()),
            "ports" => interfaces::ports(&mut st, cfg, plugin_data),
            "architecture" => properties::architecture(&mut st),
            "cpus" => properties::cpus(&mut st),
            "memory" => properties::memory(&mut st),
            "root-device" => root_device::root_device(&mut st, cfg, plugin_data),
            "raid-device" => root_device::raid_device(&mut st),
            "boot-mode" => properties::boot_mode(&mut st),
            "cpu-capabilities" => properties::cpu_capabilities(&mut st, cfg),
            "pci-devices" => properties::pci_devices(&mut st, cfg, plugin_data),
            "accelerators" => properties::accelerators(&mut st, cfg, plugin_data),
            "extra-hardware" => {
                extra::extra_hardware(cfg.extra_hardware_strict, plugin_data, &mut st.warnings);
                Ok(())
            }
            "parse-lldp" => lldp::parse_lldp_hook(inventory, plugin_data, &mut st.warnings),
            "local-link-connection" => interfaces::local_link_connection(&mut st, plugin_data),
            "physical-network" => interfaces::physical_network(&mut st, cfg, plugin_data),
            other => Err(HookError::Failure(format!("The following hook(s) are missing or failed to load: {other}"))),
        };
        match r {
            Ok(()) => {}
            Err(HookError::Failure(e)) => return Err(wrap(format!("Failed to inspect hardware. Reason: {e}"))),
            Err(HookError::Unexpected(class, e)) => {
                return Err(wrap(format!(
                    "Failed to inspect hardware. Reason: Unexpected exception {class} during processing for node: {}. Error: {e}",
                    node.uuid
                )))
            }
        }
    }
    Ok(Outcome { properties: st.props, port_changes: port_changes(ports, st.ports), warnings: st.warnings })
}

fn ramdisk_error(plugin_data: &Dict) -> Result<(), HookError> {
    match plugin_data.get("error").filter(|e| py::truthy(e)) {
        Some(e) => Err(HookError::Failure(format!("Ramdisk reported error: {}", py::str_of(e)))),
        None => Ok(()),
    }
}

/// The differences between the node's ports and the hooks' view of them.
fn port_changes(before: &[Port], after: Vec<WorkPort>) -> Vec<PortChange> {
    let mut changes = Vec::new();
    for wp in after {
        match (&wp.uuid, wp.deleted) {
            (None, false) => changes.push(PortChange::Create { address: wp.address, fields: wp.fields }),
            (None, true) => {}
            (Some(uuid), true) => changes.push(PortChange::Delete { uuid: uuid.clone(), address: wp.address }),
            (Some(uuid), false) => {
                let Some(p) = before.iter().find(|p| &p.uuid == uuid) else { continue };
                let orig = PortFields {
                    pxe_enabled: p.pxe_enabled,
                    extra: p.extra.clone(),
                    local_link_connection: p.local_link_connection.clone(),
                    physical_network: p.physical_network.clone(),
                };
                if orig != wp.fields {
                    changes.push(PortChange::Update { uuid: uuid.clone(), fields: wp.fields });
                }
            }
        }
    }
    changes
}

/// The MAC of the interface the machine PXE-booted from (`boot.pxe_interface`, which may be
/// in BOOTIF form `01-aa-bb-...`), lower-cased as Ironic's `get_pxe_mac`.
pub fn pxe_mac(inventory: &Value) -> Option<String> {
    let raw = inventory.get("boot")?.get("pxe_interface")?.as_str()?;
    if raw.is_empty() {
        return None;
    }
    let mac = if raw.contains('-') { raw.split_once('-').map(|x| x.1).unwrap_or(raw).replace('-', ":") } else { raw.to_string() };
    Some(mac.to_lowercase())
}

//! Hardware collectors: what IPA's inspection collectors report, read from the machine under a
//! root directory (`/` in production, a fixture tree in tests).
//!
//! [`collect`] runs IPA's collectors by name:
//! - `default`: the inventory (`interfaces`, `cpu`, `disks`, `memory`, `bmc_address`,
//!   `bmc_v6address`, `bmc_mac`, `system_vendor`, `boot`, `hostname`), plus the plug-in data
//!   IPA's `collect_default` adds: `root_disk` (IPA's guess: the smallest disk of at least
//!   4 GiB), `boot_interface` (BOOTIF) and `configuration` (`collectors`, `managers`);
//! - `logs`: `logs`, a base64 tar.gz (see [`logs`]);
//! - `pci-devices`: `pci_devices`; `lldp`: `lldp_raw`, and each interface's `lldp`;
//! - `dmi-decode`: `dmi`; `numa-topology`: `numa_topology`.
//!
//! Unknown names are skipped with a warning. Nothing here panics on a strange machine: a field
//! that cannot be read is null (or the collector's key is absent, as in IPA) and the reason is
//! in `warnings`. What each field is read from is documented in the submodules.

mod bmc;
pub mod capture;
mod cmd;
mod cpu;
mod disks;
mod lldp;
mod logs;
mod memory;
mod net;
mod numa;
mod pci;
mod root;
pub mod smbios;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

use root::{Ctx, ReadError};

pub use lldp::{parse_frame as parse_lldp_frame, tlvs_json as lldp_tlvs_json};
pub use logs::base64;

/// What [`collect`] found.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// IPA's inventory (null when the `default` collector did not run).
    pub inventory: Value,
    /// The other top-level keys of IPA's inspection payload.
    pub plugin_data: Map<String, Value>,
    /// Everything that could not be read, one line each.
    pub warnings: Vec<String>,
}

/// Knobs; [`collect`] uses the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// The limit on each tool run (ipmitool, journalctl, biosdevname, ...).
    pub command_timeout: Duration,
    /// How long the lldp collector listens (IPA's `lldp_timeout`).
    pub lldp_timeout: Duration,
    /// Do not look for the BMC (Ironic's `skip_bmc_detect`).
    pub skip_bmc: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { command_timeout: Duration::from_secs(10), lldp_timeout: Duration::from_secs(30), skip_bmc: false }
    }
}

/// The collectors [`collect`] knows, by IPA's names.
pub const COLLECTORS: &[&str] = &["default", "logs", "pci-devices", "lldp", "dmi-decode", "numa-topology"];

/// IPA's hardware manager as reported in `configuration.managers`.
pub const MANAGER: (&str, &str) = ("generic_hardware_manager", "1.2");

/// Read the machine under `root` ("/" in production; a fixture tree in tests). `collectors`
/// are IPA's names: "default" (the inventory), "logs", "pci-devices", "lldp", "dmi-decode",
/// "numa-topology". Never panics: a field that cannot be read is null, with a warning.
pub fn collect(root: &Path, collectors: &[&str]) -> Collected {
    collect_with(root, collectors, &Options::default())
}

/// [`collect`] with explicit [`Options`].
pub fn collect_with(root: &Path, collectors: &[&str], opts: &Options) -> Collected {
    let ctx = Ctx::new(root, opts.clone());
    let wants = |n: &str| collectors.contains(&n);
    for c in collectors {
        if !COLLECTORS.contains(c) {
            ctx.warn(format!("unknown collector {c:?}: skipped"));
        }
    }
    let mut plugin_data = Map::new();
    let smbios = if wants("default") || wants("dmi-decode") { guard(&ctx, "smbios", || load_smbios(&ctx)).flatten() } else { None };

    let lldp = if wants("lldp") { guard(&ctx, "lldp", || lldp::collect(&ctx, &net::list_interfaces(&ctx))) } else { None };
    if let Some(l) = &lldp {
        plugin_data.insert("lldp_raw".into(), Value::Object(l.clone().into_iter().collect()));
    }

    let mut inventory = Value::Null;
    if wants("default") {
        inventory = default_inventory(&ctx, smbios.as_deref(), lldp.as_ref());
        let disks = inventory["disks"].as_array().cloned().unwrap_or_default();
        match guess_root_disk(&disks) {
            Some(d) => {
                plugin_data.insert("root_disk".into(), d);
            }
            None => ctx.warn("no suitable root device detected (no disk of 4 GiB or more)"),
        }
        plugin_data.insert("boot_interface".into(), inventory["boot"]["pxe_interface"].clone());
        plugin_data.insert(
            "configuration".into(),
            json!({"collectors": collectors, "managers": [{"name": MANAGER.0, "version": MANAGER.1}]}),
        );
    }
    if wants("pci-devices") {
        if let Some(v) = guard(&ctx, "pci-devices", || pci::collect(&ctx)).flatten() {
            plugin_data.insert("pci_devices".into(), v);
        }
    }
    if wants("dmi-decode") {
        match &smbios {
            Some(s) => {
                if let Some(v) = guard(&ctx, "dmi-decode", || smbios::dmi_decode(s)) {
                    plugin_data.insert("dmi".into(), v);
                }
            }
            None => ctx.warn("dmi-decode: the SMBIOS table is unreadable"),
        }
    }
    if wants("numa-topology") {
        if let Some(v) = guard(&ctx, "numa-topology", || numa::collect(&ctx)).flatten() {
            plugin_data.insert("numa_topology".into(), v);
        }
    }
    // Last, as IPA asks of it, so that it sees the others' complaints in the journal.
    if wants("logs") {
        if let Some(v) = guard(&ctx, "logs", || logs::collect(&ctx)) {
            plugin_data.insert("logs".into(), Value::String(v));
        }
    }
    Collected { inventory, plugin_data, warnings: ctx.take_warnings() }
}

/// Listen on this machine's interfaces for one LLDP frame each (AF_PACKET, needs
/// CAP_NET_RAW), at most `timeout` in all; IPA's `[[type, "hex"], ...]` per interface that
/// answered, and the warnings. [`collect`] does this itself for the `lldp` collector.
pub fn capture_lldp(interfaces: &[String], timeout: Duration) -> (std::collections::BTreeMap<String, Value>, Vec<String>) {
    let ctx = Ctx::new(Path::new("/"), Options::default());
    let frames = lldp::capture(&ctx, interfaces, timeout);
    (frames.into_iter().map(|(k, f)| (k, lldp::tlvs_json(&f))).collect(), ctx.take_warnings())
}

/// Run one collector; a panic (a bug) becomes a warning and `None`.
fn guard<T>(ctx: &Ctx, what: &str, f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(p) => {
            let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            ctx.warn(format!("internal error in the {what} collector: {msg}"));
            None
        }
    }
}

fn default_inventory(ctx: &Ctx, smbios: Option<&[smbios::Structure]>, lldp: Option<&std::collections::BTreeMap<String, Value>>) -> Value {
    let interfaces = guard(ctx, "interfaces", || net::collect(ctx, lldp)).unwrap_or_default();
    let cpu = guard(ctx, "cpu", || cpu::collect(ctx)).unwrap_or(Value::Null);
    let disks = guard(ctx, "disks", || disks::collect(ctx)).unwrap_or_default();
    let memory = guard(ctx, "memory", || memory::collect(ctx, smbios)).unwrap_or(Value::Null);
    let bmc = guard(ctx, "bmc", || bmc::collect(ctx)).unwrap_or(bmc::Bmc { v4: Value::Null, v6: Value::Null, mac: Value::Null });
    let system_vendor = guard(ctx, "system_vendor", || system_vendor(ctx, smbios)).unwrap_or(Value::Null);
    let boot = guard(ctx, "boot", || boot(ctx)).unwrap_or(Value::Null);
    let hostname = guard(ctx, "hostname", || hostname(ctx)).flatten();
    json!({
        "interfaces": interfaces,
        "cpu": cpu,
        "disks": disks,
        "memory": memory,
        "bmc_address": bmc.v4,
        "bmc_v6address": bmc.v6,
        "bmc_mac": bmc.mac,
        "system_vendor": system_vendor,
        "boot": boot,
        "hostname": hostname,
    })
}

/// The raw SMBIOS structure table, parsed; `None` when there is none to read.
fn load_smbios(ctx: &Ctx) -> Option<Vec<smbios::Structure>> {
    const TABLE: &str = "/sys/firmware/dmi/tables/DMI";
    match ctx.read_bytes(TABLE, 8 << 20) {
        Ok(b) => {
            let (s, problem) = smbios::parse(&b);
            if let Some(p) = problem {
                ctx.warn(format!("{TABLE}: {p}"));
            }
            Some(s)
        }
        Err(ReadError::Missing) => None,
        Err(ReadError::Failed(m)) => {
            ctx.warn(m);
            None
        }
    }
}

/// `system_vendor` from SMBIOS, else from /sys/class/dmi/id.
fn system_vendor(ctx: &Ctx, smbios: Option<&[smbios::Structure]>) -> Value {
    if let Some(v) = smbios.and_then(smbios::system_vendor) {
        return v;
    }
    let id = "/sys/class/dmi/id";
    if !ctx.is_dir(id) {
        ctx.warn("no SMBIOS table and no /sys/class/dmi/id: system vendor unknown");
        return json!({"product_name": null, "serial_number": null, "manufacturer": null,
                      "firmware": {"vendor": null, "version": null, "build_date": null}});
    }
    let a = |f: &str| {
        let v = ctx.attr(&format!("{id}/{f}"));
        if v.is_none() {
            ctx.warn(format!("{id}/{f} is unreadable"));
        }
        v
    };
    let product = a("product_name").map(|p| match ctx.attr(&format!("{id}/product_sku")).filter(|s| !s.is_empty()) {
        Some(sku) => format!("{p} ({sku})"),
        None => p,
    });
    json!({
        "product_name": product,
        "serial_number": a("product_serial"),
        "manufacturer": a("sys_vendor"),
        "firmware": {"vendor": a("bios_vendor"), "version": a("bios_version"), "build_date": a("bios_date")},
    })
}

fn boot(ctx: &Ctx) -> Value {
    let mode = if ctx.is_dir("/sys/firmware/efi") { "uefi" } else { "bios" };
    let pxe = ctx.read("/proc/cmdline").and_then(|c| kernel_param(&c, "BOOTIF"));
    json!({"current_boot_mode": mode, "pxe_interface": pxe})
}

/// The value of `key=` on a kernel command line (the last one wins, as IPA's dict).
pub fn kernel_param(cmdline: &str, key: &str) -> Option<String> {
    cmdline.split_whitespace().filter_map(|o| o.split_once('=')).filter(|(k, _)| *k == key).map(|(_, v)| v.to_string()).last()
}

fn hostname(ctx: &Ctx) -> Option<String> {
    let h = ctx
        .attr("/proc/sys/kernel/hostname")
        .filter(|h| !h.is_empty())
        .or_else(|| ctx.attr("/etc/hostname").and_then(|h| h.lines().next().map(str::trim).map(str::to_string)).filter(|h| !h.is_empty()));
    if h.is_none() {
        ctx.warn("hostname unknown (/proc/sys/kernel/hostname, /etc/hostname)");
    }
    h
}

/// IPA's `guess_root_disk`: by (size, name), the first disk of at least 4 GiB.
fn guess_root_disk(disks: &[Value]) -> Option<Value> {
    let mut d: Vec<&Value> = disks.iter().collect();
    d.sort_by(|a, b| {
        (a["size"].as_u64().unwrap_or(0), a["name"].as_str().unwrap_or("")).cmp(&(b["size"].as_u64().unwrap_or(0), b["name"].as_str().unwrap_or("")))
    });
    d.into_iter().find(|x| x["size"].as_u64().unwrap_or(0) >= 4 << 30).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_params() {
        let c = "BOOT_IMAGE=/vmlinuz ipa-api-url=http://x BOOTIF=01-52-54-00-aa-bb-cc quiet BOOTIF=52:54:00:aa:bb:cc\n";
        assert_eq!(kernel_param(c, "BOOTIF").as_deref(), Some("52:54:00:aa:bb:cc"));
        assert_eq!(kernel_param(c, "ipa-api-url").as_deref(), Some("http://x"));
        assert_eq!(kernel_param(c, "nope"), None);
    }

    #[test]
    fn root_disk_guess() {
        let d = vec![
            json!({"name": "/dev/sdb", "size": 8u64 << 30}),
            json!({"name": "/dev/sda", "size": 8u64 << 30}),
            json!({"name": "/dev/sdc", "size": 1u64 << 30}),
        ];
        assert_eq!(guess_root_disk(&d).unwrap()["name"], "/dev/sda");
        assert!(guess_root_disk(&d[2..]).is_none());
    }
}

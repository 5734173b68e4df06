//! What changed in a machine's hardware between two inspections: disks, NICs, DIMMs, CPU,
//! memory, firmware, system identity and BMC. Pure: two reports in, a list of changes out.
//!
//! Components are matched by identity, not position: disks by serial (then WWN, then name),
//! NICs by MAC, DIMMs by their SMBIOS locator (from the `dmi` data of IPA's `dmi-decode`
//! collector). Values that change on every boot (IP addresses, carrier, the free-memory
//! total, boot interface) are not compared, so a diff of two inspections of an untouched
//! machine is empty.

use serde::Serialize;
use serde_json::Value;

/// The kind of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference between two inspections.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `disk`, `nic`, `dimm`, `cpu`, `memory`, `firmware`, `system`, `bmc`, `boot`.
    pub component: &'static str,
    /// Which one: a disk's serial or name, a MAC, a DIMM locator; empty for singletons.
    pub id: String,
    pub kind: ChangeKind,
    /// For `changed`: the field that differs.
    pub field: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// A line for people, e.g. `disk S3Z1NX0K added (/dev/sdb, 480 GB, SAMSUNG MZ7LH480)`.
    pub summary: String,
}

/// One inspection's data: the inventory and the plugin data (which holds `dmi`, when the
/// `dmi-decode` collector ran).
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub inventory: &'a Value,
    pub plugin_data: &'a Value,
}

const DISK_FIELDS: &[&str] = &["name", "size", "model", "vendor", "wwn", "rotational", "hctl", "by_path", "tran", "logical_sectors", "physical_sectors"];
const NIC_FIELDS: &[&str] = &["name", "vendor", "product", "driver", "speed_mbps", "pci_address", "biosdevname"];
const DIMM_FIELDS: &[&str] = &["Size", "Serial Number", "Part Number", "Manufacturer", "Type", "Speed", "Configured Memory Speed", "Rank"];
const CPU_FIELDS: &[&str] = &["model_name", "count", "architecture", "socket_count", "frequency"];
const FIRMWARE_FIELDS: &[&str] = &["vendor", "version", "build_date"];
const SYSTEM_FIELDS: &[&str] = &["manufacturer", "product_name", "serial_number", "sku", "version", "uuid"];

/// The differences from `old` to `new`, in a stable order: system, firmware, BMC, boot, CPU,
/// memory, DIMMs, disks, NICs.
pub fn diff(old: Report<'_>, new: Report<'_>) -> Vec<Change> {
    let mut out = Vec::new();
    let (oi, ni) = (old.inventory, new.inventory);
    singleton(&mut out, "system", &oi["system_vendor"], &ni["system_vendor"], SYSTEM_FIELDS);
    singleton(&mut out, "firmware", &oi["system_vendor"]["firmware"], &ni["system_vendor"]["firmware"], FIRMWARE_FIELDS);
    singleton(&mut out, "bmc", oi, ni, &["bmc_address", "bmc_v6address", "bmc_mac"]);
    singleton(&mut out, "boot", &oi["boot"], &ni["boot"], &["current_boot_mode"]);
    singleton(&mut out, "cpu", &oi["cpu"], &ni["cpu"], CPU_FIELDS);
    cpu_flags(&mut out, &oi["cpu"]["flags"], &ni["cpu"]["flags"]);
    singleton(&mut out, "memory", &oi["memory"], &ni["memory"], &["physical_mb"]);
    let dimms = |r: Report<'_>| -> Vec<(String, Value)> {
        r.plugin_data["dmi"]["memory"]["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| installed_dimm(d))
            .filter_map(|d| Some((d.get("Locator")?.as_str()?.to_string(), d.clone())))
            .collect()
    };
    collection(&mut out, "dimm", dimms(old), dimms(new), DIMM_FIELDS, dimm_label);
    collection(&mut out, "disk", keyed(oi["disks"].as_array(), disk_id), keyed(ni["disks"].as_array(), disk_id), DISK_FIELDS, disk_label);
    collection(&mut out, "nic", keyed(oi["interfaces"].as_array(), nic_id), keyed(ni["interfaces"].as_array(), nic_id), NIC_FIELDS, nic_label);
    out
}

fn installed_dimm(d: &Value) -> bool {
    match d.get("Size").and_then(Value::as_str) {
        Some(s) => !s.is_empty() && !s.starts_with("No Module") && s != "Not Installed" && s != "0" && s != "Unknown",
        None => false,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn disk_id(d: &Value) -> Option<String> {
    text(&d["serial"]).or_else(|| text(&d["wwn"])).or_else(|| text(&d["name"]))
}

fn nic_id(n: &Value) -> Option<String> {
    n["mac_address"].as_str().map(str::trim).filter(|m| !m.is_empty()).map(|m| m.to_ascii_lowercase())
}

fn keyed(items: Option<&Vec<Value>>, id: fn(&Value) -> Option<String>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for item in items.into_iter().flatten() {
        if let Some(k) = id(item) {
            // Two components with one identity (a multipath disk seen twice): keep the first.
            if !out.iter().any(|(o, _)| *o == k) {
                out.push((k, item.clone()));
            }
        }
    }
    out
}

fn gb(v: &Value) -> String {
    match v.as_u64() {
        Some(b) if b >= 1_000_000_000 => format!("{} GB", b / 1_000_000_000),
        Some(b) => format!("{b} B"),
        None => "size unknown".into(),
    }
}

fn join(parts: &[Option<String>]) -> String {
    parts.iter().flatten().cloned().collect::<Vec<_>>().join(", ")
}

fn disk_label(d: &Value) -> String {
    let model = [text(&d["vendor"]), text(&d["model"])].into_iter().flatten().collect::<Vec<_>>().join(" ");
    join(&[text(&d["name"]), Some(gb(&d["size"])), Some(model).filter(|m| !m.is_empty())])
}

fn nic_label(n: &Value) -> String {
    join(&[text(&n["name"]), text(&n["driver"]), text(&n["speed_mbps"]).map(|s| format!("{s} Mb/s"))])
}

fn dimm_label(d: &Value) -> String {
    join(&[text(&d["Size"]), text(&d["Type"]), text(&d["Manufacturer"]), text(&d["Serial Number"]).map(|s| format!("serial {s}"))])
}

fn singleton(out: &mut Vec<Change>, component: &'static str, old: &Value, new: &Value, fields: &[&str]) {
    for f in fields {
        let (a, b) = (&old[*f], &new[*f]);
        if a != b {
            out.push(Change {
                component,
                id: String::new(),
                kind: ChangeKind::Changed,
                field: Some(f.to_string()),
                before: Some(a.clone()),
                after: Some(b.clone()),
                summary: format!("{component} {f}: {} -> {}", show(a), show(b)),
            });
        }
    }
}

fn cpu_flags(out: &mut Vec<Change>, old: &Value, new: &Value) {
    let set = |v: &Value| -> std::collections::BTreeSet<String> { v.as_array().into_iter().flatten().filter_map(|f| f.as_str().map(str::to_string)).collect() };
    let (a, b) = (set(old), set(new));
    let added: Vec<&String> = b.difference(&a).collect();
    let removed: Vec<&String> = a.difference(&b).collect();
    if added.is_empty() && removed.is_empty() {
        return;
    }
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("+{}", added.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" +")));
    }
    if !removed.is_empty() {
        parts.push(format!("-{}", removed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" -")));
    }
    out.push(Change {
        component: "cpu",
        id: String::new(),
        kind: ChangeKind::Changed,
        field: Some("flags".into()),
        before: Some(Value::from(removed.into_iter().cloned().collect::<Vec<_>>())),
        after: Some(Value::from(added.into_iter().cloned().collect::<Vec<_>>())),
        summary: format!("cpu flags: {}", parts.join(" ")),
    });
}

fn collection(
    out: &mut Vec<Change>,
    component: &'static str,
    old: Vec<(String, Value)>,
    new: Vec<(String, Value)>,
    fields: &[&str],
    label: fn(&Value) -> String,
) {
    for (k, o) in &old {
        match new.iter().find(|(n, _)| n == k) {
            None => out.push(Change {
                component,
                id: k.clone(),
                kind: ChangeKind::Removed,
                field: None,
                before: Some(o.clone()),
                after: None,
                summary: format!("{component} {k} removed ({})", label(o)),
            }),
            Some((_, n)) => {
                for f in fields {
                    let (a, b) = (&o[*f], &n[*f]);
                    if a != b {
                        out.push(Change {
                            component,
                            id: k.clone(),
                            kind: ChangeKind::Changed,
                            field: Some(f.to_string()),
                            before: Some(a.clone()),
                            after: Some(b.clone()),
                            summary: format!("{component} {k} {f}: {} -> {}", show(a), show(b)),
                        });
                    }
                }
            }
        }
    }
    for (k, n) in &new {
        if !old.iter().any(|(o, _)| o == k) {
            out.push(Change {
                component,
                id: k.clone(),
                kind: ChangeKind::Added,
                field: None,
                before: None,
                after: Some(n.clone()),
                summary: format!("{component} {k} added ({})", label(n)),
            });
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> (Value, Value) {
        let inv = json!({
            "system_vendor": {"manufacturer": "Dell Inc.", "product_name": "PowerEdge R640", "serial_number": "ABC123",
                              "firmware": {"vendor": "Dell Inc.", "version": "2.10.0", "build_date": "01/01/2024"}},
            "cpu": {"model_name": "Xeon Gold 6130", "count": 32, "architecture": "x86_64", "socket_count": 2, "frequency": "2100", "flags": ["vmx", "sse4_2"]},
            "memory": {"total": 201234567168u64, "physical_mb": 196608},
            "disks": [
                {"name": "/dev/sda", "size": 480103981056u64, "model": "MZ7LH480", "vendor": "SAMSUNG", "serial": "S1", "rotational": false},
                {"name": "/dev/sdb", "size": 480103981056u64, "model": "MZ7LH480", "vendor": "SAMSUNG", "serial": "S2", "rotational": false}
            ],
            "interfaces": [
                {"name": "eno1", "mac_address": "AA:BB:CC:00:00:01", "ipv4_address": "10.0.0.5", "has_carrier": true, "driver": "ixgbe", "speed_mbps": 10000},
                {"name": "eno2", "mac_address": "aa:bb:cc:00:00:02", "ipv4_address": null, "has_carrier": false, "driver": "ixgbe", "speed_mbps": 10000}
            ],
            "bmc_address": "10.1.0.5", "bmc_mac": "aa:bb:cc:ff:ff:ff",
            "boot": {"current_boot_mode": "uefi", "pxe_interface": "aa:bb:cc:00:00:01"}
        });
        let pd = json!({"dmi": {"memory": {"devices": [
            {"Locator": "A1", "Size": "32 GB", "Serial Number": "D1", "Type": "DDR4", "Manufacturer": "Hynix"},
            {"Locator": "A2", "Size": "32 GB", "Serial Number": "D2", "Type": "DDR4", "Manufacturer": "Hynix"},
            {"Locator": "A3", "Size": "No Module Installed"}
        ]}}});
        (inv, pd)
    }

    fn run(a: &(Value, Value), b: &(Value, Value)) -> Vec<Change> {
        diff(Report { inventory: &a.0, plugin_data: &a.1 }, Report { inventory: &b.0, plugin_data: &b.1 })
    }

    #[test]
    fn an_untouched_machine_has_no_changes_even_if_volatile_values_moved() {
        let a = base();
        let mut b = base();
        b.0["interfaces"][0]["ipv4_address"] = json!("10.0.0.99");
        b.0["interfaces"][1]["has_carrier"] = json!(true);
        b.0["memory"]["total"] = json!(201234000000u64);
        b.0["boot"]["pxe_interface"] = json!("aa:bb:cc:00:00:02");
        // Order of disks and NICs does not matter, nor MAC case.
        b.0["disks"].as_array_mut().unwrap().reverse();
        b.0["interfaces"][0]["mac_address"] = json!("aa:bb:cc:00:00:01");
        assert_eq!(run(&a, &b), vec![]);
        assert_eq!(run(&a, &a), vec![]);
    }

    #[test]
    fn a_dimm_gone_a_disk_replaced_a_nic_added_firmware_updated() {
        let a = base();
        let mut b = base();
        b.1["dmi"]["memory"]["devices"][1] = json!({"Locator": "A2", "Size": "No Module Installed"});
        b.0["memory"]["physical_mb"] = json!(163840);
        b.0["disks"][1] = json!({"name": "/dev/sdb", "size": 960197124096u64, "model": "MZ7LH960", "vendor": "SAMSUNG", "serial": "S9", "rotational": false});
        b.0["interfaces"].as_array_mut().unwrap().push(json!({"name": "ens1f0", "mac_address": "aa:bb:cc:00:00:03", "driver": "mlx5_core", "speed_mbps": 25000}));
        b.0["system_vendor"]["firmware"]["version"] = json!("2.19.1");
        let got = run(&a, &b);
        let summaries: Vec<&str> = got.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "firmware version: 2.10.0 -> 2.19.1",
                "memory physical_mb: 196608 -> 163840",
                "dimm A2 removed (32 GB, DDR4, Hynix, serial D2)",
                "disk S2 removed (/dev/sdb, 480 GB, SAMSUNG MZ7LH480)",
                "disk S9 added (/dev/sdb, 960 GB, SAMSUNG MZ7LH960)",
                "nic aa:bb:cc:00:00:03 added (ens1f0, mlx5_core, 25000 Mb/s)",
            ]
        );
        assert_eq!(got[0].kind, ChangeKind::Changed);
        assert_eq!((got[0].before.clone(), got[0].after.clone()), (Some(json!("2.10.0")), Some(json!("2.19.1"))));
        assert_eq!((got[2].kind, got[3].kind, got[4].kind), (ChangeKind::Removed, ChangeKind::Removed, ChangeKind::Added));
        // And back again: every change mirrored.
        let back = run(&b, &a);
        assert_eq!(back.len(), got.len());
        assert!(back.iter().any(|c| c.summary == "disk S2 added (/dev/sdb, 480 GB, SAMSUNG MZ7LH480)"));
    }

    #[test]
    fn field_changes_on_matched_components() {
        let a = base();
        let mut b = base();
        b.0["interfaces"][0]["name"] = json!("enp1s0f0");
        b.0["interfaces"][0]["speed_mbps"] = json!(1000);
        b.0["disks"][0]["name"] = json!("/dev/sdc");
        b.0["cpu"]["flags"] = json!(["sse4_2", "avx512f"]);
        b.0["bmc_address"] = json!("10.1.0.6");
        b.1["dmi"]["memory"]["devices"][0]["Serial Number"] = json!("D7");
        let got: Vec<String> = run(&a, &b).into_iter().map(|c| c.summary).collect();
        assert_eq!(
            got,
            [
                "bmc bmc_address: 10.1.0.5 -> 10.1.0.6",
                "cpu flags: +avx512f -vmx",
                "dimm A1 Serial Number: D1 -> D7",
                "disk S1 name: /dev/sda -> /dev/sdc",
                "nic aa:bb:cc:00:00:01 name: eno1 -> enp1s0f0",
                "nic aa:bb:cc:00:00:01 speed_mbps: 10000 -> 1000",
            ]
        );
    }

    #[test]
    fn disks_without_serial_fall_back_to_wwn_then_name_and_garbage_is_tolerated() {
        let a = (json!({"disks": [{"name": "/dev/vda", "size": 1, "serial": ""}, {"name": "/dev/vdb", "wwn": "0x5000", "serial": null}]}), json!({}));
        let b = (json!({"disks": [{"name": "/dev/vda", "size": 2}, {"name": "/dev/vdc", "wwn": "0x5000"}]}), json!({}));
        let got: Vec<String> = run(&a, &b).into_iter().map(|c| c.summary).collect();
        assert_eq!(got, ["disk /dev/vda size: 1 -> 2", "disk 0x5000 name: /dev/vdb -> /dev/vdc"]);
        // Hostile shapes: no panic, and changes where there is something to compare.
        let junk = (json!({"disks": "nope", "interfaces": [1, null, {"mac_address": 5}], "cpu": [], "memory": null}), json!({"dmi": 7}));
        let empty = (json!({}), json!(null));
        assert!(run(&junk, &empty).is_empty());
        assert!(run(&empty, &junk).is_empty());
        let dup = (json!({"disks": [{"serial": "X", "name": "/dev/sda"}, {"serial": "X", "name": "/dev/sdb"}]}), json!({}));
        assert!(run(&dup, &dup).is_empty());
    }
}

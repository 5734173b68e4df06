//! Out-of-band inspection over Redfish (Ironic's `redfish/inspect.py`): the ComputerSystem,
//! its processors, memory summary, Ethernet interfaces and storage become an inventory in
//! IPA's schema, so the conductor runs the same processing hooks and inspection rules over it
//! as over an agent's report. Also, as Ironic: `memory_mb` and `local_gb` (the first disk of
//! at least 4 GiB, in GiB less one) straight into the properties, the boot mode capability,
//! and a port for every NIC in the `Enabled` state.

use super::*;

const GIB: u64 = 1 << 30;

/// Ironic's PROCESSOR_INSTRUCTION_SET_MAP.
fn architecture(instruction_set: Option<&str>, arch: Option<&str>) -> &'static str {
    match instruction_set {
        Some("ARM-A32") => "arm",
        Some("ARM-A64") => "aarch64",
        Some("IA-64") => "ia64",
        Some("MIPS32") => "mips",
        Some("MIPS64") => "mips64",
        Some("x86") => "i686",
        Some("x86-64") => "x86_64",
        _ => match arch {
            // Older services give only ProcessorArchitecture.
            Some("x86") => "x86_64",
            Some("IA-64") => "ia64",
            Some("ARM") => "arm",
            Some("MIPS") => "mips",
            _ => "",
        },
    }
}

async fn members(rf: &Redfish, node: &Node, info: &RedfishInfo, collection: &str) -> DResult<Vec<Value>> {
    let coll = match rf.client.get_optional(info, collection).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            tracing::debug!(node = %node.uuid, %collection, "not provided by the BMC");
            return Ok(Vec::new());
        }
        Err(e) => return Err(fail(node)(e)),
    };
    let mut out = Vec::new();
    for m in coll.body.get("Members").and_then(Value::as_array).cloned().unwrap_or_default() {
        // Expanded collections carry the members inline.
        if m.as_object().is_some_and(|o| o.len() > 1) {
            out.push(m);
            continue;
        }
        let Some(p) = m.get("@odata.id").and_then(Value::as_str) else { continue };
        match rf.client.get_optional(info, p).await {
            Ok(Some(r)) => out.push(r.body),
            Ok(None) => {}
            Err(e) => return Err(fail(node)(e)),
        }
    }
    Ok(out)
}

fn link<'a>(sys: &'a System, name: &str) -> Option<&'a str> {
    sys.body.get(name).and_then(|v| v.get("@odata.id")).and_then(Value::as_str)
}

pub async fn inspect(rf: &Redfish, node: &Node) -> DResult<OobInspection> {
    let (info, sys) = rf.system(node).await?;
    let mut inventory = serde_json::Map::new();
    let mut properties = Dict::new();

    // Memory.
    if let Some(gib) = sys.body.pointer("/MemorySummary/TotalSystemMemoryGiB").and_then(Value::as_f64) {
        if gib > 0.0 {
            let mb = (gib * 1024.0).round() as u64;
            properties.insert("memory_mb".into(), mb.into());
            inventory.insert("memory".into(), serde_json::json!({"physical_mb": mb, "total": mb * 1024 * 1024}));
        }
    }

    // CPU: logical CPUs, as sushy's `processors.summary` (the sum of TotalThreads), else the
    // summary's LogicalProcessorCount; ProcessorSummary.Count is the number of sockets and is
    // the last resort. Then the first processor's model, speed and instruction set.
    let mut cpu = serde_json::json!({"count": 0, "architecture": ""});
    let summary = |k: &str| sys.body.pointer(&format!("/ProcessorSummary/{k}")).and_then(Value::as_u64);
    if let Some(c) = summary("LogicalProcessorCount").or_else(|| summary("Count")) {
        cpu["count"] = c.into();
    }
    if let Some(p) = link(&sys, "Processors") {
        let procs = members(rf, node, &info, p).await?;
        let threads: u64 = procs.iter().filter_map(|p| p.get("TotalThreads").and_then(Value::as_u64)).sum();
        if threads > 0 {
            cpu["count"] = threads.into();
        }
        if let Some(first) = procs.first() {
            if let Some(m) = first.get("Model").and_then(Value::as_str) {
                cpu["model_name"] = m.into();
            }
            if let Some(f) = first.get("MaxSpeedMHz").and_then(Value::as_u64) {
                cpu["frequency"] = f.to_string().into();
            }
            cpu["architecture"] = architecture(
                first.get("InstructionSet").and_then(Value::as_str),
                first.get("ProcessorArchitecture").and_then(Value::as_str),
            )
            .into();
        }
    }
    inventory.insert("cpu".into(), cpu);

    // Disks: Storage drives, else SimpleStorage devices.
    let mut disks = Vec::new();
    let mut simple_sizes = Vec::new();
    let mut volume_sizes = Vec::new();
    let mut drive_sizes = Vec::new();
    if let Some(p) = link(&sys, "Storage") {
        for st in members(rf, node, &info, p).await? {
            for d in st.get("Drives").and_then(Value::as_array).cloned().unwrap_or_default() {
                let Some(dp) = d.get("@odata.id").and_then(Value::as_str) else { continue };
                let drive = match rf.client.get_optional(&info, dp).await {
                    Ok(Some(r)) => r.body,
                    Ok(None) => continue,
                    Err(e) => return Err(fail(node)(e)),
                };
                let size = drive.get("CapacityBytes").and_then(Value::as_u64).unwrap_or(0);
                drive_sizes.push(size);
                disks.push(disk(&drive, size));
            }
            if let Some(vp) = st.get("Volumes").and_then(|v| v.get("@odata.id")).and_then(Value::as_str) {
                for v in members(rf, node, &info, vp).await? {
                    volume_sizes.push(v.get("CapacityBytes").and_then(Value::as_u64).unwrap_or(0));
                }
            }
        }
    }
    if let Some(p) = link(&sys, "SimpleStorage") {
        let simple_disks = disks.is_empty();
        for st in members(rf, node, &info, p).await? {
            for d in st.get("Devices").and_then(Value::as_array).cloned().unwrap_or_default() {
                let size = d.get("CapacityBytes").and_then(Value::as_u64).unwrap_or(0);
                simple_sizes.push(size);
                if simple_disks {
                    disks.push(disk(&d, size));
                }
            }
        }
    }
    if !disks.is_empty() || link(&sys, "Storage").is_some() || link(&sys, "SimpleStorage").is_some() {
        inventory.insert("disks".into(), Value::Array(disks));
    }
    properties.insert("local_gb".into(), local_gb(&simple_sizes, &volume_sizes, &drive_sizes).to_string().into());

    // NICs.
    let mut enabled_macs = Vec::new();
    if let Some(p) = link(&sys, "EthernetInterfaces") {
        let mut ifaces = Vec::new();
        for e in members(rf, node, &info, p).await? {
            let mac = e.get("MACAddress").or_else(|| e.get("PermanentMACAddress")).and_then(Value::as_str).map(|m| m.to_ascii_lowercase());
            let Some(mac) = mac else { continue };
            let name = e.get("Id").and_then(Value::as_str).unwrap_or("").to_string();
            let mut iface = serde_json::json!({"name": name, "mac_address": mac});
            if let Some(ip) = e.pointer("/IPv4Addresses/0/Address").and_then(Value::as_str) {
                iface["ipv4_address"] = ip.into();
            }
            if let Some(speed) = e.get("SpeedMbps").and_then(Value::as_u64) {
                iface["speed_mbps"] = speed.into();
            }
            if e.pointer("/Status/State").and_then(Value::as_str) == Some("Enabled") {
                enabled_macs.push(mac.clone());
            }
            ifaces.push(iface);
        }
        inventory.insert("interfaces".into(), Value::Array(ifaces));
    }

    // Identity.
    let mut vendor = serde_json::Map::new();
    if let Some(n) = sys.str("/Model").or_else(|| sys.str("/Name")) {
        vendor.insert("product_name".into(), n.into());
    }
    if let Some(s) = sys.str("/SerialNumber") {
        vendor.insert("serial_number".into(), s.into());
    }
    if let Some(m) = sys.str("/Manufacturer") {
        vendor.insert("manufacturer".into(), m.into());
    }
    if let Some(s) = sys.str("/SKU") {
        vendor.insert("sku".into(), s.into());
    }
    if let Some(u) = sys.str("/UUID") {
        vendor.insert("system_uuid".into(), u.to_ascii_lowercase().into());
    }
    if !vendor.is_empty() {
        inventory.insert("system_vendor".into(), Value::Object(vendor));
    }

    // Boot mode.
    let mode = match sys.str("/Boot/BootSourceOverrideMode") {
        Some("UEFI") => Some("uefi"),
        Some("Legacy") => Some("bios"),
        _ => None,
    };
    if let Some(m) = mode {
        inventory.insert("boot".into(), serde_json::json!({"current_boot_mode": m}));
    }
    if !inventory.contains_key("interfaces") {
        tracing::warn!(node = %node.uuid, "No NIC information discovered for the node");
    }
    Ok(OobInspection { inventory: Value::Object(inventory), properties, enabled_macs, boot_mode: mode.map(str::to_string) })
}

fn disk(d: &Value, size: u64) -> Value {
    let mut out = serde_json::json!({
        "name": d.get("Name").and_then(Value::as_str).or_else(|| d.get("Id").and_then(Value::as_str)).unwrap_or(""),
        "size": size,
    });
    for (from, to) in [("Model", "model"), ("SerialNumber", "serial"), ("Manufacturer", "vendor")] {
        if let Some(v) = d.get(from).and_then(Value::as_str) {
            out[to] = v.into();
        }
    }
    if let Some(m) = d.get("MediaType").and_then(Value::as_str) {
        out["rotational"] = (m == "HDD").into();
    }
    out
}

/// Ironic's `_detect_local_gb`: per source the first size of at least 4 GiB; the smaller of
/// simple storage and storage when both have one; in GiB, less one.
pub fn local_gb(simple: &[u64], volumes: &[u64], drives: &[u64]) -> u64 {
    let first = |v: &[u64]| v.iter().copied().find(|s| *s >= 4 * GIB).unwrap_or(0);
    let s = first(simple);
    let mut st = first(volumes);
    if st == 0 {
        st = first(drives);
    }
    let bytes = if s > 0 && st > 0 { s.min(st) } else { s.max(st) };
    (bytes / GIB).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_gb_is_ironics() {
        assert_eq!(local_gb(&[], &[], &[]), 0);
        assert_eq!(local_gb(&[GIB, 100 * GIB], &[], &[]), 99);
        assert_eq!(local_gb(&[100 * GIB], &[50 * GIB], &[10 * GIB]), 49);
        assert_eq!(local_gb(&[], &[], &[2 * GIB, 20 * GIB]), 19);
        assert_eq!(local_gb(&[], &[3 * GIB], &[8 * GIB]), 7);
    }

    #[test]
    fn instruction_sets_map_to_ironics_architectures() {
        assert_eq!(architecture(Some("x86-64"), None), "x86_64");
        assert_eq!(architecture(Some("ARM-A64"), None), "aarch64");
        assert_eq!(architecture(None, Some("x86")), "x86_64");
        assert_eq!(architecture(Some("OEM"), None), "");
    }
}

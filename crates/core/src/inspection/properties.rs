//! The hooks that set node properties from the inventory: architecture, cpus, memory,
//! boot-mode, cpu-capabilities, pci-devices, accelerators (Ironic's
//! `ironic/drivers/modules/inspector/hooks/*.py`, same names, same checks, same texts).

use super::py::{self, invalid_inventory, truthy, unexpected, HResult};
use super::{HookConfig, State};
use crate::model::Dict;
use serde_json::{json, Value};

/// Ironic's `utils.get_updated_capabilities`: `"k:v,k2:v2"` updated in place, new keys
/// appended in order.
pub fn updated_capabilities(current: Option<&Value>, new: &[(String, String)]) -> Result<String, String> {
    let mut caps: Vec<(String, String)> = Vec::new();
    match current {
        None => {}
        Some(v) if !truthy(v) => {}
        Some(Value::String(s)) => {
            for part in s.split(',') {
                let Some((k, v)) = part.split_once(':') else {
                    return Err(format!("Invalid capabilities string '{s}'."));
                };
                match caps.iter_mut().find(|(ek, _)| ek == k) {
                    Some(e) => e.1 = v.to_string(),
                    None => caps.push((k.to_string(), v.to_string())),
                }
            }
        }
        Some(other) => return Err(format!("'{}' object has no attribute 'split'", py::type_name(other))),
    }
    for (k, v) in new {
        match caps.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = v.clone(),
            None => caps.push((k.clone(), v.clone())),
        }
    }
    Ok(caps.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(","))
}

fn set_capabilities(st: &mut State, new: &[(String, String)]) -> HResult<()> {
    let caps = match updated_capabilities(st.props.get("capabilities"), new) {
        Ok(c) => c,
        Err(e) if e.starts_with("Invalid") => return unexpected("ValueError", e),
        Err(e) => return unexpected("AttributeError", e),
    };
    st.props.insert("capabilities".into(), Value::String(caps));
    Ok(())
}

/// `inventory.get(key, {})`.
fn section<'a>(inventory: &'a Value, key: &str) -> HResult<Option<&'a Value>> {
    py::get(inventory, key)
}

pub(crate) fn architecture(st: &mut State) -> HResult<()> {
    let arch = py::index(st.inventory, "cpu").and_then(|c| py::index(c, "architecture")).map_err(|_| {
        let cpu = st.inventory.get("cpu").map_or("None".to_string(), py::repr);
        invalid_inventory(
            st.node_uuid,
            format!("Inventory has malformed or missing CPU architecture information: {cpu} for node {}.", st.node_uuid),
        )
    })?;
    if arch.as_str().is_none_or(str::is_empty) {
        st.warnings.push(format!("CPU architecture {} is not a name", py::repr(arch)));
    }
    st.props.insert("cpu_arch".into(), arch.clone());
    Ok(())
}

pub(crate) fn cpus(st: &mut State) -> HResult<()> {
    let count = match section(st.inventory, "cpu")? {
        None => json!(0),
        Some(cpu) => py::get(cpu, "count")?.cloned().unwrap_or(json!(0)),
    };
    let n = py::int_of(&count)?;
    if n == 0 {
        st.warnings.push("No CPU count available".into());
        return Ok(());
    }
    if n < 0 {
        st.warnings.push(format!("CPU count {n} is negative"));
    }
    st.props.insert("cpus".into(), json!(n));
    Ok(())
}

pub(crate) fn memory(st: &mut State) -> HResult<()> {
    let mb = py::index(st.inventory, "memory").and_then(|m| py::index(m, "physical_mb")).map_err(|_| {
        let mem = st.inventory.get("memory").map_or("None".to_string(), py::repr);
        invalid_inventory(st.node_uuid, format!("Inventory has missing memory information: {mem} for node {}.", st.node_uuid))
    })?;
    if !mb.is_u64() {
        st.warnings.push(format!("memory physical_mb {} is not a whole number", py::repr(mb)));
    }
    st.props.insert("memory_mb".into(), mb.clone());
    Ok(())
}

pub(crate) fn boot_mode(st: &mut State) -> HResult<()> {
    let mode = match section(st.inventory, "boot")? {
        None => None,
        Some(boot) => py::get(boot, "current_boot_mode")?.filter(|v| !v.is_null()),
    };
    let Some(mode) = mode else {
        st.warnings.push("No boot mode information available".into());
        return Ok(());
    };
    let mode = py::str_of(mode);
    set_capabilities(st, &[("boot_mode".into(), mode)])
}

pub(crate) fn cpu_capabilities(st: &mut State, cfg: &HookConfig) -> HResult<()> {
    let flags = match section(st.inventory, "cpu")? {
        None => None,
        Some(cpu) => py::get(cpu, "flags")?.filter(|v| truthy(v)),
    };
    let Some(flags) = flags else {
        st.warnings.push("No CPU flags available".into());
        return Ok(());
    };
    // set(cpu_flags): a list's items, a string's characters, a dict's keys.
    let set: Vec<String> = match flags {
        Value::Array(items) => {
            let mut s = Vec::new();
            for i in items {
                match i {
                    Value::Array(_) | Value::Object(_) => return unexpected("TypeError", format!("unhashable type: '{}'", py::type_name(i))),
                    Value::String(f) => s.push(f.clone()),
                    _ => {}
                }
            }
            s
        }
        Value::String(s) => s.chars().map(String::from).collect(),
        Value::Object(o) => o.keys().cloned().collect(),
        other => return unexpected("TypeError", format!("'{}' object is not iterable", py::type_name(other))),
    };
    let mut new: Vec<(String, String)> = Vec::new();
    for (flag, name) in &cfg.cpu_capabilities {
        if set.contains(flag) {
            match new.iter_mut().find(|(k, _)| k == name) {
                Some(e) => e.1 = "true".into(),
                None => new.push((name.clone(), "true".into())),
            }
        }
    }
    set_capabilities(st, &new)
}

/// `(vendor_id, product_id)` of a PCI device (`KeyError` / `TypeError` as in Ironic).
fn pci_ids<'a>(dev: &'a Value, product_key: &str) -> HResult<(&'a Value, &'a Value)> {
    Ok((py::index(dev, "vendor_id")?, py::index(dev, product_key)?))
}

fn pci_list(v: &Value) -> HResult<&Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        other => unexpected("TypeError", format!("'{}' object is not iterable", py::type_name(other))),
    }
}

pub(crate) fn pci_devices(st: &mut State, cfg: &HookConfig, plugin_data: &Dict) -> HResult<()> {
    let Some(devs) = plugin_data.get("pci_devices") else {
        if !cfg.pci_device_alias.is_empty() {
            st.warnings.push("No information about PCI devices was received from the ramdisk.".into());
        }
        return Ok(());
    };
    // collections.Counter over the (vendor_id, product_id) pairs that have an alias, in
    // first-seen order.
    let mut counts: Vec<(&super::PciAlias, i64)> = Vec::new();
    for dev in pci_list(devs)? {
        let (vendor, product) = pci_ids(dev, "product_id")?;
        if [vendor, product].iter().any(|v| matches!(v, Value::Array(_) | Value::Object(_))) {
            return unexpected("TypeError", "unhashable type in PCI device ids");
        }
        if let Some(alias) = cfg.pci_device_alias.iter().rev().find(|a| a.vendor_id == *vendor && a.product_id == *product) {
            match counts.iter_mut().find(|(a, _)| a.vendor_id == alias.vendor_id && a.product_id == alias.product_id) {
                Some(c) => c.1 += 1,
                None => counts.push((alias, 1)),
            }
        }
    }
    let mut alias_count: Vec<(String, String)> = Vec::new();
    for (alias, n) in counts {
        let name = py::str_of(&alias.name);
        match alias_count.iter_mut().find(|(k, _)| *k == name) {
            Some(e) => e.1 = n.to_string(),
            None => alias_count.push((name, n.to_string())),
        }
    }
    if alias_count.is_empty() {
        return Ok(());
    }
    set_capabilities(st, &alias_count)
}

pub(crate) fn accelerators(st: &mut State, cfg: &HookConfig, plugin_data: &Dict) -> HResult<()> {
    let devs = match plugin_data.get("pci_devices").filter(|v| truthy(v)) {
        Some(d) => Some(d),
        None => py::get(st.inventory, "pci_devices")?.filter(|v| truthy(v)),
    };
    let Some(devs) = devs else {
        st.warnings.push(
            "Unable to process accelerator devices because no PCI device information was received from the ramdisk".into(),
        );
        return Ok(());
    };
    let mut found = Vec::new();
    for dev in pci_list(devs)? {
        let (vendor, product) = pci_ids(dev, "product_id")?;
        let known = cfg.known_accelerators.iter().find(|k| k.get("vendor_id") == Some(vendor) && k.get("device_id") == Some(product));
        if let Some(known) = known {
            let mut acc = known.clone();
            acc.insert("pci_address".into(), py::index(dev, "bus")?.clone());
            found.push(Value::Object(acc));
        }
    }
    st.props.insert("accelerators".into(), Value::Array(found));
    Ok(())
}

/// Ironic's `known_accelerators.yaml` as shipped with Ironic 39.
pub fn default_known_accelerators() -> Vec<Dict> {
    let devs = json!([
        {"vendor_id": "10de", "device_id": "1eb8", "type": "GPU", "device_info": "NVIDIA Corporation Tesla T4"},
        {"vendor_id": "10de", "device_id": "1df6", "type": "GPU", "device_info": "NVIDIA Corporation GV100GL"},
        {"vendor_id": "10de", "device_id": "2236", "type": "GPU", "device_info": "NVIDIA Corporation A10"},
        {"vendor_id": "10de", "device_id": "2235", "type": "GPU", "device_info": "NVIDIA Corporation A40"},
        {"vendor_id": "10de", "device_id": "26b9", "type": "GPU", "device_info": "NVIDIA Corporation L40S"},
        {"vendor_id": "10de", "device_id": "26ba", "type": "GPU", "device_info": "NVIDIA Corporation L20"}
    ]);
    known_accelerators_from(&json!({"pci_devices": devs})).expect("the built-in list is valid")
}

/// Ironic's `AcceleratorsHook._validate_known_devices` on a parsed known-accelerators file.
pub fn known_accelerators_from(doc: &Value) -> Result<Vec<Dict>, String> {
    let devs = doc.get("pci_devices").filter(|_| truthy(doc)).ok_or("Could not find pci_devices in the configuration data.")?;
    let Value::Array(devs) = devs else {
        return Err("pci_devices in the configuration file should contain a list of devices.".into());
    };
    devs.iter()
        .map(|d| match d {
            Value::Object(o) if o.get("vendor_id").is_some_and(truthy) && o.get("device_id").is_some_and(truthy) => Ok(o.clone()),
            _ => Err("One of the PCI devices in the configuration file is missing vendor_id or device_id.".to_string()),
        })
        .collect()
}

//! Ironic's root-device hook (root device hints and `skip_block_devices`, then `local_gb`
//! from the root disk: size in GiB, minus 1 with `disk_partitioning_spacing`) and raid-device
//! (a root device hint from the one disk that appeared since the previous inspection).

use super::hints::{self, HintError};
use super::py::{self, truthy, unexpected, HResult, HookError};
use super::{HookConfig, State};
use crate::model::Dict;
use serde_json::{json, Value};

const GIB: i64 = 1 << 30;

fn hint_error(e: HintError) -> HookError {
    match e {
        HintError::Invalid(m) => HookError::Unexpected("ValueError", m),
        HintError::Parse(m) => HookError::Unexpected("ParseException", m),
        HintError::Other(c, m) => HookError::Unexpected(c, m),
    }
}

fn disk_name(d: &Value) -> HResult<&Value> {
    py::index(d, "name")
}

fn process_hints(st: &mut State, plugin_data: &mut Dict) -> HResult<()> {
    let Some(hints) = st.props.get("root_device").filter(|h| truthy(h)).cloned() else {
        return Ok(());
    };
    let disks = match py::index(st.inventory, "disks")? {
        Value::Array(d) => d.clone(),
        other => return unexpected("TypeError", format!("'{}' object is not iterable", py::type_name(other))),
    };
    // _get_skip_list_for_node
    let mut skip: Vec<Value> = Vec::new();
    if let Some(skip_hints) = st.props.get("skip_block_devices").filter(|h| truthy(h)) {
        let Value::Array(skip_hints) = skip_hints else {
            return unexpected("TypeError", "skip_block_devices must be a list of root device hints");
        };
        for hint in skip_hints {
            let found = hints::find_devices_by_hints(&disks, hint, false).map_err(hint_error)?;
            let mut newly = Vec::new();
            for dev in found {
                let name = disk_name(dev)?.clone();
                if !skip.contains(&name) {
                    newly.push(py::str_of(&name));
                    skip.push(name);
                }
            }
            if !newly.is_empty() {
                st.warnings.push(format!("Using hint {} skipping devices: {}", py::repr(hint), newly.join(",")));
            }
        }
    }
    let mut candidates = Vec::new();
    for d in disks {
        if skip.is_empty() || !skip.contains(disk_name(&d)?) {
            candidates.push(d);
        }
    }
    let root = match hints::match_root_device_hints(&candidates, &hints) {
        Ok(r) => r.cloned(),
        Err(HintError::Invalid(e)) => {
            return Err(HookError::Failure(format!(
                "No disks could be found using root device hints {} for node {} because they failed to validate. Error: {e}",
                py::repr(&hints),
                st.node_uuid
            )))
        }
        Err(e) => return Err(hint_error(e)),
    };
    let Some(root) = root else {
        return Err(HookError::Failure(format!("No disks satisfied root device hints for node {}", st.node_uuid)));
    };
    plugin_data.insert("root_disk".into(), root);
    Ok(())
}

pub(crate) fn root_device(st: &mut State, cfg: &HookConfig, plugin_data: &mut Dict) -> HResult<()> {
    process_hints(st, plugin_data)?;
    let local_gb = match plugin_data.get("root_disk").filter(|d| truthy(d)) {
        Some(disk) => {
            let size = py::index(disk, "size")?;
            // root_disk['size'] // units.Gi, with Python's floor division.
            let gb = match size {
                Value::Bool(b) => json!(*b as i64 / GIB),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => json!(i.div_euclid(GIB)),
                    None => match n.as_u64() {
                        Some(u) => json!(u / GIB as u64),
                        None => json!((n.as_f64().unwrap_or(0.0) / GIB as f64).floor()),
                    },
                },
                other => {
                    return unexpected("TypeError", format!("unsupported operand type(s) for //: '{}' and 'int'", py::type_name(other)))
                }
            };
            if !truthy(&gb) {
                st.warnings.push(format!(
                    "The requested root disk is too small (smaller than 1 GiB) or its size cannot be detected. Root disk: {}",
                    py::repr(disk)
                ));
                gb
            } else if cfg.disk_partitioning_spacing {
                match (gb.as_i64(), gb.as_u64(), gb.as_f64()) {
                    (Some(i), _, _) => json!(i - 1),
                    (_, Some(u), _) => json!(u - 1),
                    (_, _, Some(f)) => json!(f - 1.0),
                    _ => gb,
                }
            } else {
                gb
            }
        }
        None => {
            st.warnings.push("No root device found. Assuming node is diskless.".into());
            json!(0)
        }
    };
    plugin_data.insert("local_gb".into(), local_gb.clone());
    st.props.insert("local_gb".into(), local_gb);
    Ok(())
}

/// `[x['serial'] for x in inventory.get('disks') if x.get('serial')]`, `None` without disks.
fn serials(inventory: &Value) -> HResult<Option<Vec<Value>>> {
    let Some(disks) = py::get(inventory, "disks")?.filter(|d| truthy(d)) else { return Ok(None) };
    let Value::Array(disks) = disks else {
        return unexpected("TypeError", format!("'{}' object is not iterable", py::type_name(disks)));
    };
    let mut out = Vec::new();
    for d in disks {
        if let Some(s) = py::get(d, "serial")?.filter(|s| truthy(s)) {
            out.push(py::index(d, "serial").map(|_| s.clone())?);
        }
    }
    Ok(Some(out))
}

/// Ironic's raid-device hook. `previous` is the inventory stored by the last inspection.
pub(crate) fn raid_device(st: &mut State) -> HResult<()> {
    if st.props.contains_key("root_device") {
        return Ok(());
    }
    let current = serials(st.inventory)?.filter(|s| !s.is_empty());
    let Some(current) = current else {
        st.warnings.push("No block device information was received from the ramdisk".into());
        return Ok(());
    };
    let Some(previous) = st.previous_inventory else {
        return Ok(());
    };
    // Ironic raises TypeError when the previous inventory had no disks; ferric reads that
    // as "no disks before" (see docs/status.md).
    let previous = serials(previous)?.unwrap_or_default();
    let new: Vec<&Value> = current.iter().filter(|d| !previous.contains(d)).collect();
    match new.as_slice() {
        [one] => {
            st.props.insert("root_device".into(), json!({"serial": one}));
        }
        [] => st.warnings.push("No new devices were found".into()),
        _ => st.warnings.push("Root device cannot be identified because multiple new devices were found".into()),
    }
    Ok(())
}

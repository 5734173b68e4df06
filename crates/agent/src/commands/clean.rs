//! `clean.get_clean_steps` and `clean.execute_clean_step` (`IPA:extensions/clean.py`) with the
//! generic hardware manager's disk steps (`IPA:hardware.py`): `erase_devices` (priority 10),
//! `erase_devices_metadata` (99) and `erase_devices_express` (0).
//!
//! Only implemented steps are advertised, so Ironic never schedules a step this agent would
//! fail to find. The steps touch only the devices the [`DeviceSource`] lists (the inventory's
//! disks), minus the node's `skip_block_devices`.

use super::{async_fn, blocking, sync_fn, Args, Params, Registry, RestError};
use crate::disk::{self, BlockDevice};
use crate::system::{SecureEraseKind, System};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::Arc;

/// The devices the steps may erase.
pub type DeviceSource = Arc<dyn Fn() -> Result<Vec<BlockDevice>, String> + Send + Sync>;

/// The manager name/version pair IPA reports; Ironic hands it back as `clean_version`.
pub const HARDWARE_MANAGER_NAME: &str = "generic_hardware_manager";
pub const HARDWARE_MANAGER_VERSION: &str = "1.2";
/// The key of the step list in `get_clean_steps` (IPA keys it by manager class).
pub const HARDWARE_MANAGER_CLASS: &str = "GenericHardwareManager";

pub fn hardware_manager_version() -> Value {
    json!({ HARDWARE_MANAGER_NAME: HARDWARE_MANAGER_VERSION })
}

/// The advertised clean steps, shaped like IPA's.
pub fn clean_steps() -> Vec<Value> {
    let step = |name: &str, priority: u32| json!({"step": name, "priority": priority, "interface": "deploy", "reboot_requested": false, "abortable": true});
    vec![
        step("erase_devices", 10),
        step("erase_devices_metadata", 99),
        step("erase_devices_express", 0),
    ]
}

pub fn register(
    reg: &mut Registry,
    devices: DeviceSource,
    system: Arc<dyn System>,
    guard_special_filesystems: bool,
) {
    reg.register(
        "clean",
        "get_clean_steps",
        sync_fn(|params| {
            Box::pin(async move {
                let mut a = Args::new("get_clean_steps", params);
                a.require("node").map_err(RestError::invalid_params)?;
                a.require("ports").map_err(RestError::invalid_params)?;
                a.finish().map_err(RestError::invalid_params)?;
                Ok(json!({
                    "clean_steps": { HARDWARE_MANAGER_CLASS: clean_steps() },
                    "hardware_manager_version": hardware_manager_version(),
                }))
            })
        }),
    );
    let eraser = Arc::new(Eraser {
        devices,
        system,
        guard: guard_special_filesystems,
    });
    reg.register(
        "clean",
        "execute_clean_step",
        async_fn(move |params| {
            let eraser = eraser.clone();
            Box::pin(async move { execute_clean_step(eraser, params).await })
        }),
    );
}

async fn execute_clean_step(eraser: Arc<Eraser>, params: Params) -> Result<Value, RestError> {
    let mut a = Args::new("execute_clean_step", params);
    let step = a.require("step").map_err(RestError::execution)?;
    let node = a.require("node").map_err(RestError::execution)?;
    let _ports = a.require("ports").map_err(RestError::execution)?;
    let clean_version = a.optional("clean_version").unwrap_or(Value::Null);
    let mut kwargs = a.rest();
    // IPA's check_versions: a different hardware manager version restarts cleaning.
    if !clean_version.is_null() && clean_version != hardware_manager_version() {
        return Err(RestError::version_mismatch(
            &hardware_manager_version(),
            &clean_version,
        ));
    }
    let name = match step.get("step").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => {
            return Err(RestError::execution(format!(
                "Malformed clean_step, no \"step\" key: {step}"
            )))
        }
    };
    if let Some(Value::Object(args)) = step.get("args") {
        kwargs.extend(args.clone());
    }
    tracing::info!(step = %name, "executing clean step");
    let unexpected = |e: String| {
        RestError::cleaning(format!(
            "Unexpected exception performing clean step {name}. TypeError: {e}"
        ))
    };
    let result = match name.as_str() {
        "erase_devices" | "erase_devices_metadata" | "erase_devices_express" => {
            Args::new(step_fn_name(&name), kwargs)
                .finish()
                .map_err(unexpected)?;
            let e = eraser.clone();
            let n = name.clone();
            blocking(move || match n.as_str() {
                "erase_devices" => e.erase_devices(&node),
                "erase_devices_metadata" => e.erase_devices_metadata(&node),
                _ => e.erase_devices_express(&node),
            })
            .await??
        }
        other => return Err(RestError::method_not_found(other)),
    };
    tracing::info!(step = %name, "clean step completed");
    Ok(json!({"clean_result": result, "clean_step": step}))
}

fn step_fn_name(n: &str) -> &'static str {
    match n {
        "erase_devices" => "erase_devices",
        "erase_devices_metadata" => "erase_devices_metadata",
        _ => "erase_devices_express",
    }
}

/// A `driver_internal_info` flag, tolerating strings as oslo would.
fn flag(node: &Value, key: &str) -> Option<bool> {
    match node.pointer(&format!("/driver_internal_info/{key}"))? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        },
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        _ => None,
    }
}

fn int(node: &Value, key: &str) -> Option<u64> {
    match node.pointer(&format!("/driver_internal_info/{key}"))? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

struct Eraser {
    devices: DeviceSource,
    system: Arc<dyn System>,
    guard: bool,
}

impl Eraser {
    /// The listed devices minus the node's skip list.
    fn devices(&self, node: &Value) -> Result<Vec<BlockDevice>, RestError> {
        let all = (self.devices)().map_err(|e| {
            RestError::block_device_erase(format!("could not list block devices: {e}"))
        })?;
        let skip = disk::skip_list(&all, node).map_err(RestError::cleaning)?;
        Ok(all
            .into_iter()
            .filter(|d| !skip.contains(&d.name))
            .collect())
    }

    /// IPA's `safety_check_block_device` (`[DEFAULT]guard_special_filesystems`, overridable
    /// per node with `driver_internal_info.wipe_special_filesystems=false`).
    fn safety_check(&self, node: &Value, dev: &BlockDevice) -> Result<(), RestError> {
        if !self.guard || flag(node, "wipe_special_filesystems") == Some(false) {
            return Ok(());
        }
        match disk::protected_content(Path::new(&dev.name), dev.sector_size()) {
            Ok(Some(what)) => Err(RestError::protected_device(&dev.name, what)),
            Ok(None) => Ok(()),
            Err(e) => Err(RestError::block_device_erase(format!(
                "could not read {}: {e}",
                dev.name
            ))),
        }
    }

    fn raid_member(&self, dev: &BlockDevice) -> bool {
        disk::is_raid_member(Path::new(&dev.name)).unwrap_or(false)
    }

    /// IPA's `_list_erasable_devices`: reverse-sorted by name, without virtual media, RAID
    /// members and read-only devices.
    fn erasable(&self, node: &Value) -> Result<Vec<BlockDevice>, RestError> {
        let mut devs = self.devices(node)?;
        devs.sort_by(|a, b| b.name.cmp(&a.name));
        Ok(devs
            .into_iter()
            .filter(|d| {
                let f = self.system.device_flags(d);
                let skip = if f.virtual_media {
                    Some("virtual media")
                } else if self.raid_member(d) {
                    Some("RAID member")
                } else if f.read_only {
                    Some("read-only")
                } else {
                    None
                };
                if let Some(why) = skip {
                    tracing::info!(device = %d.name, why, "skipping erasure of device");
                }
                skip.is_none()
            })
            .collect())
    }

    fn destroy_metadata(&self, dev: &BlockDevice) -> Result<(), String> {
        let path = Path::new(&dev.name);
        let report =
            disk::destroy_disk_metadata(path, dev.sector_size()).map_err(|e| e.to_string())?;
        tracing::info!(device = %dev.name, signatures = report.signatures.len(), "disk metadata destroyed");
        if let Err(e) = self.system.reread_partition_table(path) {
            tracing::warn!(device = %dev.name, error = %e, "could not make the kernel re-read the partition table");
        }
        Ok(())
    }

    fn erase_devices_metadata(&self, node: &Value) -> Result<Value, RestError> {
        let devs = self.erasable(node)?;
        // Every device is checked before any is touched.
        for d in &devs {
            self.safety_check(node, d)?;
        }
        let errors: Vec<String> = devs
            .iter()
            .filter_map(|d| {
                self.destroy_metadata(d)
                    .err()
                    .map(|e| format!("\"{}\": {e}", d.name))
            })
            .collect();
        if !errors.is_empty() {
            return Err(RestError::block_device_erase(format!(
                "Failed to erase the metadata on the device(s): {}",
                errors.join("; ")
            )));
        }
        Ok(Value::Null)
    }

    fn erase_devices_express(&self, node: &Value) -> Result<Value, RestError> {
        let devs = self.erasable(node)?;
        for d in &devs {
            self.safety_check(node, d)?;
        }
        let nvme_allowed = flag(node, "agent_enable_nvme_secure_erase").unwrap_or(true);
        let mut errors = Vec::new();
        for d in &devs {
            let mut secure_error = None;
            if d.is_nvme() && nvme_allowed {
                match self.system.secure_erase(d, SecureEraseKind::Nvme) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(device = %d.name, error = %e, "secure erase failed, falling back to a metadata erase");
                        secure_error = Some(e);
                    }
                }
            }
            if let Err(e) = self.destroy_metadata(d) {
                errors.push(match secure_error {
                    Some(s) => format!("\"{}\": Secure erase failed: {s}. Fallback to metadata erase also failed: {e}.", d.name),
                    None => format!("\"{}\": {e}", d.name),
                });
            }
        }
        if !errors.is_empty() {
            return Err(RestError::block_device_erase(format!(
                "Failed to conduct an express erase on the device(s): {}",
                errors.join("\n")
            )));
        }
        Ok(Value::Null)
    }

    /// IPA's `erase_devices`: `{device: null}` for every listed device, erased
    /// `driver_internal_info.disk_erasure_concurrency` (1) at a time.
    fn erase_devices(&self, node: &Value) -> Result<Value, RestError> {
        let devs = self.devices(node)?;
        for d in &devs {
            self.safety_check(node, d)?;
        }
        let concurrency = int(node, "disk_erasure_concurrency").unwrap_or(1).max(1) as usize;
        let mut results: Vec<Option<Result<(), RestError>>> = devs.iter().map(|_| None).collect();
        for (chunk_devs, chunk_results) in devs
            .chunks(concurrency)
            .zip(results.chunks_mut(concurrency))
        {
            std::thread::scope(|s| {
                let handles: Vec<_> = chunk_devs
                    .iter()
                    .map(|d| s.spawn(move || self.erase_block_device(node, d)))
                    .collect();
                for (h, slot) in handles.into_iter().zip(chunk_results.iter_mut()) {
                    *slot = Some(h.join().unwrap_or_else(|_| {
                        Err(RestError::block_device_erase("the erase thread panicked"))
                    }));
                }
            });
        }
        let mut out = Map::new();
        for (d, r) in devs.iter().zip(results) {
            r.unwrap_or(Ok(()))?;
            out.insert(d.name.clone(), Value::Null);
        }
        Ok(Value::Object(out))
    }

    /// IPA's generic `erase_block_device`.
    fn erase_block_device(&self, node: &Value, dev: &BlockDevice) -> Result<(), RestError> {
        let f = self.system.device_flags(dev);
        if f.virtual_media {
            tracing::info!(device = %dev.name, "skipping erase of virtual media device");
            return Ok(());
        }
        if self.raid_member(dev) {
            tracing::info!(device = %dev.name, "skipping erase of RAID member device");
            return Ok(());
        }
        if f.read_only {
            if flag(node, "agent_erase_skip_read_only").unwrap_or(false) {
                tracing::info!(device = %dev.name, "skipping erase of read-only device");
                return Ok(());
            }
            return Err(RestError::block_device_erase(format!(
                "Failed to invoke erase of device {} as the device is flagged read-only, and the conductor has not signaled this is a permitted case.",
                dev.name
            )));
        }
        let (kind, allowed) = if dev.is_nvme() {
            (
                SecureEraseKind::Nvme,
                flag(node, "agent_enable_nvme_secure_erase").unwrap_or(true),
            )
        } else {
            (
                SecureEraseKind::Ata,
                flag(node, "agent_enable_ata_secure_erase").unwrap_or(true),
            )
        };
        if allowed {
            match self.system.secure_erase(dev, kind) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => {
                    let e = RestError::block_device_erase(e);
                    let shred = flag(node, "agent_continue_if_secure_erase_failed")
                        .or_else(|| flag(node, "agent_continue_if_ata_erase_failed"))
                        .unwrap_or(false);
                    if !shred {
                        return Err(RestError::incompatible_hardware(format!(
                            "Failed to invoke secure erase, fallback to shred is not enabled: {e}"
                        )));
                    }
                    tracing::warn!(device = %dev.name, error = %e, "failed to invoke secure erase, falling back to overwriting");
                }
            }
        }
        let passes = int(node, "agent_erase_devices_iterations").unwrap_or(1) as u32;
        let zero = flag(node, "agent_erase_devices_zeroize").unwrap_or(true);
        match disk::overwrite(Path::new(&dev.name), passes, zero) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(device = %dev.name, error = %e, "overwriting the device failed");
                Err(RestError::incompatible_hardware(format!(
                    "Unable to erase block device {}: device is unsupported.",
                    dev.name
                )))
            }
        }
    }
}

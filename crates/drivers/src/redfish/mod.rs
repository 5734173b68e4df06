//! The `redfish` hardware type: power, management (boot device, boot mode, secure boot) and
//! out-of-band inspection through a BMC's Redfish service, after Ironic's `redfish` driver.
//!
//! ferric talks to the BMC with its own thin client (`client.rs`) rather than a Redfish crate:
//! the driver needs a dozen requests, and what matters for a fleet is around them (bounded
//! times, retries, session reuse, size limits, quirks), which is where the crates on
//! crates.io are thin or absent (ARCHITECTURE.md has the comparison).

pub mod client;
pub mod info;
pub mod inspect;
pub mod quirks;

use crate::*;
use client::{RedfishClient, RedfishConfig, RfError};
use info::RedfishInfo;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub fn hardware_type() -> HardwareType {
    crate::bmc_hardware_type("redfish", "redfish", &["redfish", "agent", "no-inspect"])
}

pub fn register(impls: &mut Implementations, config: RedfishConfig) {
    let rf = Arc::new(Redfish { client: RedfishClient::new(config), systems: Mutex::new(HashMap::new()) });
    impls.power.insert("redfish", rf.clone());
    impls.management.insert("redfish", rf.clone());
    impls.generic.entry("inspect").or_default().insert("redfish", rf);
}

/// Every Redfish interface: one client (HTTP pools, sessions) and the cache of resolved
/// system paths.
pub struct Redfish {
    pub client: Arc<RedfishClient>,
    /// `(address, root)` -> the only ComputerSystem's path, for nodes without `redfish_system_id`.
    systems: Mutex<HashMap<(String, String), String>>,
}

/// A ComputerSystem as read.
pub struct System {
    pub path: String,
    pub body: Value,
    pub etag: Option<String>,
}

impl System {
    pub fn str(&self, pointer: &str) -> Option<&str> {
        self.body.pointer(pointer).and_then(Value::as_str)
    }
    pub fn quirks(&self) -> quirks::Quirks {
        quirks::for_manufacturer(self.str("/Manufacturer"))
    }
}

pub(crate) fn fail(node: &Node) -> impl Fn(RfError) -> DriverError + '_ {
    move |e| e.into_driver(&node.uuid)
}

impl Redfish {
    /// The node's ComputerSystem: `redfish_system_id`, or the only member of `Systems`.
    pub async fn system(&self, node: &Node) -> DResult<(RedfishInfo, System)> {
        let info = RedfishInfo::parse(node)?;
        let path = self.system_path(node, &info).await?;
        let reply = match self.client.get(&info, &path).await {
            Err(RfError::NotFound(e)) => {
                // A cached path may be stale (BMC reconfigured): resolve once more.
                self.systems.lock().unwrap().remove(&(info.address.clone(), info.root_prefix.clone()));
                return Err(DriverError::Failed(format!("Redfish exception occurred. Error: The Redfish System \"{path}\" was not found: {e}")));
            }
            r => r.map_err(fail(node))?,
        };
        if !reply.body.is_object() {
            return Err(DriverError::Failed(format!("Redfish exception occurred. Error: the System {path} is not a JSON object")));
        }
        Ok((info, System { path, body: reply.body, etag: reply.etag }))
    }

    async fn system_path(&self, node: &Node, info: &RedfishInfo) -> DResult<String> {
        if let Some(id) = &info.system_id {
            return Ok(id.clone());
        }
        let key = (info.address.clone(), info.root_prefix.clone());
        if let Some(p) = self.systems.lock().unwrap().get(&key) {
            return Ok(p.clone());
        }
        let root = self.client.get(info, &info.root_prefix).await.map_err(fail(node))?;
        let systems = root.body.pointer("/Systems/@odata.id").and_then(Value::as_str).ok_or_else(|| {
            DriverError::Failed(format!("Redfish exception occurred. Error: the service root at {} lists no Systems", info.address))
        })?;
        let coll = self.client.get(info, systems).await.map_err(fail(node))?;
        let members: Vec<&str> = coll
            .body
            .get("Members")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(|x| x.get("@odata.id").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        match members.as_slice() {
            [one] => {
                self.systems.lock().unwrap().insert(key, one.to_string());
                Ok(one.to_string())
            }
            [] => Err(DriverError::Failed(format!("Redfish exception occurred. Error: the BMC at {} manages no ComputerSystem", info.address))),
            many => Err(DriverError::InvalidParameter(format!(
                "The BMC at {} manages {} ComputerSystems; set driver_info/redfish_system_id on node {} to one of: {}",
                info.address,
                many.len(),
                node.uuid,
                many.join(", ")
            ))),
        }
    }

    async fn reset(&self, node: &Node, info: &RedfishInfo, sys: &System, reset_type: &str) -> DResult<()> {
        let action = sys.body.pointer("/Actions/#ComputerSystem.Reset");
        let target = action
            .and_then(|a| a.get("target"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}/Actions/ComputerSystem.Reset", sys.path.trim_end_matches('/')));
        let mut allowed: Vec<String> = action
            .and_then(|a| a.get("ResetType@Redfish.AllowableValues"))
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        if allowed.is_empty() {
            if let Some(ai) = action.and_then(|a| a.get("@Redfish.ActionInfo")).and_then(Value::as_str) {
                if let Ok(r) = self.client.get(info, ai).await {
                    allowed = r
                        .body
                        .get("Parameters")
                        .and_then(Value::as_array)
                        .and_then(|ps| ps.iter().find(|p| p.get("Name").and_then(Value::as_str) == Some("ResetType")))
                        .and_then(|p| p.get("AllowableValues"))
                        .and_then(Value::as_array)
                        .map(|v| v.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .unwrap_or_default();
                }
            }
        }
        if !allowed.is_empty() && !allowed.iter().any(|a| a == reset_type) {
            return Err(DriverError::Unsupported(format!(
                "The BMC of node {} does not support the reset type {reset_type} (it offers {})",
                node.uuid,
                allowed.join(", ")
            )));
        }
        self.client.post(info, &target, serde_json::json!({"ResetType": reset_type})).await.map_err(fail(node))?;
        Ok(())
    }

    /// Poll until the system reports `want`, within `timeout` (or the configured default).
    async fn wait_power(&self, node: &Node, want: PowerState, timeout: Option<u64>) -> DResult<PowerState> {
        let limit = timeout.map(Duration::from_secs).unwrap_or(self.client.config.power_state_change_timeout);
        let start = Instant::now();
        loop {
            let (_, sys) = self.system(node).await?;
            let now = power_state_of(&sys);
            if now == Some(want) {
                return Ok(want);
            }
            if start.elapsed() >= limit {
                return Err(DriverError::Failed(format!(
                    "Failed to set node power state to {want}: the BMC still reports {} after {} s",
                    sys.str("/PowerState").unwrap_or("no power state"),
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(self.client.config.power_state_poll_interval).await;
        }
    }

    async fn patch_system(&self, node: &Node, info: &RedfishInfo, sys: &System, body: Value) -> DResult<()> {
        let if_match = if sys.quirks().if_match_on_patch { sys.etag.as_deref() } else { None };
        match self.client.patch(info, &sys.path, body.clone(), if_match).await {
            Ok(_) => Ok(()),
            // 412/428: the BMC wants the ETag after all (a quirk not in the table yet).
            Err(RfError::Http(e)) if if_match.is_none() && sys.etag.is_some() && (e.contains("code 412") || e.contains("code 428")) => {
                self.client.patch(info, &sys.path, body, sys.etag.as_deref()).await.map(|_| ()).map_err(fail(node))
            }
            Err(e) => Err(fail(node)(e)),
        }
    }
}

/// Ironic's GET_POWER_STATE_MAP: a change in progress counts as its destination.
pub fn power_state_of(sys: &System) -> Option<PowerState> {
    match sys.str("/PowerState")? {
        "On" | "PoweringOn" => Some(PowerState::On),
        "Off" | "PoweringOff" => Some(PowerState::Off),
        _ => None,
    }
}

impl PowerInterface for Redfish {
    fn properties(&self) -> Dict {
        info::properties()
    }
    fn validate(&self, node: &Node) -> DResult<()> {
        RedfishInfo::parse(node).map(|_| ())
    }
    fn get_power_state<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<PowerState>> {
        Box::pin(async move {
            let (_, sys) = self.system(node).await?;
            power_state_of(&sys).ok_or_else(|| {
                DriverError::Failed(format!(
                    "Redfish exception occurred. Error: the BMC of node {} reports an unknown power state {:?}",
                    node.uuid,
                    sys.str("/PowerState")
                ))
            })
        })
    }
    fn set_power_state<'a>(&'a self, node: &'a Node, target: PowerState, timeout: Option<u64>) -> BoxFut<'a, DResult<PowerState>> {
        Box::pin(async move {
            let (info, sys) = self.system(node).await?;
            let current = power_state_of(&sys);
            // Ironic's SET_POWER_STATE_MAP; a reboot of a node that is off is a power on.
            let (reset, end) = match (target, current) {
                (PowerState::On, Some(PowerState::On)) => return Ok(PowerState::On),
                (PowerState::Off | PowerState::SoftPowerOff, Some(PowerState::Off)) => return Ok(PowerState::Off),
                (PowerState::On, _) => ("On", PowerState::On),
                (PowerState::Off, _) => ("ForceOff", PowerState::Off),
                (PowerState::SoftPowerOff, _) => ("GracefulShutdown", PowerState::Off),
                (PowerState::Rebooting | PowerState::SoftRebooting, Some(PowerState::Off)) => ("On", PowerState::On),
                (PowerState::Rebooting, _) => ("ForceRestart", PowerState::On),
                (PowerState::SoftRebooting, _) => ("GracefulRestart", PowerState::On),
            };
            self.reset(node, &info, &sys, reset).await?;
            self.wait_power(node, end, timeout).await
        })
    }
    fn supported_power_states(&self) -> Vec<PowerState> {
        vec![PowerState::On, PowerState::Off, PowerState::Rebooting, PowerState::SoftPowerOff, PowerState::SoftRebooting]
    }
}

/// Ironic's boot device names and Redfish's `BootSourceOverrideTarget` values.
pub const BOOT_DEVICE_MAP: &[(&str, &str)] =
    &[("pxe", "Pxe"), ("disk", "Hdd"), ("cdrom", "Cd"), ("bios", "BiosSetup"), ("floppy", "Floppy"), ("uefi http", "UefiHttp")];

/// The boot override PATCH body for `device`, given the system as it is now.
pub fn boot_override(sys: &System, device: &str, persistent: bool) -> Value {
    let target = BOOT_DEVICE_MAP.iter().find(|(d, _)| *d == device).map(|(_, t)| *t).unwrap_or(device);
    let q = sys.quirks();
    let want = if persistent && !q.no_continuous_boot { "Continuous" } else { "Once" };
    let mut boot = serde_json::Map::new();
    boot.insert("BootSourceOverrideTarget".into(), target.into());
    // Sent only when it changes: some BMCs refuse to be told their current setting (Ironic's
    // "this can be racy, esp if BMC is not RESTful").
    if sys.str("/Boot/BootSourceOverrideEnabled") != Some(want) {
        boot.insert("BootSourceOverrideEnabled".into(), want.into());
    }
    if q.boot_mode_with_override {
        if let Some(m) = sys.str("/Boot/BootSourceOverrideMode") {
            boot.insert("BootSourceOverrideMode".into(), m.into());
        }
    }
    serde_json::json!({ "Boot": boot })
}

impl ManagementInterface for Redfish {
    fn properties(&self) -> Dict {
        info::properties()
    }
    fn validate(&self, node: &Node) -> DResult<()> {
        RedfishInfo::parse(node).map(|_| ())
    }
    fn supported_boot_devices(&self, _node: &Node) -> Vec<&'static str> {
        vec!["pxe", "disk", "cdrom", "bios", "uefi http"]
    }
    fn get_boot_device<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<(Option<String>, Option<bool>)>> {
        Box::pin(async move {
            let (_, sys) = self.system(node).await?;
            let target = sys.str("/Boot/BootSourceOverrideTarget");
            let enabled = sys.str("/Boot/BootSourceOverrideEnabled");
            let dev = target.and_then(|t| BOOT_DEVICE_MAP.iter().find(|(_, r)| *r == t).map(|(d, _)| d.to_string()));
            let persistent = enabled.map(|e| e == "Continuous");
            Ok((if enabled == Some("Disabled") { None } else { dev }, persistent))
        })
    }
    fn set_boot_device<'a>(&'a self, node: &'a Node, device: &'a str, persistent: bool) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move {
            if !self.supported_boot_devices(node).contains(&device) {
                return Err(DriverError::InvalidParameter(format!("Invalid boot device {device} specified.")));
            }
            let (info, sys) = self.system(node).await?;
            let body = boot_override(&sys, device, persistent);
            match self.patch_system(node, &info, &sys, body).await {
                Err(e) if persistent && !sys.quirks().no_continuous_boot => {
                    // Continuous is deprecated in Redfish and some BMCs refuse it: one-time
                    // boot instead, as Ironic does.
                    tracing::warn!(node = %node.uuid, error = %e, "could not set a persistent boot device; using a one-time boot device");
                    let body = boot_override(&sys, device, false);
                    self.patch_system(node, &info, &sys, body).await
                }
                r => r,
            }
        })
    }
    fn set_boot_mode<'a>(&'a self, node: &'a Node, mode: &'a str) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move {
            let rf = match mode {
                "uefi" => "UEFI",
                "bios" => "Legacy",
                other => return Err(DriverError::InvalidParameter(format!("Invalid boot mode {other} specified."))),
            };
            let (info, sys) = self.system(node).await?;
            if sys.str("/Boot/BootSourceOverrideMode") == Some(rf) {
                return Ok(());
            }
            let mut boot = serde_json::Map::new();
            boot.insert("BootSourceOverrideMode".into(), rf.into());
            // Some BMCs need the target with the mode; keep the current one.
            if let Some(t) = sys.str("/Boot/BootSourceOverrideTarget") {
                boot.insert("BootSourceOverrideTarget".into(), t.into());
            }
            self.patch_system(node, &info, &sys, serde_json::json!({ "Boot": boot })).await
        })
    }
    fn set_secure_boot<'a>(&'a self, node: &'a Node, on: bool) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move {
            let (info, sys) = self.system(node).await?;
            let Some(sb) = sys.str("/SecureBoot/@odata.id") else {
                return Err(DriverError::Unsupported(format!("The BMC of node {} has no SecureBoot resource", node.uuid)));
            };
            self.client.patch(&info, sb, serde_json::json!({"SecureBootEnable": on}), None).await.map_err(fail(node))?;
            Ok(())
        })
    }
}

impl GenericInterface for Redfish {
    fn properties(&self) -> Dict {
        info::properties()
    }
    fn validate(&self, node: &Node) -> DResult<()> {
        RedfishInfo::parse(node).map(|_| ())
    }
    fn run<'a>(&'a self, _node: &'a mut Node, operation: &'a str, _args: &'a Dict) -> BoxFut<'a, DResult<Outcome>> {
        Box::pin(async move {
            Err(DriverError::Unsupported(format!(
                "{operation} is not supported by the redfish inspect interface (it inspects out of band)"
            )))
        })
    }
    fn inspect_out_of_band<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<Option<OobInspection>>> {
        Box::pin(async move { inspect::inspect(self, node).await.map(Some) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(manufacturer: &str, enabled: &str, mode: &str) -> System {
        System {
            path: "/redfish/v1/Systems/1".into(),
            body: serde_json::json!({"Manufacturer": manufacturer, "PowerState": "PoweringOn",
                "Boot": {"BootSourceOverrideEnabled": enabled, "BootSourceOverrideMode": mode, "BootSourceOverrideTarget": "Hdd"}}),
            etag: Some("W/\"1\"".into()),
        }
    }

    #[test]
    fn boot_override_bodies_follow_the_quirks() {
        let s = sys("Sushy Emulator", "Disabled", "UEFI");
        assert_eq!(
            boot_override(&s, "pxe", false),
            serde_json::json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}})
        );
        // Enabled already what we want: not sent again.
        let s = sys("Sushy Emulator", "Continuous", "UEFI");
        assert_eq!(boot_override(&s, "disk", true), serde_json::json!({"Boot": {"BootSourceOverrideTarget": "Hdd"}}));
        // HPE: the mode goes with the target.
        let s = sys("HPE", "Once", "Legacy");
        assert_eq!(
            boot_override(&s, "cdrom", true),
            serde_json::json!({"Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Continuous", "BootSourceOverrideMode": "Legacy"}})
        );
        // Dell: never Continuous.
        let s = sys("Dell Inc.", "Disabled", "UEFI");
        assert_eq!(
            boot_override(&s, "pxe", true),
            serde_json::json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}})
        );
        assert_eq!(power_state_of(&s), Some(PowerState::On));
    }

    #[test]
    fn the_hardware_type_composes_redfish_interfaces() {
        let r = Registry::builtin();
        let ht = r.hardware_type("redfish").unwrap();
        assert_eq!(ht.default_for("power"), Some("redfish"));
        assert_eq!(ht.default_for("inspect"), Some("redfish"));
        assert!(ht.supports("inspect", "agent"));
        let props = r.properties("redfish").unwrap();
        for k in ["redfish_address", "redfish_system_id", "redfish_username", "redfish_password", "redfish_verify_ca", "redfish_auth_type"] {
            assert!(props.contains_key(k), "{k} missing from {props:?}");
        }
        let node = Node { driver: "redfish".into(), ..Default::default() };
        let d = r.driver_for(&node).unwrap();
        let v = d.validate_all(&node);
        let power = &v.iter().find(|(k, _)| *k == "power").unwrap().1;
        assert!(power.as_ref().unwrap_err().to_string().contains("redfish_address"));
    }
}

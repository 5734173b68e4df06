//! Hardware types and their interfaces, after Ironic: a hardware type (e.g. `fake-hardware`)
//! lists, for each interface kind (power, management, boot, deploy, inspect, ...), the
//! implementations it supports and which is the default. A node picks one implementation per
//! kind. The conductor calls interfaces through the traits here; it never knows which BMC
//! protocol is behind them.
//!
//! Architecture invariant: drivers know nodes (core types) and their BMCs, but not the store,
//! HTTP or the state machine; they report outcomes and the conductor applies them.

pub mod agent;
pub mod fake;
pub mod ipmi;
pub mod redfish;

use ferric_core::{Dict, Node, PowerState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DriverError {
    /// Bad or missing `driver_info` and the like: the operator must fix the node.
    #[error("{0}")]
    InvalidParameter(String),
    /// The operation is not supported by this interface implementation.
    #[error("{0}")]
    Unsupported(String),
    /// The hardware or BMC failed.
    #[error("{0}")]
    Failed(String),
}

pub type DResult<T> = Result<T, DriverError>;

/// Boot devices (`ironic/common/boot_devices.py`).
pub const BOOT_DEVICES: &[&str] = &["pxe", "disk", "cdrom", "bios", "safe", "wanboot", "uefi http"];

/// A step (clean, deploy, service) an interface offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub interface: &'static str,
    pub step: &'static str,
    pub priority: i64,
    pub abortable: bool,
    pub argsinfo: Option<Value>,
}

/// What an asynchronous-capable operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Finished.
    Done,
    /// Started; a call-back (agent heartbeat, inspection report) will finish it.
    Wait,
}

pub trait PowerInterface: Send + Sync {
    fn properties(&self) -> Dict {
        Dict::new()
    }
    fn validate(&self, node: &Node) -> DResult<()>;
    fn get_power_state<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<PowerState>>;
    /// Set `target` (on, off, soft off); `Rebooting`/`SoftRebooting` end powered on.
    fn set_power_state<'a>(&'a self, node: &'a Node, target: PowerState, timeout: Option<u64>)
        -> BoxFut<'a, DResult<PowerState>>;
    fn supported_power_states(&self) -> Vec<PowerState> {
        vec![PowerState::On, PowerState::Off, PowerState::Rebooting]
    }
}

pub trait ManagementInterface: Send + Sync {
    fn properties(&self) -> Dict {
        Dict::new()
    }
    fn validate(&self, node: &Node) -> DResult<()>;
    fn supported_boot_devices(&self, node: &Node) -> Vec<&'static str>;
    /// Returns `(boot_device, persistent)`; `None` when the BMC cannot tell.
    fn get_boot_device<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<(Option<String>, Option<bool>)>>;
    fn set_boot_device<'a>(&'a self, node: &'a Node, device: &'a str, persistent: bool) -> BoxFut<'a, DResult<()>>;

    /// Change the boot mode (`bios`/`uefi`). Unsupported unless an implementation says so.
    fn set_boot_mode<'a>(&'a self, _node: &'a Node, mode: &'a str) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move { Err(DriverError::Unsupported(format!("The management interface does not support setting boot mode {mode}"))) })
    }
    /// Turn UEFI secure boot on or off.
    fn set_secure_boot<'a>(&'a self, _node: &'a Node, _on: bool) -> BoxFut<'a, DResult<()>> {
        Box::pin(async { Err(DriverError::Unsupported("The management interface does not support secure boot".into())) })
    }
    /// The virtual media devices and what is attached to them (API 1.93). Unsupported unless
    /// an implementation says so, as Ironic's base interface.
    fn get_virtual_media<'a>(&'a self, node: &'a Node) -> BoxFut<'a, DResult<Value>> {
        Box::pin(async move { Err(DriverError::Unsupported(unsupported_extension(node, "get_virtual_media"))) })
    }
    /// Attach a virtual media device (`cdrom`, `disk`, `floppy`) from `image_url` (API 1.89).
    /// Unsupported unless an implementation says so, as Ironic's base interface.
    fn attach_virtual_media<'a>(&'a self, node: &'a Node, _device_type: &'a str, _image_url: &'a str) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move { Err(DriverError::Unsupported(unsupported_extension(node, "attach_virtual_media"))) })
    }
    /// Detach the given virtual media devices, or all of them (`None`).
    fn detach_virtual_media<'a>(&'a self, node: &'a Node, _device_types: Option<&'a [String]>) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move { Err(DriverError::Unsupported(unsupported_extension(node, "detach_virtual_media"))) })
    }
    /// What the BMC tells about itself (for IPMI, `lan print`: its IP and MAC address), kept
    /// in `driver_internal_info.bmc` when a node is verified. Empty unless an implementation
    /// says more.
    fn bmc_facts<'a>(&'a self, _node: &'a Node) -> BoxFut<'a, DResult<Dict>> {
        Box::pin(async { Ok(Dict::new()) })
    }
    /// Indicators (LEDs) as `(component, name, readonly, states)`.
    fn indicators(&self, _node: &Node) -> DResult<Vec<Indicator>> {
        Err(DriverError::Unsupported("The management interface does not support indicators".into()))
    }
    fn get_indicator<'a>(&'a self, node: &'a Node, component: &'a str, name: &'a str) -> BoxFut<'a, DResult<String>> {
        Box::pin(async move {
            find_indicator(self.indicators(node)?, component, name)?;
            Err(DriverError::Unsupported("Reading indicators is not supported".into()))
        })
    }
    fn set_indicator<'a>(&'a self, node: &'a Node, component: &'a str, name: &'a str, state: &'a str) -> BoxFut<'a, DResult<()>> {
        Box::pin(async move {
            let i = find_indicator(self.indicators(node)?, component, name)?;
            if i.readonly {
                return Err(DriverError::InvalidParameter(format!("Indicator {name}@{component} is read-only")));
            }
            if !i.states.contains(&state) {
                return Err(DriverError::InvalidParameter(format!("Invalid state {state} for indicator {name}@{component}")));
            }
            Err(DriverError::Unsupported("Setting indicators is not supported".into()))
        })
    }
}

/// A hardware type whose power and management go through a BMC (`redfish`, `ipmi`): the BMC
/// protocol's power and management implementation, the given inspect interfaces (default
/// first), and what ferric has for the rest (`fake` boot and deploy until it writes images,
/// `noop` network and storage, `no-*` elsewhere).
pub fn bmc_hardware_type(name: &'static str, bmc: &'static str, inspect: &[&'static str]) -> HardwareType {
    let mut s = BTreeMap::new();
    for (kind, none) in [("bios", "no-bios"), ("console", "no-console"), ("firmware", "no-firmware"), ("raid", "no-raid"), ("rescue", "no-rescue"), ("vendor", "no-vendor")] {
        s.insert(kind, vec![none]);
    }
    s.insert("boot", vec!["fake"]);
    s.insert("deploy", vec!["fake"]);
    s.insert("network", vec!["noop"]);
    s.insert("storage", vec!["noop"]);
    s.insert("power", vec![bmc]);
    s.insert("management", vec![bmc]);
    s.insert("inspect", inspect.to_vec());
    HardwareType { name, supported: s }
}

/// A capability from the node's `properties.capabilities` (`"k:v,k2:v2"`).
pub fn capability(node: &Node, key: &str) -> Option<String> {
    let caps = node.properties.get("capabilities")?.as_str()?;
    caps.split(',').filter_map(|p| p.split_once(':')).find(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_string())
}

/// Ironic's `UnsupportedDriverExtension` text.
pub fn unsupported_extension(node: &Node, extension: &str) -> String {
    format!("Driver {} does not support {extension} (disabled or not implemented).", node.driver)
}

/// A hardware indicator (LED) a management interface exposes.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub component: &'static str,
    pub name: &'static str,
    pub readonly: bool,
    pub states: Vec<&'static str>,
}

pub fn find_indicator(all: Vec<Indicator>, component: &str, name: &str) -> DResult<Indicator> {
    if !all.iter().any(|i| i.component == component) {
        return Err(DriverError::InvalidParameter(format!("Invalid component {component} specified.")));
    }
    all.into_iter()
        .find(|i| i.component == component && i.name == name)
        .ok_or_else(|| DriverError::InvalidParameter(format!("Invalid indicator {name} specified.")))
}

/// What an out-of-band inspection read from the BMC, for the conductor to process with the
/// same hooks and rules as an agent's report.
#[derive(Debug, Clone, PartialEq)]
pub struct OobInspection {
    /// In IPA's inventory schema (cpu, memory, disks, interfaces, system_vendor, boot).
    pub inventory: Value,
    /// Properties the interface sets itself, as Ironic's (`memory_mb`, `local_gb`).
    pub properties: Dict,
    /// MACs of the NICs the BMC reports enabled: each gets a port if it has none.
    pub enabled_macs: Vec<String>,
    /// The boot mode the BMC reports (`uefi`/`bios`), for the `boot_mode` capability.
    pub boot_mode: Option<String>,
}

/// Deploy, boot, inspect, raid, bios, rescue, vendor... share this shape: validate, steps, and
/// the per-kind operations the conductor runs through [`Driver::run`].
pub trait GenericInterface: Send + Sync {
    fn properties(&self) -> Dict {
        Dict::new()
    }
    fn validate(&self, node: &Node) -> DResult<()>;
    /// Clean steps this implementation offers.
    fn clean_steps(&self) -> Vec<Step> {
        Vec::new()
    }
    /// Deploy steps this implementation offers (Ironic's `get_deploy_steps`).
    fn deploy_steps(&self) -> Vec<Step> {
        Vec::new()
    }
    /// Service steps this implementation offers (API 1.87).
    fn service_steps(&self) -> Vec<Step> {
        Vec::new()
    }
    /// A boot interface that can publish images for a BMC to fetch (Ironic's
    /// `image_publisher_settings`): needed to attach virtual media.
    fn publishes_images(&self) -> bool {
        false
    }
    /// Out-of-band inspection (an inspect interface that asks the BMC): `None` when this
    /// implementation does not inspect out of band.
    fn inspect_out_of_band<'a>(&'a self, _node: &'a Node) -> BoxFut<'a, DResult<Option<OobInspection>>> {
        Box::pin(async { Ok(None) })
    }
    /// Run a named operation (`deploy`, `tear_down`, `inspect_hardware`, a step name, ...).
    fn run<'a>(&'a self, node: &'a mut Node, operation: &'a str, args: &'a Dict) -> BoxFut<'a, DResult<Outcome>>;
}

/// The implementations of every interface kind, by name.
#[derive(Clone, Default)]
pub struct Implementations {
    pub power: BTreeMap<&'static str, Arc<dyn PowerInterface>>,
    pub management: BTreeMap<&'static str, Arc<dyn ManagementInterface>>,
    /// Every other kind: kind -> name -> implementation.
    pub generic: BTreeMap<&'static str, BTreeMap<&'static str, Arc<dyn GenericInterface>>>,
}

/// A hardware type: for each interface kind, the supported implementations, default first.
#[derive(Debug, Clone)]
pub struct HardwareType {
    pub name: &'static str,
    pub supported: BTreeMap<&'static str, Vec<&'static str>>,
}

impl HardwareType {
    pub fn default_for(&self, kind: &str) -> Option<&'static str> {
        self.supported.get(kind).and_then(|v| v.first().copied())
    }
    pub fn supports(&self, kind: &str, name: &str) -> bool {
        self.supported.get(kind).is_some_and(|v| v.contains(&name))
    }
}

/// A node's driver, resolved: the implementations it uses.
#[derive(Clone)]
pub struct Driver {
    pub hardware_type: &'static str,
    pub power: Arc<dyn PowerInterface>,
    pub management: Arc<dyn ManagementInterface>,
    pub generic: BTreeMap<&'static str, Arc<dyn GenericInterface>>,
}

impl Driver {
    pub fn interface(&self, kind: &str) -> Option<&Arc<dyn GenericInterface>> {
        self.generic.get(kind)
    }

    /// Validate every interface; `(kind, Ok | Err(reason))` in Ironic's order.
    pub fn validate_all(&self, node: &Node) -> Vec<(&'static str, DResult<()>)> {
        let mut out = Vec::new();
        for kind in ferric_core::Interfaces::KINDS {
            let r = match kind {
                "power" => self.power.validate(node),
                "management" => self.management.validate(node),
                k => match self.generic.get(k) {
                    Some(i) => i.validate(node),
                    None => Err(DriverError::Unsupported(format!("{k} interface is not enabled"))),
                },
            };
            out.push((kind, r));
        }
        out
    }

    /// Deploy steps offered by the interfaces that may run them, in no particular order.
    pub fn deploy_steps(&self) -> Vec<Step> {
        self.generic
            .iter()
            .filter(|(kind, _)| ferric_core::model::deploy_interface_rank(kind) > 0)
            .flat_map(|(_, i)| i.deploy_steps())
            .collect()
    }

    /// The service step `interface.step`, if that interface offers it.
    pub fn service_step(&self, interface: &str, step: &str) -> Option<Step> {
        self.generic.get(interface)?.service_steps().into_iter().find(|s| s.step == step)
    }

    /// Whether `interface` has a step (clean, deploy or service) named `step`.
    pub fn has_step(&self, interface: &str, step: &str) -> bool {
        self.generic.get(interface).is_some_and(|i| {
            i.service_steps().iter().chain(i.clean_steps().iter()).chain(i.deploy_steps().iter()).any(|s| s.step == step)
        })
    }

    /// Clean steps offered by all interfaces, highest priority first.
    pub fn clean_steps(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = self.generic.values().flat_map(|i| i.clean_steps()).collect();
        steps.sort_by(|a, b| b.priority.cmp(&a.priority));
        steps
    }
}

/// The enabled hardware types and interface implementations (Ironic's `enabled_*` options).
#[derive(Clone)]
pub struct Registry {
    pub hardware_types: BTreeMap<&'static str, HardwareType>,
    pub impls: Implementations,
}

/// Settings of the BMC drivers (`[redfish]`, `[ipmi]`).
#[derive(Debug, Clone, Default)]
pub struct DriverConfig {
    pub redfish: redfish::client::RedfishConfig,
    pub ipmi: ipmi::IpmiConfig,
}

impl Registry {
    /// Every hardware type ferric ships, enabled, with default settings.
    pub fn builtin() -> Registry {
        Registry::with_config(DriverConfig::default())
    }

    /// Every hardware type ferric ships: `fake-hardware`, `redfish`, `ipmi`.
    pub fn with_config(config: DriverConfig) -> Registry {
        let mut impls = Implementations::default();
        fake::register(&mut impls);
        redfish::register(&mut impls, config.redfish);
        ipmi::register(&mut impls, config.ipmi);
        let mut hardware_types = BTreeMap::new();
        for ht in [fake::hardware_type(), redfish::hardware_type(), ipmi::hardware_type()] {
            hardware_types.insert(ht.name, ht);
        }
        Registry { hardware_types, impls }
    }

    pub fn hardware_type(&self, name: &str) -> Option<&HardwareType> {
        self.hardware_types.get(name)
    }

    /// Resolve a node's driver from its hardware type and chosen interfaces.
    pub fn driver_for(&self, node: &Node) -> DResult<Driver> {
        let ht = self
            .hardware_type(&node.driver)
            .ok_or_else(|| DriverError::InvalidParameter(format!("Hardware type {} is not enabled", node.driver)))?;
        let pick = |kind: &str| -> String {
            let chosen = node.interfaces.get(kind).unwrap_or_default();
            if chosen.is_empty() {
                ht.default_for(kind).unwrap_or_default().to_string()
            } else {
                chosen.to_string()
            }
        };
        let missing = |kind: &str, name: &str| {
            DriverError::InvalidParameter(format!("Interface {kind}={name} is not enabled for hardware type {}", ht.name))
        };
        // An implementation the hardware type does not list is not enabled for it, even
        // when another hardware type has it.
        let listed = |kind: &str, name: &str| name.is_empty() || ht.supports(kind, name);
        let p = pick("power");
        let power = self.impls.power.get(p.as_str()).filter(|_| listed("power", &p)).cloned().ok_or_else(|| missing("power", &p))?;
        let m = pick("management");
        let management =
            self.impls.management.get(m.as_str()).filter(|_| listed("management", &m)).cloned().ok_or_else(|| missing("management", &m))?;
        let mut generic = BTreeMap::new();
        for kind in ferric_core::Interfaces::KINDS {
            if kind == "power" || kind == "management" {
                continue;
            }
            let name = pick(kind);
            if let Some(i) = self.impls.generic.get(kind).and_then(|m| m.get(name.as_str())).filter(|_| listed(kind, &name)) {
                generic.insert(kind, i.clone());
            }
        }
        Ok(Driver { hardware_type: ht.name, power, management, generic })
    }

    /// `GET /v1/drivers/{name}/properties`: the union of the default interfaces' properties.
    pub fn properties(&self, hardware_type: &str) -> Option<Dict> {
        let ht = self.hardware_type(hardware_type)?;
        let mut out = Dict::new();
        for (kind, names) in &ht.supported {
            let Some(name) = names.first() else { continue };
            let props = match *kind {
                "power" => self.impls.power.get(name).map(|i| i.properties()),
                "management" => self.impls.management.get(name).map(|i| i.properties()),
                k => self.impls.generic.get(k).and_then(|m| m.get(name)).map(|i| i.properties()),
            };
            out.extend(props.unwrap_or_default());
        }
        Some(out)
    }
}

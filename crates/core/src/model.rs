//! The records ferric keeps: nodes, ports, portgroups, chassis, conductors.
//!
//! These derive serde because the store keeps each record as a JSON document (its storage
//! format). They are *not* the wire format: the API crate builds the wire JSON per microversion.

use crate::states::{PowerState, ProvisionState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A free-form JSON object (`driver_info`, `properties`, `extra`, ...).
pub type Dict = Map<String, Value>;
pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    Utc::now()
}

/// The interface implementation a node uses for each interface of its hardware type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interfaces {
    pub bios: String,
    pub boot: String,
    pub console: String,
    pub deploy: String,
    pub firmware: String,
    pub inspect: String,
    pub management: String,
    pub network: String,
    pub power: String,
    pub raid: String,
    pub rescue: String,
    pub storage: String,
    pub vendor: String,
}

impl Interfaces {
    /// The interface kinds, in the order Ironic lists them.
    pub const KINDS: [&'static str; 13] = [
        "bios", "boot", "console", "deploy", "firmware", "inspect", "management", "network", "power", "raid",
        "rescue", "storage", "vendor",
    ];

    pub fn get(&self, kind: &str) -> Option<&str> {
        Some(match kind {
            "bios" => &self.bios,
            "boot" => &self.boot,
            "console" => &self.console,
            "deploy" => &self.deploy,
            "firmware" => &self.firmware,
            "inspect" => &self.inspect,
            "management" => &self.management,
            "network" => &self.network,
            "power" => &self.power,
            "raid" => &self.raid,
            "rescue" => &self.rescue,
            "storage" => &self.storage,
            "vendor" => &self.vendor,
            _ => return None,
        })
    }

    pub fn get_mut(&mut self, kind: &str) -> Option<&mut String> {
        Some(match kind {
            "bios" => &mut self.bios,
            "boot" => &mut self.boot,
            "console" => &mut self.console,
            "deploy" => &mut self.deploy,
            "firmware" => &mut self.firmware,
            "inspect" => &mut self.inspect,
            "management" => &mut self.management,
            "network" => &mut self.network,
            "power" => &mut self.power,
            "raid" => &mut self.raid,
            "rescue" => &mut self.rescue,
            "storage" => &mut self.storage,
            "vendor" => &mut self.vendor,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    /// Row id, assigned by the store; the default sort key, as in Ironic.
    pub id: i64,
    pub uuid: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,

    pub driver: String,
    pub interfaces: Interfaces,
    pub driver_info: Dict,
    pub driver_internal_info: Dict,
    pub properties: Dict,
    pub extra: Dict,
    pub instance_info: Dict,
    pub instance_uuid: Option<String>,
    pub chassis_uuid: Option<String>,

    pub power_state: Option<PowerState>,
    pub target_power_state: Option<PowerState>,
    pub provision_state: ProvisionState,
    pub target_provision_state: Option<ProvisionState>,
    pub provision_updated_at: Option<Timestamp>,
    pub last_error: Option<String>,

    pub maintenance: bool,
    pub maintenance_reason: Option<String>,
    pub fault: Option<String>,
    /// The conductor holding the exclusive lock; authoritative copy lives in the store's column.
    pub reservation: Option<String>,
    /// The conductor that manages the node.
    pub conductor: Option<String>,

    pub console_enabled: bool,
    pub inspection_started_at: Option<Timestamp>,
    pub inspection_finished_at: Option<Timestamp>,
    pub clean_step: Dict,
    pub deploy_step: Dict,
    pub service_step: Dict,
    pub raid_config: Dict,
    pub target_raid_config: Dict,

    pub resource_class: Option<String>,
    pub conductor_group: String,
    pub automated_clean: Option<bool>,
    pub protected: bool,
    pub protected_reason: Option<String>,
    pub owner: Option<String>,
    pub lessee: Option<String>,
    pub description: Option<String>,
    pub retired: bool,
    pub retired_reason: Option<String>,
    pub network_data: Dict,
    pub boot_mode: Option<String>,
    pub secure_boot: Option<bool>,
    pub shard: Option<String>,
    pub parent_node: Option<String>,
    pub disable_power_off: bool,
    pub traits: Vec<String>,
    /// BIOS settings as the BIOS interface last reported them (name -> value).
    pub bios_settings: Dict,
    pub allocation_uuid: Option<String>,
}

impl Default for Node {
    fn default() -> Self {
        Node {
            id: 0,
            uuid: String::new(),
            name: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
            driver: String::new(),
            interfaces: Interfaces::default(),
            driver_info: Dict::new(),
            driver_internal_info: Dict::new(),
            properties: Dict::new(),
            extra: Dict::new(),
            instance_info: Dict::new(),
            instance_uuid: None,
            chassis_uuid: None,
            power_state: None,
            target_power_state: None,
            provision_state: ProvisionState::Enroll,
            target_provision_state: None,
            provision_updated_at: None,
            last_error: None,
            maintenance: false,
            maintenance_reason: None,
            fault: None,
            reservation: None,
            conductor: None,
            console_enabled: false,
            inspection_started_at: None,
            inspection_finished_at: None,
            clean_step: Dict::new(),
            deploy_step: Dict::new(),
            service_step: Dict::new(),
            raid_config: Dict::new(),
            target_raid_config: Dict::new(),
            resource_class: None,
            conductor_group: String::new(),
            automated_clean: None,
            protected: false,
            protected_reason: None,
            owner: None,
            lessee: None,
            description: None,
            retired: false,
            retired_reason: None,
            network_data: Dict::new(),
            boot_mode: None,
            secure_boot: None,
            shard: None,
            parent_node: None,
            disable_power_off: false,
            traits: Vec::new(),
            bios_settings: Dict::new(),
            allocation_uuid: None,
        }
    }
}

impl Node {
    /// Forget the agent's token and address: a new ramdisk run gets a new token (Ironic's
    /// `wipe_token_and_url`, at the start of inspection, cleaning and deployment).
    pub fn wipe_token_and_url(&mut self) {
        for k in ["agent_secret_token", "agent_secret_token_pregenerated", "agent_url", "agent_verify_ca"] {
            self.driver_internal_info.remove(k);
        }
    }

    /// What a power-off invalidates (Ironic's `wipe_internal_info_on_power_off`): the agent's
    /// address and, unless pre-generated, its token.
    pub fn wipe_internal_info_on_power_off(&mut self) {
        let pregenerated = self.driver_internal_info.get("agent_secret_token_pregenerated").and_then(|v| v.as_bool()) == Some(true);
        let mut keys = vec!["agent_url", "agent_cached_deploy_steps", "agent_cached_clean_steps", "agent_verify_ca", "agent_start_attempted"];
        if !pregenerated {
            keys.push("agent_secret_token");
        }
        for k in keys {
            self.driver_internal_info.remove(k);
        }
    }

    /// Record a power state read from or set on the BMC, wiping what a power-off invalidates.
    pub fn set_power_state(&mut self, state: PowerState) {
        if state == PowerState::Off {
            self.wipe_internal_info_on_power_off();
        }
        self.power_state = Some(state);
    }

    /// Apply a state-machine transition the way Ironic's task manager records it.
    pub fn apply_transition(&mut self, t: crate::fsm::Transition, at: Timestamp) {
        self.provision_state = t.to;
        self.target_provision_state = t.target;
        self.provision_updated_at = Some(at);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Port {
    pub id: i64,
    pub uuid: String,
    pub address: String,
    pub node_uuid: String,
    pub portgroup_uuid: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub extra: Dict,
    pub internal_info: Dict,
    pub local_link_connection: Dict,
    pub pxe_enabled: bool,
    pub physical_network: Option<String>,
    pub is_smartnic: bool,
    pub name: Option<String>,
}

impl Default for Port {
    fn default() -> Self {
        Port {
            id: 0,
            uuid: String::new(),
            address: String::new(),
            node_uuid: String::new(),
            portgroup_uuid: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
            extra: Dict::new(),
            internal_info: Dict::new(),
            local_link_connection: Dict::new(),
            pxe_enabled: true,
            physical_network: None,
            is_smartnic: false,
            name: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Portgroup {
    pub id: i64,
    pub uuid: String,
    pub name: Option<String>,
    pub address: Option<String>,
    pub node_uuid: String,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub extra: Dict,
    pub internal_info: Dict,
    pub standalone_ports_supported: bool,
    pub mode: Option<String>,
    pub properties: Dict,
    pub physical_network: Option<String>,
}

impl Default for Portgroup {
    fn default() -> Self {
        Portgroup {
            id: 0,
            uuid: String::new(),
            name: None,
            address: None,
            node_uuid: String::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
            extra: Dict::new(),
            internal_info: Dict::new(),
            standalone_ports_supported: true,
            mode: None,
            properties: Dict::new(),
            physical_network: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Chassis {
    pub id: i64,
    pub uuid: String,
    pub description: Option<String>,
    pub extra: Dict,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl Default for Chassis {
    fn default() -> Self {
        Chassis {
            id: 0,
            uuid: String::new(),
            description: None,
            extra: Dict::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conductor {
    pub hostname: String,
    pub conductor_group: String,
    pub online: bool,
    pub drivers: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

/// A storage connector of a node (`/v1/volume/connectors`, API 1.32).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeConnector {
    pub id: i64,
    pub uuid: String,
    pub node_uuid: String,
    /// One of iqn, ip, mac, wwnn, wwpn, port, portal.
    #[serde(rename = "type")]
    pub kind: String,
    pub connector_id: String,
    pub extra: Dict,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl Default for VolumeConnector {
    fn default() -> Self {
        VolumeConnector {
            id: 0,
            uuid: String::new(),
            node_uuid: String::new(),
            kind: String::new(),
            connector_id: String::new(),
            extra: Dict::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// A volume a node boots from or attaches (`/v1/volume/targets`, API 1.32).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeTarget {
    pub id: i64,
    pub uuid: String,
    pub node_uuid: String,
    pub volume_type: String,
    pub volume_id: String,
    pub boot_index: i64,
    pub properties: Dict,
    pub extra: Dict,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl Default for VolumeTarget {
    fn default() -> Self {
        VolumeTarget {
            id: 0,
            uuid: String::new(),
            node_uuid: String::new(),
            volume_type: String::new(),
            volume_id: String::new(),
            boot_index: 0,
            properties: Dict::new(),
            extra: Dict::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// The connector types Ironic accepts.
pub const VOLUME_CONNECTOR_TYPES: &[&str] = &["iqn", "ip", "mac", "wwnn", "wwpn", "port", "portal"];

/// A request for a node matching a resource class and traits (`/v1/allocations`, API 1.52).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Allocation {
    pub id: i64,
    pub uuid: String,
    pub name: Option<String>,
    pub node_uuid: Option<String>,
    pub resource_class: Option<String>,
    pub traits: Vec<String>,
    pub candidate_nodes: Vec<String>,
    /// `allocating`, `active` or `error`.
    pub state: String,
    pub last_error: Option<String>,
    pub extra: Dict,
    pub owner: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl Default for Allocation {
    fn default() -> Self {
        Allocation {
            id: 0,
            uuid: String::new(),
            name: None,
            node_uuid: None,
            resource_class: None,
            traits: Vec::new(),
            candidate_nodes: Vec::new(),
            state: "allocating".into(),
            last_error: None,
            extra: Dict::new(),
            owner: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// One entry of a node's event history (`/v1/nodes/{node}/history`, API 1.78): errors and
/// other noteworthy events, as Ironic's `node_history_record` journals them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeHistory {
    pub id: i64,
    pub uuid: String,
    pub node_uuid: String,
    pub created_at: Timestamp,
    /// `ERROR`, `WARNING` or `INFO` ([`history::ERROR`], ...).
    pub severity: String,
    /// What was going on: one of the [`history`] event types, or a provision state.
    pub event_type: String,
    pub event: String,
    pub user: Option<String>,
    pub project: Option<String>,
    /// The host name of the conductor that recorded the event.
    pub conductor: Option<String>,
    /// The node's provision state and target when the event was recorded.
    pub state: Option<String>,
    pub target_provision_state: Option<String>,
    /// Seconds the node had spent in its provision state when the event was recorded.
    pub duration_seconds: Option<i64>,
}

impl Default for NodeHistory {
    fn default() -> Self {
        NodeHistory {
            id: 0,
            uuid: String::new(),
            node_uuid: String::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            severity: history::INFO.into(),
            event_type: history::UNKNOWN.into(),
            event: String::new(),
            user: None,
            project: None,
            conductor: None,
            state: None,
            target_provision_state: None,
            duration_seconds: None,
        }
    }
}

/// A step of a deploy template: run `interface`.`step` with `args` at `priority` (0 disables
/// the step, and the driver's step of the same name with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployStep {
    pub interface: String,
    pub step: String,
    #[serde(default)]
    pub args: Dict,
    pub priority: i64,
}

/// Deploy steps applied to nodes whose instance traits include `name`
/// (`/v1/deploy_templates`, API 1.55).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeployTemplate {
    pub id: i64,
    pub uuid: String,
    /// A trait name (`CUSTOM_...` or a standard trait); unique.
    pub name: String,
    pub steps: Vec<DeployStep>,
    pub extra: Dict,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl Default for DeployTemplate {
    fn default() -> Self {
        DeployTemplate {
            id: 0,
            uuid: String::new(),
            name: String::new(),
            steps: Vec::new(),
            extra: Dict::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// A step of a runbook: run `interface`.`step` with `args`; `order` is kept as given (Ironic
/// runs a runbook's steps in list order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookStep {
    pub interface: String,
    pub step: String,
    #[serde(default)]
    pub args: Dict,
    pub order: i64,
}

impl RunbookStep {
    /// The step as the provision API passes it on (Ironic's `convert_steps`): `interface`,
    /// `step`, `args`, `order`.
    pub fn to_user_step(&self) -> Dict {
        let mut d = Dict::new();
        d.insert("interface".into(), Value::String(self.interface.clone()));
        d.insert("step".into(), Value::String(self.step.clone()));
        d.insert("args".into(), Value::Object(self.args.clone()));
        d.insert("order".into(), Value::from(self.order));
        d
    }

    /// Ironic's key for matching stored and requested steps (`_step_key`).
    fn key(&self) -> (String, String, String, i64) {
        // serde_json maps are sorted, so equal arguments serialise equally.
        (self.interface.clone(), self.step.clone(), Value::Object(self.args.clone()).to_string(), self.order)
    }
}

/// A named list of clean/service steps (`/v1/runbooks`, API 1.92). Before API 1.112 a node may
/// use a runbook only when one of its traits is the runbook's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runbook {
    pub id: i64,
    pub uuid: String,
    /// A trait name (`CUSTOM_...` or a standard trait); unique.
    pub name: String,
    pub steps: Vec<RunbookStep>,
    pub disable_ramdisk: bool,
    pub extra: Dict,
    pub public: bool,
    pub owner: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl Default for Runbook {
    fn default() -> Self {
        Runbook {
            id: 0,
            uuid: String::new(),
            name: String::new(),
            steps: Vec::new(),
            disable_ramdisk: false,
            extra: Dict::new(),
            public: false,
            owner: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

impl Runbook {
    /// Whether a node with these traits may run the runbook (API 1.92-1.111: the runbook's
    /// name must be one of the node's traits).
    pub fn approved_for(&self, node_traits: &[String]) -> bool {
        node_traits.contains(&self.name)
    }

    /// The steps as user clean or service steps, in the runbook's order.
    pub fn user_steps(&self) -> Vec<Dict> {
        self.steps.iter().map(RunbookStep::to_user_step).collect()
    }
}

/// The step list a runbook has after an update from `old` to `new`, in the order Ironic's
/// database returns it: Ironic keeps the stored steps that still match one requested (same
/// interface, step, arguments and order), deletes the others and inserts the unmatched
/// requested steps after them, so kept steps come first, in their old order.
pub fn updated_runbook_steps(old: &[RunbookStep], new: &[RunbookStep]) -> Vec<RunbookStep> {
    let mut unmatched: Vec<Option<&RunbookStep>> = new.iter().map(Some).collect();
    let mut out = Vec::with_capacity(new.len());
    for o in old {
        if let Some(slot) = unmatched.iter_mut().find(|n| n.is_some_and(|n| n.key() == o.key())) {
            *slot = None;
            out.push(o.clone());
        }
    }
    out.extend(unmatched.into_iter().flatten().cloned());
    out
}

/// Severities and event types of node history entries (`ironic/common/states.py`, "History
/// Event State Types"). Ironic also uses some provision states as event types (`deploying`,
/// `cleaning`, `servicing`, `rescue`, `verifying`).
pub mod history {
    pub const ERROR: &str = "ERROR";
    pub const WARNING: &str = "WARNING";
    pub const INFO: &str = "INFO";

    pub const PROVISIONING: &str = "provisioning";
    pub const TAKEOVER: &str = "takeover";
    pub const INTROSPECTION: &str = "introspection";
    pub const CONDUCTOR: &str = "conductor";
    pub const TRANSITION: &str = "transition";
    pub const STARTFAIL: &str = "startup failure";
    pub const UNPROVISION: &str = "unprovision";
    pub const ADOPTION: &str = "adoption";
    pub const CONSOLE: &str = "console";
    pub const MONITORING: &str = "monitoring";
    pub const VERIFY: &str = "verify";
    pub const DEPLOYING: &str = "deploying";
    pub const CLEANING: &str = "cleaning";
    pub const SERVICING: &str = "servicing";
    pub const RESCUE: &str = "rescue";
    /// What Ironic records when the caller names no event type (power action failures).
    pub const UNKNOWN: &str = "UNKNOWN";
}

/// The latest inspection data of a node (`/v1/nodes/{node}/inventory`, API 1.81): the
/// hardware inventory the ramdisk reported and what inspection hooks derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInventory {
    pub node_uuid: String,
    pub inventory: Value,
    pub plugin_data: Value,
    pub created_at: Timestamp,
}

/// One inspection that reached the report stage: ferric keeps every one per node (Ironic keeps
/// only the latest data), with the report as received and, once processed, the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// Sequence number, increasing in time across all nodes.
    pub id: i64,
    pub uuid: String,
    pub node_uuid: String,
    pub state: InspectionState,
    /// When the inspection was started (the `inspect` verb), if known.
    pub started_at: Option<Timestamp>,
    /// When the ramdisk's report arrived.
    pub received_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub error: Option<String>,
}

/// Where a stored inspection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InspectionState {
    /// The report was received and is being processed.
    Processing,
    /// Processed; the inventory and plugin data are stored.
    Finished,
    /// Processing failed (`error` says why).
    Error,
}

impl InspectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            InspectionState::Processing => "processing",
            InspectionState::Finished => "finished",
            InspectionState::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "processing" => Some(InspectionState::Processing),
            "finished" => Some(InspectionState::Finished),
            "error" => Some(InspectionState::Error),
            _ => None,
        }
    }
}

/// The interfaces that may run deploy steps, with the rank that orders steps of equal priority
/// (higher first): Ironic's `DEPLOYING_INTERFACE_PRIORITY`, in its order.
pub const DEPLOY_STEP_INTERFACES: &[(&str, i64)] =
    &[("vendor", 7), ("power", 6), ("management", 5), ("firmware", 4), ("deploy", 3), ("bios", 2), ("raid", 1)];

/// The rank of a deploy step's interface (0 for an interface that cannot run deploy steps).
pub fn deploy_interface_rank(interface: &str) -> i64 {
    DEPLOY_STEP_INTERFACES.iter().find(|(i, _)| *i == interface).map(|(_, r)| *r).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(name: &str, order: i64, args: Value) -> RunbookStep {
        RunbookStep { interface: "bios".into(), step: name.into(), args: args.as_object().cloned().unwrap_or_default(), order }
    }

    #[test]
    fn runbooks_are_approved_by_a_trait_named_like_them() {
        let rb = Runbook { name: "CUSTOM_FW".into(), ..Default::default() };
        assert!(rb.approved_for(&["HW_CPU_X86_VMX".into(), "CUSTOM_FW".into()]));
        assert!(!rb.approved_for(&["CUSTOM_FW2".into()]));
        assert!(!rb.approved_for(&[]));
    }

    #[test]
    fn runbook_steps_become_user_steps_with_their_order() {
        let rb = Runbook { steps: vec![step("b", 2, json!({"k": 1})), step("a", 1, json!({}))], ..Default::default() };
        let steps = rb.user_steps();
        assert_eq!(Value::Array(steps.into_iter().map(Value::Object).collect()), json!([
            {"interface": "bios", "step": "b", "args": {"k": 1}, "order": 2},
            {"interface": "bios", "step": "a", "args": {}, "order": 1},
        ]));
    }

    #[test]
    fn updated_steps_keep_matching_stored_steps_first() {
        let a = step("a", 1, json!({}));
        let b = step("b", 2, json!({}));
        let c = step("c", 3, json!({}));
        // Appending keeps the list order.
        assert_eq!(updated_runbook_steps(std::slice::from_ref(&a), &[a.clone(), b.clone(), c.clone()]), vec![a.clone(), b.clone(), c.clone()]);
        // A new step put in front of a kept one still comes after it (Ironic inserts new rows).
        assert_eq!(updated_runbook_steps(&[a.clone(), b.clone()], &[c.clone(), a.clone()]), vec![a.clone(), c.clone()]);
        // Reordering stored steps does not reorder them.
        assert_eq!(updated_runbook_steps(&[a.clone(), b.clone()], &[b.clone(), a.clone()]), vec![a.clone(), b.clone()]);
        // A changed order or argument is a new step.
        let a2 = step("a", 5, json!({}));
        let a3 = step("a", 1, json!({"x": true}));
        assert_eq!(updated_runbook_steps(&[a.clone(), b.clone()], &[a2.clone(), b.clone()]), vec![b.clone(), a2]);
        assert_eq!(updated_runbook_steps(std::slice::from_ref(&a), std::slice::from_ref(&a3)), vec![a3]);
        // Duplicates match one for one.
        assert_eq!(updated_runbook_steps(std::slice::from_ref(&a), &[a.clone(), a.clone()]), vec![a.clone(), a]);
    }
}

//! In-band inspection (API 1.84, `/v1/continue_inspection`): booting the machine into the
//! ramdisk, finding the node a report belongs to, and processing the report under the node's
//! lock with the configured hooks (`ferric_core::inspection`).

use crate::{CResult, Conductor, ConductorError, Task};
use ferric_core::inspection::{self as hooks, PortChange};
use ferric_core::model::{history, now};
use ferric_core::{Dict, Event, Node, Port, PowerState, ProvisionState as S};
use ferric_drivers::Driver;
use serde_json::Value;

/// Where the BMC addresses of a node waiting for inspection are cached for lookup.
pub const LOOKUP_CACHE: &str = "lookup_bmc_addresses";

/// Every lookup failure looks the same from outside: nothing is disclosed about which check failed.
fn not_found() -> ConductorError {
    ConductorError::NotFound { kind: "Node", ident: "matching the inspection data".into() }
}

/// Whether a report may be for this node: it waits for one (`inspect wait`), or it is still
/// `inspecting` under a lock, which is the task booting it. The machine runs the ramdisk as
/// soon as the BMC powers it on, and a fast one reports before that task has recorded
/// `inspect wait` (Ironic only ever sees slow real machines; its lookup wants `inspect wait`
/// and IPA does not resend a refused report). [`Conductor::continue_inspection`] waits for
/// the lock and checks for `inspect wait` again, so no report is processed early.
fn awaits_report(n: &Node) -> bool {
    n.provision_state == S::InspectWait || (n.provision_state == S::Inspecting && n.reservation.is_some())
}

impl Conductor {
    /// Boot the node into the inspection ramdisk: cache its BMC addresses for lookup, PXE as
    /// the next boot device, then power on (or reboot if it is on), as Ironic's managed
    /// inspection does.
    pub(crate) async fn boot_for_inspection(&self, task: &mut Task, driver: &Driver) -> CResult<()> {
        task.node.wipe_token_and_url();
        let bmcs = ferric_drivers::agent::bmc_addresses(&task.node);
        task.node.driver_internal_info.insert(LOOKUP_CACHE.into(), serde_json::json!(bmcs));
        driver.management.set_boot_device(&task.node, "pxe", false).await?;
        if driver.hardware_type == "fake-hardware" {
            ferric_drivers::fake::remember_boot_device(&mut task.node, "pxe", false);
        }
        // Stored before the power-on: a report that comes back before `inspect wait` is
        // recorded can then be looked up by BMC address too.
        self.save(task).await?;
        // Ironic powers off, prepares the boot and powers on; with `disable_power_off` it
        // reboots instead.
        let current = driver.power.get_power_state(&task.node).await?;
        let target = if current == PowerState::On || task.node.disable_power_off { PowerState::Rebooting } else { PowerState::On };
        let state = driver.power.set_power_state(&task.node, target, None).await?;
        task.node.set_power_state(state);
        Ok(())
    }

    /// Power the node off at the end of inspection (`[inspector]power_off`), or reboot it
    /// when it has `disable_power_off`, as Ironic's `tear_down_managed_boot`.
    pub(crate) async fn power_off_after_inspection(&self, task: &mut Task, driver: &Driver) {
        if !self.config().power_off_after_inspection {
            return;
        }
        if let Err(e) = crate::power_off_or_reboot(driver, &mut task.node).await {
            tracing::warn!(node = %task.node.uuid, error = %e, "could not power off (or reboot) after inspection");
        }
    }

    /// Find the node an inspection report belongs to (Ironic's `inspect_utils.lookup_node`):
    /// by UUID, by port MACs, then cross-checked against cached BMC addresses. The node must
    /// be waiting for inspection, or still being booted for it (`awaits_report`). Ambiguity
    /// is an error, never a guess.
    pub async fn inspection_lookup(&self, macs: &[String], bmcs: &[String], node_uuid: Option<&str>) -> CResult<Node> {
        self.inspection_lookup_with_serial(macs, bmcs, node_uuid, None).await
    }

    /// [`Self::inspection_lookup`], then, when nothing else found the node, by the reported
    /// system serial among the nodes waiting for inspection (serials of earlier inspections).
    pub async fn inspection_lookup_with_serial(
        &self,
        macs: &[String],
        bmcs: &[String],
        node_uuid: Option<&str>,
        serial: Option<&str>,
    ) -> CResult<Node> {
        match self.lookup_by_addresses(macs, bmcs, node_uuid).await {
            Err(ConductorError::NotFound { .. }) if node_uuid.is_none() && serial.is_some() => {
                let serial = serial.unwrap_or_default();
                let mut waiting = Vec::new();
                for uuid in self.store().nodes_with_serial(serial).await? {
                    let n = self.store().get_node(&uuid).await?;
                    if awaits_report(&n) {
                        waiting.push(n);
                    }
                }
                match waiting.len() {
                    1 => Ok(waiting.remove(0)),
                    0 => Err(not_found()),
                    _ => {
                        tracing::error!(%serial, "inspection lookup: the system serial matches several waiting nodes");
                        Err(not_found())
                    }
                }
            }
            other => other,
        }
    }

    async fn lookup_by_addresses(&self, macs: &[String], bmcs: &[String], node_uuid: Option<&str>) -> CResult<Node> {
        let store = self.store();
        let mut node: Option<Node> = match node_uuid {
            Some(u) => Some(store.get_node(u).await.map_err(|_| not_found())?),
            None => None,
        };
        if !macs.is_empty() {
            let ports = store
                .list_ports(ferric_store::PortFilter { addresses: Some(macs.to_vec()), ..Default::default() }, Default::default())
                .await?;
            let mut owners: Vec<String> = ports.into_iter().map(|p| p.node_uuid).collect();
            owners.sort();
            owners.dedup();
            match owners.as_slice() {
                [] => {}
                [one] => {
                    if node.as_ref().is_some_and(|n| &n.uuid != one) {
                        tracing::error!(macs = ?macs, "inspection lookup: the MACs belong to another node than the one named");
                        return Err(not_found());
                    }
                    node = Some(store.get_node(one).await?);
                }
                many => {
                    tracing::error!(macs = ?macs, nodes = ?many, "inspection lookup: MACs match several nodes");
                    return Err(not_found());
                }
            }
        }
        if let Some(n) = &node {
            if !awaits_report(n) {
                tracing::error!(node = %n.uuid, state = %n.provision_state, "inspection lookup found a node that is not waiting for inspection");
                return Err(not_found());
            }
        }
        if !bmcs.is_empty() {
            let states = vec![S::InspectWait.as_str().into(), S::Inspecting.as_str().into()];
            let waiting = store
                .list_nodes(ferric_store::NodeFilter { provision_states: Some(states), ..Default::default() }, Default::default())
                .await?;
            let by_bmc: Vec<Node> = waiting
                .into_iter()
                .filter(|c| {
                    awaits_report(c)
                        && c.driver_internal_info
                        .get(LOOKUP_CACHE)
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().filter_map(Value::as_str).any(|x| bmcs.iter().any(|b| b == x)))
                })
                .collect();
            match (&node, by_bmc.len()) {
                (Some(n), k) if k > 0 && !by_bmc.iter().any(|c| c.uuid == n.uuid) => {
                    tracing::error!(node = %n.uuid, "inspection lookup: the BMC address belongs to another node");
                    return Err(not_found());
                }
                (None, 1) => node = by_bmc.into_iter().next(),
                (None, k) if k > 1 => {
                    tracing::error!(bmcs = ?bmcs, "inspection lookup: BMC addresses match several nodes");
                    return Err(not_found());
                }
                _ => {}
            }
        }
        node.ok_or_else(not_found)
    }

    /// Accept an inspection report for a node waiting for it: take the lock, resume, record
    /// the report, and process it on a worker. Returns once the report is accepted.
    ///
    /// A report that came while the node was still being booted for inspection waits here
    /// for that task's lock (`acquire` retries a locked node `node_locked_retry_attempts`
    /// times, `node_locked_retry_interval` apart; the API retries a 409 as often again):
    /// the boot task holds it only for the power-on and one write after it. The state is
    /// checked under the lock, so only a node in `inspect wait` is resumed.
    pub async fn continue_inspection(&self, node_uuid: &str, inventory: Value, plugin_data: Dict) -> CResult<()> {
        let mut task = self.acquire(node_uuid).await?;
        // A discovered machine's first report comes while its new node is in enroll.
        let discovered = task.node.provision_state == S::Enroll && self.discovery().is_some();
        if task.node.provision_state != S::InspectWait && !discovered {
            self.release(task).await;
            return Err(not_found());
        }
        let driver = match self.drivers().driver_for(&task.node) {
            Ok(d) => d,
            Err(e) => {
                self.release(task).await;
                return Err(e.into());
            }
        };
        let record = match self.store().begin_inspection(&task.node.uuid, task.node.inspection_started_at, &raw_report(&inventory, &plugin_data)).await {
            Ok(r) => r,
            Err(e) => {
                self.release(task).await;
                return Err(e.into());
            }
        };
        if discovered {
            let mut plugin_data = plugin_data;
            plugin_data.insert("auto_discovered".into(), Value::Bool(true));
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.process_report(&mut task, &record.uuid, inventory, plugin_data).await {
                    let msg = format!("Failed to process the data of a discovered node: {e}");
                    tracing::warn!(node = %task.node.uuid, error = %msg, "discovery processing failed");
                    this.record_error(&mut task, history::INTROSPECTION, msg);
                }
                this.finish(task).await;
            });
            return Ok(());
        }
        if let Err(e) = self.fire(&mut task, Event::Resume, None) {
            self.release(task).await;
            return Err(e);
        }
        task.node.driver_internal_info.insert("agent_last_heartbeat".into(), Value::String(now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()));
        if let Err(e) = self.save(&mut task).await {
            self.release(task).await;
            return Err(e);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let result = this.process_report(&mut task, &record.uuid, inventory, plugin_data).await;
            match result {
                Ok(()) => {
                    task.node.inspection_finished_at = Some(now());
                    task.node.inspection_started_at = None;
                    if let Err(e) = this.fire(&mut task, Event::Done, None) {
                        tracing::error!(node = %task.node.uuid, error = %e, "cannot finish inspection");
                    }
                }
                Err(e) => {
                    let msg = format!("Failed to finish inspection: {e}");
                    tracing::warn!(node = %task.node.uuid, error = %msg, "inspection processing failed");
                    this.record_error(&mut task, history::INTROSPECTION, msg);
                    let _ = this.fire(&mut task, Event::Fail, None);
                }
            }
            task.node.driver_internal_info.remove(LOOKUP_CACHE);
            this.power_off_after_inspection(&mut task, &driver).await;
            this.finish(task).await;
        });
        Ok(())
    }

    /// Process stored inspection data again (the inspector's "reapply"): the given report, or
    /// the newest one stored for the node, goes through the hooks again under the node's lock,
    /// updating properties and ports, without changing the provision state. The node must not
    /// be inspecting or in use. Returns once the work is accepted; the result is a new stored
    /// inspection.
    pub async fn reapply_inspection(&self, ident: &str, report: Option<Value>) -> CResult<()> {
        let mut task = self.acquire(ident).await?;
        let allowed = [S::Enroll, S::Manageable, S::InspectFailed, S::Available];
        if !allowed.contains(&task.node.provision_state) {
            let msg = format!(
                "Node {} is in state {}; inspection data can be reapplied only in {}",
                task.node.uuid,
                task.node.provision_state,
                allowed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
            self.release(task).await;
            return Err(ConductorError::Invalid(msg));
        }
        let raw = match report {
            Some(r) => r,
            None => {
                let store = self.store();
                let latest = store.list_inspections(&task.node.uuid).await.map(|l| l.into_iter().last());
                let data = match latest {
                    Ok(Some(rec)) => store.get_inspection_data(&rec.uuid).await.map(|d| Some(d.raw)),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                };
                match data {
                    Ok(Some(raw)) => raw,
                    Ok(None) => {
                        let uuid = task.node.uuid.clone();
                        self.release(task).await;
                        return Err(ConductorError::NotFound { kind: "Inspection data", ident: format!("for node {uuid}") });
                    }
                    Err(e) => {
                        self.release(task).await;
                        return Err(e.into());
                    }
                }
            }
        };
        let Value::Object(mut plugin_data) = raw else {
            self.release(task).await;
            return Err(ConductorError::Invalid("Invalid data: expected a JSON object".into()));
        };
        let inventory = plugin_data.remove("inventory").unwrap_or(Value::Null);
        if !inventory.is_object() {
            self.release(task).await;
            return Err(ConductorError::Invalid("The inspection data has no inventory".into()));
        }
        let record = match self.store().begin_inspection(&task.node.uuid, Some(now()), &raw_report(&inventory, &plugin_data)).await {
            Ok(r) => r,
            Err(e) => {
                self.release(task).await;
                return Err(e.into());
            }
        };
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.process_report(&mut task, &record.uuid, inventory, plugin_data).await {
                tracing::warn!(node = %task.node.uuid, error = %e, "reapplying inspection data failed");
            }
            this.finish(task).await;
        });
        Ok(())
    }

    /// Run the hooks, then the inspection rules, over a report and write the result (node,
    /// ports, inspection data and this inspection's record) in one transaction. On failure
    /// nothing of it is applied: the node is as before and the record holds the error.
    async fn process_report(&self, task: &mut Task, record: &str, inventory: Value, plugin_data: Dict) -> CResult<()> {
        let hooks = self.config().inspection.clone();
        self.process_report_with(task, record, inventory, plugin_data, &hooks, &[]).await
    }

    /// Out-of-band inspection data (Ironic's redfish `inspect_hardware`): stored as an
    /// inspection like an agent's report, the interface's own properties (`memory_mb`,
    /// `local_gb`, the boot mode capability) applied, then `[redfish]inspection_hooks` and
    /// the rules, and a port for every enabled NIC. Nothing is applied on failure.
    pub(crate) async fn process_out_of_band(&self, task: &mut Task, oob: ferric_drivers::OobInspection) -> CResult<()> {
        let record = self.store().begin_inspection(&task.node.uuid, task.node.inspection_started_at, &raw_report(&oob.inventory, &Dict::new())).await?;
        let before = task.node.clone();
        for (k, v) in oob.properties {
            task.node.properties.insert(k, v);
        }
        if let Some(mode) = &oob.boot_mode {
            if ferric_drivers::capability(&task.node, "boot_mode").is_none() {
                match ferric_core::inspection::updated_capabilities(
                    task.node.properties.get("capabilities"),
                    &[("boot_mode".to_string(), mode.clone())],
                ) {
                    Ok(c) => {
                        task.node.properties.insert("capabilities".into(), Value::String(c));
                    }
                    Err(e) => tracing::warn!(node = %task.node.uuid, error = %e, "cannot record the boot mode capability"),
                }
            }
        }
        let hooks = self.config().oob_inspection.clone();
        let r = self.process_report_with(task, &record.uuid, oob.inventory, Dict::new(), &hooks, &oob.enabled_macs).await;
        if r.is_err() {
            let reservation = task.node.reservation.clone();
            task.node = before;
            task.node.reservation = reservation;
        }
        r
    }

    async fn process_report_with(
        &self,
        task: &mut Task,
        record: &str,
        inventory: Value,
        mut plugin_data: Dict,
        hooks: &hooks::HookConfig,
        enabled_macs: &[String],
    ) -> CResult<()> {
        let before = task.node.clone();
        let store = self.store();
        let processed = match self.process_data(task, &inventory, &mut plugin_data, hooks, enabled_macs).await {
            Ok(p) => p,
            Err(e) => {
                task.node = before;
                if let Err(se) = store.finish_inspection(record, Err(e.to_string())).await {
                    tracing::error!(node = %task.node.uuid, error = %se, "cannot record the failed inspection");
                }
                return Err(e);
            }
        };
        task.node.wipe_token_and_url();
        plugin_data.remove("logs");
        let write = ferric_store::InspectionWrite {
            node: task.node.clone(),
            owner: self.host().to_string(),
            history: std::mem::take(&mut task.history),
            keep_history: self.config().node_history_max_entries,
            delete_ports: processed.delete_ports,
            save_ports: processed.save_ports,
            create_ports: processed.create_ports,
            inventory,
            plugin_data: Value::Object(plugin_data),
            record: Some(record.to_string()),
        };
        let (node, skipped) = store.save_inspection(write).await?;
        for address in skipped {
            // Ironic skips a MAC that another node already has.
            tracing::warn!(node = %task.node.uuid, %address, "inspection found a MAC that is already a port");
        }
        task.node = node;
        Ok(())
    }

    /// Hooks, then rules, in memory: the node (in the task) gets its new properties and the
    /// rules' changes; the port changes come back to be written with it.
    async fn process_data(
        &self,
        task: &mut Task,
        inventory: &Value,
        plugin_data: &mut Dict,
        hook_config: &hooks::HookConfig,
        enabled_macs: &[String],
    ) -> CResult<Processed> {
        let store = self.store();
        let ports: Vec<Port> = store
            .list_ports(ferric_store::PortFilter { node_uuid: Some(task.node.uuid.clone()), ..Default::default() }, Default::default())
            .await?;
        // raid-device compares with the inventory the previous inspection stored.
        let previous = store.get_inventory(&task.node.uuid).await?.map(|i| i.inventory);
        let outcome = hooks::process(hook_config, &task.node, &ports, previous.as_ref(), inventory, plugin_data)
            .map_err(ConductorError::Invalid)?;
        for w in &outcome.warnings {
            tracing::warn!(node = %task.node.uuid, warning = %w, "inspection hook");
        }
        // The ports as the hooks leave them; new ones get their UUIDs now so rules can name them.
        let mut deleted: Vec<String> = Vec::new();
        let mut after: Vec<Port> = ports.clone();
        let mut created: Vec<String> = Vec::new();
        for change in outcome.port_changes {
            match change {
                PortChange::Delete { uuid, address } => {
                    tracing::info!(node = %task.node.uuid, %address, "port removed by inspection (keep_ports)");
                    after.retain(|p| p.uuid != uuid);
                    deleted.push(uuid);
                }
                PortChange::Create { address, fields } => {
                    let port = Port {
                        uuid: uuid::Uuid::new_v4().to_string(),
                        address,
                        node_uuid: task.node.uuid.clone(),
                        pxe_enabled: fields.pxe_enabled,
                        extra: fields.extra,
                        local_link_connection: fields.local_link_connection,
                        physical_network: fields.physical_network,
                        created_at: now(),
                        ..Default::default()
                    };
                    created.push(port.uuid.clone());
                    after.push(port);
                }
                PortChange::Update { uuid, fields } => {
                    if let Some(p) = after.iter_mut().find(|p| p.uuid == uuid) {
                        p.pxe_enabled = fields.pxe_enabled;
                        p.extra = fields.extra;
                        p.local_link_connection = fields.local_link_connection;
                        p.physical_network = fields.physical_network;
                    }
                }
            }
        }
        // Out-of-band inspection: a port for every enabled NIC that has none yet (Ironic's
        // `create_ports_if_not_exist`).
        for mac in enabled_macs {
            let mac = mac.to_ascii_lowercase();
            if after.iter().any(|p| p.address.eq_ignore_ascii_case(&mac)) {
                continue;
            }
            let port = Port {
                uuid: uuid::Uuid::new_v4().to_string(),
                address: mac,
                node_uuid: task.node.uuid.clone(),
                pxe_enabled: true,
                created_at: now(),
                ..Default::default()
            };
            created.push(port.uuid.clone());
            after.push(port);
        }
        task.node.properties = outcome.properties;
        // Inspection rules, after the hooks and under the same lock (Ironic's apply_rules).
        let rules = self.inspection_rules().await?;
        if !rules.is_empty() {
            let input = ferric_core::rules::Input { node: &task.node, ports: &after, inventory, plugin_data };
            let result = ferric_core::rules::apply(&rules, input, self.config().inspection_rules.mask_secrets)
                .map_err(ConductorError::Invalid)?;
            crate::rules::emit_logs(&task.node.uuid, &result.logs);
            self.perform_rule_effects(&task.node.uuid, &result.effects).await?;
            if !result.applied.is_empty() {
                tracing::info!(node = %task.node.uuid, rules = ?result.applied, "inspection rules applied");
            }
            let reservation = task.node.reservation.clone();
            task.node = result.node;
            task.node.reservation = reservation;
            after = result.ports;
            *plugin_data = result.plugin_data;
        }
        let create_ports: Vec<Port> = after.iter().filter(|p| created.contains(&p.uuid)).cloned().collect();
        let save_ports: Vec<Port> =
            after.iter().filter(|p| !created.contains(&p.uuid) && ports.iter().any(|o| o.uuid == p.uuid && o != *p)).cloned().collect();
        Ok(Processed { delete_ports: deleted, save_ports, create_ports })
    }
}

/// The port writes processing produced.
struct Processed {
    delete_ports: Vec<String>,
    save_ports: Vec<Port>,
    create_ports: Vec<Port>,
}

/// The report as the ramdisk sent it, less its logs (kept for reapplying and for the
/// inspector's unprocessed-data API).
fn raw_report(inventory: &Value, plugin_data: &Dict) -> Value {
    let mut raw = plugin_data.clone();
    raw.remove("logs");
    raw.insert("inventory".into(), inventory.clone());
    Value::Object(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConductorConfig, ProvisionArgs};
    use ferric_core::inspection::{parse_cidr_map_entry, AddPorts, HookConfig, KeepPorts};
    use ferric_drivers::Registry;
    use ferric_store::{PortFilter, Store, StoreConfig};
    use serde_json::json;
    use std::time::Duration;

    const UUID: &str = "5d2ab1c0-8d2e-4bb4-9d58-4b4ef3a0f001";

    fn fixture(name: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection").join(name);
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    async fn settled(store: &Store) -> Node {
        for _ in 0..1000 {
            let n = store.get_node(UUID).await.unwrap();
            if n.reservation.is_none() && n.provision_state != S::Inspecting {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("node stayed locked");
    }

    /// A manageable node with the agent inspect interface, waiting for its report.
    async fn waiting(hooks: HookConfig, properties: Value) -> (tempfile::TempDir, Store, Conductor) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path().join("db.sqlite"))).unwrap();
        let cfg = ConductorConfig { inspection: hooks, node_locked_retry_interval: Duration::from_millis(10), ..Default::default() };
        let conductor = Conductor::new(store.clone(), Registry::builtin(), cfg);
        store
            .create_node(Node {
                uuid: UUID.into(),
                driver: "fake-hardware".into(),
                interfaces: ferric_core::Interfaces { inspect: "agent".into(), ..Default::default() },
                properties: serde_json::from_value(properties).unwrap(),
                created_at: now(),
                ..Default::default()
            })
            .await
            .unwrap();
        (dir, store, conductor)
    }

    async fn inspect(store: &Store, c: &Conductor, inventory: Value, plugin_data: Dict) -> Node {
        if store.get_node(UUID).await.unwrap().provision_state == S::Enroll {
            c.provision(UUID, Event::Manage, ProvisionArgs::default()).await.unwrap();
            settled(store).await;
        }
        c.provision(UUID, Event::Inspect, ProvisionArgs::default()).await.unwrap();
        assert_eq!(settled(store).await.provision_state, S::InspectWait);
        c.continue_inspection(UUID, inventory, plugin_data).await.unwrap();
        settled(store).await
    }

    fn port(mac: &str, pxe: bool) -> Port {
        Port { uuid: uuid::Uuid::new_v4().to_string(), address: mac.into(), node_uuid: UUID.into(), pxe_enabled: pxe, created_at: now(), ..Default::default() }
    }

    async fn ports_by_mac(store: &Store) -> std::collections::BTreeMap<String, Port> {
        let f = PortFilter { node_uuid: Some(UUID.into()), ..Default::default() };
        store.list_ports(f, Default::default()).await.unwrap().into_iter().map(|p| (p.address.clone(), p)).collect()
    }

    /// Every hook on the Dell R320 report: properties, created / updated / deleted ports with
    /// their LLDP switch ports and physical networks, stored plugin data; then a second
    /// inspection where raid-device learns the disk that appeared.
    #[tokio::test]
    async fn the_hooks_outcome_is_applied() {
        let hooks = HookConfig {
            hooks: HookConfig::all_hooks(),
            add_ports: AddPorts::All,
            keep_ports: KeepPorts::Present,
            physical_network_cidr_map: vec![parse_cidr_map_entry("10.8.146.0/24:provisioning").unwrap()],
            ..Default::default()
        };
        let (_dir, store, c) = waiting(hooks, json!({})).await;
        let mut em2 = port("b0:83:fe:c6:63:87", true);
        em2.local_link_connection.insert("port_id".into(), json!("operator"));
        store.create_port(em2).await.unwrap();
        store.create_port(port("52:54:00:00:00:99", false)).await.unwrap();
        let doc = fixture("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json");
        let mut plugin_data: Dict = doc.as_object().unwrap().clone();
        let inventory = plugin_data.remove("inventory").unwrap();

        let n = inspect(&store, &c, inventory.clone(), plugin_data.clone()).await;
        assert_eq!(n.provision_state, S::Manageable, "{:?}", n.last_error);
        assert_eq!(
            Value::Object(n.properties.clone()),
            json!({"cpu_arch": "x86_64", "cpus": 16, "memory_mb": 81920, "local_gb": 557,
                   "capabilities": "boot_mode:bios,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true,cpu_txt:true"})
        );
        let ports = ports_by_mac(&store).await;
        let macs: Vec<&String> = ports.keys().collect();
        assert_eq!(macs, ["a0:36:9f:52:7f:b2", "a0:36:9f:52:7f:b3", "b0:83:fe:c6:63:86", "b0:83:fe:c6:63:87"], "the stale port is gone");
        let em1 = &ports["b0:83:fe:c6:63:86"];
        assert!(em1.pxe_enabled);
        assert_eq!(em1.physical_network.as_deref(), Some("provisioning"));
        assert_eq!(
            Value::Object(em1.local_link_connection.clone()),
            json!({"switch_id": "64:64:9b:32:f3:00", "port_id": "ge-0/0/25", "switch_info": "sw01-dist-1b-b12.rdu2"})
        );
        let em2 = &ports["b0:83:fe:c6:63:87"];
        assert!(!em2.pxe_enabled, "update_pxe_enabled");
        assert_eq!(em2.local_link_connection["port_id"], "operator", "an existing value is kept");
        assert_eq!(em2.local_link_connection["switch_id"], "64:64:9b:32:f3:00");
        assert_eq!(em2.physical_network, None);
        assert_eq!(ports["a0:36:9f:52:7f:b3"].local_link_connection["port_id"], "ge-1/0/26");
        let stored = store.get_inventory(UUID).await.unwrap().unwrap();
        assert_eq!(stored.plugin_data["parsed_lldp"]["p2p1"]["switch_port_link_aggregation_id"], 662);
        assert_eq!(stored.plugin_data["local_gb"], 557);

        // The operator builds a RAID volume; the next inspection sees one new disk.
        let mut inventory2 = inventory.clone();
        inventory2["disks"].as_array_mut().unwrap().push(json!({"name": "/dev/sdb", "size": 1199638052864u64, "serial": "RAID-NEW", "model": "PERC H710"}));
        let n = inspect(&store, &c, inventory2, plugin_data).await;
        assert_eq!(n.provision_state, S::Manageable, "{:?}", n.last_error);
        assert_eq!(n.properties["root_device"], json!({"serial": "RAID-NEW"}));
        assert_eq!(n.properties["local_gb"], 1116, "1199638052864 B = 1117.25 GiB, minus 1");
        assert_eq!(ports_by_mac(&store).await.len(), 4, "nothing changes the second time");
    }

    /// A machine that boots and reports at once (the lab with no boot delay): its BMC's
    /// power-on delivers the report, as the API would (lookup, then `continue_inspection`),
    /// while the task powering it on still holds the node in `inspecting`.
    struct ReportsOnPowerOn {
        conductor: std::sync::OnceLock<Conductor>,
        /// The report's lookup keys: MACs and BMC addresses.
        keys: (Vec<String>, Vec<String>),
        /// What the lookup found (the node's state then), and the delivery.
        delivered: tokio::sync::mpsc::UnboundedSender<(CResult<S>, Option<tokio::task::JoinHandle<CResult<()>>>)>,
    }

    impl ferric_drivers::PowerInterface for ReportsOnPowerOn {
        fn validate(&self, _node: &Node) -> ferric_drivers::DResult<()> {
            Ok(())
        }
        fn get_power_state<'a>(&'a self, node: &'a Node) -> ferric_drivers::BoxFut<'a, ferric_drivers::DResult<PowerState>> {
            Box::pin(async move { Ok(node.power_state.unwrap_or(PowerState::Off)) })
        }
        fn set_power_state<'a>(&'a self, _node: &'a Node, target: PowerState, _t: Option<u64>) -> ferric_drivers::BoxFut<'a, ferric_drivers::DResult<PowerState>> {
            Box::pin(async move {
                if target == PowerState::Off {
                    return Ok(PowerState::Off);
                }
                let c = self.conductor.get().expect("the conductor is set").clone();
                let found = c.inspection_lookup(&self.keys.0, &self.keys.1, None).await;
                let delivery = found.as_ref().ok().map(|n| {
                    let (uuid, (inventory, plugin_data)) = (n.uuid.clone(), kvm_report());
                    tokio::spawn(async move { c.continue_inspection(&uuid, inventory, plugin_data).await })
                });
                let _ = self.delivered.send((found.map(|n| n.provision_state), delivery));
                Ok(PowerState::On)
            })
        }
    }

    fn kvm_report() -> (Value, Dict) {
        let mut plugin_data: Dict = fixture("metal3-inspector-data-kvm-vm.json").as_object().unwrap().clone();
        let inventory = plugin_data.remove("inventory").unwrap();
        (inventory, plugin_data)
    }

    /// A report that arrives before the conductor has recorded `inspect wait` is looked up
    /// (by MAC, or by BMC address alone) and waits for the node's lock, then is processed:
    /// it is not refused and lost. Nothing here depends on timing: the report is sent from
    /// inside the power-on, before the boot task can record the wait state.
    #[tokio::test]
    async fn a_report_sent_during_the_power_on_is_not_lost() {
        for by_bmc in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(StoreConfig::new(dir.path().join("db.sqlite"))).unwrap();
            let keys = if by_bmc { (vec![], vec!["192.0.2.10".to_string()]) } else { (vec!["00:ca:ff:65:6e:68".to_string()], vec![]) };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let power = std::sync::Arc::new(ReportsOnPowerOn { conductor: Default::default(), keys, delivered: tx });
            let mut drivers = Registry::builtin();
            drivers.impls.power.insert("fake", power.clone());
            // A generous bound for the lock wait: the boot task holds the node for two writes.
            let cfg = ConductorConfig { node_locked_retry_interval: Duration::from_millis(10), node_locked_retry_attempts: 500, ..Default::default() };
            let c = Conductor::new(store.clone(), drivers, cfg);
            power.conductor.set(c.clone()).ok().unwrap();
            let mut node = Node {
                uuid: UUID.into(),
                driver: "fake-hardware".into(),
                interfaces: ferric_core::Interfaces { inspect: "agent".into(), ..Default::default() },
                created_at: now(),
                ..Default::default()
            };
            node.driver_info.insert("fake_address".into(), json!("192.0.2.10"));
            store.create_node(node).await.unwrap();
            if !by_bmc {
                store.create_port(port("00:ca:ff:65:6e:68", true)).await.unwrap();
            }
            c.provision(UUID, Event::Manage, ProvisionArgs::default()).await.unwrap();
            settled(&store).await;

            c.provision(UUID, Event::Inspect, ProvisionArgs::default()).await.unwrap();
            let (seen, delivery) = rx.recv().await.unwrap();
            assert_eq!(seen.map_err(|e| e.to_string()), Ok(S::Inspecting), "by BMC: {by_bmc}: the lookup finds the node being booted");
            delivery.unwrap().await.unwrap().unwrap();
            let n = settled(&store).await;
            assert_eq!(n.provision_state, S::Manageable, "by BMC: {by_bmc}: {:?}", n.last_error);
            assert_eq!(n.properties["cpu_arch"], "x86_64", "by BMC: {by_bmc}: the report was processed");
            assert_eq!(store.list_inspections(UUID).await.unwrap().len(), 1, "by BMC: {by_bmc}: one report, stored once");
        }
    }

    #[tokio::test]
    async fn a_failing_hook_fails_inspection_and_changes_nothing() {
        let hooks = HookConfig { hooks: HookConfig::all_hooks(), ..Default::default() };
        let (_dir, store, c) = waiting(hooks, json!({"root_device": {"serial": "not-there"}})).await;
        let doc = fixture("metal3-inspector-data-kvm-vm.json");
        let mut plugin_data: Dict = doc.as_object().unwrap().clone();
        let inventory = plugin_data.remove("inventory").unwrap();
        let n = inspect(&store, &c, inventory, plugin_data).await;
        assert_eq!(n.provision_state, S::InspectFailed);
        assert_eq!(
            n.last_error.as_deref(),
            Some(
                "Failed to finish inspection: Failed to inspect hardware. Reason: failed to run inspection hooks: Failed to inspect \
                 hardware. Reason: No disks satisfied root device hints for node 5d2ab1c0-8d2e-4bb4-9d58-4b4ef3a0f001"
            )
        );
        assert!(ports_by_mac(&store).await.is_empty(), "no port is created when a later hook fails");
        assert!(!n.properties.contains_key("cpus"));
    }
}

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
        let current = driver.power.get_power_state(&task.node).await?;
        let target = if current == PowerState::On { PowerState::Rebooting } else { PowerState::On };
        let state = driver.power.set_power_state(&task.node, target, None).await?;
        task.node.set_power_state(state);
        Ok(())
    }

    /// Power the node off at the end of inspection unless it asks not to be.
    async fn power_off_after_inspection(&self, task: &mut Task, driver: &Driver) {
        if !self.config().power_off_after_inspection || task.node.disable_power_off {
            return;
        }
        match driver.power.set_power_state(&task.node, PowerState::Off, None).await {
            Ok(state) => task.node.set_power_state(state),
            Err(e) => tracing::warn!(node = %task.node.uuid, error = %e, "could not power off after inspection"),
        }
    }

    /// Find the node an inspection report belongs to (Ironic's `inspect_utils.lookup_node`):
    /// by UUID, by port MACs, then cross-checked against cached BMC addresses. The node must
    /// be waiting for inspection. Ambiguity is an error, never a guess.
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
                    if n.provision_state == S::InspectWait {
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
            if n.provision_state != S::InspectWait {
                tracing::error!(node = %n.uuid, state = %n.provision_state, "inspection lookup found a node that is not waiting for inspection");
                return Err(not_found());
            }
        }
        if !bmcs.is_empty() {
            let waiting = store
                .list_nodes(
                    ferric_store::NodeFilter { provision_state: Some(S::InspectWait.as_str().into()), ..Default::default() },
                    Default::default(),
                )
                .await?;
            let by_bmc: Vec<Node> = waiting
                .into_iter()
                .filter(|c| {
                    c.driver_internal_info
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

    /// Run the hooks over a report and apply the result to the node (properties) and its
    /// ports; store the processed data with the inspection record (or its error).
    async fn process_report(&self, task: &mut Task, record: &str, inventory: Value, mut plugin_data: Dict) -> CResult<()> {
        let result = self.apply_hooks(task, &inventory, &mut plugin_data).await;
        let store = self.store();
        match result {
            Ok(()) => {
                task.node.wipe_token_and_url();
                plugin_data.remove("logs");
                store.finish_inspection(record, Ok((inventory, Value::Object(plugin_data)))).await?;
                Ok(())
            }
            Err(e) => {
                if let Err(se) = store.finish_inspection(record, Err(e.to_string())).await {
                    tracing::error!(node = %task.node.uuid, error = %se, "cannot record the failed inspection");
                }
                Err(e)
            }
        }
    }

    async fn apply_hooks(&self, task: &mut Task, inventory: &Value, plugin_data: &mut Dict) -> CResult<()> {
        let store = self.store();
        let ports: Vec<Port> = store
            .list_ports(ferric_store::PortFilter { node_uuid: Some(task.node.uuid.clone()), ..Default::default() }, Default::default())
            .await?;
        let outcome = hooks::process(&self.config().inspection, &task.node, &ports, inventory, plugin_data)
            .map_err(ConductorError::Invalid)?;
        for change in outcome.port_changes {
            match change {
                PortChange::Create { address, pxe_enabled, extra } => {
                    let port = Port {
                        uuid: uuid::Uuid::new_v4().to_string(),
                        address: address.clone(),
                        node_uuid: task.node.uuid.clone(),
                        pxe_enabled,
                        extra,
                        created_at: now(),
                        ..Default::default()
                    };
                    match store.create_port(port).await {
                        Ok(_) => tracing::info!(node = %task.node.uuid, %address, pxe_enabled, "port created by inspection"),
                        // Ironic skips a MAC that another node already has.
                        Err(ferric_store::StoreError::Duplicate { .. }) => {
                            tracing::warn!(node = %task.node.uuid, %address, "inspection found a MAC that is already a port")
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                PortChange::Delete { uuid, address } => {
                    store.delete_port(&uuid).await?;
                    tracing::info!(node = %task.node.uuid, %address, "port removed by inspection (keep_ports)");
                }
                PortChange::Update { uuid, pxe_enabled, extra } => {
                    let mut p = store.get_port(&uuid).await?;
                    p.pxe_enabled = pxe_enabled;
                    p.extra = extra;
                    store.save_port(p).await?;
                }
            }
        }
        task.node.properties = outcome.properties;
        Ok(())
    }
}

/// The report as the ramdisk sent it, less its logs (kept for reapplying and for the
/// inspector's unprocessed-data API).
fn raw_report(inventory: &Value, plugin_data: &Dict) -> Value {
    let mut raw = plugin_data.clone();
    raw.remove("logs");
    raw.insert("inventory".into(), inventory.clone());
    Value::Object(raw)
}

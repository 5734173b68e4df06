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
    /// be waiting for inspection. Ambiguity is an error, never a guess.
    pub async fn inspection_lookup(&self, macs: &[String], bmcs: &[String], node_uuid: Option<&str>) -> CResult<Node> {
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

    /// Accept an inspection report for a node waiting for it: take the lock, resume, and
    /// process on a worker. Returns once the report is accepted.
    pub async fn continue_inspection(&self, node_uuid: &str, inventory: Value, plugin_data: Dict) -> CResult<()> {
        let mut task = self.acquire(node_uuid).await?;
        if task.node.provision_state != S::InspectWait {
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
            let result = this.process_inspection(&mut task, &inventory, plugin_data).await;
            if let Err(e) = result {
                let msg = format!("Failed to finish inspection: {e}");
                tracing::warn!(node = %task.node.uuid, error = %msg, "inspection processing failed");
                this.record_error(&mut task, history::INTROSPECTION, msg);
                let _ = this.fire(&mut task, Event::Fail, None);
            }
            task.node.driver_internal_info.remove(LOOKUP_CACHE);
            this.power_off_after_inspection(&mut task, &driver).await;
            this.finish(task).await;
        });
        Ok(())
    }

    async fn process_inspection(&self, task: &mut Task, inventory: &Value, mut plugin_data: Dict) -> CResult<()> {
        let store = self.store();
        let ports: Vec<Port> = store
            .list_ports(ferric_store::PortFilter { node_uuid: Some(task.node.uuid.clone()), ..Default::default() }, Default::default())
            .await?;
        let outcome = hooks::process(&self.config().inspection, &task.node, &ports, inventory, &mut plugin_data)
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
        task.node.wipe_token_and_url();
        plugin_data.remove("logs");
        store.save_inventory(&task.node.uuid, inventory.clone(), Value::Object(plugin_data)).await?;
        task.node.inspection_finished_at = Some(now());
        task.node.inspection_started_at = None;
        self.fire(task, Event::Done, None)
    }
}

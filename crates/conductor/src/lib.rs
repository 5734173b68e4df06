//! The conductor: it changes nodes. Every change of a node's provision or power state runs here,
//! under the node's exclusive lock (a reservation in the store owned by this conductor's host
//! name), on a bounded pool of workers.
//!
//! * `provision()` checks the verb against the state machine, takes the lock, fires the first
//!   event and returns at once (the API answers 202); the rest of the flow runs on a worker that
//!   releases the lock when it ends.
//! * On start the conductor clears the locks its previous life left behind and fails nodes
//!   stuck in transient states (Ironic's `_correct_stuck_states`).
//! * Periodic tasks (registered in [`periodic`]) watch every wait state's timeout and keep
//!   recorded power states in line with the hardware ([`power_sync`]).
//!
//! Architecture invariant: the conductor knows the store, the drivers and the core's state
//! machine, never HTTP or wire JSON.

mod allocations;
pub mod boot;
mod bulk;
pub mod discovery;
mod flows;
pub mod inspection;
pub mod periodic;
pub mod power_sync;
pub mod pxe_filter;
pub mod rules;
mod templates;

use ferric_core::model::history;
use ferric_core::{fsm, Dict, Event, Node, NodeHistory, PowerState, ProvisionState, Timestamp};
use ferric_drivers::{DriverError, Registry};
use ferric_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone)]
pub struct ConductorConfig {
    /// This conductor's name; it owns the locks it takes under this name.
    pub host: String,
    pub conductor_group: String,
    /// Concurrent node tasks; beyond that the API answers 503 NoFreeConductorWorker.
    pub workers: usize,
    pub node_locked_retry_attempts: u32,
    pub node_locked_retry_interval: Duration,
    /// `[conductor]automated_clean`.
    pub automated_clean: bool,
    pub allow_deleting_available_nodes: bool,
    /// Wait-state timeouts (0 disables one).
    pub deploy_callback_timeout: Duration,
    pub clean_callback_timeout: Duration,
    pub inspect_wait_timeout: Duration,
    pub rescue_callback_timeout: Duration,
    pub service_callback_timeout: Duration,
    /// How often wait states are checked for time-outs.
    pub check_timeouts_interval: Duration,
    /// How often this conductor refreshes its registration.
    pub heartbeat_interval: Duration,
    /// Inspection processing hooks and their options (`[inspector]hooks`, `add_ports`, ...).
    pub inspection: ferric_core::inspection::HookConfig,
    /// `[redfish]inspection_hooks`: the hooks run over out-of-band (Redfish) inspection data.
    pub oob_inspection: ferric_core::inspection::HookConfig,
    /// `[inspector]power_off`: power the machine off when inspection ends.
    pub power_off_after_inspection: bool,
    /// `[conductor]node_history`: journal errors and noteworthy events per node.
    pub node_history: bool,
    /// `[conductor]node_history_max_entries`: entries kept per node (the oldest go first).
    pub node_history_max_entries: usize,
    /// `[auto_discovery]`: enroll unknown machines that report (off: `None`).
    pub discovery: Option<discovery::DiscoveryConfig>,
    /// `[inspection_rules]`: masking, built-in rules, the HTTP client for `api-call`.
    pub inspection_rules: rules::RulesConfig,
    /// `[conductor]sync_power_state_interval`: how often recorded power states are compared
    /// with the hardware's (zero disables the sync).
    pub sync_power_state_interval: Duration,
    /// `[conductor]sync_power_state_workers`: BMC calls of one sync run in flight at once.
    pub sync_power_state_workers: usize,
    /// `[conductor]power_state_sync_max_retries`: consecutive failed or mismatched syncs of a
    /// node before it goes into maintenance with fault "power failure".
    pub power_state_sync_max_retries: u32,
    /// `[conductor]force_power_state_during_sync`: on a mismatch, set the hardware to the
    /// recorded state (true) or record the hardware's state (false).
    pub force_power_state_during_sync: bool,
    /// `[conductor]power_failure_recovery_interval`: how often nodes in maintenance for a
    /// power failure are checked again (zero disables the check).
    pub power_failure_recovery_interval: Duration,
    /// `[conductor]power_state_sync_timeout` (ferric's): the most one BMC call of the sync or
    /// the recovery may take; a call that takes longer counts as a failure (zero: no limit).
    pub power_state_sync_timeout: Duration,
}

impl Default for ConductorConfig {
    fn default() -> Self {
        ConductorConfig {
            host: "localhost".into(),
            conductor_group: String::new(),
            workers: 100,
            node_locked_retry_attempts: 3,
            node_locked_retry_interval: Duration::from_secs(1),
            automated_clean: true,
            allow_deleting_available_nodes: true,
            deploy_callback_timeout: Duration::from_secs(1800),
            clean_callback_timeout: Duration::from_secs(1800),
            inspect_wait_timeout: Duration::from_secs(1800),
            rescue_callback_timeout: Duration::from_secs(1800),
            service_callback_timeout: Duration::from_secs(1800),
            check_timeouts_interval: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(10),
            inspection: ferric_core::inspection::HookConfig::default(),
            oob_inspection: ferric_core::inspection::HookConfig {
                hooks: ferric_core::inspection::DEFAULT_OOB_HOOKS.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            power_off_after_inspection: true,
            node_history: true,
            node_history_max_entries: 300,
            discovery: None,
            inspection_rules: rules::RulesConfig::default(),
            sync_power_state_interval: Duration::from_secs(60),
            sync_power_state_workers: 64,
            power_state_sync_max_retries: 3,
            force_power_state_during_sync: true,
            power_failure_recovery_interval: Duration::from_secs(300),
            power_state_sync_timeout: Duration::from_secs(30),
        }
    }
}

/// Errors the API turns into Ironic's faults and status codes.
#[derive(Debug, thiserror::Error)]
pub enum ConductorError {
    #[error("{kind} {ident} could not be found.")]
    NotFound { kind: &'static str, ident: String },
    /// 409
    #[error("Node {node} is locked by host {holder}, please retry after the current operation is completed.")]
    NodeLocked { node: String, holder: String },
    /// 503
    #[error("Requested action cannot be performed due to lack of free conductor workers.")]
    NoFreeWorker,
    /// 400
    #[error("The requested action \"{verb}\" can not be performed on node \"{node}\" while it is in state \"{state}\".")]
    InvalidState { verb: String, node: String, state: String },
    /// 400
    #[error("{0}")]
    Invalid(String),
    /// 400
    #[error("The node {0} is in maintenance mode and cannot be used for this operation.")]
    InMaintenance(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 503: Ironic's `TemporaryFailure`.
    #[error("{0}")]
    TemporaryFailure(String),
    /// 500
    #[error("{0}")]
    Driver(String),
    /// 500
    #[error("{0}")]
    Store(StoreError),
}

impl From<StoreError> for ConductorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, ident } => ConductorError::NotFound { kind, ident },
            StoreError::Locked { node, holder } => ConductorError::NodeLocked { node, holder },
            other => ConductorError::Store(other),
        }
    }
}

impl From<DriverError> for ConductorError {
    fn from(e: DriverError) -> Self {
        match e {
            DriverError::InvalidParameter(m) | DriverError::Unsupported(m) => ConductorError::Invalid(m),
            DriverError::Failed(m) => ConductorError::Driver(m),
        }
    }
}

pub type CResult<T> = Result<T, ConductorError>;

/// Arguments of a provision request besides the verb.
#[derive(Debug, Clone, Default)]
pub struct ProvisionArgs {
    pub clean_steps: Option<Vec<Dict>>,
    pub deploy_steps: Option<Vec<Dict>>,
    pub service_steps: Option<Vec<Dict>>,
    pub configdrive: Option<serde_json::Value>,
    pub rescue_password: Option<String>,
    pub disable_ramdisk: Option<bool>,
}

#[derive(Clone)]
pub struct Conductor {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    drivers: Registry,
    config: ConductorConfig,
    workers: Arc<Semaphore>,
    /// Signalled after every node save (the PXE filter listens).
    changed: tokio::sync::Notify,
    /// Serializes the enrollment of discovered machines.
    discovery_lock: tokio::sync::Mutex<()>,
    /// The power-state sync's failure counts and run guards.
    power_sync: power_sync::PowerSync,
}

/// The lock and worker a task holds; dropping it releases the worker, and [`Task::finish`]
/// releases the lock.
pub(crate) struct Task {
    pub node: Node,
    /// History entries written with the node's next save.
    pub history: Vec<NodeHistory>,
    _permit: OwnedSemaphorePermit,
}

impl Conductor {
    pub fn new(store: Store, drivers: Registry, config: ConductorConfig) -> Conductor {
        let workers = Arc::new(Semaphore::new(config.workers.max(1)));
        Conductor {
            inner: Arc::new(Inner {
                store,
                drivers,
                config,
                workers,
                changed: tokio::sync::Notify::new(),
                discovery_lock: tokio::sync::Mutex::new(()),
                power_sync: power_sync::PowerSync::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn drivers(&self) -> &Registry {
        &self.inner.drivers
    }
    pub fn config(&self) -> &ConductorConfig {
        &self.inner.config
    }
    pub fn host(&self) -> &str {
        &self.inner.config.host
    }
    pub(crate) fn workers(&self) -> Arc<Semaphore> {
        self.inner.workers.clone()
    }

    /// Workers free right now.
    pub fn free_workers(&self) -> usize {
        self.inner.workers.available_permits()
    }

    /// Register this conductor, clear its stale locks, fail nodes stuck in transient states.
    /// Returns the UUIDs of the nodes it had to fail.
    pub async fn start_up(&self) -> CResult<Vec<String>> {
        self.register(true).await?;
        let host = self.host().to_string();
        let cleared = self.inner.store.clear_reservations(&host).await?;
        if !cleared.is_empty() {
            tracing::warn!(count = cleared.len(), "cleared locks left by a previous run of this conductor");
            let n = self
                .inner
                .store
                .fail_unfinished_inspections(
                    cleared.clone(),
                    "The conductor restarted while the inspection data was being processed.".into(),
                )
                .await?;
            if n > 0 {
                tracing::warn!(count = n, "marked inspections interrupted by the restart as failed");
            }
        }
        let stuck: Vec<String> = ProvisionState::ALL
            .iter()
            .filter(|s| s.is_stuck_on_restart())
            .map(|s| s.as_str().to_string())
            .collect();
        let nodes = self
            .inner
            .store
            .list_nodes(
                ferric_store::NodeFilter { provision_states: Some(stuck), ..Default::default() },
                Default::default(),
            )
            .await?;
        let mut failed = Vec::new();
        let keep = self.inner.config.node_history_max_entries;
        for node in nodes {
            if node.reservation.as_deref().is_some_and(|h| h != host) {
                continue; // another live conductor owns it
            }
            let state = node.provision_state;
            let this = self.clone();
            let r = self
                .inner
                .store
                .update_node_recording(&node.uuid, None, keep, move |n| {
                    if n.provision_state != state {
                        return Err(());
                    }
                    let t = fsm::fire(state, Event::Fail, None).ok_or(())?;
                    let error = format!(
                        "The conductor restarted while the node was in state \"{state}\"; the operation was not completed."
                    );
                    // As Ironic's `_fail_if_in_state`: recorded in the stuck state, then failed.
                    let entry = this.history_entry(n, history::ERROR, history::TRANSITION, &error, n.provision_updated_at);
                    n.apply_transition(t, ferric_core::model::now());
                    n.last_error = Some(error);
                    Ok(entry)
                })
                .await?;
            if r.is_ok() {
                tracing::warn!(node = %node.uuid, state = %state, "failed a node stuck in a transient state");
                failed.push(node.uuid);
            }
        }
        let resumed = self.resume_bulk_inspections().await?;
        if resumed > 0 {
            tracing::info!(count = resumed, "resumed unfinished bulk inspections");
        }
        Ok(failed)
    }

    /// Refresh this conductor's row (its heartbeat).
    pub async fn register(&self, online: bool) -> CResult<()> {
        let now = ferric_core::model::now();
        self.inner
            .store
            .register_conductor(ferric_core::Conductor {
                hostname: self.host().to_string(),
                conductor_group: self.inner.config.conductor_group.clone(),
                online,
                drivers: self.inner.drivers.hardware_types.keys().map(|s| s.to_string()).collect(),
                created_at: now,
                updated_at: Some(now),
            })
            .await?;
        Ok(())
    }

    /// Take a worker and the node's lock (retrying as Ironic does), or fail with 503/409.
    pub(crate) async fn acquire(&self, ident: &str) -> CResult<Task> {
        let permit = self.inner.workers.clone().try_acquire_owned().map_err(|_| ConductorError::NoFreeWorker)?;
        let mut attempt = 0;
        loop {
            match self.inner.store.reserve_node(ident, self.host()).await {
                Ok(node) => return Ok(Task { node, history: Vec::new(), _permit: permit }),
                Err(StoreError::Locked { .. }) if attempt + 1 < self.inner.config.node_locked_retry_attempts => {
                    attempt += 1;
                    tokio::time::sleep(self.inner.config.node_locked_retry_interval).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Save the task's node (it must hold the lock) with the history entries it recorded.
    pub(crate) async fn save(&self, task: &mut Task) -> CResult<()> {
        let history = std::mem::take(&mut task.history);
        let keep = self.inner.config.node_history_max_entries;
        task.node = self.inner.store.save_node_recording(task.node.clone(), self.host(), history, keep).await?;
        self.inner.changed.notify_one();
        Ok(())
    }

    /// A history entry about `node` as it is now (Ironic's `node_history_record`), or `None`
    /// when history is off. `since` is when the node entered the provision state it was in
    /// when the event happened (for `duration_seconds`).
    pub(crate) fn history_entry(
        &self,
        node: &Node,
        severity: &str,
        event_type: &str,
        event: &str,
        since: Option<Timestamp>,
    ) -> Option<NodeHistory> {
        let cfg = &self.inner.config;
        if !cfg.node_history || cfg.node_history_max_entries == 0 || event.is_empty() {
            return None;
        }
        let now = ferric_core::model::now();
        Some(NodeHistory {
            uuid: uuid::Uuid::new_v4().to_string(),
            node_uuid: node.uuid.clone(),
            created_at: now,
            severity: severity.into(),
            event_type: event_type.into(),
            event: event.into(),
            user: None,
            project: None,
            conductor: Some(self.host().to_string()),
            state: Some(node.provision_state.as_str().to_string()),
            target_provision_state: node.target_provision_state.map(|s| s.as_str().to_string()),
            duration_seconds: since.map(|t| (now - t).num_seconds()),
            ..Default::default()
        })
    }

    /// An error on the task's node: it becomes `last_error` and an `ERROR` history entry
    /// written with the next save.
    pub(crate) fn record_error(&self, task: &mut Task, event_type: &str, error: String) {
        let since = task.node.provision_updated_at;
        task.history.extend(self.history_entry(&task.node, history::ERROR, event_type, &error, since));
        task.node.last_error = Some(error);
    }

    /// Save and release the lock.
    pub(crate) async fn finish(&self, mut task: Task) {
        if let Err(e) = self.save(&mut task).await {
            tracing::error!(node = %task.node.uuid, error = %e, "could not save node at the end of a task");
        }
        if let Err(e) = self.inner.store.release_node(&task.node.uuid, self.host()).await {
            tracing::error!(node = %task.node.uuid, error = %e, "could not release node lock");
        }
    }

    /// Release the lock without saving (the task changed nothing, or saved elsewhere).
    pub(crate) async fn release(&self, task: Task) {
        if let Err(e) = self.inner.store.release_node(&task.node.uuid, self.host()).await {
            tracing::error!(node = %task.node.uuid, error = %e, "could not release node lock");
        }
    }

    /// Fire `event` on the task's node; an illegal event is a bug in a flow.
    pub(crate) fn fire(&self, task: &mut Task, event: Event, target: Option<ProvisionState>) -> CResult<()> {
        let from = task.node.provision_state;
        let t = fsm::fire(from, event, target).ok_or_else(|| ConductorError::InvalidState {
            verb: event.to_string(),
            node: task.node.uuid.clone(),
            state: from.to_string(),
        })?;
        task.node.apply_transition(t, ferric_core::model::now());
        Ok(())
    }

    /// `PUT /v1/nodes/{id}/states/power`. Returns once the request is accepted.
    pub async fn change_power_state(&self, ident: &str, target: PowerState, timeout: Option<u64>) -> CResult<()> {
        let mut task = self.acquire(ident).await?;
        // Ironic's `node_power_action` refuses to power off a node with `disable_power_off`.
        if let Err(e) = refuse_power_off(&task.node, target) {
            self.release(task).await;
            return Err(e);
        }
        let driver = match self.inner.drivers.driver_for(&task.node) {
            Ok(d) => d,
            Err(e) => {
                self.finish(task).await;
                return Err(e.into());
            }
        };
        if let Err(e) = driver.power.validate(&task.node) {
            self.finish(task).await;
            return Err(e.into());
        }
        if !driver.power.supported_power_states().contains(&target) {
            self.finish(task).await;
            return Err(ConductorError::Invalid(format!(
                "The requested power state {target} is not supported by the power interface of node {}",
                ident
            )));
        }
        task.node.target_power_state = Some(match target {
            PowerState::Rebooting | PowerState::SoftRebooting => PowerState::On,
            PowerState::SoftPowerOff => PowerState::Off,
            t => t,
        });
        task.node.last_error = None;
        self.save(&mut task).await?;
        let this = self.clone();
        tokio::spawn(async move {
            let r = driver.power.set_power_state(&task.node, target, timeout).await;
            match r {
                Ok(state) => {
                    if task.node.power_state != Some(state) {
                        task.node.driver_internal_info.insert(
                            "last_power_state_change".into(),
                            ferric_core::model::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string().into(),
                        );
                    }
                    task.node.set_power_state(state);
                }
                Err(e) => {
                    // Ironic's `node_power_action` names no event type: it is recorded as UNKNOWN.
                    this.record_error(&mut task, history::UNKNOWN, format!("Failed to change power state to '{target}': {e}"));
                }
            }
            task.node.target_power_state = None;
            this.finish(task).await;
        });
        Ok(())
    }

    /// Set the boot device (synchronous, under the lock).
    pub async fn set_boot_device(&self, ident: &str, device: &str, persistent: bool) -> CResult<()> {
        let mut task = self.acquire(ident).await?;
        let r = async {
            let driver = self.inner.drivers.driver_for(&task.node)?;
            driver.management.validate(&task.node)?;
            driver.management.set_boot_device(&task.node, device, persistent).await?;
            if driver.hardware_type == "fake-hardware" {
                ferric_drivers::fake::remember_boot_device(&mut task.node, device, persistent);
            }
            Ok::<(), ConductorError>(())
        }
        .await;
        self.finish(task).await;
        r
    }

    /// `PUT /states/boot_mode` and `/states/secure_boot` (API 1.76): accepted at once; the
    /// outcome lands in `boot_mode`/`secure_boot` or `last_error`, as in Ironic.
    pub async fn change_boot_settings(&self, ident: &str, boot_mode: Option<String>, secure_boot: Option<bool>) -> CResult<()> {
        let mut task = self.acquire(ident).await?;
        let driver = match self.inner.drivers.driver_for(&task.node) {
            Ok(d) => d,
            Err(e) => {
                self.release(task).await;
                return Err(e.into());
            }
        };
        if let Err(e) = driver.management.validate(&task.node) {
            self.release(task).await;
            return Err(e.into());
        }
        task.node.last_error = None;
        self.save(&mut task).await?;
        let this = self.clone();
        tokio::spawn(async move {
            let r = match (&boot_mode, secure_boot) {
                (Some(mode), _) => driver.management.set_boot_mode(&task.node, mode).await.map(|_| task.node.boot_mode = Some(mode.clone())),
                (None, Some(on)) => driver.management.set_secure_boot(&task.node, on).await.map(|_| task.node.secure_boot = Some(on)),
                (None, None) => Ok(()),
            };
            if let Err(e) = r {
                let what = match (&boot_mode, secure_boot) {
                    (Some(m), _) => format!("changing node boot mode to {m}"),
                    _ => "changing node secure boot state".to_string(),
                };
                tracing::warn!(node = %task.node.uuid, error = %e, "{what} failed");
                task.node.last_error = Some(format!("Failed {what}: {e}"));
            }
            this.finish(task).await;
        });
        Ok(())
    }

    /// `GET /v1/nodes/{id}/vmedia` (API 1.93): read without the lock (Ironic takes a shared
    /// one), after validating the management interface.
    pub async fn get_virtual_media(&self, ident: &str) -> CResult<serde_json::Value> {
        let node = self.inner.store.get_node(ident).await?;
        let driver = self.inner.drivers.driver_for(&node)?;
        driver.management.validate(&node)?;
        Ok(driver.management.get_virtual_media(&node).await?)
    }

    /// `POST /v1/nodes/{id}/vmedia` (API 1.89): checked under the lock, then done on a worker;
    /// a failure lands in `last_error` and the node's history, as in Ironic. Attaching first
    /// withdraws any image published for the device earlier, which needs a boot interface that
    /// publishes images (fake-hardware has none, so it fails there as in Ironic).
    pub async fn attach_virtual_media(&self, ident: &str, device_type: String, image_url: String) -> CResult<()> {
        let (mut task, driver) = self.vmedia_task(ident, "attach").await?;
        let this = self.clone();
        tokio::spawn(async move {
            let r = if !driver.interface("boot").is_some_and(|b| b.publishes_images()) {
                Err(format!("Publishing images is not supported for driver {}", task.node.driver))
            } else {
                driver.management.attach_virtual_media(&task.node, &device_type, &image_url).await.map_err(|e| e.to_string())
            };
            if let Err(e) = r {
                let msg = format!("Could not attach device {device_type} to node {}: {e}", task.node.uuid);
                tracing::warn!(node = %task.node.uuid, "{msg}");
                this.record_error(&mut task, history::UNKNOWN, msg);
            }
            this.finish(task).await;
        });
        Ok(())
    }

    /// `DELETE /v1/nodes/{id}/vmedia` (API 1.89): the given devices, or all (`None`).
    pub async fn detach_virtual_media(&self, ident: &str, device_types: Option<Vec<String>>) -> CResult<()> {
        let (mut task, driver) = self.vmedia_task(ident, "detach").await?;
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = driver.management.detach_virtual_media(&task.node, device_types.as_deref()).await {
                let shown = match &device_types {
                    None => "None".to_string(),
                    Some(d) => ferric_core::validate::py_repr(&serde_json::json!(d)),
                };
                let msg = format!("Could not detach device(s) {shown} from node {}: {e}", task.node.uuid);
                tracing::warn!(node = %task.node.uuid, "{msg}");
                this.record_error(&mut task, history::UNKNOWN, msg);
            }
            this.finish(task).await;
        });
        Ok(())
    }

    /// The lock and checks of both virtual media calls; clears `last_error` as the new
    /// operation starts.
    async fn vmedia_task(&self, ident: &str, op: &str) -> CResult<(Task, ferric_drivers::Driver)> {
        let mut task = self.acquire(ident).await?;
        let checked = self.inner.drivers.driver_for(&task.node).map_err(ConductorError::from).and_then(|d| {
            d.management.validate(&task.node)?;
            Ok(d)
        });
        let driver = match checked {
            Ok(d) => d,
            Err(e) => {
                self.release(task).await;
                return Err(e);
            }
        };
        if task.node.maintenance && task.node.fault.as_deref() == Some("power failure") {
            let uuid = task.node.uuid.clone();
            self.release(task).await;
            return Err(ConductorError::TemporaryFailure(format!(
                "Unable to {op} virtual media for node {uuid} due to power failure state"
            )));
        }
        task.node.last_error = None;
        if let Err(e) = self.save(&mut task).await {
            self.release(task).await;
            return Err(e);
        }
        Ok((task, driver))
    }

    pub async fn get_boot_device(&self, ident: &str) -> CResult<(Option<String>, Option<bool>)> {
        let node = self.inner.store.get_node(ident).await?;
        let driver = self.inner.drivers.driver_for(&node)?;
        Ok(driver.management.get_boot_device(&node).await?)
    }

    pub async fn supported_boot_devices(&self, ident: &str) -> CResult<Vec<&'static str>> {
        let node = self.inner.store.get_node(ident).await?;
        let driver = self.inner.drivers.driver_for(&node)?;
        Ok(driver.management.supported_boot_devices(&node))
    }

    /// `GET /v1/nodes/{id}/validate`: per interface, `Ok` or the reason it is not usable.
    pub async fn validate(&self, ident: &str) -> CResult<Vec<(&'static str, Result<(), String>)>> {
        let node = self.inner.store.get_node(ident).await?;
        let driver = self.inner.drivers.driver_for(&node)?;
        Ok(driver.validate_all(&node).into_iter().map(|(k, r)| (k, r.map_err(|e| e.to_string()))).collect())
    }
}

/// A node with `disable_power_off` (API 1.95) is never powered off: Ironic's
/// `PowerStateFailure`, a 409.
pub(crate) fn refuse_power_off(node: &Node, target: PowerState) -> CResult<()> {
    if node.disable_power_off && matches!(target, PowerState::Off | PowerState::SoftPowerOff) {
        tracing::error!(node = %node.uuid, "refusing to power off a node with disable_power_off set");
        return Err(ConductorError::Conflict(format!("Failed to set node power state to {target}.")));
    }
    Ok(())
}

/// Power a node off, or reboot it when it must not be powered off (Ironic's handling of
/// `disable_power_off` wherever a flow powers a node off).
pub(crate) async fn power_off_or_reboot(driver: &ferric_drivers::Driver, node: &mut Node) -> Result<(), DriverError> {
    let target = if node.disable_power_off { PowerState::Rebooting } else { PowerState::Off };
    let state = driver.power.set_power_state(node, target, None).await?;
    node.set_power_state(state);
    Ok(())
}

#[cfg(test)]
mod tests;

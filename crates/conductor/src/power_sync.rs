//! Power-state sync, as Ironic's `_sync_power_states` / `do_sync_power_state` and
//! `_power_failure_recovery` (`ironic/conductor/manager.py`).
//!
//! * [`Conductor::sync_power_states`] lists every node not in maintenance in one query and
//!   asks each one's power interface for its state, without the node's lock. A node whose
//!   state matches its record costs no store write. On a mismatch the node's lock is taken
//!   (a node locked by someone else is skipped this round), the record re-checked, then:
//!   no recorded state: the actual one is recorded; `force_power_state_during_sync`: the
//!   hardware is set to the recorded state; otherwise the record takes the actual state.
//! * Consecutive failed or mismatched syncs are counted per node in memory (Ironic's
//!   `power_state_sync_count`); past `power_state_sync_max_retries` the node goes into
//!   maintenance with fault "power failure", Ironic's `maintenance_reason` and `last_error`,
//!   and a `monitoring` history entry.
//! * [`Conductor::power_failure_recovery`] checks the nodes in maintenance for a power failure
//!   and takes them out of it once their power state can be read again.
//!
//! Scale: BMC calls run on at most `sync_power_state_workers` tokio tasks at once, each call
//! bounded by `power_state_sync_timeout` (a timeout is a failure), so a dead BMC holds one slot
//! for one timeout and never delays the rest beyond that. One run of each at a time; a run that
//! overruns its interval delays the next (the periodic runner waits for it).
//!
//! Deliberate differences from Ironic:
//! * The mismatch path does not read the power state a second time before setting it (Ironic's
//!   `node_power_action` does, in `_can_skip_state_change`).
//! * Failure counts are kept only for nodes the last run listed, and a node that recovers from
//!   a power failure starts again from zero (Ironic keeps the count of deleted nodes and of
//!   nodes in maintenance, so a recovered node goes back into maintenance on its first failure).
//! * Ironic also refreshes the cached vendor, boot mode and health here; ferric does not.

use crate::{CResult, Conductor, Task};
use ferric_core::model::history;
use ferric_core::{Node, PowerState, ProvisionState};
use ferric_drivers::{DResult, Driver, DriverError};
use ferric_store::{NodeFilter, StoreError};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Ironic's `faults.POWER_FAILURE`.
pub const POWER_FAILURE: &str = "power failure";

/// Provision states in which the power state is not synced (Ironic's `SYNC_EXCLUDED_STATES`):
/// a ramdisk may be calling back, or the node is not under management yet.
pub const SYNC_EXCLUDED_STATES: &[ProvisionState] =
    &[ProvisionState::DeployWait, ProvisionState::CleanWait, ProvisionState::Enroll, ProvisionState::AdoptFailed];

/// The sync's memory between runs.
#[derive(Default)]
pub(crate) struct PowerSync {
    /// Consecutive failed or mismatched syncs per node UUID (nodes at 0 are not kept).
    counts: std::sync::Mutex<HashMap<String, u32>>,
    /// One sync run at a time.
    sync_run: tokio::sync::Mutex<()>,
    /// One recovery run at a time.
    recovery_run: tokio::sync::Mutex<()>,
}

/// What one sync run did, node by node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Nodes listed (every node not in maintenance).
    pub nodes: usize,
    /// Not checked: excluded provision state, a power action in progress, locked, a firmware
    /// update running, a driver this conductor does not have, or no recorded state and a
    /// power interface that does not validate; also nodes that changed under the lock.
    pub skipped: usize,
    /// The hardware agreed with the record.
    pub in_sync: usize,
    /// No state was recorded; the actual one now is.
    pub recorded: usize,
    /// The hardware was set back to the recorded state.
    pub forced: usize,
    /// Setting the hardware back to the recorded state failed.
    pub force_failed: usize,
    /// The record took the hardware's state (`force_power_state_during_sync = false`).
    pub updated: usize,
    /// The power state could not be read (below the retry limit).
    pub failed: usize,
    /// Of the failures and the nodes put into maintenance: BMC calls that timed out.
    pub timed_out: usize,
    /// Put into maintenance with fault "power failure".
    pub maintenance: usize,
    /// A change was needed but another process held the node's lock.
    pub lock_busy: usize,
    pub elapsed: Duration,
}

/// What one recovery run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Nodes in maintenance with fault "power failure".
    pub nodes: usize,
    /// Out of maintenance, their power state recorded.
    pub recovered: usize,
    /// The power state still cannot be read.
    pub still_failing: usize,
    /// Locked, in `enroll`, a power action in progress, or an unknown driver.
    pub skipped: usize,
    pub elapsed: Duration,
}

/// Why a BMC call gave no answer.
#[derive(Debug)]
enum BmcError {
    Driver(DriverError),
    TimedOut(Duration),
}

impl std::fmt::Display for BmcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BmcError::Driver(e) => write!(f, "{e}"),
            BmcError::TimedOut(t) => write!(f, "Timed out after {} seconds waiting for the BMC", t.as_secs_f64()),
        }
    }
}

/// The outcome of one node's sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synced {
    Skipped,
    InSync,
    Recorded,
    Forced,
    ForceFailed,
    Updated,
    Failed { timed_out: bool },
    Maintenance { timed_out: bool },
    LockBusy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    Recovered,
    StillFailing,
    Skipped,
}

/// Whether the sync leaves this node alone without asking its BMC (Ironic's checks before
/// `do_sync_power_state`).
fn sync_skips(node: &Node) -> bool {
    SYNC_EXCLUDED_STATES.contains(&node.provision_state)
        || node.maintenance
        // a power action is in progress
        || node.target_power_state.is_some()
        || node.reservation.is_some()
        // a firmware update: the BMC may not answer, and a power action would interrupt it
        || node.driver_internal_info.get("redfish_fw_updates").is_some_and(|v| !v.is_null())
}

/// Whether recovery leaves this node alone (Ironic's checks in `_power_failure_recovery`).
fn recovery_skips(node: &Node) -> bool {
    node.reservation.is_some() || !still_failed(node)
}

/// Whether a node, read again under its lock, is still one recovery may change.
fn still_failed(node: &Node) -> bool {
    node.provision_state != ProvisionState::Enroll
        && node.maintenance
        && node.fault.as_deref() == Some(POWER_FAILURE)
        // a power action is in progress
        && node.target_power_state.is_none()
}

/// Ironic's `_calculate_target_state`.
fn target_of(state: PowerState) -> PowerState {
    match state {
        PowerState::On | PowerState::Rebooting | PowerState::SoftRebooting => PowerState::On,
        PowerState::Off | PowerState::SoftPowerOff => PowerState::Off,
    }
}

/// A power state as Python's `%s` prints it (`None` when there is none).
fn show(state: Option<PowerState>) -> &'static str {
    state.map_or("None", PowerState::as_str)
}

/// The shutdown signal of the periodic runner: no new node is started once it is set (Ironic's
/// `while not self._shutdown`); calls already running finish, each within its timeout.
struct Stop(Option<watch::Receiver<bool>>);

impl Stop {
    /// A worker slot, or `None` when shutting down.
    async fn slot(&mut self, slots: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
        match &mut self.0 {
            None => slots.clone().acquire_owned().await.ok(),
            Some(rx) => {
                if *rx.borrow() {
                    return None;
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => p.ok(),
                    // set, or the runner is gone: stop either way
                    _ = rx.wait_for(|s| *s) => None,
                }
            }
        }
    }
}

impl Conductor {
    /// One run of the power-state sync over every node not in maintenance.
    pub async fn sync_power_states(&self) -> CResult<SyncReport> {
        self.sync_power_states_until(None).await
    }

    /// [`Conductor::sync_power_states`] that starts no new node once `stop` is set.
    pub(crate) async fn sync_power_states_until(&self, stop: Option<watch::Receiver<bool>>) -> CResult<SyncReport> {
        let _run = self.inner.power_sync.sync_run.lock().await;
        let started = Instant::now();
        let cfg = self.config();
        let mut nodes =
            self.store().list_nodes(NodeFilter { maintenance: Some(false), ..Default::default() }, Default::default()).await?;
        let counts = {
            let listed: HashSet<&str> = nodes.iter().map(|n| n.uuid.as_str()).collect();
            let mut counts = self.inner.power_sync.counts.lock().unwrap();
            counts.retain(|uuid, _| listed.contains(uuid.as_str()));
            counts.clone()
        };
        // As Ironic: the nodes failing most often first, to fail them fast.
        nodes.sort_by_key(|n| std::cmp::Reverse(counts.get(&n.uuid).copied().unwrap_or(0)));
        let mut report = SyncReport { nodes: nodes.len(), ..Default::default() };
        let workers = cfg.sync_power_state_workers.max(1).min(nodes.len().max(1));
        let slots = Arc::new(Semaphore::new(workers));
        let mut stop = Stop(stop);
        let mut running = JoinSet::new();
        for node in nodes {
            if sync_skips(&node) {
                report.skipped += 1;
                continue;
            }
            let driver = match self.drivers().driver_for(&node) {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(node = %node.uuid, error = %e, "power state sync skips a node whose driver is not loaded");
                    report.skipped += 1;
                    continue;
                }
            };
            let Some(slot) = stop.slot(&slots).await else {
                tracing::info!("shutting down: the power state sync starts no more nodes");
                break;
            };
            while let Some(done) = running.try_join_next() {
                self.tally(&mut report, done);
            }
            let count = counts.get(&node.uuid).copied().unwrap_or(0);
            let this = self.clone();
            running.spawn(async move {
                let uuid = node.uuid.clone();
                let (outcome, count) = this.sync_node(node, driver, count, slot).await;
                (uuid, outcome, count)
            });
        }
        while let Some(done) = running.join_next().await {
            self.tally(&mut report, done);
        }
        report.elapsed = started.elapsed();
        tracing::debug!(
            "Completed power state sync operation, evaluated {} nodes with {} workers in {:.2} seconds",
            report.nodes,
            workers,
            report.elapsed.as_secs_f64()
        );
        let interval = cfg.sync_power_state_interval;
        if !interval.is_zero() && report.elapsed > 3 * interval {
            tracing::warn!(
                "The power state sync operation runtime is 3x the [conductor]sync_power_state_interval setting. \
                 This is not ideal. You may need to tune the [conductor]sync_power_state_workers setting, \
                 or ultimately add more conductors to the ironic deployment."
            );
        }
        Ok(report)
    }

    /// Count one node's outcome and keep its failure count.
    fn tally(&self, report: &mut SyncReport, done: Result<(String, Synced, Option<u32>), tokio::task::JoinError>) {
        let (uuid, outcome, count) = match done {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "a power state sync task failed");
                report.skipped += 1;
                return;
            }
        };
        match count {
            None => {}
            Some(0) => {
                // don't bloat the map with nodes that do not fail
                self.inner.power_sync.counts.lock().unwrap().remove(&uuid);
            }
            Some(n) => {
                self.inner.power_sync.counts.lock().unwrap().insert(uuid, n);
            }
        }
        match outcome {
            Synced::Skipped => report.skipped += 1,
            Synced::InSync => report.in_sync += 1,
            Synced::Recorded => report.recorded += 1,
            Synced::Forced => report.forced += 1,
            Synced::ForceFailed => report.force_failed += 1,
            Synced::Updated => report.updated += 1,
            Synced::Failed { timed_out } => {
                report.failed += 1;
                report.timed_out += timed_out as usize;
            }
            Synced::Maintenance { timed_out } => {
                report.maintenance += 1;
                report.timed_out += timed_out as usize;
            }
            Synced::LockBusy => report.lock_busy += 1,
        }
    }

    /// A call to a node's BMC, bounded by `power_state_sync_timeout`.
    async fn bmc<T>(&self, call: impl Future<Output = DResult<T>>) -> Result<T, BmcError> {
        let limit = self.config().power_state_sync_timeout;
        if limit.is_zero() {
            return call.await.map_err(BmcError::Driver);
        }
        match tokio::time::timeout(limit, call).await {
            Ok(r) => r.map_err(BmcError::Driver),
            Err(_) => Err(BmcError::TimedOut(limit)),
        }
    }

    /// Take the node's lock for the sync, once (a locked node waits for the next run).
    async fn lock_for_sync(&self, uuid: &str, slot: OwnedSemaphorePermit, what: &str) -> Result<Task, ()> {
        match self.store().reserve_node(uuid, self.host()).await {
            Ok(node) => Ok(Task { node, history: Vec::new(), _permit: slot }),
            Err(StoreError::Locked { .. }) => {
                tracing::info!(node = %uuid, "During {what}, node {uuid} was already locked by another process. Skip.");
                Err(())
            }
            Err(StoreError::NotFound { .. }) => {
                tracing::info!(node = %uuid, "During {what}, node {uuid} was not found and presumed deleted by another process.");
                Err(())
            }
            Err(e) => {
                tracing::error!(node = %uuid, error = %e, "{what} could not lock the node");
                Err(())
            }
        }
    }

    /// Ironic's `do_sync_power_state` for one node: the outcome, and the node's new failure
    /// count (`None`: unchanged).
    async fn sync_node(&self, node: Node, driver: Driver, count: u32, slot: OwnedSemaphorePermit) -> (Synced, Option<u32>) {
        let cfg = self.config();
        let max_retries = cfg.power_state_sync_max_retries;
        let count = count.saturating_add(1);
        // If the power interface does not validate and no state was ever recorded, do not try.
        if node.power_state.is_none() && driver.power.validate(&node).is_err() {
            return (Synced::Skipped, Some(0));
        }
        let actual = match self.bmc(driver.power.get_power_state(&node)).await {
            Ok(s) => s,
            Err(e) => {
                let timed_out = matches!(e, BmcError::TimedOut(_));
                if count <= max_retries {
                    tracing::warn!(
                        node = %node.uuid,
                        "During sync_power_state, could not get power state for node {}, attempt {count} of {max_retries}. Error: {e}.",
                        node.uuid
                    );
                    return (Synced::Failed { timed_out }, Some(count));
                }
                let Ok(mut task) = self.lock_for_sync(&node.uuid, slot, "sync_power_state").await else {
                    return (Synced::LockBusy, None);
                };
                if !still_synced(&task.node) {
                    self.release(task).await;
                    return (Synced::Skipped, Some(0));
                }
                self.power_failure(&mut task, None, Some(&e));
                self.finish(task).await;
                return (Synced::Maintenance { timed_out }, Some(count));
            }
        };
        if node.power_state == Some(actual) {
            self.clear_last_error_unlocked(&node, actual).await;
            return (Synced::InSync, Some(0));
        }

        // The node will change: take its lock and look again at the record.
        let Ok(mut task) = self.lock_for_sync(&node.uuid, slot, "sync_power_state").await else {
            return (Synced::LockBusy, None);
        };
        if task.node.power_state == Some(actual) {
            if self.clear_last_error(&mut task.node, "confirmed power state match") {
                self.finish(task).await;
            } else {
                self.release(task).await;
            }
            return (Synced::InSync, Some(0));
        }
        if !still_synced(&task.node) {
            // something was done to the node meanwhile
            self.release(task).await;
            return (Synced::Skipped, Some(0));
        }
        let uuid = task.node.uuid.clone();
        let Some(expected) = task.node.power_state else {
            tracing::info!(
                node = %uuid,
                "During sync_power_state, node {uuid} has no previous known state. Recording current state '{actual}'."
            );
            task.node.power_state = Some(actual);
            self.clear_last_error(&mut task.node, "no previous known state");
            self.finish(task).await;
            return (Synced::Recorded, Some(0));
        };
        if count > max_retries {
            self.power_failure(&mut task, Some(actual), None);
            self.finish(task).await;
            return (Synced::Maintenance { timed_out: false }, Some(count));
        }
        if cfg.force_power_state_during_sync && !task.node.disable_power_off {
            tracing::warn!(
                node = %uuid,
                "During sync_power_state, node {uuid} state '{actual}' does not match expected state. Changing hardware state to '{expected}'."
            );
            let outcome = match self.force_power_state(&mut task, &driver, expected).await {
                Ok(()) => Synced::Forced,
                Err(()) => {
                    tracing::error!(
                        node = %uuid,
                        "Failed to change power state of node {uuid} to '{expected}', attempt {count} of {max_retries}."
                    );
                    Synced::ForceFailed
                }
            };
            self.finish(task).await;
            (outcome, Some(count))
        } else {
            tracing::warn!(
                node = %uuid,
                "During sync_power_state, node {uuid} state does not match expected state '{expected}'. Updating recorded state to '{actual}'."
            );
            task.node.power_state = Some(actual);
            self.finish(task).await;
            (Synced::Updated, Some(count))
        }
    }

    /// Set the hardware to `to` under the task's lock, as Ironic's `node_power_action`: the
    /// target is saved first (others see the action in progress), then the outcome. The
    /// caller saves the task at the end.
    async fn force_power_state(&self, task: &mut Task, driver: &Driver, to: PowerState) -> Result<(), ()> {
        let target = target_of(to);
        task.node.target_power_state = Some(target);
        if !task.node.provision_state.is_failure() {
            task.node.last_error = None;
        }
        task.node.driver_internal_info.insert(
            "last_power_state_change".into(),
            ferric_core::model::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string().into(),
        );
        if to != PowerState::On {
            task.node.wipe_internal_info_on_power_off();
        }
        if let Err(e) = self.save(task).await {
            tracing::error!(node = %task.node.uuid, error = %e, "could not record the power action of the power state sync");
            task.node.target_power_state = None;
            return Err(());
        }
        let r = self.bmc(driver.power.set_power_state(&task.node, to, None)).await;
        task.node.target_power_state = None;
        match r {
            Ok(state) => {
                task.node.power_state = Some(state);
                tracing::info!(node = %task.node.uuid, "Successfully set node {} power state to {target} by {to}.", task.node.uuid);
                Ok(())
            }
            Err(e) => {
                // Ironic's `node_power_action` names no event type: recorded as UNKNOWN.
                self.record_error(task, history::UNKNOWN, format!("Failed to change power state to '{target}' by '{to}': {e}"));
                Err(())
            }
        }
    }

    /// Ironic's `handle_sync_power_state_max_retries_exceeded`: the record takes the actual
    /// state (none when it could not be read) and the node goes into maintenance.
    fn power_failure(&self, task: &mut Task, actual: Option<PowerState>, error: Option<&BmcError>) {
        let node = &task.node;
        let mut msg = format!(
            "During sync_power_state, max retries exceeded for node {}, node state {} does not match expected state '{}'. \
             Updating DB state to '{}' Switching node to maintenance mode.",
            node.uuid,
            show(actual),
            show(node.power_state),
            show(actual)
        );
        if let Some(e) = error {
            msg.push_str(&format!(" Error: {e}"));
        }
        task.node.power_state = actual;
        self.record_error(task, history::MONITORING, msg.clone());
        // An operator's maintenance (and its reason) is never overwritten.
        if !task.node.maintenance {
            task.node.maintenance = true;
            task.node.maintenance_reason = Some(msg.clone());
            task.node.fault = Some(POWER_FAILURE.into());
        }
        tracing::error!(node = %task.node.uuid, "{msg}");
    }

    /// Ironic's `_clear_last_error_if_needed` on a locked node: with node history on, an
    /// error is kept there, so a confirmed power state clears `last_error`. Returns whether
    /// the node changed.
    fn clear_last_error(&self, node: &mut Node, reason: &str) -> bool {
        if !self.config().node_history || node.last_error.is_none() {
            return false;
        }
        tracing::info!(node = %node.uuid, "Clearing last_error for node {} after {reason}.", node.uuid);
        node.last_error = None;
        true
    }

    /// [`Conductor::clear_last_error`] for a node in sync, which is not locked: one atomic
    /// update when there is an error to clear, no write otherwise.
    async fn clear_last_error_unlocked(&self, node: &Node, actual: PowerState) {
        if !self.config().node_history || node.last_error.is_none() {
            return;
        }
        let r = self
            .store()
            .update_node(&node.uuid, None, move |n| {
                if n.last_error.is_none() || n.power_state != Some(actual) || n.maintenance || n.target_power_state.is_some() {
                    return Err(());
                }
                n.last_error = None;
                Ok(())
            })
            .await;
        if let Ok(Ok(_)) = r {
            tracing::info!(node = %node.uuid, "Clearing last_error for node {} after confirmed power state match.", node.uuid);
        }
    }

    /// One run of the power failure recovery over the nodes in maintenance with fault
    /// "power failure".
    pub async fn power_failure_recovery(&self) -> CResult<RecoveryReport> {
        self.power_failure_recovery_until(None).await
    }

    /// [`Conductor::power_failure_recovery`] that starts no new node once `stop` is set.
    pub(crate) async fn power_failure_recovery_until(&self, stop: Option<watch::Receiver<bool>>) -> CResult<RecoveryReport> {
        let _run = self.inner.power_sync.recovery_run.lock().await;
        let started = Instant::now();
        let filter = NodeFilter { maintenance: Some(true), fault: Some(POWER_FAILURE.into()), ..Default::default() };
        let nodes = self.store().list_nodes(filter, Default::default()).await?;
        let mut report = RecoveryReport { nodes: nodes.len(), ..Default::default() };
        let slots = Arc::new(Semaphore::new(self.config().sync_power_state_workers.max(1).min(nodes.len().max(1))));
        let mut stop = Stop(stop);
        let mut running = JoinSet::new();
        let tally = |report: &mut RecoveryReport, done: Result<Recovery, tokio::task::JoinError>| match done {
            Ok(Recovery::Recovered) => report.recovered += 1,
            Ok(Recovery::StillFailing) => report.still_failing += 1,
            Ok(Recovery::Skipped) => report.skipped += 1,
            Err(e) => {
                tracing::error!(error = %e, "a power failure recovery task failed");
                report.skipped += 1;
            }
        };
        for node in nodes {
            if recovery_skips(&node) {
                report.skipped += 1;
                continue;
            }
            let Ok(driver) = self.drivers().driver_for(&node) else {
                report.skipped += 1;
                continue;
            };
            let Some(slot) = stop.slot(&slots).await else {
                tracing::info!("shutting down: the power failure recovery starts no more nodes");
                break;
            };
            while let Some(done) = running.try_join_next() {
                tally(&mut report, done);
            }
            let this = self.clone();
            running.spawn(async move { this.recover_node(node, driver, slot).await });
        }
        while let Some(done) = running.join_next().await {
            tally(&mut report, done);
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Ironic's `_power_failure_recovery` and `handle_recovery` for one node.
    async fn recover_node(&self, node: Node, driver: Driver, slot: OwnedSemaphorePermit) -> Recovery {
        // Validate again: the driver info may have been fixed during maintenance.
        let read = match driver.power.validate(&node) {
            Err(e) => Err(BmcError::Driver(e)),
            Ok(()) => self.bmc(driver.power.get_power_state(&node)).await,
        };
        let actual = match read {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(
                    node = %node.uuid,
                    "During power_failure_recovery, could not get power state for node {}: {e}",
                    node.uuid
                );
                return Recovery::StillFailing;
            }
        };
        let Ok(mut task) = self.lock_for_sync(&node.uuid, slot, "power_failure_recovery").await else {
            return Recovery::Skipped;
        };
        if !still_failed(&task.node) {
            self.release(task).await;
            return Recovery::Skipped;
        }
        task.node.power_state = Some(actual);
        task.node.maintenance = false;
        task.node.maintenance_reason = None;
        task.node.fault = None;
        let uuid = task.node.uuid.clone();
        self.finish(task).await;
        self.inner.power_sync.counts.lock().unwrap().remove(&uuid);
        tracing::info!(node = %uuid, "Node {uuid} is recovered from power failure with actual power state '{actual}'.");
        Recovery::Recovered
    }
}

/// Whether a node, read again under its lock, is still one the sync may change.
fn still_synced(node: &Node) -> bool {
    !SYNC_EXCLUDED_STATES.contains(&node.provision_state) && !node.maintenance && node.target_power_state.is_none()
}

#[cfg(test)]
#[path = "power_sync_tests.rs"]
mod tests;

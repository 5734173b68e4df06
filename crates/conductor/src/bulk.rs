//! Bulk inspection: one request inspects many nodes, at most `concurrency` at a time. The job
//! is a stored document (`ferric_core::bulk::BulkInspection`) advanced by a runner task; a
//! conductor restart resumes unfinished jobs (`start_up`).

use crate::{CResult, Conductor, ConductorError, ProvisionArgs};
use ferric_core::bulk::{BulkInspection, ItemStatus, NodeView};
use ferric_core::model::now;
use ferric_core::{Event, ProvisionState as S};
use std::time::Duration;

const KIND: &str = "bulk_inspection";
const TICK: Duration = Duration::from_millis(250);

impl Conductor {
    /// Start inspecting `nodes` (names or UUIDs; every manageable node not in maintenance
    /// when `None`) with at most `concurrency` at a time. Every node must be manageable or
    /// `inspect failed`; otherwise nothing starts and the error lists the others.
    pub async fn start_bulk_inspection(&self, nodes: Option<Vec<String>>, concurrency: usize) -> CResult<BulkInspection> {
        let store = self.store();
        let chosen = match nodes {
            None => store
                .list_nodes(
                    ferric_store::NodeFilter { provision_state: Some(S::Manageable.as_str().into()), maintenance: Some(false), ..Default::default() },
                    Default::default(),
                )
                .await?,
            Some(idents) => {
                let mut out: Vec<ferric_core::Node> = Vec::new();
                for id in idents {
                    let n = store.get_node(&id).await?;
                    if !out.iter().any(|o| o.uuid == n.uuid) {
                        out.push(n);
                    }
                }
                out
            }
        };
        if chosen.is_empty() {
            return Err(ConductorError::Invalid("There are no nodes to inspect (no manageable node outside maintenance).".into()));
        }
        let bad: Vec<String> = chosen
            .iter()
            .filter(|n| !matches!(n.provision_state, S::Manageable | S::InspectFailed))
            .map(|n| format!("{} ({})", n.name.clone().unwrap_or_else(|| n.uuid.clone()), n.provision_state))
            .collect();
        if !bad.is_empty() {
            return Err(ConductorError::Invalid(format!(
                "Only manageable and inspect failed nodes can be inspected; these are not: {}",
                bad.join(", ")
            )));
        }
        let in_maintenance: Vec<String> =
            chosen.iter().filter(|n| n.maintenance).map(|n| n.name.clone().unwrap_or_else(|| n.uuid.clone())).collect();
        if !in_maintenance.is_empty() {
            return Err(ConductorError::Invalid(format!("These nodes are in maintenance: {}", in_maintenance.join(", "))));
        }
        let job = BulkInspection::new(
            uuid::Uuid::new_v4().to_string(),
            now(),
            concurrency,
            chosen.into_iter().map(|n| (n.uuid, n.name)).collect(),
        );
        self.save_job(&job).await?;
        tracing::info!(job = %job.uuid, nodes = job.items.len(), concurrency = job.concurrency, "bulk inspection started");
        self.spawn_bulk_runner(job.uuid.clone());
        Ok(job)
    }

    pub async fn get_bulk_inspection(&self, uuid: &str) -> CResult<BulkInspection> {
        let doc = self.store().get_job(uuid).await.map_err(|e| match e {
            ferric_store::StoreError::NotFound { .. } => ConductorError::NotFound { kind: "Bulk inspection", ident: uuid.to_string() },
            other => other.into(),
        })?;
        serde_json::from_value(doc).map_err(|e| ConductorError::Driver(format!("stored bulk inspection {uuid} is unreadable: {e}")))
    }

    pub async fn list_bulk_inspections(&self) -> CResult<Vec<BulkInspection>> {
        let docs = self.store().list_jobs(KIND, false).await?;
        Ok(docs.into_iter().filter_map(|d| serde_json::from_value(d).ok()).collect())
    }

    /// Resume the unfinished bulk inspections (after a restart).
    pub(crate) async fn resume_bulk_inspections(&self) -> CResult<usize> {
        let docs = self.store().list_jobs(KIND, true).await?;
        let mut n = 0;
        for d in docs {
            if let Ok(job) = serde_json::from_value::<BulkInspection>(d) {
                self.spawn_bulk_runner(job.uuid);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn save_job(&self, job: &BulkInspection) -> CResult<()> {
        let doc = serde_json::to_value(job).map_err(|e| ConductorError::Driver(e.to_string()))?;
        self.store().save_job(&job.uuid, KIND, job.is_finished(), &doc).await?;
        Ok(())
    }

    fn spawn_bulk_runner(&self, uuid: String) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match this.bulk_step(&uuid).await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(job = %uuid, error = %e, "bulk inspection step failed; retrying"),
                }
                tokio::time::sleep(TICK).await;
            }
        });
    }

    /// Advance a job once: observe the inspecting nodes, start queued ones into free slots.
    /// Returns whether the job is finished.
    async fn bulk_step(&self, uuid: &str) -> CResult<bool> {
        let mut job = self.get_bulk_inspection(uuid).await?;
        if job.finished_at.is_some() {
            return Ok(true);
        }
        let mut changed = false;
        for k in 0..job.items.len() {
            if job.items[k].status != ItemStatus::Inspecting {
                continue;
            }
            let node = match self.store().get_node(&job.items[k].node_uuid).await {
                Ok(n) => Some(n),
                Err(ferric_store::StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let view = match &node {
                Some(n) => NodeView {
                    provision_state: n.provision_state,
                    inspection_finished_at: n.inspection_finished_at,
                    last_error: n.last_error.as_deref(),
                    exists: true,
                },
                None => NodeView { provision_state: S::Manageable, inspection_finished_at: None, last_error: None, exists: false },
            };
            changed |= job.observe(k, view, now());
        }
        for k in job.to_start() {
            let started = now();
            let node = job.items[k].node_uuid.clone();
            match self.provision(&node, Event::Inspect, ProvisionArgs::default()).await {
                Ok(()) => job.started(k, started),
                // Busy: try again on the next tick.
                Err(ConductorError::NodeLocked { .. } | ConductorError::NoFreeWorker | ConductorError::TemporaryFailure(_)) => break,
                Err(e) => job.failed(k, e.to_string(), now()),
            }
            changed = true;
        }
        if job.is_finished() {
            job.finished_at = Some(now());
            changed = true;
            tracing::info!(
                job = %job.uuid,
                done = job.count(ItemStatus::Done),
                failed = job.count(ItemStatus::Failed),
                "bulk inspection finished"
            );
        }
        if changed {
            self.save_job(&job).await?;
        }
        Ok(job.finished_at.is_some())
    }
}

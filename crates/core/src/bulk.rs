//! Bulk inspection: many nodes inspected with at most `concurrency` at a time. A job is a
//! document the conductor stores and advances; the decisions (which node starts next, what a
//! node's state means for its item) live here, without IO.

use crate::model::Timestamp;
use crate::states::ProvisionState as S;
use serde::{Deserialize, Serialize};

/// Where one node of a bulk inspection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// Waiting for a free slot.
    Queued,
    /// `inspect` was accepted; the node is inspecting.
    Inspecting,
    /// Inspected: back in `manageable` with fresh data.
    Done,
    /// Could not start, or inspection failed (`error` says why).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkItem {
    pub node_uuid: String,
    pub name: Option<String>,
    pub status: ItemStatus,
    pub error: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkInspection {
    pub uuid: String,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub concurrency: usize,
    pub items: Vec<BulkItem>,
}

/// What a node looks like now, for [`BulkInspection::observe`].
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    pub provision_state: S,
    pub inspection_finished_at: Option<Timestamp>,
    pub last_error: Option<&'a str>,
    pub exists: bool,
}

/// The largest concurrency accepted.
pub const MAX_CONCURRENCY: usize = 1000;
/// The default when none is given.
pub const DEFAULT_CONCURRENCY: usize = 20;

impl BulkInspection {
    pub fn new(uuid: String, created_at: Timestamp, concurrency: usize, nodes: Vec<(String, Option<String>)>) -> Self {
        BulkInspection {
            uuid,
            created_at,
            finished_at: None,
            concurrency: concurrency.clamp(1, MAX_CONCURRENCY),
            items: nodes
                .into_iter()
                .map(|(node_uuid, name)| BulkItem { node_uuid, name, status: ItemStatus::Queued, error: None, started_at: None, finished_at: None })
                .collect(),
        }
    }

    pub fn count(&self, status: ItemStatus) -> usize {
        self.items.iter().filter(|i| i.status == status).count()
    }

    /// The queued items to start now, in order, so that at most `concurrency` are inspecting.
    pub fn to_start(&self) -> Vec<usize> {
        let free = self.concurrency.saturating_sub(self.count(ItemStatus::Inspecting));
        self.items.iter().enumerate().filter(|(_, i)| i.status == ItemStatus::Queued).map(|(k, _)| k).take(free).collect()
    }

    /// The item's inspection was accepted at `now`.
    pub fn started(&mut self, k: usize, now: Timestamp) {
        let i = &mut self.items[k];
        i.status = ItemStatus::Inspecting;
        i.started_at = Some(now);
    }

    /// The item could not be started (or its node vanished).
    pub fn failed(&mut self, k: usize, error: String, now: Timestamp) {
        let i = &mut self.items[k];
        i.status = ItemStatus::Failed;
        i.error = Some(error);
        i.finished_at = Some(now);
    }

    /// Update an inspecting item from its node's state; returns whether it changed.
    pub fn observe(&mut self, k: usize, node: NodeView<'_>, now: Timestamp) -> bool {
        let item = &self.items[k];
        if item.status != ItemStatus::Inspecting {
            return false;
        }
        if !node.exists {
            self.failed(k, "The node was deleted during inspection".into(), now);
            return true;
        }
        match node.provision_state {
            S::Inspecting | S::InspectWait => false,
            S::InspectFailed => {
                let e = node.last_error.unwrap_or("Inspection failed").to_string();
                self.failed(k, e, now);
                true
            }
            S::Manageable => {
                // Done when the data is newer than the start (taken before `inspect` was
                // sent); older data means the node has not moved yet: keep waiting.
                if node.inspection_finished_at.is_some_and(|t| item.started_at.is_none_or(|s| t >= s)) {
                    let i = &mut self.items[k];
                    i.status = ItemStatus::Done;
                    i.finished_at = Some(now);
                    true
                } else {
                    false
                }
            }
            other => {
                self.failed(k, format!("The node left inspection for state \"{other}\""), now);
                true
            }
        }
    }

    /// Nothing queued or inspecting any more.
    pub fn is_finished(&self) -> bool {
        self.items.iter().all(|i| matches!(i.status, ItemStatus::Done | ItemStatus::Failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> Timestamp {
        chrono::Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn job(n: usize, c: usize) -> BulkInspection {
        BulkInspection::new("j".into(), t(0), c, (0..n).map(|i| (format!("u{i}"), Some(format!("n{i}")))).collect())
    }

    fn view(state: S, finished: Option<Timestamp>) -> NodeView<'static> {
        NodeView { provision_state: state, inspection_finished_at: finished, last_error: None, exists: true }
    }

    #[test]
    fn starts_at_most_concurrency_and_refills_as_nodes_finish() {
        let mut j = job(5, 2);
        assert_eq!(j.to_start(), [0, 1]);
        j.started(0, t(1));
        j.started(1, t(1));
        assert!(j.to_start().is_empty());
        assert!(!j.observe(0, view(S::InspectWait, None), t(2)));
        assert!(!j.observe(1, view(S::Inspecting, None), t(2)));
        // Done only when back in manageable with data newer than the start.
        assert!(j.observe(0, view(S::Manageable, Some(t(3))), t(3)));
        assert_eq!(j.items[0].status, ItemStatus::Done);
        assert_eq!(j.to_start(), [2]);
        j.started(2, t(4));
        // Data older than the start: not this inspection's; still inspecting.
        assert!(!j.observe(2, view(S::Manageable, Some(t(3))), t(5)));
        assert!(!j.observe(2, view(S::Manageable, None), t(5)));
        assert_eq!(j.items[2].status, ItemStatus::Inspecting);
        assert!(j.observe(2, view(S::Manageable, Some(t(4))), t(6)), "finished in the same instant counts");
        assert_eq!(j.to_start(), [3], "item 1 still holds the other slot");
    }

    #[test]
    fn failures_and_odd_states() {
        let mut j = job(4, 4);
        for k in 0..4 {
            j.started(k, t(1));
        }
        let e = NodeView { provision_state: S::InspectFailed, inspection_finished_at: None, last_error: Some("Timeout reached while inspecting the node"), exists: true };
        assert!(j.observe(0, e, t(2)));
        assert_eq!((j.items[0].status, j.items[0].error.as_deref()), (ItemStatus::Failed, Some("Timeout reached while inspecting the node")));
        assert!(j.observe(1, NodeView { exists: false, ..view(S::Manageable, None) }, t(2)));
        assert_eq!(j.items[1].error.as_deref(), Some("The node was deleted during inspection"));
        assert!(j.observe(2, view(S::Available, None), t(2)));
        assert_eq!(j.items[2].error.as_deref(), Some("The node left inspection for state \"available\""));
        assert!(!j.is_finished());
        assert!(j.observe(3, view(S::Manageable, Some(t(3))), t(3)));
        assert!(j.is_finished());
        assert_eq!((j.count(ItemStatus::Done), j.count(ItemStatus::Failed)), (1, 3));
        // Observing a finished item changes nothing.
        assert!(!j.observe(3, view(S::InspectFailed, None), t(4)));
    }

    #[test]
    fn concurrency_is_clamped_and_empty_jobs_are_finished() {
        assert_eq!(job(1, 0).concurrency, 1);
        assert_eq!(job(1, 1_000_000).concurrency, MAX_CONCURRENCY);
        assert!(job(0, 3).is_finished());
        let mut j = job(3, 3);
        j.failed(1, "cannot start".into(), t(1));
        assert_eq!(j.to_start(), [0, 2]);
    }
}

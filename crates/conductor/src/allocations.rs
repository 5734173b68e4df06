//! Allocations (API 1.52): find an available node matching a resource class and traits and
//! bind it, as Ironic's `conductor/allocations.py do_allocate` does.

use crate::{CResult, Conductor, ConductorError};
use ferric_core::{Allocation, Node, ProvisionState};
use ferric_store::{NodeFilter, StoreError};

impl Conductor {
    /// Start allocating on a worker; the allocation is saved `active` or `error` when done.
    pub fn start_allocation(&self, allocation: Allocation) -> CResult<()> {
        let permit = self.workers().try_acquire_owned().map_err(|_| ConductorError::NoFreeWorker)?;
        let this = self.clone();
        tokio::spawn(async move {
            let uuid = allocation.uuid.clone();
            if let Err(e) = this.allocate(allocation).await {
                tracing::error!(allocation = %uuid, error = %e, "allocation failed");
            }
            drop(permit);
        });
        Ok(())
    }

    /// Whether `node` can serve `a` right now.
    fn matches(a: &Allocation, n: &Node) -> bool {
        n.provision_state == ProvisionState::Available
            && !n.maintenance
            && n.instance_uuid.is_none()
            && n.allocation_uuid.is_none()
            && n.reservation.is_none()
            && a.resource_class.as_ref().is_none_or(|rc| n.resource_class.as_ref() == Some(rc))
            && a.traits.iter().all(|t| n.traits.contains(t))
            && (a.candidate_nodes.is_empty() || a.candidate_nodes.contains(&n.uuid))
    }

    /// Run an allocation to its end. Candidates are tried in random order; a node locked or
    /// taken meanwhile is skipped.
    pub async fn allocate(&self, mut a: Allocation) -> CResult<Allocation> {
        let filter = NodeFilter {
            provision_state: Some(ProvisionState::Available.as_str().into()),
            maintenance: Some(false),
            associated: Some(false),
            resource_class: a.resource_class.clone(),
            ..Default::default()
        };
        let mut nodes: Vec<Node> = self.store().list_nodes(filter, Default::default()).await?;
        // A node locked right now (a power action, a periodic task) is still a candidate.
        nodes.retain(|n| Self::matches(&a, &Node { reservation: None, ..n.clone() }));
        // Shuffle so that concurrent allocations spread over the candidates.
        let seed = uuid::Uuid::new_v4().as_u128();
        nodes.sort_by_key(|n| (uuid::Uuid::parse_str(&n.uuid).map(|u| u.as_u128()).unwrap_or(0)) ^ seed);
        // A node named like the allocation is tried first (Ironic 1.79).
        if let Some(name) = &a.name {
            if let Some(i) = nodes.iter().position(|n| n.name.as_ref() == Some(name)) {
                let preferred = nodes.remove(i);
                nodes.insert(0, preferred);
            }
        }
        // As Ironic's `_allocate_node`: the nodes that were locked are tried again, up to
        // `node_locked_retry_attempts` rounds in all.
        let (attempts, interval) = (self.config().node_locked_retry_attempts.max(1), self.config().node_locked_retry_interval);
        let mut round = 1;
        loop {
            let mut locked = Vec::new();
            for candidate in nodes {
                let node = match self.store().reserve_node(&candidate.uuid, self.host()).await {
                    Ok(n) => n,
                    Err(StoreError::Locked { .. }) => {
                        locked.push(candidate);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let still = Self::matches(&a, &Node { reservation: None, ..node.clone() });
                if !still {
                    self.store().release_node(&node.uuid, self.host()).await?;
                    continue;
                }
                let mut node = node;
                if !a.traits.is_empty() {
                    node.instance_info.insert("traits".into(), serde_json::json!(a.traits));
                }
                let bound = self.store().bind_allocation(a.clone(), node, self.host()).await;
                self.store().release_node(&candidate.uuid, self.host()).await?;
                let (bound, _) = match bound {
                    Err(StoreError::NotFound { .. }) => {
                        tracing::info!(allocation = %a.uuid, "allocation deleted while it was being processed");
                        return Ok(a);
                    }
                    other => other?,
                };
                tracing::info!(allocation = %bound.uuid, node = %candidate.uuid, "allocation bound");
                return Ok(bound);
            }
            if locked.is_empty() || round >= attempts {
                break;
            }
            round += 1;
            nodes = locked;
            tokio::time::sleep(interval).await;
        }
        let mut msg = format!(
            "No available nodes match the resource class {}",
            a.resource_class.as_deref().unwrap_or("None")
        );
        if !a.traits.is_empty() {
            msg.push_str(&format!(" and traits {}", a.traits.join(", ")));
        }
        if !a.candidate_nodes.is_empty() {
            msg.push_str(" among the candidate nodes");
        }
        a.state = "error".into();
        a.last_error = Some(msg);
        match self.store().save_allocation(a.clone()).await {
            Err(StoreError::NotFound { .. }) => Ok(a),
            other => Ok(other?),
        }
    }
}

impl Conductor {
    /// Backfill: record an allocation for a node that is already deployed (API 1.58), as
    /// Ironic's `_do_backfill_allocation`. On failure the allocation is saved in `error`.
    pub async fn backfill_allocation(&self, mut a: Allocation, node_uuid: &str) -> CResult<Allocation> {
        let task = self.acquire(node_uuid).await?;
        let node = task.node.clone();
        let mut errors = Vec::new();
        if node.provision_state != ProvisionState::Active {
            errors.push(format!("Node must be in the \"active\" state, but the current state is \"{}\"", node.provision_state));
        }
        if let Some(rc) = &a.resource_class {
            if node.resource_class.as_ref() != Some(rc) {
                errors.push(format!(
                    "Resource class {} does not match the requested resource class {rc}",
                    node.resource_class.as_deref().unwrap_or("None")
                ));
            }
        }
        if !a.traits.iter().all(|t| node.traits.contains(t)) {
            errors.push(format!("List of traits {:?} does not match the requested traits {:?}", node.traits, a.traits));
        }
        if !a.candidate_nodes.is_empty() && !a.candidate_nodes.contains(&node.uuid) {
            errors.push(format!("Candidate nodes must be empty or contain the target node, but got {:?}", a.candidate_nodes));
        }
        let conflict = match (&node.allocation_uuid, &node.instance_uuid) {
            (Some(other), _) if other != &a.uuid => Some(format!("Node {} is associated with allocation {other}.", node.uuid)),
            (_, Some(inst)) if inst != &a.uuid => Some(format!("Node {} is associated with instance {inst}.", node.uuid)),
            _ => None,
        };
        if errors.is_empty() && conflict.is_none() {
            let bound = self.store().bind_allocation(a, node, self.host()).await;
            self.release(task).await;
            return Ok(bound?.0);
        }
        self.release(task).await;
        let (msg, err) = match conflict {
            Some(c) => (c.clone(), ConductorError::Conflict(c)),
            None => {
                let m = format!("Cannot backfill an allocation for node {}: {}", node.uuid, errors.join("; "));
                (m.clone(), ConductorError::Invalid(m))
            }
        };
        a.state = "error".into();
        a.last_error = Some(msg);
        self.store().save_allocation(a).await?;
        Err(err)
    }
}

//! Keeps a dnsmasq `dhcp-hostsdir` in step with inspection (`ferric_core::pxe_filter`): a
//! task that syncs after every node save (coalesced) and every `sync_period` regardless, so
//! a MAC is allowed as soon as its node starts inspecting and denied when it stops.

use crate::{CResult, Conductor, ConductorError};
use ferric_core::{pxe_filter, ProvisionState as S};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[pxe_filter]` settings.
#[derive(Debug, Clone)]
pub struct PxeFilterConfig {
    /// dnsmasq's `dhcp-hostsdir`.
    pub hostsdir: PathBuf,
    /// Full sync at least this often (Ironic's `[pxe_filter]sync_period`, 15 s).
    pub sync_period: Duration,
    /// Unknown MACs may always boot (auto-discovery is on).
    pub discovery: bool,
    /// Inspect interfaces that boot the ramdisk through PXE (`supported_inspect_interfaces`).
    pub inspect_interfaces: Vec<String>,
}

impl Conductor {
    /// Bring the hostsdir in line with the nodes and ports now. Returns the files written.
    pub async fn sync_pxe_filter(&self, cfg: &PxeFilterConfig) -> CResult<usize> {
        let store = self.store();
        let nodes = store
            .list_nodes(
                ferric_store::NodeFilter {
                    provision_states: Some(vec![S::InspectWait.as_str().into(), S::Inspecting.as_str().into()]),
                    ..Default::default()
                },
                Default::default(),
            )
            .await?;
        let inspecting: BTreeSet<String> = nodes
            .into_iter()
            .filter(|n| {
                let iface = Some(n.interfaces.inspect.clone()).filter(|i| !i.is_empty()).or_else(|| {
                    self.drivers().hardware_type(&n.driver).and_then(|h| h.default_for("inspect")).map(str::to_string)
                });
                iface.is_some_and(|i| cfg.inspect_interfaces.iter().any(|x| *x == i))
            })
            .map(|n| n.uuid)
            .collect();
        let ports = store.list_ports(Default::default(), Default::default()).await?;
        let plan = pxe_filter::plan(ports.iter().map(|p| (p.address.as_str(), p.node_uuid.as_str())), &inspecting, cfg.discovery);
        let dir = cfg.hostsdir.clone();
        tokio::task::spawn_blocking(move || write_changes(&dir, &plan))
            .await
            .map_err(|e| ConductorError::Driver(format!("PXE filter task failed: {e}")))?
            .map_err(|e| ConductorError::Driver(format!("PXE filter: cannot update {}: {e}", cfg.hostsdir.display())))
    }

    /// Run the filter until the process ends: a full sync at start, then after changes.
    pub fn spawn_pxe_filter(&self, cfg: PxeFilterConfig) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match this.sync_pxe_filter(&cfg).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(files = n, dir = %cfg.hostsdir.display(), "PXE filter updated"),
                    Err(e) => tracing::error!(error = %e, "PXE filter sync failed"),
                }
                tokio::select! {
                    _ = this.inner.changed.notified() => {
                        // Let a burst of saves settle into one sync.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ = tokio::time::sleep(cfg.sync_period) => {}
                }
            }
        })
    }
}

fn write_changes(dir: &Path, plan: &pxe_filter::Plan) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut existing = BTreeMap::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.file_type()?.is_file() {
            continue;
        }
        // Small files only: these are one line each.
        if e.metadata()?.len() <= 64 {
            existing.insert(name, std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    let changes = pxe_filter::file_changes(plan, &existing);
    for (name, content) in &changes {
        // Write then rename: dnsmasq (inotify) never reads a half-written file.
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, content)?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(changes.len())
}

//! Auto-discovery (Ironic's `[auto_discovery]`, off by default): a machine that PXE-boots
//! the ramdisk and reports, but matches no node, is enrolled from the report. The new node
//! gets the configured driver and driver_info, its BMC address in the driver's own field, and
//! its PXE MAC as a port at once, so that a second report of the same machine (or a report
//! racing with the first) finds it instead of enrolling it twice. A machine whose MACs or
//! system serial belong to a known node is never enrolled again.

use crate::{CResult, Conductor, ConductorError};
use ferric_core::model::now;
use ferric_core::{Dict, Node, Port, ProvisionState as S};
use serde_json::Value;

/// `[auto_discovery]`.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// The hardware type of enrolled nodes.
    pub driver: String,
    /// driver_info given to every enrolled node (credentials, deploy images, ...).
    pub driver_info: Dict,
}

/// What a report says about the machine, for enrolling it.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub macs: Vec<String>,
    pub pxe_mac: Option<String>,
    pub bmcs: Vec<String>,
    pub serial: Option<String>,
}

/// The driver_info field that holds a BMC address for each hardware type.
fn bmc_field(driver: &str, address: &str) -> Option<(&'static str, String)> {
    let host = if address.contains(':') && !address.starts_with('[') { format!("[{address}]") } else { address.to_string() };
    match driver {
        "ipmi" => Some(("ipmi_address", address.to_string())),
        "redfish" => Some(("redfish_address", format!("https://{host}"))),
        _ => None,
    }
}

impl Conductor {
    pub(crate) fn discovery(&self) -> Option<&DiscoveryConfig> {
        self.config().discovery.as_ref()
    }

    /// Enroll the machine a report came from, unless it is already known. Discovery must be on.
    pub async fn enroll_discovered(&self, d: &Discovered) -> CResult<Node> {
        let Some(cfg) = self.discovery() else {
            return Err(ConductorError::NotFound { kind: "Node", ident: "matching the inspection data".into() });
        };
        // One enrollment at a time, so two reports of one machine cannot both enroll it.
        let _guard = self.inner.discovery_lock.lock().await;
        let store = self.store();
        if !d.macs.is_empty() {
            let known = store
                .list_ports(ferric_store::PortFilter { addresses: Some(d.macs.clone()), ..Default::default() }, Default::default())
                .await?;
            if let Some(p) = known.first() {
                tracing::warn!(mac = %p.address, node = %p.node_uuid, "discovery: the machine is already enrolled (by MAC)");
                return Err(ConductorError::NotFound { kind: "Node", ident: "matching the inspection data".into() });
            }
        }
        if let Some(serial) = &d.serial {
            let known = store.nodes_with_serial(serial).await?;
            if let Some(n) = known.first() {
                tracing::warn!(%serial, node = %n, "discovery: the machine is already enrolled (by system serial)");
                return Err(ConductorError::NotFound { kind: "Node", ident: "matching the inspection data".into() });
            }
        }
        let mut driver_info = cfg.driver_info.clone();
        if let Some((field, value)) = d.bmcs.first().and_then(|a| bmc_field(&cfg.driver, a)) {
            driver_info.entry(field.to_string()).or_insert(Value::String(value));
        }
        let mut node = Node {
            uuid: uuid::Uuid::new_v4().to_string(),
            driver: cfg.driver.clone(),
            driver_info,
            provision_state: S::Enroll,
            created_at: now(),
            ..Default::default()
        };
        node.extra.insert("auto_discovered".into(), Value::Bool(true));
        let ht = self
            .drivers()
            .hardware_type(&cfg.driver)
            .ok_or_else(|| ConductorError::Invalid(format!("[auto_discovery] driver {} is not an enabled hardware type", cfg.driver)))?;
        for kind in ferric_core::Interfaces::KINDS {
            let slot = node.interfaces.get_mut(kind).expect("known kind");
            *slot = ht.default_for(kind).unwrap_or_default().to_string();
        }
        // It came through in-band inspection, so it is inspected that way again.
        if ht.supports("inspect", "agent") {
            node.interfaces.inspect = "agent".into();
        }
        let node = store.create_node(node).await?;
        if let Some(mac) = d.pxe_mac.clone().or_else(|| d.macs.first().cloned()) {
            let port = Port {
                uuid: uuid::Uuid::new_v4().to_string(),
                address: mac.clone(),
                node_uuid: node.uuid.clone(),
                pxe_enabled: true,
                created_at: now(),
                ..Default::default()
            };
            store.create_port(port).await?;
        }
        tracing::info!(node = %node.uuid, driver = %node.driver, macs = ?d.macs, bmc = ?d.bmcs, "enrolled a discovered machine");
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::bmc_field;

    #[test]
    fn bmc_address_goes_to_the_drivers_field() {
        assert_eq!(bmc_field("ipmi", "192.0.2.5"), Some(("ipmi_address", "192.0.2.5".into())));
        assert_eq!(bmc_field("redfish", "192.0.2.5"), Some(("redfish_address", "https://192.0.2.5".into())));
        assert_eq!(bmc_field("redfish", "2001:db8::5"), Some(("redfish_address", "https://[2001:db8::5]".into())));
        assert_eq!(bmc_field("fake-hardware", "192.0.2.5"), None);
    }
}

//! What the boot server needs to know about a MAC (`ferric_core::boot`): the node one of
//! whose ports has it, with its interfaces resolved, and whether an unknown machine may be one
//! waiting for in-band inspection. Read-only: no lock is taken and nothing is written.

use crate::{CResult, Conductor};
use ferric_core::boot::{self as b, Mac};
use ferric_core::{Interfaces, Node, ProvisionState as S};

/// What is known about a MAC.
#[derive(Debug, Clone)]
pub enum BootFacts {
    /// A port with the MAC belongs to this node (interfaces resolved).
    Node(Box<Node>),
    /// No port has the MAC.
    Unknown { inspection_pending: bool },
}

impl BootFacts {
    pub fn known(&self) -> b::Known<'_> {
        match self {
            BootFacts::Node(n) => b::Known::Node(n),
            BootFacts::Unknown { inspection_pending } => b::Known::Unknown { inspection_pending: *inspection_pending },
        }
    }
}

impl Conductor {
    /// The node with a port `mac`, if any. `pending`: also find out, for an unknown MAC,
    /// whether some node waits for in-band inspection (only then is it looked up).
    pub async fn boot_facts(&self, mac: &Mac, pending: bool) -> CResult<BootFacts> {
        let store = self.store();
        let ports = store
            .list_ports(ferric_store::PortFilter { address: Some(mac.colon()), ..Default::default() }, Default::default())
            .await?;
        if let Some(port) = ports.first() {
            let node = store.get_node(&port.node_uuid).await?;
            return Ok(BootFacts::Node(Box::new(self.resolve_interfaces(node))));
        }
        let inspection_pending = pending && self.in_band_inspection_pending().await?;
        Ok(BootFacts::Unknown { inspection_pending })
    }

    /// A node with empty interfaces uses its hardware type's defaults.
    pub fn resolve_interfaces(&self, mut node: Node) -> Node {
        if let Some(ht) = self.drivers().hardware_type(&node.driver) {
            for kind in Interfaces::KINDS {
                if let Some(slot) = node.interfaces.get_mut(kind) {
                    if slot.is_empty() {
                        *slot = ht.default_for(kind).unwrap_or_default().to_string();
                    }
                }
            }
        }
        node
    }

    /// Whether some node is inspecting in-band now (the PXE filter's unknown-hosts rule).
    pub async fn in_band_inspection_pending(&self) -> CResult<bool> {
        let nodes = self
            .store()
            .list_nodes(
                ferric_store::NodeFilter {
                    provision_states: Some(vec![S::InspectWait.as_str().into(), S::Inspecting.as_str().into()]),
                    ..Default::default()
                },
                Default::default(),
            )
            .await?;
        Ok(nodes.into_iter().map(|n| self.resolve_interfaces(n)).any(|n| b::IN_BAND_INSPECT.contains(&n.interfaces.inspect.as_str())))
    }
}

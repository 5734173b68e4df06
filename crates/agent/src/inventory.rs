//! Where the agent's hardware inventory comes from. The agent's protocol code never reads the
//! hardware itself: it calls an [`InventorySource`] (in the ramdisk, `hardware::collect`; in
//! tests, a fixture), so the two sides stay independent.

use serde_json::{Map, Value};
use std::sync::Arc;

/// One collection: IPA's inventory, the collectors' plugin data, and non-fatal warnings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventoryData {
    /// IPA's `inventory` document (`interfaces`, `disks`, `cpu`, `memory`, `boot`, ...).
    pub inventory: Value,
    /// Top-level inspection data besides `inventory` (`root_disk`, `boot_interface`,
    /// `configuration`, `lldp_raw`, `pci_devices`, `logs`, ...).
    pub plugin_data: Map<String, Value>,
    /// Logged, never sent as the inspection `error` (Ironic fails inspection on that).
    pub warnings: Vec<String>,
}

/// Collect the inventory with the given collectors (`ipa-inspection-collectors`); an empty
/// slice asks for the inventory only. Called on a blocking thread.
pub type InventorySource = Arc<dyn Fn(&[String]) -> InventoryData + Send + Sync>;

/// The MAC addresses of the inventory's interfaces, in order, without duplicates.
pub fn mac_addresses(inventory: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in inventory
        .get("interfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = i
            .get("mac_address")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            let m = m.to_lowercase();
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}

//! The `pci-devices` collector: one entry per /sys/bus/pci/devices/<address>, as IPA's
//! `collect_pci_devices_info`: `vendor_id`, `product_id`, `class` and `revision` without
//! their `0x`, `bus` (the address), `numa_node_id` (the text of `numa_node`, or null). A
//! device whose vendor, device or class cannot be read is left out with a warning.

use serde_json::{json, Value};

use super::root::Ctx;

const DIR: &str = "/sys/bus/pci/devices";

pub fn collect(ctx: &Ctx) -> Option<Value> {
    if !ctx.is_dir(DIR) {
        ctx.warn(format!("failed to get the list of PCI devices: {DIR} is missing"));
        return None;
    }
    let mut out = Vec::new();
    for dev in ctx.list(DIR) {
        let base = format!("{DIR}/{dev}");
        if !ctx.is_dir(&base) {
            continue;
        }
        let hex = |f: &str| ctx.attr(&format!("{base}/{f}")).and_then(|v| v.split_once('x').map(|(_, h)| h.to_string()));
        let (Some(vendor), Some(device), Some(class)) = (hex("vendor"), hex("device"), hex("class")) else {
            ctx.warn(format!("PCI device {dev}: vendor, device or class unreadable: left out"));
            continue;
        };
        out.push(json!({
            "vendor_id": vendor,
            "product_id": device,
            "class": class,
            "revision": hex("revision"),
            "bus": dev,
            "numa_node_id": ctx.attr(&format!("{base}/numa_node")),
        }));
    }
    Some(Value::Array(out))
}

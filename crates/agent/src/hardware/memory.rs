//! The `memory` section.
//!
//! - `total`: bytes, `MemTotal` of /proc/meminfo × 1024 (what IPA's psutil reports).
//! - `physical_mb`: MiB of installed modules, summed from SMBIOS type 17 (what IPA gets from
//!   lshw). Without a readable SMBIOS table: the online memory blocks of
//!   /sys/devices/system/memory × `block_size_bytes` (lshw's own fallback), with a warning.

use serde_json::{json, Value};

use super::root::Ctx;
use super::smbios::{self, Structure};

pub fn collect(ctx: &Ctx, smbios: Option<&[Structure]>) -> Value {
    let total = ctx.read("/proc/meminfo").and_then(|t| meminfo_kib(&t, "MemTotal")).map(|k| k * 1024);
    if total.is_none() {
        ctx.warn("/proc/meminfo has no MemTotal: memory total is unknown");
    }
    let physical = match smbios.and_then(smbios::physical_mb) {
        Some(mb) => Some(mb),
        None => {
            let from_blocks = memory_blocks_mb(ctx);
            match (smbios.is_some(), from_blocks) {
                (true, Some(_)) => ctx.warn("SMBIOS lists no memory module with a size: physical_mb from /sys/devices/system/memory"),
                (false, Some(_)) => ctx.warn("SMBIOS is unreadable: physical_mb from /sys/devices/system/memory"),
                (_, None) => ctx.warn("physical memory size is unknown (no SMBIOS memory device, no /sys/devices/system/memory)"),
            }
            from_blocks
        }
    };
    json!({"total": total, "physical_mb": physical})
}

/// A `Key: N kB` line of /proc/meminfo (or a NUMA node's meminfo, `Node 0 MemTotal: N kB`).
pub fn meminfo_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.split_whitespace().last()? != key {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

fn memory_blocks_mb(ctx: &Ctx) -> Option<u64> {
    let base = "/sys/devices/system/memory";
    let size = ctx.attr(&format!("{base}/block_size_bytes")).and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())?;
    let online = ctx
        .list(base)
        .iter()
        .filter(|n| n.starts_with("memory") && n[6..].parse::<u64>().is_ok())
        .filter(|n| ctx.attr_quiet(&format!("{base}/{n}/online")).as_deref() == Some("1"))
        .count() as u64;
    (online > 0).then(|| online.saturating_mul(size) >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_lines() {
        let t = "MemTotal:       24591612 kB\nMemFree:          123 kB\n";
        assert_eq!(meminfo_kib(t, "MemTotal"), Some(24591612));
        assert_eq!(meminfo_kib("Node 0 MemTotal:       83839532 kB\n", "MemTotal"), Some(83839532));
        assert_eq!(meminfo_kib("garbage", "MemTotal"), None);
        assert_eq!(meminfo_kib("MemTotal: lots kB", "MemTotal"), None);
    }
}

//! The `numa-topology` collector, as IPA's `collect_numa_topology_info`:
//! `{"ram": [{numa_node, size_kb}], "cpus": [{cpu, numa_node, thread_siblings}],
//! "nics": [{name, numa_node}]}` from /sys/devices/system/node/node<N> (`meminfo`'s MemTotal,
//! the `cpu<M>` entries and their `topology/core_id`) and /sys/class/net/*/device/numa_node.
//! As IPA, anything malformed drops the whole section (with a warning).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::memory::meminfo_kib;
use super::root::Ctx;

const NODES: &str = "/sys/devices/system/node";

pub fn collect(ctx: &Ctx) -> Option<Value> {
    if !ctx.is_dir(NODES) {
        ctx.warn(format!("no NUMA information: {NODES} is missing"));
        return None;
    }
    match topology(ctx) {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.warn(format!("failed to get some NUMA information ({e})"));
            None
        }
    }
}

fn topology(ctx: &Ctx) -> Result<Value, String> {
    let mut nodes: Vec<(u32, String)> = Vec::new();
    for n in ctx.list(NODES) {
        let path = format!("{NODES}/{n}");
        if !n.starts_with("node") || !ctx.is_dir(&path) {
            continue;
        }
        let id = n[4..].parse::<u32>().map_err(|_| format!("bad NUMA node directory {n}"))?;
        nodes.push((id, path));
    }
    nodes.sort();
    let mut ram = Vec::new();
    // (node, core) -> thread ids, in order of appearance.
    let mut cpus: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    for (id, path) in &nodes {
        let text = ctx.read(&format!("{path}/meminfo")).ok_or_else(|| format!("memory information is not available for {path}"))?;
        let kb = meminfo_kib(&text, "MemTotal").ok_or_else(|| format!("memory information is not available for {path}"))?;
        ram.push(json!({"numa_node": id, "size_kb": kb}));
        for t in ctx.list(path) {
            let Some(num) = t.strip_prefix("cpu") else { continue };
            if !ctx.is_dir(&format!("{path}/{t}")) {
                continue;
            }
            let thread = num.parse::<u32>().map_err(|_| format!("bad thread directory {t} in {path}"))?;
            let core = ctx
                .attr(&format!("{path}/{t}/topology/core_id"))
                .and_then(|c| c.parse::<u32>().ok())
                .ok_or_else(|| format!("failed to gather the core id of thread {t} in {path}"))?;
            let e = cpus.entry((*id, core)).or_default();
            if !e.contains(&thread) {
                e.push(thread);
            }
        }
    }
    let cpus: Vec<Value> = cpus.into_iter().map(|((node, core), mut t)| {
        t.sort();
        json!({"cpu": core, "numa_node": node, "thread_siblings": t})
    }).collect();
    let mut nics = Vec::new();
    for nic in ctx.list(super::net::SYS_NET) {
        let f = format!("{}/{nic}/device/numa_node", super::net::SYS_NET);
        if !ctx.is_file(&f) {
            continue;
        }
        let node = ctx.attr(&f).and_then(|v| v.parse::<i64>().ok()).ok_or_else(|| format!("failed to gather the NUMA node of NIC {nic}"))?;
        nics.push(json!({"name": nic, "numa_node": node}));
    }
    Ok(json!({"ram": ram, "cpus": cpus, "nics": nics}))
}

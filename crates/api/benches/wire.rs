//! Micro-benchmarks of ferric-api's hot paths (divan): a node list's serialisation (what
//! `GET /v1/nodes/detail` does per page after the store's read), the old way (a `Value` per
//! node) beside the direct serialiser it serves with now, and JSON Patch on a node.
//!
//! ```sh
//! cargo bench -p ferric-api --bench wire
//! ```

use ferric_api::hot::{apply_patch, node_json, NodeWire, PageWriter};
use ferric_core::model::Node;
use ferric_core::Version;
use serde_json::{json, Value};

fn main() {
    divan::main();
}

/// A node as an inspected fleet has them: properties, driver_info with a secret, extra,
/// driver_internal_info, traits (about 2.3 KB on the wire at 1.84, as in bench/run.sh).
fn node(i: usize) -> Node {
    let v = json!({
        "uuid": format!("5ca1e000-0000-4000-8000-{i:012}"), "name": format!("compute-{i:05}"), "driver": "redfish",
        "provision_state": "manageable", "power_state": "power off", "resource_class": "compute-1u",
        "created_at": "2026-12-07T20:00:00.123456Z", "updated_at": "2026-12-07T20:01:00.654321Z",
        "properties": {"cpus": 96, "memory_mb": 262144, "local_gb": 893, "cpu_arch": "x86_64",
                       "capabilities": "boot_mode:uefi,cpu_vt:true,cpu_aes:true,cpu_hugepages:true,cpu_hugepages_1g:true"},
        "driver_info": {"redfish_address": format!("http://127.0.10.{}:8000", i % 250), "redfish_system_id": "/redfish/v1/Systems/1",
                        "redfish_username": "admin", "redfish_password": "secret", "redfish_verify_ca": false},
        "driver_internal_info": {"agent_url": "http://127.1.0.1:9999", "agent_version": "13.0.0", "agent_last_heartbeat": "2026-12-07T20:01:00.000000"},
        "extra": {"rack": "r001", "slot": i % 40},
        "traits": ["CUSTOM_GPU", "CUSTOM_RACK_R001"],
    });
    serde_json::from_value(v).unwrap()
}

/// A page of the node list: each node's wire form, then the page as bytes.
#[divan::bench(args = [100, 1000])]
fn node_list_page(bencher: divan::Bencher, n: usize) {
    let nodes: Vec<Node> = (0..n).map(node).collect();
    let v = Version(84);
    bencher.counter(divan::counter::ItemsCount::new(n)).bench(|| {
        let items: Vec<Value> = nodes.iter().map(|x| Value::Object(node_json(x, v, "http://127.0.0.1:6385"))).collect();
        serde_json::to_vec(&json!({"nodes": items})).unwrap()
    });
}

/// The same page through the direct serialiser (`NodeWire`, `PageWriter`): what the list
/// serves now, byte for byte the same output.
#[divan::bench(args = [100, 1000])]
fn node_list_page_direct(bencher: divan::Bencher, n: usize) {
    let nodes: Vec<Node> = (0..n).map(node).collect();
    let wire = NodeWire::all(Version(84), "http://127.0.0.1:6385");
    bencher.counter(divan::counter::ItemsCount::new(n)).bench(|| {
        let mut page = PageWriter::new(n);
        for x in &nodes {
            page.push(&wire, x).unwrap();
        }
        page.finish(None).unwrap()
    });
}

/// A page as the server makes it from the stored documents: decode each, write it.
#[divan::bench(args = [1000])]
fn node_list_page_from_store(bencher: divan::Bencher, n: usize) {
    let docs: Vec<String> = (0..n).map(|i| serde_json::to_string(&node(i)).unwrap()).collect();
    let wire = NodeWire::all(Version(84), "http://127.0.0.1:6385");
    bencher.counter(divan::counter::ItemsCount::new(n)).bench(|| {
        let mut page = PageWriter::new(n);
        for d in &docs {
            page.push(&wire, &serde_json::from_str::<Node>(d).unwrap()).unwrap();
        }
        page.finish(None).unwrap()
    });
}

/// The stored record read back (the store's decode of one node document).
#[divan::bench]
fn node_decode(bencher: divan::Bencher) {
    let doc = serde_json::to_string(&node(7)).unwrap();
    bencher.bench(|| serde_json::from_str::<Node>(divan::black_box(&doc)).unwrap());
}

/// A typical PATCH of a node (three operations) on its JSON form.
#[divan::bench]
fn json_patch_node(bencher: divan::Bencher) {
    let doc = serde_json::to_value(node(7)).unwrap();
    let patch = json!([
        {"op": "replace", "path": "/properties/cpus", "value": 128},
        {"op": "add", "path": "/extra/owner_team", "value": "infra"},
        {"op": "remove", "path": "/extra/slot"},
    ]);
    bencher.with_inputs(|| doc.clone()).bench_local_refs(|d| apply_patch(d, &patch).unwrap());
}

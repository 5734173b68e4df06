//! The ironic-inspector API (port 5050 in production) over real HTTP, beside the Ironic API on
//! the same conductor and SQLite file: start, status, list, abort, data, unprocessed data,
//! reapply and the ramdisk's `/v1/continue`, with the inspector's headers and error shape.

use ferric_conductor::{Conductor, ConductorConfig};
use reqwest::Method as M;
use serde_json::{json, Value};
use std::time::Duration;

struct Server {
    ironic: String,
    inspector: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    start_filtered(None).await
}

/// A server whose conductor also keeps a PXE filter hostsdir.
async fn start_filtered(filter: Option<ferric_conductor::pxe_filter::PxeFilterConfig>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = ferric_store::Store::open(ferric_store::StoreConfig::new(dir.path().join("ferric.sqlite"))).unwrap();
    let cfg = ConductorConfig { node_locked_retry_interval: Duration::from_millis(20), ..Default::default() };
    let conductor = Conductor::new(store, ferric_drivers::Registry::builtin(), cfg);
    conductor.start_up().await.unwrap();
    if let Some(f) = filter {
        conductor.spawn_pxe_filter(f);
    }
    let api = ferric_api::ApiConfig::default();
    let l1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let l2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ironic = format!("http://{}", l1.local_addr().unwrap());
    let inspector = format!("http://{}", l2.local_addr().unwrap());
    tokio::spawn(ferric_api::serve(l1, ferric_api::router(conductor.clone(), api.clone()), std::future::pending()));
    tokio::spawn(ferric_api::serve_inspector(l2, ferric_api::inspector_router(conductor, api), std::future::pending()));
    Server { ironic, inspector, client: reqwest::Client::new(), _dir: dir }
}

impl Server {
    async fn send(&self, r: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) }, headers)
    }
    async fn ironic(&self, method: M, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(method, format!("{}{path}", self.ironic)).header("X-OpenStack-Ironic-API-Version", "1.84");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let (s, b, _) = self.send(r).await;
        (s, b)
    }
    async fn insp(&self, method: M, path: &str, version: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(method, format!("{}{path}", self.inspector));
        if let Some(v) = version {
            r = r.header("X-OpenStack-Ironic-Inspector-API-Version", v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let (s, b, _) = self.send(r).await;
        (s, b)
    }
    async fn node(&self, n: &str) -> Value {
        self.ironic(M::GET, &format!("/v1/nodes/{n}"), None).await.1
    }
    /// Wait until the node is unlocked and not in `states`.
    async fn settle(&self, n: &str, states: &[&str]) -> Value {
        let mut node = Value::Null;
        for _ in 0..500 {
            node = self.node(n).await;
            if node["reservation"].is_null() && !states.iter().any(|s| node["provision_state"] == *s) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        node
    }
    async fn status(&self, n: &str) -> Value {
        let (st, b) = self.insp(M::GET, &format!("/v1/introspection/{n}"), None, None).await;
        assert_eq!(st, 200, "{b}");
        b
    }
}

fn fixture(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn message(b: &Value) -> String {
    b["error"]["message"].as_str().unwrap_or_else(|| panic!("not an inspector error: {b}")).to_string()
}

#[tokio::test]
async fn versions_headers_and_errors_are_the_inspectors() {
    let s = start().await;
    let (st, b, h) = s.send(s.client.get(format!("{}/", s.inspector))).await;
    assert_eq!(st, 200);
    assert_eq!(b["versions"][0]["id"], "1.18");
    assert_eq!(b["versions"][0]["status"], "CURRENT");
    assert_eq!(b["versions"][0]["links"][0]["href"], format!("{}/v1", s.inspector));
    assert_eq!(h["x-openstack-ironic-inspector-api-minimum-version"], "1.0");
    assert_eq!(h["x-openstack-ironic-inspector-api-maximum-version"], "1.18");
    let (st, b) = s.insp(M::GET, "/v1", None, None).await;
    assert_eq!(st, 200);
    let names: Vec<&str> = b["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["continue", "introspection", "rules"]);
    // Version negotiation: malformed 400, out of range 406, both in the inspector's shape.
    let (st, b) = s.insp(M::GET, "/v1/introspection", Some("x"), None).await;
    assert_eq!((st, message(&b).as_str()), (400, "Malformed API version: expected string in form of X.Y or latest"));
    let (st, b) = s.insp(M::GET, "/v1/introspection", Some("1.19"), None).await;
    assert_eq!((st, message(&b).as_str()), (406, "Unsupported API version 1.19, supported range is 1.0 to 1.18"));
    let (st, _, h) = s.send(s.client.get(format!("{}/v1/introspection", s.inspector)).header("OpenStack-API-Version", "baremetal-introspection 1.9")).await;
    assert_eq!((st, h["x-openstack-ironic-inspector-api-version"].to_str().unwrap()), (200, "1.9"));
    // As in the inspector, no endpoint is gated by the version (the client asks for 1.0).
    assert_eq!(s.insp(M::GET, "/v1/introspection", Some("1.0"), None).await.0, 200);
    // Unknown nodes and paths are 404 with a message.
    let (st, b) = s.insp(M::GET, "/v1/introspection/nope", None, None).await;
    assert_eq!((st, message(&b).as_str()), (404, "Node nope was not found in Ironic"));
    assert_eq!(s.insp(M::GET, "/v1/nothing", None, None).await.0, 404);
    // A node that was never inspected has no status.
    s.ironic(M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "fresh"}))).await;
    let (st, b) = s.insp(M::GET, "/v1/introspection/fresh", None, None).await;
    assert_eq!(st, 404);
    assert!(message(&b).starts_with("Could not find node "), "{b}");
    assert_eq!(s.insp(M::GET, "/v1/introspection", None, None).await.1, json!({"introspection": []}));
}

/// The whole inspector workflow on the agent inspect interface with a real inventory.
#[tokio::test]
async fn introspection_start_continue_status_data_reapply() {
    let s = start().await;
    let dell = fixture("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json");
    let di = json!({"ipmi_address": dell["inventory"]["bmc_address"]});
    let (st, node) = s.ironic(M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "dell", "inspect_interface": "agent", "driver_info": di}))).await;
    assert_eq!(st, 201, "{node}");
    let uuid = node["uuid"].as_str().unwrap().to_string();
    // Not manageable yet: refused with the inspector's message, nothing changes.
    let (st, b) = s.insp(M::POST, "/v1/introspection/dell", None, None).await;
    assert_eq!(st, 400);
    assert!(message(&b).contains("invalid provision state \"enroll\""), "{b}");
    s.ironic(M::PUT, "/v1/nodes/dell/states/provision", Some(json!({"target": "manage"}))).await;
    s.settle("dell", &["verifying"]).await;
    assert_eq!(s.insp(M::POST, "/v1/introspection/dell?manage_boot=maybe", None, None).await.0, 400);
    assert_eq!(s.insp(M::POST, "/v1/introspection/dell?manage_boot=false", None, None).await.0, 400);
    // Start (by name): the node boots into the ramdisk and waits.
    let (st, b) = s.insp(M::POST, "/v1/introspection/dell", None, None).await;
    assert_eq!(st, 202, "{b}");
    let n = s.settle("dell", &[]).await;
    assert_eq!(n["provision_state"], "inspect wait");
    let st1 = s.status(&uuid).await;
    assert_eq!((st1["state"].as_str(), st1["finished"].as_bool()), (Some("waiting"), Some(false)));
    assert!(st1["started_at"].is_string() && st1["finished_at"].is_null() && st1["error"].is_null());
    assert_eq!(st1["uuid"], uuid.as_str());
    assert_eq!(st1["links"][0]["href"], format!("{}/v1/introspection/{uuid}", s.inspector));
    // No data yet.
    let (st, b) = s.insp(M::GET, &format!("/v1/introspection/{uuid}/data"), None, None).await;
    assert_eq!((st, message(&b)), (404, format!("Introspection data not found for node {uuid}, processed=True")));
    // The ramdisk posts to the inspector's /v1/continue; found by its BMC address.
    assert_eq!(s.insp(M::POST, "/v1/continue", None, Some(json!([1, 2]))).await.0, 400);
    let (st, b) = s.insp(M::POST, "/v1/continue", None, Some(json!({"inventory": {"interfaces": [{"mac_address": "52:54:00:99:99:99"}]}}))).await;
    assert_eq!(st, 404, "{b}");
    let (st, b) = s.insp(M::POST, "/v1/continue", None, Some(dell.clone())).await;
    assert_eq!((st, b), (200, json!({"uuid": uuid})));
    let n = s.settle("dell", &["inspect wait", "inspecting"]).await;
    assert_eq!(n["provision_state"], "manageable", "{}", n["last_error"]);
    let st2 = s.status("dell").await;
    assert_eq!((st2["state"].as_str(), st2["finished"].as_bool()), (Some("finished"), Some(true)));
    assert!(st2["finished_at"].is_string() && st2["error"].is_null(), "{st2}");
    // Processed data: the plugin data with the inventory inside, as the inspector stores it.
    let (st, d) = s.insp(M::GET, "/v1/introspection/dell/data", None, None).await;
    assert_eq!(st, 200);
    assert_eq!(d["inventory"], dell["inventory"]);
    assert!(d["valid_interfaces"].is_object() && d.get("logs").is_none(), "{}", d.as_object().unwrap().keys().cloned().collect::<Vec<_>>().join(","));
    // Interfaces also carry the inspector's names, which its client reads.
    for (name, i) in d["all_interfaces"].as_object().unwrap() {
        assert_eq!(i["mac"], i["mac_address"], "{name}");
        assert_eq!(i["pxe"], i["pxe_enabled"], "{name}");
        assert!(i["ip"].is_null() || i["ip"] == i["ipv4_address"] || i["ip"] == i["ipv6_address"], "{name}");
    }
    // Unprocessed data (1.17): the report as posted, without its logs.
    let (st, raw) = s.insp(M::GET, "/v1/introspection/dell/data/unprocessed", None, None).await;
    assert_eq!(st, 200);
    let mut want = dell.clone();
    want.as_object_mut().unwrap().remove("logs");
    assert_eq!(raw, want);
    // The list shows it, filtered by state (1.18).
    let (_, l) = s.insp(M::GET, "/v1/introspection?state=finished", None, None).await;
    assert_eq!(l["introspection"].as_array().unwrap().len(), 1);
    assert_eq!(l["introspection"][0]["uuid"], uuid.as_str());
    assert_eq!(s.insp(M::GET, "/v1/introspection?state=waiting", None, None).await.1["introspection"], json!([]));
    assert_eq!(s.insp(M::GET, "/v1/introspection?state=bogus", None, None).await.0, 400);

    // Reapply with edited data (1.15): the node's properties follow the new report and a
    // new stored inspection appears; the provision state does not change.
    let mut edited = dell.clone();
    edited["inventory"]["cpu"]["architecture"] = json!("aarch64");
    assert_eq!(s.insp(M::POST, "/v1/introspection/dell/data/unprocessed", None, Some(json!("text"))).await.0, 400);
    let (st, b) = s.insp(M::POST, "/v1/introspection/dell/data/unprocessed", None, Some(edited)).await;
    assert_eq!(st, 202, "{b}");
    let n = s.settle("dell", &[]).await;
    assert_eq!((n["provision_state"].as_str(), n["properties"]["cpu_arch"].as_str()), (Some("manageable"), Some("aarch64")));
    assert_eq!(s.insp(M::GET, "/v1/introspection/dell/data", None, None).await.1["inventory"]["cpu"]["architecture"], "aarch64");
    // Reapply without a body: the newest stored report again.
    assert_eq!(s.insp(M::POST, "/v1/introspection/dell/data/unprocessed", None, None).await.0, 202);
    s.settle("dell", &[]).await;
    assert_eq!(s.status("dell").await["state"], "finished");

    // Abort: only while waiting for the ramdisk.
    assert_eq!(s.insp(M::POST, "/v1/introspection/dell/abort", None, None).await.0, 400);
    assert_eq!(s.insp(M::POST, "/v1/introspection/dell", None, None).await.0, 202);
    s.settle("dell", &[]).await;
    assert_eq!(s.status("dell").await["state"], "waiting");
    let (st, b) = s.insp(M::POST, "/v1/introspection/dell/abort", None, None).await;
    assert_eq!(st, 202, "{b}");
    let n = s.settle("dell", &["inspect wait"]).await;
    assert_eq!(n["provision_state"], "inspect failed");
    let st3 = s.status("dell").await;
    assert_eq!((st3["state"].as_str(), st3["finished"].as_bool()), (Some("error"), Some(true)));
    assert_eq!(st3["error"], "Inspection was aborted by request.");
    // The data of the last successful inspection is still served.
    assert_eq!(s.insp(M::GET, "/v1/introspection/dell/data", None, None).await.0, 200);
}

/// Every inspection is kept; the diff says what changed between two of them.
#[tokio::test]
async fn inspection_history_and_diff() {
    let s = start().await;
    let dell = fixture("understack-dell-r7615-node-inventory-lldp.json");
    let di = json!({"ipmi_address": dell["inventory"]["bmc_address"]});
    s.ironic(M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "r7615", "inspect_interface": "agent", "driver_info": di}))).await;
    s.ironic(M::PUT, "/v1/nodes/r7615/states/provision", Some(json!({"target": "manage"}))).await;
    s.settle("r7615", &["verifying"]).await;
    let (st, b) = s.ironic(M::GET, "/v1/nodes/r7615/inspections", None).await;
    assert_eq!((st, b), (200, json!({"inspections": []})));
    let (st, b) = s.ironic(M::GET, "/v1/nodes/r7615/inspections/diff", None).await;
    assert_eq!(st, 400, "{b}");
    // Inspect three times: as reported; then a disk swapped, a NIC added and the BIOS updated;
    // then a report the ramdisk marks as failed.
    let mut second = dell.clone();
    let disks = second["inventory"]["disks"].as_array_mut().unwrap();
    let old_disk = disks[0].clone();
    disks[0]["serial"] = json!("NEWSERIAL0001");
    disks[0]["size"] = json!(3_840_000_000_000u64);
    second["inventory"]["interfaces"].as_array_mut().unwrap().push(json!({"name": "ens9f0", "mac_address": "b8:ce:f6:00:00:09", "driver": "mlx5_core"}));
    second["inventory"]["system_vendor"]["firmware"] = json!({"vendor": "Dell Inc.", "version": "9.9.9", "build_date": "01/01/2026"});
    let mut third = dell.clone();
    third["error"] = json!("the ramdisk broke");
    for report in [&dell, &second, &third] {
        s.ironic(M::PUT, "/v1/nodes/r7615/states/provision", Some(json!({"target": "inspect"}))).await;
        assert_eq!(s.settle("r7615", &[]).await["provision_state"], "inspect wait");
        let (st, b) = s.ironic(M::POST, "/v1/continue_inspection", Some(report.clone())).await;
        assert_eq!(st, 202, "{b}");
        s.settle("r7615", &["inspect wait", "inspecting"]).await;
        s.ironic(M::PUT, "/v1/nodes/r7615/states/provision", Some(json!({"target": "manage"}))).await;
        s.settle("r7615", &[]).await;
    }
    let (st, b) = s.ironic(M::GET, "/v1/nodes/r7615/inspections", None).await;
    assert_eq!(st, 200);
    let list = b["inspections"].as_array().unwrap();
    let states: Vec<&str> = list.iter().map(|i| i["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["finished", "finished", "error"]);
    assert_eq!(list.iter().map(|i| i["index"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(list[2]["error"].as_str().unwrap().contains("the ramdisk broke"), "{}", list[2]);
    // One inspection by index, by UUID and from the end; with its raw report on request.
    let (st, one) = s.ironic(M::GET, "/v1/nodes/r7615/inspections/2", None).await;
    assert_eq!(st, 200);
    assert_eq!(one["inventory"]["system_vendor"]["firmware"]["version"], "9.9.9");
    assert!(one.get("raw").is_none());
    let uuid2 = one["uuid"].as_str().unwrap();
    assert_eq!(s.ironic(M::GET, &format!("/v1/nodes/r7615/inspections/{uuid2}"), None).await.1["index"], 2);
    let (_, last) = s.ironic(M::GET, "/v1/nodes/r7615/inspections/-1?raw=true", None).await;
    assert_eq!((last["index"].as_u64(), last["inventory"].is_null()), (Some(3), true));
    assert_eq!(last["raw"]["error"], "the ramdisk broke");
    assert_eq!(s.ironic(M::GET, "/v1/nodes/r7615/inspections/0", None).await.0, 404);
    assert_eq!(s.ironic(M::GET, "/v1/nodes/r7615/inspections/9", None).await.0, 404);
    assert_eq!(s.ironic(M::GET, "/v1/nodes/r7615/inspections/1?raw=maybe", None).await.0, 400);
    // The default diff: the two newest finished inspections (1 -> 2), skipping the failed one.
    let (st, d) = s.ironic(M::GET, "/v1/nodes/r7615/inspections/diff", None).await;
    assert_eq!(st, 200, "{d}");
    assert_eq!((d["from"]["index"].as_u64(), d["to"]["index"].as_u64()), (Some(1), Some(2)));
    let summaries: Vec<&str> = d["changes"].as_array().unwrap().iter().map(|c| c["summary"].as_str().unwrap()).collect();
    let old_serial = old_disk["serial"].as_str().unwrap();
    let old_fw = dell["inventory"]["system_vendor"]["firmware"]["version"].as_str().unwrap();
    assert!(summaries.contains(&format!("firmware version: {old_fw} -> 9.9.9").as_str()), "{summaries:?}");
    assert!(summaries.iter().any(|l| l.starts_with(&format!("disk {old_serial} removed"))), "{summaries:?}");
    assert!(summaries.iter().any(|l| l.starts_with("disk NEWSERIAL0001 added") && l.contains("3840 GB")), "{summaries:?}");
    assert!(summaries.contains(&"nic b8:ce:f6:00:00:09 added (ens9f0, mlx5_core)"), "{summaries:?}");
    assert_eq!(summaries.iter().filter(|l| l.starts_with("firmware")).count(), 2, "vendor unchanged; version and date changed: {summaries:?}");
    // Explicit: the same inspection against itself is empty; against the failed one is refused.
    let (_, same) = s.ironic(M::GET, "/v1/nodes/r7615/inspections/diff?from=1&to=1", None).await;
    assert_eq!(same["changes"], json!([]));
    assert_eq!(s.ironic(M::GET, "/v1/nodes/r7615/inspections/diff?from=1&to=3", None).await.0, 400);
    assert_eq!(s.ironic(M::GET, "/v1/nodes/r7615/inspections/diff?bogus=1", None).await.0, 400);
    // Reversed, the disk comes back.
    let (_, rev) = s.ironic(M::GET, "/v1/nodes/r7615/inspections/diff?from=2&to=1", None).await;
    assert!(rev["changes"].as_array().unwrap().iter().any(|c| c["kind"] == "added" && c["id"] == old_serial));
    // Below 1.81 there is no such resource.
    let r = s.client.get(format!("{}/v1/nodes/r7615/inspections", s.ironic)).header("X-OpenStack-Ironic-API-Version", "1.80").send().await.unwrap();
    assert_eq!(r.status(), 404);
}

async fn job(s: &Server, uuid: &str) -> Value {
    let (st, j) = s.ironic(M::GET, &format!("/v1/bulk_inspections/{uuid}"), None).await;
    assert_eq!(st, 200, "{j}");
    j
}

/// One call inspects many nodes, never more than `concurrency` at once.
#[tokio::test]
async fn bulk_inspection_respects_concurrency_and_reports_each_node() {
    let s = start().await;
    // Errors first: nothing to inspect, bad bodies, unknown or unsuitable nodes.
    let (st, b) = s.ironic(M::POST, "/v1/bulk_inspections", Some(json!({}))).await;
    assert_eq!(st, 400, "{b}");
    for bad in [json!({"nodes": "n1"}), json!({"nodes": []}), json!({"nodes": [1]}), json!({"concurrency": 0}), json!({"concurrency": "x"}), json!({"other": 1})] {
        assert_eq!(s.ironic(M::POST, "/v1/bulk_inspections", Some(bad.clone())).await.0, 400, "{bad}");
    }
    assert_eq!(s.ironic(M::POST, "/v1/bulk_inspections", Some(json!({"nodes": ["ghost"]}))).await.0, 404);
    // Five nodes with the agent interface (they wait for a report) and one left in enroll.
    let kvm = fixture("metal3-inspector-data-kvm-vm.json");
    let mut uuids = Vec::new();
    for i in 0..5 {
        let (_, n) = s.ironic(M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": format!("b{i}"), "inspect_interface": "agent"}))).await;
        uuids.push(n["uuid"].as_str().unwrap().to_string());
        s.ironic(M::PUT, &format!("/v1/nodes/b{i}/states/provision"), Some(json!({"target": "manage"}))).await;
        s.settle(&format!("b{i}"), &["verifying"]).await;
    }
    s.ironic(M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "enrolled"}))).await;
    let (st, b) = s.ironic(M::POST, "/v1/bulk_inspections", Some(json!({"nodes": ["b0", "enrolled"]}))).await;
    assert_eq!(st, 400);
    assert!(b["error_message"].as_str().unwrap().contains("enrolled (enroll)"), "{b}");
    // All manageable nodes, two at a time.
    let (st, j) = s.ironic(M::POST, "/v1/bulk_inspections", Some(json!({"concurrency": 2}))).await;
    assert_eq!(st, 202, "{j}");
    assert_eq!((j["counts"]["total"].as_u64(), j["concurrency"].as_u64(), j["state"].as_str()), (Some(5), Some(2), Some("running")));
    let id = j["uuid"].as_str().unwrap().to_string();
    let mut reported = 0;
    for _round in 0..20 {
        // Wait for the job to settle: exactly min(2, remaining) nodes waiting for a report.
        let mut j = job(&s, &id).await;
        for _ in 0..200 {
            let waiting = futures_count(&s, &uuids, "inspect wait").await;
            j = job(&s, &id).await;
            if j["state"] == "finished" || (waiting == j["counts"]["inspecting"].as_u64().unwrap() as usize && waiting == 2.min(5 - reported)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if j["state"] == "finished" {
            break;
        }
        assert!(j["counts"]["inspecting"].as_u64().unwrap() <= 2, "{j}");
        assert_eq!(futures_count(&s, &uuids, "inspect wait").await, 2.min(5 - reported), "{j}");
        // Answer one waiting node's ramdisk.
        let waiting = j["nodes"].as_array().unwrap().iter().find(|n| n["status"] == "inspecting").unwrap()["node_uuid"].as_str().unwrap().to_string();
        let (st, b) = s.ironic(M::POST, &format!("/v1/continue_inspection?node_uuid={waiting}"), Some(unique_macs(&kvm, reported))).await;
        assert_eq!(st, 202, "{b}");
        reported += 1;
        s.settle(&waiting, &["inspect wait", "inspecting"]).await;
    }
    let j = job(&s, &id).await;
    assert_eq!(j["state"], "finished", "{j}");
    assert_eq!((j["counts"]["done"].as_u64(), j["counts"]["failed"].as_u64()), (Some(5), Some(0)), "{j}");
    assert!(j["finished_at"].is_string());
    for u in &uuids {
        let n = s.node(u).await;
        assert_eq!((n["provision_state"].as_str(), n["properties"]["cpu_arch"].as_str()), (Some("manageable"), Some("x86_64")));
    }
    // Listed, without the per-node detail.
    let (_, l) = s.ironic(M::GET, "/v1/bulk_inspections", None).await;
    assert_eq!(l["bulk_inspections"].as_array().unwrap().len(), 1);
    assert!(l["bulk_inspections"][0].get("nodes").is_none());
    assert_eq!(s.ironic(M::GET, "/v1/bulk_inspections/nope", None).await.0, 404);

    // A failure is reported per node: one node times out of inspect wait (aborted here).
    let (_, j2) = s.ironic(M::POST, "/v1/bulk_inspections", Some(json!({"nodes": ["b0", "b1"], "concurrency": 5}))).await;
    let id2 = j2["uuid"].as_str().unwrap().to_string();
    for _ in 0..200 {
        if futures_count(&s, &uuids, "inspect wait").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.ironic(M::PUT, "/v1/nodes/b0/states/provision", Some(json!({"target": "abort"}))).await;
    s.ironic(M::POST, &format!("/v1/continue_inspection?node_uuid={}", uuids[1]), Some(unique_macs(&kvm, 50))).await;
    let mut j2 = job(&s, &id2).await;
    for _ in 0..200 {
        j2 = job(&s, &id2).await;
        if j2["state"] == "finished" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(j2["state"], "finished", "{j2}");
    let b0 = j2["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "b0").unwrap().clone();
    assert_eq!((b0["status"].as_str(), b0["error"].as_str()), (Some("failed"), Some("Inspection was aborted by request.")));
    assert_eq!(j2["counts"]["done"], 1);
}

/// The report with MACs of its own (a port's MAC belongs to one node).
fn unique_macs(report: &Value, n: usize) -> Value {
    let mut r = report.clone();
    let pxe = r["inventory"]["boot"]["pxe_interface"].clone();
    let mut new_pxe = pxe.clone();
    for (k, i) in r["inventory"]["interfaces"].as_array_mut().unwrap().iter_mut().enumerate() {
        let mac = json!(format!("52:54:00:{n:02x}:{k:02x}:01"));
        if i["mac_address"] == pxe {
            new_pxe = mac.clone();
        }
        i["mac_address"] = mac;
    }
    r["inventory"]["boot"]["pxe_interface"] = new_pxe;
    r
}

async fn futures_count(s: &Server, uuids: &[String], state: &str) -> usize {
    let mut n = 0;
    for u in uuids {
        if s.node(u).await["provision_state"] == state {
            n += 1;
        }
    }
    n
}

fn read_dir(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap()))
        .collect()
}

async fn wait_for_file(dir: &std::path::Path, name: &str, content: &str) {
    for _ in 0..300 {
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() == Some(content) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} never became {content:?}: {:?}", read_dir(dir));
}

/// The dnsmasq hostsdir follows inspection: a node's MACs are allowed while it inspects
/// (and unknown MACs too), denied otherwise; updated on the state change, not by polling.
#[tokio::test]
async fn pxe_filter_follows_inspection() {
    let hosts = tempfile::tempdir().unwrap();
    let cfg = ferric_conductor::pxe_filter::PxeFilterConfig {
        hostsdir: hosts.path().to_path_buf(),
        sync_period: Duration::from_secs(3600),
        discovery: false,
        inspect_interfaces: vec!["agent".into()],
    };
    let s = start_filtered(Some(cfg)).await;
    wait_for_file(hosts.path(), "unknown_hosts_filter", "*:*:*:*:*:*,ignore\n").await;
    for (name, mac) in [("pa", "52:54:00:0a:00:01"), ("pb", "52:54:00:0b:00:01")] {
        let (_, n) = s.ironic(M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": name, "inspect_interface": "agent"}))).await;
        let (st, b) = s.ironic(M::POST, "/v1/ports", Some(json!({"node_uuid": n["uuid"], "address": mac}))).await;
        assert_eq!(st, 201, "{b}");
        s.ironic(M::PUT, &format!("/v1/nodes/{name}/states/provision"), Some(json!({"target": "manage"}))).await;
        s.settle(name, &["verifying"]).await;
    }
    // Denied while nobody inspects (the ports came through the API: picked up by the next save).
    wait_for_file(hosts.path(), "52:54:00:0a:00:01", "52:54:00:0a:00:01,ignore\n").await;
    wait_for_file(hosts.path(), "52:54:00:0b:00:01", "52:54:00:0b:00:01,ignore\n").await;
    // pa inspects: its MAC and unknown MACs are allowed, pb stays denied.
    s.ironic(M::PUT, "/v1/nodes/pa/states/provision", Some(json!({"target": "inspect"}))).await;
    wait_for_file(hosts.path(), "52:54:00:0a:00:01", "52:54:00:0a:00:01\n").await;
    wait_for_file(hosts.path(), "unknown_hosts_filter", "*:*:*:*:*:*\n").await;
    assert_eq!(std::fs::read_to_string(hosts.path().join("52:54:00:0b:00:01")).unwrap(), "52:54:00:0b:00:01,ignore\n");
    // Abort: back to denied, at once (the sync period is an hour).
    s.settle("pa", &[]).await;
    s.ironic(M::PUT, "/v1/nodes/pa/states/provision", Some(json!({"target": "abort"}))).await;
    wait_for_file(hosts.path(), "52:54:00:0a:00:01", "52:54:00:0a:00:01,ignore\n").await;
    wait_for_file(hosts.path(), "unknown_hosts_filter", "*:*:*:*:*:*,ignore\n").await;
    assert!(read_dir(hosts.path()).keys().all(|k| !k.starts_with('.')), "no temporary files left");
}

/// Reports are rate-limited per source address: a flood gets 429 and changes nothing.
#[tokio::test]
async fn inspection_reports_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let store = ferric_store::Store::open(ferric_store::StoreConfig::new(dir.path().join("ferric.sqlite"))).unwrap();
    let conductor = Conductor::new(store, ferric_drivers::Registry::builtin(), ConductorConfig::default());
    conductor.start_up().await.unwrap();
    let api = ferric_api::ApiConfig { callback_rate_per_minute: 60, callback_burst: 2, ..Default::default() };
    let (l1, l2) = (tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let (u1, u2) = (format!("http://{}", l1.local_addr().unwrap()), format!("http://{}", l2.local_addr().unwrap()));
    tokio::spawn(ferric_api::serve(l1, ferric_api::router(conductor.clone(), api.clone()), std::future::pending()));
    tokio::spawn(ferric_api::serve_inspector(l2, ferric_api::inspector_router(conductor, api), std::future::pending()));
    let c = reqwest::Client::new();
    let stranger = json!({"inventory": {"interfaces": [{"mac_address": "52:54:00:99:99:99"}]}});
    for url in [format!("{u1}/v1/continue_inspection"), format!("{u2}/v1/continue")] {
        let mut codes = Vec::new();
        for _ in 0..4 {
            let r = c.post(&url).header("X-OpenStack-Ironic-API-Version", "1.84").json(&stranger).send().await.unwrap();
            codes.push(r.status().as_u16());
            if r.status() == 429 {
                if url.ends_with("continue_inspection") {
                    assert_eq!(r.headers()["retry-after"], "1");
                }
                let b: Value = r.json().await.unwrap();
                assert!(b.to_string().contains("Too many inspection reports from 127.0.0.1"), "{b}");
            }
        }
        assert_eq!(codes, [404, 404, 429, 429], "{url}");
    }
}

/// Discovery (off by default): an unknown machine's report enrolls it once; the same machine
/// again (by MAC or by system serial) is not enrolled twice.
#[tokio::test]
async fn discovery_enrolls_unknown_machines_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = ferric_store::Store::open(ferric_store::StoreConfig::new(dir.path().join("ferric.sqlite"))).unwrap();
    let mut driver_info = serde_json::Map::new();
    driver_info.insert("deploy_kernel".into(), json!("http://boot/kernel"));
    let cfg = ConductorConfig {
        discovery: Some(ferric_conductor::discovery::DiscoveryConfig { driver: "fake-hardware".into(), driver_info }),
        ..Default::default()
    };
    let conductor = Conductor::new(store, ferric_drivers::Registry::builtin(), cfg);
    conductor.start_up().await.unwrap();
    let (l1, l2) = (tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let s = Server {
        ironic: format!("http://{}", l1.local_addr().unwrap()),
        inspector: format!("http://{}", l2.local_addr().unwrap()),
        client: reqwest::Client::new(),
        _dir: dir,
    };
    tokio::spawn(ferric_api::serve(l1, ferric_api::router(conductor.clone(), Default::default()), std::future::pending()));
    tokio::spawn(ferric_api::serve_inspector(l2, ferric_api::inspector_router(conductor, Default::default()), std::future::pending()));

    let dell = fixture("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json");
    let (st, b) = s.ironic(M::POST, "/v1/continue_inspection", Some(dell.clone())).await;
    assert_eq!(st, 202, "{b}");
    assert!(b["config"]["agent_token"].is_string(), "{b}");
    let uuid = b["node"]["uuid"].as_str().unwrap().to_string();
    let n = s.settle(&uuid, &[]).await;
    assert_eq!(n["provision_state"], "enroll", "stays in enroll for the operator to manage");
    assert_eq!((n["driver"].as_str(), n["inspect_interface"].as_str()), (Some("fake-hardware"), Some("agent")));
    assert_eq!(n["driver_info"]["deploy_kernel"], "http://boot/kernel");
    assert_eq!(n["extra"]["auto_discovered"], true);
    assert_eq!(n["properties"]["cpu_arch"], "x86_64", "processed by the hooks: {}", n["last_error"]);
    let (_, inv) = s.ironic(M::GET, &format!("/v1/nodes/{uuid}/inventory"), None).await;
    assert_eq!(inv["plugin_data"]["auto_discovered"], true);
    let (_, ports) = s.ironic(M::GET, &format!("/v1/nodes/{uuid}/ports"), None).await;
    let pxe = dell["inventory"]["boot"]["pxe_interface"].as_str().unwrap().to_lowercase();
    assert_eq!(ports["ports"].as_array().unwrap().iter().map(|p| p["address"].as_str().unwrap()).collect::<Vec<_>>(), [pxe.as_str()]);
    // The same machine again: known by its MACs, refused, nothing new.
    assert_eq!(s.ironic(M::POST, "/v1/continue_inspection", Some(dell.clone())).await.0, 404);
    assert_eq!(s.insp(M::POST, "/v1/continue", None, Some(dell.clone())).await.0, 404);
    // New NICs, same serial (a motherboard NIC swap): still the same machine.
    let mut other_nics = dell.clone();
    for (k, i) in other_nics["inventory"]["interfaces"].as_array_mut().unwrap().iter_mut().enumerate() {
        i["mac_address"] = json!(format!("52:54:00:ee:00:{k:02x}"));
    }
    other_nics["inventory"]["boot"]["pxe_interface"] = json!("52:54:00:ee:00:00");
    other_nics["inventory"]["bmc_address"] = json!("192.0.2.200");
    assert_eq!(s.ironic(M::POST, "/v1/continue_inspection", Some(other_nics.clone())).await.0, 404);
    let (_, all) = s.ironic(M::GET, "/v1/nodes", None).await;
    assert_eq!(all["nodes"].as_array().unwrap().len(), 1);
    // A different machine through the inspector's endpoint is enrolled too.
    let mut r7615 = fixture("understack-dell-r7615-node-inventory-lldp.json");
    r7615.as_object_mut().unwrap().remove("error");
    let (st, b) = s.insp(M::POST, "/v1/continue", None, Some(r7615)).await;
    assert_eq!(st, 200, "{b}");
    let (_, all) = s.ironic(M::GET, "/v1/nodes", None).await;
    assert_eq!(all["nodes"].as_array().unwrap().len(), 2);
    // Its serial now finds it when it is inspected again (no ports matter for this).
    let u2 = b["uuid"].as_str().unwrap().to_string();
    s.settle(&u2, &[]).await;
    assert_eq!(s.node(&u2).await["provision_state"], "enroll");
}

/// A node waiting for inspection is found by the system serial of its earlier inspections
/// when its MACs and BMC address say nothing (all NICs replaced, BMC not reported).
#[tokio::test]
async fn lookup_by_system_serial() {
    let s = start().await;
    let dell = fixture("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json");
    let (_, n) = s.ironic(M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "sn", "inspect_interface": "agent"}))).await;
    let uuid = n["uuid"].as_str().unwrap().to_string();
    s.ironic(M::PUT, "/v1/nodes/sn/states/provision", Some(json!({"target": "manage"}))).await;
    s.settle("sn", &["verifying"]).await;
    s.ironic(M::PUT, "/v1/nodes/sn/states/provision", Some(json!({"target": "inspect"}))).await;
    s.settle("sn", &[]).await;
    let (st, _) = s.ironic(M::POST, &format!("/v1/continue_inspection?node_uuid={uuid}"), Some(dell.clone())).await;
    assert_eq!(st, 202);
    s.settle("sn", &["inspect wait", "inspecting"]).await;
    // Second inspection: new NICs, no BMC address, no node_uuid.
    let mut swapped = unique_macs(&dell, 77);
    swapped["inventory"]["bmc_address"] = json!("0.0.0.0");
    s.ironic(M::PUT, "/v1/nodes/sn/states/provision", Some(json!({"target": "inspect"}))).await;
    s.settle("sn", &[]).await;
    let (st, b) = s.ironic(M::POST, "/v1/continue_inspection", Some(swapped.clone())).await;
    assert_eq!(st, 202, "{b}");
    assert_eq!(b["node"]["uuid"], uuid.as_str());
    assert_eq!(s.settle("sn", &["inspect wait", "inspecting"]).await["provision_state"], "manageable");
    // Not waiting any more: the serial finds nothing.
    assert_eq!(s.ironic(M::POST, "/v1/continue_inspection", Some(unique_macs(&dell, 78))).await.0, 404);
}

/// The inspector's rules API: stored as posted, applied (translated onto the rules engine)
/// when an inspection is processed.
#[tokio::test]
async fn inspector_rules_are_stored_and_applied() {
    let s = start().await;
    let rule = json!({
        "description": "big machines go to rack B",
        "conditions": [{"op": "ge", "field": "data://inventory.cpu.count", "value": 8}],
        "actions": [
            {"action": "set-attribute", "path": "/extra/rack", "value": "B"},
            {"action": "set-capability", "name": "big", "value": "yes"}
        ]
    });
    let (st, created) = s.insp(M::POST, "/v1/rules", None, Some(rule.clone())).await;
    assert_eq!(st, 201, "{created}");
    let uuid = created["uuid"].as_str().unwrap().to_string();
    assert_eq!(created["conditions"][0]["multiple"], "any");
    assert_eq!(created["conditions"][0]["invert"], false);
    assert_eq!(created["actions"], rule["actions"]);
    // 200 before 1.6, as the inspector.
    let mut old = rule.clone();
    old["uuid"] = json!("7f1e8a1e-1111-4b7e-9a7e-000000000001");
    assert_eq!(s.insp(M::POST, "/v1/rules", Some("1.5"), Some(old.clone())).await.0, 200);
    let (st, b) = s.insp(M::POST, "/v1/rules", None, Some(old)).await;
    assert_eq!((st, message(&b).as_str()), (409, "Rule with UUID 7f1e8a1e-1111-4b7e-9a7e-000000000001 already exists"));
    // Bad rules: the inspector's messages.
    let (st, b) = s.insp(M::POST, "/v1/rules", None, Some(json!({"conditions": [], "actions": []}))).await;
    assert_eq!((st, message(&b).as_str()), (400, "Validation failed for actions: [] is too short"));
    let (st, b) = s.insp(M::POST, "/v1/rules", None, Some(json!({"uuid": "nope", "actions": [{"action": "fail", "message": "x"}]}))).await;
    assert_eq!((st, message(&b).as_str()), (400, "Invalid UUID value"));
    let (st, _) = s.insp(M::POST, "/v1/rules", None, Some(json!({"actions": [{"action": "explode"}]}))).await;
    assert_eq!(st, 400);
    // List (short), show (full), delete one.
    let (_, l) = s.insp(M::GET, "/v1/rules", None, None).await;
    assert_eq!(l["rules"].as_array().unwrap().len(), 2);
    assert!(l["rules"][0].get("conditions").is_none());
    assert_eq!(s.insp(M::GET, &format!("/v1/rules/{uuid}"), None, None).await.1["description"], "big machines go to rack B");
    assert_eq!(s.insp(M::DELETE, "/v1/rules/7f1e8a1e-1111-4b7e-9a7e-000000000001", None, None).await.0, 204);
    let (st, b) = s.insp(M::GET, "/v1/rules/7f1e8a1e-1111-4b7e-9a7e-000000000001", None, None).await;
    assert_eq!((st, message(&b).as_str()), (404, "Rule 7f1e8a1e-1111-4b7e-9a7e-000000000001 was not found"));

    // Applied during inspection.
    let dell = fixture("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json");
    let (_, n) = s.ironic(M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "ruled", "inspect_interface": "agent"}))).await;
    let nu = n["uuid"].as_str().unwrap().to_string();
    s.ironic(M::PUT, "/v1/nodes/ruled/states/provision", Some(json!({"target": "manage"}))).await;
    s.settle("ruled", &["verifying"]).await;
    s.ironic(M::PUT, "/v1/nodes/ruled/states/provision", Some(json!({"target": "inspect"}))).await;
    s.settle("ruled", &[]).await;
    s.ironic(M::POST, &format!("/v1/continue_inspection?node_uuid={nu}"), Some(dell.clone())).await;
    let n = s.settle("ruled", &["inspect wait", "inspecting"]).await;
    assert_eq!(n["provision_state"], "manageable", "{}", n["last_error"]);
    assert_eq!(n["extra"]["rack"], "B");
    assert!(n["properties"]["capabilities"].as_str().unwrap().contains("big:yes"), "{}", n["properties"]);
    // Delete all: nothing applies any more.
    assert_eq!(s.insp(M::DELETE, "/v1/rules", None, None).await.0, 204);
    assert_eq!(s.insp(M::GET, "/v1/rules", None, None).await.1, json!({"rules": []}));
}

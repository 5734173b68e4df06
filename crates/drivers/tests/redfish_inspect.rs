//! Out-of-band inspection over Redfish, on answers recorded from the real sushy-tools 2.2.0
//! (`tests/fixtures/sushy`, see its README), replayed by path; then the same system with the
//! processor and memory resources sushy-tools does not implement, written after the DMTF
//! schema, to check the mapping of what a real BMC adds. The live emulator runs in CI
//! (conformance/bmc_scenario.py).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use ferric_core::Node;
use ferric_drivers::Registry;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

const SYS: &str = "/redfish/v1/Systems/5e5e0000-0000-4000-8000-000000000000";

fn fixtures() -> HashMap<String, (u16, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sushy");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let mut out = HashMap::new();
    for f in index["fixtures"].as_array().unwrap() {
        if f["run"] != "a" || f["method"] != "GET" {
            continue;
        }
        let file = f["file"].as_str().unwrap();
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let (status, body) = if file.ends_with(".reply.json") {
            (doc["status"].as_u64().unwrap() as u16, doc["body"].clone())
        } else {
            (200, doc)
        };
        // The first answer per path: later ones were recorded after changes (power, boot).
        out.entry(f["path"].as_str().unwrap().to_string()).or_insert((status, body));
    }
    // The recorder kept the first NIC only; the second is the same resource with its MAC.
    let nic0 = format!("{SYS}/EthernetInterfaces/52:54:00:5e:00:00");
    let text = serde_json::to_string(&out[&nic0].1).unwrap().replace("52:54:00:5e:00:00", "52:54:00:5e:00:01");
    out.insert(nic0.replace(":00:00", ":00:01"), (200, serde_json::from_str(&text).unwrap()));
    out
}

async fn replay(State(map): State<Arc<HashMap<String, (u16, Value)>>>, req: Request) -> Response {
    match map.get(req.uri().path()) {
        Some((status, body)) => (StatusCode::from_u16(*status).unwrap(), Json(body.clone())).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve(map: HashMap<String, (u16, Value)>) -> String {
    let app = Router::new().fallback(replay).with_state(Arc::new(map));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

fn node(url: &str) -> Node {
    let mut n = Node { uuid: "5b0d3c8a-1a51-4b0e-8d0e-5a2d1c0e7f00".into(), driver: "redfish".into(), ..Default::default() };
    n.driver_info.insert("redfish_address".into(), url.into());
    n.driver_info.insert("redfish_system_id".into(), SYS.into());
    n
}

#[tokio::test]
async fn sushy_tools_answers_become_an_ipa_inventory() {
    let map = fixtures();
    assert!(map.contains_key(SYS), "the recorded system is missing");
    let url = serve(map).await;
    let r = Registry::builtin();
    let n = node(&url);
    let d = r.driver_for(&n).unwrap();
    let oob = d.interface("inspect").unwrap().inspect_out_of_band(&n).await.unwrap().expect("redfish inspects out of band");
    let inv = &oob.inventory;
    // sushy-tools has no Processors (501) and no memory size: defaults, as Ironic's.
    assert_eq!(inv["cpu"], json!({"count": 0, "architecture": ""}));
    assert!(inv.get("memory").is_none());
    assert!(!oob.properties.contains_key("memory_mb"));
    let disks = inv["disks"].as_array().unwrap();
    assert_eq!(disks.len(), 2, "{disks:?}");
    assert_eq!(disks[0]["name"], "Drive Sample 0");
    assert_eq!(disks[0]["size"], 107374182400u64);
    assert_eq!(disks[0]["serial"], "1234570");
    assert_eq!(disks[0]["rotational"], true);
    assert_eq!(disks[1]["size"], 1099511627776u64);
    // The first disk of at least 4 GiB, in GiB less one.
    assert_eq!(oob.properties["local_gb"], "99");
    let macs: Vec<&str> = inv["interfaces"].as_array().unwrap().iter().map(|i| i["mac_address"].as_str().unwrap()).collect();
    assert_eq!(macs, ["52:54:00:5e:00:00", "52:54:00:5e:00:01"]);
    assert_eq!(oob.enabled_macs, ["52:54:00:5e:00:00", "52:54:00:5e:00:01"]);
    assert_eq!(inv["system_vendor"]["manufacturer"], "Sushy Emulator");
    assert_eq!(inv["system_vendor"]["product_name"], "sushy-0");
    assert_eq!(inv["system_vendor"]["system_uuid"], "5e5e0000-0000-4000-8000-000000000000");
    assert_eq!(inv["boot"]["current_boot_mode"], "uefi");
    assert_eq!(oob.boot_mode.as_deref(), Some("uefi"));
    // The power state and boot device read from the same answers.
    assert_eq!(d.power.get_power_state(&n).await.unwrap(), ferric_core::PowerState::Off);
    assert_eq!(d.management.get_boot_device(&n).await.unwrap(), (Some("disk".into()), Some(true)));
}

#[tokio::test]
async fn processors_memory_and_identity_of_a_fuller_bmc_are_mapped() {
    let mut map = fixtures();
    let (_, sys) = map.get_mut(SYS).unwrap();
    sys["Model"] = "PowerEdge R650".into();
    sys["SerialNumber"] = "CZ2104ABCD".into();
    sys["SKU"] = "8XK2QJ3".into();
    sys["ProcessorSummary"] = json!({"Count": 64, "Model": "Intel Xeon Gold 6338"});
    sys["MemorySummary"] = json!({"TotalSystemMemoryGiB": 512});
    sys["Processors"] = json!({"@odata.id": format!("{SYS}/Processors")});
    sys["Boot"]["BootSourceOverrideMode"] = "Legacy".into();
    map.insert(format!("{SYS}/Processors"), (200, json!({"Members": [{"@odata.id": format!("{SYS}/Processors/CPU.0")}]})));
    map.insert(
        format!("{SYS}/Processors/CPU.0"),
        (200, json!({"Id": "CPU.0", "Model": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "MaxSpeedMHz": 3200,
                     "InstructionSet": "x86-64", "TotalCores": 32, "TotalThreads": 64})),
    );
    // One NIC down: no port for it.
    let nic1 = format!("{SYS}/EthernetInterfaces/52:54:00:5e:00:01");
    map.get_mut(&nic1).unwrap().1["Status"]["State"] = "Disabled".into();
    let url = serve(map).await;
    let r = Registry::builtin();
    let n = node(&url);
    let oob = r.driver_for(&n).unwrap().interface("inspect").unwrap().inspect_out_of_band(&n).await.unwrap().unwrap();
    let inv = &oob.inventory;
    assert_eq!(inv["cpu"]["count"], 64);
    assert_eq!(inv["cpu"]["architecture"], "x86_64");
    assert_eq!(inv["cpu"]["model_name"], "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
    assert_eq!(inv["cpu"]["frequency"], "3200");
    assert_eq!(inv["memory"]["physical_mb"], 524288);
    assert_eq!(oob.properties["memory_mb"], 524288);
    assert_eq!(inv["system_vendor"]["product_name"], "PowerEdge R650");
    assert_eq!(inv["system_vendor"]["serial_number"], "CZ2104ABCD");
    assert_eq!(inv["system_vendor"]["sku"], "8XK2QJ3");
    assert_eq!(oob.boot_mode.as_deref(), Some("bios"));
    assert_eq!(oob.enabled_macs, ["52:54:00:5e:00:00"]);
    assert_eq!(inv["interfaces"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_bmc_with_several_systems_needs_a_system_id() {
    let url = serve(fixtures()).await;
    let r = Registry::builtin();
    let mut n = node(&url);
    n.driver_info.remove("redfish_system_id");
    let e = r.driver_for(&n).unwrap().power.get_power_state(&n).await.unwrap_err().to_string();
    assert!(e.contains("manages 2 ComputerSystems; set driver_info/redfish_system_id"), "{e}");
    assert!(e.contains("/redfish/v1/Systems/5e5e0000-0000-4000-8000-000000000001"), "{e}");
}

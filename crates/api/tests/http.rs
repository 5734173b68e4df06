//! The API over real HTTP: a server on an ephemeral loopback port, a real SQLite file, and a
//! reqwest client. Expected bodies and messages come from Ironic 39's recorded responses
//! (shared/reference/ironic-responses/).

use ferric_conductor::{Conductor, ConductorConfig};
use serde_json::{json, Value};
use std::time::Duration;

struct Server {
    url: String,
    client: reqwest::Client,
    store: ferric_store::Store,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    start_with(ConductorConfig { node_locked_retry_interval: Duration::from_millis(20), ..Default::default() }).await
}

async fn start_with(cfg: ConductorConfig) -> Server {
    start_api(cfg, ferric_api::ApiConfig { max_body_bytes: 64 * 1024, ..Default::default() }).await
}

/// A server that also accepts the microversions up to 1.115 (not advertised), for features
/// that exist before `MAX` is raised to them.
async fn start_preview() -> Server {
    let cfg = ConductorConfig { node_locked_retry_interval: Duration::from_millis(20), ..Default::default() };
    start_api(cfg, ferric_api::ApiConfig { preview_max_minor: Some(115), ..Default::default() }).await
}

async fn start_api(cfg: ConductorConfig, api: ferric_api::ApiConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = ferric_store::Store::open(ferric_store::StoreConfig::new(dir.path().join("ferric.sqlite"))).unwrap();
    let conductor = Conductor::new(store.clone(), ferric_drivers::Registry::builtin(), cfg);
    conductor.start_up().await.unwrap();
    let app = ferric_api::router(conductor, api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ferric_api::serve(listener, app, std::future::pending()));
    Server { url, client: reqwest::Client::new(), store, _dir: dir }
}

impl Server {
    fn req(&self, method: reqwest::Method, path: &str, version: Option<&str>) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, format!("{}{path}", self.url));
        if let Some(v) = version {
            r = r.header("X-OpenStack-Ironic-API-Version", v);
        }
        r
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    /// GET at an explicit microversion.
    async fn get_at(&self, path: &str, version: &str) -> (u16, Value) {
        let resp = self.req(reqwest::Method::GET, path, Some(version)).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_at("latest", method, path, body).await
    }
    async fn call_at(&self, version: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path, Some(version));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
    /// Poll until the node has no target state and is not locked.
    async fn settle(&self, node: &str) -> Value {
        for _ in 0..400 {
            let (_, n) = self.get(&format!("/v1/nodes/{node}")).await;
            if n["reservation"].is_null() && n["target_provision_state"].is_null() && n["target_power_state"].is_null() {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("node {node} did not settle");
    }
}

/// The faultstring inside Ironic's doubly-encoded error body.
fn fault(body: &Value) -> String {
    let inner: Value = serde_json::from_str(body["error_message"].as_str().expect("error_message string")).unwrap();
    inner["faultstring"].as_str().or(inner["description"].as_str()).unwrap().to_string()
}

#[tokio::test]
async fn discovery_documents_and_headers() {
    let s = start().await;
    let resp = s.client.get(format!("{}/", s.url)).send().await.unwrap();
    let h = resp.headers().clone();
    assert_eq!(h["x-openstack-ironic-api-minimum-version"], "1.1");
    assert_eq!(h["x-openstack-ironic-api-maximum-version"], ferric_core::version::MAX.to_string().as_str());
    assert_eq!(h["x-openstack-ironic-api-version"], "1.1", "no header means 1.1");
    assert!(h["x-openstack-request-id"].to_str().unwrap().starts_with("req-"));
    let root: Value = resp.json().await.unwrap();
    assert_eq!(root["default_version"]["id"], "v1");
    assert_eq!(root["default_version"]["min_version"], "1.1");
    assert_eq!(root["default_version"]["version"], ferric_core::version::MAX.to_string());
    assert_eq!(root["default_version"]["links"][0]["href"], format!("{}/v1/", s.url));

    let (st, v1) = s.get("/v1").await;
    assert_eq!(st, 200);
    for r in ["nodes", "ports", "chassis", "drivers", "portgroups", "lookup", "heartbeat"] {
        assert!(v1.get(r).is_some(), "/v1 lists {r}");
    }
    let old: Value = s.req(reqwest::Method::GET, "/v1/", Some("1.1")).send().await.unwrap().json().await.unwrap();
    assert!(old.get("portgroups").is_none(), "portgroups appear from 1.23 only");
}

#[tokio::test]
async fn version_negotiation() {
    let s = start().await;
    let resp = s.req(reqwest::Method::GET, "/v1/nodes", Some("1.200")).send().await.unwrap();
    assert_eq!(resp.status(), 406);
    assert_eq!(resp.headers()["x-openstack-ironic-api-maximum-version"], ferric_core::version::MAX.to_string().as_str());
    assert!(resp.headers().get("x-openstack-ironic-api-version").is_none());
    let body: Value = resp.json().await.unwrap();
    let inner: Value = serde_json::from_str(body["error_message"].as_str().unwrap()).unwrap();
    assert_eq!(inner["code"], 406);
    assert!(inner["description"].as_str().unwrap().starts_with("Version 1.200 was requested but the minor version is not supported"));
    // OpenStack-API-Version wins over the Ironic header.
    let resp = s
        .client
        .get(format!("{}/v1/nodes", s.url))
        .header("OpenStack-API-Version", "baremetal 1.20")
        .header("X-OpenStack-Ironic-API-Version", "1.5")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-openstack-ironic-api-version"], "1.20");
    let resp = s.req(reqwest::Method::GET, "/v1/nodes", Some("bogus")).send().await.unwrap();
    assert_eq!(resp.status(), 406);
}

#[tokio::test]
async fn nodes_are_gated_by_microversion() {
    let s = start().await;
    // At 1.1 a new node is available (shown as null); from 1.11 it is enrolled.
    let resp = s.req(reqwest::Method::POST, "/v1/nodes", Some("1.1")).json(&json!({"driver": "fake-hardware"})).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let old: Value = resp.json().await.unwrap();
    assert!(old["provision_state"].is_null());
    assert!(old.get("name").is_none() && old.get("driver_internal_info").is_none() && old.get("states").is_none());
    let (_, n) = s.get(&format!("/v1/nodes/{}", old["uuid"].as_str().unwrap())).await;
    assert_eq!(n["provision_state"], "available");
    let (st, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "n1"})).await;
    assert_eq!(st, 201);
    assert_eq!(n["provision_state"], "enroll");
    assert_eq!(n["power_interface"], "fake");
    assert_eq!(n["network_interface"], "noop");
    // Names are looked up only from 1.5.
    let resp = s.req(reqwest::Method::GET, "/v1/nodes/n1", Some("1.4")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // `fields` is 1.8+.
    let resp = s.req(reqwest::Method::GET, "/v1/nodes?fields=uuid", Some("1.7")).send().await.unwrap();
    assert_eq!(resp.status(), 406);
    let (st, l) = s.get("/v1/nodes?fields=uuid,driver").await;
    assert_eq!(st, 200);
    let keys: Vec<&String> = l["nodes"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["driver", "links", "uuid"]);
    let (st, b) = s.get("/v1/nodes?fields=uuid,bogus").await;
    assert_eq!((st, fault(&b)), (400, "Field(s) \"bogus\" are not valid".to_string()));
}

#[tokio::test]
async fn errors_have_ironic_shape_and_texts() {
    let s = start().await;
    let (st, b) = s.get("/v1/nodes/doesnotexist").await;
    assert_eq!(st, 404);
    let inner: Value = serde_json::from_str(b["error_message"].as_str().unwrap()).unwrap();
    assert_eq!(inner, json!({"faultcode": "Client", "faultstring": "Node doesnotexist could not be found.", "debuginfo": null}));
    let (st, b) = s.post("/v1/nodes", json!({"driver": "idrac"})).await;
    assert_eq!(st, 400);
    assert_eq!(fault(&b), "No valid host was found. Reason: No conductor service registered which supports driver idrac for conductor group \"\". Ensure the driver is valid and enabled.");
    let (st, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware"})).await;
    assert_eq!(st, 201);
    let u = n["uuid"].as_str().unwrap();
    let (st, b) = s.put(&format!("/v1/nodes/{u}/states/provision"), json!({"target": "inspect"})).await;
    assert_eq!(st, 400);
    assert_eq!(fault(&b), format!("The requested action \"inspect\" can not be performed on node \"{u}\" while it is in state \"enroll\"."));
    let (st, _) = s.put(&format!("/v1/nodes/{u}/states/provision"), json!({"target": "bogus"})).await;
    assert_eq!(st, 400);
    let (st, b) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "bogus": 1})).await;
    assert_eq!((st, fault(&b).contains("bogus")), (400, true));
}

#[tokio::test]
async fn bad_input_is_refused_and_stores_nothing() {
    let s = start().await;
    let (_, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "keep", "extra": {"a": 1}})).await;
    let before = s.get("/v1/nodes/keep").await.1;
    let raw = |method: reqwest::Method, path: &str, body: &'static str| {
        s.req(method, path, Some("latest")).header("Content-Type", "application/json").body(body).send()
    };
    let r = raw(reqwest::Method::POST, "/v1/nodes", "{not json").await.unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert!(fault(&b).starts_with("Invalid JSON"));
    let r = raw(reqwest::Method::PATCH, "/v1/nodes/keep", "[{\"op\": \"replace\", \"path\": \"/extra\"").await.unwrap();
    assert_eq!(r.status(), 400);
    let huge = format!("{{\"driver\": \"fake-hardware\", \"extra\": {{\"x\": \"{}\"}}}}", "a".repeat(200_000));
    let r = s.req(reqwest::Method::POST, "/v1/nodes", Some("latest")).header("Content-Type", "application/json").body(huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let (st, _) = s.patch("/v1/nodes/keep", json!([{"op": "add", "path": "/bogus", "value": 1}])).await;
    assert_eq!(st, 400);
    let (st, _) = s.patch("/v1/nodes/keep", json!([{"op": "replace", "path": "/uuid", "value": "x"}])).await;
    assert_eq!(st, 400);
    let (st, _) = s.patch("/v1/nodes/keep", json!([{"op": "replace", "path": "/extra", "value": "not a dict"}])).await;
    assert_eq!(st, 400);
    let (st, _) = s.patch("/v1/nodes/keep", json!([{"op": "replace", "path": "/driver", "value": "nope"}])).await;
    assert_eq!(st, 400);
    let (st, _) = s.put("/v1/nodes/keep/states/power", json!({"target": "sideways"})).await;
    assert_eq!(st, 400);
    assert_eq!(s.get("/v1/nodes/keep").await.1, before, "refused requests leave the record intact");
    assert_eq!(s.get("/v1/nodes").await.1["nodes"].as_array().unwrap().len(), 1);
    let _ = n;
}

#[tokio::test]
async fn secrets_are_masked_on_every_read_path() {
    let s = start().await;
    let di = json!({"ipmi_address": "192.0.2.1", "ipmi_username": "admin", "ipmi_password": "hunter2", "redfish_password": "p"});
    let (st, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "sec", "driver_info": di})).await;
    assert_eq!(st, 201);
    let (_, patched) = s.patch("/v1/nodes/sec", json!([{"op": "add", "path": "/driver_info/ipmi_port", "value": 623}])).await;
    let (_, shown) = s.get("/v1/nodes/sec").await;
    let (_, detail) = s.get("/v1/nodes/detail").await;
    let (_, fields) = s.get("/v1/nodes?fields=driver_info").await;
    for (what, body) in [("create", &n), ("patch", &patched), ("show", &shown), ("detail", &detail), ("fields", &fields)] {
        let text = body.to_string();
        assert!(!text.contains("hunter2") && !text.contains("\"p\""), "{what} leaks a secret: {text}");
    }
    assert_eq!(shown["driver_info"]["ipmi_password"], "******");
    assert_eq!(shown["driver_info"]["ipmi_username"], "admin");
    assert_eq!(shown["driver_info"]["ipmi_port"], 623);
    // A patch elsewhere must not overwrite the stored secret with the mask.
    let (_, _) = s.patch("/v1/nodes/sec", json!([{"op": "add", "path": "/driver_info/ipmi_username", "value": "root"}])).await;
    let u = n["uuid"].as_str().unwrap();
    let raw = ferric_store::Store::open(ferric_store::StoreConfig::new(s._dir.path().join("ferric.sqlite"))).unwrap();
    let stored = raw.get_node(u).await.unwrap();
    assert_eq!(stored.driver_info["ipmi_password"], "hunter2");
}

#[tokio::test]
async fn the_provision_life_cycle_over_http() {
    let s = start().await;
    let (_, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "life"})).await;
    let u = n["uuid"].as_str().unwrap().to_string();
    let (st, p) = s.post("/v1/ports", json!({"address": "52:54:00:12:34:56", "node_uuid": u})).await;
    assert_eq!(st, 201, "{p}");
    let go = |target: &'static str| {
        let s = &s;
        async move {
            let (st, b) = s.put("/v1/nodes/life/states/provision", json!({"target": target})).await;
            assert_eq!(st, 202, "{target}: {b}");
            s.settle("life").await
        }
    };
    assert_eq!(go("manage").await["provision_state"], "manageable");
    let n = go("inspect").await;
    assert_eq!(n["provision_state"], "manageable");
    assert!(n["inspection_finished_at"].is_string());
    assert_eq!(go("provide").await["provision_state"], "available");
    let (st, _) = s.put("/v1/nodes/life/states/power", json!({"target": "power on"})).await;
    assert_eq!(st, 202);
    assert_eq!(s.settle("life").await["power_state"], "power on");
    assert_eq!(go("active").await["provision_state"], "active");
    let (st, b) = s.delete("/v1/nodes/life").await;
    assert_eq!(st, 409, "an active node cannot be deleted (InvalidState is a Conflict): {b}");
    assert_eq!(go("deleted").await["provision_state"], "available");
    let (st, st_body) = s.get("/v1/nodes/life/states").await;
    assert_eq!(st, 200);
    assert_eq!(st_body["provision_state"], "available");
    assert!(st_body["provision_updated_at"].is_string());
    let (st, _) = s.put("/v1/nodes/life/maintenance", json!({"reason": "disk swap"})).await;
    assert_eq!(st, 202);
    let n = s.get("/v1/nodes/life").await.1;
    assert_eq!((n["maintenance"].clone(), n["maintenance_reason"].clone()), (json!(true), json!("disk swap")));
    let (st, b) = s.get("/v1/nodes?maintenance=true").await;
    assert_eq!((st, b["nodes"].as_array().unwrap().len()), (200, 1));
    s.delete("/v1/nodes/life/maintenance").await;
    assert_eq!(s.get("/v1/nodes/life").await.1["maintenance_reason"], Value::Null);
    let (st, b) = s.get("/v1/nodes/life/validate").await;
    assert_eq!((st, b["power"]["result"].clone()), (200, json!(true)));
    let (st, _) = s.put("/v1/nodes/life/management/boot_device", json!({"boot_device": "disk", "persistent": true})).await;
    assert_eq!(st, 204);
    assert_eq!(s.get("/v1/nodes/life/management/boot_device").await.1, json!({"boot_device": "disk", "persistent": true}));
    assert_eq!(s.delete("/v1/nodes/life").await.0, 204);
    assert_eq!(s.get(&format!("/v1/ports/{}", p["uuid"].as_str().unwrap())).await.0, 404, "ports go with their node");
}

#[tokio::test]
async fn ports_portgroups_and_chassis() {
    let s = start().await;
    let (_, ch) = s.post("/v1/chassis", json!({"description": "rack 1"})).await;
    let c = ch["uuid"].as_str().unwrap();
    let (_, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "chassis_uuid": c})).await;
    let u = n["uuid"].as_str().unwrap();
    let (st, _) = s.post("/v1/ports", json!({"address": "52:54:00:AA:BB:CC", "node_uuid": u, "pxe_enabled": false})).await;
    assert_eq!(st, 201);
    let (st, b) = s.post("/v1/ports", json!({"address": "52:54:00:aa:bb:cc", "node_uuid": u})).await;
    assert_eq!((st, fault(&b)), (409, "A port with MAC address 52:54:00:aa:bb:cc already exists.".to_string()));
    let (st, b) = s.post("/v1/ports", json!({"address": "not-a-mac", "node_uuid": u})).await;
    assert_eq!((st, fault(&b)), (400, "Expected a MAC address but received not-a-mac.".to_string()));
    let (st, _) = s.post("/v1/ports", json!({"address": "52:54:00:00:00:01", "node_uuid": "00000000-0000-4000-8000-000000000000"})).await;
    assert_eq!(st, 400);
    let (_, l) = s.get(&format!("/v1/nodes/{u}/ports/detail")).await;
    assert_eq!(l["ports"][0]["pxe_enabled"], false);
    let (_, l) = s.get("/v1/ports?address=52:54:00:aa:bb:cc").await;
    assert_eq!(l["ports"].as_array().unwrap().len(), 1);
    let (st, pg) = s.post("/v1/portgroups", json!({"node_uuid": u, "name": "bond0", "address": "52:54:00:00:00:aa"})).await;
    assert_eq!(st, 201, "{pg}");
    let port_uuid = l["ports"][0]["uuid"].as_str().unwrap().to_string();
    let (st, _) = s.patch(&format!("/v1/ports/{port_uuid}"), json!([{"op": "add", "path": "/portgroup_uuid", "value": pg["uuid"]}])).await;
    assert_eq!(st, 200);
    let (st, _) = s.delete("/v1/portgroups/bond0").await;
    assert_eq!(st, 400, "a portgroup with ports cannot go");
    let (_, gp) = s.get("/v1/portgroups/bond0/ports").await;
    assert_eq!(gp["ports"].as_array().unwrap().len(), 1);
    let (st, _) = s.delete(&format!("/v1/chassis/{c}")).await;
    assert_eq!(st, 400, "a chassis with nodes cannot go");
    let (_, cn) = s.get(&format!("/v1/chassis/{c}/nodes")).await;
    assert_eq!(cn["nodes"][0]["uuid"], u);
    let (st, _) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "chassis_uuid": "00000000-0000-4000-8000-000000000000"})).await;
    assert_eq!(st, 400);
    let (_, d) = s.get("/v1/drivers").await;
    assert_eq!(d["drivers"][0]["name"], "fake-hardware");
    assert_eq!(d["drivers"][0]["type"], "dynamic");
    let (_, d) = s.get("/v1/drivers/fake-hardware").await;
    assert_eq!(d["default_network_interface"], "noop");
    assert_eq!(s.get("/v1/drivers/nope").await.0, 404);
}

#[tokio::test]
async fn pagination_follows_next_links() {
    let s = start().await;
    for i in 0..7 {
        s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": format!("p{i}")})).await;
    }
    let mut seen = Vec::new();
    let mut path = "/v1/nodes?limit=3&sort_key=name&sort_dir=desc".to_string();
    loop {
        let (st, page) = s.get(&path).await;
        assert_eq!(st, 200);
        seen.extend(page["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()));
        match page.get("next").and_then(Value::as_str) {
            Some(next) => path = next.strip_prefix(&s.url).unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["p6", "p5", "p4", "p3", "p2", "p1", "p0"]);
    assert_eq!(s.get("/v1/nodes?limit=0").await.0, 400);
    assert_eq!(s.get("/v1/nodes?sort_key=driver_info").await.0, 400);
    assert_eq!(s.get("/v1/nodes?marker=00000000-0000-4000-8000-000000000000").await.0, 400);
}

/// Many clients at once (creates, patches, ports, state changes) against one SQLite file:
/// no request may fail with a 5xx ("database is locked" in Ironic) and every write lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_clients_never_hit_database_is_locked() {
    let s = std::sync::Arc::new(start().await);
    let clients = 16;
    let per_client = 25;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for i in 0..per_client {
                let name = format!("c{c}-{i}");
                let (st, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": name})).await;
                codes.push(st);
                let u = n["uuid"].as_str().unwrap().to_string();
                let (st, _) = s.patch(&format!("/v1/nodes/{u}"), json!([{"op": "add", "path": "/extra/client", "value": c}])).await;
                codes.push(st);
                let (st, _) = s.post("/v1/ports", json!({"address": format!("52:54:00:{c:02x}:{:02x}:{:02x}", i / 256, i % 256), "node_uuid": u})).await;
                codes.push(st);
                let (st, _) = s.put(&format!("/v1/nodes/{u}/states/provision"), json!({"target": "manage"})).await;
                codes.push(st);
                // Everyone also patches one shared node: conflicts are 409 NodeLocked at worst.
                let (st, _) = s.patch("/v1/nodes/shared", json!([{"op": "add", "path": &format!("/extra/c{c}"), "value": i}])).await;
                codes.push(st);
            }
            codes
        }));
    }
    s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "shared"})).await;
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let bad: Vec<_> = all.iter().filter(|c| **c >= 500).collect();
    assert!(bad.is_empty(), "server errors under concurrency: {bad:?}");
    let (_, list) = s.get("/v1/nodes?limit=1000").await;
    assert_eq!(list["nodes"].as_array().unwrap().len(), clients * per_client + 1);
    let (_, ports) = s.get("/v1/ports?limit=1000").await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), clients * per_client);
    for c in 0..clients {
        let n = s.settle(&format!("c{c}-{}", per_client - 1)).await;
        assert_eq!(n["extra"]["client"], c);
        assert_eq!(n["provision_state"], "manageable");
    }
}

#[tokio::test]
async fn volume_connectors_and_targets_follow_ironic_rules() {
    let s = start().await;
    let (_, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "vol"})).await;
    let u = n["uuid"].as_str().unwrap().to_string();
    let (st, c) = s.post("/v1/volume/connectors", json!({"node_uuid": u, "type": "iqn", "connector_id": "iqn.2010-10.org.openstack:vol"})).await;
    assert_eq!(st, 201, "{c}");
    let (st, b) = s.post("/v1/volume/connectors", json!({"node_uuid": u, "type": "iqn", "connector_id": "iqn.2010-10.org.openstack:vol"})).await;
    assert_eq!(st, 409);
    assert!(fault(&b).contains("A volume connector") && fault(&b).contains("already exists"));
    let (st, _) = s.post("/v1/volume/connectors", json!({"node_uuid": u, "type": "floppy", "connector_id": "x"})).await;
    assert_eq!(st, 400);
    let (st, t) = s.post("/v1/volume/targets", json!({"node_uuid": u, "volume_type": "iscsi", "volume_id": "v1", "boot_index": 0})).await;
    assert_eq!(st, 201, "{t}");
    let (st, _) = s.post("/v1/volume/targets", json!({"node_uuid": u, "volume_type": "iscsi", "volume_id": "v2", "boot_index": 0})).await;
    assert_eq!(st, 409, "boot_index is unique per node");
    let (_, l) = s.get(&format!("/v1/nodes/{u}/volume/targets")).await;
    assert_eq!(l["targets"].as_array().unwrap().len(), 1);
    // Updates and deletions need the node powered off.
    let cu = c["uuid"].as_str().unwrap();
    s.put("/v1/nodes/vol/states/power", json!({"target": "power on"})).await;
    s.settle("vol").await;
    let (st, b) = s.delete(&format!("/v1/volume/connectors/{cu}")).await;
    assert_eq!(st, 400);
    assert!(fault(&b).contains("The requested action \"volume connector deletion\" can not be performed on node"));
    s.put("/v1/nodes/vol/states/power", json!({"target": "power off"})).await;
    s.settle("vol").await;
    let (st, _) = s.patch(&format!("/v1/volume/connectors/{cu}"), json!([{"op": "replace", "path": "/connector_id", "value": "iqn.new"}])).await;
    assert_eq!(st, 200);
    assert_eq!(s.delete(&format!("/v1/volume/connectors/{cu}")).await.0, 204);
    assert_eq!(s.get(&format!("/v1/volume/connectors/{cu}")).await.0, 404);
    assert_eq!(s.get("/v1/volume/connectors/not-a-uuid").await.0, 400);
    let old = s.req(reqwest::Method::GET, "/v1/volume/targets", Some("1.31")).send().await.unwrap();
    assert_eq!(old.status(), 404, "volume appears at 1.32");
}

#[tokio::test]
async fn traits_bios_protected_and_reset_interfaces() {
    let s = start().await;
    s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "t"})).await;
    assert_eq!(s.put("/v1/nodes/t/traits", json!({"traits": ["CUSTOM_A", "HW_CPU_X86_VMX"]})).await.0, 204);
    assert_eq!(s.put("/v1/nodes/t/traits/CUSTOM_B", json!({})).await.0, 204);
    assert_eq!(s.put("/v1/nodes/t/traits/lowercase", json!({})).await.0, 400);
    assert_eq!(s.get("/v1/nodes/t/traits").await.1["traits"], json!(["CUSTOM_A", "HW_CPU_X86_VMX", "CUSTOM_B"]));
    assert_eq!(s.delete("/v1/nodes/t/traits/CUSTOM_A").await.0, 204);
    assert_eq!(s.delete("/v1/nodes/t/traits/CUSTOM_A").await.0, 404);
    assert_eq!(s.get("/v1/nodes/t").await.1["traits"], json!(["HW_CPU_X86_VMX", "CUSTOM_B"]));
    let old = s.req(reqwest::Method::GET, "/v1/nodes/t/traits", Some("1.36")).send().await.unwrap();
    assert_eq!(old.status(), 406);

    // The fake BIOS keeps the settings a manual clean step applied.
    assert_eq!(s.get("/v1/nodes/t/bios").await.1, json!({"bios": []}));
    s.put("/v1/nodes/t/states/provision", json!({"target": "manage"})).await;
    s.settle("t").await;
    let steps = json!([{"interface": "bios", "step": "apply_configuration", "args": {"settings": [{"name": "LogicalProc", "value": "Enabled"}]}}]);
    let (st, b) = s.put("/v1/nodes/t/states/provision", json!({"target": "clean", "clean_steps": steps})).await;
    assert_eq!(st, 202, "{b}");
    assert_eq!(s.settle("t").await["provision_state"], "manageable");
    assert_eq!(s.get("/v1/nodes/t/bios/LogicalProc").await.1["LogicalProc"]["value"], "Enabled");

    // Only active nodes can be protected; protected nodes cannot be undeployed.
    let (st, _) = s.patch("/v1/nodes/t", json!([{"op": "replace", "path": "/protected", "value": true}])).await;
    assert_eq!(st, 409);
    for target in ["provide", "active"] {
        s.put("/v1/nodes/t/states/provision", json!({"target": target})).await;
        s.settle("t").await;
    }
    let (st, _) = s.patch("/v1/nodes/t", json!([{"op": "replace", "path": "/protected", "value": true}, {"op": "replace", "path": "/protected_reason", "value": "prod"}])).await;
    assert_eq!(st, 200);
    assert_eq!(s.put("/v1/nodes/t/states/provision", json!({"target": "deleted"})).await.0, 403);
    assert_eq!(s.get("/v1/nodes/t").await.1["provision_state"], "active");

    // reset_interfaces only goes with a driver change.
    let (st, _) = s.patch("/v1/nodes/t?reset_interfaces=true", json!([{"op": "replace", "path": "/description", "value": "x"}])).await;
    assert_eq!(st, 400);
    let (st, n) = s.patch("/v1/nodes/t?reset_interfaces=true", json!([{"op": "replace", "path": "/driver", "value": "fake-hardware"}, {"op": "replace", "path": "/inspect_interface", "value": "no-inspect"}])).await;
    assert_eq!(st, 200);
    assert_eq!(n["inspect_interface"], "no-inspect");
    assert_eq!(n["bios_interface"], "fake");
}

#[tokio::test]
async fn allocations_bind_matching_nodes() {
    let s = start().await;
    for (name, rc) in [("a1", "gold"), ("a2", "gold"), ("b1", "silver")] {
        s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": name, "resource_class": rc})).await;
        for target in ["manage", "provide"] {
            s.put(&format!("/v1/nodes/{name}/states/provision"), json!({"target": target})).await;
            s.settle(name).await;
        }
    }
    s.put("/v1/nodes/a2/traits/CUSTOM_GPU", json!({})).await;
    let wait = |id: String| {
        let s = &s;
        async move {
            for _ in 0..200 {
                let (_, a) = s.get(&format!("/v1/allocations/{id}")).await;
                if a["state"] != "allocating" {
                    return a;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("allocation {id} stayed allocating");
        }
    };
    let (st, a) = s.post("/v1/allocations", json!({"resource_class": "gold", "traits": ["CUSTOM_GPU"], "name": "job1"})).await;
    assert_eq!((st, a["state"].clone()), (201, json!("allocating")));
    let a = wait("job1".into()).await;
    assert_eq!(a["state"], "active");
    let (_, a2) = s.get("/v1/nodes/a2").await;
    assert_eq!(a["node_uuid"], a2["uuid"], "only a2 has the trait");
    assert_eq!(a2["allocation_uuid"], a["uuid"]);
    assert_eq!(a2["instance_uuid"], a["uuid"]);
    assert_eq!(s.get("/v1/nodes/a2/allocation").await.1["name"], "job1");

    let (_, none) = s.post("/v1/allocations", json!({"resource_class": "bronze"})).await;
    let none = wait(none["uuid"].as_str().unwrap().to_string()).await;
    assert_eq!(none["state"], "error");
    assert_eq!(none["last_error"], "No available nodes match the resource class bronze");
    assert_eq!(s.post("/v1/allocations", json!({"resource_class": "gold", "name": "job1"})).await.0, 409);
    assert_eq!(s.post("/v1/allocations", json!({"traits": ["CUSTOM_GPU"]})).await.0, 400);

    // Deploying and undeploying the allocated node ends the allocation.
    s.put("/v1/nodes/a2/states/provision", json!({"target": "active"})).await;
    s.settle("a2").await;
    assert_eq!(s.delete("/v1/allocations/job1").await.0, 409, "a deployed node keeps its allocation");
    s.put("/v1/nodes/a2/states/provision", json!({"target": "deleted"})).await;
    let n = s.settle("a2").await;
    assert_eq!((n["allocation_uuid"].clone(), n["instance_uuid"].clone()), (Value::Null, Value::Null));
    assert_eq!(s.get("/v1/allocations/job1").await.0, 404);
    // Deleting an allocation frees its node.
    let (_, a) = s.post("/v1/allocations", json!({"resource_class": "silver"})).await;
    let a = wait(a["uuid"].as_str().unwrap().to_string()).await;
    assert_eq!(s.delete(&format!("/v1/allocations/{}", a["uuid"].as_str().unwrap())).await.0, 204);
    assert_eq!(s.get("/v1/nodes/b1").await.1["instance_uuid"], Value::Null);
}

#[tokio::test]
async fn preview_versions_are_accepted_but_not_advertised() {
    let above = format!("1.{}", ferric_core::version::MAX_MINOR + 1);
    let s = start().await;
    assert_eq!(s.get_at("/v1/nodes", &above).await.0, 406, "MAX+1 is refused without the preview setting");
    let p = start_preview().await;
    let resp = p.req(reqwest::Method::GET, "/v1/nodes", Some(&above)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-openstack-ironic-api-version"], above.as_str());
    assert_eq!(resp.headers()["x-openstack-ironic-api-maximum-version"], ferric_core::version::MAX.to_string().as_str());
    assert_eq!(p.get_at("/v1/nodes", "1.116").await.0, 406);
    let latest = p.req(reqwest::Method::GET, "/v1/nodes", Some("latest")).send().await.unwrap();
    assert_eq!(latest.headers()["x-openstack-ironic-api-version"], ferric_core::version::MAX.to_string().as_str());
}

/// Keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn node_history_lists_conductor_failures_as_ironic() {
    let s = start_preview().await;
    let (st, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "h1", "inspect_interface": "no-inspect"})).await;
    assert_eq!(st, 201);
    let uuid = n["uuid"].as_str().unwrap().to_string();
    s.put("/v1/nodes/h1/states/provision", json!({"target": "manage"})).await;
    s.settle("h1").await;
    // Version gate first, then the node.
    let (st, body) = s.get_at("/v1/nodes/h1/history", "1.77").await;
    assert_eq!((st, fault(&body).as_str()), (404, "The resource could not be found."));
    assert_eq!(s.get_at("/v1/nodes/nope/history", "1.77").await.0, 404);
    let (st, body) = s.get_at("/v1/nodes/nope/history", "1.78").await;
    assert_eq!((st, fault(&body).as_str()), (404, "Node nope could not be found."));
    let (st, body) = s.get_at("/v1/nodes/h1/history", "1.78").await;
    assert_eq!((st, body), (200, json!({"history": []})), "a successful manage records nothing");

    // Three failed inspections: three entries, oldest first.
    for i in 0..3 {
        assert_eq!(s.put("/v1/nodes/h1/states/provision", json!({"target": "inspect"})).await.0, 202);
        // A failed inspection keeps its target (manageable): wait for the lock to go.
        let mut n = Value::Null;
        for _ in 0..400 {
            n = s.get("/v1/nodes/h1").await.1;
            if n["reservation"].is_null() && n["provision_state"] == "inspect failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(n["provision_state"], "inspect failed", "inspection {i}");
        assert_eq!(n["reservation"], Value::Null);
    }
    let (_, n) = s.get("/v1/nodes/h1").await;
    let error = n["last_error"].as_str().unwrap().to_string();
    let (st, list) = s.get_at("/v1/nodes/h1/history", "1.78").await;
    assert_eq!(st, 200);
    let items = list["history"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    assert!(list.get("next").is_none());
    let first = &items[0];
    assert_eq!(keys(first), ["created_at", "event", "links", "severity", "uuid"]);
    assert_eq!((first["severity"].as_str(), first["event"].as_str()), (Some("ERROR"), Some(error.as_str())));
    let eid = first["uuid"].as_str().unwrap().to_string();
    assert_eq!(first["links"], json!([{"href": format!("{}/v1/nodes/{uuid}/history/{eid}", s.url), "rel": "self"}]));
    let uuids: Vec<String> = items.iter().map(|i| i["uuid"].as_str().unwrap().to_string()).collect();
    let created: Vec<&str> = items.iter().map(|i| i["created_at"].as_str().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "oldest first: {created:?}");
    // `fields` is not a parameter of this list in Ironic: a 400, as any unknown parameter.
    let (st, body) = s.get_at("/v1/nodes/h1/history?fields=uuid&bogus=1", "1.78").await;
    assert_eq!((st, fault(&body).as_str()), (400, "Unexpected arguments: bogus, fields"));

    // Detail, by UUID of the node too.
    let (_, detail) = s.get_at(&format!("/v1/nodes/{uuid}/history?detail=True"), "1.78").await;
    let d = &detail["history"][0];
    assert_eq!(keys(d), ["conductor", "created_at", "event", "event_type", "links", "severity", "user", "uuid"]);
    assert_eq!((d["event_type"].as_str(), d["conductor"].as_str(), d["user"].clone()), (Some("introspection"), Some("localhost"), Value::Null));
    let (_, newer) = s.get_at("/v1/nodes/h1/history?detail=true", "1.115").await;
    let d = &newer["history"][0];
    assert_eq!((d["state"].as_str(), d["target_provision_state"].as_str()), (Some("inspecting"), Some("manageable")));
    assert!(d["duration_seconds"].is_i64() && d.get("project").is_some());

    // Pages follow `next`; `sort_dir=desc` is newest first.
    let (_, page) = s.get_at("/v1/nodes/h1/history?limit=2", "1.78").await;
    assert_eq!(page["history"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_string();
    assert!(next.starts_with(&format!("{}/v1/nodes/h1/history?", s.url)) && next.ends_with(&format!("limit=2&marker={}", uuids[1])), "{next}");
    let (_, rest) = s.get_at(next.strip_prefix(&s.url).unwrap(), "1.78").await;
    assert_eq!(rest["history"].as_array().unwrap().iter().map(|i| i["uuid"].as_str().unwrap()).collect::<Vec<_>>(), [uuids[2].as_str()]);
    let (_, desc) = s.get_at("/v1/nodes/h1/history?sort_dir=desc", "1.78").await;
    let rev: Vec<&str> = desc["history"].as_array().unwrap().iter().map(|i| i["uuid"].as_str().unwrap()).collect();
    assert_eq!(rev, [uuids[2].as_str(), uuids[1].as_str(), uuids[0].as_str()]);

    // Ironic's errors for bad parameters.
    let missing = "00000000-0000-4000-8000-00000000dead";
    for (q, status, msg) in [
        (format!("marker={missing}"), 404, format!("Node history record {missing} could not be found.")),
        ("marker=bad".into(), 400, "Expected UUID for marker: bad".into()),
        ("limit=0".into(), 400, "Limit must be positive".into()),
        ("limit=x".into(), 400, "Expected an integer for limit: x".into()),
        ("sort_dir=up".into(), 400, "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'".into()),
        ("sort_key=bogus".into(), 400, "The sort_key value \"bogus\" is an invalid field for sorting".into()),
    ] {
        let (st, body) = s.get_at(&format!("/v1/nodes/h1/history?{q}"), "1.78").await;
        assert_eq!((st, fault(&body)), (status, msg), "{q}");
    }
    let (st, body) = s.get_at("/v1/nodes/h1/history?detail=maybe", "1.78").await;
    assert_eq!(st, 400);
    assert!(fault(&body).starts_with("Invalid detail: Unrecognized value 'maybe'"), "{body}");

    // One entry: always in detail.
    let (st, one) = s.get_at(&format!("/v1/nodes/h1/history/{eid}"), "1.78").await;
    assert_eq!(st, 200);
    assert_eq!(one, detail["history"][0]);
    assert_eq!(s.get_at(&format!("/v1/nodes/h1/history/{eid}"), "1.77").await.0, 404);
    let (st, body) = s.get_at(&format!("/v1/nodes/h1/history/{eid}?fields=uuid"), "1.78").await;
    assert_eq!((st, fault(&body).as_str()), (400, "Unexpected arguments: fields"));
    let (st, body) = s.get_at("/v1/nodes/h1/history/bad%20name", "1.78").await;
    assert_eq!((st, fault(&body).as_str()), (400, "Expected UUID or name for event: bad name"));
    let (st, body) = s.get_at(&format!("/v1/nodes/h1/history/{missing}"), "1.78").await;
    assert_eq!((st, fault(&body)), (404, format!("Node history record {missing} could not be found.")));
    // Another node's entry is not this node's.
    s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "h2"})).await;
    assert_eq!(s.get_at(&format!("/v1/nodes/h2/history/{eid}"), "1.78").await.0, 404);

    // Long events are cut in lists, whole in detail.
    let long = "x".repeat(300);
    let entry = ferric_core::NodeHistory {
        uuid: "00000000-0000-4000-8000-0000000000aa".into(),
        node_uuid: uuid.clone(),
        created_at: ferric_core::model::now(),
        severity: "ERROR".into(),
        event_type: "deploying".into(),
        event: long.clone(),
        ..Default::default()
    };
    s.store.add_node_history(entry, 300).await.unwrap();
    let (_, list) = s.get_at("/v1/nodes/h1/history?sort_dir=desc&limit=1", "1.78").await;
    assert_eq!(list["history"][0]["event"], json!(format!("{}...", &long[..251])));
    let (_, one) = s.get_at("/v1/nodes/h1/history/00000000-0000-4000-8000-0000000000aa", "1.78").await;
    assert_eq!(one["event"], json!(long));

    // The history goes with the node.
    assert_eq!(s.put("/v1/nodes/h1/states/provision", json!({"target": "manage"})).await.0, 202);
    assert_eq!(s.settle("h1").await["provision_state"], "manageable");
    assert_eq!(s.delete("/v1/nodes/h1").await.0, 204);
    assert!(s.store.list_node_history(&uuid, Default::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn node_inventory_shows_the_saved_inspection_data() {
    let s = start_preview().await;
    let (_, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "i1"})).await;
    let uuid = n["uuid"].as_str().unwrap().to_string();
    let id = s.store.get_node(&uuid).await.unwrap().id;
    let (st, body) = s.get_at("/v1/nodes/i1/inventory", "1.81").await;
    assert_eq!((st, fault(&body)), (404, format!("Node inventory record for node {id} could not be found.")));
    let (st, body) = s.get_at("/v1/nodes/i1/inventory", "1.80").await;
    assert_eq!((st, fault(&body).as_str()), (404, "The resource could not be found."));
    let (st, body) = s.get_at("/v1/nodes/nope/inventory", "1.81").await;
    assert_eq!((st, fault(&body).as_str()), (404, "Node nope could not be found."));

    let inventory = json!({"cpu": {"count": 4, "architecture": "x86_64"}, "memory": {"physical_mb": 8192},
        "interfaces": [{"name": "eth0", "mac_address": "52:54:00:12:34:56"}], "disks": [{"name": "/dev/sda", "size": 10737418240u64}]});
    let plugin_data = json!({"root_disk": {"name": "/dev/sda"}, "valid_interfaces": {"eth0": {}}});
    s.store.save_inventory(&uuid, inventory.clone(), plugin_data.clone()).await.unwrap();
    let (st, body) = s.get_at("/v1/nodes/i1/inventory", "1.81").await;
    assert_eq!((st, body), (200, json!({"inventory": inventory, "plugin_data": plugin_data})));
    assert_eq!(s.get_at(&format!("/v1/nodes/{uuid}/inventory"), "1.115").await.0, 200);
    assert_eq!(s.get_at("/v1/nodes/i1/inventory", "1.80").await.0, 404, "the gate holds with data too");
    let (st, body) = s.get_at("/v1/nodes/i1/inventory?x=1", "1.81").await;
    assert_eq!((st, fault(&body).as_str()), (400, "Unexpected arguments: x"));

    // The inventory goes with the node.
    assert_eq!(s.delete("/v1/nodes/i1").await.0, 204);
    assert!(s.store.get_inventory(&uuid).await.unwrap().is_none());
}

fn bios_step(priority: i64) -> Value {
    json!({"interface": "bios", "step": "apply_configuration", "args": {"settings": [{"name": "LogicalProc", "value": "Enabled"}]}, "priority": priority})
}

#[tokio::test]
async fn deploy_templates_are_refused_below_1_55() {
    use reqwest::Method as M;
    let s = start().await;
    // The highest version below 1.55 that ferric accepts.
    let old = format!("1.{}", ferric_core::version::MAX_MINOR.min(54));
    let body = json!({"name": "CUSTOM_X", "steps": [bios_step(10)]});
    let (st, b) = s.call_at(&old, M::GET, "/v1/deploy_templates", None).await;
    assert_eq!((st, fault(&b)), (404, "The API version does not allow deploy templates".to_string()));
    assert_eq!(s.call_at(&old, M::GET, "/v1/deploy_templates/CUSTOM_X", None).await.0, 404);
    assert_eq!(s.call_at(&old, M::POST, "/v1/deploy_templates", Some(body)).await.0, 405);
    let patch = json!([{"op": "replace", "path": "/name", "value": "CUSTOM_Y"}]);
    assert_eq!(s.call_at(&old, M::PATCH, "/v1/deploy_templates/fakedt", Some(patch)).await.0, 405);
    assert_eq!(s.call_at(&old, M::DELETE, "/v1/deploy_templates/fakedt", None).await.0, 405);
    let (_, v1) = s.call_at(&old, M::GET, "/v1", None).await;
    assert!(v1.get("deploy_templates").is_none(), "{v1}");
    let (_, v1) = s.call_at("1.55", M::GET, "/v1", None).await;
    assert!(v1["deploy_templates"][0]["href"].as_str().unwrap().ends_with("/v1/deploy_templates/"), "{v1}");
}

#[tokio::test]
async fn deploy_templates_create_show_patch_delete() {
    use reqwest::Method as M;
    let s = start().await;
    let at = |m: M, path: &str, body: Option<Value>| {
        let s = &s;
        let path = path.to_string();
        async move { s.call_at("1.55", m, &path, body).await }
    };
    let resp = s.req(M::POST, "/v1/deploy_templates", Some("1.55"))
        .json(&json!({"name": "CUSTOM_HT", "steps": [bios_step(150)], "extra": {"k": "v"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let t: Value = resp.json().await.unwrap();
    let u = t["uuid"].as_str().unwrap().to_string();
    assert_eq!(location, format!("{}/v1/deploy_templates/{u}", s.url));
    assert_eq!(t["steps"], json!([bios_step(150)]));
    assert_eq!((t["extra"].clone(), t["updated_at"].clone()), (json!({"k": "v"}), Value::Null));
    assert!(t["created_at"].is_string() && t["links"][0]["href"].as_str().unwrap().ends_with(&u));

    // Found by UUID and by name; unknown and malformed identifiers.
    assert_eq!(at(M::GET, &format!("/v1/deploy_templates/{u}"), None).await.1, t);
    assert_eq!(at(M::GET, "/v1/deploy_templates/CUSTOM_HT", None).await.1["uuid"], json!(u));
    let (st, b) = at(M::GET, "/v1/deploy_templates/CUSTOM_NOPE", None).await;
    assert_eq!((st, fault(&b)), (404, "Deploy template CUSTOM_NOPE could not be found.".to_string()));
    assert_eq!(at(M::GET, "/v1/deploy_templates/bad%20name", None).await.0, 400);

    // Names are unique; invalid names, steps and UUIDs are refused and store nothing.
    let (st, b) = at(M::POST, "/v1/deploy_templates", Some(json!({"name": "CUSTOM_HT", "steps": [bios_step(1)]}))).await;
    assert_eq!((st, fault(&b)), (409, "A deploy template with name CUSTOM_HT already exists.".to_string()));
    for (body, expected) in [
        (json!({"name": "invalid-name", "steps": [bios_step(1)]}), "'invalid-name' is not valid under any of the given schemas"),
        (json!({"name": "CUSTOM_A"}), "'steps' is a required property"),
        (json!({"name": "CUSTOM_A", "steps": {"key": "value"}}), "is not of type 'array'"),
        (json!({"name": "CUSTOM_A", "steps": [{"interface": "boot", "step": "s", "args": {}, "priority": 1}]}), "'boot' is not one of"),
        (json!({"name": "CUSTOM_A", "steps": [bios_step(1), bios_step(2)]}), "Duplicates: interface: bios, step: apply_configuration."),
        (json!({"name": "CUSTOM_A", "steps": [bios_step(1)], "uuid": "malformed:uuid"}), "Expected UUID for uuid: malformed:uuid"),
    ] {
        let (st, b) = at(M::POST, "/v1/deploy_templates", Some(body.clone())).await;
        assert_eq!(st, 400, "{body}");
        assert!(fault(&b).contains(expected), "{body}: {}", fault(&b));
    }
    let (_, all) = at(M::GET, "/v1/deploy_templates", None).await;
    assert_eq!(all["deploy_templates"].as_array().unwrap().len(), 1, "{all}");

    // Secrets in step arguments are masked on reads.
    let secret = json!({"interface": "deploy", "step": "write_image", "args": {"admin_password": "s3cret"}, "priority": 0});
    let (st, b) = at(M::POST, "/v1/deploy_templates", Some(json!({"name": "CUSTOM_SECRET", "steps": [secret]}))).await;
    assert_eq!((st, b["steps"][0]["args"]["admin_password"].clone()), (201, json!("******")));

    // PATCH: rename and add a step; allowed fields only; the result must still be valid.
    let step2 = json!({"interface": "raid", "step": "create_configuration", "args": {}, "priority": 10});
    let (st, b) = at(M::PATCH, "/v1/deploy_templates/CUSTOM_HT", Some(json!([
        {"op": "replace", "path": "/name", "value": "CUSTOM_HT2"},
        {"op": "add", "path": "/steps/1", "value": step2},
    ])))
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!((b["name"].clone(), b["steps"].clone()), (json!("CUSTOM_HT2"), json!([bios_step(150), step2])));
    assert!(b["updated_at"].is_string());
    let (st, b) = at(M::PATCH, &format!("/v1/deploy_templates/{u}"), Some(json!([{"op": "replace", "path": "/uuid", "value": "x"}]))).await;
    assert_eq!((st, fault(&b)), (400, "Cannot patch /uuid. Only the following can be updated: extra, name, steps, description".to_string()));
    for bad in [
        json!([{"op": "remove", "path": "/name"}]),
        json!([{"op": "replace", "path": "/name", "value": ""}]),
        json!([{"op": "remove", "path": "/steps"}]),
        json!([{"op": "remove", "path": "/steps/0"}, {"op": "remove", "path": "/steps/0"}]),
        json!([{"op": "add", "path": "/steps/0", "value": step2}]),
    ] {
        assert_eq!(at(M::PATCH, &format!("/v1/deploy_templates/{u}"), Some(bad.clone())).await.0, 400, "{bad}");
    }
    let (st, b) = at(M::PATCH, &format!("/v1/deploy_templates/{u}"), Some(json!([{"op": "replace", "path": "/name", "value": "CUSTOM_SECRET"}]))).await;
    assert_eq!((st, fault(&b)), (409, "A deploy template with name CUSTOM_SECRET already exists.".to_string()));
    assert_eq!(at(M::GET, &format!("/v1/deploy_templates/{u}"), None).await.1["steps"].as_array().unwrap().len(), 2, "failed patches change nothing");

    // DELETE by name.
    assert_eq!(at(M::DELETE, "/v1/deploy_templates/CUSTOM_HT2", None).await.0, 204);
    assert_eq!(at(M::GET, &format!("/v1/deploy_templates/{u}"), None).await.0, 404);
    assert_eq!(at(M::DELETE, &format!("/v1/deploy_templates/{u}"), None).await.0, 404);
}

#[tokio::test]
async fn deploy_template_lists_fields_and_pages() {
    use reqwest::Method as M;
    let s = start().await;
    let get = |path: &str| {
        let s = &s;
        let path = path.to_string();
        async move { s.call_at("1.55", M::GET, &path, None).await }
    };
    let mut uuids = Vec::new();
    for name in ["CUSTOM_C", "CUSTOM_A", "CUSTOM_B"] {
        let (st, t) = s.call_at("1.55", M::POST, "/v1/deploy_templates", Some(json!({"name": name, "steps": [bios_step(1)]}))).await;
        assert_eq!(st, 201);
        uuids.push(t["uuid"].as_str().unwrap().to_string());
    }
    // Summaries by default, everything with detail, chosen fields with fields.
    let (_, l) = get("/v1/deploy_templates").await;
    let keys: Vec<&String> = l["deploy_templates"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["links", "name", "uuid"]);
    let (_, l) = get("/v1/deploy_templates?detail=True").await;
    assert_eq!(l["deploy_templates"][0]["steps"], json!([bios_step(1)]));
    let (_, l) = get("/v1/deploy_templates?fields=name,steps").await;
    let keys: Vec<&String> = l["deploy_templates"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["links", "name", "steps"]);
    let (_, one) = get(&format!("/v1/deploy_templates/{}?fields=extra", uuids[0])).await;
    assert_eq!(one.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["extra", "links"]);
    assert_eq!(get("/v1/deploy_templates?fields=bogus").await.0, 400);
    assert_eq!(get("/v1/deploy_templates?fields=name&detail=True").await.0, 400);
    assert_eq!(get("/v1/deploy_templates?sort_key=steps").await.0, 400);
    let (_, l) = get("/v1/deploy_templates?sort_key=name&sort_dir=desc").await;
    let names: Vec<&str> = l["deploy_templates"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["CUSTOM_C", "CUSTOM_B", "CUSTOM_A"]);

    // Pages of two, in creation order, with a next link while pages are full.
    let (_, p1) = get("/v1/deploy_templates?limit=2").await;
    let got: Vec<&str> = p1["deploy_templates"].as_array().unwrap().iter().map(|t| t["uuid"].as_str().unwrap()).collect();
    assert_eq!(got, vec![uuids[0].as_str(), uuids[1].as_str()]);
    let next = p1["next"].as_str().unwrap();
    assert!(next.contains(&format!("marker={}", uuids[1])), "{next}");
    let (_, p2) = get(next.strip_prefix(&s.url).unwrap()).await;
    assert_eq!(p2["deploy_templates"].as_array().unwrap().len(), 1);
    assert_eq!(p2["deploy_templates"][0]["uuid"], json!(uuids[2]));
    assert!(p2.get("next").is_none());
}

#[tokio::test]
async fn deploying_applies_matching_deploy_templates_over_http() {
    use reqwest::Method as M;
    let s = start().await;
    for (name, steps) in [
        ("CUSTOM_HT_ON", json!([bios_step(150)])),
        ("CUSTOM_RAID", json!([{"interface": "raid", "step": "create_configuration", "args": {}, "priority": 10}])),
    ] {
        let (st, _) = s.call_at("1.55", M::POST, "/v1/deploy_templates", Some(json!({"name": name, "steps": steps}))).await;
        assert_eq!(st, 201);
    }
    s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "d"})).await;
    for target in ["manage", "provide"] {
        s.put("/v1/nodes/d/states/provision", json!({"target": target})).await;
        s.settle("d").await;
    }
    s.put("/v1/nodes/d/traits", json!({"traits": ["CUSTOM_HT_ON", "CUSTOM_RAID"]})).await;
    // fake-hardware has no RAID deploy steps: the request is refused and nothing changes.
    let (st, _) = s.patch("/v1/nodes/d", json!([{"op": "add", "path": "/instance_info/traits", "value": ["CUSTOM_RAID"]}])).await;
    assert_eq!(st, 200);
    let (st, b) = s.put("/v1/nodes/d/states/provision", json!({"target": "active"})).await;
    assert_eq!(st, 400, "{b}");
    assert!(fault(&b).starts_with("Failed to validate deploy or power info for node"), "{}", fault(&b));
    assert_eq!(s.settle("d").await["provision_state"], "available");
    // With the BIOS template only, the deployment applies its settings.
    s.patch("/v1/nodes/d", json!([{"op": "replace", "path": "/instance_info/traits", "value": ["CUSTOM_HT_ON"]}])).await;
    let (st, b) = s.put("/v1/nodes/d/states/provision", json!({"target": "active"})).await;
    assert_eq!(st, 202, "{b}");
    let n = s.settle("d").await;
    assert_eq!((n["provision_state"].clone(), n["last_error"].clone()), (json!("active"), Value::Null));
    assert_eq!(n["deploy_step"], json!({}));
    assert_eq!(s.get("/v1/nodes/d/bios/LogicalProc").await.1["LogicalProc"]["value"], "Enabled");
}

#[tokio::test]
async fn versions_53_to_83_features() {
    let s = start().await;
    let (_, n) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "f", "resource_class": "gold"})).await;
    let u = n["uuid"].as_str().unwrap().to_string();
    // 1.53 smart NIC ports need hostname and port_id.
    let (st, b) = s.post("/v1/ports", json!({"address": "52:54:00:00:53:01", "node_uuid": u, "is_smartnic": true})).await;
    assert_eq!((st, fault(&b)), (400, "Smart NIC port must have port_id and hostname in local_link_connection".to_string()));
    let llc = json!({"port_id": "Ethernet1", "hostname": "host-1"});
    assert_eq!(s.post("/v1/ports", json!({"address": "52:54:00:00:53:01", "node_uuid": u, "is_smartnic": true, "local_link_connection": llc})).await.0, 201);
    // 1.64 network_type.
    let (st, _) = s.post("/v1/ports", json!({"address": "52:54:00:00:53:02", "node_uuid": u, "local_link_connection": {"network_type": "unmanaged"}})).await;
    assert_eq!(st, 201);
    let (st, _) = s.post("/v1/ports", json!({"address": "52:54:00:00:53:03", "node_uuid": u, "local_link_connection": {"network_type": "bogus"}})).await;
    assert_eq!(st, 400);
    // 1.54 events are validated.
    let ev = json!({"events": [{"event": "network.bind_port", "port_id": "11111111-2222-4333-8444-555555555555", "mac_address": "52:54:00:00:00:01", "status": "ACTIVE"}]});
    assert_eq!(s.post("/v1/events", ev).await.0, 204);
    assert_eq!(s.post("/v1/events", json!({"events": [{"event": "network.bind_port"}]})).await.0, 400);
    assert_eq!(s.post("/v1/events", json!({"events": []})).await.0, 400);
    // 1.56/1.59 configdrive objects; 1.69 deploy steps run; 1.61 retired nodes are not provided.
    for t in ["manage", "provide"] {
        s.put("/v1/nodes/f/states/provision", json!({"target": t})).await;
        s.settle("f").await;
    }
    let bad = json!({"target": "active", "configdrive": {"bogus": 1}});
    assert_eq!(s.put("/v1/nodes/f/states/provision", bad).await.0, 400);
    let steps = json!([{"interface": "bios", "step": "apply_configuration", "args": {"settings": [{"name": "Boot", "value": "Uefi"}]}, "priority": 50}]);
    let (st, b) = s.put("/v1/nodes/f/states/provision", json!({"target": "active", "configdrive": {"meta_data": {"hostname": "f"}, "vendor_data": {}}, "deploy_steps": steps})).await;
    assert_eq!(st, 202, "{b}");
    let n = s.settle("f").await;
    assert_eq!(n["provision_state"], "active");
    assert_eq!(n["instance_info"]["configdrive"], "******", "the configdrive is masked");
    assert_eq!(s.get("/v1/nodes/f/bios/Boot").await.1["Boot"]["value"], "Uefi", "the deploy step ran");
    let unknown = json!([{"interface": "bios", "step": "nope", "args": {}, "priority": 1}]);
    s.put("/v1/nodes/f/states/provision", json!({"target": "deleted"})).await;
    s.settle("f").await;
    assert_eq!(s.put("/v1/nodes/f/states/provision", json!({"target": "active", "deploy_steps": unknown})).await.0, 400);
    s.put("/v1/nodes/f/states/provision", json!({"target": "manage"})).await;
    s.settle("f").await;
    assert_eq!(s.patch("/v1/nodes/f", json!([{"op": "replace", "path": "/retired", "value": true}])).await.0, 200);
    let (st, b) = s.put("/v1/nodes/f/states/provision", json!({"target": "provide"})).await;
    assert_eq!(st, 400);
    assert!(fault(&b).contains("because it is retired"));
    // 1.63 indicators of the fake management interface.
    let (_, ind) = s.get("/v1/nodes/f/management/indicators").await;
    let names: Vec<&str> = ind["indicators"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["led-0@chassis", "led@system"]);
    assert_eq!(s.get("/v1/nodes/f/management/indicators/led@system").await.1, json!({"state": "ON"}));
    assert_eq!(s.put("/v1/nodes/f/management/indicators/led@system", json!({"state": "BLINKING"})).await.0, 204);
    assert_eq!(s.put("/v1/nodes/f/management/indicators/led@system", json!({"state": "PURPLE"})).await.0, 400);
    // 1.76 boot mode: fake management cannot change it; the request is accepted, the error recorded.
    assert_eq!(s.put("/v1/nodes/f/states/boot_mode", json!({"target": "uefi"})).await.0, 202);
    let n = s.settle("f").await;
    assert!(n["last_error"].as_str().unwrap().contains("boot mode"), "{}", n["last_error"]);
    assert_eq!(s.put("/v1/nodes/f/states/boot_mode", json!({"target": "efi"})).await.0, 400);
    // 1.77 driver fields; 1.82 shards; 1.83 children.
    let (_, d) = s.get("/v1/drivers?fields=name").await;
    assert_eq!(d["drivers"][0].as_object().unwrap().keys().collect::<Vec<_>>(), ["links", "name"]);
    s.patch("/v1/nodes/f", json!([{"op": "add", "path": "/shard", "value": "rack-1"}])).await;
    let (st, child) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "f-child", "parent_node": "f"})).await;
    assert_eq!(st, 201);
    assert_eq!(child["parent_node"], json!(u));
    assert_eq!(s.post("/v1/nodes", json!({"driver": "fake-hardware", "parent_node": "missing"})).await.0, 400);
    let (_, sh) = s.get("/v1/shards").await;
    assert!(sh["shards"].as_array().unwrap().contains(&json!({"name": "rack-1", "count": 1})), "{sh}");
    let (_, kids) = s.get("/v1/nodes/f/children").await;
    assert_eq!(kids["children"], json!([child["uuid"]]));
    let (_, l) = s.get("/v1/nodes").await;
    assert_eq!(l["nodes"].as_array().unwrap().len(), 1, "children are left out by default");
    let (_, l) = s.get("/v1/nodes?include_children=true").await;
    assert_eq!(l["nodes"].as_array().unwrap().len(), 2);
    let (_, p) = s.get("/v1/ports?shard=rack-1").await;
    assert_eq!(p["ports"].as_array().unwrap().len(), 2);
}

fn fixture(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/inspection").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// In-band inspection end to end over HTTP with real inventories: `inspect` boots the node
/// into the ramdisk and waits; the report comes to `/v1/continue_inspection` (1.84 and 1.1).
#[tokio::test]
async fn continue_inspection_processes_real_reports() {
    use reqwest::Method as M;
    let s = start_preview().await;
    let dell = fixture("metal3-inspector-data-dell-perc-h710-extra-numa-lldp.json");
    let kvm = fixture("metal3-inspector-data-kvm-vm.json");
    // Node "dell" is found by its BMC address, "kvm" by its UUID.
    let di = json!({"ipmi_address": dell["inventory"]["bmc_address"], "ipmi_password": "secret"});
    let (_, dell_node) = s.call_at("1.84", M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "dell", "inspect_interface": "agent", "driver_info": di}))).await;
    let (_, kvm_node) = s.call_at("1.84", M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "kvm", "inspect_interface": "agent"}))).await;
    for n in ["dell", "kvm"] {
        for target in ["manage", "inspect"] {
            let (st, b) = s.call_at("1.84", M::PUT, &format!("/v1/nodes/{n}/states/provision"), Some(json!({"target": target}))).await;
            assert_eq!(st, 202, "{b}");
            for _ in 0..200 {
                if s.get(&format!("/v1/nodes/{n}")).await.1["reservation"].is_null() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let node = s.get(&format!("/v1/nodes/{n}")).await.1;
        assert_eq!(node["provision_state"], "inspect wait", "{n}");
        assert_eq!(node["power_state"], "power on", "the ramdisk is booting");
        assert_eq!(s.get(&format!("/v1/nodes/{n}/management/boot_device")).await.1["boot_device"], "pxe");
    }
    // A report for nobody, and malformed reports, change nothing.
    let stranger = json!({"inventory": {"interfaces": [{"mac_address": "52:54:00:99:99:99"}], "cpu": {"architecture": "x86_64"}}});
    assert_eq!(s.call_at("1.84", M::POST, "/v1/continue_inspection", Some(stranger)).await.0, 404);
    assert_eq!(s.call_at("1.84", M::POST, "/v1/continue_inspection", Some(json!({"inventory": {"interfaces": []}}))).await.0, 400);
    assert_eq!(s.call_at("1.84", M::POST, "/v1/continue_inspection", Some(json!({"no": "inventory"}))).await.0, 400);
    assert_eq!(s.call_at("1.84", M::POST, "/v1/continue_inspection", Some(json!({"inventory": {"interfaces": [{"name": "eth0"}]}}))).await.0, 400);
    assert_eq!(s.call_at("1.50", M::POST, "/v1/continue_inspection", Some(dell.clone())).await.0, 404, "only 1.1 and 1.84+");
    assert_eq!(s.get("/v1/nodes/dell").await.1["provision_state"], "inspect wait");

    // The Dell by BMC address at 1.84: the answer is {node, config} with the agent token.
    let (st, b) = s.call_at("1.84", M::POST, "/v1/continue_inspection", Some(dell.clone())).await;
    assert_eq!(st, 202, "{b}");
    assert_eq!(b["node"]["uuid"], dell_node["uuid"]);
    assert!(b["config"]["agent_token"].as_str().is_some_and(|t| t.len() >= 32), "{b}");
    // The KVM by node_uuid at 1.1 (no version header, as IPA and the inspector protocol send).
    let url = format!("{}/v1/continue_inspection?node_uuid={}", s.url, kvm_node["uuid"].as_str().unwrap());
    let r = s.client.post(&url).json(&kvm).send().await.unwrap();
    assert_eq!(r.status(), 404, "node_uuid needs 1.84");
    let r = s.client.post(format!("{}/v1/continue_inspection", s.url)).json(&kvm).send().await.unwrap();
    assert_eq!(r.status(), 404, "the KVM's MACs are not ports and its BMC address is 0.0.0.0");
    let (st, b) = s.call_at("1.84", M::POST, &format!("/v1/continue_inspection?node_uuid={}", kvm_node["uuid"].as_str().unwrap()), Some(kvm.clone())).await;
    assert_eq!(st, 202, "{b}");

    for (name, doc) in [("dell", &dell), ("kvm", &kvm)] {
        let mut n = Value::Null;
        for _ in 0..300 {
            n = s.get(&format!("/v1/nodes/{name}")).await.1;
            if n["provision_state"] != "inspect wait" && n["provision_state"] != "inspecting" && n["reservation"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(n["provision_state"], "manageable", "{name}: {}", n["last_error"]);
        assert_eq!(n["properties"]["cpu_arch"], doc["inventory"]["cpu"]["architecture"], "{name}");
        assert_eq!(n["power_state"], "power off", "{name}: powered off at the end");
        assert!(n["inspection_finished_at"].is_string());
        assert!(n["driver_internal_info"].get("lookup_bmc_addresses").is_none(), "lookup cache cleared");
        // Only the PXE interface became a port (add_ports = pxe), marked PXE-enabled.
        let (_, ports) = s.get(&format!("/v1/nodes/{name}/ports/detail")).await;
        let pxe = doc["inventory"]["boot"]["pxe_interface"].as_str().unwrap().to_lowercase();
        let got: Vec<(String, bool)> = ports["ports"].as_array().unwrap().iter().map(|p| (p["address"].as_str().unwrap().to_string(), p["pxe_enabled"].as_bool().unwrap())).collect();
        assert_eq!(got, vec![(pxe, true)], "{name}");
        // The report is kept and served back (without logs).
        let (st, stored) = s.get_at(&format!("/v1/nodes/{name}/inventory"), "1.84").await;
        assert_eq!(st, 200);
        assert_eq!(stored["inventory"], doc["inventory"], "{name}");
        assert!(stored["plugin_data"]["valid_interfaces"].is_object());
        assert!(stored["plugin_data"].get("logs").is_none());
    }
    // A second report for a node no longer waiting is refused.
    assert_eq!(s.call_at("1.84", M::POST, "/v1/continue_inspection", Some(dell.clone())).await.0, 404);

    // Inspecting again: the power-off and the new start wiped the old agent token and URL, so
    // the freshly booted ramdisk gets a new token at lookup, not "******".
    let uuid = dell_node["uuid"].as_str().unwrap();
    let (_, first) = s.get_at(&format!("/v1/nodes/{uuid}"), "1.84").await;
    assert!(first["driver_internal_info"].get("agent_url").is_none());
    s.call_at("1.84", M::PUT, "/v1/nodes/dell/states/provision", Some(json!({"target": "inspect"}))).await;
    for _ in 0..200 {
        if s.get("/v1/nodes/dell").await.1["provision_state"] == "inspect wait" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (st, l) = s.get_at(&format!("/v1/lookup?node_uuid={uuid}"), "1.84").await;
    assert_eq!(st, 200);
    let token = l["config"]["agent_token"].as_str().unwrap().to_string();
    assert_ne!(token, "******", "a new ramdisk run gets a new token");
    let (_, again) = s.get_at(&format!("/v1/lookup?node_uuid={uuid}"), "1.84").await;
    assert_eq!(again["config"]["agent_token"], "******", "handed out once");
    let hb = |t: &str| json!({"callback_url": "http://192.0.2.9:9999", "agent_token": t, "agent_version": "13.0.0"});
    let (st, b) = s.call_at("1.84", M::POST, &format!("/v1/heartbeat/{uuid}"), Some(hb("wrong"))).await;
    assert_eq!((st, fault(&b).as_str()), (400, "Invalid or missing agent token received."));
    assert_eq!(s.call_at("1.84", M::POST, &format!("/v1/heartbeat/{uuid}"), Some(hb(&token))).await.0, 202);
}

#[tokio::test]
async fn a_ramdisk_error_fails_inspection_and_oversized_reports_are_refused() {
    use reqwest::Method as M;
    let cfg = ConductorConfig { node_locked_retry_interval: Duration::from_millis(20), ..Default::default() };
    let s = start_api(cfg, ferric_api::ApiConfig { preview_max_minor: Some(115), max_inspection_bytes: 64 * 1024, ..Default::default() }).await;
    let (_, n) = s.call_at("1.84", M::POST, "/v1/nodes", Some(json!({"driver": "fake-hardware", "name": "e", "inspect_interface": "agent"}))).await;
    let u = n["uuid"].as_str().unwrap().to_string();
    for target in ["manage", "inspect"] {
        s.call_at("1.84", M::PUT, "/v1/nodes/e/states/provision", Some(json!({"target": target}))).await;
        for _ in 0..200 {
            if s.get("/v1/nodes/e").await.1["reservation"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let big = json!({"inventory": {"interfaces": [{"mac_address": "52:54:00:00:00:01"}]}, "logs": "x".repeat(100_000)});
    let (st, b) = s.call_at("1.84", M::POST, &format!("/v1/continue_inspection?node_uuid={u}"), Some(big)).await;
    assert_eq!((st, fault(&b).contains("larger than")), (413, true));
    assert_eq!(s.get("/v1/nodes/e").await.1["provision_state"], "inspect wait");
    let report = json!({"inventory": {"interfaces": [{"name": "eth0", "mac_address": "52:54:00:00:00:01"}], "cpu": {"architecture": "x86_64"}}, "error": "the disks are gone"});
    let (st, _) = s.call_at("1.84", M::POST, &format!("/v1/continue_inspection?node_uuid={u}"), Some(report)).await;
    assert_eq!(st, 202);
    let mut node = Value::Null;
    for _ in 0..300 {
        node = s.get("/v1/nodes/e").await.1;
        if node["provision_state"] == "inspect failed" && node["reservation"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(node["provision_state"], "inspect failed");
    // Ironic 39's text: the agent interface's and run_inspection_hooks' wrapping around the preprocess failure.
    let uuid = node["uuid"].as_str().unwrap();
    assert_eq!(
        node["last_error"],
        format!(
            "Failed to finish inspection: Failed to inspect hardware. Reason: failed to run inspection hooks: Failed to inspect hardware. \
             Reason: The following failures happened while running preprocess hooks for node {uuid}:\nError in preprocess hook \
             ramdisk-error: Failed to inspect hardware. Reason: Ramdisk reported error: the disks are gone"
        )
    );
    assert_eq!(node["power_state"], "power off");
    let (_, hist) = s.get_at("/v1/nodes/e/history", "1.84").await;
    let events: Vec<&str> = hist["history"].as_array().unwrap().iter().filter_map(|h| h["event"].as_str()).collect();
    // The list shows the start of the (long) event.
    assert!(events.iter().any(|e| e.starts_with("Failed to finish inspection: Failed to inspect hardware. Reason: failed to run inspection hooks")), "{hist}");
}

/// A ramdisk that looks its node up while a conductor task still holds it (the task that
/// powered it on to clean or deploy) gets 409 once the lock retries are spent, as from
/// Ironic's `get_node_with_token`, and looks up again later; it never gets the masked
/// token, which would tell it the token went to someone else and make it give up.
#[tokio::test]
async fn a_lookup_of_a_locked_node_is_a_conflict_not_a_masked_token() {
    let s = start().await;
    let (st, node) = s.post("/v1/nodes", json!({"driver": "fake-hardware", "name": "busy"})).await;
    assert_eq!(st, 201);
    let uuid = node["uuid"].as_str().unwrap().to_string();
    s.store
        .update_node(&uuid, None, |n| -> Result<(), ()> {
            n.provision_state = ferric_core::ProvisionState::Cleaning;
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
    s.store.reserve_node(&uuid, "the-cleaning-task").await.unwrap();
    let (st, body) = s.get_at(&format!("/v1/lookup?node_uuid={uuid}"), "1.84").await;
    assert_eq!(st, 409, "{body}");
    assert!(fault(&body).contains("locked"), "{body}");
    assert!(s.store.get_node(&uuid).await.unwrap().driver_internal_info.get("agent_secret_token").is_none(), "no token was issued");

    assert!(s.store.release_node(&uuid, "the-cleaning-task").await.unwrap());
    let (st, l) = s.get_at(&format!("/v1/lookup?node_uuid={uuid}"), "1.84").await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["config"]["agent_token"].as_str().map(str::len), Some(64), "the real token, once the node is free");
}

//! API 1.92 to 1.95 over real HTTP: runbooks, GET vmedia, port creation by node name,
//! `disable_power_off`. Expected texts come from Ironic 39's answers to the same requests.

use ferric_conductor::ConductorConfig;
use reqwest::Method as M;
use serde_json::{json, Value};
use std::time::Duration;

struct Server {
    url: String,
    client: reqwest::Client,
    store: ferric_store::Store,
    _dir: tempfile::TempDir,
}

async fn start_preview() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = ferric_store::Store::open(ferric_store::StoreConfig::new(dir.path().join("ferric.sqlite"))).unwrap();
    let cfg = ConductorConfig { node_locked_retry_interval: Duration::from_millis(20), ..Default::default() };
    let conductor = ferric_conductor::Conductor::new(store.clone(), ferric_drivers::Registry::builtin(), cfg);
    conductor.start_up().await.unwrap();
    let app = ferric_api::router(conductor, ferric_api::ApiConfig { preview_max_minor: Some(115), ..Default::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ferric_api::serve(listener, app, std::future::pending()));
    Server { url, client: reqwest::Client::new(), store, _dir: dir }
}

impl Server {
    /// A request at `version` (`None`: no version header).
    async fn at(&self, version: Option<&str>, method: M, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(method, format!("{}{path}", self.url));
        if let Some(v) = version {
            r = r.header("X-OpenStack-Ironic-API-Version", v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }
    async fn get(&self, v: &str, path: &str) -> (u16, Value) {
        self.at(Some(v), M::GET, path, None).await
    }
    async fn post(&self, v: &str, path: &str, body: Value) -> (u16, Value) {
        self.at(Some(v), M::POST, path, Some(body)).await
    }
    async fn put(&self, v: &str, path: &str, body: Value) -> (u16, Value) {
        self.at(Some(v), M::PUT, path, Some(body)).await
    }
    async fn patch(&self, v: &str, path: &str, body: Value) -> (u16, Value) {
        self.at(Some(v), M::PATCH, path, Some(body)).await
    }
    async fn delete(&self, v: &str, path: &str) -> (u16, Value) {
        self.at(Some(v), M::DELETE, path, None).await
    }
    /// Create a fake-hardware node named `name`; its UUID.
    async fn node(&self, name: &str) -> String {
        let (st, n) = self.post("1.91", "/v1/nodes", json!({"driver": "fake-hardware", "name": name})).await;
        assert_eq!(st, 201, "{n}");
        n["uuid"].as_str().unwrap().to_string()
    }
    /// Poll (at 1.91) until `done` holds for the unlocked node.
    async fn wait_for(&self, node: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let (_, n) = self.get("1.91", &format!("/v1/nodes/{node}")).await;
            if n["reservation"].is_null() && done(&n) {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (_, n) = self.get("1.91", &format!("/v1/nodes/{node}")).await;
        panic!("node {node} did not reach the expected state: {n}");
    }
    async fn provision(&self, node: &str, target: &str, state: &str) -> Value {
        let (st, b) = self.put("1.91", &format!("/v1/nodes/{node}/states/provision"), json!({"target": target})).await;
        assert_eq!(st, 202, "{target}: {b}");
        self.wait_for(node, |n| n["provision_state"] == state && n["target_provision_state"].is_null()).await
    }
    /// A node deployed with fake-hardware.
    async fn active_node(&self, name: &str) -> String {
        let u = self.node(name).await;
        self.provision(&u, "manage", "manageable").await;
        self.provision(&u, "provide", "available").await;
        self.provision(&u, "active", "active").await;
        u
    }
    /// Put a node into `state` directly (states the fake drivers never reach).
    async fn force_state(&self, node: &str, state: &str, target: Option<&str>) {
        let (state, target) = (state.to_string(), target.map(str::to_string));
        self.store
            .update_node(node, None, move |n| {
                n.provision_state = ferric_core::ProvisionState::parse(&state).unwrap();
                n.target_provision_state = target.as_deref().map(|t| ferric_core::ProvisionState::parse(t).unwrap());
                Ok::<(), ()>(())
            })
            .await
            .unwrap()
            .unwrap();
    }
}

/// The faultstring inside Ironic's doubly-encoded error body.
fn fault(body: &Value) -> String {
    let inner: Value = serde_json::from_str(body["error_message"].as_str().unwrap_or_else(|| panic!("no error in {body}"))).unwrap();
    inner["faultstring"].as_str().or(inner["description"].as_str()).unwrap().to_string()
}

/// The `{code, title, description}` body webob gives (pecan's own 404/405).
fn webob(body: &Value) -> (u64, String) {
    let inner: Value = serde_json::from_str(body["error_message"].as_str().unwrap_or_else(|| panic!("no error in {body}"))).unwrap();
    assert!(inner.get("faultstring").is_none(), "{inner}");
    (inner["code"].as_u64().unwrap(), inner["description"].as_str().unwrap().to_string())
}

const STEPS: &str = r#"[{"interface": "bios", "step": "apply_configuration", "args": {"settings": [{"name": "LogicalProc", "value": "Enabled"}], "password": "p"}, "order": "1"}]"#;

fn steps() -> Value {
    serde_json::from_str(STEPS).unwrap()
}

// ------------------------------------------------------------------------------------- 1.92

#[tokio::test]
async fn runbooks_need_1_92_and_answer_like_pecan_before() {
    let server = start_preview().await;
    let s = &server;
    let gone = "The API version does not allow runbooks";
    assert_eq!(webob(&s.get("1.91", "/v1/runbooks").await.1), (404, gone.into()));
    assert_eq!(s.get("1.91", "/v1/runbooks").await.0, 404);
    assert_eq!(webob(&s.get("1.91", "/v1/runbooks/CUSTOM_A").await.1), (404, gone.into()));
    let (st, b) = s.post("1.91", "/v1/runbooks", json!({"name": "CUSTOM_A", "steps": steps()})).await;
    assert_eq!((st, webob(&b)), (405, (405, gone.into())));
    let (st, b) = s.patch("1.91", "/v1/runbooks/CUSTOM_A", json!([])).await;
    assert_eq!((st, webob(&b)), (405, (405, gone.into())));
    let (st, b) = s.delete("1.91", "/v1/runbooks/CUSTOM_A").await;
    assert_eq!((st, webob(&b)), (405, (405, gone.into())));
    // Nothing was created on the way.
    assert_eq!(s.get("1.92", "/v1/runbooks").await.1, json!({"runbooks": []}));
    // From 1.92: methods the resource lacks, and the traits of 1.112.
    let (st, b) = s.put("1.92", "/v1/runbooks", json!({})).await;
    assert_eq!((st, webob(&b)), (405, (405, String::new())));
    let (st, b) = s.put("1.92", "/v1/runbooks/CUSTOM_A", json!({})).await;
    assert_eq!((st, webob(&b)), (405, (405, String::new())));
    for v in ["1.91", "1.92"] {
        let (st, b) = s.get(v, "/v1/runbooks/CUSTOM_A/traits").await;
        let want = if v == "1.91" { gone } else { "The API version does not allow runbook traits" };
        assert_eq!((st, webob(&b).1), (404, want.to_string()), "at {v}");
    }
    // The v1 root lists runbooks from 1.92.
    assert!(s.get("1.91", "/v1").await.1.get("runbooks").is_none());
    let root = s.get("1.92", "/v1").await.1;
    assert_eq!(root["runbooks"][0]["href"], format!("{}/v1/runbooks/", s.url));
}

#[tokio::test]
async fn runbooks_are_created_shown_listed_and_deleted() {
    let server = start_preview().await;
    let s = &server;
    let r = s.client.post(format!("{}/v1/runbooks", s.url)).header("X-OpenStack-Ironic-API-Version", "1.92")
        .json(&json!({"name": "CUSTOM_A", "steps": steps()})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let a: Value = r.json().await.unwrap();
    let uuid = a["uuid"].as_str().unwrap().to_string();
    assert_eq!(location, format!("{}/v1/runbooks/{uuid}", s.url));
    // The order is stored as a number; secrets in the arguments are masked.
    assert_eq!(a["steps"], json!([{"interface": "bios", "step": "apply_configuration", "args": {"settings": [{"name": "LogicalProc", "value": "Enabled"}], "password": "******"}, "order": 1}]));
    assert_eq!((&a["name"], &a["extra"], &a["public"], &a["owner"], &a["disable_ramdisk"]), (&json!("CUSTOM_A"), &json!({}), &json!(false), &Value::Null, &json!(false)));
    assert!(a["created_at"].is_string() && a["updated_at"].is_null());
    assert_eq!(a["links"][0]["href"], format!("{}/v1/runbooks/{uuid}", s.url));
    assert_eq!(a["links"][1]["href"], format!("{}/runbooks/{uuid}", s.url));
    let mut keys: Vec<&String> = a.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "disable_ramdisk", "extra", "links", "name", "owner", "public", "steps", "updated_at", "uuid"]);
    assert_eq!(s.get("1.92", "/v1/runbooks/CUSTOM_A").await.1, a);
    assert_eq!(s.get("1.95", &format!("/v1/runbooks/{uuid}")).await.1, a);
    let (_, b) = s.get("1.92", "/v1/runbooks/CUSTOM_A?fields=name,steps").await;
    assert_eq!(b.as_object().unwrap().len(), 3, "{b}");
    let (st, b) = s.get("1.92", "/v1/runbooks/CUSTOM_A?fields=bogus").await;
    assert_eq!((st, fault(&b)), (400, "Field(s) \"bogus\" are not valid".into()));
    let (st, b) = s.get("1.92", "/v1/runbooks/bad%20name").await;
    assert_eq!((st, fault(&b)), (400, "Expected UUID or name for runbook_ident: bad name".into()));
    let (st, b) = s.get("1.92", "/v1/runbooks/CUSTOM_ZZ?fields=bogus").await;
    assert_eq!((st, fault(&b)), (404, "Runbook CUSTOM_ZZ could not be found.".into()));

    // Duplicates, an owner (there is no project with noauth), a public one.
    let (st, b) = s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_A", "steps": steps()})).await;
    assert_eq!((st, fault(&b)), (409, "A runbook with name CUSTOM_A already exists.".into()));
    let (st, b) = s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_B", "steps": steps(), "uuid": uuid})).await;
    assert_eq!((st, fault(&b)), (409, format!("A runbook with UUID {uuid} already exists.")));
    let (st, b) = s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_B", "steps": steps(), "owner": "proj", "public": true})).await;
    assert_eq!((st, fault(&b)), (400, "Cannot create a runbook as a project scoped admin with an owner other than your own project.".into()));
    let (st, b) = s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_B", "steps": [{"interface": "raid", "step": "x", "order": 2}], "public": true, "owner": null, "disable_ramdisk": true, "extra": {"a": 1}})).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!((&b["public"], &b["owner"], &b["disable_ramdisk"], &b["extra"]), (&json!(true), &Value::Null, &json!(true), &json!({"a": 1})));
    assert_eq!(b["steps"][0]["args"], json!({}), "args default to {{}}");
    let (st, b) = s.post("1.92", "/v1/runbooks", json!({"name": "invalid-name", "steps": steps()})).await;
    assert_eq!((st, fault(&b)), (400, "Schema error for runbook: 'invalid-name' is not valid under any of the given schemas. Possible root cause: 'invalid-name' does not match '^CUSTOM_[A-Z0-9_]+$'".into()));
    let (st, b) = s.at(Some("1.92"), M::POST, "/v1/runbooks", None).await;
    assert_eq!((st, fault(&b)), (400, "Schema error for runbook: 'steps' is a required property".into()));
    let given = "00000000-0000-4000-8000-0000000000c0";
    let (st, b) = s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_C", "steps": steps(), "uuid": given})).await;
    assert_eq!((st, b["uuid"].as_str()), (201, Some(given)));

    // Lists: summaries, details, fields, pages.
    let (_, l) = s.get("1.92", "/v1/runbooks").await;
    let names: Vec<&str> = l["runbooks"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["CUSTOM_A", "CUSTOM_B", "CUSTOM_C"]);
    assert_eq!(l["runbooks"][0].as_object().unwrap().len(), 3, "uuid, name, links: {l}");
    let (_, l) = s.get("1.92", "/v1/runbooks?detail=true").await;
    assert_eq!(l["runbooks"][0], a);
    let (_, l) = s.get("1.92", "/v1/runbooks?fields=steps").await;
    assert_eq!(l["runbooks"][0].as_object().unwrap().keys().collect::<Vec<_>>(), ["links", "steps"]);
    let (_, l) = s.get("1.92", "/v1/runbooks?limit=2").await;
    assert_eq!(l["runbooks"].as_array().unwrap().len(), 2);
    let b_uuid = l["runbooks"][1]["uuid"].as_str().unwrap().to_string();
    assert_eq!(l["next"], format!("{}/v1/runbooks?limit=2&marker={b_uuid}", s.url));
    let (_, l) = s.get("1.92", &format!("/v1/runbooks?marker={b_uuid}")).await;
    assert_eq!(l["runbooks"][0]["uuid"], given);
    let (_, l) = s.get("1.92", "/v1/runbooks?sort_key=name&sort_dir=desc").await;
    assert_eq!(l["runbooks"][0]["name"], "CUSTOM_C");
    // With a project filter the (noauth) admin sees the public runbooks, as Ironic does.
    let (_, l) = s.get("1.92", "/v1/runbooks?project=true").await;
    assert_eq!(l["runbooks"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect::<Vec<_>>(), [json!("CUSTOM_B")]);
    for (q, status, text) in [
        ("sort_key=extra", 400, "The sort_key value extra is an invalid field for sorting"),
        ("sort_key=steps", 400, "The sort_key value steps is an invalid field for sorting"),
        ("sort_key=bogus", 400, "The sort_key value \"bogus\" is an invalid field for sorting"),
        ("marker=bad%20m", 400, "Expected name for marker: bad m"),
        ("marker=CUSTOM_A", 404, "Runbook CUSTOM_A could not be found."),
        ("limit=0", 400, "Limit must be positive"),
        ("limit=abc", 400, "Expected an integer for limit: abc"),
        ("fields=bogus", 400, "Field(s) \"bogus\" are not valid"),
        ("detail=true&fields=name", 400, "Can not specify ?detail=True and fields in the same request."),
        ("detail=maybe", 400, "Invalid detail: Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"),
        ("foo=1", 400, "Unexpected arguments: foo"),
        ("sort_dir=up", 400, "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'"),
    ] {
        let (st, b) = s.get("1.92", &format!("/v1/runbooks?{q}")).await;
        assert_eq!((st, fault(&b)), (status, text.to_string()), "{q}");
    }

    assert_eq!(s.delete("1.92", "/v1/runbooks/CUSTOM_A").await.0, 204);
    let (st, b) = s.get("1.92", &format!("/v1/runbooks/{uuid}")).await;
    assert_eq!((st, fault(&b)), (404, format!("Runbook {uuid} could not be found.")));
    let (st, b) = s.delete("1.92", "/v1/runbooks/CUSTOM_A").await;
    assert_eq!((st, fault(&b)), (404, "Runbook CUSTOM_A could not be found.".into()));
}

#[tokio::test]
async fn runbooks_are_patched_like_ironic() {
    let server = start_preview().await;
    let s = &server;
    let (st, a) = s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_A", "steps": steps()})).await;
    assert_eq!(st, 201);
    s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_B", "steps": steps()})).await;
    let p = |ops: Value| async move { s.patch("1.92", "/v1/runbooks/CUSTOM_A", ops).await };

    // An empty patch changes nothing (not even updated_at).
    let (st, b) = p(json!([])).await;
    assert_eq!((st, &b), (200, &a));
    // Steps added after the stored ones; the stored step's secret stays (unmasked) in store.
    let add = json!([
        {"op": "add", "path": "/steps/1", "value": {"interface": "bios", "step": "cache_bios_settings", "args": {}, "order": 2}},
        {"op": "add", "path": "/steps/2", "value": {"interface": "bios", "step": "factory_reset", "args": {}, "order": 3, "ignored": true}},
    ]);
    let (st, b) = p(add).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["steps"].as_array().unwrap().iter().map(|x| x["step"].clone()).collect::<Vec<_>>(), [json!("apply_configuration"), json!("cache_bios_settings"), json!("factory_reset")]);
    assert_eq!(b["steps"][0]["args"]["password"], "******");
    assert_eq!(b["steps"][2], json!({"interface": "bios", "step": "factory_reset", "args": {}, "order": 3}), "unknown step keys are dropped");
    assert!(b["updated_at"].is_string());
    // Mixed operations (tempest's test_update_runbook_mixed_ops), and a new name.
    let new = |order: i64| json!({"interface": "bios", "step": "apply_configuration", "args": {}, "order": order});
    let (st, b) = p(json!([
        {"path": "/name", "op": "replace", "value": "CUSTOM_X"},
        {"path": "/steps/0", "op": "replace", "value": new(2)},
        {"path": "/steps/0", "op": "remove"},
        {"path": "/steps/0", "op": "add", "value": new(3)},
    ])).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["name"], "CUSTOM_X");
    // Ironic keeps the stored steps that still match first, then inserts the new one.
    let got: Vec<(Value, Value)> = b["steps"].as_array().unwrap().iter().map(|x| (x["step"].clone(), x["order"].clone())).collect();
    assert_eq!(got, [(json!("cache_bios_settings"), json!(2)), (json!("factory_reset"), json!(3)), (json!("apply_configuration"), json!(3))]);
    let x = |ops: Value| async move { s.patch("1.92", "/v1/runbooks/CUSTOM_X", ops).await };
    // A patch may give any URL-safe name (Ironic validates a PATCH with the 1.112 schema).
    let (st, b) = x(json!([{"op": "replace", "path": "/name", "value": "my-runbook"}])).await;
    assert_eq!((st, &b["name"]), (200, &json!("my-runbook")));
    let m = |ops: Value| async move { s.patch("1.92", "/v1/runbooks/my-runbook", ops).await };

    // owner and public.
    let (_, b) = m(json!([{"op": "replace", "path": "/owner", "value": "proj"}])).await;
    assert_eq!((&b["owner"], &b["public"]), (&json!("proj"), &json!(false)));
    let (_, b) = m(json!([{"op": "replace", "path": "/public", "value": true}])).await;
    assert_eq!((&b["owner"], &b["public"]), (&Value::Null, &json!(true)), "making it public drops the owner");
    let (st, b) = m(json!([{"op": "replace", "path": "/owner", "value": "proj"}])).await;
    assert_eq!((st, fault(&b)), (400, "Couldn't apply patch '[{'op': 'replace', 'path': '/owner', 'value': 'proj'}]'. Reason: There cannot be an owner for a public runbook".into()));
    let (_, b) = m(json!([{"op": "replace", "path": "/public", "value": false}, {"op": "replace", "path": "/owner", "value": "proj"}])).await;
    assert_eq!((&b["owner"], &b["public"]), (&json!("proj"), &json!(false)));
    // Removed fields take their defaults.
    let (_, b) = m(json!([{"op": "remove", "path": "/owner"}, {"op": "remove", "path": "/extra"}, {"op": "replace", "path": "/disable_ramdisk", "value": null}])).await;
    assert_eq!((&b["owner"], &b["extra"], &b["disable_ramdisk"]), (&Value::Null, &json!({}), &json!(false)));

    for (ops, status, text) in [
        (json!([{"op": "remove", "path": "/steps"}]), 400, "Schema error for patch: 'steps' is a required property".to_string()),
        (json!([{"op": "remove", "path": "/name"}]), 400, "Schema error for patch: 'name' is a required property".into()),
        (json!([{"op": "replace", "path": "/name", "value": ""}]), 400, "Schema error for patch: '' should be non-empty".into()),
        (json!([{"op": "replace", "path": "/name", "value": "CUSTOM_B"}]), 409, "A runbook with name CUSTOM_B already exists.".into()),
        (json!([{"op": "replace", "path": "/uuid", "value": "x"}]), 400, "Cannot patch /uuid. Only the following can be updated: disable_ramdisk, extra, name, owner, public, steps".into()),
        (json!([{"op": "replace", "path": "/description", "value": "x"}]), 400, "Cannot patch /description. Only the following can be updated: disable_ramdisk, extra, name, owner, public, steps".into()),
        (json!([{"op": "add", "path": "/foo", "value": "x"}]), 400, "Cannot patch /foo. Only the following can be updated: disable_ramdisk, extra, name, owner, public, steps".into()),
        (json!([{"op": "move", "path": "/steps/0", "from": "/steps/1"}]), 400, "Schema error for patch: Additional properties are not allowed ('from' was unexpected)".into()),
        (json!([{"op": "test", "path": "/name", "value": "x"}]), 400, "Schema error for patch: 'test' is not one of ['add', 'replace', 'remove']".into()),
        (json!({}), 400, "Schema error for patch: {} is not of type 'array'".into()),
        (json!(["x"]), 400, "Schema error for patch: 'x' is not of type 'object'".into()),
        (json!([{"op": "replace", "path": "/a b", "value": 1}]), 400, "Schema error for patch: '/a b' does not match '^(/[\\\\w-]+)+$'".into()),
        (json!([{"op": "replace", "path": "/name"}]), 400, "Couldn't apply patch '{'op': 'replace', 'path': '/name'}'. Reason: The operation does not contain a 'value' member".into()),
        (json!([{"op": "replace", "path": "/steps/0/order", "value": -1}]), 400, "Schema error for patch: -1 is less than the minimum of 0".into()),
    ] {
        let (st, b) = m(ops.clone()).await;
        assert_eq!((st, fault(&b)), (status, text), "{ops}");
    }
    let (_, now) = s.get("1.92", "/v1/runbooks/my-runbook").await;
    assert_eq!((&now["name"], now["steps"].as_array().unwrap().len()), (&json!("my-runbook"), 3), "failed patches changed nothing");
    let (st, b) = s.patch("1.92", "/v1/runbooks/nonexist", json!([{"op": "replace", "path": "/name", "value": "CUSTOM_Z"}])).await;
    assert_eq!((st, fault(&b)), (404, "Runbook nonexist could not be found.".into()));
    let (st, b) = s.patch("1.92", "/v1/runbooks/bad%20name", json!([{"op": "replace", "path": "/name", "value": "CUSTOM_Z"}])).await;
    assert_eq!((st, fault(&b)), (400, "Expected UUID or name for runbook_ident: bad name".into()));
}

#[tokio::test]
async fn manual_cleaning_runs_a_runbook_the_node_is_approved_for() {
    let server = start_preview().await;
    let s = &server;
    let u = s.node("n1").await;
    s.provision(&u, "manage", "manageable").await;
    s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_A", "steps": steps()})).await;
    let clean = |v: &'static str, body: Value| async move { s.put(v, "/v1/nodes/n1/states/provision", body).await };
    let (st, b) = clean("1.91", json!({"target": "clean", "runbook": "CUSTOM_A"})).await;
    assert_eq!((st, fault(&b)), (406, "Request not acceptable.".into()));
    let (st, b) = clean("1.95", json!({"target": "clean", "runbook": "CUSTOM_A"})).await;
    assert_eq!((st, fault(&b)), (400, format!("This runbook has not been approved for use on this node {u}. Please ask an administrator to add it to your node traits.")));
    let (st, b) = clean("1.95", json!({"target": "clean", "runbook": "CUSTOM_NOPE"})).await;
    assert_eq!((st, fault(&b)), (404, "Runbook CUSTOM_NOPE could not be found.".into()));
    let (st, b) = clean("1.95", json!({"target": "clean", "runbook": "bad name"})).await;
    assert_eq!((st, fault(&b)), (400, "Expected a logical name or UUID but received bad name.".into()));
    let (st, b) = clean("1.95", json!({"target": "clean", "runbook": 5})).await;
    assert_eq!((st, fault(&b)), (400, "Expected types <class 'NoneType'>, <class 'str'> for runbook: 5".into()));
    assert_eq!(s.put("1.95", "/v1/nodes/n1/traits/CUSTOM_A", json!(null)).await.0, 204);
    let (st, b) = clean("1.95", json!({"target": "clean", "runbook": "CUSTOM_A", "clean_steps": [{"interface": "bios", "step": "factory_reset"}]})).await;
    assert_eq!((st, fault(&b)), (400, "Please provide either \"clean_steps\" or a runbook, but not both.".into()));
    // A runbook brings `disable_ramdisk`, which only cleaning and servicing take.
    for target in ["provide", "inspect"] {
        let (st, b) = clean("1.95", json!({"target": target, "runbook": "CUSTOM_A"})).await;
        assert_eq!((st, fault(&b)), (400, "disable_ramdisk is supported only with manual cleaning or servicing".into()), "{target}");
    }
    // The state is checked before the runbook.
    let (st, b) = clean("1.95", json!({"target": "active", "runbook": "CUSTOM_NOPE"})).await;
    assert_eq!((st, fault(&b)), (400, format!("The requested action \"active\" can not be performed on node \"{u}\" while it is in state \"manageable\".")));
    let n = s.get("1.95", "/v1/nodes/n1").await.1;
    assert_eq!((&n["provision_state"], &n["last_error"]), (&json!("manageable"), &Value::Null), "refused requests changed nothing");

    let (st, b) = clean("1.95", json!({"target": "clean", "runbook": "CUSTOM_A"})).await;
    assert_eq!(st, 202, "{b}");
    let n = s.wait_for("n1", |n| n["provision_state"] == "manageable").await;
    assert_eq!(n["last_error"], Value::Null);
    assert_eq!(s.get("1.95", "/v1/nodes/n1/bios/LogicalProc").await.1["LogicalProc"]["value"], "Enabled", "the runbook's step ran");
    // By UUID too.
    let (_, rb) = s.get("1.95", "/v1/runbooks/CUSTOM_A").await;
    let (st, _) = clean("1.95", json!({"target": "clean", "runbook": rb["uuid"]})).await;
    assert_eq!(st, 202);
    s.wait_for("n1", |n| n["provision_state"] == "manageable").await;
}

#[tokio::test]
async fn servicing_with_a_runbook_needs_1_108_as_in_ironic() {
    let server = start_preview().await;
    let s = &server;
    let u = s.active_node("a1").await;
    s.post("1.92", "/v1/runbooks", json!({"name": "CUSTOM_A", "steps": [{"interface": "vendor", "step": "log_passthrough", "order": 1}]})).await;
    s.put("1.95", "/v1/nodes/a1/traits/CUSTOM_A", json!(null)).await;
    let (st, b) = s.put("1.95", "/v1/nodes/a1/states/provision", json!({"target": "service", "runbook": "CUSTOM_A", "service_steps": [{"interface": "vendor", "step": "x"}]})).await;
    assert_eq!((st, fault(&b)), (400, "Please provide either \"service_steps\" or a runbook, but not both.".into()));
    // The runbook's disable_ramdisk (false) is not acceptable for servicing before 1.108.
    let (st, b) = s.put("1.95", "/v1/nodes/a1/states/provision", json!({"target": "service", "runbook": "CUSTOM_A"})).await;
    assert_eq!((st, fault(&b)), (406, "disable_ramdisk is not acceptable in this API version".into()));
    let (st, b) = s.put("1.95", "/v1/nodes/a1/states/provision", json!({"target": "clean", "runbook": "CUSTOM_A"})).await;
    assert_eq!((st, fault(&b)), (400, format!("The requested action \"clean\" can not be performed on node \"{u}\" while it is in state \"active\".")));
    // At 1.108 (preview) it runs.
    let (st, b) = s.put("1.108", "/v1/nodes/a1/states/provision", json!({"target": "service", "runbook": "CUSTOM_A"})).await;
    assert_eq!(st, 202, "{b}");
    let n = s.wait_for("a1", |n| n["provision_state"] == "active").await;
    assert_eq!(n["last_error"], Value::Null);
}

// ------------------------------------------------------------------------------------- 1.93

#[tokio::test]
async fn virtual_media_is_read_from_1_93() {
    let server = start_preview().await;
    let s = &server;
    s.node("n1").await;
    let (st, b) = s.get("1.92", "/v1/nodes/n1/vmedia").await;
    assert_eq!((st, fault(&b)), (404, "The resource could not be found.".into()));
    let (st, b) = s.get("1.93", "/v1/nodes/n1/vmedia").await;
    assert_eq!((st, fault(&b)), (400, "Driver fake-hardware does not support get_virtual_media (disabled or not implemented).".into()));
    let (st, b) = s.get("1.93", "/v1/nodes/nope/vmedia").await;
    assert_eq!((st, fault(&b)), (404, "Node nope could not be found.".into()));
}

// ------------------------------------------------------------------------------------- 1.94

#[tokio::test]
async fn ports_are_created_by_node_name_from_1_94() {
    let server = start_preview().await;
    let s = &server;
    let u = s.node("n1").await;
    let port = |v: &'static str, body: Value| async move { s.post(v, "/v1/ports", body).await };
    let (st, b) = port("1.93", json!({"address": "52:54:00:00:00:01", "node_ident": "n1"})).await;
    assert_eq!((st, fault(&b)), (406, "Request not acceptable.".into()));
    let (st, b) = port("1.94", json!({"address": "52:54:00:00:00:01", "node_ident": "n1"})).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["node_uuid"], u.as_str());
    assert!(b.get("node_ident").is_none());
    let (st, b) = port("1.94", json!({"address": "52:54:00:00:00:02", "node_ident": u})).await;
    assert_eq!((st, &b["node_uuid"]), (201, &json!(u)));
    for (v, body, status, text) in [
        ("1.94", json!({"address": "52:54:00:00:00:03", "node_ident": "n1", "node_uuid": u}), 400,
            format!("Schema error for port: {{'address': '52:54:00:00:00:03', 'node_ident': 'n1', 'node_uuid': '{u}'}} is valid under each of {{'required': ['node_uuid']}}, {{'required': ['node_ident']}}")),
        ("1.94", json!({"address": "52:54:00:00:00:03"}), 400,
            "Schema error for port: {'address': '52:54:00:00:00:03'} is not valid under any of the given schemas. Possible root cause: 'node_ident' is a required property".to_string()),
        ("1.94", json!({"address": "52:54:00:00:00:03", "node_ident": "nope"}), 400, "Node None could not be found.".into()),
        ("1.94", json!({"address": "52:54:00:00:00:03", "node_ident": "bad name"}), 400, "Expected a logical name or UUID but received bad name.".into()),
        ("1.94", json!({"address": "52:54:00:00:00:03", "node_ident": 5}), 400, "Schema error for port: 5 is not of type 'string'".into()),
        ("1.94", json!({"address": "52:54:00:00:00:03", "node_uuid": "n1"}), 400, "Expected UUID for node_uuid: n1".into()),
        ("1.93", json!({"address": "52:54:00:00:00:03", "node_ident": "nope"}), 406, "Request not acceptable.".into()),
        ("1.93", json!({"address": "52:54:00:00:00:03", "node_ident": ""}), 400, "Expected a logical name or UUID but received None.".into()),
        ("1.94", json!({"address": "52:54:00:00:00:03", "node_ident": ""}), 400, "Expected a logical name or UUID but received None.".into()),
    ] {
        let (st, b) = port(v, body.clone()).await;
        assert_eq!((st, fault(&b)), (status, text), "{v} {body}");
    }
    assert_eq!(s.get("1.94", "/v1/ports").await.1["ports"].as_array().unwrap().len(), 2, "refused requests created nothing");
}

// ------------------------------------------------------------------------------------- 1.95

#[tokio::test]
async fn disable_power_off_is_a_1_95_field_that_keeps_nodes_on() {
    let server = start_preview().await;
    let s = &server;
    let (st, b) = s.post("1.94", "/v1/nodes", json!({"driver": "fake-hardware", "name": "n2", "disable_power_off": true})).await;
    assert_eq!((st, fault(&b)), (406, "Request not acceptable. The minimal required API version should be 1.95".into()));
    let (st, b) = s.post("1.95", "/v1/nodes", json!({"driver": "fake-hardware", "name": "n2", "disable_power_off": true})).await;
    assert_eq!((st, &b["disable_power_off"]), (201, &json!(true)));
    let u = b["uuid"].as_str().unwrap().to_string();
    let (st, b) = s.post("1.95", "/v1/nodes", json!({"driver": "fake-hardware", "name": "n3", "disable_power_off": "maybe"})).await;
    assert_eq!((st, fault(&b)), (400, "Invalid disable_power_off: Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'".into()));
    let (st, b) = s.post("1.95", "/v1/nodes", json!({"driver": "fake-hardware", "name": "n4", "disable_power_off": "yes"})).await;
    assert_eq!((st, &b["disable_power_off"]), (201, &json!(true)));
    let (st, b) = s.post("1.95", "/v1/nodes", json!({"driver": "fake-hardware", "name": "n5", "disable_power_off": null})).await;
    assert_eq!((st, &b["disable_power_off"]), (201, &json!(false)));
    assert!(s.get("1.94", "/v1/nodes/n2").await.1.get("disable_power_off").is_none());
    assert_eq!(s.get("1.94", "/v1/nodes/n2?fields=disable_power_off").await.0, 406);
    assert_eq!(s.get("1.95", "/v1/nodes/n2?fields=disable_power_off").await.1["disable_power_off"], true);
    let (st, _) = s.patch("1.94", "/v1/nodes/n2", json!([{"op": "replace", "path": "/disable_power_off", "value": false}])).await;
    assert_eq!(st, 406);

    for (v, target) in [("1.95", "power off"), ("1.95", "soft power off"), ("1.1", "power off")] {
        let (st, b) = s.put(v, &format!("/v1/nodes/{u}/states/power"), json!({"target": target})).await;
        assert_eq!((st, fault(&b)), (409, format!("Failed to set node power state to {target}.")), "{v} {target}");
    }
    for target in ["rebooting", "power on"] {
        let (st, b) = s.put("1.95", "/v1/nodes/n2/states/power", json!({"target": target})).await;
        assert_eq!(st, 202, "{target}: {b}");
        s.wait_for("n2", |n| n["target_power_state"].is_null()).await;
    }
    assert_eq!(s.get("1.95", "/v1/nodes/n2").await.1["power_state"], "power on");
    // Turned off again, the node may be powered off.
    let (st, _) = s.patch("1.95", "/v1/nodes/n2", json!([{"op": "replace", "path": "/disable_power_off", "value": false}])).await;
    assert_eq!(st, 200);
    assert_eq!(s.put("1.95", "/v1/nodes/n2/states/power", json!({"target": "power off"})).await.0, 202);
    let n = s.wait_for("n2", |n| n["target_power_state"].is_null()).await;
    assert_eq!(n["power_state"], "power off");

    // No power change while cleaning, whatever the flag.
    s.force_state(&u, "clean wait", Some("manageable")).await;
    let (st, b) = s.put("1.95", "/v1/nodes/n2/states/power", json!({"target": "power on"})).await;
    assert_eq!((st, fault(&b)), (400, "The requested action \"power on\" can not be performed on node \"n2\" while it is in state \"clean wait\".".into()));
}

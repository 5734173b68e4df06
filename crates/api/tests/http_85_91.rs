//! API 1.85 to 1.91 over real HTTP, against a server that accepts (without advertising)
//! versions above `MAX`. Expected texts come from Ironic 39's answers to the same requests.

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

// ------------------------------------------------------------------------------------- 1.85

#[tokio::test]
async fn unhold_is_checked_against_the_state_before_the_version() {
    let s = start_preview().await;
    let u = s.node("h").await;
    let refused = format!("The requested action \"unhold\" can not be performed on node \"{u}\" while it is in state \"enroll\".");
    for v in ["1.84", "1.85"] {
        let (st, b) = s.put(v, "/v1/nodes/h/states/provision", json!({"target": "unhold"})).await;
        assert_eq!((st, fault(&b)), (400, refused.clone()), "at {v}");
    }
    for (hold, wait) in [("deploy hold", "wait call-back"), ("clean hold", "clean wait")] {
        s.force_state(&u, hold, Some("active")).await;
        let (st, b) = s.put("1.84", "/v1/nodes/h/states/provision", json!({"target": "unhold"})).await;
        assert_eq!((st, fault(&b)), (406, "Request not acceptable.".to_string()));
        assert_eq!(s.get("1.91", "/v1/nodes/h").await.1["provision_state"], hold);
        let (st, b) = s.put("1.85", "/v1/nodes/h/states/provision", json!({"target": "unhold"})).await;
        assert_eq!(st, 202, "{b}");
        assert_eq!(s.get("1.91", "/v1/nodes/h").await.1["provision_state"], wait);
    }
}

// ------------------------------------------------------------------------------------- 1.86

#[tokio::test]
async fn firmware_components_and_the_firmware_interface() {
    let s = start_preview().await;
    s.node("fw").await;
    let (st, _) = s.get("1.85", "/v1/nodes/fw/firmware").await;
    assert_eq!(st, 404);
    let (st, b) = s.get("1.86", "/v1/nodes/fw/firmware").await;
    assert_eq!((st, b), (200, json!({"firmware": []})));
    let (st, b) = s.get("1.86", "/v1/nodes/fw/firmware?fields=Component,current_version").await;
    assert_eq!((st, b), (200, json!({"firmware": []})));
    let (st, b) = s.get("1.86", "/v1/nodes/fw/firmware?fields=bogus").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Schema error: 'bogus' is not one of ['created_at', 'updated_at', 'component', 'initial_version', 'current_version', 'last_version_flashed', 'vendor', 'model', 'serial_number']"));
    let (st, b) = s.get("1.86", "/v1/nodes/fw/firmware?fields=vendor").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Fields vendor are not allowed in this API version. They require at least API version 1.114."));
    assert_eq!(s.get("1.114", "/v1/nodes/fw/firmware?fields=vendor").await.0, 200);
    let (st, b) = s.get("1.86", "/v1/nodes/fw/firmware?detail=true").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Schema error: 'true' is not of type 'boolean'"));
    let (st, b) = s.get("1.86", "/v1/nodes/fw/firmware?foo=1").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Unexpected arguments: foo"));
    let (st, b) = s.get("1.86", "/v1/nodes/nope/firmware").await;
    assert_eq!((st, fault(&b).as_str()), (404, "Node nope could not be found."));

    // The firmware interface: a node field and a validated interface from 1.86.
    let (_, n) = s.get("1.85", "/v1/nodes/fw").await;
    assert!(n.get("firmware_interface").is_none(), "{n}");
    let (_, n) = s.get("1.86", "/v1/nodes/fw").await;
    assert_eq!(n["firmware_interface"], "fake");
    assert!(s.get("1.85", "/v1/nodes/fw/validate").await.1.get("firmware").is_none());
    assert_eq!(s.get("1.86", "/v1/nodes/fw/validate").await.1["firmware"], json!({"result": true}));
    let (st, n) = s.patch("1.86", "/v1/nodes/fw", json!([{"op": "replace", "path": "/firmware_interface", "value": "no-firmware"}])).await;
    assert_eq!((st, n["firmware_interface"].clone()), (200, json!("no-firmware")));
    let (st, _) = s.patch("1.85", "/v1/nodes/fw", json!([{"op": "replace", "path": "/firmware_interface", "value": "fake"}])).await;
    assert_eq!(st, 406);
}

// ------------------------------------------------------------------------------------- 1.87

#[tokio::test]
async fn service_is_gated_after_the_state_check_and_validates_its_steps() {
    let s = start_preview().await;
    let enrolled = s.node("e").await;
    let steps = json!([{"interface": "vendor", "step": "log_passthrough"}]);
    // Refused by the state first, at any version.
    let (st, b) = s.put("1.86", "/v1/nodes/e/states/provision", json!({"target": "service", "service_steps": steps})).await;
    assert_eq!((st, fault(&b)), (400, format!("The requested action \"service\" can not be performed on node \"{enrolled}\" while it is in state \"enroll\".")));
    // service_steps belong to the service verb only (not version-gated themselves).
    let (st, b) = s.put("1.86", "/v1/nodes/e/states/provision", json!({"target": "manage", "service_steps": steps})).await;
    assert_eq!((st, fault(&b).as_str()), (400, "\"service_steps\" is only valid when setting target provision state to service"));
    assert_eq!(s.get("1.91", "/v1/nodes/e").await.1["provision_state"], "enroll");
    let (st, b) = s.put("1.87", "/v1/nodes/e/states/provision", json!({"target": "service", "service_steps": "x"})).await;
    assert_eq!((st, fault(&b).as_str()), (400, "Expected types <class 'NoneType'>, <class 'list'> for service_steps: x"));

    let u = s.active_node("a").await;
    let path = "/v1/nodes/a/states/provision";
    let (st, b) = s.put("1.86", path, json!({"target": "service", "service_steps": steps})).await;
    assert_eq!((st, fault(&b).as_str()), (406, "Request not acceptable."));
    for body in [json!({"target": "service"}), json!({"target": "service", "service_steps": []})] {
        let (st, b) = s.put("1.87", path, body).await;
        assert_eq!((st, fault(&b).as_str()), (400, "\"service_steps\" is required when setting target provision state to service"));
    }
    let bad = [
        (json!([{"interface": "bogus", "step": "x"}]), "Invalid service_steps: 'bogus' is not one of ['vendor', 'power', 'management', 'firmware', 'deploy', 'bios', 'raid']"),
        (json!([{"interface": "vendor", "step": ""}]), "Invalid service_steps: '' should be non-empty"),
        (json!([{"interface": "vendor", "step": "log_passthrough", "args": []}]), "Invalid service_steps: [] is not of type 'object'"),
        (json!([{"interface": "vendor", "step": "log_passthrough", "foo": 1}]), "Invalid service_steps: Additional properties are not allowed ('foo' was unexpected)"),
    ];
    for (steps, msg) in bad {
        let (st, b) = s.put("1.87", path, json!({"target": "service", "service_steps": steps})).await;
        assert_eq!((st, fault(&b).as_str()), (400, msg));
    }
    let (st, b) = s.put("1.87", path, json!({"target": "service", "service_steps": steps, "disable_ramdisk": true})).await;
    assert_eq!((st, fault(&b).as_str()), (406, "disable_ramdisk is not acceptable in this API version"));
    assert_eq!(s.get("1.91", "/v1/nodes/a").await.1["provision_state"], "active");

    // A service step of the fake vendor interface runs and the node is active again.
    let (st, b) = s.put("1.87", path, json!({"target": "service", "service_steps": steps})).await;
    assert_eq!(st, 202, "{b}");
    let n = s.wait_for(&u, |n| n["provision_state"] == "active").await;
    assert_eq!((n["last_error"].clone(), n["service_step"].clone(), n["maintenance"].clone()), (Value::Null, json!({}), json!(false)));
    // A step that is not a service step but exists (a RAID clean step) runs as given, as in Ironic.
    let (st, _) = s.put("1.87", path, json!({"target": "service", "service_steps": [{"interface": "raid", "step": "create_configuration"}]})).await;
    assert_eq!(st, 202);
    let n = s.wait_for(&u, |n| n["provision_state"] == "active").await;
    assert_eq!(n["last_error"], Value::Null);

    // A step that waits for a call-back: `service wait`, the step shown as the driver has it.
    let (st, _) = s.put("1.87", path, json!({"target": "service", "service_steps": [{"interface": "vendor", "step": "trigger_servicewait"}]})).await;
    assert_eq!(st, 202);
    let n = s.wait_for(&u, |n| n["provision_state"] == "service wait").await;
    assert_eq!(n["target_provision_state"], "active");
    assert_eq!(n["service_step"], json!({"interface": "vendor", "step": "trigger_servicewait", "abortable": false, "priority": 0}));
    assert!(s.get("1.86", "/v1/nodes/a").await.1.get("service_step").is_none(), "service_step is a 1.87 field");
    assert_eq!(s.get("1.87", "/v1/nodes/a").await.1["service_step"]["step"], "trigger_servicewait");
}

#[tokio::test]
async fn a_service_step_the_interface_lacks_fails_the_node_into_maintenance() {
    let s = start_preview().await;
    let u = s.active_node("a").await;
    let (st, _) = s.put("1.87", "/v1/nodes/a/states/provision", json!({"target": "service", "service_steps": [{"interface": "deploy", "step": "nonexistent"}]})).await;
    assert_eq!(st, 202, "accepted: Ironic checks the steps when servicing starts");
    let n = s.wait_for(&u, |n| n["provision_state"] == "service failed").await;
    let err = n["last_error"].as_str().unwrap();
    assert!(err.starts_with(&format!("Node {u} failed step {{'interface': 'deploy', 'step': 'nonexistent'}}: ")), "{err}");
    assert_eq!((n["maintenance"].clone(), n["fault"].clone(), n["service_step"].clone()), (json!(true), json!("service failure"), json!({})));
    assert_eq!(n["maintenance_reason"].as_str(), Some(err));
    let (_, h) = s.get("1.91", "/v1/nodes/a/history?detail=true").await;
    let last = h["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["severity"].clone(), last["event_type"].clone(), last["event"].clone()), (json!("ERROR"), json!("servicing"), json!(err)));
}

// ------------------------------------------------------------------------------------- 1.88

#[tokio::test]
async fn port_names() {
    let s = start_preview().await;
    let u = s.node("pn").await;
    let port = |addr: &str, name: Value| json!({"node_uuid": u, "address": addr, "name": name});
    let (st, b) = s.post("1.87", "/v1/ports", port("52:54:00:00:88:01", json!("p1"))).await;
    assert_eq!((st, fault(&b).as_str()), (406, "Request not acceptable."));
    let (st, b) = s.post("1.87", "/v1/ports", port("52:54:00:00:88:01", Value::Null)).await;
    assert_eq!(st, 406, "{b}");
    let (st, p) = s.post("1.88", "/v1/ports", port("52:54:00:00:88:01", json!("p1"))).await;
    assert_eq!((st, p["name"].clone()), (201, json!("p1")));
    let p1 = p["uuid"].as_str().unwrap().to_string();
    // Ironic's create reports a taken name as the new port's UUID.
    let mut dup = port("52:54:00:00:88:02", json!("p1"));
    dup["uuid"] = json!("11111111-2222-4333-8444-555555555555");
    let (st, b) = s.post("1.88", "/v1/ports", dup).await;
    assert_eq!((st, fault(&b).as_str()), (409, "A port with UUID 11111111-2222-4333-8444-555555555555 already exists."));
    let (st, b) = s.post("1.88", "/v1/ports", port("52:54:00:00:88:02", json!(5))).await;
    assert_eq!(st, 400, "{b}");

    // Ports are found by name at any version; the name shows from 1.88.
    let (st, b) = s.get("1.1", "/v1/ports/p1").await;
    assert_eq!((st, b["uuid"].clone()), (200, json!(p1)));
    assert!(s.get("1.87", "/v1/ports/p1").await.1.get("name").is_none());
    assert_eq!(s.get("1.88", "/v1/ports/p1").await.1["name"], "p1");
    let (st, b) = s.get("1.88", "/v1/ports/nope").await;
    assert_eq!((st, fault(&b).as_str()), (404, "Port nope could not be found."));
    // Names are not checked (as Ironic), but only logical names can be looked up.
    let (st, _) = s.post("1.88", "/v1/ports", port("52:54:00:00:88:03", json!("has space"))).await;
    assert_eq!(st, 201);
    let (st, b) = s.get("1.88", "/v1/ports/has%20space").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Expected UUID or name for port_ident: has space"));

    // PATCH sets the name at any version (Ironic does not gate it there); duplicates are 409.
    let (st, b) = s.patch("1.87", "/v1/ports/p1", json!([{"op": "replace", "path": "/name", "value": "p1b"}])).await;
    assert_eq!(st, 200, "{b}");
    assert!(b.get("name").is_none());
    assert_eq!(s.get("1.88", &format!("/v1/ports/{p1}")).await.1["name"], "p1b");
    let (st, b) = s.patch("1.88", "/v1/ports/p1b", json!([{"op": "replace", "path": "/name", "value": "has space"}])).await;
    assert_eq!((st, fault(&b).as_str()), (409, "A port with name has space already exists."));
    let (st, b) = s.patch("1.88", "/v1/ports/p1b", json!([{"op": "remove", "path": "/name"}])).await;
    assert_eq!((st, b["name"].clone()), (200, Value::Null));

    // Lists: the name as a field (406 before 1.88) and as a sort key.
    let (st, b) = s.get("1.87", "/v1/ports?fields=name").await;
    assert_eq!((st, fault(&b).as_str()), (406, "Request not acceptable."));
    let (st, b) = s.get("1.88", "/v1/ports?fields=name,uuid&sort_key=name&sort_dir=desc").await;
    assert_eq!(st, 200, "{b}");
    let names: Vec<Value> = b["ports"].as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
    assert_eq!(names, vec![json!("has space"), Value::Null]);

    // Deleting takes a UUID.
    s.patch("1.88", &format!("/v1/ports/{p1}"), json!([{"op": "add", "path": "/name", "value": "p1"}])).await;
    let (st, b) = s.delete("1.88", "/v1/ports/p1").await;
    assert_eq!((st, fault(&b).as_str()), (400, "Expected UUID for port_uuid: p1"));
    assert_eq!(s.delete("1.88", &format!("/v1/ports/{p1}")).await.0, 204);
}

// ------------------------------------------------------------------------------------- 1.89

#[tokio::test]
async fn virtual_media_with_fake_hardware_fails_as_in_ironic() {
    let s = start_preview().await;
    let u = s.node("vm").await;
    let body = json!({"device_type": "cdrom", "image_url": "http://example.com/boot.iso"});
    assert_eq!(s.post("1.88", "/v1/nodes/vm/vmedia", body.clone()).await.0, 404);
    assert_eq!(s.delete("1.88", "/v1/nodes/vm/vmedia").await.0, 404);
    assert_eq!(s.get("1.89", "/v1/nodes/vm/vmedia").await.0, 404, "reading vmedia is 1.93");
    // Other methods: no such path before 1.89 (tempest's enforcement test PUTs), then 405.
    assert_eq!(s.put("1.88", "/v1/nodes/vm/vmedia", body.clone()).await.0, 404);
    assert_eq!(s.put("1.89", "/v1/nodes/vm/vmedia", body.clone()).await.0, 405);

    let bad = [
        (json!({"device_type": "CDROM", "image_url": "http://image"}), "Schema error for vmedia: 'CDROM' is not one of ['disk', 'cdrom', 'floppy']"),
        (json!({"device_type": "cdrom"}), "Schema error for vmedia: 'image_url' is a required property"),
        (json!({"image_url": "http://x", "foo": 1}), "Schema error for vmedia: 'device_type' is a required property"),
        (json!({"device_type": "cdrom", "image_url": "http://x", "foo": 1}), "Schema error for vmedia: Additional properties are not allowed ('foo' was unexpected)"),
        (json!({"device_type": "cdrom", "image_url": 5}), "Schema error for vmedia: 5 is not of type 'string'"),
        (json!({"device_type": "cdrom", "image_url": "http://x", "image_download_source": "ftp"}), "Schema error for vmedia: 'ftp' is not one of ['http', 'local', 'swift']"),
        (json!([1]), "Schema error for vmedia: [1] is not of type 'object'"),
        (json!({"device_type": "cdrom", "image_url": "ftp://x"}), "Unsupported or missing URL scheme: ftp"),
        (json!({"device_type": "cdrom", "image_url": "x"}), "Unsupported or missing URL scheme: "),
    ];
    for (b, msg) in bad {
        let (st, r) = s.post("1.89", "/v1/nodes/vm/vmedia", b).await;
        assert_eq!((st, fault(&r).as_str()), (400, msg));
    }
    let (st, r) = s.at(Some("1.89"), M::POST, "/v1/nodes/vm/vmedia", None).await;
    assert_eq!((st, fault(&r).as_str()), (400, "Schema error for vmedia: 'device_type' is a required property"));
    let (st, r) = s.post("1.89", "/v1/nodes/nope/vmedia", body.clone()).await;
    assert_eq!((st, fault(&r).as_str()), (404, "Node nope could not be found."));

    // Accepted; the fake boot interface cannot publish the image, which ends in last_error.
    let (st, r) = s.post("1.89", "/v1/nodes/vm/vmedia", json!({"device_type": "cdrom", "image_url": "HTTP://example.com/a.iso"})).await;
    assert_eq!((st, r), (204, Value::Null));
    let attach_err = format!("Could not attach device cdrom to node {u}: Publishing images is not supported for driver fake-hardware");
    s.wait_for(&u, |n| n["last_error"] == attach_err.as_str()).await;
    let (_, h) = s.get("1.91", "/v1/nodes/vm/history?detail=true").await;
    let last = h["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["severity"].clone(), last["event_type"].clone(), last["event"].clone()), (json!("ERROR"), json!("UNKNOWN"), json!(attach_err)));

    let detach_err = |what: &str| format!("Could not detach device(s) {what} from node {u}: Driver fake-hardware does not support detach_virtual_media (disabled or not implemented).");
    assert_eq!(s.delete("1.89", "/v1/nodes/vm/vmedia").await.0, 204);
    s.wait_for(&u, |n| n["last_error"] == detach_err("None").as_str()).await;
    assert_eq!(s.delete("1.89", "/v1/nodes/vm/vmedia?device_types=CDROM,disk,cdrom").await.0, 204);
    s.wait_for(&u, |n| n["last_error"] == detach_err("['cdrom', 'disk']").as_str()).await;
    let (st, r) = s.delete("1.89", "/v1/nodes/vm/vmedia?device_types=cdrom,usb,pxe").await;
    assert_eq!((st, fault(&r).as_str()), (400, "Invalid device type(s) usb, pxe (valid are disk, cdrom, floppy)"));
    let (st, r) = s.delete("1.89", "/v1/nodes/vm/vmedia?foo=1").await;
    assert_eq!((st, fault(&r).as_str()), (400, "Unexpected arguments: foo"));

    // A node with a power failure cannot take it (503); a locked node is a 409.
    s.store
        .update_node(&u, None, |n| {
            n.maintenance = true;
            n.fault = Some("power failure".into());
            Ok::<(), ()>(())
        })
        .await
        .unwrap()
        .unwrap();
    let (st, r) = s.post("1.89", "/v1/nodes/vm/vmedia", body.clone()).await;
    assert_eq!((st, fault(&r)), (503, format!("Unable to attach virtual media for node {u} due to power failure state")));
    let (st, r) = s.delete("1.89", "/v1/nodes/vm/vmedia").await;
    assert_eq!((st, fault(&r)), (503, format!("Unable to detach virtual media for node {u} due to power failure state")));
    s.store.reserve_node(&u, "other-host").await.unwrap();
    let (st, r) = s.post("1.89", "/v1/nodes/vm/vmedia", body).await;
    assert_eq!((st, fault(&r)), (409, format!("Node {u} is locked by host other-host, please retry after the current operation is completed.")));
}

// ------------------------------------------------------------------------------------- 1.90

#[tokio::test]
async fn ovn_vtep_switches_in_local_link_connection() {
    let s = start_preview().await;
    let u = s.node("ovn").await;
    let vtep = json!({"port_id": "p1", "vtep-logical-switch": "ls", "vtep-physical-switch": "ps"});
    let port = |addr: &str, llc: Value| json!({"node_uuid": u, "address": addr, "local_link_connection": llc});
    let (st, b) = s.post("1.89", "/v1/ports", port("52:54:00:00:90:01", vtep.clone())).await;
    assert_eq!((st, fault(&b).as_str()), (406, "Request not acceptable."));
    let (st, p) = s.post("1.90", "/v1/ports", port("52:54:00:00:90:01", vtep.clone())).await;
    assert_eq!((st, p["local_link_connection"].clone()), (201, vtep.clone()));
    let id = p["uuid"].as_str().unwrap().to_string();
    // Older versions see the link empty.
    assert_eq!(s.get("1.89", &format!("/v1/ports/{id}")).await.1["local_link_connection"], json!({}));
    assert_eq!(s.get("1.90", &format!("/v1/ports/{id}")).await.1["local_link_connection"], vtep);
    let (_, l) = s.get("1.89", "/v1/ports/detail").await;
    assert_eq!(l["ports"][0]["local_link_connection"], json!({}));

    let schema = |llc: &str, cause: &str| {
        format!("Schema error for local_link_connection: {llc} is not valid under any of the given schemas. Possible root cause: {cause}")
    };
    let bad = [
        (json!({"port_id": "p1", "vtep-logical-switch": "ls"}), schema("{'port_id': 'p1', 'vtep-logical-switch': 'ls'}", "'vtep-physical-switch' is a dependency of 'vtep-logical-switch'")),
        (json!({"port_id": "p1", "vtep-physical-switch": "ps"}), schema("{'port_id': 'p1', 'vtep-physical-switch': 'ps'}", "'vtep-logical-switch' is a dependency of 'vtep-physical-switch'")),
        (json!({"vtep-logical-switch": "ls", "vtep-physical-switch": "ps"}), schema("{'vtep-logical-switch': 'ls', 'vtep-physical-switch': 'ps'}", "'port_id' is a required property")),
        (json!({"port_id": "p1"}), schema("{'port_id': 'p1'}", "'switch_id' is a required property")),
        (json!({"bogus": 1}), schema("{'bogus': 1}", "Additional properties are not allowed ('bogus' was unexpected)")),
        (json!({"network_type": "managed"}), "Schema error for local_link_connection: 'managed' is not one of ['unmanaged']".to_string()),
    ];
    for (llc, msg) in bad {
        for v in ["1.89", "1.90"] {
            let (st, b) = s.post(v, "/v1/ports", port("52:54:00:00:90:02", llc.clone())).await;
            assert_eq!((st, fault(&b)), (400, msg.clone()), "at {v}");
        }
    }
    // The other shapes still pass.
    for (i, llc) in [
        json!({"port_id": "p1", "switch_id": "AA:BB:CC:DD:EE:FF"}),
        json!({"port_id": "p1", "hostname": "h"}),
        json!({"network_type": "unmanaged"}),
        json!({"port_id": "p1", "switch_id": "aa:bb:cc:dd:ee:ff", "vtep-logical-switch": "ls", "vtep-physical-switch": "ps"}),
        json!({}),
    ]
    .into_iter()
    .enumerate()
    {
        let (st, b) = s.post("1.90", "/v1/ports", port(&format!("52:54:00:00:90:1{i}"), llc)).await;
        assert_eq!(st, 201, "{b}");
    }
}

// ------------------------------------------------------------------------------------- 1.91

#[tokio::test]
async fn a_json_suffix_is_stripped_below_1_91() {
    let s = start_preview().await;
    let n1 = s.node("n1").await;
    let n2 = s.node("n2.json").await;
    let get = |v: Option<&'static str>, path: String| {
        let s = &s;
        async move { s.at(v, M::GET, &path, None).await }
    };
    // Nodes by name and UUID.
    let (st, b) = get(Some("1.90"), "/v1/nodes/n1.json".into()).await;
    assert_eq!((st, b["uuid"].clone()), (200, json!(n1)));
    let (st, b) = get(Some("1.91"), "/v1/nodes/n1.json".into()).await;
    assert_eq!((st, fault(&b).as_str()), (404, "Node n1.json could not be found."));
    let (st, b) = get(None, "/v1/nodes/n1.json".into()).await;
    assert_eq!((st, fault(&b).as_str()), (404, "Node n1.json could not be found."), "no header: no stripping");
    // A node really named `x.json`: found under its full name after the stripped one misses.
    for v in ["1.90", "1.91"] {
        let (st, b) = get(Some(v), "/v1/nodes/n2.json".into()).await;
        assert_eq!((st, b["uuid"].clone()), (200, json!(n2)), "at {v}");
    }
    let (st, b) = get(Some("1.90"), "/v1/nodes/zz.json".into()).await;
    assert_eq!((st, fault(&b).as_str()), (404, "Node zz.json could not be found."));
    let (st, b) = get(Some("1.90"), format!("/v1/nodes/{n1}.json/")).await;
    assert_eq!((st, b["name"].clone()), (200, json!("n1")));
    let (st, b) = get(Some("1.90"), "/v1/nodes.json".into()).await;
    assert_eq!((st, b["nodes"].as_array().map(Vec::len)), (200, Some(2)));
    assert_eq!(get(Some("1.90"), "/v1/nodes/n1/states.json".into()).await.0, 200);
    // Only the X-OpenStack-Ironic-API-Version header turns it on, as in Ironic.
    let r = s.client.get(format!("{}/v1/nodes/n1.json", s.url)).header("OpenStack-API-Version", "baremetal 1.90").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let props = json!([{"op": "add", "path": "/extra/k", "value": "v"}]);
    let (st, b) = s.patch("1.91", &format!("/v1/nodes/{n1}.json"), props.clone()).await;
    assert_eq!((st, fault(&b)), (404, format!("Node {n1}.json could not be found.")));
    let (st, b) = s.patch("1.90", &format!("/v1/nodes/{n1}.json"), props).await;
    assert_eq!((st, b["extra"].clone()), (200, json!({"k": "v"})));
    assert_eq!(s.delete("1.91", &format!("/v1/nodes/{n1}.json")).await.0, 404);
    assert_eq!(s.delete("1.90", &format!("/v1/nodes/{n1}.json")).await.0, 204);
    assert_eq!(get(Some("1.91"), format!("/v1/nodes/{n1}")).await.0, 404);

    // Ports, portgroups, chassis: stripped below 1.91, never retried with the suffix.
    let (_, p) = s.post("1.91", "/v1/ports", json!({"node_uuid": n2, "address": "52:54:00:00:91:01"})).await;
    let port = p["uuid"].as_str().unwrap().to_string();
    assert_eq!(get(Some("1.90"), format!("/v1/ports/{port}.json")).await.1["uuid"], json!(port));
    let (st, b) = get(Some("1.91"), format!("/v1/ports/{port}.json")).await;
    assert_eq!((st, fault(&b)), (404, format!("Port {port}.json could not be found.")));
    let (_, g) = s.post("1.91", "/v1/portgroups", json!({"node_uuid": n2, "name": "pg.json"})).await;
    let pg = g["uuid"].as_str().unwrap().to_string();
    assert_eq!(get(Some("1.90"), format!("/v1/portgroups/{pg}.json")).await.1["uuid"], json!(pg));
    assert_eq!(get(Some("1.91"), format!("/v1/portgroups/{pg}.json")).await.0, 404);
    let (st, b) = get(Some("1.90"), "/v1/portgroups/pg.json".into()).await;
    assert_eq!((st, fault(&b).as_str()), (404, "Portgroup pg could not be found."));
    assert_eq!(get(Some("1.91"), "/v1/portgroups/pg.json".into()).await.1["uuid"], json!(pg));
    let (_, c) = s.post("1.91", "/v1/chassis", json!({})).await;
    let chassis = c["uuid"].as_str().unwrap().to_string();
    assert_eq!(get(Some("1.90"), format!("/v1/chassis/{chassis}.json")).await.1["uuid"], json!(chassis));
    let (st, b) = get(Some("1.91"), format!("/v1/chassis/{chassis}.json")).await;
    assert_eq!((st, fault(&b)), (400, format!("Expected UUID for chassis_uuid: {chassis}.json")));

    // Allocations and deploy templates: like nodes.
    let (_, a) = s.post("1.91", "/v1/allocations", json!({"resource_class": "none-such", "name": "al.json"})).await;
    let alloc = a["uuid"].as_str().unwrap().to_string();
    assert_eq!(get(Some("1.90"), format!("/v1/allocations/{alloc}.json")).await.1["uuid"], json!(alloc));
    assert_eq!(get(Some("1.90"), "/v1/allocations/al.json".into()).await.1["uuid"], json!(alloc));
    let (st, b) = get(Some("1.90"), "/v1/allocations/zz.json".into()).await;
    assert_eq!((st, fault(&b).as_str()), (404, "Allocation zz.json could not be found."));
    assert_eq!(s.delete("1.91", &format!("/v1/allocations/{alloc}.json")).await.0, 404);
    assert_eq!(s.delete("1.90", &format!("/v1/allocations/{alloc}.json")).await.0, 204);
    let steps = json!([{"interface": "raid", "step": "create_configuration", "args": {}, "priority": 10}]);
    let (_, t) = s.post("1.91", "/v1/deploy_templates", json!({"name": "CUSTOM_JSON", "steps": steps})).await;
    let tpl = t["uuid"].as_str().unwrap().to_string();
    assert_eq!(get(Some("1.90"), format!("/v1/deploy_templates/{tpl}.json")).await.1["uuid"], json!(tpl));
    assert_eq!(get(Some("1.91"), format!("/v1/deploy_templates/{tpl}.json")).await.0, 404);
    let (st, b) = get(Some("1.90"), "/v1/deploy_templates/zz.json".into()).await;
    assert_eq!((st, fault(&b).as_str()), (404, "Deploy template zz.json could not be found."));
    assert_eq!(s.delete("1.90", &format!("/v1/deploy_templates/{tpl}.json")).await.0, 204);
}

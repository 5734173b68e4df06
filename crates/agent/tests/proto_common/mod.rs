//! A small Bare Metal API for the agent's protocol tests. It answers the ramdisk endpoints the
//! way Ironic does (`ironic/api/controllers/v1/ramdisk.py`) and *checks* every request the agent
//! makes against what Ironic and IPA's protocol require: method, path, version header, content
//! type, query, body fields and the agent token. Every deviation is recorded as a violation;
//! tests assert there are none. Tests can also script answers (errors, 409s, ...) per endpoint.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ferric_agent::inventory::{InventoryData, InventorySource};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const NODE_UUID: &str = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Option<Value>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted answer instead of the normal one.
#[derive(Debug, Clone)]
pub enum Scripted {
    Status(u16, Value),
    /// An Ironic error body `{"error_message": "<json of {faultstring, faultcode, debuginfo}>"}`.
    IronicError(u16, &'static str),
}

pub struct Ironic {
    /// The maximum version in `GET /` (`None`: `GET /` answers 500).
    pub max_version: Option<(u32, u32)>,
    pub node_uuid: String,
    /// MACs of the node's ports; lookup finds the node through any of them.
    pub macs: Vec<String>,
    pub heartbeat_timeout: u64,
    /// The token handed out at the first lookup; later lookups get `******`.
    pub token: String,
    pub token_issued: Mutex<bool>,
    /// A pregenerated token (virtual media): lookup then always answers `******`.
    pub pregenerated: bool,
    pub log: Mutex<Vec<Recorded>>,
    pub violations: Mutex<Vec<String>>,
    pub lookup_script: Mutex<VecDeque<Scripted>>,
    pub heartbeat_script: Mutex<VecDeque<Scripted>>,
    pub inspection_script: Mutex<VecDeque<Scripted>>,
    pub root_script: Mutex<VecDeque<Scripted>>,
}

impl Ironic {
    pub fn new(max_version: (u32, u32), macs: &[&str]) -> Arc<Ironic> {
        Arc::new(Ironic {
            max_version: Some(max_version),
            node_uuid: NODE_UUID.into(),
            macs: macs.iter().map(|m| m.to_lowercase()).collect(),
            heartbeat_timeout: 300,
            token: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            token_issued: Mutex::new(false),
            pregenerated: false,
            log: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            lookup_script: Mutex::new(VecDeque::new()),
            heartbeat_script: Mutex::new(VecDeque::new()),
            inspection_script: Mutex::new(VecDeque::new()),
            root_script: Mutex::new(VecDeque::new()),
        })
    }

    pub fn requests(&self, path_prefix: &str) -> Vec<Recorded> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    fn violation(&self, v: String) {
        self.violations.lock().unwrap().push(v);
    }

    fn max(&self) -> (u32, u32) {
        self.max_version.unwrap_or((1, 1))
    }
}

fn version_of(headers: &HeaderMap) -> Option<(u32, u32)> {
    let v = headers
        .get("X-OpenStack-Ironic-API-Version")?
        .to_str()
        .ok()?;
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn ironic_error(status: u16, msg: &str) -> Response {
    let inner = json!({"faultstring": msg, "faultcode": if status >= 500 {"Server"} else {"Client"}, "debuginfo": null});
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"error_message": inner.to_string()})),
    )
        .into_response()
}

fn scripted(s: Scripted) -> Response {
    match s {
        Scripted::Status(code, body) => {
            (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
        }
        Scripted::IronicError(code, msg) => ironic_error(code, msg),
    }
}

fn with_version_headers(ironic: &Ironic, mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        "X-OpenStack-Ironic-API-Minimum-Version",
        "1.1".parse().unwrap(),
    );
    let (a, b) = ironic.max();
    h.insert(
        "X-OpenStack-Ironic-API-Maximum-Version",
        format!("{a}.{b}").parse().unwrap(),
    );
    r
}

fn record(
    ironic: &Ironic,
    method: &Method,
    uri: &Uri,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Option<Value>,
) {
    ironic.log.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: query.to_vec(),
        headers: headers.clone(),
        body,
    });
}

fn check_json_headers(ironic: &Ironic, what: &str, headers: &HeaderMap, with_body: bool) {
    if with_body
        && headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json")
    {
        ironic.violation(format!(
            "{what}: Content-Type is not application/json: {:?}",
            headers.get("content-type")
        ));
    }
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        ironic.violation(format!(
            "{what}: Accept is not application/json: {:?}",
            headers.get("accept")
        ));
    }
}

async fn root(
    State(ironic): State<Arc<Ironic>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record(&ironic, &method, &uri, &[], &headers, None);
    if let Some(s) = ironic.root_script.lock().unwrap().pop_front() {
        return scripted(s);
    }
    let Some((a, b)) = ironic.max_version else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    };
    axum::Json(json!({
        "name": "OpenStack Ironic API",
        "description": "Ironic is an OpenStack project which enables the provision and management of baremetal machines.",
        "default_version": {"id": "v1", "links": [{"href": "http://127.0.0.1/v1/", "rel": "self"}], "status": "CURRENT",
                            "min_version": "1.1", "version": format!("{a}.{b}")},
        "versions": [{"id": "v1", "status": "CURRENT", "min_version": "1.1", "version": format!("{a}.{b}")}],
    }))
    .into_response()
}

async fn lookup(
    State(ironic): State<Arc<Ironic>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    record(&ironic, &method, &uri, &q, &headers, None);
    check_json_headers(&ironic, "lookup", &headers, false);
    let expected = ironic.max().min((1, 62));
    match version_of(&headers) {
        Some(v) if v == expected => {}
        other => ironic.violation(format!(
            "lookup: version header {other:?}, expected {expected:?} (min(server, 1.62))"
        )),
    }
    let v = version_of(&headers).unwrap_or((1, 1));
    if v < (1, 22) {
        return with_version_headers(
            &ironic,
            ironic_error(404, "The resource could not be found."),
        );
    }
    if let Some(s) = ironic.lookup_script.lock().unwrap().pop_front() {
        return with_version_headers(&ironic, scripted(s));
    }
    let addresses: Vec<String> = q
        .iter()
        .find(|(k, _)| k == "addresses")
        .map(|(_, a)| {
            a.split(',')
                .filter(|m| !m.is_empty())
                .map(|m| m.to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let node_uuid = q
        .iter()
        .find(|(k, _)| k == "node_uuid")
        .map(|(_, u)| u.clone());
    for (k, _) in &q {
        if k != "addresses" && k != "node_uuid" {
            ironic.violation(format!("lookup: unexpected query parameter {k}"));
        }
    }
    if addresses.is_empty() && node_uuid.is_none() {
        return with_version_headers(
            &ironic,
            ironic_error(400, "Either node UUID or addresses are required for lookup"),
        );
    }
    let found = match &node_uuid {
        Some(u) => *u == ironic.node_uuid,
        None => addresses.iter().any(|a| ironic.macs.contains(a)),
    };
    if !found {
        return with_version_headers(&ironic, ironic_error(404, "Node could not be found."));
    }
    let token = {
        let mut issued = ironic.token_issued.lock().unwrap();
        if ironic.pregenerated || *issued {
            "******".to_string()
        } else {
            *issued = true;
            ironic.token.clone()
        }
    };
    let mut config = json!({"heartbeat_timeout": ironic.heartbeat_timeout});
    if v >= (1, 62) {
        config["agent_token"] = json!(token);
        config["agent_token_required"] = json!(true);
    }
    with_version_headers(
        &ironic,
        axum::Json(json!({
            "node": {"uuid": ironic.node_uuid, "properties": {}, "instance_info": {}, "driver_internal_info": {},
                     "links": [{"href": format!("http://127.0.0.1/v1/nodes/{}", ironic.node_uuid), "rel": "self"}]},
            "config": config,
        }))
        .into_response(),
    )
}

async fn heartbeat(
    State(ironic): State<Arc<Ironic>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    record(&ironic, &method, &uri, &[], &headers, parsed.clone());
    check_json_headers(&ironic, "heartbeat", &headers, true);
    let server = ironic.max();
    let Some(body) = parsed.and_then(|b| b.as_object().cloned()) else {
        ironic.violation("heartbeat: body is not a JSON object".into());
        return ironic_error(400, "Invalid body");
    };
    let v = version_of(&headers);
    let has_status = body.contains_key("agent_status");
    let expected = if has_status {
        server.min((1, 72))
    } else {
        server.min((1, 68))
    };
    if v != Some(expected) {
        ironic.violation(format!(
            "heartbeat: version header {v:?}, expected {expected:?}"
        ));
    }
    let v = v.unwrap_or((1, 1));
    if id != ironic.node_uuid {
        ironic.violation(format!("heartbeat: for unknown node {id}"));
        return ironic_error(404, &format!("Node {id} could not be found."));
    }
    let allowed = [
        "callback_url",
        "agent_token",
        "agent_version",
        "agent_verify_ca",
        "agent_status",
        "agent_status_message",
    ];
    for k in body.keys() {
        if !allowed.contains(&k.as_str()) {
            ironic.violation(format!("heartbeat: unexpected field {k}"));
        }
    }
    match body.get("callback_url").and_then(Value::as_str) {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
        other => ironic.violation(format!("heartbeat: callback_url {other:?} is not a URL")),
    }
    if v >= (1, 36) && !body.get("agent_version").is_some_and(Value::is_string) {
        ironic.violation("heartbeat: agent_version missing at >= 1.36".into());
    }
    if v < (1, 36) && body.contains_key("agent_version") {
        ironic.violation("heartbeat: agent_version sent below 1.36".into());
    }
    if v < (1, 62) && body.contains_key("agent_token") {
        ironic.violation("heartbeat: agent_token sent below 1.62".into());
    }
    if v < (1, 68) && body.contains_key("agent_verify_ca") {
        ironic.violation("heartbeat: agent_verify_ca sent below 1.68".into());
    }
    if has_status && v < (1, 72) {
        ironic.violation("heartbeat: agent_status sent below 1.72".into());
    }
    if let Some(s) = ironic.heartbeat_script.lock().unwrap().pop_front() {
        return scripted(s);
    }
    if v >= (1, 62)
        && body.get("agent_token").and_then(Value::as_str) != Some(ironic.token.as_str())
    {
        ironic.violation(format!(
            "heartbeat: wrong agent token {:?}",
            body.get("agent_token")
        ));
        return ironic_error(400, "Invalid or missing agent token received.");
    }
    StatusCode::ACCEPTED.into_response()
}

async fn continue_inspection(
    State(ironic): State<Arc<Ironic>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    record(&ironic, &method, &uri, &q, &headers, parsed.clone());
    check_json_headers(&ironic, "continue_inspection", &headers, true);
    // IPA sends no version header here, so Ironic serves it at 1.1 and answers {uuid}.
    if headers.contains_key("X-OpenStack-Ironic-API-Version") {
        ironic.violation("continue_inspection: IPA sends no version header".into());
    }
    if let Some(s) = ironic.inspection_script.lock().unwrap().pop_front() {
        return scripted(s);
    }
    let Some(data) = parsed.filter(Value::is_object) else {
        ironic.violation("continue_inspection: body is not a JSON object".into());
        return ironic_error(400, "Invalid inspection data: a JSON object is expected");
    };
    let Some(interfaces) = data
        .pointer("/inventory/interfaces")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    else {
        ironic.violation("continue_inspection: inventory.interfaces missing or empty".into());
        return ironic_error(
            400,
            "Invalid inspection data: inventory 'interfaces' must be a non-empty list",
        );
    };
    let mut found = false;
    for i in interfaces {
        match i.get("mac_address").and_then(Value::as_str) {
            Some(m) => found |= ironic.macs.contains(&m.to_lowercase()),
            None => {
                ironic.violation(format!(
                    "continue_inspection: interface without mac_address: {i}"
                ));
                return ironic_error(
                    400,
                    "Invalid inspection data: every interface needs a 'mac_address' string",
                );
            }
        }
    }
    if !data.get("error").is_some_and(|e| e.is_null()) {
        ironic.violation(format!(
            "continue_inspection: error field {:?} (Ironic fails inspection on a non-null error)",
            data.get("error")
        ));
    }
    if !found {
        return ironic_error(404, "The resource could not be found.");
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"uuid": ironic.node_uuid})),
    )
        .into_response()
}

async fn fallback(
    State(ironic): State<Arc<Ironic>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record(&ironic, &method, &uri, &[], &headers, None);
    ironic.violation(format!("unexpected request {method} {uri}"));
    ironic_error(404, "The resource could not be found.")
}

pub fn router(ironic: Arc<Ironic>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/v1/lookup", get(lookup))
        .route("/v1/heartbeat/{id}", post(heartbeat))
        .route("/v1/continue_inspection", post(continue_inspection))
        .fallback(fallback)
        .with_state(ironic)
}

/// Serve `ironic` on a free local port; the base URL.
pub async fn serve(ironic: Arc<Ironic>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(ironic)).await.unwrap() });
    format!("http://{addr}")
}

/// A local port nobody listens on.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::PathBuf::from("/work/shared/fixtures/inspection")
}

/// A real IPA inspection document from the shared fixtures.
pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// An inventory source answering with a fixture's inventory and plugin data; records the
/// collectors it was called with.
pub fn fixture_source(name: &str, calls: Arc<Mutex<Vec<Vec<String>>>>) -> InventorySource {
    let doc = fixture(name);
    let inventory = doc["inventory"].clone();
    let plugin_data: Map<String, Value> = match doc.get("plugin_data") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    Arc::new(move |collectors: &[String]| {
        calls.lock().unwrap().push(collectors.to_vec());
        InventoryData {
            inventory: inventory.clone(),
            plugin_data: plugin_data.clone(),
            warnings: vec!["lldp: no frames".into()],
        }
    })
}

pub fn fixture_macs(name: &str) -> Vec<String> {
    ferric_agent::inventory::mac_addresses(&fixture(name)["inventory"])
}

/// A `System` that records what was asked of it and touches nothing on the host.
#[derive(Default)]
pub struct FakeSystem {
    pub calls: Mutex<Vec<String>>,
    pub fail_power: bool,
    pub fail_logs: bool,
    /// What `secure_erase` answers (per call, in order); `Ok(false)` once the list is empty.
    pub secure_erase: Mutex<VecDeque<Result<bool, String>>>,
    pub read_only: Vec<String>,
    pub virtual_media: Vec<String>,
}

impl FakeSystem {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl ferric_agent::system::System for FakeSystem {
    fn power_off(&self) -> Result<(), String> {
        self.calls.lock().unwrap().push("power_off".into());
        if self.fail_power {
            Err("poweroff failed (exit status: 1)".into())
        } else {
            Ok(())
        }
    }
    fn reboot(&self) -> Result<(), String> {
        self.calls.lock().unwrap().push("reboot".into());
        Ok(())
    }
    fn sync(&self) -> Result<(), String> {
        self.calls.lock().unwrap().push("sync".into());
        Ok(())
    }
    fn collect_system_logs(&self) -> Result<String, String> {
        self.calls
            .lock()
            .unwrap()
            .push("collect_system_logs".into());
        if self.fail_logs {
            Err("journalctl failed".into())
        } else {
            Ok("bG9ncw==".into())
        }
    }
    fn secure_erase(
        &self,
        device: &ferric_agent::disk::BlockDevice,
        kind: ferric_agent::system::SecureEraseKind,
    ) -> Result<bool, String> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("secure_erase {:?} {}", kind, device.name));
        self.secure_erase
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(false))
    }
    fn device_flags(
        &self,
        device: &ferric_agent::disk::BlockDevice,
    ) -> ferric_agent::system::DeviceFlags {
        ferric_agent::system::DeviceFlags {
            read_only: self.read_only.contains(&device.name),
            virtual_media: self.virtual_media.contains(&device.name),
        }
    }
    fn reread_partition_table(&self, device: &std::path::Path) -> Result<(), String> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("reread {}", device.display()));
        Ok(())
    }
}

//! The ironic-inspector API (its own listener, port 5050 by default), so
//! python-ironic-inspector-client and `openstack baremetal introspection ...` work unchanged.
//!
//! There is no separate inspector service behind it: introspection *is* the node's `inspect`
//! verb with the `agent` inspect interface, and the status shown here is derived from the node
//! (provision state, `last_error`, inspection timestamps) and ferric's stored inspections.
//! Errors have the inspector's shape `{"error": {"message": "..."}}`.
//!
//! Versions 1.0 to 1.18; a request without a version header gets the newest (unlike Ironic).
//! As in the inspector itself, the version is negotiated and echoed but no endpoint is gated
//! by it (python-ironic-inspector-client asks for 1.0 and then lists, reapplies with data,
//! filters by state).

use crate::ramdisk::Report;
use crate::{ApiConfig, ApiError, AppState};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferric_conductor::{Conductor, ProvisionArgs};
use ferric_core::{validate, Event, Inspection, InspectionState, Node, ProvisionState as S};
use serde_json::{json, Value};
use std::collections::HashMap;

pub const MIN: (u16, u16) = (1, 0);
pub const MAX: (u16, u16) = (1, 18);
const VERSION_HEADER: &str = "x-openstack-ironic-inspector-api-version";
const MIN_HEADER: &str = "x-openstack-ironic-inspector-api-minimum-version";
const MAX_HEADER: &str = "x-openstack-ironic-inspector-api-maximum-version";

/// An error in the inspector's shape.
#[derive(Debug)]
pub struct InspectorError {
    status: StatusCode,
    message: String,
}

impl InspectorError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        InspectorError { status, message: message.into() }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<ApiError> for InspectorError {
    fn from(e: ApiError) -> Self {
        InspectorError { status: e.status, message: e.message }
    }
}

impl From<ferric_conductor::ConductorError> for InspectorError {
    fn from(e: ferric_conductor::ConductorError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ferric_store::StoreError> for InspectorError {
    fn from(e: ferric_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for InspectorError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "inspector API error");
        }
        (self.status, Json(json!({"error": {"message": self.message}}))).into_response()
    }
}

type IResult<T> = Result<T, InspectorError>;

/// The requested inspector API version (after negotiation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct IVersion(u16, u16);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IVersion {
    type Rejection = InspectorError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<IVersion>().copied().unwrap_or(IVersion(MAX.0, MAX.1)))
    }
}

fn requested_version(headers: &HeaderMap) -> Result<IVersion, InspectorError> {
    let raw = headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| {
        headers
            .get("openstack-api-version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("baremetal-introspection"))
            .map(|v| v.trim().to_string())
    });
    let Some(raw) = raw else { return Ok(IVersion(MAX.0, MAX.1)) };
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("latest") {
        return Ok(IVersion(MAX.0, MAX.1));
    }
    let parsed = raw.split_once('.').and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)));
    let Some((major, minor)) = parsed else {
        return Err(InspectorError::bad_request("Malformed API version: expected string in form of X.Y or latest"));
    };
    if (major, minor) < MIN || (major, minor) > MAX {
        return Err(InspectorError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Unsupported API version {major}.{minor}, supported range is {}.{} to {}.{}",
                MIN.0, MIN.1, MAX.0, MAX.1
            ),
        ));
    }
    Ok(IVersion(major, minor))
}

async fn version_headers(mut req: Request, next: Next) -> Response {
    let mut resp = match requested_version(req.headers()) {
        Ok(v) => {
            req.extensions_mut().insert(v);
            let mut r = next.run(req).await;
            if let Ok(h) = HeaderValue::from_str(&format!("{}.{}", v.0, v.1)) {
                r.headers_mut().insert(VERSION_HEADER, h);
            }
            r
        }
        Err(e) => e.into_response(),
    };
    let h = resp.headers_mut();
    h.insert(MIN_HEADER, HeaderValue::from_static("1.0"));
    h.insert(MAX_HEADER, HeaderValue::from_static("1.18"));
    resp
}

/// The inspector API as its own router (served on its own listener).
pub fn router(conductor: Conductor, config: ApiConfig) -> Router {
    let limit = config.max_body_bytes;
    let report_limit = config.max_inspection_bytes;
    let state = AppState::new(conductor, config);
    let v1 = Router::new()
        .route("/continue", post(continue_).layer(DefaultBodyLimit::max(report_limit)))
        .route("/introspection", get(list))
        .route("/introspection/{node}", get(status).post(start))
        .route("/introspection/{node}/abort", post(abort))
        .route("/introspection/{node}/data", get(data))
        .route("/introspection/{node}/data/unprocessed", get(unprocessed).post(reapply).layer(DefaultBodyLimit::max(report_limit)))
        .route("/rules", get(list_rules).post(create_rule).delete(delete_rules))
        .route("/rules/{uuid}", get(show_rule).delete(delete_rule));
    Router::new()
        .route("/", get(root))
        .route("/v1", get(v1_root))
        .nest("/v1", v1)
        .fallback(|| async { InspectorError::not_found("The requested URL was not found on the server.") })
        .layer(axum::middleware::from_fn(version_headers))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn base_url(s: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &s.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost:5050");
    format!("http://{host}")
}

async fn root(State(s): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let b = base_url(&s, &headers);
    Json(json!({"versions": [{"id": format!("{}.{}", MAX.0, MAX.1), "status": "CURRENT", "links": [{"rel": "self", "href": format!("{b}/v1")}]}]}))
}

async fn v1_root(State(s): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let b = base_url(&s, &headers);
    let resources: Vec<Value> = ["continue", "introspection", "rules"]
        .iter()
        .map(|r| json!({"name": r, "links": [{"rel": "self", "href": format!("{b}/v1/{r}")}]}))
        .collect();
    Json(json!({"resources": resources}))
}

/// `POST /v1/continue`: the ramdisk's report (public, like Ironic's continue_inspection).
async fn continue_(
    State(s): State<AppState>,
    ext: axum::http::Extensions,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> IResult<Json<Value>> {
    if let Err((ip, wait)) = s.limit_callback(crate::peer(&ext)) {
        tracing::warn!(%ip, "too many inspection reports from one address");
        return Err(InspectorError::new(StatusCode::TOO_MANY_REQUESTS, format!("Too many inspection reports from {ip}; retry in {wait} s.")));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            InspectorError::new(e.status(), format!("Inspection data is larger than the {} bytes this API accepts.", s.config.max_inspection_bytes))
        } else {
            InspectorError::bad_request(format!("Could not read the request body: {e}"))
        }
    })?;
    if !s.config.ramdisk_endpoints {
        return Err(InspectorError::new(StatusCode::FORBIDDEN, "Access was denied to this resource."));
    }
    let data: Value = serde_json::from_slice(&body).map_err(|e| InspectorError::bad_request(format!("Invalid data: {e}")))?;
    if !data.is_object() {
        return Err(InspectorError::bad_request(format!("Invalid data: expected a JSON object, got {}", json_type(&data))));
    }
    let report = Report::parse(data)?;
    if report.macs.is_empty() && report.bmcs.is_empty() {
        return Err(InspectorError::bad_request("No lookup attributes were found, inspector won't be able to find it after introspection, consider creating ironic ports or providing an IPMI address"));
    }
    let node = report
        .find_node(&s, None)
        .await
        .map_err(|_| InspectorError::not_found("Could not find a node for attributes matching the inspection data"))?;
    report.hand_over(&s, &node.uuid).await?;
    Ok(Json(json!({"uuid": node.uuid})))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A node by UUID or name, with the inspector's 404.
async fn find_node(s: &AppState, ident: &str) -> IResult<Node> {
    match s.store().get_node(ident).await {
        Ok(n) => Ok(n),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(InspectorError::not_found(format!("Node {ident} was not found in Ironic"))),
        Err(e) => Err(e.into()),
    }
}

fn time(t: &ferric_core::Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// The inspector's status of a node's introspection, from the node and its newest stored
/// inspection; `None` when the node was never inspected.
fn introspection_status(node: &Node, latest: Option<&Inspection>, base: &str) -> Option<Value> {
    let (state, started, finished, error): (&str, Option<String>, Option<String>, Option<String>) = match node.provision_state {
        S::InspectWait => ("waiting", node.inspection_started_at.as_ref().map(time), None, None),
        S::Inspecting => ("processing", node.inspection_started_at.as_ref().map(time), None, None),
        S::InspectFailed => {
            // The failure is the latest attempt's; its record, if the report got that far.
            let rec = latest.filter(|r| r.state == InspectionState::Error);
            let started = node.inspection_started_at.or(rec.and_then(|r| r.started_at)).or(node.provision_updated_at);
            let finished = rec.and_then(|r| r.finished_at).or(node.provision_updated_at).or(node.updated_at);
            let error = node.last_error.clone().or(rec.and_then(|r| r.error.clone())).or(Some("Inspection failed".into()));
            ("error", started.as_ref().map(time), finished.as_ref().map(time), error)
        }
        _ => match latest {
            Some(r) => {
                let state = match r.state {
                    InspectionState::Processing => "reapplying",
                    InspectionState::Finished => "finished",
                    InspectionState::Error => "error",
                };
                let started = r.started_at.unwrap_or(r.received_at);
                (state, Some(time(&started)), r.finished_at.as_ref().map(time), r.error.clone())
            }
            None => {
                let done = node.inspection_finished_at?;
                ("finished", Some(time(&node.inspection_started_at.unwrap_or(done))), Some(time(&done)), None)
            }
        },
    };
    Some(json!({
        "uuid": node.uuid,
        "finished": finished.is_some(),
        "state": state,
        "started_at": started,
        "finished_at": finished,
        "error": error,
        "links": [{"rel": "self", "href": format!("{base}/v1/introspection/{}", node.uuid)}],
    }))
}

async fn latest_of(s: &AppState, node: &str) -> IResult<Option<Inspection>> {
    Ok(s.store().list_inspections(node).await?.into_iter().last())
}

async fn status(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> IResult<Json<Value>> {
    let node = find_node(&s, &id).await?;
    let latest = latest_of(&s, &node.uuid).await?;
    introspection_status(&node, latest.as_ref(), &base_url(&s, &headers))
        .map(Json)
        .ok_or_else(|| InspectorError::not_found(format!("Could not find node {} in cache", node.uuid)))
}

const STATES: &[&str] = &["starting", "waiting", "processing", "finished", "error", "aborting", "enrolling", "reapplying"];

async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> IResult<Json<Value>> {
    for k in q.keys() {
        if !["marker", "limit", "state"].contains(&k.as_str()) {
            return Err(InspectorError::bad_request(format!("Unknown query parameter {k}")));
        }
    }
    let limit = match q.get("limit") {
        None => s.config.max_limit,
        Some(l) => match l.parse::<usize>() {
            Ok(0) => s.config.max_limit,
            Ok(n) if n <= s.config.max_limit => n,
            Ok(n) => return Err(InspectorError::bad_request(format!("Limit is over the maximum value {}: {n}", s.config.max_limit))),
            Err(_) => return Err(InspectorError::bad_request(format!("Limit has to be a positive number: {l}"))),
        },
    };
    let states: Option<Vec<String>> = match q.get("state") {
        None => None,
        Some(v) => {
            let want: Vec<String> = v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
            for w in &want {
                if !STATES.contains(&w.as_str()) {
                    return Err(InspectorError::bad_request(format!("State {w} is not a valid state; valid states: {}", STATES.join(", "))));
                }
            }
            Some(want)
        }
    };
    if let Some(m) = q.get("marker") {
        if !validate::is_uuid_like(m) {
            return Err(InspectorError::bad_request(format!("Marker not UUID-like: {m}")));
        }
    }
    let base = base_url(&s, &headers);
    let nodes = s.store().list_nodes(Default::default(), Default::default()).await?;
    let latest = s.store().latest_inspections().await?;
    let mut rows: Vec<Value> = nodes.iter().filter_map(|n| introspection_status(n, latest.get(&n.uuid), &base)).collect();
    if let Some(want) = &states {
        rows.retain(|r| r["state"].as_str().is_some_and(|st| want.iter().any(|w| w == st)));
    }
    // Newest first, as the inspector lists them.
    rows.sort_by(|a, b| b["started_at"].as_str().cmp(&a["started_at"].as_str()).then(a["uuid"].as_str().cmp(&b["uuid"].as_str())));
    if let Some(m) = q.get("marker") {
        match rows.iter().position(|r| r["uuid"] == m.as_str()) {
            Some(i) => {
                rows.drain(..=i);
            }
            None => return Err(InspectorError::not_found(format!("Node {m} was not found"))),
        }
    }
    rows.truncate(limit);
    Ok(Json(json!({"introspection": rows})))
}

async fn start(State(s): State<AppState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> IResult<StatusCode> {
    let manage_boot = match q.get("manage_boot").map(|v| v.to_ascii_lowercase()) {
        None => true,
        Some(v) if ["1", "t", "true", "on", "y", "yes"].contains(&v.as_str()) => true,
        Some(v) if ["0", "f", "false", "off", "n", "no"].contains(&v.as_str()) => false,
        Some(v) => return Err(InspectorError::bad_request(format!("Invalid boolean value for manage_boot: {v}"))),
    };
    if !manage_boot {
        return Err(InspectorError::bad_request(
            "manage_boot=False is not supported: ferric boots the node into the inspection ramdisk through its power and management interfaces",
        ));
    }
    let node = find_node(&s, &id).await?;
    if ![S::Manageable, S::InspectFailed].contains(&node.provision_state) {
        return Err(InspectorError::bad_request(format!(
            "Node {} has an invalid provision state \"{}\" for introspection, valid states are \"manageable\", \"inspect failed\"",
            node.uuid, node.provision_state
        )));
    }
    let uuid = node.uuid.clone();
    crate::retry_locked(&s, || async { Ok(s.conductor.provision(&uuid, Event::Inspect, ProvisionArgs::default()).await?) }).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn abort(State(s): State<AppState>, Path(id): Path<String>) -> IResult<StatusCode> {
    let node = find_node(&s, &id).await?;
    if node.provision_state != S::InspectWait {
        return Err(InspectorError::bad_request(format!(
            "Node {} can not be aborted: its introspection is not waiting for the ramdisk (provision state \"{}\")",
            node.uuid, node.provision_state
        )));
    }
    let uuid = node.uuid.clone();
    crate::retry_locked(&s, || async { Ok(s.conductor.provision(&uuid, Event::Abort, ProvisionArgs::default()).await?) }).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The newest inspection of the node that has processed data.
async fn processed(s: &AppState, node: &Node) -> IResult<Value> {
    let list = s.store().list_inspections(&node.uuid).await?;
    for rec in list.iter().rev().filter(|r| r.state == InspectionState::Finished) {
        if let Some((inventory, plugin_data)) = s.store().get_inspection_data(&rec.uuid).await?.processed {
            let mut out = match plugin_data {
                Value::Object(o) => o,
                _ => Default::default(),
            };
            inspector_interfaces(&mut out);
            out.insert("inventory".into(), inventory);
            return Ok(Value::Object(out));
        }
    }
    Err(InspectorError::not_found(format!("Introspection data not found for node {}, processed=True", node.uuid)))
}

/// Ironic's `all_interfaces` entries are inventory interfaces; the inspector's had `mac`,
/// `ip`, `pxe` and `lldp_processed`, which its client reads (`introspection interface list`).
/// Add those names beside Ironic's.
fn inspector_interfaces(data: &mut serde_json::Map<String, Value>) {
    let parsed = data.get("parsed_lldp").cloned().unwrap_or(Value::Null);
    let Some(Value::Object(all)) = data.get_mut("all_interfaces") else { return };
    for (name, iface) in all.iter_mut() {
        let Value::Object(i) = iface else { continue };
        if !i.contains_key("mac") {
            let mac = i.get("mac_address").cloned().unwrap_or(Value::Null);
            i.insert("mac".into(), mac);
        }
        if !i.contains_key("ip") {
            let ip = [i.get("ipv4_address"), i.get("ipv6_address")].into_iter().flatten().find(|v| v.is_string()).cloned();
            i.insert("ip".into(), ip.unwrap_or(Value::Null));
        }
        if !i.contains_key("pxe") {
            let pxe = i.get("pxe_enabled").cloned().unwrap_or(Value::Bool(false));
            i.insert("pxe".into(), pxe);
        }
        if !i.contains_key("lldp_processed") {
            if let Some(p) = parsed.get(name) {
                i.insert("lldp_processed".into(), p.clone());
            }
        }
    }
}

async fn data(State(s): State<AppState>, Path(id): Path<String>) -> IResult<Json<Value>> {
    let node = find_node(&s, &id).await?;
    Ok(Json(processed(&s, &node).await?))
}

async fn unprocessed(State(s): State<AppState>, Path(id): Path<String>) -> IResult<Json<Value>> {
    let node = find_node(&s, &id).await?;
    match latest_of(&s, &node.uuid).await? {
        Some(rec) => Ok(Json(s.store().get_inspection_data(&rec.uuid).await?.raw)),
        None => Err(InspectorError::not_found(format!("Introspection data not found for node {}, processed=False", node.uuid))),
    }
}

/// `POST .../data/unprocessed`: process the stored (or given, 1.15) report again.
async fn reapply(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> IResult<StatusCode> {
    let report = if body.is_empty() {
        None
    } else {
        let v: Value = serde_json::from_slice(&body).map_err(|e| InspectorError::bad_request(format!("Invalid data: expected a JSON object, got {e}")))?;
        if !v.is_object() {
            return Err(InspectorError::bad_request(format!("Invalid data: expected a JSON object, got {}", json_type(&v))));
        }
        Some(v)
    };
    let node = find_node(&s, &id).await?;
    let uuid = node.uuid.clone();
    let conductor = s.conductor.clone();
    crate::retry_locked(&s, || {
        let report = report.clone();
        let uuid = uuid.clone();
        let conductor = conductor.clone();
        async move { Ok(conductor.reapply_inspection(&uuid, report).await?) }
    })
    .await?;
    Ok(StatusCode::ACCEPTED)
}

// ---------------------------------------------------------------------------- rules
// The inspector's rule format, stored as posted (normalised as the inspector returns it) and
// translated onto the Ironic rules engine when inspections are processed
// (`ferric_core::rules::legacy`).

fn rule_json(doc: &Value, base: &str, short: bool) -> Value {
    let uuid = doc["uuid"].as_str().unwrap_or_default();
    let mut out = json!({
        "uuid": uuid,
        "description": doc["description"],
        "scope": doc["scope"],
        "links": [{"href": format!("{base}/v1/rules/{uuid}"), "rel": "self"}],
    });
    if !short {
        out["conditions"] = doc["conditions"].clone();
        out["actions"] = doc["actions"].clone();
    }
    out
}

async fn list_rules(State(s): State<AppState>, headers: HeaderMap) -> IResult<Json<Value>> {
    let base = base_url(&s, &headers);
    let rules: Vec<Value> = s.store().list_inspector_rules().await?.iter().map(|d| rule_json(d, &base, true)).collect();
    Ok(Json(json!({"rules": rules})))
}

async fn create_rule(
    State(s): State<AppState>,
    IVersion(major, minor): IVersion,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> IResult<(StatusCode, Json<Value>)> {
    let body: Value = serde_json::from_slice(&body).map_err(|e| InspectorError::bad_request(format!("Invalid JSON: {e}")))?;
    let Some(o) = body.as_object() else {
        return Err(InspectorError::bad_request(format!("Invalid data: expected a JSON object, got {}", json_type(&body))));
    };
    let uuid = match o.get("uuid") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(u)) if u.is_empty() => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(u)) if validate::is_uuid_like(u) => u.to_lowercase(),
        Some(_) => return Err(InspectorError::bad_request("Invalid UUID value")),
    };
    if o.get("scope").and_then(Value::as_str).is_some_and(|sc| sc.chars().count() > 255) {
        return Err(InspectorError::bad_request("Invalid scope: the length of the scope should be within 255 characters"));
    }
    // Validation is the translation: what the engine cannot run is refused here.
    ferric_core::rules::legacy::translate(&body).map_err(InspectorError::bad_request)?;
    let conditions: Vec<Value> = o
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let mut c = c.clone();
            if let Some(m) = c.as_object_mut() {
                m.entry("multiple").or_insert(json!("any"));
                m.entry("invert").or_insert(json!(false));
            }
            c
        })
        .collect();
    let doc = json!({
        "uuid": uuid,
        "description": o.get("description").cloned().unwrap_or(Value::Null),
        "scope": o.get("scope").cloned().unwrap_or(Value::Null),
        "conditions": conditions,
        "actions": o.get("actions").cloned().unwrap_or(json!([])),
    });
    match s.store().create_inspector_rule(&uuid, &doc).await {
        Ok(()) => {}
        Err(ferric_store::StoreError::Duplicate { .. }) => {
            return Err(InspectorError::new(StatusCode::CONFLICT, format!("Rule with UUID {uuid} already exists")))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(rule = %uuid, "inspector rule created");
    // 201 since 1.6, 200 before, as the inspector answers.
    let code = if (major, minor) < (1, 6) { StatusCode::OK } else { StatusCode::CREATED };
    Ok((code, Json(rule_json(&doc, &base_url(&s, &headers), false))))
}

async fn show_rule(State(s): State<AppState>, headers: HeaderMap, Path(uuid): Path<String>) -> IResult<Json<Value>> {
    match s.store().get_inspector_rule(&uuid).await {
        Ok(d) => Ok(Json(rule_json(&d, &base_url(&s, &headers), false))),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(InspectorError::not_found(format!("Rule {uuid} was not found"))),
        Err(e) => Err(e.into()),
    }
}

async fn delete_rule(State(s): State<AppState>, Path(uuid): Path<String>) -> IResult<StatusCode> {
    match s.store().delete_inspector_rule(&uuid).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(InspectorError::not_found(format!("Rule {uuid} was not found"))),
        Err(e) => Err(e.into()),
    }
}

async fn delete_rules(State(s): State<AppState>) -> IResult<StatusCode> {
    s.store().delete_all_inspector_rules().await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The agent's endpoints: `GET /v1/lookup` and `POST /v1/heartbeat/{node}` (API 1.22).
//! Unauthenticated, as upstream; the agent proves itself with the token handed out at lookup.

use crate::wire::{links, mask};
use crate::{accepted, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferric_core::version::feature as f;
use ferric_core::{validate, Node};
use ferric_store::PortFilter;
use serde_json::{json, Value};
use std::collections::HashMap;

const TOKEN_KEY: &str = ferric_store::AGENT_TOKEN;

pub fn routes(max_inspection_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/lookup", get(lookup))
        .route("/heartbeat/{node}", post(heartbeat))
        // pecan also takes the node from the body: `POST /v1/heartbeat {"node_ident": ...}`.
        .route("/heartbeat", post(heartbeat_body))
        .route(
            "/continue_inspection",
            post(continue_inspection).layer(axum::extract::DefaultBodyLimit::max(max_inspection_bytes)),
        )
}

fn enabled(s: &AppState, v: ferric_core::Version) -> ApiResult<()> {
    if !s.config.ramdisk_endpoints || !v.at_least(f::LOOKUP_HEARTBEAT) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}

fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Compare without an early exit, so timing does not reveal the token.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn lookup(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    enabled(&s, v)?;
    let addresses: Vec<String> = q
        .get("addresses")
        .map(|a| a.split(',').filter_map(|m| validate::normalize_mac(m.trim())).collect())
        .unwrap_or_default();
    let node_uuid = q.get("node_uuid").filter(|u| !u.is_empty()).cloned();
    if addresses.is_empty() && node_uuid.is_none() {
        return Err(ApiError::bad_request("Either node UUID or addresses are required for lookup"));
    }
    let not_found = || ApiError::not_found("Node could not be found.");
    let node: Node = match node_uuid {
        Some(u) => s.store().get_node(&u).await.map_err(|_| not_found())?,
        None => {
            let ports = s.store().list_ports(PortFilter { addresses: Some(addresses), ..Default::default() }, Default::default()).await?;
            let mut nodes: Vec<String> = ports.into_iter().map(|p| p.node_uuid).collect();
            nodes.sort();
            nodes.dedup();
            match nodes.as_slice() {
                [one] => s.store().get_node(one).await?,
                [] => return Err(not_found()),
                _ => return Err(ApiError::not_found("The addresses match more than one node; lookup is ambiguous.")),
            }
        }
    };
    if !node.provision_state.lookup_allowed() {
        return Err(not_found());
    }
    // The token is handed out once; later lookups see it masked.
    let (node, issued) = issue_token(&s, &node).await?;
    let token_out = Some(issued.unwrap_or_else(|| "******".to_string()));
    Ok(Json(lookup_response(&s, &node, token_out, &b)))
}

/// The `{node, config}` document lookup (and continue_inspection from 1.84) answers with.
fn lookup_response(s: &AppState, node: &Node, token: Option<String>, b: &str) -> Value {
    let mut dii = node.driver_internal_info.clone();
    dii.remove(TOKEN_KEY);
    let token_out = token;
    json!({
        "node": {
            "uuid": node.uuid,
            "properties": node.properties,
            "instance_info": mask(&node.instance_info),
            "driver_internal_info": dii,
            "links": links(&b, &format!("nodes/{}", node.uuid)),
        },
        "config": {
            "heartbeat_timeout": s.config.ramdisk_heartbeat_timeout,
            "agent_token": token_out,
            "agent_token_required": true,
        }
    })
}

/// Issue the node's agent token if it has none yet; `Some(token)` only when issued now.
/// A node locked by a task (the conductor that is booting it into the ramdisk: a fast
/// machine looks up before that task is over) is retried as Ironic's `get_node_with_token`
/// retries its lock upgrade, then answered 409, after which the agent pauses and looks up
/// again. A masked token instead would be final: an agent without one gives up.
async fn issue_token(s: &AppState, node: &Node) -> ApiResult<(Node, Option<String>)> {
    if node.driver_internal_info.contains_key(TOKEN_KEY) {
        return Ok((node.clone(), None));
    }
    let token = new_token();
    crate::retry_locked(s, || {
        let t = token.clone();
        async move {
            let t2 = t.clone();
            let r = s
                .store()
                .update_node(&node.uuid, None, move |n| {
                    if n.driver_internal_info.contains_key(TOKEN_KEY) {
                        return Err(()); // another caller won the race
                    }
                    n.driver_internal_info.insert(TOKEN_KEY.into(), Value::String(t2));
                    Ok(())
                })
                .await?;
            Ok(match r {
                Ok(n) => (n, Some(t)),
                Err(()) => (node.clone(), None),
            })
        }
    })
    .await
}

/// `POST /v1/continue_inspection`: the ramdisk's report. Served at 1.1 (IPA and the
/// inspector protocol send no version) and from 1.84; unauthenticated as upstream, but size
/// limited, validated before anything is touched, and refused for nodes not waiting for it.
async fn continue_inspection(
    State(s): State<AppState>,
    ApiVersion(v): ApiVersion,
    BaseUrl(b): BaseUrl,
    Query(q): Query<HashMap<String, String>>,
    ext: axum::http::Extensions,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    if let Err((ip, wait)) = s.limit_callback(crate::peer(&ext)) {
        tracing::warn!(%ip, "too many inspection reports from one address");
        let mut r = ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, format!("Too many inspection reports from {ip}; retry in {wait} s.")).into_response();
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, wait.into());
        return Ok(r);
    }
    let body = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(e.status(), format!("Inspection data is larger than the {} bytes this API accepts.", s.config.max_inspection_bytes))
        } else {
            ApiError::bad_request(format!("Could not read the request body: {e}"))
        }
    })?;
    if !s.config.ramdisk_endpoints {
        return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "Access was denied to this resource."));
    }
    let new_api = v.at_least(f::CONTINUE_INSPECTION);
    let node_uuid = q.get("node_uuid").filter(|u| !u.is_empty()).cloned();
    if !(new_api || v.minor() == 1) || (node_uuid.is_some() && !new_api) {
        return Err(ApiError::not_found(format!("API version 1.{} or newer is required", f::CONTINUE_INSPECTION)));
    }
    if let Some(u) = &node_uuid {
        if !validate::is_uuid_like(u) {
            return Err(ApiError::bad_request(format!("Expected a UUID but received {u}.")));
        }
    }
    let data: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("Invalid JSON in the request body: {e}")))?;
    let report = Report::parse(data)?;
    if report.macs.is_empty() && report.bmcs.is_empty() && node_uuid.is_none() {
        return Err(ApiError::bad_request("No lookup information provided"));
    }
    let node = report.find_node(&s, node_uuid.as_deref()).await?;
    // From 1.84 the answer carries a token, which needs the node unlocked: issue it first.
    let (node, token) = if new_api { issue_token(&s, &node).await? } else { (node, None) };
    report.hand_over(&s, &node.uuid).await?;
    let body = if new_api {
        lookup_response(&s, &node, Some(token.unwrap_or_else(|| "******".into())), &b)
    } else {
        json!({"uuid": node.uuid})
    };
    Ok((axum::http::StatusCode::ACCEPTED, Json(body)).into_response())
}

/// An inspection report, checked and with its lookup keys.
pub(crate) struct Report {
    pub inventory: Value,
    pub plugin_data: serde_json::Map<String, Value>,
    pub macs: Vec<String>,
    pub bmcs: Vec<String>,
    /// The system serial (placeholders excluded).
    pub serial: Option<String>,
}

impl Report {
    /// Check a report's shape and pull out the MACs and BMC addresses used for lookup.
    pub(crate) fn parse(data: Value) -> ApiResult<Report> {
        let mut data = match data {
            Value::Object(o) => o,
            _ => return Err(ApiError::bad_request("Invalid inspection data: a JSON object is expected")),
        };
        let inventory =
            data.remove("inventory").ok_or_else(|| ApiError::bad_request("Invalid inspection data: 'inventory' is a required property"))?;
        let interfaces = inventory
            .get("interfaces")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ApiError::bad_request("Invalid inspection data: inventory 'interfaces' must be a non-empty list"))?;
        let mut macs = Vec::new();
        for i in interfaces {
            let mac = i.get("mac_address").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request(format!("Invalid inspection data: every interface needs a 'mac_address' string, got {i}"))
            })?;
            if let Some(m) = validate::normalize_mac(mac) {
                macs.push(m);
            }
        }
        for k in ["bmc_address", "bmc_v6address"] {
            if !matches!(inventory.get(k), None | Some(Value::Null) | Some(Value::String(_))) {
                return Err(ApiError::bad_request(format!("Invalid inspection data: '{k}' must be a string or null")));
            }
        }
        let bmcs: Vec<String> = ["bmc_address", "bmc_v6address"]
            .iter()
            .filter_map(|k| inventory.get(*k).and_then(Value::as_str))
            .filter(|a| !a.is_empty() && *a != "0.0.0.0" && *a != "::/0")
            .map(str::to_string)
            .collect();
        let serial = ferric_core::identity::system_serial(&inventory);
        Ok(Report { inventory, plugin_data: data, macs, bmcs, serial })
    }

    /// The node this report belongs to: looked up by UUID, MACs, BMC addresses and system
    /// serial; or, when discovery is on and nothing matches, a node enrolled for it.
    pub(crate) async fn find_node(&self, s: &AppState, node_uuid: Option<&str>) -> ApiResult<ferric_core::Node> {
        match s.conductor.inspection_lookup_with_serial(&self.macs, &self.bmcs, node_uuid, self.serial.as_deref()).await {
            Ok(n) => Ok(n),
            Err(_) if node_uuid.is_none() && s.conductor.config().discovery.is_some() => {
                let d = ferric_conductor::discovery::Discovered {
                    macs: self.macs.clone(),
                    pxe_mac: ferric_core::inspection::pxe_mac(&self.inventory),
                    bmcs: self.bmcs.clone(),
                    serial: self.serial.clone(),
                };
                s.conductor.enroll_discovered(&d).await.map_err(|_| ApiError::not_found("The resource could not be found."))
            }
            Err(_) => Err(ApiError::not_found("The resource could not be found.")),
        }
    }

    /// Give the report to the conductor for the node it was looked up to (retrying while the
    /// node is briefly locked).
    pub(crate) async fn hand_over(self, s: &AppState, node_uuid: &str) -> ApiResult<()> {
        let Report { inventory, plugin_data, .. } = self;
        crate::retry_locked(s, || async { Ok(s.conductor.continue_inspection(node_uuid, inventory.clone(), plugin_data.clone()).await?) })
            .await
            .map_err(|e| if e.status == axum::http::StatusCode::NOT_FOUND { ApiError::not_found("The resource could not be found.") } else { e })
    }
}

async fn heartbeat_body(state: State<AppState>, v: ApiVersion, b: BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let id = body.get("node_ident").and_then(Value::as_str).unwrap_or_default().to_string();
    heartbeat(state, v, b, Path(id), JsonBody(body)).await
}

async fn heartbeat(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Response> {
    enabled(&s, v)?;
    let callback = body.get("callback_url").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("Missing argument: \"callback_url\""))?.to_string();
    let token = body.get("agent_token").and_then(Value::as_str).unwrap_or("").to_string();
    let version = body.get("agent_version").and_then(Value::as_str).map(str::to_string);
    let status = body.get("agent_status").and_then(Value::as_str).map(str::to_string);
    if let Some(st) = &status {
        if !v.at_least(f::AGENT_STATUS) {
            return Err(ApiError::bad_request("agent_status is only accepted from API version 1.72"));
        }
        if !["start", "end", "error"].contains(&st.as_str()) {
            return Err(ApiError::bad_request(format!("Unknown agent_status {st}: valid values are start, end, error")));
        }
    }
    let status_message = body.get("agent_status_message").and_then(Value::as_str).map(str::to_string);
    let store = s.store();
    let node = crate::json_ext::lookup(&id, |i| async move {
        store.agent_view(&i).await.map_err(|_| ApiError::not_found(format!("Node {i} could not be found.")))
    })
    .await?;
    let stored = node.token.as_deref().unwrap_or("");
    if stored.is_empty() || !same_token(stored, &token) {
        return Err(ApiError::bad_request("Invalid or missing agent token received."));
    }
    if !node.provision_state.lookup_allowed() {
        return Err(ApiError::conflict(format!(
            "Node {} is not in a state where it accepts heartbeats ({}).",
            node.uuid, node.provision_state
        )));
    }
    let now = ferric_core::model::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let mut fields = vec![("agent_url", callback), ("agent_last_heartbeat", now)];
    fields.extend(version.map(|v| ("agent_version", v)));
    fields.extend(status.map(|st| ("agent_status", st)));
    fields.extend(status_message.map(|m| ("agent_status_message", m)));
    s.store().record_heartbeat(&node.uuid, fields).await?;
    Ok(accepted(format!("{b}/v1/heartbeat/{id}")))
}

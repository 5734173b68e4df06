//! The agent's endpoints: `GET /v1/lookup` and `POST /v1/heartbeat/{node}` (API 1.22).
//! Unauthenticated, as upstream; the agent proves itself with the token handed out at lookup.

use crate::wire::{links, mask};
use crate::{accepted, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use ferric_core::version::feature as f;
use ferric_core::{validate, Node};
use ferric_store::PortFilter;
use serde_json::{json, Value};
use std::collections::HashMap;

const TOKEN_KEY: &str = "agent_secret_token";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/lookup", get(lookup))
        .route("/heartbeat/{node}", post(heartbeat))
        // pecan also takes the node from the body: `POST /v1/heartbeat {"node_ident": ...}`.
        .route("/heartbeat", post(heartbeat_body))
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
    let mut token_out = Some("******".to_string());
    let mut node = node;
    if !node.driver_internal_info.contains_key(TOKEN_KEY) {
        let t = new_token();
        let t2 = t.clone();
        match s
            .store()
            .update_node(&node.uuid, None, move |n| {
                if n.driver_internal_info.contains_key(TOKEN_KEY) {
                    return Err(()); // another lookup won the race
                }
                n.driver_internal_info.insert(TOKEN_KEY.into(), Value::String(t2));
                Ok(())
            })
            .await
        {
            Ok(Ok(n)) => {
                node = n;
                token_out = Some(t);
            }
            Ok(Err(())) | Err(ferric_store::StoreError::Locked { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut dii = node.driver_internal_info.clone();
    dii.remove(TOKEN_KEY);
    Ok(Json(json!({
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
    })))
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
        store.get_node(&i).await.map_err(|_| ApiError::not_found(format!("Node {i} could not be found.")))
    })
    .await?;
    let stored = node.driver_internal_info.get(TOKEN_KEY).and_then(Value::as_str).unwrap_or("");
    if stored.is_empty() || !same_token(stored, &token) {
        return Err(ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "Invalid or missing agent token received."));
    }
    if !node.provision_state.lookup_allowed() {
        return Err(ApiError::conflict(format!(
            "Node {} is not in a state where it accepts heartbeats ({}).",
            node.uuid, node.provision_state
        )));
    }
    let now = ferric_core::model::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    s.store()
        .update_node(&node.uuid, None, move |n| -> Result<(), ApiError> {
            n.driver_internal_info.insert("agent_url".into(), Value::String(callback.clone()));
            n.driver_internal_info.insert("agent_last_heartbeat".into(), Value::String(now));
            if let Some(v) = &version {
                n.driver_internal_info.insert("agent_version".into(), Value::String(v.clone()));
            }
            if let Some(st) = &status {
                n.driver_internal_info.insert("agent_status".into(), Value::String(st.clone()));
            }
            if let Some(m) = &status_message {
                n.driver_internal_info.insert("agent_status_message".into(), Value::String(m.clone()));
            }
            Ok(())
        })
        .await??;
    Ok(accepted(format!("{b}/v1/heartbeat/{id}")))
}

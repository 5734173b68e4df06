//! `POST /v1/events` (API 1.54): network events from Neutron. ferric validates them with
//! Ironic's schema and records them in the log; no network interface consumes them yet.

use crate::{no_content, ApiError, ApiResult, ApiVersion, AppState, JsonBody};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use ferric_core::validate;
use ferric_core::version::feature as f;
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", post(create))
}

const EVENT_TYPES: &[&str] = &["network.bind_port", "network.unbind_port", "network.delete_port"];
const KEYS: &[&str] = &["event", "port_id", "mac_address", "status", "device_id", "binding:host_id", "binding:vnic_type"];

fn check(e: &Value) -> Result<(), String> {
    let o = e.as_object().ok_or("each event must be an object")?;
    if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("Additional properties are not allowed ('{k}' was unexpected)"));
    }
    for k in ["event", "port_id", "mac_address", "status"] {
        if !o.contains_key(k) {
            return Err(format!("'{k}' is a required property"));
        }
    }
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    if !s("event").is_some_and(|t| EVENT_TYPES.contains(&t)) {
        return Err(format!("{} is not one of {EVENT_TYPES:?}", o["event"]));
    }
    if !s("port_id").is_some_and(validate::is_uuid_like) {
        return Err(format!("{} is not a 'uuid'", o["port_id"]));
    }
    if !s("mac_address").is_some_and(|m| validate::normalize_mac(m).is_some()) {
        return Err(format!("{} is not a 'mac-address'", o["mac_address"]));
    }
    if s("status").is_none() {
        return Err(format!("{} is not of type 'string'", o["status"]));
    }
    for k in ["device_id", "binding:host_id"] {
        match o.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::String(u)) if validate::is_uuid_like(u) => {}
            Some(other) => return Err(format!("{other} is not a 'uuid'")),
        }
    }
    if !matches!(o.get("binding:vnic_type"), None | Some(Value::Null) | Some(Value::String(_))) {
        return Err("'binding:vnic_type' must be a string or null".into());
    }
    Ok(())
}

async fn create(ApiVersion(v): ApiVersion, JsonBody(body): JsonBody) -> ApiResult<Response> {
    if !v.at_least(f::EVENTS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let o = body.as_object().ok_or_else(|| ApiError::bad_request("The request body must be an object with \"events\""))?;
    if let Some(k) = o.keys().find(|k| k.as_str() != "events") {
        return Err(ApiError::bad_request(format!("Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let events = o.get("events").and_then(Value::as_array).ok_or_else(|| ApiError::bad_request("'events' is a required property"))?;
    if events.is_empty() {
        return Err(ApiError::bad_request("[] is too short"));
    }
    for e in events {
        check(e).map_err(|m| ApiError::bad_request(format!("Invalid event: {m}")))?;
    }
    for e in events {
        tracing::info!(event = %e["event"], port = %e["port_id"], status = %e["status"], "network event received");
    }
    Ok(no_content())
}

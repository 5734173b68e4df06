//! `/v1/nodes/{node}/history` (API 1.78): the node's journal of errors and noteworthy events,
//! written by the conductor; read-only here.

use crate::nodes::find as find_node;
use crate::wire::{self, collection, opt_str, ts1};
use crate::{ApiError, ApiResult, ApiVersion, AppState, BaseUrl};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::version::{feature as f, Version};
use ferric_core::{validate, NodeHistory};
use ferric_store::{ListQuery, SortDir, StoreError};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new().route("/nodes/{node}/history", get(list)).route("/nodes/{node}/history/{event}", get(show))
}

fn gate(v: Version) -> ApiResult<()> {
    if !v.at_least(f::NODE_HISTORY) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}

/// Ironic's sort keys: the columns of its `node_history` table. `node_id` is the same for a
/// node's entries and `updated_at` is never set, so both order like `id`.
const SORTABLE: &[&str] = &[
    "id", "uuid", "created_at", "updated_at", "node_id", "severity", "event_type", "event", "conductor", "user",
    "project", "state", "target_provision_state", "duration_seconds",
];

/// Longest `event` text shown in a list without `detail`; longer ones end in `...`.
const SUMMARY_EVENT_CHARS: usize = 255;

fn entry_json(node_uuid: &str, h: &NodeHistory, base: &str, detail: bool, v: Version) -> Value {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(h.uuid));
    m.insert("created_at".into(), ts1(&h.created_at));
    m.insert("severity".into(), json!(h.severity));
    if detail {
        m.insert("event".into(), json!(h.event));
        m.insert("event_type".into(), json!(h.event_type));
        m.insert("conductor".into(), opt_str(&h.conductor));
        m.insert("user".into(), opt_str(&h.user));
        if v.at_least(f::NODE_HISTORY_PROJECT) {
            m.insert("project".into(), opt_str(&h.project));
        }
        if v.at_least(f::NODE_HISTORY_FIELDS) {
            m.insert("state".into(), opt_str(&h.state));
            m.insert("target_provision_state".into(), opt_str(&h.target_provision_state));
            m.insert("duration_seconds".into(), json!(h.duration_seconds));
        }
    } else if h.event.chars().count() > SUMMARY_EVENT_CHARS {
        let cut: String = h.event.chars().take(SUMMARY_EVENT_CHARS - 4).collect();
        m.insert("event".into(), json!(format!("{cut}...")));
    } else {
        m.insert("event".into(), json!(h.event));
    }
    // Only a self link, as Ironic.
    m.insert("links".into(), json!([wire::link(base, "self", &format!("nodes/{node_uuid}/history/{}", h.uuid))]));
    Value::Object(m)
}

fn not_found(ident: &str) -> ApiError {
    ApiError::not_found(format!("Node history record {ident} could not be found."))
}

/// `GET /v1/nodes/{node}/history`: oldest first unless sorted otherwise. Ironic takes
/// `detail`, `marker`, `limit`, `sort_key` and `sort_dir` here; anything else, `fields`
/// included, is a 400.
async fn list(
    State(s): State<AppState>,
    ApiVersion(v): ApiVersion,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    gate(v)?;
    // The parameters' own shapes first (Ironic's `args.validate`).
    wire::only_params(&q, &["detail", "marker", "limit", "sort_key", "sort_dir"])?;
    let detail = match q.get("detail") {
        None => false,
        Some(d) => wire::parse_bool("detail", d).map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid detail: Unrecognized value '{d}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
            ))
        })?,
    };
    let marker = q.get("marker").cloned();
    if let Some(m) = &marker {
        if !validate::is_uuid_like(m) {
            return Err(ApiError::bad_request(format!("Expected UUID for marker: {m}")));
        }
    }
    let limit = match q.get("limit") {
        None => None,
        Some(l) => Some(l.trim().parse::<i64>().map_err(|_| ApiError::bad_request(format!("Expected an integer for limit: {l}")))?),
    };
    let node = find_node(&s, &id, v).await?;
    if let Some(m) = &marker {
        match s.store().get_node_history(m).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => return Err(not_found(m)),
            Err(e) => return Err(e.into()),
        }
    }
    let max = s.config.max_limit;
    let limit = match limit {
        None => max,
        Some(n) if n <= 0 => return Err(ApiError::bad_request("Limit must be positive")),
        Some(n) => (n as usize).min(max),
    };
    let sort_dir = match q.get("sort_dir").map(String::as_str) {
        None | Some("asc") => SortDir::Asc,
        Some("desc") => SortDir::Desc,
        Some(other) => {
            return Err(ApiError::bad_request(format!("Invalid sort direction: {other}. Acceptable values are 'asc' or 'desc'")))
        }
    };
    let sort_key = q.get("sort_key").map(String::as_str).unwrap_or("created_at");
    if !SORTABLE.contains(&sort_key) {
        return Err(ApiError::bad_request(format!("The sort_key value \"{sort_key}\" is an invalid field for sorting")));
    }
    let sort_key = match sort_key {
        "node_id" | "updated_at" => "id",
        k => k,
    };
    let lq = ListQuery { limit: Some(limit), marker, sort_key: Some(sort_key.to_string()), sort_dir };
    let items = s.store().list_node_history(&node.uuid, lq).await?;
    let last = items.last().map(|h| h.uuid.clone());
    let out = items.iter().map(|h| entry_json(&node.uuid, h, &b, detail, v)).collect();
    Ok(Json(collection("history", out, last, limit, &b, &format!("nodes/{id}/history"), &q)))
}

/// `GET /v1/nodes/{node}/history/{event}`: one entry, in detail.
async fn show(
    State(s): State<AppState>,
    ApiVersion(v): ApiVersion,
    BaseUrl(b): BaseUrl,
    Path((id, event)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    gate(v)?;
    wire::only_params(&q, &[])?;
    if !validate::is_uuid_like(&event) && !validate::is_valid_logical_name(&event) {
        return Err(ApiError::bad_request(format!("Expected UUID or name for event: {event}")));
    }
    let node = find_node(&s, &id, v).await?;
    let h = match s.store().get_node_history(&event).await {
        // Ironic finds an entry of any node here; ferric only the node's own.
        Ok(h) if h.node_uuid == node.uuid => h,
        Ok(_) | Err(StoreError::NotFound { .. }) => return Err(not_found(&event)),
        Err(e) => return Err(e.into()),
    };
    Ok(Json(entry_json(&node.uuid, &h, &b, true, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str) -> NodeHistory {
        NodeHistory { uuid: "e1".into(), event: event.into(), conductor: Some("c1".into()), ..Default::default() }
    }

    #[test]
    fn summaries_truncate_long_events_and_details_do_not() {
        let long = "é".repeat(300);
        let s = entry_json("n1", &entry(&long), "http://h", false, Version(78));
        let shown = s["event"].as_str().unwrap();
        assert_eq!(shown.chars().count(), 254);
        assert!(shown.ends_with("éé..."));
        assert!(s.get("event_type").is_none() && s.get("conductor").is_none());
        assert_eq!(s["links"], json!([{"href": "http://h/v1/nodes/n1/history/e1", "rel": "self"}]));
        let exact = "x".repeat(255);
        assert_eq!(entry_json("n1", &entry(&exact), "http://h", false, Version(78))["event"], json!(exact));
        let d = entry_json("n1", &entry(&long), "http://h", true, Version(78));
        assert_eq!(d["event"], json!(long));
        assert_eq!((d["conductor"].as_str(), d["user"].is_null()), (Some("c1"), true));
        assert!(d.get("project").is_none() && d.get("state").is_none());
        let d = entry_json("n1", &entry("x"), "http://h", true, Version(115));
        assert!(d.get("project").is_some() && d.get("duration_seconds").is_some());
    }
}

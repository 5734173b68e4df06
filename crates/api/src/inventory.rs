//! `/v1/nodes/{node}/inventory` (API 1.81): the node's latest inspection data, as saved by
//! inspection through `Store::save_inventory`.

use crate::nodes::find as find_node;
use crate::{ApiError, ApiResult, ApiVersion, AppState};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::version::feature as f;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new().route("/nodes/{node}/inventory", get(show))
}

async fn show(
    State(s): State<AppState>,
    ApiVersion(v): ApiVersion,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    if !v.at_least(f::NODE_INVENTORY) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    crate::wire::only_params(&q, &[])?;
    let node = find_node(&s, &id, v).await?;
    match s.store().get_inventory(&node.uuid).await? {
        Some(inv) => Ok(Json(json!({"inventory": inv.inventory, "plugin_data": inv.plugin_data}))),
        // Ironic names the node by its database id here.
        None => Err(ApiError::not_found(format!("Node inventory record for node {} could not be found.", node.id))),
    }
}

// ------------------------------------------------------------------ inspection history
// ferric's extension: every inspection is kept, not only the latest data. Served from the
// API version that has the node inventory (1.81), under the node.

pub fn history_routes() -> Router<AppState> {
    Router::new()
        .route("/nodes/{node}/inspections", get(list_inspections))
        .route("/nodes/{node}/inspections/diff", get(diff))
        .route("/nodes/{node}/inspections/{id}", get(show_inspection))
}

fn inspection_json(i: &ferric_core::Inspection, index: usize, base: &str) -> Value {
    json!({
        "uuid": i.uuid,
        "index": index,
        "node_uuid": i.node_uuid,
        "state": i.state.as_str(),
        "started_at": crate::wire::ts(&i.started_at),
        "received_at": crate::wire::ts1(&i.received_at),
        "finished_at": crate::wire::ts(&i.finished_at),
        "error": i.error,
        "links": crate::wire::links(base, &format!("nodes/{}/inspections/{}", i.node_uuid, i.uuid)),
    })
}

async fn node_inspections(s: &AppState, id: &str, v: ferric_core::Version) -> ApiResult<(ferric_core::Node, Vec<ferric_core::Inspection>)> {
    if !v.at_least(f::NODE_INVENTORY) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let node = find_node(s, id, v).await?;
    let list = s.store().list_inspections(&node.uuid).await?;
    Ok((node, list))
}

/// An inspection of `list` by UUID, by 1-based index, or counting back from the newest
/// (`-1` is the newest).
fn pick<'a>(list: &'a [ferric_core::Inspection], node: &ferric_core::Node, which: &str) -> ApiResult<(usize, &'a ferric_core::Inspection)> {
    let found = match which.parse::<i64>() {
        Ok(n) if n > 0 => list.get(n as usize - 1).map(|i| (n as usize, i)),
        Ok(n) if n < 0 => list.len().checked_sub(n.unsigned_abs() as usize).map(|k| (k + 1, &list[k])),
        Ok(_) => None,
        Err(_) => list.iter().enumerate().find(|(_, i)| i.uuid == which).map(|(k, i)| (k + 1, i)),
    };
    found.ok_or_else(|| ApiError::not_found(format!("Inspection {which} of node {} could not be found.", node.uuid)))
}

async fn list_inspections(
    State(s): State<AppState>,
    ApiVersion(v): ApiVersion,
    crate::BaseUrl(b): crate::BaseUrl,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    crate::wire::only_params(&q, &[])?;
    let (_, list) = node_inspections(&s, &id, v).await?;
    let items: Vec<Value> = list.iter().enumerate().map(|(k, i)| inspection_json(i, k + 1, &b)).collect();
    Ok(Json(json!({"inspections": items})))
}

async fn show_inspection(
    State(s): State<AppState>,
    ApiVersion(v): ApiVersion,
    crate::BaseUrl(b): crate::BaseUrl,
    Path((id, which)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    crate::wire::only_params(&q, &["raw"])?;
    let raw = match q.get("raw").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(x) => return Err(ApiError::bad_request(format!("Invalid value for raw: {x}; true or false"))),
    };
    let (node, list) = node_inspections(&s, &id, v).await?;
    let (index, rec) = pick(&list, &node, &which)?;
    let data = s.store().get_inspection_data(&rec.uuid).await?;
    let mut out = inspection_json(rec, index, &b);
    let (inventory, plugin_data) = data.processed.unwrap_or((Value::Null, Value::Null));
    out["inventory"] = inventory;
    out["plugin_data"] = plugin_data;
    if raw {
        out["raw"] = data.raw;
    }
    Ok(Json(out))
}

/// What changed between two finished inspections: `from` and `to` as UUIDs or indexes
/// (default: the two newest finished ones).
async fn diff(
    State(s): State<AppState>,
    ApiVersion(v): ApiVersion,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    crate::wire::only_params(&q, &["from", "to"])?;
    let (node, list) = node_inspections(&s, &id, v).await?;
    let finished: Vec<(usize, &ferric_core::Inspection)> =
        list.iter().enumerate().filter(|(_, i)| i.state == ferric_core::InspectionState::Finished).map(|(k, i)| (k + 1, i)).collect();
    let to = match q.get("to") {
        Some(w) => pick(&list, &node, w)?,
        None => *finished.last().ok_or_else(|| ApiError::bad_request(format!("Node {} has no finished inspection to compare.", node.uuid)))?,
    };
    let from = match q.get("from") {
        Some(w) => pick(&list, &node, w)?,
        None => *finished.iter().rev().find(|(k, _)| *k < to.0).ok_or_else(|| {
            ApiError::bad_request(format!("Node {} has no finished inspection before inspection {} to compare it with.", node.uuid, to.0))
        })?,
    };
    let load = |rec: &ferric_core::Inspection| {
        let s = s.clone();
        let uuid = rec.uuid.clone();
        let index = list.iter().position(|i| i.uuid == uuid).map(|k| k + 1).unwrap_or(0);
        async move {
            match s.store().get_inspection_data(&uuid).await?.processed {
                Some(p) => Ok(p),
                None => Err(ApiError::bad_request(format!("Inspection {index} ({uuid}) has no processed data (it did not finish)."))),
            }
        }
    };
    let (a, b) = (load(from.1).await?, load(to.1).await?);
    let changes = ferric_core::inventory_diff::diff(
        ferric_core::inventory_diff::Report { inventory: &a.0, plugin_data: &a.1 },
        ferric_core::inventory_diff::Report { inventory: &b.0, plugin_data: &b.1 },
    );
    let side = |(k, i): (usize, &ferric_core::Inspection)| {
        json!({"uuid": i.uuid, "index": k, "finished_at": crate::wire::ts(&i.finished_at)})
    };
    Ok(Json(json!({"node_uuid": node.uuid, "from": side(from), "to": side(to), "changes": changes})))
}

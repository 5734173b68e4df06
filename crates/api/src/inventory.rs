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

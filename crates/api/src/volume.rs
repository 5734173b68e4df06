//! `/v1/volume`: connectors and targets (API 1.32).

use crate::nodes::find as find_node;
use crate::wire::{self, collection, links, parse_bool, ts, ts1};
use crate::{created, no_content, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::model::VOLUME_CONNECTOR_TYPES;
use ferric_core::version::{feature as f, Version};
use ferric_core::{validate, Node, PowerState, VolumeConnector, VolumeTarget};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volume", get(root))
        .route("/volume/connectors", get(list_connectors).post(create_connector))
        .route("/volume/connectors/{id}", get(show_connector).patch(patch_connector).delete(delete_connector))
        .route("/volume/targets", get(list_targets).post(create_target))
        .route("/volume/targets/{id}", get(show_target).patch(patch_target).delete(delete_target))
        .route("/nodes/{node}/volume", get(node_root))
        .route("/nodes/{node}/volume/connectors", get(node_connectors))
        .route("/nodes/{node}/volume/targets", get(node_targets))
}

fn gate(v: Version) -> ApiResult<()> {
    if !v.at_least(f::VOLUME) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}

async fn root(ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl) -> ApiResult<Json<Value>> {
    gate(v)?;
    Ok(Json(json!({
        "links": links(&b, "volume"),
        "connectors": links(&b, "volume/connectors"),
        "targets": links(&b, "volume/targets"),
    })))
}

async fn node_root(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    gate(v)?;
    let n = find_node(&s, &id, v).await?;
    Ok(Json(json!({
        "links": links(&b, &format!("nodes/{}/volume", n.uuid)),
        "connectors": links(&b, &format!("nodes/{}/volume/connectors", n.uuid)),
        "targets": links(&b, &format!("nodes/{}/volume/targets", n.uuid)),
    })))
}

/// Ironic changes a node's volume records only while it is powered off.
fn require_power_off(node: &Node, action: &str) -> ApiResult<()> {
    if node.power_state != Some(PowerState::Off) {
        return Err(ApiError::bad_request(format!(
            "The requested action \"{action}\" can not be performed on node \"{}\" while it is in state \"{}\".",
            node.uuid,
            node.power_state.map(|p| p.as_str()).unwrap_or("None")
        )));
    }
    if let Some(holder) = &node.reservation {
        return Err(ApiError::node_locked(&node.uuid, holder));
    }
    Ok(())
}

/// The node of a volume record, once nobody holds its lock (a power change finishing).
async fn settled_node(s: &AppState, uuid: &str) -> ApiResult<Node> {
    crate::retry_locked(s, || async {
        let n = s.store().get_node(uuid).await?;
        match &n.reservation {
            Some(holder) => Err(ApiError::node_locked(&n.uuid, holder)),
            None => Ok(n),
        }
    })
    .await
}

fn connector_json(c: &VolumeConnector, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(c.uuid));
    m.insert("node_uuid".into(), json!(c.node_uuid));
    m.insert("type".into(), json!(c.kind));
    m.insert("connector_id".into(), json!(c.connector_id));
    m.insert("extra".into(), Value::Object(c.extra.clone()));
    m.insert("created_at".into(), ts1(&c.created_at));
    m.insert("updated_at".into(), ts(&c.updated_at));
    m.insert("links".into(), links(base, &format!("volume/connectors/{}", c.uuid)));
    m
}

fn target_json(t: &VolumeTarget, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(t.uuid));
    m.insert("node_uuid".into(), json!(t.node_uuid));
    m.insert("volume_type".into(), json!(t.volume_type));
    m.insert("volume_id".into(), json!(t.volume_id));
    m.insert("boot_index".into(), json!(t.boot_index));
    m.insert("properties".into(), Value::Object(t.properties.clone()));
    m.insert("extra".into(), Value::Object(t.extra.clone()));
    m.insert("created_at".into(), ts1(&t.created_at));
    m.insert("updated_at".into(), ts(&t.updated_at));
    m.insert("links".into(), links(base, &format!("volume/targets/{}", t.uuid)));
    m
}

const CONNECTOR_FIELDS: &[&str] = &["uuid", "node_uuid", "type", "connector_id", "extra", "created_at", "updated_at"];
const TARGET_FIELDS: &[&str] = &["uuid", "node_uuid", "volume_type", "volume_id", "boot_index", "properties", "extra", "created_at", "updated_at"];

/// Common list handling; `summary` picks the fields of a non-detailed item.
async fn list_of<T>(
    s: &AppState,
    v: Version,
    b: &str,
    q: &HashMap<String, String>,
    path: &str,
    known: &[&str],
    summary: &[&str],
    node: Option<String>,
    fetch: impl AsyncFnOnce(Option<String>, ferric_store::ListQuery) -> ApiResult<Vec<T>>,
    render: impl Fn(&T) -> Map<String, Value>,
    uuid_of: impl Fn(&T) -> String,
    name: &str,
) -> ApiResult<Value> {
    gate(v)?;
    let detail = q.get("detail").map(|d| parse_bool("detail", d)).transpose()?.unwrap_or(false);
    let fields = wire::parse_fields(q.get("fields"), v, known)?;
    if detail && fields.is_some() {
        return Err(ApiError::bad_request("Can not specify ?detail=True and fields in the same request."));
    }
    let node = match (node, q.get("node")) {
        (Some(n), _) => Some(n),
        (None, Some(n)) => Some(find_node(s, n, v).await.map_err(|_| ApiError::bad_request(format!("Node {n} could not be found.")))?.uuid),
        (None, None) => None,
    };
    let lq = wire::list_query(q, s.config.max_limit, known)?;
    let limit = lq.limit.unwrap_or(s.config.max_limit);
    let items = fetch(node, lq).await?;
    let last = items.last().map(&uuid_of);
    let summary_fields = Some(summary.iter().map(|f| f.to_string()).collect::<Vec<_>>());
    let out = items
        .iter()
        .map(|i| if detail { Value::Object(render(i)) } else { wire::select(render(i), if fields.is_some() { &fields } else { &summary_fields }) })
        .collect();
    Ok(collection(name, out, last, limit, b, path, q))
}

async fn list_connectors(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    connectors(&s, v, &b, &q, "volume/connectors", None).await
}

async fn node_connectors(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v)?;
    let n = find_node(&s, &id, v).await?;
    connectors(&s, v, &b, &q, &format!("nodes/{id}/volume/connectors"), Some(n.uuid)).await
}

async fn connectors(s: &AppState, v: Version, b: &str, q: &HashMap<String, String>, path: &str, node: Option<String>) -> ApiResult<Json<Value>> {
    let store = s.store().clone();
    let out = list_of(
        s, v, b, q, path, CONNECTOR_FIELDS, &["uuid", "type", "connector_id", "node_uuid"], node,
        async move |n, lq| Ok(store.list_volume_connectors(n, lq).await?),
        |c| connector_json(c, b),
        |c| c.uuid.clone(),
        "connectors",
    )
    .await?;
    Ok(Json(out))
}

async fn list_targets(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    targets(&s, v, &b, &q, "volume/targets", None).await
}

async fn node_targets(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v)?;
    let n = find_node(&s, &id, v).await?;
    targets(&s, v, &b, &q, &format!("nodes/{id}/volume/targets"), Some(n.uuid)).await
}

async fn targets(s: &AppState, v: Version, b: &str, q: &HashMap<String, String>, path: &str, node: Option<String>) -> ApiResult<Json<Value>> {
    let store = s.store().clone();
    let out = list_of(
        s, v, b, q, path, TARGET_FIELDS, &["uuid", "volume_type", "boot_index", "volume_id", "node_uuid"], node,
        async move |n, lq| Ok(store.list_volume_targets(n, lq).await?),
        |t| target_json(t, b),
        |t| t.uuid.clone(),
        "targets",
    )
    .await?;
    Ok(Json(out))
}

fn uuid_param(id: &str) -> ApiResult<()> {
    if !validate::is_uuid_like(id) {
        return Err(ApiError::bad_request(format!("Expected a UUID but received {id}.")));
    }
    Ok(())
}

async fn show_connector(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v)?;
    uuid_param(&id)?;
    let fields = wire::parse_fields(q.get("fields"), v, CONNECTOR_FIELDS)?;
    Ok(Json(wire::select(connector_json(&s.store().get_volume_connector(&id).await?, &b), &fields)))
}

async fn show_target(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v)?;
    uuid_param(&id)?;
    let fields = wire::parse_fields(q.get("fields"), v, TARGET_FIELDS)?;
    Ok(Json(wire::select(target_json(&s.store().get_volume_target(&id).await?, &b), &fields)))
}

fn string(field: &str, v: &Value) -> ApiResult<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string).ok_or_else(|| ApiError::bad_request(format!("Invalid or missing \"{field}\": a non-empty string is expected")))
}

fn dict(field: &str, v: &Value) -> ApiResult<Map<String, Value>> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        other => Err(ApiError::bad_request(format!("Invalid \"{field}\" {other}: an object is expected"))),
    }
}

async fn set_connector_field(s: &AppState, c: &mut VolumeConnector, k: &str, val: &Value, v: Version) -> ApiResult<()> {
    match k {
        "node_uuid" => {
            let n = string(k, val)?;
            c.node_uuid = find_node(s, &n, v).await.map_err(|_| ApiError::bad_request(format!("Node {n} could not be found.")))?.uuid;
        }
        "type" => {
            let t = string(k, val)?;
            if !VOLUME_CONNECTOR_TYPES.contains(&t.as_str()) {
                return Err(ApiError::bad_request(format!("Invalid volume connector type \"{t}\": valid types are {}", VOLUME_CONNECTOR_TYPES.join(", "))));
            }
            c.kind = t;
        }
        "connector_id" => c.connector_id = string(k, val)?,
        "extra" => c.extra = dict(k, val)?,
        other => return Err(ApiError::bad_request(format!("Unknown attribute for argument volume connector: {other}"))),
    }
    Ok(())
}

async fn set_target_field(s: &AppState, t: &mut VolumeTarget, k: &str, val: &Value, v: Version) -> ApiResult<()> {
    match k {
        "node_uuid" => {
            let n = string(k, val)?;
            t.node_uuid = find_node(s, &n, v).await.map_err(|_| ApiError::bad_request(format!("Node {n} could not be found.")))?.uuid;
        }
        "volume_type" => t.volume_type = string(k, val)?,
        "volume_id" => t.volume_id = string(k, val)?,
        "boot_index" => {
            t.boot_index = val
                .as_i64()
                .filter(|i| *i >= 0)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid boot_index {val}: a non-negative integer is expected")))?
        }
        "properties" => t.properties = dict(k, val)?,
        "extra" => t.extra = dict(k, val)?,
        other => return Err(ApiError::bad_request(format!("Unknown attribute for argument volume target: {other}"))),
    }
    Ok(())
}

fn duplicate(e: ferric_store::StoreError, what: &str) -> ApiError {
    match e {
        ferric_store::StoreError::Duplicate { field, value, .. } if field != "uuid" => match what {
            "connector" => ApiError::conflict(format!("A volume connector with type and connector ID {value} already exists.")),
            _ => ApiError::conflict(format!("A volume target with boot index '{value}' for the same node already exists.")),
        },
        other => other.into(),
    }
}

async fn create_connector(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    gate(v)?;
    let obj = body.as_object().cloned().ok_or_else(|| ApiError::bad_request("The request body must be a JSON object."))?;
    let mut c = VolumeConnector { created_at: ferric_core::model::now(), ..Default::default() };
    for required in ["node_uuid", "type", "connector_id"] {
        if !obj.contains_key(required) {
            return Err(ApiError::bad_request(format!("Mandatory field missing: {required}")));
        }
    }
    for (k, val) in &obj {
        if k == "uuid" {
            c.uuid = validate::canonical_uuid(val.as_str().unwrap_or_default()).ok_or_else(|| ApiError::bad_request(format!("Expected a UUID but received {val}.")))?;
        } else {
            set_connector_field(&s, &mut c, k, val, v).await?;
        }
    }
    if c.uuid.is_empty() {
        c.uuid = uuid::Uuid::new_v4().to_string();
    }
    let c = s.store().create_volume_connector(c).await.map_err(|e| duplicate(e, "connector"))?;
    Ok(created(format!("{b}/v1/volume/connectors/{}", c.uuid), Value::Object(connector_json(&c, &b))))
}

async fn create_target(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    gate(v)?;
    let obj = body.as_object().cloned().ok_or_else(|| ApiError::bad_request("The request body must be a JSON object."))?;
    let mut t = VolumeTarget { created_at: ferric_core::model::now(), ..Default::default() };
    for required in ["node_uuid", "volume_type", "volume_id", "boot_index"] {
        if !obj.contains_key(required) {
            return Err(ApiError::bad_request(format!("Mandatory field missing: {required}")));
        }
    }
    for (k, val) in &obj {
        if k == "uuid" {
            t.uuid = validate::canonical_uuid(val.as_str().unwrap_or_default()).ok_or_else(|| ApiError::bad_request(format!("Expected a UUID but received {val}.")))?;
        } else {
            set_target_field(&s, &mut t, k, val, v).await?;
        }
    }
    if t.uuid.is_empty() {
        t.uuid = uuid::Uuid::new_v4().to_string();
    }
    let t = s.store().create_volume_target(t).await.map_err(|e| duplicate(e, "target"))?;
    Ok(created(format!("{b}/v1/volume/targets/{}", t.uuid), Value::Object(target_json(&t, &b))))
}

async fn patch_connector(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    gate(v)?;
    uuid_param(&id)?;
    let current = s.store().get_volume_connector(&id).await?;
    let mut doc = Value::Object(connector_json(&current, &b));
    wire::apply_patch(&mut doc, &body)?;
    let mut c = current.clone();
    let mut roots = wire::patched_roots(&body);
    roots.sort();
    roots.dedup();
    for r in &roots {
        if !["node_uuid", "type", "connector_id", "extra"].contains(&r.as_str()) {
            return Err(ApiError::bad_request(format!("'/{r}' is an internal attribute and can not be updated")));
        }
        set_connector_field(&s, &mut c, r, doc.get(r).unwrap_or(&Value::Null), v).await?;
    }
    require_power_off(&settled_node(&s, &current.node_uuid).await?, "volume connector update")?;
    let c = s.store().save_volume_connector(c).await.map_err(|e| duplicate(e, "connector"))?;
    Ok(Json(Value::Object(connector_json(&c, &b))))
}

async fn patch_target(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    gate(v)?;
    uuid_param(&id)?;
    let current = s.store().get_volume_target(&id).await?;
    let mut doc = Value::Object(target_json(&current, &b));
    wire::apply_patch(&mut doc, &body)?;
    let mut t = current.clone();
    let mut roots = wire::patched_roots(&body);
    roots.sort();
    roots.dedup();
    for r in &roots {
        if !["node_uuid", "volume_type", "volume_id", "boot_index", "properties", "extra"].contains(&r.as_str()) {
            return Err(ApiError::bad_request(format!("'/{r}' is an internal attribute and can not be updated")));
        }
        set_target_field(&s, &mut t, r, doc.get(r).unwrap_or(&Value::Null), v).await?;
    }
    require_power_off(&settled_node(&s, &current.node_uuid).await?, "volume target update")?;
    let t = s.store().save_volume_target(t).await.map_err(|e| duplicate(e, "target"))?;
    Ok(Json(Value::Object(target_json(&t, &b))))
}

async fn delete_connector(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    gate(v)?;
    uuid_param(&id)?;
    let c = s.store().get_volume_connector(&id).await?;
    require_power_off(&settled_node(&s, &c.node_uuid).await?, "volume connector deletion")?;
    s.store().delete_volume_connector(&c.uuid).await?;
    Ok(no_content())
}

async fn delete_target(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    gate(v)?;
    uuid_param(&id)?;
    let t = s.store().get_volume_target(&id).await?;
    require_power_off(&settled_node(&s, &t.node_uuid).await?, "volume target deletion")?;
    s.store().delete_volume_target(&t.uuid).await?;
    Ok(no_content())
}

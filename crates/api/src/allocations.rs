//! `/v1/allocations` and `/v1/nodes/{id}/allocation` (API 1.52).

use crate::nodes::find as find_node;
use crate::wire::{self, collection, links, opt_str, ts, ts1};
use crate::{created, no_content, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::version::{feature as f, Version};
use ferric_core::{validate, Allocation, Node, ProvisionState as S};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/allocations", get(list).post(create))
        .route("/allocations/{id}", get(show).patch(patch).delete(delete))
        .route("/nodes/{node}/allocation", get(node_allocation).delete(delete_node_allocation))
}

fn gate(v: Version) -> ApiResult<()> {
    if !v.at_least(f::ALLOCATIONS) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}

/// Below 1.52 Ironic answers 405 to writes on allocations (and 404 to reads).
fn write_gate(v: Version) -> ApiResult<()> {
    if !v.at_least(f::ALLOCATIONS) {
        return Err(ApiError::method_not_allowed("The method is not allowed for this resource at this API version."));
    }
    Ok(())
}

/// The node of `/nodes/{id}/allocation`; an unknown node is a 400 there, as in Ironic.
async fn parent_node(s: &AppState, id: &str, v: Version) -> ApiResult<Node> {
    find_node(s, id, v).await.map_err(|e| if e.status == axum::http::StatusCode::NOT_FOUND { ApiError::bad_request(e.message) } else { e })
}

const FIELDS: &[&str] = &[
    "uuid", "name", "node_uuid", "resource_class", "traits", "candidate_nodes", "state", "last_error", "extra",
    "created_at", "updated_at", "owner",
];

fn fields_at(v: Version) -> Vec<&'static str> {
    FIELDS.iter().copied().filter(|f| *f != "owner" || v.at_least(f::ALLOCATION_OWNER)).collect()
}

fn allocation_json(a: &Allocation, v: Version, base: &str) -> Map<String, Value> {
    let mut m = allocation_json_all(a, base);
    if !v.at_least(f::ALLOCATION_OWNER) {
        m.remove("owner");
    }
    m
}

fn allocation_json_all(a: &Allocation, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(a.uuid));
    m.insert("name".into(), opt_str(&a.name));
    m.insert("node_uuid".into(), opt_str(&a.node_uuid));
    m.insert("resource_class".into(), opt_str(&a.resource_class));
    m.insert("traits".into(), json!(a.traits));
    m.insert("candidate_nodes".into(), json!(a.candidate_nodes));
    m.insert("state".into(), json!(a.state));
    m.insert("last_error".into(), opt_str(&a.last_error));
    m.insert("extra".into(), Value::Object(a.extra.clone()));
    m.insert("owner".into(), opt_str(&a.owner));
    m.insert("created_at".into(), ts1(&a.created_at));
    m.insert("updated_at".into(), ts(&a.updated_at));
    m.insert("links".into(), links(base, &format!("allocations/{}", a.uuid)));
    m
}

async fn list(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v)?;
    let fields = wire::parse_fields(q.get("fields"), v, &fields_at(v))?;
    let mut flt = ferric_store::AllocationFilter {
        state: q.get("state").cloned(),
        resource_class: q.get("resource_class").cloned(),
        ..Default::default()
    };
    if let Some(o) = q.get("owner") {
        if !v.at_least(f::ALLOCATION_OWNER) {
            return Err(ApiError::too_old(f::ALLOCATION_OWNER));
        }
        flt.owner = Some(o.clone());
    }
    if let Some(n) = q.get("node") {
        flt.node_uuid = Some(find_node(&s, n, v).await.map_err(|_| ApiError::bad_request(format!("Node {n} could not be found.")))?.uuid);
    }
    let lq = wire::list_query(&q, s.config.max_limit, &["uuid", "name", "state", "node_uuid", "created_at", "updated_at", "resource_class"])?;
    let limit = lq.limit.unwrap_or(s.config.max_limit);
    let items = s.store().list_allocations(flt, lq).await?;
    let last = items.last().map(|a| a.uuid.clone());
    let out = items.iter().map(|a| wire::select(allocation_json(a, v, &b), &fields)).collect();
    Ok(Json(collection("allocations", out, last, limit, &b, "allocations", &q)))
}

async fn find(s: &AppState, ident: &str) -> ApiResult<Allocation> {
    crate::json_ext::lookup(ident, |i| async move { find_exact(s, &i).await }).await
}

async fn find_exact(s: &AppState, ident: &str) -> ApiResult<Allocation> {
    match s.store().get_allocation(ident).await {
        Ok(a) => Ok(a),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(ApiError::not_found(format!("Allocation {ident} could not be found."))),
        Err(e) => Err(e.into()),
    }
}

async fn show(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v)?;
    let fields = wire::parse_fields(q.get("fields"), v, &fields_at(v))?;
    Ok(Json(wire::select(allocation_json(&find(&s, &id).await?, v, &b), &fields)))
}

fn name_field(v: &Value) -> ApiResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(n) if validate::is_valid_logical_name(n) && !validate::is_uuid_like(n) => Ok(Some(n.clone())),
        other => Err(ApiError::bad_request(format!("Expected a logical name but received {other}."))),
    }
}

fn extra_field(v: &Value) -> ApiResult<Map<String, Value>> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        other => Err(ApiError::bad_request(format!("Invalid extra {other}: an object is expected"))),
    }
}

fn conflict_on_name(e: ferric_store::StoreError) -> ApiError {
    match e {
        ferric_store::StoreError::Duplicate { field, value, .. } if field == "name" => {
            ApiError::conflict(format!("An allocation with name {value} already exists."))
        }
        other => other.into(),
    }
}

async fn create(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    write_gate(v)?;
    let obj = body.as_object().cloned().ok_or_else(|| ApiError::bad_request("The request body must be a JSON object."))?;
    let mut a = Allocation { created_at: ferric_core::model::now(), ..Default::default() };
    let mut backfill: Option<Node> = None;
    for (k, val) in &obj {
        match k.as_str() {
            "uuid" => {
                a.uuid = validate::canonical_uuid(val.as_str().unwrap_or_default())
                    .ok_or_else(|| ApiError::bad_request(format!("Expected a UUID but received {val}.")))?
            }
            "name" => a.name = name_field(val)?,
            "resource_class" => {
                let rc = val.as_str().filter(|r| !r.is_empty() && r.len() <= 80);
                a.resource_class = Some(rc.ok_or_else(|| ApiError::bad_request(format!("Invalid resource_class {val}")))?.to_string());
            }
            "traits" => {
                let list = val.as_array().ok_or_else(|| ApiError::bad_request("Invalid traits: a list is expected"))?;
                for t in list {
                    let t = t.as_str().filter(|t| validate::is_valid_trait(t)).ok_or_else(|| ApiError::bad_request(format!("Invalid trait {t}")))?;
                    if !a.traits.iter().any(|x| x == t) {
                        a.traits.push(t.to_string());
                    }
                }
            }
            "candidate_nodes" => {
                let list = val.as_array().ok_or_else(|| ApiError::bad_request("Invalid candidate_nodes: a list is expected"))?;
                for c in list {
                    let ident = c.as_str().ok_or_else(|| ApiError::bad_request(format!("Invalid candidate node {c}")))?;
                    let n = find_node(&s, ident, v)
                        .await
                        .map_err(|_| ApiError::bad_request(format!("Candidate node {ident} could not be found.")))?;
                    if !a.candidate_nodes.contains(&n.uuid) {
                        a.candidate_nodes.push(n.uuid);
                    }
                }
            }
            "extra" => a.extra = extra_field(val)?,
            "owner" if v.at_least(f::ALLOCATION_OWNER) => a.owner = val.as_str().map(str::to_string),
            "node" => {
                if !v.at_least(f::ALLOCATION_BACKFILL) {
                    return Err(ApiError::bad_request("Cannot set node when creating an allocation in this API version"));
                }
                let ident = val.as_str().ok_or_else(|| ApiError::bad_request(format!("Invalid node {val}")))?;
                backfill = Some(parent_node(&s, ident, v).await?);
            }
            other => return Err(ApiError::bad_request(format!("Unknown attribute for argument allocation: {other}"))),
        }
    }
    if let Some(node) = &backfill {
        // Backfilling: the node's resource class and instance UUID are the defaults.
        if a.resource_class.is_none() {
            a.resource_class = node.resource_class.clone();
        }
        if a.uuid.is_empty() {
            a.uuid = node.instance_uuid.clone().unwrap_or_default();
        }
    } else if a.resource_class.is_none() {
        return Err(ApiError::bad_request("The resource_class field is mandatory when not backfilling"));
    }
    if a.uuid.is_empty() {
        a.uuid = uuid::Uuid::new_v4().to_string();
    }
    let a = s.store().create_allocation(a).await.map_err(conflict_on_name)?;
    let a = match backfill {
        Some(node) => s.conductor.backfill_allocation(a, &node.uuid).await?,
        None => {
            s.conductor.start_allocation(a.clone())?;
            a
        }
    };
    Ok(created(format!("{b}/v1/allocations/{}", a.uuid), Value::Object(allocation_json(&a, v, &b))))
}

async fn patch(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    write_gate(v)?;
    if !v.at_least(57) {
        return Err(ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "Updating allocations requires API version 1.57 or later."));
    }
    let current = find(&s, &id).await?;
    let mut doc = Value::Object(allocation_json(&current, v, &b));
    wire::apply_patch(&mut doc, &body)?;
    let mut a = current;
    for r in wire::patched_roots(&body) {
        match r.as_str() {
            "name" => a.name = name_field(doc.get("name").unwrap_or(&Value::Null))?,
            "extra" => a.extra = extra_field(doc.get("extra").unwrap_or(&Value::Null))?,
            other => return Err(ApiError::bad_request(format!("'/{other}' cannot be updated on an allocation"))),
        }
    }
    let a = s.store().save_allocation(a).await.map_err(conflict_on_name)?;
    Ok(Json(Value::Object(allocation_json(&a, v, &b))))
}

/// A deployed node keeps its allocation unless it is in maintenance.
fn may_deallocate(a: &str, node: Option<&Node>) -> ApiResult<()> {
    if let Some(n) = node {
        let busy = matches!(n.provision_state, S::Active | S::Deploying | S::DeployWait | S::DeployHold | S::Rescue | S::Rescuing | S::RescueWait);
        if busy && !n.maintenance {
            return Err(ApiError::conflict(format!(
                "Cannot remove allocation {a} from node {} in provision state {}. Undeploy the node or set maintenance mode first.",
                n.uuid, n.provision_state
            )));
        }
    }
    Ok(())
}

/// Delete an allocation, also while it is still being processed: binding checks, in the same
/// transaction, that the allocation still exists.
async fn remove(s: &AppState, a: Allocation) -> ApiResult<Response> {
    crate::retry_locked(s, || {
        let uuid = a.uuid.clone();
        let store = s.store().clone();
        async move { store.delete_allocation(&uuid.clone(), move |n| may_deallocate(&uuid, n)).await? }
    })
    .await?;
    Ok(no_content())
}

async fn delete(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    write_gate(v)?;
    let a = find(&s, &id).await?;
    remove(&s, a).await
}

async fn node_allocation(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v)?;
    let fields = wire::parse_fields(q.get("fields"), v, &fields_at(v))?;
    let n = parent_node(&s, &id, v).await?;
    let a = s.store().get_allocation_of_node(&n.uuid).await?.ok_or_else(|| ApiError::not_found(format!("Allocation for node {id} could not be found.")))?;
    Ok(Json(wire::select(allocation_json(&a, v, &b), &fields)))
}

async fn delete_node_allocation(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    write_gate(v)?;
    let n = parent_node(&s, &id, v).await?;
    let a = s.store().get_allocation_of_node(&n.uuid).await?.ok_or_else(|| ApiError::not_found(format!("Allocation for node {id} could not be found.")))?;
    remove(&s, a).await
}

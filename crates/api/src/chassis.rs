//! `/v1/chassis`.

use crate::wire::{self, collection, links, opt_str, ts, ts1};
use crate::{created, no_content, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::{validate, Chassis};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/chassis", get(list).post(create))
        .route("/chassis/detail", get(list_detail))
        .route("/chassis/{c}", get(show).patch(patch).delete(delete))
        .route("/chassis/{c}/nodes", get(nodes))
        .route("/chassis/{c}/nodes/detail", get(nodes_detail))
}

const FIELDS: &[&str] = &["uuid", "description", "extra", "created_at", "updated_at"];

fn chassis_json(c: &Chassis, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(c.uuid));
    m.insert("description".into(), opt_str(&c.description));
    m.insert("extra".into(), Value::Object(c.extra.clone()));
    m.insert("created_at".into(), ts1(&c.created_at));
    m.insert("updated_at".into(), ts(&c.updated_at));
    m.insert("links".into(), links(base, &format!("chassis/{}", c.uuid)));
    m.insert("nodes".into(), links(base, &format!("chassis/{}/nodes", c.uuid)));
    m
}

async fn collect(s: &AppState, v: ferric_core::Version, b: &str, q: HashMap<String, String>, mut detail: bool, path: &str) -> ApiResult<Value> {
    if let Some(d) = q.get("detail") {
        if path.ends_with("detail") {
            return Err(ApiError::bad_request("The \"detail\" parameter cannot be used on the /detail resource"));
        }
        detail = wire::parse_bool("detail", d)?;
    }
    let fields = wire::parse_fields(q.get("fields"), v, FIELDS)?;
    let lq = wire::list_query(&q, s.config.max_limit, &["uuid", "description", "created_at", "updated_at"])?;
    let limit = lq.limit.unwrap_or(s.config.max_limit);
    let all = s.store().list_chassis(lq).await?;
    let last = all.last().map(|c| c.uuid.clone());
    let items = all
        .iter()
        .map(|c| {
            if detail {
                Value::Object(chassis_json(c, b))
            } else if fields.is_some() {
                wire::select(chassis_json(c, b), &fields)
            } else {
                json!({"uuid": c.uuid, "description": c.description, "links": links(b, &format!("chassis/{}", c.uuid))})
            }
        })
        .collect();
    Ok(collection("chassis", items, last, limit, b, path, &q))
}

async fn list(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    Ok(Json(collect(&s, v, &b, q, false, "chassis").await?))
}

async fn list_detail(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    Ok(Json(collect(&s, v, &b, q, true, "chassis/detail").await?))
}

async fn find(s: &AppState, id: &str) -> ApiResult<Chassis> {
    if !validate::is_uuid_like(id) {
        return Err(ApiError::not_found(format!("Chassis {id} could not be found.")));
    }
    Ok(s.store().get_chassis(id).await?)
}

/// Showing and deleting take a UUID only (Ironic's `args.uuid`); a name, or a UUID with `.json`
/// from 1.91 on, is a 400.
fn uuid_arg(id: &str) -> ApiResult<()> {
    if !validate::is_uuid_like(id) {
        return Err(ApiError::bad_request(format!("Expected UUID for chassis_uuid: {id}")));
    }
    Ok(())
}

async fn show(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    uuid_arg(&id)?;
    let fields = wire::parse_fields(q.get("fields"), v, FIELDS)?;
    Ok(Json(wire::select(chassis_json(&find(&s, &id).await?, &b), &fields)))
}

fn set_field(c: &mut Chassis, k: &str, val: &Value) -> ApiResult<()> {
    match (k, val) {
        ("description", Value::Null) => c.description = None,
        ("description", Value::String(d)) if d.len() <= 255 => c.description = Some(d.clone()),
        ("description", other) => return Err(ApiError::bad_request(format!("Invalid description {other}: a string of at most 255 characters is expected"))),
        ("extra", Value::Null) => c.extra = Map::new(),
        ("extra", Value::Object(m)) => c.extra = m.clone(),
        ("extra", other) => return Err(ApiError::bad_request(format!("Invalid extra {other}: an object is expected"))),
        (other, _) => return Err(ApiError::bad_request(format!("Unknown attribute for argument chassis: {other}"))),
    }
    Ok(())
}

async fn create(State(s): State<AppState>, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let obj = body.as_object().cloned().unwrap_or_default();
    let mut c = Chassis { created_at: ferric_core::model::now(), ..Default::default() };
    for (k, val) in &obj {
        if k == "uuid" {
            let u = val.as_str().unwrap_or_default();
            c.uuid = validate::canonical_uuid(u).ok_or_else(|| ApiError::bad_request(format!("Expected a UUID but received {u}.")))?;
        } else {
            set_field(&mut c, k, val)?;
        }
    }
    if c.uuid.is_empty() {
        c.uuid = uuid::Uuid::new_v4().to_string();
    }
    let c = s.store().create_chassis(c).await?;
    Ok(created(format!("{b}/v1/chassis/{}", c.uuid), Value::Object(chassis_json(&c, &b))))
}

async fn patch(State(s): State<AppState>, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    if !validate::is_uuid_like(&id) {
        return Err(ApiError::bad_request(format!("Schema error: '{id}' is not a 'uuid'")));
    }
    let current = find(&s, &id).await?;
    let roots = wire::patched_roots(&body);
    for r in &roots {
        if r != "description" && r != "extra" {
            return Err(ApiError::bad_request(format!("'/{r}' is an internal attribute and can not be updated")));
        }
    }
    let mut doc = Value::Object(chassis_json(&current, &b));
    wire::apply_patch(&mut doc, &body)?;
    let mut c = current;
    for r in &roots {
        set_field(&mut c, r, doc.get(r).unwrap_or(&Value::Null))?;
    }
    let c = s.store().save_chassis(c).await?;
    Ok(Json(Value::Object(chassis_json(&c, &b))))
}

async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    uuid_arg(&id)?;
    let c = find(&s, &id).await?;
    if s.store().delete_chassis(&c.uuid).await? > 0 {
        return Err(ApiError::bad_request(format!("Chassis {} contains nodes.", c.uuid)));
    }
    Ok(no_content())
}

async fn nodes(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let c = find(&s, &id).await?;
    crate::nodes::chassis_nodes(&s, v, &b, q, c.uuid, false).await
}

async fn nodes_detail(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let c = find(&s, &id).await?;
    crate::nodes::chassis_nodes(&s, v, &b, q, c.uuid, true).await
}

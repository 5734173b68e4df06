//! `/v1/inspection_rules` (API 1.96): Ironic's inspection rules
//! (`ironic/api/controllers/v1/inspection_rule.py`). Stored rules can be created, listed,
//! shown, patched and deleted; built-in rules (`[inspection_rules]built_in_rules`) are listed
//! and shown with `"built_in": true` and cannot be changed.
//!
//! Where Ironic 39 answers a client mistake with a 500 (unknown or missing action arguments,
//! a non-UUID `uuid`, removing `conditions`, `DELETE /v1/inspection_rules`), ferric answers
//! 400 with the same text, or does what the request asks. Links point at
//! `/v1/inspection_rules/<uuid>` (Ironic's point at `/v1/inspection/<uuid>`, which does not
//! exist).

use crate::wire::{self, collection, links, parse_bool, ts, ts1};
use crate::{created, no_content, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::rules::{self, py, InspectionRule, RuleInvalid};
use ferric_core::validate;
use ferric_core::version::{feature as f, Version};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/inspection_rules", get(list).post(create).delete(delete_all))
        .route("/inspection_rules/{id}", get(show).patch(patch).delete(delete))
}

/// Below 1.96 Ironic answers 404 to reads and 405 to writes.
fn gate(v: Version, method: Method) -> ApiResult<()> {
    if v.at_least(f::RULES) {
        return Ok(());
    }
    let msg = "The API version does not allow inspection rules";
    Err(if method == Method::GET { ApiError::not_found(msg) } else { ApiError::new(StatusCode::METHOD_NOT_ALLOWED, msg) })
}

const FIELDS: &[&str] = &["uuid", "created_at", "updated_at", "description", "priority", "sensitive", "phase", "conditions", "actions", "built_in"];
const SUMMARY: &[&str] = &["uuid", "priority", "phase", "description"];
const SORTABLE: &[&str] = &["id", "uuid", "created_at", "updated_at", "description", "priority", "sensitive", "phase", "scope"];

fn not_found(uuid: &str) -> ApiError {
    ApiError::not_found(format!("Rule {uuid} could not be found."))
}

/// A rule as Ironic shows it; a sensitive rule's conditions and actions are hidden. Built-in
/// rules carry `"built_in": true` (not an Ironic field).
fn rule_json(r: &InspectionRule, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(r.uuid));
    m.insert("created_at".into(), if r.built_in { Value::Null } else { ts1(&r.created_at) });
    m.insert("updated_at".into(), ts(&r.updated_at));
    m.insert("description".into(), json!(r.description));
    m.insert("priority".into(), json!(r.priority));
    m.insert("sensitive".into(), json!(r.sensitive));
    m.insert("phase".into(), json!(r.phase));
    if r.sensitive {
        m.insert("conditions".into(), Value::Null);
        m.insert("actions".into(), Value::Null);
    } else {
        m.insert("conditions".into(), Value::Array(rules::conditions_for_api(&r.conditions)));
        m.insert("actions".into(), Value::Array(rules::actions_for_api(&r.actions)));
    }
    if r.built_in {
        m.insert("built_in".into(), Value::Bool(true));
    }
    m.insert("links".into(), links(base, &format!("inspection_rules/{}", r.uuid)));
    m
}

/// The path's UUID, as Ironic's parameter schema checks it.
fn check_uuid(id: &str) -> ApiResult<()> {
    if validate::is_uuid_like(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("Schema error: {} is not a 'uuid'", py::str_repr(id))))
    }
}

fn built_in(s: &AppState) -> std::sync::Arc<Vec<InspectionRule>> {
    s.conductor.config().inspection_rules.built_in.clone()
}

/// A stored or built-in rule.
async fn find(s: &AppState, uuid: &str) -> ApiResult<InspectionRule> {
    if let Some(r) = built_in(s).iter().find(|r| r.uuid == uuid) {
        return Ok(r.clone());
    }
    match s.store().get_inspection_rule(uuid).await {
        Ok(r) => Ok(r),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(not_found(uuid)),
        Err(e) => Err(e.into()),
    }
}

fn refuse_built_in(r: &InspectionRule) -> ApiResult<()> {
    if r.built_in {
        return Err(ApiError::bad_request(format!("Inspection rule {} is built in and cannot be changed.", r.uuid)));
    }
    Ok(())
}

/// The value a rule sorts by.
fn sort_value(r: &InspectionRule, key: &str) -> Value {
    match key {
        "uuid" => json!(r.uuid),
        "created_at" => json!(r.created_at.to_rfc3339()),
        "updated_at" => r.updated_at.map(|t| json!(t.to_rfc3339())).unwrap_or(Value::Null),
        "description" => json!(r.description),
        "priority" => json!(r.priority),
        "sensitive" => json!(r.sensitive),
        "phase" => json!(r.phase),
        "scope" => json!(r.scope),
        _ => Value::Null,
    }
}

/// NULLs first, then numbers, booleans, text.
fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

async fn list(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v, Method::GET)?;
    wire::only_params(&q, &["detail", "fields", "marker", "limit", "phase", "sort_dir", "sort_key"])?;
    let detail = q.get("detail").map(|d| parse_bool("detail", d)).transpose()?;
    let fields = wire::parse_fields(q.get("fields"), v, FIELDS)?;
    if detail == Some(true) && fields.is_some() {
        return Err(ApiError::bad_request("Can not specify ?detail=True and fields in the same request."));
    }
    if let Some(k @ ("actions" | "conditions")) = q.get("sort_key").map(String::as_str) {
        return Err(ApiError::bad_request(format!(
            "Schema error: '{k}' should not be valid under {{'type': 'string', 'enum': ['actions', 'conditions']}}"
        )));
    }
    // Pagination is done here: built-in rules are listed with the stored ones.
    let mut plain = q.clone();
    plain.remove("marker");
    let lq = wire::list_query(&plain, s.config.max_limit, SORTABLE)?;
    let limit = lq.limit.unwrap_or(s.config.max_limit);
    let key = lq.sort_key.clone().unwrap_or_else(|| "id".into());
    let phase = q.get("phase").cloned();
    let mut all = s.store().list_inspection_rules(phase.clone(), Default::default()).await?;
    all.extend(built_in(&s).iter().filter(|r| phase.as_ref().is_none_or(|p| *p == r.phase)).cloned());
    // Built-in rules have no row id: they come after the stored ones.
    let order: Vec<usize> = {
        let mut idx: Vec<usize> = (0..all.len()).collect();
        if key != "id" {
            idx.sort_by(|&i, &j| cmp_values(&sort_value(&all[i], &key), &sort_value(&all[j], &key)).then(i.cmp(&j)));
        }
        if lq.sort_dir == ferric_store::SortDir::Desc {
            idx.reverse();
        }
        idx
    };
    let mut ordered: Vec<&InspectionRule> = order.iter().map(|&i| &all[i]).collect();
    if let Some(marker) = q.get("marker") {
        let pos = ordered.iter().position(|r| &r.uuid == marker).ok_or_else(|| not_found(marker))?;
        ordered.drain(..=pos);
    }
    ordered.truncate(limit);
    let last = ordered.last().map(|r| r.uuid.clone());
    let explicit = fields.is_some();
    let shown: Option<Vec<String>> = if detail == Some(true) { None } else { fields.or_else(|| Some(SUMMARY.iter().map(|f| f.to_string()).collect())) };
    let out = ordered
        .iter()
        .map(|r| {
            let m = rule_json(r, &b);
            match &shown {
                None => Value::Object(m),
                Some(f) => {
                    let mut keep = f.clone();
                    if !explicit && r.built_in {
                        keep.push("built_in".into());
                    }
                    wire::select(m, &Some(keep))
                }
            }
        })
        .collect();
    Ok(Json(collection("inspection_rules", out, last, limit, &b, "inspection_rules", &q)))
}

async fn show(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v, Method::GET)?;
    wire::only_params(&q, &["fields"])?;
    check_uuid(&id)?;
    let r = find(&s, &id).await?;
    let fields = wire::parse_fields(q.get("fields"), v, FIELDS)?;
    Ok(Json(wire::select(rule_json(&r, &b), &fields)))
}

fn invalid(e: RuleInvalid) -> ApiError {
    ApiError::bad_request(e.to_string())
}

async fn create(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    gate(v, Method::POST)?;
    let valid = rules::validate_rule(&body, false).map_err(invalid)?;
    let uuid = match valid.get("uuid") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(u)) if u.is_empty() => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(u)) => validate::canonical_uuid(u).ok_or_else(|| ApiError::bad_request(format!("Expected a UUID but received {u}.")))?,
        Some(_) => unreachable!("the schema allows only a string or null"),
    };
    if built_in(&s).iter().any(|r| r.uuid == uuid) {
        return Err(ApiError::conflict(format!("A rule with UUID {uuid} already exists.")));
    }
    let mut rule = InspectionRule::from_valid(&valid, uuid);
    rule.created_at = ferric_core::model::now();
    let rule = s.store().create_inspection_rule(rule).await?;
    Ok(created(format!("{b}/v1/inspection_rules/{}", rule.uuid), Value::Object(rule_json(&rule, &b))))
}

/// The stored rule as Ironic's `as_dict()` has it.
fn as_dict(r: &InspectionRule) -> Value {
    json!({
        "id": r.id, "uuid": r.uuid, "priority": r.priority, "description": r.description, "sensitive": r.sensitive,
        "phase": r.phase, "scope": r.scope, "conditions": r.conditions, "actions": r.actions,
        "created_at": ts1(&r.created_at), "updated_at": ts(&r.updated_at),
    })
}

fn patch_schema(body: &Value) -> ApiResult<()> {
    let err = |m: String| ApiError::bad_request(format!("Schema error for patch: {m}"));
    let ops = body.as_array().ok_or_else(|| err(format!("{} is not of type 'array'", py::repr(body, false))))?;
    for op in ops {
        let o = op.as_object().ok_or_else(|| err(format!("{} is not of type 'object'", py::repr(op, false))))?;
        if let Some(kind) = o.get("op") {
            if !kind.as_str().is_some_and(|k| ["add", "replace", "remove"].contains(&k)) {
                return Err(err(format!("{} is not one of ['add', 'replace', 'remove']", py::repr(kind, false))));
            }
        }
        if let Some(p) = o.get("path") {
            if !p.is_string() {
                return Err(err(format!("{} is not of type 'string'", py::repr(p, false))));
            }
        }
        for req in ["op", "path"] {
            if !o.contains_key(req) {
                return Err(err(format!("'{req}' is a required property")));
            }
        }
        let extra: Vec<String> = o.keys().filter(|k| !["op", "path", "value"].contains(&k.as_str())).map(|k| py::str_repr(k)).collect();
        if !extra.is_empty() {
            let verb = if extra.len() == 1 { "was" } else { "were" };
            return Err(err(format!("Additional properties are not allowed ({} {verb} unexpected)", extra.join(", "))));
        }
    }
    Ok(())
}

const SCHEMA_KEYS: &[&str] = &["actions", "conditions", "description", "phase", "priority", "sensitive", "uuid"];

async fn patch(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    gate(v, Method::PATCH)?;
    check_uuid(&id)?;
    patch_schema(&body)?;
    let current = find(&s, &id).await?;
    refuse_built_in(&current)?;
    // Unsetting `sensitive` is refused (Ironic's PatchError).
    let unsets_sensitive = body.as_array().into_iter().flatten().any(|op| {
        op.get("path").and_then(Value::as_str) == Some("/sensitive") && op.get("value").is_some_and(|v| !v.is_null() && !py::truthy(v))
    });
    if unsets_sensitive && current.sensitive {
        return Err(ApiError::bad_request(format!(
            "Couldn't apply patch '{}'. Reason: Inspection rules cannot have the sensitive flag unset.",
            py::repr(&body, false)
        )));
    }
    let mut doc = as_dict(&current);
    wire::apply_patch(&mut doc, &body)?;
    // Keys the schema does not know (id, created_at, ...) are dropped, as Ironic does.
    if let Some(o) = doc.as_object_mut() {
        o.retain(|k, _| SCHEMA_KEYS.contains(&k.as_str()));
        if o.get("conditions").is_some_and(Value::is_null) || !o.contains_key("conditions") {
            o.insert("conditions".into(), json!([]));
        }
    }
    rules::check_schema(&doc).map_err(|e| ApiError::bad_request(format!("Schema error for patch: {e}")))?;
    let new_uuid = doc.get("uuid").and_then(Value::as_str).unwrap_or_default().to_string();
    if new_uuid != current.uuid {
        if !validate::is_uuid_like(&new_uuid) {
            return Err(ApiError::bad_request(format!("Expected a UUID but received {new_uuid}.")));
        }
        // Ironic saves under the new UUID, which does not exist.
        return Err(not_found(&new_uuid));
    }
    let valid = rules::validate_rule(&doc, false).map_err(invalid)?;
    let mut updated = InspectionRule::from_valid(&valid, current.uuid.clone());
    updated.id = current.id;
    updated.created_at = current.created_at;
    updated.updated_at = current.updated_at;
    updated.scope = current.scope.clone();
    let saved = s.store().save_inspection_rule(updated).await?;
    Ok(Json(Value::Object(rule_json(&saved, &b))))
}

async fn delete(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    gate(v, Method::DELETE)?;
    check_uuid(&id)?;
    let r = find(&s, &id).await?;
    refuse_built_in(&r)?;
    match s.store().delete_inspection_rule(&r.uuid).await {
        Ok(()) => Ok(no_content()),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(not_found(&id)),
        Err(e) => Err(e.into()),
    }
}

/// Delete every stored rule (built-in ones stay).
async fn delete_all(State(s): State<AppState>, ApiVersion(v): ApiVersion) -> ApiResult<Response> {
    gate(v, Method::DELETE)?;
    let n = s.store().delete_all_inspection_rules().await?;
    tracing::info!(deleted = n, "all inspection rules deleted");
    Ok(no_content())
}

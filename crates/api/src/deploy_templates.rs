//! `/v1/deploy_templates` (API 1.55): named lists of deploy steps. A node being deployed runs
//! the steps of the templates named by its `instance_info.traits` (see the conductor).

use crate::wire::{self, collection, links, parse_bool, ts, ts1};
use crate::{created, no_content, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::model::DEPLOY_STEP_INTERFACES;
use ferric_core::validate::py_repr as py;
use ferric_core::version::{feature as f, Version};
use ferric_core::{validate, DeployStep, DeployTemplate, Dict};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/deploy_templates", get(list).post(create))
        .route("/deploy_templates/{id}", get(show).patch(patch).delete(delete))
}

/// Below 1.55 Ironic answers 404 to reads and 405 to writes, whatever the path.
fn gate(v: Version, method: Method) -> ApiResult<()> {
    if v.at_least(f::DEPLOY_TEMPLATES) {
        return Ok(());
    }
    let msg = "The API version does not allow deploy templates";
    Err(if method == Method::GET { ApiError::not_found(msg) } else { ApiError::new(StatusCode::METHOD_NOT_ALLOWED, msg) })
}

const FIELDS: &[&str] = &["uuid", "name", "steps", "extra", "created_at", "updated_at"];
const SUMMARY: &[&str] = &["uuid", "name"];
const SORTABLE: &[&str] = &["uuid", "name", "created_at", "updated_at"];

fn step_json(s: &DeployStep) -> Value {
    json!({"interface": s.interface, "step": s.step, "args": wire::mask(&s.args), "priority": s.priority})
}

fn template_json(t: &DeployTemplate, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(t.uuid));
    m.insert("name".into(), json!(t.name));
    m.insert("steps".into(), Value::Array(t.steps.iter().map(step_json).collect()));
    m.insert("extra".into(), Value::Object(t.extra.clone()));
    m.insert("created_at".into(), ts1(&t.created_at));
    m.insert("updated_at".into(), ts(&t.updated_at));
    m.insert("links".into(), links(base, &format!("deploy_templates/{}", t.uuid)));
    m
}

async fn list(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v, Method::GET)?;
    let detail = q.get("detail").map(|d| parse_bool("detail", d)).transpose()?.unwrap_or(false);
    let fields = wire::parse_fields(q.get("fields"), v, FIELDS)?;
    if detail && fields.is_some() {
        return Err(ApiError::bad_request("Can not specify ?detail=True and fields in the same request."));
    }
    let lq = wire::list_query(&q, s.config.max_limit, SORTABLE)?;
    let limit = lq.limit.unwrap_or(s.config.max_limit);
    let items = s.store().list_deploy_templates(lq).await?;
    let last = items.last().map(|t| t.uuid.clone());
    let shown = if detail { None } else { fields.or_else(|| Some(SUMMARY.iter().map(|f| f.to_string()).collect())) };
    let out = items.iter().map(|t| wire::select(template_json(t, &b), &shown)).collect();
    Ok(Json(collection("deploy_templates", out, last, limit, &b, "deploy_templates", &q)))
}

/// A template by UUID or name (Ironic's `get_rpc_deploy_template`).
async fn find(s: &AppState, ident: &str) -> ApiResult<DeployTemplate> {
    crate::json_ext::lookup(ident, |i| async move { find_exact(s, &i).await }).await
}

async fn find_exact(s: &AppState, ident: &str) -> ApiResult<DeployTemplate> {
    if !validate::is_uuid_like(ident) && !validate::is_valid_logical_name(ident) {
        return Err(ApiError::bad_request(format!("Expected a logical name or UUID but received {ident}.")));
    }
    match s.store().get_deploy_template(ident).await {
        Ok(t) => Ok(t),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(ApiError::not_found(format!("Deploy template {ident} could not be found."))),
        Err(e) => Err(e.into()),
    }
}

async fn show(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v, Method::GET)?;
    let fields = wire::parse_fields(q.get("fields"), v, FIELDS)?;
    Ok(Json(wire::select(template_json(&find(&s, &id).await?, &b), &fields)))
}

// ------------------------------------------------------------------------------- validation
//
// Ironic validates a template with a JSON schema (TEMPLATE_SCHEMA, DEPLOY_STEP_SCHEMA) and then
// refuses duplicate interface/step pairs. The messages follow jsonschema's, as Ironic returns
// them: "Schema error for <template|patch>: <reason>".

fn schema_error(who: &str, reason: String) -> ApiError {
    ApiError::bad_request(format!("Schema error for {who}: {reason}"))
}

/// `type: object`, `required`, `additionalProperties: false`.
fn object_shape<'a>(who: &str, v: &'a Value, required: &[&str], allowed: &[&str]) -> ApiResult<&'a Map<String, Value>> {
    let o = v.as_object().ok_or_else(|| schema_error(who, format!("{} is not of type 'object'", py(v))))?;
    if let Some(missing) = required.iter().find(|k| !o.contains_key(**k)) {
        return Err(schema_error(who, format!("'{missing}' is a required property")));
    }
    let unexpected: Vec<String> = o.keys().filter(|k| !allowed.contains(&k.as_str())).map(|k| format!("'{k}'")).collect();
    if !unexpected.is_empty() {
        let verb = if unexpected.len() == 1 { "was" } else { "were" };
        return Err(schema_error(who, format!("Additional properties are not allowed ({} {verb} unexpected)", unexpected.join(", "))));
    }
    Ok(o)
}

const STEP_KEYS: &[&str] = &["interface", "step", "args", "priority"];

fn check_step(who: &str, v: &Value) -> ApiResult<DeployStep> {
    let o = object_shape(who, v, STEP_KEYS, STEP_KEYS)?;
    let interface = &o["interface"];
    let interface = match interface.as_str() {
        Some(i) if DEPLOY_STEP_INTERFACES.iter().any(|(name, _)| *name == i) => i.to_string(),
        Some(_) => {
            let names: Vec<String> = DEPLOY_STEP_INTERFACES.iter().map(|(n, _)| format!("'{n}'")).collect();
            return Err(schema_error(who, format!("{} is not one of [{}]", py(interface), names.join(", "))));
        }
        None => return Err(schema_error(who, format!("{} is not of type 'string'", py(interface)))),
    };
    let priority = match &o["priority"] {
        Value::Number(n) if n.as_i64().is_some_and(|p| p >= 0) => n.as_i64().unwrap_or_default(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| schema_error(who, format!("{} is not valid under any of the given schemas", py(&o["priority"]))))?
        }
        other => return Err(schema_error(who, format!("{} is not valid under any of the given schemas", py(other)))),
    };
    let step = match &o["step"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::String(_) => return Err(schema_error(who, "'' is too short".into())),
        other => return Err(schema_error(who, format!("{} is not of type 'string'", py(other)))),
    };
    let args = match &o["args"] {
        Value::Object(a) => a.clone(),
        other => return Err(schema_error(who, format!("{} is not of type 'object'", py(other)))),
    };
    Ok(DeployStep { interface, step, args, priority })
}

const TEMPLATE_KEYS: &[&str] = &["description", "extra", "name", "steps", "uuid"];

/// What a valid template body holds.
struct Checked {
    name: String,
    steps: Vec<DeployStep>,
    extra: Dict,
    uuid: Option<String>,
}

fn check_template(who: &str, v: &Value) -> ApiResult<Checked> {
    let o = object_shape(who, v, &["steps", "name"], TEMPLATE_KEYS)?;
    match o.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) if d.chars().count() <= 255 => {}
        Some(Value::String(d)) => return Err(schema_error(who, format!("{} is too long", py(&Value::String(d.clone()))))),
        Some(other) => return Err(schema_error(who, format!("{} is not of type 'string', 'null'", py(other)))),
    }
    let extra = match o.get("extra") {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Object(e)) => e.clone(),
        Some(other) => return Err(schema_error(who, format!("{} is not of type 'object', 'null'", py(other)))),
    };
    let name = match &o["name"] {
        Value::String(n) if n.is_empty() => return Err(schema_error(who, "'' is too short".into())),
        Value::String(n) if n.chars().count() > 255 => return Err(schema_error(who, format!("{} is too long", py(&o["name"])))),
        Value::String(n) if validate::is_valid_trait(n) => n.clone(),
        Value::String(_) => return Err(schema_error(who, format!("{} is not valid under any of the given schemas", py(&o["name"])))),
        other => return Err(schema_error(who, format!("{} is not of type 'string'", py(other)))),
    };
    let steps = match &o["steps"] {
        Value::Array(a) if a.is_empty() => return Err(schema_error(who, "[] is too short".into())),
        Value::Array(a) => a.iter().map(|s| check_step(who, s)).collect::<ApiResult<Vec<_>>>()?,
        other => return Err(schema_error(who, format!("{} is not of type 'array'", py(other)))),
    };
    let uuid = match o.get("uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => {
            Some(validate::canonical_uuid(u).ok_or_else(|| ApiError::bad_request(format!("Expected UUID for uuid: {u}")))?)
        }
        Some(other) => return Err(schema_error(who, format!("{} is not of type 'string', 'null'", py(other)))),
    };
    refuse_duplicates(&steps)?;
    Ok(Checked { name, steps, extra, uuid })
}

/// Each interface/step pair at most once per template.
fn refuse_duplicates(steps: &[DeployStep]) -> ApiResult<()> {
    let mut dups: Vec<String> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let key = format!("interface: {}, step: {}", s.interface, s.step);
        if steps[..i].iter().any(|p| p.interface == s.interface && p.step == s.step) && !dups.contains(&key) {
            dups.push(key);
        }
    }
    if dups.is_empty() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "Deploy template invalid: Duplicate deploy steps. A template cannot have multiple deploy steps with the same interface and step. Duplicates: {}.",
        dups.join("; ")
    )))
}

fn conflict(e: ferric_store::StoreError) -> ApiError {
    match e {
        ferric_store::StoreError::Duplicate { field, value, .. } if field == "name" => {
            ApiError::conflict(format!("A deploy template with name {value} already exists."))
        }
        ferric_store::StoreError::Duplicate { value, .. } => ApiError::conflict(format!("A deploy template with UUID {value} already exists.")),
        other => other.into(),
    }
}

// ----------------------------------------------------------------------------------- writes

async fn create(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    gate(v, Method::POST)?;
    let c = check_template("template", &body)?;
    let t = DeployTemplate {
        uuid: c.uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        name: c.name,
        steps: c.steps,
        extra: c.extra,
        created_at: ferric_core::model::now(),
        ..Default::default()
    };
    let t = s.store().create_deploy_template(t).await.map_err(conflict)?;
    Ok(created(format!("{b}/v1/deploy_templates/{}", t.uuid), Value::Object(template_json(&t, &b))))
}

const PATCHABLE: &[&str] = &["extra", "name", "steps", "description"];

async fn patch(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    gate(v, Method::PATCH)?;
    if let Some(ops) = body.as_array() {
        for op in ops {
            let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
            if !matches!(kind, "add" | "replace" | "remove") {
                return Err(schema_error("patch", format!("{} is not one of ['add', 'replace', 'remove']", py(op.get("op").unwrap_or(&Value::Null)))));
            }
            let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
            let root = path.split('/').nth(1).unwrap_or_default();
            if !PATCHABLE.contains(&root) {
                return Err(ApiError::bad_request(format!("Cannot patch {path}. Only the following can be updated: {}", PATCHABLE.join(", "))));
            }
        }
    }
    let current = find(&s, &id).await?;
    // The stored record as Ironic's `as_dict()` has it (unmasked arguments).
    let mut doc = json!({
        "uuid": current.uuid,
        "name": current.name,
        "steps": current.steps.iter().map(|st| json!({"interface": st.interface, "step": st.step, "args": st.args, "priority": st.priority})).collect::<Vec<_>>(),
        "extra": current.extra,
    });
    wire::apply_patch(&mut doc, &body)?;
    // Ironic drops keys the schema does not know from each step before validating it.
    if let Some(steps) = doc.get_mut("steps").and_then(Value::as_array_mut) {
        for st in steps.iter_mut() {
            if let Some(o) = st.as_object_mut() {
                o.retain(|k, _| STEP_KEYS.contains(&k.as_str()));
            }
            check_step("patch", st)?;
        }
    }
    let c = check_template("patch", &doc)?;
    let t = DeployTemplate { name: c.name, steps: c.steps, extra: c.extra, ..current };
    let t = s.store().save_deploy_template(t).await.map_err(conflict)?;
    Ok(Json(Value::Object(template_json(&t, &b))))
}

async fn delete(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    gate(v, Method::DELETE)?;
    let t = find(&s, &id).await?;
    s.store().delete_deploy_template(&t.uuid).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(i: &str, s: &str) -> Value {
        json!({"interface": i, "step": s, "args": {}, "priority": 10})
    }

    #[test]
    fn templates_are_validated_like_ironic() {
        let ok = check_template("template", &json!({"name": "CUSTOM_X", "steps": [step("bios", "apply_configuration")]})).unwrap();
        assert_eq!((ok.name.as_str(), ok.steps.len(), ok.uuid), ("CUSTOM_X", 1, None));
        let err = |body: Value| check_template("template", &body).err().map(|e| e.message).unwrap_or_default();
        assert_eq!(err(json!({"steps": [step("bios", "x")]})), "Schema error for template: 'name' is a required property");
        assert_eq!(
            err(json!({"name": "invalid-name", "steps": [step("bios", "x")]})),
            "Schema error for template: 'invalid-name' is not valid under any of the given schemas"
        );
        assert_eq!(err(json!({"name": "CUSTOM_X", "steps": {"key": "value"}})), "Schema error for template: {'key': 'value'} is not of type 'array'");
        assert_eq!(err(json!({"name": "CUSTOM_X", "steps": []})), "Schema error for template: [] is too short");
        assert_eq!(
            err(json!({"name": "CUSTOM_X", "steps": [step("boot", "x")]})),
            "Schema error for template: 'boot' is not one of ['vendor', 'power', 'management', 'firmware', 'deploy', 'bios', 'raid']"
        );
        assert_eq!(
            err(json!({"name": "CUSTOM_X", "steps": [{"interface": "bios", "step": "x", "priority": 1}]})),
            "Schema error for template: 'args' is a required property"
        );
        let neg = json!({"name": "CUSTOM_X", "steps": [{"interface": "bios", "step": "x", "args": {}, "priority": -1}]});
        assert_eq!(err(neg), "Schema error for template: -1 is not valid under any of the given schemas");
        assert_eq!(
            err(json!({"name": "CUSTOM_X", "steps": [step("bios", "x")], "bogus": 1})),
            "Schema error for template: Additional properties are not allowed ('bogus' was unexpected)"
        );
        assert_eq!(err(json!({"name": "CUSTOM_X", "steps": [step("bios", "x")], "uuid": "malformed:uuid"})), "Expected UUID for uuid: malformed:uuid");
        assert_eq!(
            err(json!({"name": "CUSTOM_X", "steps": [step("bios", "a"), step("raid", "a"), step("bios", "a")]})),
            "Deploy template invalid: Duplicate deploy steps. A template cannot have multiple deploy steps with the same interface and step. Duplicates: interface: bios, step: a."
        );
        // A priority may be a string of digits; it is stored as a number.
        let c = check_template("template", &json!({"name": "CUSTOM_X", "steps": [{"interface": "raid", "step": "s", "args": {}, "priority": "20"}]})).unwrap();
        assert_eq!(c.steps[0].priority, 20);
    }
}

//! `/v1/runbooks` (API 1.92): named lists of clean/service steps that a node whose traits
//! include the runbook's name may run (`runbook` in the provision request, see `nodes.rs`).
//!
//! Validation follows Ironic's JSON schemas (`RUNBOOK_SCHEMA`, `RUNBOOK_STEP_SCHEMA`,
//! `args.patch`) and jsonschema's choice of the error it reports: the shallowest one, a
//! non-`anyOf` one before an `anyOf` one, else the first found.

use crate::wire::{self, links, parse_bool, ts, ts1};
use crate::{created, no_content, ApiError, ApiResult, ApiVersion, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get};
use axum::{Json, Router};
use ferric_core::model::{updated_runbook_steps, DEPLOY_STEP_INTERFACES};
use ferric_core::validate::{self, py_repr as py};
use ferric_core::version::{feature as f, Version};
use ferric_core::{Dict, Runbook, RunbookStep};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/runbooks", get(list).post(create).fallback(other))
        .route("/runbooks/{id}", get(show).patch(patch).delete(delete).fallback(other))
        .route("/runbooks/{id}/traits", any(traits))
        .route("/runbooks/{id}/traits/{trait}", any(traits))
}

/// Below 1.92 Ironic answers 404 to reads and 405 to anything else, in webob's shape.
fn gate(v: Version, method: &Method) -> ApiResult<()> {
    if v.at_least(f::RUNBOOKS) {
        return Ok(());
    }
    let msg = "The API version does not allow runbooks";
    let status = if method == Method::GET { StatusCode::NOT_FOUND } else { StatusCode::METHOD_NOT_ALLOWED };
    Err(ApiError::webob(status, msg))
}

/// A method the resource does not have.
async fn other(ApiVersion(v): ApiVersion, method: Method) -> ApiError {
    match gate(v, &method) {
        Err(e) => e,
        Ok(()) => ApiError::webob(StatusCode::METHOD_NOT_ALLOWED, ""),
    }
}

/// `/runbooks/{id}/traits` arrived with API 1.112.
async fn traits(ApiVersion(v): ApiVersion, method: Method) -> ApiError {
    match gate(v, &method) {
        Err(e) => e,
        Ok(()) => ApiError::webob(StatusCode::NOT_FOUND, "The API version does not allow runbook traits"),
    }
}

const FIELDS: &[&str] = &["uuid", "name", "steps", "disable_ramdisk", "extra", "public", "owner", "created_at", "updated_at"];
const SUMMARY: &[&str] = &["uuid", "name"];
const SORTABLE: &[&str] = &["uuid", "name", "public", "owner", "disable_ramdisk", "description", "created_at", "updated_at"];

fn step_json(s: &RunbookStep, masked: bool) -> Value {
    let args = if masked { wire::mask(&s.args) } else { Value::Object(s.args.clone()) };
    json!({"interface": s.interface, "step": s.step, "args": args, "order": s.order})
}

fn runbook_json(r: &Runbook, base: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uuid".into(), json!(r.uuid));
    m.insert("created_at".into(), ts1(&r.created_at));
    m.insert("updated_at".into(), ts(&r.updated_at));
    m.insert("name".into(), json!(r.name));
    m.insert("extra".into(), Value::Object(r.extra.clone()));
    m.insert("public".into(), json!(r.public));
    m.insert("owner".into(), json!(r.owner));
    m.insert("disable_ramdisk".into(), json!(r.disable_ramdisk));
    m.insert("links".into(), links(base, &format!("runbooks/{}", r.uuid)));
    m.insert("steps".into(), Value::Array(r.steps.iter().map(|s| step_json(s, true)).collect()));
    m
}

// ------------------------------------------------------------------------------------ reads

async fn list(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Query(mut q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v, &Method::GET)?;
    wire::only_params(&q, &["marker", "limit", "sort_key", "sort_dir", "fields", "detail", "project"])?;
    let marker = q.remove("marker");
    if let Some(m) = &marker {
        if !validate::is_valid_logical_name(m) {
            return Err(ApiError::bad_request(format!("Expected name for marker: {m}")));
        }
    }
    let detail = q.get("detail").map(|d| parse_bool("detail", d)).transpose()?;
    // `project` is a boolean here; Ironic's admin view then filters on `owner == True OR
    // public`, which SQLite matches as the owner "1" (and every public runbook).
    let project = q.get("project").map(|p| parse_bool("project", p)).transpose()?.unwrap_or(false).then(|| "1".to_string());
    if detail.is_some() && q.contains_key("fields") {
        return Err(ApiError::bad_request("Can not specify ?detail=True and fields in the same request."));
    }
    if let Some(k) = q.get("sort_key").filter(|k| ["extra", "steps", "traits"].contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("The sort_key value {k} is an invalid field for sorting")));
    }
    let mut lq = wire::list_query(&q, s.config.max_limit, SORTABLE)?;
    let limit = lq.limit.unwrap_or(s.config.max_limit);
    if let Some(m) = &marker {
        let found = s.store().list_runbooks(None, Default::default()).await?.into_iter().any(|r| &r.uuid == m);
        if !found {
            return Err(ApiError::not_found(format!("Runbook {m} could not be found.")));
        }
        lq.marker = Some(m.clone());
    }
    let fields = wire::parse_fields(q.get("fields"), v, FIELDS)?;
    let items = s.store().list_runbooks(project, lq).await?;
    let last = items.last().map(|r| r.uuid.clone());
    let shown = if detail == Some(true) { None } else { fields.or_else(|| Some(SUMMARY.iter().map(|f| f.to_string()).collect())) };
    let out = items.iter().map(|r| wire::select(runbook_json(r, &b), &shown)).collect();
    if let Some(m) = marker {
        q.insert("marker".into(), m);
    }
    Ok(Json(wire::collection("runbooks", out, last, limit, &b, "runbooks", &q)))
}

/// A runbook by UUID or name, the identifier checked as Ironic's `args.uuid_or_name`.
async fn find(s: &AppState, ident: &str) -> ApiResult<Runbook> {
    if !validate::is_uuid_like(ident) && !validate::is_valid_logical_name(ident) {
        return Err(ApiError::bad_request(format!("Expected UUID or name for runbook_ident: {ident}")));
    }
    lookup(s, ident).await
}

async fn lookup(s: &AppState, ident: &str) -> ApiResult<Runbook> {
    match s.store().get_runbook(ident).await {
        Ok(r) => Ok(r),
        Err(ferric_store::StoreError::NotFound { .. }) => Err(ApiError::not_found(format!("Runbook {ident} could not be found."))),
        Err(e) => Err(e.into()),
    }
}

/// The runbook named in a provision request (Ironic's `get_rpc_runbook`).
pub async fn for_provision(s: &AppState, ident: &str) -> ApiResult<Runbook> {
    if !validate::is_uuid_like(ident) && !validate::is_valid_logical_name(ident) {
        return Err(ApiError::bad_request(format!("Expected a logical name or UUID but received {ident}.")));
    }
    lookup(s, ident).await
}

async fn show(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    gate(v, &Method::GET)?;
    wire::only_params(&q, &["fields"])?;
    let r = find(&s, &id).await?;
    let fields = wire::parse_fields(q.get("fields"), v, FIELDS)?;
    Ok(Json(wire::select(runbook_json(&r, &b), &fields)))
}

// ------------------------------------------------------------------------------- validation

/// The error jsonschema reports among those found: the shallowest, a plain one before an
/// `anyOf` one at the same depth, else the first.
#[derive(Default)]
struct Found {
    best: Option<(usize, bool, String)>,
}

impl Found {
    fn add(&mut self, depth: usize, weak: bool, msg: String) {
        let better = match &self.best {
            None => true,
            Some((d, w, _)) => depth < *d || (depth == *d && *w && !weak),
        };
        if better {
            self.best = Some((depth, weak, msg));
        }
    }
    fn result(self, who: &str) -> ApiResult<()> {
        match self.best {
            None => Ok(()),
            Some((_, _, m)) => Err(ApiError::bad_request(format!("Schema error for {who}: {m}"))),
        }
    }
}

fn not_type(v: &Value, types: &str) -> String {
    format!("{} is not of type {types}", py(v))
}

/// `required` then `additionalProperties` of an object at `depth`.
fn check_keys(found: &mut Found, depth: usize, o: &Map<String, Value>, required: &[&str], allowed: &[&str]) {
    for key in required.iter().filter(|k| !o.contains_key(**k)) {
        found.add(depth, false, format!("'{key}' is a required property"));
    }
    let extra: Vec<String> = o.keys().filter(|k| !allowed.contains(&k.as_str())).map(|k| format!("'{k}'")).collect();
    if !extra.is_empty() {
        let verb = if extra.len() == 1 { "was" } else { "were" };
        found.add(depth, false, format!("Additional properties are not allowed ({} {verb} unexpected)", extra.join(", ")));
    }
}

fn string_rules(found: &mut Found, depth: usize, v: &Value, nullable: bool, max: Option<usize>) {
    match v {
        Value::Null if nullable => {}
        Value::String(s) => {
            if max.is_some_and(|m| s.chars().count() > m) {
                found.add(depth, false, format!("{} is too long", py(v)));
            }
        }
        _ => found.add(depth, false, not_type(v, if nullable { "'string', 'null'" } else { "'string'" })),
    }
}

/// A trait name: Ironic's `TRAITS_SCHEMA` (`CUSTOM_*` or a standard trait).
fn trait_rules(found: &mut Found, depth: usize, v: &Value) {
    let Value::String(s) = v else {
        found.add(depth, false, not_type(v, "'string'"));
        return;
    };
    let n = s.chars().count();
    if n == 0 {
        found.add(depth, false, "'' should be non-empty".into());
    } else if n > 255 {
        found.add(depth, false, format!("{} is too long", py(v)));
    }
    if !validate::is_valid_trait(s) {
        found.add(
            depth,
            true,
            format!("{} is not valid under any of the given schemas. Possible root cause: {} does not match '^CUSTOM_[A-Z0-9_]+$'", py(v), py(v)),
        );
    }
}

/// Ironic's `RUNBOOK_NAME_SCHEMA` (the schema a PATCH uses whatever the version).
fn patched_name_rules(found: &mut Found, depth: usize, v: &Value) {
    let Value::String(s) = v else {
        found.add(depth, false, not_type(v, "'string'"));
        return;
    };
    let n = s.chars().count();
    if n == 0 {
        found.add(depth, false, "'' should be non-empty".into());
    } else if n > 255 {
        found.add(depth, false, format!("{} is too long", py(v)));
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)) {
        found.add(depth, false, format!("{} does not match '^[A-Za-z0-9\\\\-._~]+$'", py(v)));
    }
}

const STEP_KEYS: &[&str] = &["args", "interface", "step", "order"];

/// `order`: a non-negative integer or a string of digits (`anyOf`, so a weak error).
fn order_value(v: &Value) -> Result<i64, String> {
    let cause = || format!("{} is not valid under any of the given schemas. Possible root cause: {} is not of type 'integer'", py(v), py(v));
    match v {
        Value::Number(n) => {
            let int = n.as_i64().or_else(|| n.as_f64().filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15).map(|x| x as i64));
            match int {
                Some(i) if i >= 0 => Ok(i),
                Some(i) => Err(format!("{i} is less than the minimum of 0")),
                None => Err(cause()),
            }
        }
        Value::String(s) if s.is_empty() => Err(cause()),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().map_err(|_| cause()),
        Value::String(_) => Err(format!("{} does not match '^[0-9]+$'", py(v))),
        _ => Err(cause()),
    }
}

/// One step at `depth` (its position in the document); `Some` when it is valid.
fn check_step(found: &mut Found, depth: usize, v: &Value) -> Option<RunbookStep> {
    let Some(o) = v.as_object() else {
        found.add(depth, false, not_type(v, "'object'"));
        return None;
    };
    let before = found.best.is_some();
    let mut ok = true;
    if let Some(a) = o.get("args").filter(|a| !a.is_object()) {
        found.add(depth + 1, false, not_type(a, "'object'"));
        ok = false;
    }
    if let Some(i) = o.get("interface") {
        match i.as_str() {
            Some(name) if DEPLOY_STEP_INTERFACES.iter().any(|(n, _)| *n == name) => {}
            Some(_) => {
                let names: Vec<String> = DEPLOY_STEP_INTERFACES.iter().map(|(n, _)| format!("'{n}'")).collect();
                found.add(depth + 1, false, format!("{} is not one of [{}]", py(i), names.join(", ")));
                ok = false;
            }
            None => {
                found.add(depth + 1, false, not_type(i, "'string'"));
                ok = false;
            }
        }
    }
    match o.get("step") {
        Some(Value::String(s)) if s.is_empty() => {
            found.add(depth + 1, false, "'' should be non-empty".into());
            ok = false;
        }
        Some(Value::String(_)) | None => {}
        Some(other) => {
            found.add(depth + 1, false, not_type(other, "'string'"));
            ok = false;
        }
    }
    let order = o.get("order").map(order_value);
    if let Some(Err(m)) = &order {
        found.add(depth + 1, true, m.clone());
        ok = false;
    }
    check_keys(found, depth, o, &["interface", "step", "order"], STEP_KEYS);
    if !ok || (!before && found.best.is_some()) {
        return None;
    }
    Some(RunbookStep {
        interface: o.get("interface")?.as_str()?.to_string(),
        step: o.get("step")?.as_str()?.to_string(),
        args: o.get("args").and_then(Value::as_object).cloned().unwrap_or_default(),
        order: order?.ok()?,
    })
}

/// What a valid runbook document holds.
struct Checked {
    name: String,
    steps: Vec<RunbookStep>,
    disable_ramdisk: bool,
    extra: Dict,
    public: bool,
    owner: Option<String>,
    uuid: Option<String>,
}

/// `RUNBOOK_SCHEMA` for a create (`who` = "runbook"); a PATCH result (`who` = "patch") uses
/// the 1.112 mutation schema, as Ironic does at every version: relaxed names and a
/// `description`.
fn check_runbook(who: &str, v: &Value) -> ApiResult<Checked> {
    let patched = who == "patch";
    let mut found = Found::default();
    let Some(o) = v.as_object() else {
        found.add(0, false, not_type(v, "'object'"));
        found.result(who)?;
        unreachable!("an error was recorded");
    };
    if let Some(u) = o.get("uuid") {
        string_rules(&mut found, 1, u, true, None);
    }
    if let Some(n) = o.get("name") {
        if patched {
            patched_name_rules(&mut found, 1, n);
        } else {
            trait_rules(&mut found, 1, n);
        }
    }
    if patched {
        if let Some(d) = o.get("description") {
            string_rules(&mut found, 1, d, true, Some(255));
        }
    }
    let mut steps = Vec::new();
    if let Some(st) = o.get("steps") {
        match st {
            Value::Array(a) => {
                for s in a {
                    if let Some(s) = check_step(&mut found, 2, s) {
                        steps.push(s);
                    }
                }
                if a.is_empty() {
                    found.add(1, false, "[] should be non-empty".into());
                }
            }
            other => found.add(1, false, not_type(other, "'array'")),
        }
    }
    for key in ["disable_ramdisk", "public"] {
        if let Some(b) = o.get(key).filter(|b| !b.is_boolean() && !b.is_null()) {
            found.add(1, false, not_type(b, "'boolean', 'null'"));
        }
    }
    if let Some(e) = o.get("extra").filter(|e| !e.is_object() && !e.is_null()) {
        found.add(1, false, not_type(e, "'object', 'null'"));
    }
    if let Some(ow) = o.get("owner") {
        string_rules(&mut found, 1, ow, true, Some(255));
    }
    let allowed: &[&str] = if patched {
        &["uuid", "name", "description", "steps", "disable_ramdisk", "extra", "public", "owner"]
    } else {
        &["uuid", "name", "steps", "disable_ramdisk", "extra", "public", "owner"]
    };
    check_keys(&mut found, 0, o, &["steps", "name"], allowed);
    found.result(who)?;
    refuse_duplicates(&steps)?;
    let uuid = match o.get("uuid") {
        Some(Value::String(u)) => Some(validate::canonical_uuid(u).ok_or_else(|| ApiError::bad_request(format!("Expected UUID for uuid: {u}")))?),
        _ => None,
    };
    Ok(Checked {
        name: o["name"].as_str().unwrap_or_default().to_string(),
        steps,
        disable_ramdisk: o.get("disable_ramdisk").and_then(Value::as_bool).unwrap_or(false),
        extra: o.get("extra").and_then(Value::as_object).cloned().unwrap_or_default(),
        public: o.get("public").and_then(Value::as_bool).unwrap_or(false),
        owner: o.get("owner").and_then(Value::as_str).map(str::to_string),
        uuid,
    })
}

/// Ironic checks runbooks with the deploy templates' duplicate check, and its message.
fn refuse_duplicates(steps: &[RunbookStep]) -> ApiResult<()> {
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
            ApiError::conflict(format!("A runbook with name {value} already exists."))
        }
        ferric_store::StoreError::Duplicate { value, .. } => ApiError::conflict(format!("A runbook with UUID {value} already exists.")),
        other => other.into(),
    }
}

// ----------------------------------------------------------------------------------- writes

async fn create(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<Response> {
    gate(v, &Method::POST)?;
    let body = if body.is_null() { json!({}) } else { body };
    let c = check_runbook("runbook", &body)?;
    // With noauth Ironic's request context has neither a system scope nor a project: an
    // owner cannot be asked for, and none is recorded.
    if c.owner.as_deref().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad_request("Cannot create a runbook as a project scoped admin with an owner other than your own project."));
    }
    let r = Runbook {
        uuid: c.uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        name: c.name,
        steps: c.steps,
        disable_ramdisk: c.disable_ramdisk,
        extra: c.extra,
        public: c.public,
        owner: None,
        created_at: ferric_core::model::now(),
        ..Default::default()
    };
    let r = s.store().create_runbook(r).await.map_err(conflict)?;
    Ok(created(format!("{b}/v1/runbooks/{}", r.uuid), Value::Object(runbook_json(&r, &b))))
}

const PATCHABLE: &[&str] = &["disable_ramdisk", "extra", "name", "owner", "public", "steps"];

/// Python's truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

async fn patch(State(s): State<AppState>, ApiVersion(v): ApiVersion, BaseUrl(b): BaseUrl, Path(id): Path<String>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    gate(v, &Method::PATCH)?;
    if !validate::is_uuid_like(&id) && !validate::is_valid_logical_name(&id) {
        return Err(ApiError::bad_request(format!("Expected UUID or name for runbook_ident: {id}")));
    }
    wire::check_patch_schema(&body)?;
    let ops = body.as_array().cloned().unwrap_or_default();
    for op in &ops {
        let path = op["path"].as_str().unwrap_or_default();
        if !PATCHABLE.contains(&path.split('/').nth(1).unwrap_or_default()) {
            return Err(ApiError::bad_request(format!("Cannot patch {path}. Only the following can be updated: {}", PATCHABLE.join(", "))));
        }
    }
    let current = lookup(&s, &id).await?;
    let values = |path: &str| -> Vec<Value> {
        ops.iter().filter(|o| o["path"] == path && o["op"] != "remove").map(|o| o.get("value").cloned().unwrap_or(Value::Null)).collect()
    };
    let (owner, public) = (values("/owner"), values("/public"));
    if !owner.is_empty() {
        // No owner for a public runbook; a patch may make it private and give it one at once.
        let public_value = public.first().is_some_and(truthy);
        if (current.public && public.is_empty()) || public_value {
            return Err(ApiError::bad_request(format!(
                "Couldn't apply patch '{}'. Reason: There cannot be an owner for a public runbook",
                py(&body)
            )));
        }
    }
    // The stored record as Ironic's `as_dict()` has it (unmasked arguments).
    let mut doc = json!({
        "uuid": current.uuid,
        "name": current.name,
        "description": null,
        "steps": current.steps.iter().map(|st| step_json(st, false)).collect::<Vec<_>>(),
        "disable_ramdisk": current.disable_ramdisk,
        "extra": current.extra,
        "public": current.public,
        "owner": if public.is_empty() { json!(current.owner) } else { Value::Null },
    });
    for op in &ops {
        if op["op"] != "remove" && op.get("value").is_none() {
            return Err(ApiError::bad_request(format!(
                "Couldn't apply patch '{}'. Reason: The operation does not contain a 'value' member",
                py(op)
            )));
        }
        let p: json_patch::Patch = serde_json::from_value(Value::Array(vec![op.clone()])).map_err(|e| ApiError::bad_request(e.to_string()))?;
        json_patch::patch(&mut doc, &p).map_err(|e| ApiError::bad_request(format!("Couldn't apply patch '{}'. Reason: {e}", py(op))))?;
    }
    // Ironic drops keys the schema does not know from each step and checks it alone first.
    if let Some(steps) = doc.get_mut("steps").and_then(Value::as_array_mut) {
        for st in steps.iter_mut() {
            if let Some(o) = st.as_object_mut() {
                o.retain(|k, _| STEP_KEYS.contains(&k.as_str()));
            }
            let mut found = Found::default();
            check_step(&mut found, 0, st);
            found.result("patch")?;
        }
    }
    let c = check_runbook("patch", &doc)?;
    let updated = Runbook {
        name: c.name,
        steps: updated_runbook_steps(&current.steps, &c.steps),
        // A removed or null field takes the column's default, as in Ironic.
        disable_ramdisk: c.disable_ramdisk,
        extra: c.extra,
        public: c.public,
        owner: c.owner,
        ..current.clone()
    };
    if updated == current {
        return Ok(Json(Value::Object(runbook_json(&current, &b))));
    }
    let r = s.store().save_runbook(updated).await.map_err(conflict)?;
    Ok(Json(Value::Object(runbook_json(&r, &b))))
}

async fn delete(State(s): State<AppState>, ApiVersion(v): ApiVersion, Path(id): Path<String>) -> ApiResult<Response> {
    gate(v, &Method::DELETE)?;
    let r = find(&s, &id).await?;
    s.store().delete_runbook(&r.uuid).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: Value) -> String {
        check_runbook("runbook", &body).err().map(|e| e.message).unwrap_or_default()
    }

    fn step(order: Value) -> Value {
        json!({"interface": "bios", "step": "apply_configuration", "args": {}, "order": order})
    }

    /// Every expected text below is what Ironic 39 answered to the same body.
    #[test]
    fn runbooks_are_validated_like_ironic() {
        let ok = check_runbook("runbook", &json!({"name": "CUSTOM_A", "steps": [step(json!("7")), {"interface": "raid", "step": "x", "order": 1}]})).unwrap();
        assert_eq!((ok.name.as_str(), ok.steps[0].order, ok.steps[1].args.len(), ok.uuid), ("CUSTOM_A", 7, 0, None));
        assert!(check_runbook("runbook", &json!({"name": "HW_CPU_X86_AVX", "steps": [step(json!(1))]})).is_ok());
        let s = json!([step(json!(1))]);
        assert_eq!(
            err(json!({"name": "invalid-name", "steps": s})),
            "Schema error for runbook: 'invalid-name' is not valid under any of the given schemas. Possible root cause: 'invalid-name' does not match '^CUSTOM_[A-Z0-9_]+$'"
        );
        assert_eq!(err(json!({"name": null, "steps": s})), "Schema error for runbook: None is not of type 'string'");
        assert_eq!(err(json!({"name": "", "steps": s})), "Schema error for runbook: '' should be non-empty");
        assert_eq!(err(json!({"name": 5, "steps": s})), "Schema error for runbook: 5 is not of type 'string'");
        assert_eq!(err(json!({"name": "CUSTOM_B"})), "Schema error for runbook: 'steps' is a required property");
        assert_eq!(err(json!({})), "Schema error for runbook: 'steps' is a required property");
        assert_eq!(err(json!([])), "Schema error for runbook: [] is not of type 'object'");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": {"key": "value"}})), "Schema error for runbook: {'key': 'value'} is not of type 'array'");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": []})), "Schema error for runbook: [] should be non-empty");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": s, "uuid": "malformed:uuid"})), "Expected UUID for uuid: malformed:uuid");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": s, "uuid": 5})), "Schema error for runbook: 5 is not of type 'string', 'null'");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": [{"invalid_key": "value"}]})), "Schema error for runbook: 'interface' is a required property");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": ["x"]})), "Schema error for runbook: 'x' is not of type 'object'");
        assert_eq!(
            err(json!({"name": "CUSTOM_B", "steps": [{"interface": "boot", "step": "x", "order": 1}]})),
            "Schema error for runbook: 'boot' is not one of ['vendor', 'power', 'management', 'firmware', 'deploy', 'bios', 'raid']"
        );
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": [{"interface": 5, "step": "x", "order": 1}]})), "Schema error for runbook: 5 is not of type 'string'");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": [{"interface": "bios", "step": "", "order": 1}]})), "Schema error for runbook: '' should be non-empty");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": [{"interface": "bios", "step": "x"}]})), "Schema error for runbook: 'order' is a required property");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": [step(json!(-1))]})), "Schema error for runbook: -1 is less than the minimum of 0");
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": [step(json!("abc"))]})), "Schema error for runbook: 'abc' does not match '^[0-9]+$'");
        for (order, shown) in [(json!(""), "''"), (json!(1.5), "1.5"), (json!(true), "True"), (json!(null), "None")] {
            assert_eq!(
                err(json!({"name": "CUSTOM_B", "steps": [step(order)]})),
                format!("Schema error for runbook: {shown} is not valid under any of the given schemas. Possible root cause: {shown} is not of type 'integer'")
            );
        }
        assert_eq!(
            err(json!({"name": "CUSTOM_B", "steps": [{"interface": "bios", "step": "x", "order": 1, "priority": 1}]})),
            "Schema error for runbook: Additional properties are not allowed ('priority' was unexpected)"
        );
        assert_eq!(err(json!({"name": "CUSTOM_B", "steps": [{"interface": "bios", "step": "x", "order": 1, "args": []}]})), "Schema error for runbook: [] is not of type 'object'");
        assert_eq!(err(json!({"name": "CUSTOM_C", "steps": s, "extra": []})), "Schema error for runbook: [] is not of type 'object', 'null'");
        assert_eq!(err(json!({"name": "CUSTOM_C", "steps": s, "public": "true"})), "Schema error for runbook: 'true' is not of type 'boolean', 'null'");
        assert_eq!(err(json!({"name": "CUSTOM_C", "steps": s, "disable_ramdisk": "yes"})), "Schema error for runbook: 'yes' is not of type 'boolean', 'null'");
        assert_eq!(err(json!({"name": "CUSTOM_C", "steps": s, "owner": 5})), "Schema error for runbook: 5 is not of type 'string', 'null'");
        assert_eq!(
            err(json!({"name": "CUSTOM_B", "steps": s, "description": "x"})),
            "Schema error for runbook: Additional properties are not allowed ('description' was unexpected)"
        );
        assert_eq!(
            err(json!({"name": "CUSTOM_B", "steps": [{"interface": "bios", "step": "x", "order": 1}, {"interface": "bios", "step": "x", "order": 2}]})),
            "Deploy template invalid: Duplicate deploy steps. A template cannot have multiple deploy steps with the same interface and step. Duplicates: interface: bios, step: x."
        );
        // The shallowest error wins: a missing property of the runbook over a bad step.
        assert_eq!(err(json!({"name": "bad", "steps": [step(json!(-1))], "bogus": 1})), "Schema error for runbook: Additional properties are not allowed ('bogus' was unexpected)");
        assert_eq!(
            err(json!({"name": "CUSTOM_B", "steps": [step(json!(-1)), {"interface": "bios", "step": "y"}]})),
            "Schema error for runbook: 'order' is a required property"
        );
    }

    #[test]
    fn a_patched_runbook_may_have_any_url_safe_name() {
        let doc = |name: Value| json!({"name": name, "steps": [step(json!(1))], "description": null, "owner": null, "public": false, "extra": {}});
        assert_eq!(check_runbook("patch", &doc(json!("my-runbook.v2"))).unwrap().name, "my-runbook.v2");
        let e = check_runbook("patch", &doc(json!("a b"))).err().unwrap().message;
        assert_eq!(e, "Schema error for patch: 'a b' does not match '^[A-Za-z0-9\\\\-._~]+$'");
        assert_eq!(check_runbook("patch", &doc(json!(""))).err().unwrap().message, "Schema error for patch: '' should be non-empty");
    }
}

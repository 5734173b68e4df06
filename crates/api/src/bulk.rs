//! `/v1/bulk_inspections` (ferric's extension, any API version): inspect many nodes with one
//! call, at most `concurrency` at a time, and follow the job.
//!
//! `POST {"nodes": [name or UUID, ...], "concurrency": N}` (both optional: every manageable
//! node outside maintenance; 20 at a time) answers 202 with the job; `GET .../{uuid}` shows
//! each node's status (`queued`, `inspecting`, `done`, `failed` with the error) and counts.

use crate::{ApiError, ApiResult, AppState, BaseUrl, JsonBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use ferric_core::bulk::{BulkInspection, ItemStatus, DEFAULT_CONCURRENCY, MAX_CONCURRENCY};
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new().route("/bulk_inspections", get(list).post(create)).route("/bulk_inspections/{uuid}", get(show))
}

fn job_json(j: &BulkInspection, base: &str, with_nodes: bool) -> Value {
    let mut v = json!({
        "uuid": j.uuid,
        "state": if j.finished_at.is_some() { "finished" } else { "running" },
        "concurrency": j.concurrency,
        "created_at": crate::wire::ts1(&j.created_at),
        "finished_at": crate::wire::ts(&j.finished_at),
        "counts": {
            "total": j.items.len(),
            "queued": j.count(ItemStatus::Queued),
            "inspecting": j.count(ItemStatus::Inspecting),
            "done": j.count(ItemStatus::Done),
            "failed": j.count(ItemStatus::Failed),
        },
        "links": crate::wire::links(base, &format!("bulk_inspections/{}", j.uuid)),
    });
    if with_nodes {
        v["nodes"] = j
            .items
            .iter()
            .map(|i| {
                json!({
                    "node_uuid": i.node_uuid,
                    "name": i.name,
                    "status": i.status,
                    "error": i.error,
                    "started_at": crate::wire::ts(&i.started_at),
                    "finished_at": crate::wire::ts(&i.finished_at),
                })
            })
            .collect();
    }
    v
}

async fn create(State(s): State<AppState>, BaseUrl(b): BaseUrl, JsonBody(body): JsonBody) -> ApiResult<(StatusCode, Json<Value>)> {
    let Value::Object(body) = body else { return Err(ApiError::bad_request("The body must be a JSON object")) };
    for k in body.keys() {
        if k != "nodes" && k != "concurrency" {
            return Err(ApiError::bad_request(format!("Unknown field \"{k}\"; allowed: nodes, concurrency")));
        }
    }
    let nodes = match body.get("nodes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for n in a {
                match n.as_str().filter(|s| !s.is_empty()) {
                    Some(s) => out.push(s.to_string()),
                    None => return Err(ApiError::bad_request(format!("\"nodes\" must be a list of node names or UUIDs, got {n}"))),
                }
            }
            if out.is_empty() {
                return Err(ApiError::bad_request("\"nodes\" is empty; omit it to inspect every manageable node"));
            }
            Some(out)
        }
        Some(other) => return Err(ApiError::bad_request(format!("\"nodes\" must be a list of node names or UUIDs, got {other}"))),
    };
    let concurrency = match body.get("concurrency") {
        None | Some(Value::Null) => DEFAULT_CONCURRENCY,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_CONCURRENCY as u64).contains(&n) => n as usize,
            _ => return Err(ApiError::bad_request(format!("\"concurrency\" must be an integer from 1 to {MAX_CONCURRENCY}, got {v}"))),
        },
    };
    let job = s.conductor.start_bulk_inspection(nodes, concurrency).await?;
    Ok((StatusCode::ACCEPTED, Json(job_json(&job, &b, true))))
}

async fn show(State(s): State<AppState>, BaseUrl(b): BaseUrl, Path(uuid): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(job_json(&s.conductor.get_bulk_inspection(&uuid).await?, &b, true)))
}

async fn list(State(s): State<AppState>, BaseUrl(b): BaseUrl) -> ApiResult<Json<Value>> {
    let jobs = s.conductor.list_bulk_inspections().await?;
    Ok(Json(json!({"bulk_inspections": jobs.iter().map(|j| job_json(j, &b, false)).collect::<Vec<_>>()})))
}

//! IPA's agent REST API (`IPA:ironic_python_agent/api/app.py`), served on the listen port:
//! `GET /`, `GET /v1`, `GET /v1/status`, `GET /v1/commands`, `GET /v1/commands/{id}?wait=`,
//! `POST /v1/commands?wait=` (also without the `/v1` prefix, and with or without the trailing
//! slash). The command endpoints need `?agent_token=` matching the token the agent holds; with
//! no token known every command request is refused, as IPA does. Errors are
//! `{faultcode, faultstring}` with werkzeug's texts.

use crate::commands::{CommandRunner, Registry, RestError};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;

pub const DOCS_URL: &str = "https://docs.openstack.org/ironic-python-agent";
pub const MEDIA_TYPE: &str = "application/vnd.openstack.ironic-python-agent.v1+json";

/// The agent's shared state: the command runner, the token, the node from lookup.
pub struct Agent {
    pub runner: CommandRunner,
    token: RwLock<Option<String>>,
    started_at: RwLock<Option<f64>>,
    node: RwLock<Option<Map<String, Value>>>,
    version: String,
    heartbeat_now: Arc<Notify>,
}

impl Agent {
    /// `version` is what `/v1/status` reports (the agent version sent in heartbeats).
    pub fn new(registry: Registry, version: impl Into<String>) -> Arc<Agent> {
        let heartbeat_now = Arc::new(Notify::new());
        let n = heartbeat_now.clone();
        let runner =
            CommandRunner::new(registry).with_async_done_hook(Arc::new(move || n.notify_one()));
        Arc::new(Agent {
            runner,
            token: RwLock::new(None),
            started_at: RwLock::new(None),
            node: RwLock::new(None),
            version: version.into(),
            heartbeat_now,
        })
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.write().unwrap() = token;
    }
    pub fn token(&self) -> Option<String> {
        self.token.read().unwrap().clone()
    }

    /// IPA's `validate_agent_token`: false when either side has no token.
    pub fn validate_token(&self, given: Option<&str>) -> bool {
        match (given, self.token.read().unwrap().as_deref()) {
            (Some(g), Some(t)) if !g.is_empty() && !t.is_empty() => {
                g.len() == t.len()
                    && g.bytes()
                        .zip(t.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
            }
            _ => false,
        }
    }

    pub fn mark_started(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        *self.started_at.write().unwrap() = Some(now);
    }

    pub fn set_node(&self, node: Map<String, Value>) {
        *self.node.write().unwrap() = Some(node);
    }
    pub fn node(&self) -> Option<Map<String, Value>> {
        self.node.read().unwrap().clone()
    }

    /// Ask the heartbeater for a heartbeat soon (after an async command finishes).
    pub fn force_heartbeat(&self) {
        self.heartbeat_now.notify_one();
    }
    pub(crate) fn heartbeat_signal(&self) -> Arc<Notify> {
        self.heartbeat_now.clone()
    }

    /// `{started_at, version}`.
    pub fn status(&self) -> Value {
        json!({"started_at": *self.started_at.read().unwrap(), "version": self.version})
    }
}

fn fault(status: StatusCode, faultstring: impl Into<String>) -> Response {
    let code = if status.as_u16() >= 500 {
        "Server"
    } else {
        "Client"
    };
    (
        status,
        json_body(&json!({"faultcode": code, "faultstring": faultstring.into()})),
    )
        .into_response()
}

fn rest_error(e: RestError) -> Response {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, json_body(&e.fault())).into_response()
}

fn json_body(v: &Value) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string())
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, json_body(&v)).into_response()
}

type Q = Query<Vec<(String, String)>>;

fn arg<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn wants_wait(q: &[(String, String)]) -> bool {
    arg(q, "wait").is_some_and(|w| w.eq_ignore_ascii_case("true"))
}

/// The command endpoints read the token from the query only, as IPA does.
fn authorized(agent: &Agent, q: &[(String, String)]) -> bool {
    agent.validate_token(arg(q, "agent_token"))
}

fn unauthorized() -> Response {
    fault(StatusCode::UNAUTHORIZED, "401 Unauthorized: Token invalid.")
}

fn root_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn link(url: &str, rel: &str, resource: &str) -> Value {
    match rel {
        "describedby" => json!({"href": format!("{DOCS_URL}/"), "rel": rel, "type": "text/html"}),
        "bookmark" => json!({"href": format!("{url}/{resource}"), "rel": rel}),
        _ => json!({"href": format!("{url}/v1/{resource}"), "rel": rel}),
    }
}

fn version(url: &str) -> Value {
    json!({"id": "v1", "links": [{"href": format!("{url}/v1"), "rel": "self"}, link(url, "describedby", "")]})
}

async fn api_root(headers: HeaderMap) -> Response {
    let url = root_url(&headers);
    ok(json!({
        "name": "OpenStack Ironic Python Agent API",
        "description": "Ironic Python Agent is a provisioning agent for OpenStack Ironic",
        "versions": [version(&url)],
        "default_version": version(&url),
    }))
}

async fn api_v1(headers: HeaderMap) -> Response {
    let url = root_url(&headers);
    let mut v = json!({
        "commands": [link(&url, "self", "commands"), link(&url, "bookmark", "commands")],
        "status": [link(&url, "self", "status"), link(&url, "bookmark", "status")],
        "media_types": [{"base": "application/json", "type": MEDIA_TYPE}],
    });
    if let (Value::Object(o), Value::Object(ver)) = (&mut v, version(&url)) {
        o.extend(ver);
    }
    ok(v)
}

async fn api_status(State(agent): State<Arc<Agent>>) -> Response {
    ok(agent.status())
}

async fn list_commands(State(agent): State<Arc<Agent>>, Query(q): Q) -> Response {
    if !authorized(&agent, &q) {
        return unauthorized();
    }
    let commands: Vec<Value> = agent.runner.list().iter().map(|r| r.to_json()).collect();
    ok(json!({"commands": commands}))
}

async fn get_command(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    if !authorized(&agent, &q) {
        return unauthorized();
    }
    let result = match agent.runner.get(&id) {
        Ok(r) => r,
        Err(e) => return rest_error(e),
    };
    if wants_wait(&q) {
        result.wait().await;
    }
    ok(result.to_json())
}

async fn run_command(State(agent): State<Arc<Agent>>, Query(q): Q, body: Bytes) -> Response {
    if !authorized(&agent, &q) {
        return unauthorized();
    }
    // Like werkzeug's get_json(force=True): the content type is not checked.
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return fault(
                StatusCode::BAD_REQUEST,
                format!("400 Bad Request: Failed to decode JSON object: {e}"),
            )
        }
    };
    let (name, params) = match (body.get("name").and_then(Value::as_str), body.get("params")) {
        (Some(n), Some(Value::Object(p))) => (n.to_string(), p.clone()),
        _ => {
            return fault(
                StatusCode::BAD_REQUEST,
                "400 Bad Request: Missing or invalid name or params",
            )
        }
    };
    let result = match agent.runner.execute(&name, params).await {
        Ok(r) => r,
        Err(e) => return rest_error(e),
    };
    if wants_wait(&q) {
        result.wait().await;
    }
    ok(result.to_json())
}

async fn not_found() -> Response {
    fault(
        StatusCode::NOT_FOUND,
        "404 Not Found: The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
    )
}

async fn method_not_allowed() -> Response {
    fault(
        StatusCode::METHOD_NOT_ALLOWED,
        "405 Method Not Allowed: The method is not allowed for the requested URL.",
    )
}

/// The API as an axum router.
pub fn router(agent: Arc<Agent>) -> Router {
    let mut r = Router::new()
        .route("/", get(api_root))
        .route("/v1", get(api_v1))
        .route("/v1/", get(api_v1));
    for prefix in ["/v1", ""] {
        r = r
            .route(&format!("{prefix}/status"), get(api_status))
            .route(
                &format!("{prefix}/commands"),
                get(list_commands).post(run_command),
            )
            .route(
                &format!("{prefix}/commands/"),
                get(list_commands).post(run_command),
            )
            .route(&format!("{prefix}/commands/{{id}}"), get(get_command));
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(agent)
}

/// Serve the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    agent: Arc<Agent>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(agent))
        .with_graceful_shutdown(shutdown)
        .await
}

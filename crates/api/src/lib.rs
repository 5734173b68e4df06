//! The OpenStack Bare Metal API (Ironic v1) over HTTP, with axum.
//!
//! Architecture invariant: this is the only crate that knows HTTP, headers, microversion
//! negotiation and the wire JSON. It turns requests into calls on the store (reads, simple
//! updates) and the conductor (anything that changes provision or power state), and their
//! results into Ironic's JSON.

mod allocations;
pub mod boot;
pub mod tftp;
mod bulk;
mod chassis;
mod deploy_templates;
mod discovery;
mod error;
mod events;
mod history;
mod inspector;
mod inspection_rules;
mod inventory;
mod json_ext;
mod node_view;
mod nodes;
mod ports;
mod ramdisk;
mod rate;
mod runbooks;
mod volume;
mod wire;

pub use error::{ApiError, ApiResult};
pub use inspector::router as inspector_router;

/// Hot paths, reachable for `benches/` (not an interface: nothing else should use them).
#[doc(hidden)]
pub mod hot {
    pub use crate::node_view::{NodeWire, PageWriter};
    pub use crate::nodes::node_json;
    pub use crate::wire::apply_patch;
}

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferric_conductor::Conductor;
use ferric_core::version::{self, Version, VersionError};
use std::sync::Arc;

/// Settings of the API layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Base URL used in links; when unset, taken from the request's Host header.
    pub public_url: Option<String>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// `[api]max_limit`: the largest page.
    pub max_limit: usize,
    /// Serve `/v1/lookup` and `/v1/heartbeat` (Ironic's `enable_ramdisk_endpoints`).
    pub ramdisk_endpoints: bool,
    /// Seconds the agent is told to heartbeat within (`[api]ramdisk_heartbeat_timeout`).
    pub ramdisk_heartbeat_timeout: u64,
    /// Largest inspection report accepted at `/v1/continue_inspection` (reports may carry logs).
    pub max_inspection_bytes: usize,
    /// Also accept, without advertising them, microversions above `version::MAX` up to
    /// `1.N`: for testing features that exist before `MAX` is raised to them. `latest` still
    /// means `MAX`. Never set in production.
    pub preview_max_minor: Option<u16>,
    /// Inspection reports accepted per minute from one source address (0: no limit).
    pub callback_rate_per_minute: u32,
    /// Reports accepted in a burst from one address.
    pub callback_burst: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            public_url: None,
            max_body_bytes: 1 << 20,
            max_limit: 1000,
            ramdisk_endpoints: true,
            ramdisk_heartbeat_timeout: 300,
            max_inspection_bytes: 16 << 20,
            preview_max_minor: None,
            callback_rate_per_minute: 600,
            callback_burst: 100,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub conductor: Conductor,
    pub config: Arc<ApiConfig>,
    pub(crate) callbacks: Arc<rate::RateLimiter>,
}

impl AppState {
    pub(crate) fn new(conductor: Conductor, config: ApiConfig) -> Self {
        let callbacks = Arc::new(rate::RateLimiter::new(config.callback_rate_per_minute, config.callback_burst));
        AppState { conductor, config: Arc::new(config), callbacks }
    }

    /// Take a token for an inspection report from `peer`, or say when to retry.
    pub(crate) fn limit_callback(&self, peer: Option<std::net::SocketAddr>) -> Result<(), (std::net::IpAddr, u64)> {
        match peer {
            Some(p) => self.callbacks.check(p.ip(), std::time::Instant::now()).map_err(|wait| (p.ip(), wait)),
            None => Ok(()),
        }
    }
}

impl AppState {
    pub fn store(&self) -> &ferric_store::Store {
        self.conductor.store()
    }
}

/// The whole API as an axum router.
pub fn router(conductor: Conductor, config: ApiConfig) -> Router {
    let limit = config.max_body_bytes;
    let inspection_limit = config.max_inspection_bytes;
    let state = AppState::new(conductor, config);
    let v1 = Router::new()
        .merge(nodes::routes())
        .merge(ports::routes())
        .merge(chassis::routes())
        .merge(discovery::routes())
        .merge(ramdisk::routes(inspection_limit))
        .merge(volume::routes())
        .merge(allocations::routes())
        .merge(events::routes())

        .merge(history::routes())
        .merge(inventory::routes())
        .merge(inventory::history_routes())
        .merge(bulk::routes())
        .merge(deploy_templates::routes())
        .merge(inspection_rules::routes())
        .merge(runbooks::routes());
    Router::new()
        .route("/", get(discovery::root))
        .route("/v1", get(discovery::v1))
        .nest("/v1", v1)
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), openstack_headers))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn fallback() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

/// The negotiated microversion, put into each request's extensions by [`openstack_headers`].
#[derive(Debug, Clone, Copy)]
pub struct ApiVersion(pub Version);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiVersion {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<ApiVersion>().copied().unwrap_or(ApiVersion(version::MIN)))
    }
}

/// The base URL for links.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl axum::extract::FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(u) = &state.config.public_url {
            return Ok(BaseUrl(u.trim_end_matches('/').to_string()));
        }
        let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:6385");
        Ok(BaseUrl(format!("http://{host}")))
    }
}

/// Version negotiation, version headers and request ids on every response.
async fn openstack_headers(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let h = req.headers();
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let negotiated = version::from_headers(get("openstack-api-version").as_deref(), get("x-openstack-ironic-api-version").as_deref())
        .or_else(|e| preview_version(e, state.config.preview_max_minor));
    let mut resp = match negotiated {
        Ok(v) => {
            req.extensions_mut().insert(ApiVersion(v));
            let stripped = req.extensions().get::<json_ext::Stripped>().map(|s| s.0.clone());
            let mut r = json_ext::scope(stripped, next.run(req)).await;
            r.headers_mut().insert("x-openstack-ironic-api-version", hv(&v.to_string()));
            r.headers_mut().insert("openstack-api-version", hv(&format!("baremetal {v}")));
            r
        }
        Err(e) => ApiError::version(e.to_string()).into_response(),
    };
    let hdrs = resp.headers_mut();
    hdrs.insert("x-openstack-ironic-api-minimum-version", hv(&version::MIN.to_string()));
    hdrs.insert("x-openstack-ironic-api-maximum-version", hv(&version::MAX.to_string()));
    hdrs.insert("x-openstack-request-id", hv(&request_id));
    hdrs.insert("openstack-request-id", hv(&request_id));
    hdrs.insert(header::VARY, hv("X-OpenStack-Ironic-API-Version"));
    // The access log: failures at INFO, the rest at DEBUG (RUST_LOG=ferric_api=debug).
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 400 {
        tracing::info!(%method, %path, status, ms, request_id, "request");
    } else {
        tracing::debug!(%method, %path, status, ms, request_id, "request");
    }
    resp
}

/// A version above `MAX` that [`ApiConfig::preview_max_minor`] lets through.
fn preview_version(e: VersionError, preview_max: Option<u16>) -> Result<Version, VersionError> {
    if let (VersionError::OutOfRange(raw), Some(max)) = (&e, preview_max) {
        if let Some(minor) = raw.trim().strip_prefix("1.").and_then(|m| m.parse::<u16>().ok()) {
            if minor >= version::MIN.minor() && minor <= max {
                return Ok(Version(minor));
            }
        }
    }
    Err(e)
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// A JSON request body, parsed with Ironic-style errors instead of axum's plain-text ones.
pub struct JsonBody(pub serde_json::Value);

impl axum::extract::FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = <Bytes as axum::extract::FromRequest<AppState>>::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!(
                    "Request body is larger than the {} bytes this API accepts.", state.config.max_body_bytes
                ))
            } else {
                ApiError::bad_request(format!("Could not read the request body: {e}"))
            }
        })?;
        if bytes.is_empty() {
            return Ok(JsonBody(serde_json::Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON in the request body: {e}")))
    }
}


/// Run `f` again while it fails on a node lock, within Ironic's budget
/// (`node_locked_retry_attempts` x `node_locked_retry_interval`), as Ironic's task manager does
/// for every change; then give the 409.
pub(crate) async fn retry_locked<T, F, Fut>(state: &AppState, mut f: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    let cfg = state.conductor.config();
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if e.locked && attempt < cfg.node_locked_retry_attempts.max(1) => {
                attempt += 1;
                tokio::time::sleep(cfg.node_locked_retry_interval).await;
            }
            other => return other,
        }
    }
}

/// 202 Accepted with a Location header, as Ironic answers state changes.
pub(crate) fn accepted(location: String) -> Response {
    (StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response()
}

pub(crate) fn created(location: String, body: serde_json::Value) -> Response {
    (StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(body)).into_response()
}

/// 201 with a body already serialised (see [`json_bytes`]).
pub(crate) fn created_bytes(location: String, body: serde_json::Result<Vec<u8>>) -> ApiResult<Response> {
    let mut r = json_bytes(body)?;
    *r.status_mut() = StatusCode::CREATED;
    r.headers_mut().insert(header::LOCATION, header::HeaderValue::try_from(location).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?);
    Ok(r)
}

/// 200 with a body already serialised (the direct serialisers' output), as `axum::Json` sends it.
pub(crate) fn json_bytes(body: serde_json::Result<Vec<u8>>) -> ApiResult<Response> {
    let body = body.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}


/// Ironic routes a path without a version prefix to v1 (`/nodes` is `/v1/nodes`): its bookmark
/// links rely on it, and so do some clients.
fn default_to_v1(mut req: Request) -> Request {
    let path = req.uri().path();
    if path != "/" && path != "/v1" && !path.starts_with("/v1/") {
        let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        if let Ok(uri) = format!("/v1{pq}").parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Serve the API until `shutdown` resolves. Trailing slashes are trimmed before routing, as
/// Ironic accepts both `/v1/ports` and `/v1/ports/`; so is a trailing `.json` below API 1.91
/// ([`json_ext`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::{Layer, ServiceExt};
    let app = tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash().layer(app.map_request(|r| json_ext::strip(default_to_v1(r))));
    axum::serve(listener, axum::ServiceExt::<Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The client's address, when the server was started with connection info ([`serve`]).
pub(crate) fn peer(parts: &axum::http::Extensions) -> Option<std::net::SocketAddr> {
    parts.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)
}

/// Serve the ironic-inspector API ([`inspector_router`]) until `shutdown` resolves; trailing
/// slashes are accepted as the inspector accepts them.
pub async fn serve_inspector(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::Layer;
    let app = tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash().layer(app);
    axum::serve(listener, axum::ServiceExt::<Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(app))
        .with_graceful_shutdown(shutdown)
        .await
}


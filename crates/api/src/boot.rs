//! The boot server (`[pxe] listen`), what Ironic's `ipxe` boot interface and the HTTP server
//! beside it provide: iPXE scripts chosen by MAC and the agent's kernel and ramdisk. Its own
//! listener, plain HTTP (the iPXE ROMs machines carry do not all speak HTTPS), no API
//! versions, text answers.
//!
//! - `GET /boot.ipxe`: the entry script DHCP points at; each NIC in turn asks for its MAC.
//! - `GET /ipxe/{mac}`: the script of the node with a port `mac` (`ferric_core::boot`); 404
//!   when no port has it, so the entry script tries the next NIC (Ironic serves no file).
//! - `GET /ipxe/fallback/{mac}`: for a machine none of whose NICs is known: the discovery (or
//!   unmanaged inspection) agent, or the local disk.
//! - `GET|HEAD /images/kernel`, `/images/ramdisk`: `[pxe] kernel` and `[pxe] ramdisk`.
//! - `GET|HEAD /images/{node}/{label}`: the node's driver_info `deploy_kernel`,
//!   `deploy_ramdisk`, `rescue_kernel` or `rescue_ramdisk` when it is a local file inside
//!   `[conductor] file_url_allowed_paths` (checked again after resolving symbolic links).
//!
//! Files are streamed (never read into memory) with their length.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferric_conductor::boot::BootFacts;
use ferric_conductor::Conductor;
use ferric_core::boot::{self as b, BootSettings, ImageSource, Mac};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// The boot server's settings.
#[derive(Debug, Clone, Default)]
pub struct BootConfig {
    pub settings: BootSettings,
    /// `[pxe] kernel`: served at `/images/kernel`.
    pub kernel: Option<PathBuf>,
    /// `[pxe] ramdisk`: served at `/images/ramdisk`.
    pub ramdisk: Option<PathBuf>,
}

#[derive(Clone)]
struct BootState {
    conductor: Conductor,
    config: Arc<BootConfig>,
}

/// How much of a file is read at a time.
const CHUNK: usize = 64 * 1024;

/// The boot server's routes.
pub fn router(conductor: Conductor, mut config: BootConfig) -> Router {
    config.settings.default_images = config.kernel.is_some() && config.ramdisk.is_some();
    let state = BootState { conductor, config: Arc::new(config) };
    Router::new()
        .route("/boot.ipxe", get(entry))
        .route("/ipxe/{mac}", get(per_mac))
        .route("/ipxe/fallback/{mac}", get(fallback_script))
        .route("/images/{name}", get(default_image))
        .route("/images/{node}/{label}", get(node_image))
        .fallback(not_found)
        .with_state(state)
}

/// Serve the boot server until `shutdown` resolves.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    axum::serve(listener, axum::ServiceExt::<Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(app))
        .with_graceful_shutdown(shutdown)
        .await
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

fn script(body: String) -> Response {
    text(StatusCode::OK, body)
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "Not found. This is ferric's boot server: /boot.ipxe, /ipxe/<MAC>, /ipxe/fallback/<MAC>, /images/...\n".into())
}

/// The MAC in a path, or the 400 text.
fn parse_mac(raw: &str) -> Result<Mac, String> {
    Mac::parse(raw).map_err(|e| format!("Invalid MAC address {:?}: {e}.\n", b::sanitize(raw)))
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "boot server: lookup failed");
    text(StatusCode::INTERNAL_SERVER_ERROR, "The boot server could not look the MAC address up; see ferric's log.\n".into())
}

async fn entry(State(st): State<BootState>) -> Response {
    script(b::entry_script(&st.config.settings))
}

fn answer(st: &BootState, mac: &Mac, facts: &BootFacts, peer: Option<std::net::SocketAddr>) -> Response {
    let s = &st.config.settings;
    let d = b::decide(mac, facts.known(), s);
    let peer = peer.map(|p| p.ip().to_string()).unwrap_or_default();
    match &d {
        b::Decision::Fail { reason, .. } => {
            tracing::warn!(%mac, node = d.node().unwrap_or("-"), %peer, %reason, "boot server: cannot boot the agent")
        }
        _ => tracing::info!(%mac, node = d.node().unwrap_or("-"), %peer, boot = d.kind(), reason = d.reason().unwrap_or(""), "boot server: script served"),
    }
    script(b::render(&d, mac, s))
}

async fn per_mac(State(st): State<BootState>, Path(raw): Path<String>, req: Request) -> Response {
    let mac = match parse_mac(&raw) {
        Ok(m) => m,
        Err(m) => return text(StatusCode::BAD_REQUEST, m),
    };
    match st.conductor.boot_facts(&mac, false).await {
        Ok(f @ BootFacts::Node(_)) => answer(&st, &mac, &f, crate::peer(req.extensions())),
        Ok(BootFacts::Unknown { .. }) => text(
            StatusCode::NOT_FOUND,
            format!("No node has a port with MAC address {mac}. A machine no node knows gets /ipxe/fallback/{}.\n", mac.hyphen()),
        ),
        Err(e) => internal(e),
    }
}

async fn fallback_script(State(st): State<BootState>, Path(raw): Path<String>, req: Request) -> Response {
    let mac = match parse_mac(&raw) {
        Ok(m) => m,
        Err(m) => return text(StatusCode::BAD_REQUEST, m),
    };
    // Whether some node is inspecting matters only when discovery is off.
    let pending = !st.config.settings.discovery;
    match st.conductor.boot_facts(&mac, pending).await {
        Ok(f) => answer(&st, &mac, &f, crate::peer(req.extensions())),
        Err(e) => internal(e),
    }
}

async fn default_image(State(st): State<BootState>, Path(name): Path<String>, method: Method) -> Response {
    let path = match name.as_str() {
        "kernel" => &st.config.kernel,
        "ramdisk" => &st.config.ramdisk,
        _ => return not_found().await,
    };
    match path {
        Some(p) => send_file(p.clone(), &method, &name).await,
        None => text(StatusCode::NOT_FOUND, format!("[pxe] {name} is not set: no default {name} is served.\n")),
    }
}

async fn node_image(State(st): State<BootState>, Path((node, label)): Path<(String, String)>, method: Method) -> Response {
    if !b::IMAGE_LABELS.contains(&label.as_str()) {
        return not_found().await;
    }
    let Some(uuid) = ferric_core::validate::canonical_uuid(&node) else {
        return text(StatusCode::BAD_REQUEST, format!("Invalid node UUID {:?}.\n", b::sanitize(&node)));
    };
    let node = match st.conductor.store().get_node(&uuid).await {
        Ok(n) => n,
        Err(ferric_store::StoreError::NotFound { .. }) => return text(StatusCode::NOT_FOUND, format!("Node {uuid} could not be found.\n")),
        Err(e) => return internal(e),
    };
    let allowed = &st.config.settings.file_url_allowed_paths;
    let path = match b::image_source(&node, &label, allowed) {
        Ok(ImageSource::File(p)) => p,
        Ok(ImageSource::Url(_)) => {
            return text(StatusCode::NOT_FOUND, format!("Node {uuid}'s {label} is a URL, which the machine fetches itself.\n"))
        }
        Err(e) => {
            tracing::warn!(node = %uuid, %label, error = %e, "boot server: image refused");
            return text(StatusCode::NOT_FOUND, format!("Node {uuid} has no {label} this server can serve: {}.\n", b::sanitize(&e)));
        }
    };
    // The lexical check passed; now the file as the system resolves it (symbolic links).
    let real = match tokio::fs::canonicalize(&path).await {
        Ok(r) => r,
        Err(e) => return text(StatusCode::NOT_FOUND, format!("Node {uuid}'s {label} {path} cannot be opened: {e}.\n")),
    };
    let real_str = real.to_str().and_then(b::normalize_path);
    match real_str.as_deref().map(|r| b::path_allowed(r, allowed)) {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::warn!(node = %uuid, %label, path = %path, real = %real.display(), error = %e, "boot server: image outside the allowed paths");
            return text(StatusCode::FORBIDDEN, format!("Node {uuid}'s {label} resolves outside [conductor] file_url_allowed_paths.\n"));
        }
        None => return text(StatusCode::FORBIDDEN, format!("Node {uuid}'s {label} resolves to a path this server does not serve.\n")),
    }
    send_file(real, &method, &label).await
}

/// A regular file with its length, streamed; HEAD gets the headers only.
async fn send_file(path: PathBuf, method: &Method, what: &str) -> Response {
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "boot server: cannot open {what}");
            return text(StatusCode::NOT_FOUND, format!("The {what} cannot be opened: {e}.\n"));
        }
    };
    let len = match file.metadata().await {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return text(StatusCode::NOT_FOUND, format!("The {what} is not a regular file.\n")),
        Err(e) => return text(StatusCode::NOT_FOUND, format!("The {what} cannot be read: {e}.\n")),
    };
    let headers = [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_LENGTH, len.to_string())];
    if method == Method::HEAD {
        return (StatusCode::OK, headers, Body::empty()).into_response();
    }
    tracing::info!(path = %path.display(), bytes = len, "boot server: sending {what}");
    // Never more than the length announced, even if the file grows meanwhile.
    let reader = file.take(len);
    let stream = futures_util::stream::unfold((reader, vec![0u8; CHUNK], false), |(mut r, mut buf, failed)| async move {
        if failed {
            return None;
        }
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => Some((Ok(Bytes::copy_from_slice(&buf[..n])), (r, buf, false))),
            Err(e) => Some((Err::<Bytes, std::io::Error>(e), (r, buf, true))),
        }
    });
    (StatusCode::OK, headers, Body::from_stream(stream)).into_response()
}

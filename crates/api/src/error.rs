//! Errors in Ironic's wire shape:
//! `{"error_message": "<JSON string of {faultcode, faultstring, debuginfo}>"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferric_conductor::ConductorError;
use ferric_store::StoreError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// webob's `{code, title, description}` body (406 for an unsupported version, the 404/405
    /// pecan raises for a resource the version does not have) instead of the fault body.
    pub version_error: bool,
    /// A node lock held by someone else: worth retrying shortly (see `retry_locked`).
    pub locked: bool,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), version_error: false, locked: false }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, message)
    }
    pub fn node_locked(node: &str, holder: &str) -> Self {
        ApiError {
            locked: true,
            ..Self::conflict(format!(
                "Node {node} is locked by host {holder}, please retry after the current operation is completed."
            ))
        }
    }
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, message)
    }
    /// Ironic's generic 406 for a field or parameter the requested version does not have.
    pub fn too_old(min_minor: u16) -> Self {
        Self::not_acceptable(format!(
            "Request not acceptable. The minimal required API version should be 1.{min_minor}"
        ))
    }
    pub fn version(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::NOT_ACCEPTABLE, message: message.into(), version_error: true, locked: false }
    }

    /// An error in webob's `{code, title, description}` shape.
    pub fn webob(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), version_error: true, locked: false }
    }

    pub fn body(&self) -> String {
        let inner = if self.version_error {
            let title = self.status.canonical_reason().unwrap_or_default();
            serde_json::json!({"code": self.status.as_u16(), "title": title, "description": self.message})
        } else {
            let faultcode = if self.status.is_server_error() { "Server" } else { "Client" };
            serde_json::json!({"faultcode": faultcode, "faultstring": self.message, "debuginfo": null})
        };
        serde_json::json!({"error_message": inner.to_string()}).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        let body = self.body();
        (self.status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::Duplicate { kind, field, value } => ApiError::conflict(duplicate_message(kind, field, value)),
            StoreError::Locked { .. } => ApiError { locked: true, ..ApiError::conflict(e.to_string()) },
            StoreError::InvalidQuery(m) => ApiError::bad_request(m.clone()),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

/// Ironic's texts for unique-constraint conflicts.
fn duplicate_message(kind: &str, field: &str, value: &str) -> String {
    match (kind, field) {
        ("Node", "name") => format!("A node with name {value} already exists."),
        ("Node", "uuid") => format!("A node with UUID {value} already exists."),
        ("Node", "instance_uuid") => format!("Instance {value} is already associated with a node."),
        ("Port", "address") => format!("A port with MAC address {value} already exists."),
        ("Port", "name") => format!("A port with name {value} already exists."),
        ("Portgroup", "address") => format!("A portgroup with MAC address {value} already exists."),
        ("Portgroup", "name") => format!("A portgroup with name {value} already exists."),
        (k, "uuid") => format!("A {} with UUID {value} already exists.", k.to_lowercase()),
        (k, f) => format!("A {} with {f} {value} already exists.", k.to_lowercase()),
    }
}

impl From<ConductorError> for ApiError {
    fn from(e: ConductorError) -> Self {
        let msg = e.to_string();
        match e {
            ConductorError::NotFound { .. } => ApiError::not_found(msg),
            ConductorError::NodeLocked { .. } => ApiError { locked: true, ..ApiError::conflict(msg) },
            ConductorError::Conflict(_) => ApiError::conflict(msg),
            ConductorError::NoFreeWorker | ConductorError::TemporaryFailure(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, msg),
            ConductorError::InvalidState { .. } | ConductorError::Invalid(_) | ConductorError::InMaintenance(_) => {
                ApiError::bad_request(msg)
            }
            ConductorError::Store(s) => s.into(),
            ConductorError::Driver(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, msg),
        }
    }
}

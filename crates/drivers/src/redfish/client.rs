//! A thin Redfish client: just what the interfaces need (GET a resource, PATCH it, POST an
//! action), with the behaviour a fleet needs around it: session or basic authentication with a
//! session cache per (address, user, TLS mode), retries with backoff on connection errors and
//! 5xx answers, bounded connect and read times, a cap on response sizes, and errors that say
//! which request failed and why. Passwords and session tokens never reach an error or a log.

use super::info::{AuthType, RedfishInfo, VerifyCa};
use crate::DriverError;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `[redfish]` settings (Ironic's names where Ironic has the option).
#[derive(Debug, Clone)]
pub struct RedfishConfig {
    /// `connection_attempts`: tries per request when the BMC cannot be reached or answers 5xx.
    pub connection_attempts: u32,
    /// `connection_retry_interval`: the first wait between tries; doubled after each, capped at 4x.
    pub connection_retry_interval: Duration,
    /// `connect_timeout`: TCP (and TLS) connection set-up.
    pub connect_timeout: Duration,
    /// The longest wait for a whole response once connected (a BMC that hangs mid-answer).
    pub read_timeout: Duration,
    /// `auth_type`: used when a node's `redfish_auth_type` is not set.
    pub auth_type: AuthType,
    /// The largest response body accepted; a bigger one is an error, not a memory spike.
    pub max_response_bytes: usize,
    /// How long a power change may take to show (Ironic's `[conductor]power_state_change_timeout`).
    pub power_state_change_timeout: Duration,
    /// How often the power state is polled while waiting for a change.
    pub power_state_poll_interval: Duration,
}

impl Default for RedfishConfig {
    fn default() -> Self {
        RedfishConfig {
            connection_attempts: 5,
            connection_retry_interval: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            auth_type: AuthType::Auto,
            max_response_bytes: 16 << 20,
            power_state_change_timeout: Duration::from_secs(60),
            power_state_poll_interval: Duration::from_secs(1),
        }
    }
}

/// One HTTP answer: status, the ETag (for If-Match), the session token a login answer
/// carries, and the JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub token: Option<String>,
    pub body: Value,
}

/// The kinds of failure, so callers can tell "unreachable" from "refused" from "broken".
#[derive(Debug, Clone, thiserror::Error)]
pub enum RfError {
    /// No answer: connection refused or reset, DNS, TLS, time-out. Retried.
    #[error("{0}")]
    Connection(String),
    /// 401/403: wrong credentials or not allowed. Never retried.
    #[error("{0}")]
    Access(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// Any other HTTP error, or an answer that is not JSON / too big.
    #[error("{0}")]
    Http(String),
}

impl RfError {
    pub fn into_driver(self, node: &str) -> DriverError {
        match self {
            RfError::Connection(e) => DriverError::Failed(format!("Redfish connection failed for node {node}: {e}")),
            e => DriverError::Failed(format!("Redfish exception occurred. Error: {e}")),
        }
    }
}

#[derive(Hash, PartialEq, Eq, Clone, Debug)]
struct SessionKey {
    address: String,
    username: String,
    verify: String,
    auth: String,
}

#[derive(Clone)]
enum Auth {
    /// `X-Auth-Token` of a live session, and the session's URI (to delete it).
    Session { token: String },
    /// The BMC has no session service: basic authentication.
    Basic,
}

/// Shared by every Redfish interface of a conductor: the HTTP clients (one per TLS mode) and
/// the session cache.
pub struct RedfishClient {
    pub config: RedfishConfig,
    http: Mutex<HashMap<String, reqwest::Client>>,
    sessions: Mutex<HashMap<SessionKey, Auth>>,
}

impl RedfishClient {
    pub fn new(config: RedfishConfig) -> Arc<RedfishClient> {
        Arc::new(RedfishClient { config, http: Mutex::new(HashMap::new()), sessions: Mutex::new(HashMap::new()) })
    }

    fn http(&self, verify: &VerifyCa) -> Result<reqwest::Client, RfError> {
        let key = verify.key();
        if let Some(c) = self.http.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(self.config.connect_timeout)
            .timeout(self.config.read_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("ferric/", env!("CARGO_PKG_VERSION")));
        match verify {
            VerifyCa::System => {}
            VerifyCa::Insecure => b = b.danger_accept_invalid_certs(true),
            VerifyCa::Path(p) => {
                for cert in load_certs(p).map_err(RfError::Connection)? {
                    b = b.add_root_certificate(cert);
                }
            }
        }
        let c = b.build().map_err(|e| RfError::Connection(format!("cannot build the HTTP client: {e}")))?;
        self.http.lock().unwrap().insert(key, c.clone());
        Ok(c)
    }

    fn session_key(&self, info: &RedfishInfo) -> SessionKey {
        SessionKey {
            address: info.address.clone(),
            username: info.username.clone().unwrap_or_default(),
            verify: info.verify_ca.key(),
            // Unlike Ironic's cache, the auth type is part of the key: a node that asks for
            // sessions never inherits another node's basic fall-back.
            auth: format!("{:?}", info.auth_type.unwrap_or(self.config.auth_type)),
        }
    }

    /// Forget a node's cached session (after a connection error, as Ironic's SessionCache).
    pub fn forget_session(&self, info: &RedfishInfo) {
        self.sessions.lock().unwrap().remove(&self.session_key(info));
    }

    pub async fn get(&self, info: &RedfishInfo, path: &str) -> Result<Reply, RfError> {
        self.request(info, Method::GET, path, None, None).await
    }

    /// GET an optional resource: one try, and any HTTP error (404, 501, a 500 from a BMC that
    /// does not implement it) means "not there". Unreachable or refused is still an error.
    pub async fn get_optional(&self, info: &RedfishInfo, path: &str) -> Result<Option<Reply>, RfError> {
        let auth = self.auth(info).await?;
        match self.send(info, &auth, Method::GET, path, None, None).await {
            Ok(r) if r.status.is_success() => Ok(Some(r)),
            Ok(_) | Err(RfError::NotFound(_)) | Err(RfError::Http(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn patch(&self, info: &RedfishInfo, path: &str, body: Value, if_match: Option<&str>) -> Result<Reply, RfError> {
        self.request(info, Method::PATCH, path, Some(body), if_match).await
    }

    pub async fn post(&self, info: &RedfishInfo, path: &str, body: Value) -> Result<Reply, RfError> {
        self.request(info, Method::POST, path, Some(body), None).await
    }

    /// One request, authenticated, retried on connection errors and 5xx with backoff. A 401
    /// on a cached session renews the session once.
    pub async fn request(
        &self,
        info: &RedfishInfo,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<Reply, RfError> {
        let attempts = self.config.connection_attempts.max(1);
        let mut wait = self.config.connection_retry_interval;
        let mut renewed = false;
        let mut attempt = 1;
        loop {
            let auth = self.auth(info).await;
            let r = match auth {
                Ok(auth) => self.send(info, &auth, method.clone(), path, body.as_ref(), if_match).await,
                Err(e) => Err(e),
            };
            let retry = match &r {
                Err(RfError::Connection(_)) => {
                    self.forget_session(info);
                    true
                }
                Err(RfError::Access(_)) if !renewed && self.has_session(info) => {
                    // The session expired or the BMC restarted: log in again, once.
                    self.forget_session(info);
                    renewed = true;
                    continue;
                }
                // 501 Not Implemented is an answer, not a passing failure.
                Ok(reply) if reply.status.is_server_error() && reply.status != StatusCode::NOT_IMPLEMENTED => true,
                _ => false,
            };
            if !retry || attempt >= attempts {
                return match r {
                    Ok(reply) if reply.status.is_server_error() => Err(RfError::Http(http_error(&method, &url(info, path), &reply))),
                    other => other,
                };
            }
            tracing::warn!(address = %info.address, %path, attempt, attempts, "Redfish request failed; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.config.connection_retry_interval * 4);
            attempt += 1;
        }
    }

    fn has_session(&self, info: &RedfishInfo) -> bool {
        matches!(self.sessions.lock().unwrap().get(&self.session_key(info)), Some(Auth::Session { .. }))
    }

    async fn send(
        &self,
        info: &RedfishInfo,
        auth: &Auth,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply, RfError> {
        let http = self.http(&info.verify_ca)?;
        let u = url(info, path);
        let mut req = http.request(method.clone(), &u).header("Accept", "application/json").header("OData-Version", "4.0");
        req = match auth {
            Auth::Session { token } => req.header("X-Auth-Token", token),
            Auth::Basic => match &info.username {
                Some(user) => req.basic_auth(user, info.password.as_deref()),
                None => req,
            },
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        let reply = self.read(req, &method, &u).await?;
        if matches!(reply.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(RfError::Access(http_error(&method, &u, &reply)));
        }
        if reply.status == StatusCode::NOT_FOUND {
            return Err(RfError::NotFound(http_error(&method, &u, &reply)));
        }
        if reply.status.is_client_error() {
            return Err(RfError::Http(http_error(&method, &u, &reply)));
        }
        Ok(reply)
    }

    /// Send and read the whole answer within the limits: the body is read in chunks and
    /// refused beyond `max_response_bytes`; it must be JSON unless empty.
    async fn read(&self, req: reqwest::RequestBuilder, method: &Method, u: &str) -> Result<Reply, RfError> {
        let mut resp = req.send().await.map_err(|e| RfError::Connection(describe(&e, u)))?;
        let status = resp.status();
        let etag = resp.headers().get("ETag").and_then(|v| v.to_str().ok()).map(str::to_string);
        let token = resp.headers().get("X-Auth-Token").and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut buf: Vec<u8> = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if buf.len() + c.len() > self.config.max_response_bytes {
                        return Err(RfError::Http(format!(
                            "HTTP {method} {u}: the response is larger than {} bytes",
                            self.config.max_response_bytes
                        )));
                    }
                    buf.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => return Err(RfError::Connection(describe(&e, u))),
            }
        }
        let body = if buf.iter().all(|b| b.is_ascii_whitespace()) {
            Value::Null
        } else {
            match serde_json::from_slice::<Value>(&buf) {
                Ok(v) => v,
                Err(e) if status.is_success() => {
                    return Err(RfError::Http(format!("HTTP {method} {u} returned a body that is not JSON: {e}")));
                }
                // An error page in HTML: keep a bounded, printable excerpt for the message.
                Err(_) => Value::String(String::from_utf8_lossy(&buf[..buf.len().min(200)]).chars().filter(|c| !c.is_control()).collect()),
            }
        };
        Ok(Reply { status, etag, token, body })
    }

    /// The authentication for a node: a cached session, a new one, or basic.
    async fn auth(&self, info: &RedfishInfo) -> Result<Auth, RfError> {
        let key = self.session_key(info);
        if let Some(a) = self.sessions.lock().unwrap().get(&key) {
            return Ok(a.clone());
        }
        let kind = info.auth_type.unwrap_or(self.config.auth_type);
        let auth = match (kind, &info.username) {
            (AuthType::Basic, _) | (_, None) => Auth::Basic,
            (AuthType::Session, Some(_)) => self.login(info).await?,
            (AuthType::Auto, Some(_)) => match self.login(info).await {
                Ok(a) => a,
                // No session service (or it refuses sessions): basic, as sushy's SessionOrBasicAuth.
                Err(RfError::NotFound(_)) | Err(RfError::Http(_)) => Auth::Basic,
                Err(e) => return Err(e),
            },
        };
        self.sessions.lock().unwrap().insert(key, auth.clone());
        Ok(auth)
    }

    async fn login(&self, info: &RedfishInfo) -> Result<Auth, RfError> {
        let root = self.send(info, &Auth::Basic, Method::GET, &info.root_prefix, None, None).await?;
        let sessions = root
            .body
            .pointer("/Links/Sessions/@odata.id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| root.body.pointer("/SessionService/@odata.id").and_then(Value::as_str).map(|s| format!("{}/Sessions", s.trim_end_matches('/'))))
            .ok_or_else(|| RfError::NotFound(format!("the Redfish service at {} has no session service", info.address)))?;
        let body = serde_json::json!({"UserName": info.username, "Password": info.password});
        let reply = self.send(info, &Auth::Basic, Method::POST, &sessions, Some(&body), None).await?;
        let token = reply.token.ok_or_else(|| {
            RfError::Http(format!("HTTP POST {}: the session was created without an X-Auth-Token", url(info, &sessions)))
        })?;
        Ok(Auth::Session { token })
    }
}

fn url(info: &RedfishInfo, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else if path.starts_with('/') {
        format!("{}{}", info.address, path)
    } else {
        format!("{}{}/{}", info.address, info.root_prefix.trim_end_matches('/'), path)
    }
}

/// sushy's error text: `HTTP GET <url> returned code 404. <message>`.
fn http_error(method: &Method, u: &str, reply: &Reply) -> String {
    let msg = redfish_message(&reply.body);
    if msg.is_empty() {
        format!("HTTP {method} {u} returned code {}.", reply.status.as_u16())
    } else {
        format!("HTTP {method} {u} returned code {}. {msg}", reply.status.as_u16())
    }
}

/// The message of a Redfish error body (`error.@Message.ExtendedInfo[].Message`, else
/// `error.message`), bounded.
pub fn redfish_message(body: &Value) -> String {
    let err = body.get("error");
    let mut parts: Vec<String> = err
        .and_then(|e| e.get("@Message.ExtendedInfo"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|i| i.get("Message").and_then(Value::as_str)).map(str::to_string).collect())
        .unwrap_or_default();
    if parts.is_empty() {
        if let Some(m) = err.and_then(|e| e.get("message")).and_then(Value::as_str) {
            let code = err.and_then(|e| e.get("code")).and_then(Value::as_str);
            parts.push(match code {
                Some(c) => format!("{c}: {m}"),
                None => m.to_string(),
            });
        } else if let Value::String(s) = body {
            parts.push(s.clone());
        }
    }
    let s = parts.join("; ");
    if s.len() > 500 {
        let mut end = 500;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

/// A reqwest error with its causes ("error sending request: connection refused").
fn describe(e: &reqwest::Error, u: &str) -> String {
    let mut s = if e.is_timeout() { format!("timed out talking to {u}") } else { format!("cannot reach {u}") };
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn load_certs(path: &str) -> Result<Vec<reqwest::Certificate>, String> {
    let p = std::path::Path::new(path);
    let files: Vec<std::path::PathBuf> = if p.is_dir() {
        std::fs::read_dir(p)
            .map_err(|e| format!("cannot read the CA directory {path}: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file())
            .collect()
    } else {
        vec![p.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        let pem = std::fs::read(&f).map_err(|e| format!("cannot read the CA file {}: {e}", f.display()))?;
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) => out.extend(certs),
            Err(e) if !p.is_dir() => return Err(format!("invalid CA file {}: {e}", f.display())),
            Err(_) => {}
        }
    }
    if out.is_empty() {
        return Err(format!("no CA certificates found in {path}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_the_redfish_body() {
        let body = serde_json::json!({"error": {"code": "Base.1.0.GeneralError", "message": "boom",
            "@Message.ExtendedInfo": [{"Message": "The property X is read-only."}, {"Message": "Try again."}]}});
        assert_eq!(redfish_message(&body), "The property X is read-only.; Try again.");
        let body = serde_json::json!({"error": {"code": "Base.1.0.GeneralError", "message": "boom"}});
        assert_eq!(redfish_message(&body), "Base.1.0.GeneralError: boom");
        assert_eq!(redfish_message(&Value::String("<html>".into())), "<html>");
        let long = Value::String("é".repeat(400));
        assert!(redfish_message(&long).len() <= 504);
    }

    #[test]
    fn urls_join_the_address_and_paths() {
        let info = RedfishInfo::for_tests("http://127.0.0.1:8000");
        assert_eq!(url(&info, "/redfish/v1/Systems/1"), "http://127.0.0.1:8000/redfish/v1/Systems/1");
        assert_eq!(url(&info, "Systems"), "http://127.0.0.1:8000/redfish/v1/Systems");
        assert_eq!(url(&info, "https://other/x"), "https://other/x");
    }
}

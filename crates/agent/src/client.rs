//! The agent's side of the ramdisk protocol (`IPA:ironic_api_client.py`, `inspector.py`):
//! version discovery, lookup with IPA's backoff, heartbeats and the inspection call-back.

use crate::clock::Clock;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Assumed when `GET /` fails (IPA's `MIN_IRONIC_VERSION`).
pub const MIN_IRONIC_VERSION: (u32, u32) = (1, 31);
/// `agent_version` is sent in heartbeats from this version.
pub const AGENT_VERSION_IRONIC_VERSION: (u32, u32) = (1, 36);
/// `agent_token` is sent (and the lookup header is capped) at this version.
pub const AGENT_TOKEN_IRONIC_VERSION: (u32, u32) = (1, 62);
/// `agent_verify_ca` is sent from this version; also the highest version IPA asks for.
pub const AGENT_VERIFY_CA_IRONIC_VERSION: (u32, u32) = (1, 68);
/// `agent_status` is accepted by Ironic from this version (IPA itself never sends it).
pub const AGENT_STATUS_IRONIC_VERSION: (u32, u32) = (1, 72);
/// The highest version IPA knows about.
pub const MAX_KNOWN_VERSION: (u32, u32) = AGENT_VERIFY_CA_IRONIC_VERSION;
/// The ceiling of the random exponential lookup backoff (IPA's `max_interval`).
pub const LOOKUP_MAX_INTERVAL: Duration = Duration::from_secs(60);
/// IPA's pauses after a 409 (node locked) on lookup: 5, then 10, then 30 s from then on.
pub const LOOKUP_LOCK_PAUSES: [u64; 3] = [5, 10, 30];
/// Inspection posting: attempts, and `wait_exponential(multiplier=1.5, min=5, max=30)`.
pub const INSPECTION_ATTEMPTS: u32 = 5;

pub const VERSION_HEADER: &str = "X-OpenStack-Ironic-API-Version";
pub const REQUEST_ID_HEADER: &str = "X-OpenStack-Request-ID";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No API URL could be reached.
    #[error("connection error: {0}")]
    Connection(String),
    /// Ironic answered with an unexpected status; the text is IPA's `Error <code>: <fault>`.
    #[error("{message}")]
    Status { status: u16, message: String },
    /// A heartbeat was refused with 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The answer was not what the protocol promises.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// Lookup kept failing until `lookup_timeout`.
    #[error("could not look up node info: {0}")]
    LookupFailed(String),
    /// The client cannot be built as configured.
    #[error("{0}")]
    Config(String),
}

/// How the client talks HTTP.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub api_urls: Vec<String>,
    /// Skip discovery (`ipa-ironic-api-version`).
    pub ironic_api_version: Option<(u32, u32)>,
    pub global_request_id: Option<String>,
    pub http_request_timeout: Duration,
    pub insecure: bool,
    pub agent_version: String,
    /// Extra CA certificates (PEM) for HTTPS (IPA's `cafile`).
    pub cafile: Option<std::path::PathBuf>,
    /// A client certificate and key (PEM) for HTTPS (IPA's `certfile`, `keyfile`).
    pub certfile: Option<std::path::PathBuf>,
    pub keyfile: Option<std::path::PathBuf>,
}

impl ClientOptions {
    pub fn from_config(c: &crate::config::Config) -> Self {
        ClientOptions {
            api_urls: c.api_urls.clone(),
            ironic_api_version: c.ironic_api_version,
            global_request_id: c.global_request_id.clone(),
            http_request_timeout: c.http_request_timeout,
            insecure: c.insecure,
            agent_version: c.agent_version.clone(),
            cafile: c.cafile.clone(),
            certfile: c.certfile.clone(),
            keyfile: c.keyfile.clone(),
        }
    }
}

/// Ironic's answer to lookup: `{node: {uuid, ...}, config: {heartbeat_timeout, agent_token, ...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupResponse {
    pub node: Map<String, Value>,
    pub config: Map<String, Value>,
}

impl LookupResponse {
    pub fn uuid(&self) -> &str {
        self.node
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// `config.heartbeat_timeout` in seconds (a number, or a numeric string).
    pub fn heartbeat_timeout(&self) -> Option<f64> {
        match self.config.get("heartbeat_timeout")? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
    pub fn agent_token(&self) -> Option<&str> {
        self.config.get("agent_token").and_then(Value::as_str)
    }
}

/// Optional heartbeat fields beyond what IPA always sends.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatExtra {
    /// The agent's TLS certificate (sent from 1.68).
    pub agent_verify_ca: Option<String>,
    /// `start`, `end` or `error`; sent only to Ironic 1.72+, with that version in the header.
    pub agent_status: Option<String>,
    pub agent_status_message: Option<String>,
}

/// Turn an Ironic error answer into IPA's `Error <code>: <text>` (`_error_from_response`):
/// `error_message` may be a JSON string or a nested dict; `faultstring`, then `title`, then the
/// raw body are used.
pub fn error_from_response(status: u16, body: &str) -> String {
    let text = match serde_json::from_str::<Value>(body) {
        Err(_) => body.to_string(),
        Ok(v) => {
            let inner = match &v {
                Value::Object(o) => o.get("error_message").cloned().unwrap_or(v.clone()),
                other => other.clone(),
            };
            let inner = match inner {
                Value::Object(_) => inner,
                Value::String(s) => serde_json::from_str::<Value>(&s)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or(json!({})),
                _ => json!({}),
            };
            let pick = |k: &str| {
                inner
                    .get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            pick("faultstring")
                .or_else(|| pick("title"))
                .unwrap_or_else(|| body.to_string())
        }
    };
    format!("Error {status}: {text}")
}

fn version_string(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

/// The HTTP(S) client IPA's `get_requests_verify`/`get_ssl_client_options` amount to: TLS by
/// rustls (ring); the server's certificate is verified against the system's CA certificates
/// plus `cafile`, unless `insecure`; `certfile`+`keyfile` give a client certificate.
pub fn http_client(opts: &ClientOptions) -> Result<reqwest::Client, ClientError> {
    let read = |what: &str, p: &std::path::Path| {
        std::fs::read(p).map_err(|e| ClientError::Config(format!("{what} {}: {e}", p.display())))
    };
    let mut b = reqwest::Client::builder()
        .connect_timeout(opts.http_request_timeout)
        .read_timeout(opts.http_request_timeout)
        // Two idle connections, like IPA's session pool.
        .pool_max_idle_per_host(2)
        .use_rustls_tls()
        .danger_accept_invalid_certs(opts.insecure);
    if let Some(ca) = &opts.cafile {
        let pem = read("cafile", ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ClientError::Config(format!("cafile {}: {e}", ca.display())))?;
        if certs.is_empty() {
            return Err(ClientError::Config(format!("cafile {}: no PEM certificate in it", ca.display())));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    match (&opts.certfile, &opts.keyfile) {
        (Some(cert), Some(key)) => {
            let mut pem = read("certfile", cert)?;
            pem.push(b'\n');
            pem.extend(read("keyfile", key)?);
            let id = reqwest::Identity::from_pem(&pem)
                .map_err(|e| ClientError::Config(format!("certfile/keyfile: {e}")))?;
            b = b.identity(id);
        }
        (None, None) => {}
        _ => return Err(ClientError::Config("certfile and keyfile must be given together".into())),
    }
    b.build().map_err(|e| ClientError::Config(e.to_string()))
}

/// An error with its causes (`error sending request ...: client error (Connect): invalid peer
/// certificate: UnknownIssuer`): reqwest's own message alone does not say what failed.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// The IPA protocol client for one agent.
pub struct IronicClient {
    http: reqwest::Client,
    opts: ClientOptions,
    /// The URLs in the order to try them; the last working one moves to the front.
    urls: Mutex<Vec<String>>,
    api_version: Mutex<Option<(u32, u32)>>,
    token: RwLock<Option<String>>,
    lock_pause: Mutex<u64>,
    clock: Arc<dyn Clock>,
}

impl IronicClient {
    pub fn new(opts: ClientOptions, clock: Arc<dyn Clock>) -> Result<Self, ClientError> {
        let http = http_client(&opts)?;
        let urls = opts
            .api_urls
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect();
        Ok(IronicClient {
            http,
            api_version: Mutex::new(opts.ironic_api_version),
            opts,
            urls: Mutex::new(urls),
            token: RwLock::new(None),
            lock_pause: Mutex::new(0),
            clock,
        })
    }

    /// The URLs in their current order (the working one first).
    pub fn api_urls(&self) -> Vec<String> {
        self.urls.lock().unwrap().clone()
    }

    pub fn agent_token(&self) -> Option<String> {
        self.token.read().unwrap().clone()
    }

    pub fn set_agent_token(&self, token: Option<String>) {
        *self.token.write().unwrap() = token;
    }

    fn base_headers(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = rb
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        match &self.opts.global_request_id {
            Some(id) => rb.header(REQUEST_ID_HEADER, id),
            None => rb,
        }
    }

    /// Send to each API URL in turn until one connects (IPA's `_request`).
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        version: Option<(u32, u32)>,
    ) -> Result<(u16, String), ClientError> {
        let urls = self.api_urls();
        if urls.is_empty() {
            return Err(ClientError::Config(
                "no Ironic API URL is configured".into(),
            ));
        }
        let mut last = String::new();
        for (idx, base) in urls.iter().enumerate() {
            let url = format!("{base}{path}");
            let mut rb = self.base_headers(self.http.request(method.clone(), &url));
            if !query.is_empty() {
                rb = rb.query(query);
            }
            if let Some(v) = version {
                rb = rb.header(VERSION_HEADER, version_string(v));
            }
            if let Some(b) = body {
                rb = rb.body(b.to_string());
            }
            match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = resp
                        .text()
                        .await
                        .map_err(|e| ClientError::Connection(format!("{url}: {e}")))?;
                    if idx > 0 {
                        let mut u = self.urls.lock().unwrap();
                        let n = u.len();
                        u.rotate_left(idx.min(n));
                    }
                    return Ok((status, text));
                }
                Err(e) => {
                    let e = error_chain(&e);
                    tracing::warn!(url = %url, error = %e, "connection error when accessing the Bare Metal API");
                    last = format!("{url}: {e}");
                }
            }
        }
        Err(ClientError::Connection(last))
    }

    /// The server's API version: configured, else `default_version.version` of `GET /`,
    /// cached once known; `MIN_IRONIC_VERSION` (not cached) when discovery fails.
    pub async fn api_version(&self) -> (u32, u32) {
        if let Some(v) = *self.api_version.lock().unwrap() {
            return v;
        }
        let discovered = match self
            .request(reqwest::Method::GET, "/", &[], None, None)
            .await
        {
            Ok((200..=299, text)) => serde_json::from_str::<Value>(&text).ok().and_then(|v| {
                v.pointer("/default_version/version")
                    .and_then(Value::as_str)
                    .and_then(crate::config::parse_version)
            }),
            Ok((status, text)) => {
                tracing::warn!(status, body = %text, "version discovery failed");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "version discovery failed");
                None
            }
        };
        match discovered {
            Some(v) => {
                *self.api_version.lock().unwrap() = Some(v);
                v
            }
            None => {
                tracing::warn!(
                    "falling back to API version {}",
                    version_string(MIN_IRONIC_VERSION)
                );
                MIN_IRONIC_VERSION
            }
        }
    }

    /// `GET /v1/lookup`, retried with IPA's random exponential backoff until `timeout`:
    /// the n-th wait is uniform in `[interval, max(interval, min(2^(n-1), max_interval))]` s,
    /// and the retrying stops once `timeout` has passed since the first attempt.
    pub async fn lookup_node(
        &self,
        addresses: &[String],
        node_uuid: Option<&str>,
        timeout: Duration,
        starting_interval: Duration,
        max_interval: Duration,
    ) -> Result<LookupResponse, ClientError> {
        let start = self.clock.now();
        let min = starting_interval.as_secs_f64();
        let max = max_interval.as_secs_f64();
        let mut attempt: i32 = 1;
        loop {
            let reason = match self.do_lookup(addresses, node_uuid).await {
                Ok(r) => return Ok(r),
                Err(reason) => reason,
            };
            if self.clock.now().saturating_sub(start) >= timeout {
                return Err(ClientError::LookupFailed(reason));
            }
            let exp = 2f64.powi((attempt - 1).min(1000));
            let high = min.max(exp.min(max));
            let wait = self.clock.uniform(min, high);
            self.clock
                .sleep(Duration::from_secs_f64(wait.max(0.0)))
                .await;
            attempt += 1;
        }
    }

    /// One lookup attempt; `Err` carries the reason to retry.
    async fn do_lookup(
        &self,
        addresses: &[String],
        node_uuid: Option<&str>,
    ) -> Result<LookupResponse, String> {
        let mut query = vec![("addresses", addresses.join(","))];
        if let Some(u) = node_uuid.filter(|u| !u.is_empty()) {
            query.push(("node_uuid", u.to_string()));
        }
        let version = self.api_version().await.min(AGENT_TOKEN_IRONIC_VERSION);
        let (status, text) = match self
            .request(
                reqwest::Method::GET,
                "/v1/lookup",
                &query,
                None,
                Some(version),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "error during lookup, retrying");
                return Err(e.to_string());
            }
        };
        if status == 409 {
            let pause = {
                let mut p = self.lock_pause.lock().unwrap();
                *p = match *p {
                    0 => LOOKUP_LOCK_PAUSES[0],
                    x if x == LOOKUP_LOCK_PAUSES[0] => LOOKUP_LOCK_PAUSES[1],
                    _ => LOOKUP_LOCK_PAUSES[2],
                };
                *p
            };
            let err = error_from_response(status, &text);
            tracing::warn!(pause, error = %err, "Ironic answered lookup with a conflict (node locked); pausing");
            self.clock.sleep(Duration::from_secs(pause)).await;
            return Err(err);
        }
        if status != 200 {
            let err = error_from_response(status, &text);
            tracing::warn!(addresses = %query[0].1, error = %err, "lookup failed");
            return Err(err);
        }
        let mut content: Map<String, Value> = match serde_json::from_str(&text) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err("lookup answer is not a JSON object".into()),
            Err(e) => return Err(format!("error decoding the lookup answer: {e}")),
        };
        let node = match content.remove("node") {
            Some(Value::Object(n)) if n.contains_key("uuid") => n,
            _ => return Err(format!("invalid node data in the lookup answer: {text}")),
        };
        let config = match content.remove("config") {
            Some(Value::Object(c)) => c,
            Some(_) => return Err("invalid config in the lookup answer".into()),
            // The old API put heartbeat_timeout at the top level.
            None => match content.remove("heartbeat_timeout") {
                Some(t) => Map::from_iter([("heartbeat_timeout".to_string(), t)]),
                None => return Err(format!("no heartbeat_timeout in the lookup answer: {text}")),
            },
        };
        Ok(LookupResponse { node, config })
    }

    /// `POST /v1/heartbeat/{uuid}`; the answer must be 202.
    pub async fn heartbeat(
        &self,
        uuid: &str,
        callback_url: &str,
        extra: &HeartbeatExtra,
    ) -> Result<(), ClientError> {
        let api = self.api_version().await;
        let mut data = Map::new();
        data.insert("callback_url".into(), json!(callback_url));
        if api >= AGENT_TOKEN_IRONIC_VERSION {
            data.insert("agent_token".into(), json!(self.agent_token()));
        }
        if api >= AGENT_VERSION_IRONIC_VERSION {
            data.insert("agent_version".into(), json!(self.opts.agent_version));
        }
        if api >= AGENT_VERIFY_CA_IRONIC_VERSION {
            if let Some(ca) = &extra.agent_verify_ca {
                data.insert("agent_verify_ca".into(), json!(ca));
            }
        }
        let mut header = api.min(MAX_KNOWN_VERSION);
        if let Some(st) = &extra.agent_status {
            if api >= AGENT_STATUS_IRONIC_VERSION {
                data.insert("agent_status".into(), json!(st));
                if let Some(m) = &extra.agent_status_message {
                    data.insert("agent_status_message".into(), json!(m));
                }
                header = api.min(AGENT_STATUS_IRONIC_VERSION);
            }
        }
        let path = format!("/v1/heartbeat/{uuid}");
        let (status, text) = self
            .request(
                reqwest::Method::POST,
                &path,
                &[],
                Some(&Value::Object(data)),
                Some(header),
            )
            .await?;
        match status {
            202 => Ok(()),
            409 => Err(ClientError::Conflict(error_from_response(status, &text))),
            _ => Err(ClientError::Status {
                status,
                message: error_from_response(status, &text),
            }),
        }
    }

    /// Post inspection data to the call-back URLs (IPA's `call_inspector`): no version header;
    /// each URL in turn on connection errors; connection errors, 5xx and 409 are retried up to
    /// 5 attempts with waits of max(5, min(1.5 × 2^(n-1), 30)) s; other 4xx fail at once.
    /// Returns the JSON answer (`{uuid}` from Ironic without a version header).
    pub async fn post_inspection(
        &self,
        urls: &[String],
        data: &Value,
    ) -> Result<Value, ClientError> {
        if urls.is_empty() {
            return Err(ClientError::Config(
                "no inspection call-back URL is configured".into(),
            ));
        }
        let body = data.to_string();
        let mut attempt = 1u32;
        loop {
            let outcome = self.post_inspection_once(urls, &body).await;
            let retryable = match &outcome {
                Err(ClientError::Connection(_)) => true,
                Ok((status, _)) => *status >= 500 || *status == 409,
                Err(_) => false,
            };
            if !retryable || attempt >= INSPECTION_ATTEMPTS {
                let (status, text) = outcome?;
                if status >= 400 {
                    return Err(ClientError::Status {
                        status,
                        message: format!("error {status}: {text}"),
                    });
                }
                return serde_json::from_str(&text).map_err(|e| {
                    ClientError::InvalidResponse(format!("inspection answer is not JSON: {e}"))
                });
            }
            let wait = (1.5 * 2f64.powi(attempt as i32 - 1)).clamp(5.0, 30.0);
            tracing::warn!(attempt, wait, "posting inspection data failed; retrying");
            self.clock.sleep(Duration::from_secs_f64(wait)).await;
            attempt += 1;
        }
    }

    async fn post_inspection_once(
        &self,
        urls: &[String],
        body: &str,
    ) -> Result<(u16, String), ClientError> {
        let mut last = String::new();
        for url in urls {
            tracing::info!(url = %url, "posting collected data");
            let rb = self
                .base_headers(self.http.post(url))
                .body(body.to_string());
            match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = resp
                        .text()
                        .await
                        .map_err(|e| ClientError::Connection(format!("{url}: {e}")))?;
                    return Ok((status, text));
                }
                Err(e) => {
                    let e = error_chain(&e);
                    tracing::warn!(url = %url, error = %e, "connection error when posting inspection data");
                    last = format!("{url}: {e}");
                }
            }
        }
        Err(ClientError::Connection(last))
    }
}

/// `http://<host>:<port>` with IPv6 hosts bracketed (IPA's `_get_agent_url`).
pub fn agent_url(protocol: &str, host: &str, port: u16) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("{protocol}://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ironic_error_shapes() {
        let nested = r#"{"error_message": "{\"faultstring\": \"Node locked\", \"faultcode\": \"Client\", \"debuginfo\": null}"}"#;
        assert_eq!(error_from_response(409, nested), "Error 409: Node locked");
        let dict = r#"{"error_message": {"faultstring": "Not here", "faultcode": "Client"}}"#;
        assert_eq!(error_from_response(404, dict), "Error 404: Not here");
        let title = r#"{"title": "Unauthorized", "description": "x"}"#;
        assert_eq!(error_from_response(401, title), "Error 401: Unauthorized");
        assert_eq!(
            error_from_response(500, "plain text"),
            "Error 500: plain text"
        );
        assert_eq!(
            error_from_response(400, r#"{"other": 1}"#),
            r#"Error 400: {"other": 1}"#
        );
    }

    #[test]
    fn agent_urls() {
        assert_eq!(agent_url("http", "10.0.0.5", 9999), "http://10.0.0.5:9999");
        assert_eq!(agent_url("http", "fd00::5", 9999), "http://[fd00::5]:9999");
    }
}

//! A small HTTP client for the Bare Metal API (Ironic v1 wire format).
//!
//! Every request carries the microversion headers, has a bounded timeout and
//! is retried on `409` lock conflicts and `503` (like openstacksdk does).

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::error::{decode_error_body, CliError};
use crate::opts::ClientOpts;

/// Retry policy for 409 NodeLocked / 503 NoFreeConductorWorker.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Extra attempts after the first one.
    pub max_retries: u32,
    /// Delay before the first retry; doubled each time, capped at `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    pub fn delay(&self, retry: u32) -> Duration {
        let d = self.base_delay.saturating_mul(2u32.saturating_pow(retry));
        d.min(self.max_delay)
    }
}

/// 409s that will not go away by retrying (duplicates, associations).
fn is_permanent_conflict(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("already exists")
        || m.contains("is associated with")
        || m.contains("already associated")
}

/// Whether an error answer should be retried.
pub fn is_retriable(status: u16, message: &str) -> bool {
    match status {
        503 => true,
        409 => !is_permanent_conflict(message),
        _ => false,
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_version: String,
    timeout_secs: u64,
    retry: RetryPolicy,
}

impl Client {
    pub fn new(opts: &ClientOpts) -> Result<Self, CliError> {
        let base = normalize_base(&opts.endpoint())?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(opts.http_timeout.clamp(1, 10)))
            .timeout(Duration::from_secs(opts.http_timeout.max(1)))
            .user_agent(concat!("ferric-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Usage(format!("cannot build HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            api_version: opts.api_version.clone(),
            timeout_secs: opts.http_timeout.max(1),
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `<base>/v1/<segments...>`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut p = url.path_segments_mut().expect("base URL is http(s)");
            p.pop_if_empty();
            p.push("v1");
            for s in segments {
                p.push(s);
            }
        }
        url
    }

    /// Same as [`Client::url`] with query parameters (empty values skipped).
    pub fn url_with_query(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.url(segments);
        if query.iter().any(|(_, v)| !v.is_empty()) {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                if !v.is_empty() {
                    q.append_pair(k, v);
                }
            }
        }
        url
    }

    pub async fn get(&self, url: Url) -> Result<Value, CliError> {
        self.send(Method::GET, url, None).await
    }

    pub async fn post(&self, url: Url, body: &Value) -> Result<Value, CliError> {
        self.send(Method::POST, url, Some(body)).await
    }

    pub async fn put(&self, url: Url, body: &Value) -> Result<Value, CliError> {
        self.send(Method::PUT, url, Some(body)).await
    }

    pub async fn patch(&self, url: Url, body: &Value) -> Result<Value, CliError> {
        self.send(Method::PATCH, url, Some(body)).await
    }

    pub async fn delete(&self, url: Url) -> Result<Value, CliError> {
        self.send(Method::DELETE, url, None).await
    }

    /// Send a request; returns the decoded JSON body (`Null` for empty bodies).
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let mut attempt = 0u32;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header("Accept", "application/json")
                .header("X-OpenStack-Ironic-API-Version", &self.api_version)
                .header(
                    "OpenStack-API-Version",
                    format!("baremetal {}", self.api_version),
                );
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| self.transport_error(&method, &url, e))?;
            let status = resp.status();
            let text = resp
                .text()
                .await
                .map_err(|e| self.transport_error(&method, &url, e))?;
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| CliError::BadResponse {
                    url: url.to_string(),
                    detail: format!("invalid JSON ({e})"),
                });
            }
            let message = decode_error_body(&text).unwrap_or_else(|| default_reason(status));
            if attempt < self.retry.max_retries && is_retriable(status.as_u16(), &message) {
                tokio::time::sleep(self.retry.delay(attempt)).await;
                attempt += 1;
                continue;
            }
            return Err(CliError::Api {
                status: status.as_u16(),
                message,
            });
        }
    }

    fn transport_error(&self, method: &Method, url: &Url, e: reqwest::Error) -> CliError {
        if e.is_timeout() {
            return CliError::Timeout {
                method: method.to_string(),
                url: url.to_string(),
                secs: self.timeout_secs,
            };
        }
        let detail = root_cause(&e);
        if url.scheme() == "https" && detail.contains("scheme is not http") {
            return CliError::Usage(format!(
                "cannot use {}: this build of ferric has no TLS support; use an http:// endpoint",
                self.base
            ));
        }
        if e.is_connect() {
            return CliError::Connect {
                url: self.base.to_string(),
                detail,
            };
        }
        CliError::Transport {
            method: method.to_string(),
            url: url.to_string(),
            detail,
        }
    }
}

fn default_reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("request failed")
        .to_string()
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Parse the endpoint; accept `host:port`, a trailing `/` or a trailing `/v1`.
pub fn normalize_base(endpoint: &str) -> Result<Url, CliError> {
    let raw = endpoint.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let mut url = Url::parse(&with_scheme)
        .map_err(|e| CliError::Usage(format!("invalid --url '{endpoint}': {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(CliError::Usage(format!(
            "invalid --url '{endpoint}': expected http://HOST:PORT"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    let path = path.strip_suffix("/v1").unwrap_or(&path).to_string();
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_normalisation() {
        assert_eq!(
            normalize_base("http://127.0.0.1:6385").unwrap().as_str(),
            "http://127.0.0.1:6385/"
        );
        assert_eq!(
            normalize_base("http://127.0.0.1:6385/v1/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:6385/"
        );
        assert_eq!(
            normalize_base("127.0.0.1:6385").unwrap().as_str(),
            "http://127.0.0.1:6385/"
        );
        assert_eq!(
            normalize_base("http://h/baremetal/").unwrap().as_str(),
            "http://h/baremetal"
        );
        assert!(normalize_base("ftp://h").is_err());
    }

    #[test]
    fn urls_are_built_and_encoded() {
        let opts = ClientOpts::for_url("http://h:1/baremetal");
        let c = Client::new(&opts).unwrap();
        assert_eq!(
            c.url(&["nodes", "node 0/x"]).as_str(),
            "http://h:1/baremetal/v1/nodes/node%200%2Fx"
        );
        let c = Client::new(&ClientOpts::for_url("http://h:1")).unwrap();
        assert_eq!(c.url(&["nodes"]).as_str(), "http://h:1/v1/nodes");
        assert_eq!(
            c.url_with_query(
                &["nodes"],
                &[("driver", "fake-hardware".into()), ("limit", String::new())]
            )
            .as_str(),
            "http://h:1/v1/nodes?driver=fake-hardware"
        );
    }

    #[test]
    fn retry_policy() {
        assert!(is_retriable(503, "No free conductor workers available"));
        assert!(is_retriable(
            409,
            "Node abc is locked by host h, please retry after the current operation is completed."
        ));
        assert!(!is_retriable(
            409,
            "A node with name node-0 already exists."
        ));
        assert!(!is_retriable(
            409,
            "Node abc is associated with instance xyz."
        ));
        assert!(!is_retriable(400, "bad"));
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_millis(500));
        assert_eq!(p.delay(1), Duration::from_secs(1));
        assert_eq!(p.delay(10), Duration::from_secs(4));
    }
}

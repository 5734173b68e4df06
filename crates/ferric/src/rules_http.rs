//! The HTTP client behind the inspection rules' `api-call` action: a GET with Ironic's retry
//! policy (urllib3 `Retry(total=retries, backoff_factor, status_forcelist=[429, 500, 502, 503,
//! 504])`, then `raise_for_status`), each attempt within the call's timeout.

use ferric_conductor::rules::{ApiCall, RuleHttp};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

const RETRY_STATUS: &[u16] = &[429, 500, 502, 503, 504];

pub struct ReqwestRuleHttp;

fn client(call: &ApiCall) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(call.timeout).redirect(reqwest::redirect::Policy::limited(30));
    for (scheme, url) in &call.proxies {
        let Some(url) = url.as_str() else { continue };
        let proxy = match scheme.as_str() {
            "http" => reqwest::Proxy::http(url),
            "https" => reqwest::Proxy::https(url),
            "all" => reqwest::Proxy::all(url),
            _ => continue,
        }
        .map_err(|e| format!("invalid proxy {url}: {e}"))?;
        b = b.proxy(proxy);
    }
    b.build().map_err(|e| e.to_string())
}

/// `requests`' `raise_for_status` text.
fn status_error(status: reqwest::StatusCode, url: &str) -> String {
    let kind = if status.is_client_error() { "Client Error" } else { "Server Error" };
    format!("{} {kind}: {} for url: {url}", status.as_u16(), status.canonical_reason().unwrap_or(""))
}

async fn get(call: &ApiCall) -> Result<(), String> {
    let client = client(call)?;
    let mut attempt: u32 = 0;
    loop {
        let mut req = client.get(&call.url);
        for (k, v) in &call.headers {
            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            req = req.header(k.as_str(), v);
        }
        let outcome = req.send().await;
        let retryable = match &outcome {
            Ok(r) => RETRY_STATUS.contains(&r.status().as_u16()),
            Err(e) => e.is_connect() || e.is_timeout(),
        };
        if retryable && attempt < call.retries {
            attempt += 1;
            // urllib3: no sleep before the first retry, then backoff_factor * 2**(n-1), at most 120 s.
            if attempt >= 2 {
                let secs = (call.backoff_factor * 2f64.powi(attempt as i32 - 1)).clamp(0.0, 120.0);
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            }
            continue;
        }
        return match outcome {
            Ok(r) if r.status().is_client_error() || r.status().is_server_error() => Err(status_error(r.status(), &call.url)),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
    }
}

impl RuleHttp for ReqwestRuleHttp {
    fn get<'a>(&'a self, call: &'a ApiCall) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(get(call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A tiny HTTP server answering with `statuses` in turn (the last one repeats); counts requests
    /// and records the last request's head.
    async fn server(statuses: Vec<u16>) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let head = Arc::new(std::sync::Mutex::new(String::new()));
        let (h, hd) = (hits.clone(), head.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let n = h.fetch_add(1, Ordering::SeqCst);
                let status = statuses[n.min(statuses.len() - 1)];
                let mut buf = vec![0u8; 4096];
                let len = sock.read(&mut buf).await.unwrap_or(0);
                *hd.lock().unwrap() = String::from_utf8_lossy(&buf[..len]).to_string();
                let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        (url, hits, head)
    }

    fn call(url: String, retries: u32) -> ApiCall {
        let headers = serde_json::json!({"X-Rule": "r1"}).as_object().unwrap().clone();
        ApiCall { url, headers, proxies: Default::default(), timeout: Duration::from_secs(5), retries, backoff_factor: 0.0 }
    }

    #[tokio::test]
    async fn gets_with_headers_and_retries_like_urllib3() {
        let (url, hits, head) = server(vec![200]).await;
        assert_eq!(get(&call(format!("{url}/hook"), 3)).await, Ok(()));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let h = head.lock().unwrap().to_lowercase();
        assert!(h.starts_with("get /hook http/1.1") && h.contains("x-rule: r1"), "{h}");

        let (url, hits, _) = server(vec![503, 502, 200]).await;
        assert_eq!(get(&call(url, 3)).await, Ok(()));
        assert_eq!(hits.load(Ordering::SeqCst), 3, "retried on 503 and 502");

        let (url, hits, _) = server(vec![500]).await;
        let u = format!("{url}/x");
        assert_eq!(get(&call(u.clone(), 2)).await, Err(format!("500 Server Error: Internal Server Error for url: {u}")));
        assert_eq!(hits.load(Ordering::SeqCst), 3, "one try and two retries");

        let (url, hits, _) = server(vec![404]).await;
        assert_eq!(get(&call(url.clone(), 3)).await, Err(format!("404 Client Error: Not Found for url: {url}")));
        assert_eq!(hits.load(Ordering::SeqCst), 1, "404 is not retried");
    }

    #[tokio::test]
    async fn a_dead_server_is_an_error() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        assert!(get(&call(url, 1)).await.is_err());
    }
}

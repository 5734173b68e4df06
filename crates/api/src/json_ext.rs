//! The `.json` suffix (Ironic's `JsonExtensionMiddleware`, API 1.91).
//!
//! Before 1.91 Ironic strips a trailing `.json` from the request path, a remnant of pecan's
//! content-type guessing: `GET /v1/nodes/foo.json` is `GET /v1/nodes/foo`. It does so only when
//! the request names a version in `X-OpenStack-Ironic-API-Version` (not `OpenStack-API-Version`,
//! not without a header) whose minor is 1 to 90. Nodes, allocations and deploy templates
//! (and the node of a heartbeat) whose identifier was stripped are then looked up under the
//! stripped name first and under the full name (`foo.json`) when that is not found, so a
//! resource really named `foo.json` stays reachable (Ironic's `_get_with_suffix`). From 1.91 on
//! the path is taken literally.
//!
//! Done once, before routing ([`strip`], from `serve`); the lookups ask [`suffixed`].

use axum::extract::Request;
use ferric_core::version::feature;

/// The last path segment as it was before `.json` was stripped from it.
#[derive(Debug, Clone)]
pub(crate) struct Stripped(pub String);

tokio::task_local! {
    static STRIPPED: Option<String>;
}

/// Strip a trailing `.json` when the request's version asks for it. The path has already lost
/// its trailing slash.
pub(crate) fn strip(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_suffix(".json") else { return req };
    let minor = req
        .headers()
        .get("x-openstack-ironic-api-version")
        .and_then(|h| h.to_str().ok())
        .and_then(header_minor);
    // Ironic tests `minor and minor < 91`: 1.0 and missing headers do not strip.
    if !minor.is_some_and(|m| m > 0 && m < feature::DOT_JSON) {
        return req;
    }
    let rest = rest.trim_end_matches('/');
    let rest = if rest.is_empty() { "/" } else { rest };
    let last = rest.rsplit('/').next().unwrap_or_default().to_string();
    let pq = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    if let Ok(uri) = pq.parse() {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(Stripped(last));
    }
    req
}

/// The minor version of a `X.Y` header as `microversion_parse` reads it (any major); `latest`
/// and malformed values give `None` (Ironic fails those with a 500).
fn header_minor(v: &str) -> Option<u16> {
    let (_, minor) = v.split_once('.')?;
    minor.trim().parse().ok()
}

/// Run `f` knowing which identifier (if any) lost its `.json`.
pub(crate) async fn scope<F: std::future::Future>(stripped: Option<String>, f: F) -> F::Output {
    STRIPPED.scope(stripped, f).await
}

/// `ident.json` when `ident` is the path segment this request's `.json` was stripped from:
/// the second name to look the resource up by.
pub(crate) fn suffixed(ident: &str) -> Option<String> {
    STRIPPED
        .try_with(|s| s.as_deref() == Some(ident))
        .unwrap_or(false)
        .then(|| format!("{ident}.json"))
}

/// Look a resource up by `ident`, then (when `ident` lost a `.json`) by `ident.json`; the
/// second miss is the error, as Ironic's `_get_with_suffix`.
pub(crate) async fn lookup<T, F, Fut>(ident: &str, mut get: F) -> crate::ApiResult<T>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = crate::ApiResult<T>>,
{
    match get(ident.to_string()).await {
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => match suffixed(ident) {
            Some(full) => get(full).await,
            None => Err(e),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(path: &str, version: Option<&str>) -> (String, Option<String>) {
        let mut b = Request::builder().uri(path);
        if let Some(v) = version {
            b = b.header("X-OpenStack-Ironic-API-Version", v);
        }
        let req = strip(b.body(axum::body::Body::empty()).unwrap());
        let s = req.extensions().get::<Stripped>().map(|s| s.0.clone());
        (req.uri().to_string(), s)
    }

    #[test]
    fn strips_below_1_91_only() {
        assert_eq!(run("/v1/nodes/n1.json", Some("1.90")), ("/v1/nodes/n1".into(), Some("n1".into())));
        assert_eq!(run("/v1/nodes/n1.json?fields=uuid", Some("1.5")), ("/v1/nodes/n1?fields=uuid".into(), Some("n1".into())));
        assert_eq!(run("/v1/nodes.json", Some("1.1")), ("/v1/nodes".into(), Some("nodes".into())));
        assert_eq!(run("/v1/nodes/n1.json", Some("1.91")).1, None);
        assert_eq!(run("/v1/nodes/n1.json", Some("1.115")).1, None);
        assert_eq!(run("/v1/nodes/n1.json", None).1, None);
        assert_eq!(run("/v1/nodes/n1.json", Some("latest")).1, None);
        assert_eq!(run("/v1/nodes/n1.json", Some("1.0")).1, None);
        assert_eq!(run("/v1/nodes/n1", Some("1.90")), ("/v1/nodes/n1".into(), None));
        assert_eq!(run("/v1/nodes/n1json", Some("1.90")).1, None);
    }

    #[tokio::test]
    async fn suffixed_names_only_the_stripped_segment() {
        assert_eq!(suffixed("n1"), None, "outside a request");
        scope(Some("n1".into()), async {
            assert_eq!(suffixed("n1").as_deref(), Some("n1.json"));
            assert_eq!(suffixed("n2"), None);
        })
        .await;
        scope(None, async { assert_eq!(suffixed("n1"), None) }).await;
    }
}

//! Helpers shared by the node and port commands.

use std::collections::HashSet;

use reqwest::Url;
use serde_json::Value;

use crate::client::Client;
use crate::error::CliError;
use crate::output::Out;

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, any case).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Six pairs of hex digits separated by `:` or `-`.
pub fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Fetch a collection, following `next` links until the last page unless a
/// `limit` is given (then only the first page, of at most `limit` items).
///
/// The `next` link is only mined for its `marker`: the follow-up request keeps
/// our own path and filters, so it works behind proxies that rewrite hosts and
/// with servers that drop filters from `next`.
pub async fn list_all(
    client: &Client,
    segments: &[&str],
    query: &[(&str, String)],
    key: &str,
    limit: Option<u64>,
) -> Result<Vec<Value>, CliError> {
    let mut items = Vec::new();
    let mut marker: Option<String> = None;
    let mut seen = HashSet::new();
    loop {
        let mut q: Vec<(&str, String)> = query.to_vec();
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(m) = &marker {
            q.push(("marker", m.clone()));
        }
        let url = client.url_with_query(segments, &q);
        let page = client.get(url.clone()).await?;
        let arr = page
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| CliError::BadResponse {
                url: url.to_string(),
                detail: format!("no '{key}' list in the answer"),
            })?;
        items.extend(arr.iter().cloned());
        if limit.is_some() || arr.is_empty() {
            break;
        }
        let Some(next) = page
            .get("next")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            break;
        };
        match marker_of(client.base(), next) {
            Some(m) if seen.insert(m.clone()) => marker = Some(m),
            _ => break,
        }
    }
    Ok(items)
}

/// The `marker` query parameter of a `next` link (absolute or relative).
pub fn marker_of(base: &Url, next: &str) -> Option<String> {
    let url = Url::parse(next).or_else(|_| base.join(next)).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "marker")
        .map(|(_, v)| v.into_owned())
}

/// A JSON argument: inline JSON (`[...]` / `{...}`), `-` for stdin, or a file path.
pub fn read_json_arg(what: &str, arg: &str) -> Result<Value, CliError> {
    let trimmed = arg.trim_start();
    let text = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        arg.to_string()
    } else if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CliError::Usage(format!("{what}: cannot read stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(arg)
            .map_err(|e| CliError::Usage(format!("{what}: cannot read '{arg}': {e}")))?
    };
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{what}: invalid JSON: {e}")))
}

/// Run `op` on each id in turn ("Deleted node X"); report per-id failures on
/// stderr and return the error itself when there was one id, else a summary.
pub async fn for_each_id<F, Fut>(ids: &[String], out: &mut Out, mut op: F) -> Result<(), CliError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, CliError>>,
{
    let mut failures = Vec::new();
    for id in ids {
        match op(id.clone()).await {
            Ok(Some(msg)) => out.line(&msg),
            Ok(None) => {}
            Err(e) => {
                if ids.len() > 1 {
                    eprintln!("Error: {id}: {e}");
                }
                failures.push(e);
            }
        }
    }
    match failures.len() {
        0 => Ok(()),
        _ if ids.len() == 1 => Err(failures.remove(0)),
        n => Err(CliError::Partial {
            failed: n,
            total: ids.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_and_mac_detection() {
        assert!(is_uuid("9b812c1b-9caf-4b7d-af00-30d496949682"));
        assert!(!is_uuid("node-0"));
        assert!(!is_uuid("9b812c1b-9caf-4b7d-af00-30d49694968z"));
        assert!(is_mac("52:54:00:12:34:56"));
        assert!(is_mac("52-54-00-AB-cd-56"));
        assert!(!is_mac("3468ec2c-77f5-401c-b8ab-3f2f435b490d"));
        assert!(!is_mac("52:54:00:12:34"));
    }

    #[test]
    fn marker_from_next_link() {
        let base = Url::parse("http://127.0.0.1:6385/").unwrap();
        assert_eq!(
            marker_of(&base, "http://ironic.example:6385/v1/nodes?limit=2&marker=9b812c1b-9caf-4b7d-af00-30d496949682").as_deref(),
            Some("9b812c1b-9caf-4b7d-af00-30d496949682")
        );
        assert_eq!(
            marker_of(&base, "/v1/nodes?marker=abc&limit=1").as_deref(),
            Some("abc")
        );
        assert_eq!(marker_of(&base, "http://h/v1/nodes?limit=2"), None);
    }

    #[test]
    fn json_arg_inline_and_errors() {
        let v = read_json_arg(
            "--clean-steps",
            r#"[{"interface": "deploy", "step": "erase_devices"}]"#,
        )
        .unwrap();
        assert_eq!(v[0]["step"], "erase_devices");
        assert!(matches!(
            read_json_arg("--clean-steps", "[oops"),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            read_json_arg("--clean-steps", "/nonexistent/file.json"),
            Err(CliError::Usage(_))
        ));
    }
}

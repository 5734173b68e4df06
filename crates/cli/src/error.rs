//! The CLI's error type and the decoding of Bare Metal API error bodies.

use serde_json::Value;

/// Everything a `ferric node|port` command can fail with.
///
/// `Display` gives the message without the `Error: ` prefix; the binary prints
/// `Error: {err}` to stderr (or calls [`CliError::report`]) and exits with
/// [`CliError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with an HTTP error status.
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },

    /// The TCP connection could not be established.
    #[error("cannot connect to the Bare Metal API at {url}: {detail} (is the server running? set --url, FERRIC_URL or OS_ENDPOINT)")]
    Connect { url: String, detail: String },

    /// A request did not complete within the client timeout.
    #[error("request {method} {url} timed out after {secs} s")]
    Timeout {
        method: String,
        url: String,
        secs: u64,
    },

    /// Any other transport-level failure (reset connection, malformed response...).
    #[error("request {method} {url} failed: {detail}")]
    Transport {
        method: String,
        url: String,
        detail: String,
    },

    /// The server answered 2xx with a body that is not what the API promises.
    #[error("unexpected response from {url}: {detail}")]
    BadResponse { url: String, detail: String },

    /// Bad command-line input detected before anything was sent.
    #[error("{0}")]
    Usage(String),

    /// A multi-node operation (or `--wait`) where some nodes failed; the details
    /// were already printed (summary table or per-node messages).
    #[error("{failed} of {total} operations failed")]
    Partial { failed: usize, total: usize },

    /// A single `--wait` that ended in a failed state or timed out.
    #[error("{0}")]
    WaitFailed(String),
}

impl CliError {
    /// Process exit code: 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Print `Error: <message>` to stderr.
    pub fn report(&self) {
        eprintln!("Error: {self}");
    }

    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            CliError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Extract the human-readable message from a Bare Metal API error body.
///
/// Handles, in order:
/// - Ironic's `{"error_message": "<JSON string of {faultstring, faultcode, debuginfo}>"}`,
/// - the same with `error_message` already a nested object,
/// - the 406 flavour `{"error_message": "<JSON string of {code, title, description}>"}`
///   and a bare `{code, title, description}`,
/// - ironic-inspector's `{"error": {"message": ...}}`,
/// - anything else: the trimmed body text (truncated), or `None` when empty.
pub fn decode_error_body(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v) => message_from_value(&v).or_else(|| Some(truncate(trimmed, 500))),
        Err(_) => Some(truncate(trimmed, 500)),
    }
}

fn message_from_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            // error_message is usually a JSON document encoded as a string.
            match serde_json::from_str::<Value>(s) {
                Ok(inner @ Value::Object(_)) => {
                    message_from_value(&inner).or_else(|| Some(s.clone()))
                }
                _ => non_empty(s),
            }
        }
        Value::Object(map) => {
            if let Some(em) = map.get("error_message") {
                if let Some(m) = message_from_value(em) {
                    return Some(m);
                }
            }
            if let Some(fs) = map.get("faultstring").and_then(Value::as_str) {
                return non_empty(fs);
            }
            if let Some(d) = map.get("description").and_then(Value::as_str) {
                return non_empty(d);
            }
            if let Some(err) = map.get("error") {
                if let Some(m) = err.get("message").and_then(Value::as_str) {
                    return non_empty(m);
                }
                if let Some(m) = err.as_str() {
                    return non_empty(m);
                }
            }
            if let Some(m) = map.get("message").and_then(Value::as_str) {
                return non_empty(m);
            }
            if let Some(t) = map.get("title").and_then(Value::as_str) {
                return non_empty(t);
            }
            None
        }
        _ => None,
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The exact bodies recorded from Ironic 39.0.0
    // (/work/shared/reference/ironic-responses/error_samples.txt).
    const NOT_FOUND: &str = r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Node doesnotexist could not be found.\", \"debuginfo\": null}"}"#;
    const NOT_ACCEPTABLE: &str = r#"{"error_message": "{\"code\": 406, \"title\": \"Not Acceptable\", \"description\": \"Version 1.200 was requested but the minor version is not supported by this service. The supported version range is: [1.1, 1.115].\"}"}"#;
    const BAD_DRIVER: &str = r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"No valid host was found. Reason: No conductor service registered which supports driver ipmi for conductor group \\\"\\\". Ensure the driver is valid and enabled.\", \"debuginfo\": null}"}"#;
    const BAD_TRANSITION: &str = r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"The requested action \\\"inspect\\\" can not be performed on node \\\"9b812c1b-9caf-4b7d-af00-30d496949682\\\" while it is in state \\\"available\\\".\", \"debuginfo\": null}"}"#;

    #[test]
    fn decodes_recorded_404() {
        assert_eq!(
            decode_error_body(NOT_FOUND).as_deref(),
            Some("Node doesnotexist could not be found.")
        );
    }

    #[test]
    fn decodes_recorded_406_code_title_description() {
        assert_eq!(
            decode_error_body(NOT_ACCEPTABLE).as_deref(),
            Some("Version 1.200 was requested but the minor version is not supported by this service. The supported version range is: [1.1, 1.115].")
        );
    }

    #[test]
    fn decodes_recorded_400_with_escaped_quotes() {
        assert_eq!(
            decode_error_body(BAD_DRIVER).as_deref(),
            Some("No valid host was found. Reason: No conductor service registered which supports driver ipmi for conductor group \"\". Ensure the driver is valid and enabled.")
        );
        assert_eq!(
            decode_error_body(BAD_TRANSITION).as_deref(),
            Some("The requested action \"inspect\" can not be performed on node \"9b812c1b-9caf-4b7d-af00-30d496949682\" while it is in state \"available\".")
        );
    }

    #[test]
    fn decodes_nested_dict_and_other_shapes() {
        let nested = r#"{"error_message": {"faultcode": "Client", "faultstring": "Node x is locked by host h", "debuginfo": null}}"#;
        assert_eq!(
            decode_error_body(nested).as_deref(),
            Some("Node x is locked by host h")
        );
        let bare_406 = r#"{"code": 406, "title": "Not Acceptable", "description": "bad version"}"#;
        assert_eq!(decode_error_body(bare_406).as_deref(), Some("bad version"));
        let inspector = r#"{"error": {"message": "Node not found"}}"#;
        assert_eq!(
            decode_error_body(inspector).as_deref(),
            Some("Node not found")
        );
        let title_only = r#"{"error_message": "{\"title\": \"Service Unavailable\"}"}"#;
        assert_eq!(
            decode_error_body(title_only).as_deref(),
            Some("Service Unavailable")
        );
        let plain_string = r#"{"error_message": "plain text, not JSON"}"#;
        assert_eq!(
            decode_error_body(plain_string).as_deref(),
            Some("plain text, not JSON")
        );
        assert_eq!(
            decode_error_body("<html>Bad Gateway</html>").as_deref(),
            Some("<html>Bad Gateway</html>")
        );
        assert_eq!(decode_error_body("  "), None);
    }

    #[test]
    fn api_error_display_matches_cli_contract() {
        let e = CliError::Api {
            status: 404,
            message: decode_error_body(NOT_FOUND).unwrap(),
        };
        assert_eq!(
            format!("Error: {e}"),
            "Error: Node doesnotexist could not be found. (HTTP 404)"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.status(), Some(404));
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
    }
}

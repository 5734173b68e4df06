//! Input validation shared by the API and the conductor: MAC addresses, UUIDs, logical names,
//! traits. Error texts follow Ironic's where clients or tests read them.

/// Normalise a MAC address to lower-case colon form; `None` if it is not a 48-bit MAC.
pub fn normalize_mac(mac: &str) -> Option<String> {
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit())) {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

/// True for a canonical (hyphenated) UUID; Ironic also accepts the 32-hex form.
pub fn is_uuid_like(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

/// Canonical lower-case hyphenated form of a UUID-like string.
pub fn canonical_uuid(s: &str) -> Option<String> {
    uuid::Uuid::try_parse(s).ok().map(|u| u.hyphenated().to_string())
}

/// Ironic's logical names (API >= 1.10): RFC 3986 unreserved characters, at most 255.
pub fn is_valid_logical_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Pre-1.10 names had to be valid host names.
pub fn is_hostname_safe(name: &str) -> bool {
    let n = name.strip_suffix('.').unwrap_or(name);
    !n.is_empty()
        && n.len() <= 255
        && n.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && !n.split('.').last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// Traits: `CUSTOM_[A-Z0-9_]+`, or a standard trait name (upper-case with underscores). Ironic
/// checks standard names against the os-traits catalogue, which ferric does not ship; it accepts
/// any name of the standard shape (documented in docs/microversions.md).
pub fn is_valid_trait(t: &str) -> bool {
    if t.is_empty() || t.len() > 255 {
        return false;
    }
    if let Some(rest) = t.strip_prefix("CUSTOM_") {
        return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    }
    t.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && t.contains('_')
        && t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A switch id in `local_link_connection`: a MAC address or an OpenFlow datapath id.
pub fn normalize_switch_id(s: &str) -> Option<String> {
    if let Some(m) = normalize_mac(s) {
        return Some(m);
    }
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// A JSON value as Python prints it (`None`, `True`, `'text'`, `{'k': 1}`), for error texts that
/// quote values the way Ironic's do.
pub fn py_repr(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            format!("{{{}}}", o.iter().map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v))).collect::<Vec<_>>().join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(normalize_mac("52:54:00:AA:bb:0C").as_deref(), Some("52:54:00:aa:bb:0c"));
        assert_eq!(normalize_mac("52-54-00-aa-bb-0c").as_deref(), Some("52:54:00:aa:bb:0c"));
        assert_eq!(normalize_mac("52:54:00:aa:bb"), None);
        assert_eq!(normalize_mac("52:54:00:aa:bb:0g"), None);
        assert_eq!(normalize_mac("525400aabb0c"), None);
        assert_eq!(normalize_mac(""), None);
    }

    #[test]
    fn names() {
        assert!(is_valid_logical_name("node-0"));
        assert!(is_valid_logical_name("a.b_c~d"));
        assert!(!is_valid_logical_name("has space"));
        assert!(!is_valid_logical_name("slash/name"));
        assert!(!is_valid_logical_name(""));
        assert!(!is_valid_logical_name(&"a".repeat(256)));
        assert!(is_hostname_safe("node-0.example.com"));
        assert!(!is_hostname_safe("node_0"));
        assert!(!is_hostname_safe("-bad"));
    }

    #[test]
    fn python_repr() {
        let v = serde_json::json!({"a": [1, true, null], "b": "it's"});
        assert_eq!(py_repr(&v), "{'a': [1, True, None], 'b': 'it\\'s'}");
    }

    #[test]
    fn traits() {
        assert!(is_valid_trait("CUSTOM_RAID5"));
        assert!(is_valid_trait("HW_CPU_X86_VMX"));
        assert!(!is_valid_trait("CUSTOM_"));
        assert!(!is_valid_trait("custom_lower"));
        assert!(!is_valid_trait("NOUNDERSCORE"));
        assert!(!is_valid_trait(""));
    }

    #[test]
    fn uuids_and_switch_ids() {
        assert!(is_uuid_like("9b812c1b-9caf-4b7d-af00-30d496949682"));
        assert!(!is_uuid_like("node-0"));
        assert_eq!(
            canonical_uuid("9B812C1B9CAF4B7DAF0030D496949682").as_deref(),
            Some("9b812c1b-9caf-4b7d-af00-30d496949682")
        );
        assert_eq!(normalize_switch_id("0A:1B:2C:3D:4E:5F").as_deref(), Some("0a:1b:2c:3d:4e:5f"));
        assert_eq!(normalize_switch_id("0123456789abcdef").as_deref(), Some("0123456789abcdef"));
        assert_eq!(normalize_switch_id("switch-1"), None);
    }
}

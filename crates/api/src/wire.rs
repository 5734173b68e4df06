//! Shared wire helpers: links, masking of secrets, field selection, pagination parameters.

use crate::{ApiError, ApiResult};
use ferric_core::version::{feature as f, Version};
use ferric_store::{ListQuery, SortDir};
use chrono::{Datelike, Timelike};
use ferric_core::Timestamp;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn link(base: &str, rel: &str, path: &str) -> Value {
    if rel == "self" {
        json!({"href": format!("{base}/v1/{path}"), "rel": "self"})
    } else {
        json!({"href": format!("{base}/{path}"), "rel": "bookmark"})
    }
}

pub fn links(base: &str, path: &str) -> Value {
    json!([link(base, "self", path), link(base, "bookmark", path)])
}

/// Substrings of keys whose values are secrets (oslo's `mask_dict_password` list).
const SECRET_KEYS: &[&str] = &[
    "password", "passwd", "pswd", "secret", "token", "passphrase", "private_key", "encryption_key", "admin_pass",
    // The IPMI v2 K_g key (`ipmi_hex_kg_key`) is a BMC secret as much as its password.
    "kg_key",
    "new_pass", "sslkey", "fernetkey", "credential", "configdrive",
];

/// For each byte, the `SECRET_KEYS` (bit i for the i-th) that start with it.
const SECRET_STARTS: [u32; 256] = {
    assert!(SECRET_KEYS.len() <= 32, "one bit per key in a u32");
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < SECRET_KEYS.len() {
        t[SECRET_KEYS[i].as_bytes()[0] as usize] |= 1 << i;
        i += 1;
    }
    t
};

/// Whether a key names a secret: one of `SECRET_KEYS` in it, ignoring ASCII case. One pass
/// over the key (every dict key of every listed node goes through here), no lowered copy.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.as_bytes();
    (0..k.len()).any(|at| {
        let mut starting = SECRET_STARTS[k[at].to_ascii_lowercase() as usize];
        while starting != 0 {
            let s = SECRET_KEYS[starting.trailing_zeros() as usize].as_bytes();
            if k[at..].len() >= s.len() && k[at..at + s.len()].eq_ignore_ascii_case(s) {
                return true;
            }
            starting &= starting - 1;
        }
        false
    })
}

/// Replace secret values with `******`, recursively.
pub fn mask(d: &Map<String, Value>) -> Value {
    let mut out = Map::with_capacity(d.len());
    for (k, v) in d {
        let v = if is_secret_key(k) && !v.is_null() {
            Value::String("******".into())
        } else if let Value::Object(inner) = v {
            mask(inner)
        } else {
            v.clone()
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// `?fields=a,b`: allowed at >= 1.8; unknown fields are a 400.
pub fn parse_fields(raw: Option<&String>, version: Version, known: &[&str]) -> ApiResult<Option<Vec<String>>> {
    let Some(raw) = raw else { return Ok(None) };
    if !version.at_least(f::FIELDS) {
        return Err(ApiError::too_old(f::FIELDS));
    }
    let fields: Vec<String> = raw.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let invalid: Vec<&str> = fields.iter().map(String::as_str).filter(|f| !known.contains(f)).collect();
    if !invalid.is_empty() {
        return Err(ApiError::bad_request(format!("Field(s) \"{}\" are not valid", invalid.join(", "))));
    }
    Ok(Some(fields))
}

/// Keep only `fields` (plus `links`).
pub fn select(mut obj: Map<String, Value>, fields: &Option<Vec<String>>) -> Value {
    if let Some(fields) = fields {
        obj.retain(|k, _| k == "links" || fields.iter().any(|f| f == k));
    }
    Value::Object(obj)
}

/// Parse a boolean query parameter the way Ironic's `strutils.bool_from_string(strict)` does.
pub fn parse_bool(name: &str, v: &str) -> ApiResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid {name}: Unrecognized value '{v}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        ))),
    }
}

/// Ironic's `args.validate` for handlers without `**kwargs`: any other query parameter is a
/// 400 naming them.
pub fn only_params(q: &HashMap<String, String>, allowed: &[&str]) -> ApiResult<()> {
    let mut extra: Vec<&str> = q.keys().map(String::as_str).filter(|k| !allowed.contains(k)).collect();
    if extra.is_empty() {
        return Ok(());
    }
    extra.sort_unstable();
    Err(ApiError::bad_request(format!("Unexpected arguments: {}", extra.join(", "))))
}

/// `limit`, `marker`, `sort_key`, `sort_dir`.
pub fn list_query(
    q: &HashMap<String, String>,
    max_limit: usize,
    sortable: &[&str],
) -> ApiResult<ListQuery> {
    let limit = match q.get("limit") {
        None => max_limit,
        Some(l) => {
            let n: i64 = l.parse().map_err(|_| ApiError::bad_request(format!("Expected an integer for limit: {l}")))?;
            if n <= 0 {
                return Err(ApiError::bad_request("Limit must be positive"));
            }
            (n as usize).min(max_limit)
        }
    };
    let sort_dir = match q.get("sort_dir").map(String::as_str) {
        None | Some("asc") => SortDir::Asc,
        Some("desc") => SortDir::Desc,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid sort direction: {other}. Acceptable values are 'asc' or 'desc'"
            )))
        }
    };
    let sort_key = q.get("sort_key").cloned().unwrap_or_else(|| "id".into());
    if sort_key != "id" && !sortable.contains(&sort_key.as_str()) {
        return Err(ApiError::bad_request(format!(
            "The sort_key value \"{sort_key}\" is an invalid field for sorting"
        )));
    }
    let marker = q.get("marker").cloned();
    if let Some(m) = &marker {
        if !ferric_core::validate::is_uuid_like(m) {
            return Err(ApiError::bad_request(format!("Expected a UUID but received {m}.")));
        }
    }
    Ok(ListQuery { limit: Some(limit), marker, sort_key: Some(sort_key), sort_dir })
}

/// Build `{"<name>": [...], "next": ...}`; `next` only when the page is full.
pub fn collection(
    name: &str,
    items: Vec<Value>,
    last_uuid: Option<String>,
    limit: usize,
    base: &str,
    path: &str,
    q: &HashMap<String, String>,
) -> Value {
    let mut out = Map::new();
    let next = next_link(items.len(), last_uuid, limit, base, path, q);
    out.insert(name.to_string(), Value::Array(items));
    if let Some(next) = next {
        out.insert("next".into(), Value::String(next));
    }
    Value::Object(out)
}

/// A collection's `next` link: only when the page of `count` items is full.
pub fn next_link(
    count: usize,
    last_uuid: Option<String>,
    limit: usize,
    base: &str,
    path: &str,
    q: &HashMap<String, String>,
) -> Option<String> {
    let full = count >= limit && limit > 0;
    let marker = last_uuid.filter(|_| full)?;
    let mut params: Vec<(String, String)> =
        q.iter().filter(|(k, _)| *k != "marker" && *k != "limit").map(|(k, v)| (k.clone(), v.clone())).collect();
    params.sort();
    params.push(("limit".into(), limit.to_string()));
    params.push(("marker".into(), marker));
    let qs: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
    Some(format!("{base}/v1/{path}?{}", qs.join("&")))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn ts(t: &Option<ferric_core::Timestamp>) -> Value {
    t.map(|t| Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())).unwrap_or(Value::Null)
}

pub fn ts1(t: &ferric_core::Timestamp) -> Value {
    ts(&Some(*t))
}

pub fn opt_str(s: &Option<String>) -> Value {
    s.clone().map(Value::String).unwrap_or(Value::Null)
}

// ------------------------------------------------------------- values written without a `Value`

/// A field's value as it goes on the wire, borrowed from the record. A `Serialize` view writes
/// it straight to the output, with the same bytes as the `Value` that `ts`, `opt_str`, `mask`
/// and the plain clones would have built.
#[derive(Clone, Copy)]
pub enum Wire<'a> {
    Str(&'a str),
    OptStr(Option<&'a str>),
    Bool(bool),
    OptBool(Option<bool>),
    Time(Option<&'a Timestamp>),
    Dict(&'a Map<String, Value>),
    /// A dict whose secrets are masked, at any depth (as `mask`).
    Secrets(&'a Map<String, Value>),
    /// `driver_internal_info`: its `agent_secret_token` masked, whatever its value.
    Internal(&'a Map<String, Value>),
    List(&'a [String]),
}

impl<'a> Wire<'a> {
    pub fn opt(s: &'a Option<String>) -> Self {
        Wire::OptStr(s.as_deref())
    }

    /// The same value with nothing masked.
    pub fn unmasked(self) -> Self {
        match self {
            Wire::Secrets(d) | Wire::Internal(d) => Wire::Dict(d),
            w => w,
        }
    }
}

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Wire::Str(v) => s.serialize_str(v),
            Wire::OptStr(v) => v.serialize(s),
            Wire::Bool(b) => s.serialize_bool(b),
            Wire::OptBool(b) => b.serialize(s),
            Wire::Time(None) => s.serialize_unit(),
            Wire::Time(Some(t)) => s.serialize_str(TsText::new(t).as_str()),
            Wire::Dict(d) => d.serialize(s),
            Wire::Secrets(d) => Masked(d).serialize(s),
            Wire::Internal(d) => {
                let mut m = s.serialize_map(Some(d.len()))?;
                for (k, v) in d {
                    if k == "agent_secret_token" {
                        m.serialize_entry(k, MASK)?;
                    } else {
                        m.serialize_entry(k, v)?;
                    }
                }
                m.end()
            }
            Wire::List(l) => l.serialize(s),
        }
    }
}

const MASK: &str = "******";

/// `mask(d)` written directly.
struct Masked<'a>(&'a Map<String, Value>);

impl Serialize for Masked<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            if is_secret_key(k) && !v.is_null() {
                m.serialize_entry(k, MASK)?;
            } else if let Value::Object(inner) = v {
                m.serialize_entry(k, &Masked(inner))?;
            } else {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// `links(base, path)` written directly, `path` given in parts (no `format!` per record).
pub struct Links<'a> {
    pub base: &'a str,
    pub path: [&'a str; 3],
}

impl Serialize for Links<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Link<'a>(&'a Links<'a>, &'static str, &'static str);
        impl Serialize for Link<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let Link(l, prefix, rel) = *self;
                let [a, b, c] = l.path;
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("href", &format_args!("{}{prefix}{a}{b}{c}", l.base))?;
                m.serialize_entry("rel", rel)?;
                m.end()
            }
        }
        [Link(self, "/v1/", "self"), Link(self, "/", "bookmark")].serialize(s)
    }
}

/// A timestamp as `ts` writes it (`%Y-%m-%dT%H:%M:%S%.6f+00:00`), its digits written by hand:
/// chrono's `format` interprets the pattern on every call. Years outside 0-9999 and leap
/// seconds, which the fixed width cannot hold, go through chrono.
pub enum TsText {
    Fixed([u8; 32]),
    Other(String),
}

impl TsText {
    const LEN: usize = "2026-12-07T20:00:00.123456+00:00".len();

    pub fn new(t: &Timestamp) -> Self {
        let (year, nanos) = (t.year(), t.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return TsText::Other(t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string());
        }
        let mut b = *b"0000-00-00T00:00:00.000000+00:00";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, nanos / 1000);
        TsText::Fixed(b)
    }

    pub fn as_str(&self) -> &str {
        match self {
            TsText::Fixed(b) => std::str::from_utf8(&b[..Self::LEN]).expect("ASCII digits"),
            TsText::Other(s) => s,
        }
    }
}

/// Apply an RFC 6902 patch to `doc`, Ironic-style: adding a new root attribute is refused, and
/// failures name the failing operation.
pub fn apply_patch(doc: &mut Value, patch: &Value) -> ApiResult<()> {
    let ops = patch.as_array().ok_or_else(|| ApiError::bad_request("Invalid patch: a JSON list of operations is expected."))?;
    if ops.is_empty() {
        return Err(ApiError::bad_request("Invalid patch: the list of operations is empty."));
    }
    for op in ops {
        let o = op.as_object().ok_or_else(|| ApiError::bad_request(format!("Invalid patch operation {op}")))?;
        let kind = o.get("op").and_then(Value::as_str).unwrap_or("");
        let path = o.get("path").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request(format!("Invalid patch operation {op}: 'path' is required")))?;
        if !matches!(kind, "add" | "replace" | "remove" | "move" | "copy" | "test") {
            return Err(ApiError::bad_request(format!("Invalid patch operation {op}: unknown op '{kind}'")));
        }
        if matches!(kind, "add" | "replace" | "test") && !o.contains_key("value") {
            return Err(ApiError::bad_request(format!("Invalid patch operation {op}: 'value' is required")));
        }
        if !path.starts_with('/') {
            return Err(ApiError::bad_request(format!("Invalid patch path {path}: it must start with '/'")));
        }
        if kind == "add" && path.matches('/').count() == 1 && doc.get(&path[1..]).is_none() {
            return Err(ApiError::bad_request(format!(
                "Adding a new attribute ({path}) to the root of the resource is not allowed"
            )));
        }
    }
    for op in ops {
        let p: json_patch::Patch = serde_json::from_value(Value::Array(vec![op.clone()]))
            .map_err(|e| ApiError::bad_request(format!("Invalid patch operation {op}: {e}")))?;
        json_patch::patch(doc, &p).map_err(|e| ApiError::bad_request(format!("Couldn't apply patch '{op}'. Reason: {e}")))?;
    }
    Ok(())
}

/// Ironic's `args.patch` JSON schema: a list of `{op, path[, value]}` objects, `op` one of
/// add/replace/remove, `path` made of `/word` segments. The error reported is jsonschema's
/// choice: the shallowest one, else the first.
pub fn check_patch_schema(patch: &Value) -> ApiResult<()> {
    let fail = |m: String| Err(ApiError::bad_request(format!("Schema error for patch: {m}")));
    let py = ferric_core::validate::py_repr;
    let Some(ops) = patch.as_array() else { return fail(format!("{} is not of type 'array'", py(patch))) };
    let mut deep: Option<String> = None;
    for op in ops {
        let Some(o) = op.as_object() else { return fail(format!("{} is not of type 'object'", py(op))) };
        if deep.is_none() {
            if let Some(p) = o.get("path") {
                match p.as_str() {
                    None => deep = Some(format!("{} is not of type 'string'", py(p))),
                    Some(path) if !patch_path_ok(path) => deep = Some(format!("{} does not match '^(/[\\\\w-]+)+$'", py(p))),
                    Some(_) => {}
                }
            }
        }
        if deep.is_none() {
            if let Some(k) = o.get("op") {
                match k.as_str() {
                    None => deep = Some(format!("{} is not of type 'string'", py(k))),
                    Some("add" | "replace" | "remove") => {}
                    Some(_) => deep = Some(format!("{} is not one of ['add', 'replace', 'remove']", py(k))),
                }
            }
        }
        let extra: Vec<String> = o.keys().filter(|k| !["op", "path", "value"].contains(&k.as_str())).map(|k| format!("'{k}'")).collect();
        if !extra.is_empty() {
            let verb = if extra.len() == 1 { "was" } else { "were" };
            return fail(format!("Additional properties are not allowed ({} {verb} unexpected)", extra.join(", ")));
        }
        for key in ["op", "path"] {
            if !o.contains_key(key) {
                return fail(format!("'{key}' is a required property"));
            }
        }
    }
    match deep {
        Some(m) => fail(m),
        None => Ok(()),
    }
}

/// `^(/[\w-]+)+$` with Python's Unicode `\w`.
fn patch_path_ok(path: &str) -> bool {
    !path.is_empty()
        && path.starts_with('/')
        && path[1..].split('/').all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-'))
}

/// The first path segment of every operation of a patch.
pub fn patched_roots(patch: &Value) -> Vec<String> {
    patch
        .as_array()
        .map(|ops| {
            ops.iter()
                .filter_map(|o| o.get("path").and_then(Value::as_str))
                .filter_map(|p| p.trim_start_matches('/').split('/').next().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_is_recursive_and_keeps_other_values() {
        let d = json!({"ipmi_password": "s3cret", "ipmi_username": "admin", "nested": {"redfish_password": "x", "n": 1}, "agent_token": null});
        let m = mask(d.as_object().unwrap());
        assert_eq!(m, json!({"ipmi_password": "******", "ipmi_username": "admin", "nested": {"redfish_password": "******", "n": 1}, "agent_token": null}));
        let d = json!({"ipmi_hex_kg_key": "6b6579", "ipmi_port": 623});
        assert_eq!(mask(d.as_object().unwrap()), json!({"ipmi_hex_kg_key": "******", "ipmi_port": 623}));
    }

    #[test]
    fn secret_keys_are_found_anywhere_in_any_case() {
        // The definition: a lowered key contains one of SECRET_KEYS.
        let by_definition = |k: &str| {
            let k = k.to_ascii_lowercase();
            SECRET_KEYS.iter().any(|s| k.contains(s))
        };
        let mut keys = vec![String::new(), "p".into(), "pas".into(), "ipmi_port".into(), "Ünïcode_pässword".into()];
        for s in SECRET_KEYS {
            let upper = s.to_ascii_uppercase();
            let cut = &s[..s.len() - 1];
            for k in [s.to_string(), upper.clone(), format!("x_{upper}_y"), format!("{s}{s}"), format!("é{s}"), cut.to_string(), format!("{cut}_{cut}")] {
                keys.push(k);
            }
        }
        for k in &keys {
            assert_eq!(is_secret_key(k), by_definition(k), "{k:?}");
        }
        assert!(is_secret_key("Redfish_PASSWORD") && is_secret_key("ipmi_hex_kg_key") && !is_secret_key("redfish_username"));
    }

    #[test]
    fn patches_refuse_new_root_attributes() {
        let mut doc = json!({"name": "a", "extra": {}});
        assert!(apply_patch(&mut doc, &json!([{"op": "add", "path": "/bogus", "value": 1}])).is_err());
        apply_patch(&mut doc, &json!([{"op": "add", "path": "/extra/k", "value": 1}, {"op": "replace", "path": "/name", "value": "b"}])).unwrap();
        assert_eq!(doc, json!({"name": "b", "extra": {"k": 1}}));
        assert!(apply_patch(&mut doc, &json!([{"op": "remove", "path": "/extra/missing"}])).is_err());
        assert!(apply_patch(&mut doc, &json!({"op": "remove"})).is_err());
        assert!(apply_patch(&mut doc, &json!([{"op": "frob", "path": "/name"}])).is_err());
        assert_eq!(patched_roots(&json!([{"op": "add", "path": "/extra/k", "value": 1}])), vec!["extra"]);
    }

    #[test]
    fn pagination_parameters() {
        let q: HashMap<String, String> = [("limit".to_string(), "0".to_string())].into();
        assert!(list_query(&q, 1000, &[]).is_err());
        let q: HashMap<String, String> = [("limit".to_string(), "5000".to_string())].into();
        assert_eq!(list_query(&q, 1000, &[]).unwrap().limit, Some(1000));
        let q: HashMap<String, String> = [("sort_key".to_string(), "driver_info".to_string())].into();
        assert!(list_query(&q, 1000, &["name"]).is_err());
        let q: HashMap<String, String> = [("sort_dir".to_string(), "up".to_string())].into();
        assert!(list_query(&q, 1000, &[]).is_err());
    }

    #[test]
    fn next_link_only_for_full_pages() {
        let q: HashMap<String, String> = [("detail".to_string(), "True".to_string())].into();
        let c = collection("nodes", vec![json!(1), json!(2)], Some("u2".into()), 2, "http://h", "nodes", &q);
        assert_eq!(c["next"], "http://h/v1/nodes?detail=True&limit=2&marker=u2");
        let c = collection("nodes", vec![json!(1)], Some("u1".into()), 2, "http://h", "nodes", &q);
        assert!(c.get("next").is_none());
    }
}

//! `KEY=VALUE` arguments and RFC 6902 JSON Patch building.

use serde_json::{json, Map, Value};

/// Help text shared by every `KEY=VALUE` option.
pub const KV_HELP: &str = "KEY=VALUE; repeatable. Values that parse as JSON numbers, true/false, \
arrays or objects are sent as JSON, anything else as a string; wrap a value in double quotes \
(e.g. ipmi_password='\"1234\"') to force a string";

/// Parse one `KEY=VALUE` argument (clap `value_parser`).
///
/// The split is on the first `=`, so values may contain `=`. The key must be
/// non-empty; the value may be empty (sent as `""`).
pub fn parse_kv(arg: &str) -> Result<(String, Value), String> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got '{arg}'"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("empty key in '{arg}'"));
    }
    Ok((key.to_string(), parse_value(value)))
}

/// Turn the VALUE of a `KEY=VALUE` argument into JSON.
///
/// Numbers, `true`/`false`, JSON string literals (`"..."`), arrays and objects
/// are decoded as JSON; everything else (including `null`, which would be
/// ambiguous, and strings like `08` or `abc`) is kept as a string.
pub fn parse_value(raw: &str) -> Value {
    match serde_json::from_str::<Value>(raw) {
        Ok(
            v @ (Value::Number(_)
            | Value::Bool(_)
            | Value::String(_)
            | Value::Array(_)
            | Value::Object(_)),
        ) => v,
        _ => Value::String(raw.to_string()),
    }
}

/// Collect `KEY=VALUE` pairs into a JSON object (later keys win).
pub fn to_object(pairs: &[(String, Value)]) -> Map<String, Value> {
    pairs.iter().cloned().collect()
}

/// Escape one reference token of a JSON Pointer (RFC 6901): `~` → `~0`, `/` → `~1`.
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Builder for an RFC 6902 JSON Patch document.
#[derive(Debug, Default, Clone)]
pub struct Patch {
    ops: Vec<Value>,
}

impl Patch {
    pub fn new() -> Self {
        Self::default()
    }

    /// `add` on a top-level attribute, e.g. `/name`.
    pub fn add_attr(&mut self, attr: &str, value: Value) -> &mut Self {
        self.ops.push(json!({"op": "add", "path": format!("/{}", escape_pointer_token(attr)), "value": value}));
        self
    }

    /// `remove` of a top-level attribute.
    pub fn remove_attr(&mut self, attr: &str) -> &mut Self {
        self.ops
            .push(json!({"op": "remove", "path": format!("/{}", escape_pointer_token(attr))}));
        self
    }

    /// `add` of `KEY=VALUE` pairs inside a dict attribute: `/<attr>/<key>`.
    pub fn add_keys(&mut self, attr: &str, pairs: &[(String, Value)]) -> &mut Self {
        for (k, v) in pairs {
            self.ops.push(json!({
                "op": "add",
                "path": format!("/{}/{}", escape_pointer_token(attr), escape_pointer_token(k)),
                "value": v,
            }));
        }
        self
    }

    /// `remove` of keys inside a dict attribute.
    pub fn remove_keys(&mut self, attr: &str, keys: &[String]) -> &mut Self {
        for k in keys {
            self.ops.push(json!({
                "op": "remove",
                "path": format!("/{}/{}", escape_pointer_token(attr), escape_pointer_token(k)),
            }));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn into_value(self) -> Value {
        Value::Array(self.ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_scalars_become_json_others_strings() {
        assert_eq!(parse_kv("cpus=4").unwrap(), ("cpus".into(), json!(4)));
        assert_eq!(parse_kv("ratio=0.5").unwrap(), ("ratio".into(), json!(0.5)));
        assert_eq!(parse_kv("flag=true").unwrap(), ("flag".into(), json!(true)));
        assert_eq!(
            parse_kv("flag=false").unwrap(),
            ("flag".into(), json!(false))
        );
        assert_eq!(
            parse_kv("addr=10.0.0.1").unwrap(),
            ("addr".into(), json!("10.0.0.1"))
        );
        assert_eq!(
            parse_kv("name=node-0").unwrap(),
            ("name".into(), json!("node-0"))
        );
        // leading zero is not a JSON number: stays a string
        assert_eq!(parse_kv("pin=0123").unwrap(), ("pin".into(), json!("0123")));
        // null is deliberately kept as a string
        assert_eq!(parse_kv("x=null").unwrap(), ("x".into(), json!("null")));
        // quoting forces a string
        assert_eq!(
            parse_kv(r#"ipmi_password="1234""#).unwrap(),
            ("ipmi_password".into(), json!("1234"))
        );
        // structured values
        assert_eq!(
            parse_kv(r#"caps={"boot_mode":"uefi"}"#).unwrap().1,
            json!({"boot_mode": "uefi"})
        );
        assert_eq!(parse_kv("list=[1,2]").unwrap().1, json!([1, 2]));
        assert_eq!(parse_kv("broken={x").unwrap().1, json!("{x"));
    }

    #[test]
    fn kv_split_on_first_equals_and_errors() {
        assert_eq!(
            parse_kv("url=http://h/?a=b").unwrap(),
            ("url".into(), json!("http://h/?a=b"))
        );
        assert_eq!(parse_kv("empty=").unwrap(), ("empty".into(), json!("")));
        assert!(parse_kv("novalue").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_kv("=v").unwrap_err().contains("empty key"));
    }

    #[test]
    fn to_object_later_keys_win() {
        let pairs = vec![
            ("a".to_string(), json!(1)),
            ("b".to_string(), json!("x")),
            ("a".to_string(), json!(2)),
        ];
        assert_eq!(Value::Object(to_object(&pairs)), json!({"a": 2, "b": "x"}));
    }

    #[test]
    fn patch_add_and_remove_paths() {
        let mut p = Patch::new();
        p.add_attr("name", json!("node-1"))
            .add_keys(
                "driver_info",
                &[
                    ("ipmi_address".into(), json!("10.0.0.5")),
                    ("ipmi_port".into(), json!(623)),
                ],
            )
            .remove_keys("extra", &["a/b".into(), "t~x".into()])
            .remove_attr("description");
        assert_eq!(p.len(), 6);
        assert_eq!(
            p.into_value(),
            json!([
                {"op": "add", "path": "/name", "value": "node-1"},
                {"op": "add", "path": "/driver_info/ipmi_address", "value": "10.0.0.5"},
                {"op": "add", "path": "/driver_info/ipmi_port", "value": 623},
                {"op": "remove", "path": "/extra/a~1b"},
                {"op": "remove", "path": "/extra/t~0x"},
                {"op": "remove", "path": "/description"},
            ])
        );
        assert!(Patch::new().is_empty());
    }
}

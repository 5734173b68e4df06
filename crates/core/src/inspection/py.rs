//! Small Python-semantics helpers: Ironic's hooks are Python, and what they accept, reject and
//! print depends on Python's truthiness, `int()`, `repr()` and the exceptions `dict[...]`
//! raises. These reproduce that on `serde_json::Value`.

use serde_json::Value;

/// A hook failure, as Ironic's `run_inspection_hooks` tells them apart: a
/// `HardwareInspectionFailure` (its `error`), or any other exception (class name and text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HookError {
    Failure(String),
    Unexpected(&'static str, String),
}

pub(crate) type HResult<T> = Result<T, HookError>;

pub(crate) fn unexpected<T>(class: &'static str, msg: impl Into<String>) -> HResult<T> {
    Err(HookError::Unexpected(class, msg.into()))
}

/// `InvalidNodeInventory(node=..., reason=...)`.
pub(crate) fn invalid_inventory(node: &str, reason: impl std::fmt::Display) -> HookError {
    HookError::Unexpected("InvalidNodeInventory", format!("Inventory for node {node} is invalid: {reason}"))
}

/// Python's type name of a JSON value.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python truthiness.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `v.get(key)` on something that must be a dict (`AttributeError` otherwise).
pub(crate) fn get<'a>(v: &'a Value, key: &str) -> HResult<Option<&'a Value>> {
    match v {
        Value::Object(o) => Ok(o.get(key)),
        other => unexpected("AttributeError", format!("'{}' object has no attribute 'get'", type_name(other))),
    }
}

/// `v[key]` (`KeyError` / `TypeError` as Python raises them).
pub(crate) fn index<'a>(v: &'a Value, key: &str) -> HResult<&'a Value> {
    match v {
        Value::Object(o) => o.get(key).map_or_else(|| unexpected("KeyError", format!("'{key}'")), Ok),
        Value::Array(_) => unexpected("TypeError", "list indices must be integers or slices, not str"),
        Value::String(_) => unexpected("TypeError", "string indices must be integers, not 'str'"),
        other => unexpected("TypeError", format!("'{}' object is not subscriptable", type_name(other))),
    }
}

fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn float_repr(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python's `repr()` of the value (dicts in the document's key order).
pub(crate) fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => float_repr(f),
            _ => n.to_string(),
        },
        Value::String(s) => repr_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            format!("{{{}}}", o.iter().map(|(k, v)| format!("{}: {}", repr_str(k), repr(v))).collect::<Vec<_>>().join(", "))
        }
    }
}

/// Python's `str()`: strings as they are, everything else as `repr()`.
pub(crate) fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// Python's `int(s)` for a string: surrounding whitespace, a sign, digits with single
/// underscores between them. `None` when Python raises `ValueError`.
pub(crate) fn int_from_str(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Longer than i128 holds: Python has big ints; we refuse (no report needs 39 digits).
    let n: i128 = clean.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// Python's `int(v)` for a JSON value, as an `i64` (`ValueError`, `TypeError`, and
/// `OverflowError` for values past `i64`, which Python would keep as big ints).
pub(crate) fn int_of(v: &Value) -> HResult<i64> {
    let big = |n: i128| i64::try_from(n).map_or_else(|_| unexpected("OverflowError", format!("{n} does not fit in 64 bits")), Ok);
    match v {
        Value::Bool(b) => Ok(*b as i64),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if let Some(u) = n.as_u64() {
                big(u as i128)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_nan() {
                    unexpected("ValueError", "cannot convert float NaN to integer")
                } else if f.is_infinite() {
                    unexpected("OverflowError", "cannot convert float infinity to integer")
                } else if f.trunc().abs() >= 9.2e18 {
                    unexpected("OverflowError", format!("{} does not fit in 64 bits", float_repr(f)))
                } else {
                    Ok(f.trunc() as i64)
                }
            }
        }
        Value::String(s) => match int_from_str(s) {
            Some(n) => big(n),
            None => unexpected("ValueError", format!("invalid literal for int() with base 10: {}", repr_str(s))),
        },
        other => unexpected(
            "TypeError",
            format!("int() argument must be a string, a bytes-like object or a real number, not '{}'", type_name(other)),
        ),
    }
}

/// Python's `float(s)` for a string (`None` on `ValueError`).
pub(crate) fn float_from_str(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let bytes = t.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'_' && !(bytes[i - 1].is_ascii_digit() && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            return None;
        }
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if !matches!(body, "inf" | "infinity" | "nan") && !body.bytes().all(|b| b.is_ascii_digit() || b"eE.+-".contains(&b)) {
        return None;
    }
    clean.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_semantics() {
        assert_eq!(repr(&json!({"a": [1, 2.5, null, true, "it's"]})), "{'a': [1, 2.5, None, True, \"it's\"]}");
        assert_eq!(repr(&json!(1.0)), "1.0");
        assert_eq!(int_of(&json!(" 16 ")).unwrap(), 16);
        assert_eq!(int_of(&json!("1_000")).unwrap(), 1000);
        assert_eq!(int_of(&json!(16.9)).unwrap(), 16);
        assert_eq!(int_of(&json!(true)).unwrap(), 1);
        assert_eq!(
            int_of(&json!("16.0")).unwrap_err(),
            HookError::Unexpected("ValueError", "invalid literal for int() with base 10: '16.0'".into())
        );
        assert!(matches!(int_of(&json!(null)), Err(HookError::Unexpected("TypeError", _))));
        assert!(matches!(int_of(&json!(u64::MAX)), Err(HookError::Unexpected("OverflowError", _))));
        assert!(matches!(int_of(&json!(1e300)), Err(HookError::Unexpected("OverflowError", _))));
        assert_eq!(int_from_str("99999999999999999999999999999999999999999999"), None);
        assert_eq!(float_from_str("1_0.5"), Some(10.5));
        assert_eq!(float_from_str("inf"), Some(f64::INFINITY));
        assert_eq!(float_from_str("abc"), None);
        assert_eq!(float_from_str("1__0"), None);
        assert!(!truthy(&json!({})) && !truthy(&json!(0)) && !truthy(&json!("")) && truthy(&json!([0])));
        assert_eq!(index(&json!({}), "memory").unwrap_err(), HookError::Unexpected("KeyError", "'memory'".into()));
        assert!(matches!(get(&json!(null), "x"), Err(HookError::Unexpected("AttributeError", _))));
    }
}

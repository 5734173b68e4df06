//! The bits of Python's data model the rules engine needs, over JSON values: `str()`, `repr()`,
//! `==`, `<`, truthiness and type names, and `str.format` with keyword arguments (Ironic's
//! `interpolate_variables`). Rules written for Ironic compare and print values the way Python
//! does, so ferric must too.
//!
//! Dicts are `serde_json` maps, which keep their keys sorted: `repr` of a dict lists its keys
//! in sorted order where Python keeps insertion order.

use serde_json::{Map, Value};

/// Keys whose values the rules never see when masking is on (Ironic's `SENSITIVE_FIELDS`).
pub const SENSITIVE_FIELDS: &[&str] = &["password", "auth_token", "bmc_password"];
/// What a masked value reads as.
pub const MASK: &str = "***";

/// Python's type name of a value.
pub fn type_name(v: &Value) -> &'static str {
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

/// `repr(float)`: the shortest round-trip digits, in exponent form outside `1e-4 <= |x| < 1e16`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let sci = format!("{f:e}"); // e.g. "1.5e-5", "1e20"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..16).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn number_str(n: &serde_json::Number) -> String {
    if n.is_f64() {
        float_repr(n.as_f64().unwrap_or(0.0))
    } else {
        n.to_string()
    }
}

/// `repr(str)`: single quotes unless the text has a single quote and no double quote.
pub fn str_repr(s: &str) -> String {
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

/// `repr(value)`; with `mask`, sensitive keys of dicts read as `'***'` (Ironic's `ShallowMaskDict`).
pub fn repr(v: &Value, mask: bool) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => number_str(n),
        Value::String(s) => str_repr(s),
        Value::Array(a) => format!("[{}]", a.iter().map(|x| repr(x, mask)).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, x)| {
                    if mask && SENSITIVE_FIELDS.contains(&k.as_str()) {
                        format!("{}: '{MASK}'", str_repr(k))
                    } else {
                        format!("{}: {}", str_repr(k), repr(x, mask))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `str(value)`.
pub fn to_str(v: &Value, mask: bool) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other, mask),
    }
}

/// Python truthiness.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A number as Python sees it (bools are ints).
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Exact integer value, when the value is an int or bool.
fn int(v: &Value) -> Option<i128> {
    match v {
        Value::Bool(b) => Some(*b as i128),
        Value::Number(n) if !n.is_f64() => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

/// `a == b`.
pub fn eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (int(a), int(b)) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return x == y;
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| eq(p, q)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| eq(v, w))),
        _ => false,
    }
}

/// `a < b`, or Python's TypeError text.
pub fn lt(a: &Value, b: &Value, symbol: &str) -> Result<bool, String> {
    if let (Some(x), Some(y)) = (int(a), int(b)) {
        return Ok(x < y);
    }
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return Ok(x < y);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x < y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                if !eq(p, q) {
                    return lt(p, q, "<");
                }
            }
            Ok(x.len() < y.len())
        }
        _ => Err(format!("'{symbol}' not supported between instances of '{}' and '{}'", type_name(a), type_name(b))),
    }
}

// ------------------------------------------------------------------------------ str.format

/// Why a format failed; only the kind matters to Ironic (a `KeyError` under `is-empty` means
/// "empty", anything else leaves the text as it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FmtError {
    /// A missing key or name (Python's `KeyError`), with the key.
    Key(String),
    Other,
}

/// What `{node...}`, `{inventory...}`, `{plugin_data...}` and `{item...}` refer to.
pub struct FmtContext<'a> {
    /// The node's attributes (Ironic's `Node` object: `driver`, `properties`, `*_interface`...).
    pub node: &'a Value,
    pub inventory: &'a Value,
    pub plugin_data: &'a Value,
    /// The loop item, inside a loop.
    pub item: Option<&'a Value>,
    /// Mask sensitive keys of the inventory and plugin data.
    pub mask: bool,
    /// Further names (ironic-inspector's `data`).
    pub extra: &'a [(&'a str, &'a Value)],
}

enum Obj {
    /// The node object: attributes, not items.
    Node,
    Val { v: Value, masked: bool },
}

impl FmtContext<'_> {
    fn top(&self, name: &str) -> Result<Obj, FmtError> {
        match name {
            "node" => Ok(Obj::Node),
            "inventory" => Ok(Obj::Val { v: self.inventory.clone(), masked: self.mask }),
            "plugin_data" => Ok(Obj::Val { v: self.plugin_data.clone(), masked: self.mask }),
            "item" => self.item.map(|i| Obj::Val { v: i.clone(), masked: false }).ok_or_else(|| FmtError::Key(name.into())),
            _ => match self.extra.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => Ok(Obj::Val { v: (*v).clone(), masked: false }),
                None => Err(FmtError::Key(name.into())),
            },
        }
    }

    /// `str.format(**context)`.
    pub fn format(&self, s: &str) -> Result<String, FmtError> {
        let chars: Vec<char> = s.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '{' {
                if chars.get(i + 1) == Some(&'{') {
                    out.push('{');
                    i += 2;
                    continue;
                }
                // Find the matching '}' (a format spec may nest one level of braces).
                let mut depth = 1;
                let mut j = i + 1;
                let mut in_bracket = false;
                while j < chars.len() {
                    match chars[j] {
                        '[' if depth == 1 => in_bracket = true,
                        ']' if depth == 1 => in_bracket = false,
                        '{' if !in_bracket => depth += 1,
                        '}' if !in_bracket => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(FmtError::Other); // expected '}' before end of string
                }
                let field: String = chars[i + 1..j].iter().collect();
                out.push_str(&self.field(&field)?);
                i = j + 1;
            } else if c == '}' {
                if chars.get(i + 1) == Some(&'}') {
                    out.push('}');
                    i += 2;
                    continue;
                }
                return Err(FmtError::Other); // Single '}' encountered in format string
            } else {
                out.push(c);
                i += 1;
            }
        }
        Ok(out)
    }

    /// One replacement field: `name(.attr|[key])*(!conv)?(:spec)?`.
    fn field(&self, field: &str) -> Result<String, FmtError> {
        // Split off conversion and spec, ignoring ':' and '!' inside brackets.
        let mut in_bracket = false;
        let mut end = field.len();
        for (idx, c) in field.char_indices() {
            match c {
                '[' => in_bracket = true,
                ']' => in_bracket = false,
                '!' | ':' if !in_bracket => {
                    end = idx;
                    break;
                }
                _ => {}
            }
        }
        let (name, rest) = field.split_at(end);
        let (conversion, spec) = if let Some(r) = rest.strip_prefix('!') {
            let mut it = r.chars();
            let conv = it.next().ok_or(FmtError::Other)?;
            let after: String = it.collect();
            let spec = match after.strip_prefix(':') {
                Some(s) => s.to_string(),
                None if after.is_empty() => String::new(),
                None => return Err(FmtError::Other), // expected ':' after conversion specifier
            };
            (Some(conv), spec)
        } else if let Some(s) = rest.strip_prefix(':') {
            (None, s.to_string())
        } else {
            (None, String::new())
        };
        if spec.contains('{') {
            return Err(FmtError::Other); // nested fields are not supported here
        }
        let obj = self.resolve(name)?;
        let (value, masked) = match obj {
            Obj::Node => (self.node.clone(), false),
            Obj::Val { v, masked } => (v, masked),
        };
        let text = match conversion {
            None | Some('s') => to_str(&value, masked),
            Some('r') | Some('a') => repr(&value, masked),
            Some(_) => return Err(FmtError::Other), // Unknown conversion specifier
        };
        if spec.is_empty() {
            return Ok(text);
        }
        let subject = if conversion.is_some() { Value::String(text) } else { value };
        format_spec(&subject, &spec, masked)
    }

    fn resolve(&self, name: &str) -> Result<Obj, FmtError> {
        let first_end = name.find(['.', '[']).unwrap_or(name.len());
        let first = &name[..first_end];
        if first.is_empty() || first.chars().all(|c| c.is_ascii_digit()) {
            // Positional fields: there are no positional arguments (IndexError).
            return Err(FmtError::Other);
        }
        let mut obj = self.top(first)?;
        let rest: Vec<char> = name[first_end..].chars().collect();
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                '.' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < rest.len() && rest[j] != '.' && rest[j] != '[' {
                        j += 1;
                    }
                    let attr: String = rest[start..j].iter().collect();
                    if attr.is_empty() {
                        return Err(FmtError::Other); // Empty attribute in format string
                    }
                    obj = match obj {
                        Obj::Node => match self.node.get(&attr) {
                            Some(v) => Obj::Val { v: v.clone(), masked: false },
                            None => return Err(FmtError::Other), // AttributeError
                        },
                        Obj::Val { .. } => return Err(FmtError::Other), // AttributeError
                    };
                    i = j;
                }
                '[' => {
                    let start = i + 1;
                    let Some(off) = rest[start..].iter().position(|c| *c == ']') else {
                        return Err(FmtError::Other); // Missing ']' in format string
                    };
                    let key: String = rest[start..start + off].iter().collect();
                    if key.is_empty() {
                        return Err(FmtError::Other); // Empty attribute in format string
                    }
                    i = start + off + 1;
                    if i < rest.len() && rest[i] != '.' && rest[i] != '[' {
                        return Err(FmtError::Other); // Only '.' or '[' may follow ']'
                    }
                    obj = item(obj, &key)?;
                }
                _ => return Err(FmtError::Other),
            }
        }
        Ok(obj)
    }
}

/// `obj[key]`; a key of digits is an integer, as in `str.format`.
fn item(obj: Obj, key: &str) -> Result<Obj, FmtError> {
    let index: Option<usize> = if key.chars().all(|c| c.is_ascii_digit()) { key.parse().ok() } else { None };
    let Obj::Val { v, masked } = obj else {
        return Err(FmtError::Other); // 'Node' object is not subscriptable
    };
    match (v, index) {
        (Value::Object(mut o), None) => {
            if masked && SENSITIVE_FIELDS.contains(&key) && o.contains_key(key) {
                return Ok(Obj::Val { v: Value::String(MASK.into()), masked });
            }
            o.remove(key).map(|v| Obj::Val { v, masked }).ok_or_else(|| FmtError::Key(key.into()))
        }
        (Value::Object(_), Some(n)) => Err(FmtError::Key(n.to_string())),
        (Value::Array(mut a), Some(n)) if n < a.len() => Ok(Obj::Val { v: a.swap_remove(n), masked }),
        (Value::String(s), Some(n)) => {
            s.chars().nth(n).map(|c| Obj::Val { v: Value::String(c.to_string()), masked }).ok_or(FmtError::Other)
        }
        _ => Err(FmtError::Other), // IndexError / TypeError
    }
}

/// A subset of Python's format-spec mini-language: `[[fill]align][sign][0][width][,][.precision][type]`
/// with types `s d f F e E % x X o b` (others are a ValueError).
fn format_spec(v: &Value, spec: &str, masked: bool) -> Result<String, FmtError> {
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let mut fill = ' ';
    let mut align: Option<char> = None;
    if chars.len() >= 2 && "<>^=".contains(chars[1]) {
        fill = chars[0];
        align = Some(chars[1]);
        i = 2;
    } else if !chars.is_empty() && "<>^=".contains(chars[0]) {
        align = Some(chars[0]);
        i = 1;
    }
    let mut sign = '-';
    if i < chars.len() && "+- ".contains(chars[i]) {
        sign = chars[i];
        i += 1;
    }
    if i < chars.len() && chars[i] == '0' {
        if align.is_none() {
            fill = '0';
            align = Some('=');
        }
        i += 1;
    }
    let mut width = 0usize;
    while i < chars.len() && chars[i].is_ascii_digit() {
        width = width * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
        i += 1;
    }
    let mut grouping = false;
    if i < chars.len() && chars[i] == ',' {
        grouping = true;
        i += 1;
    }
    let mut precision: Option<usize> = None;
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        let mut p = 0usize;
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            p = p * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
            i += 1;
        }
        if i == start {
            return Err(FmtError::Other);
        }
        precision = Some(p);
    }
    let ty = match &chars[i..] {
        [] => None,
        [t] => Some(*t),
        _ => return Err(FmtError::Other),
    };
    let is_number = matches!(v, Value::Number(_) | Value::Bool(_));
    let body = match (v, ty) {
        (Value::String(s), None | Some('s')) => match precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        (Value::String(_), _) => return Err(FmtError::Other),
        (_, None) if !is_number => {
            // object.__format__ refuses a non-empty spec.
            return Err(FmtError::Other);
        }
        (_, _) if !is_number => return Err(FmtError::Other),
        (_, t) => {
            let f = num(v).unwrap_or(0.0);
            let int_val = int(v);
            let neg = f < 0.0;
            let digits = match t {
                None | Some('d') if int_val.is_some() && precision.is_none() => {
                    let n = int_val.unwrap_or(0).unsigned_abs().to_string();
                    if grouping {
                        group(&n)
                    } else {
                        n
                    }
                }
                Some('d') => return Err(FmtError::Other),
                Some('x') | Some('X') | Some('o') | Some('b') => {
                    let n = int_val.ok_or(FmtError::Other)?.unsigned_abs();
                    match t {
                        Some('x') => format!("{n:x}"),
                        Some('X') => format!("{n:X}"),
                        Some('o') => format!("{n:o}"),
                        _ => format!("{n:b}"),
                    }
                }
                Some('f') | Some('F') => {
                    let s = format!("{:.*}", precision.unwrap_or(6), f.abs());
                    if grouping {
                        match s.split_once('.') {
                            Some((a, b)) => format!("{}.{b}", group(a)),
                            None => group(&s),
                        }
                    } else {
                        s
                    }
                }
                Some('e') | Some('E') => {
                    let s = format!("{:.*e}", precision.unwrap_or(6), f.abs());
                    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                    let e: i32 = e.parse().unwrap_or(0);
                    let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
                    if t == Some('E') {
                        s.to_uppercase()
                    } else {
                        s
                    }
                }
                Some('%') => format!("{:.*}%", precision.unwrap_or(6), f.abs() * 100.0),
                None => {
                    // A float without a type: like repr, or 'g'-ish with a precision (approximated).
                    let s = match precision {
                        Some(p) => format!("{:.*}", p, f.abs()),
                        None => to_str(&Value::from(f.abs()), masked),
                    };
                    s
                }
                Some(_) => return Err(FmtError::Other),
            };
            let sign_str = if neg {
                "-"
            } else if sign == '+' {
                "+"
            } else if sign == ' ' {
                " "
            } else {
                ""
            };
            let len = sign_str.chars().count() + digits.chars().count();
            if align == Some('=') && width > len {
                return Ok(format!("{sign_str}{}{digits}", fill.to_string().repeat(width - len)));
            }
            format!("{sign_str}{digits}")
        }
    };
    let len = body.chars().count();
    if width <= len {
        return Ok(body);
    }
    let pad = width - len;
    let align = align.unwrap_or(if is_number { '>' } else { '<' });
    let f = |n: usize| fill.to_string().repeat(n);
    Ok(match align {
        '<' => format!("{body}{}", f(pad)),
        '^' => format!("{}{body}{}", f(pad / 2), f(pad - pad / 2)),
        '=' if !is_number => return Err(FmtError::Other),
        _ => format!("{}{body}", f(pad)),
    })
}

fn group(digits: &str) -> String {
    let mut out = String::new();
    for (n, c) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Ironic's `safe_format`: a string is formatted; on failure it stays as it was, except that a
/// missing key under `is-empty` reads as `None`.
pub fn safe_format(v: &Value, ctx: &FmtContext<'_>, is_empty_op: bool) -> Value {
    match v {
        Value::String(s) => match ctx.format(s) {
            Ok(out) => Value::String(out),
            Err(FmtError::Key(_)) if is_empty_op => Value::Null,
            Err(_) => v.clone(),
        },
        other => other.clone(),
    }
}

/// Ironic's `Base.interpolate_variables`: strings anywhere in the value are formatted (dict keys
/// too). Inside a loop a string argument is formatted twice, as Ironic does.
pub fn interpolate(v: &Value, ctx: &FmtContext<'_>, in_loop: bool, is_empty_op: bool) -> Value {
    let v = if in_loop { safe_format(v, ctx, is_empty_op) } else { v.clone() };
    match &v {
        Value::String(_) => safe_format(&v, ctx, is_empty_op),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, x) in o {
                let key = match safe_format(&Value::String(k.clone()), ctx, is_empty_op) {
                    Value::String(s) => s,
                    other => to_str(&other, false),
                };
                out.insert(key, interpolate(x, ctx, in_loop, is_empty_op));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| if x.is_string() { safe_format(x, ctx, is_empty_op) } else { interpolate(x, ctx, in_loop, is_empty_op) })
                .collect(),
        ),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx<'a>(node: &'a Value, inv: &'a Value, pd: &'a Value, item: Option<&'a Value>) -> FmtContext<'a> {
        FmtContext { node, inventory: inv, plugin_data: pd, item, mask: true, extra: &[] }
    }

    #[test]
    fn str_and_repr_follow_python() {
        assert_eq!(to_str(&json!(8), false), "8");
        assert_eq!(to_str(&json!(8.0), false), "8.0");
        assert_eq!(to_str(&json!(1.5e-5), false), "1.5e-05");
        assert_eq!(to_str(&json!(1e20), false), "1e+20");
        assert_eq!(to_str(&json!(123456789012345.0), false), "123456789012345.0");
        assert_eq!(to_str(&json!(null), false), "None");
        assert_eq!(to_str(&json!(true), false), "True");
        assert_eq!(to_str(&json!("x"), false), "x");
        assert_eq!(to_str(&json!(["a", 1, null, false]), false), "['a', 1, None, False]");
        assert_eq!(to_str(&json!({"b": {"c": [1]}, "a": "it's"}), false), "{'a': \"it's\", 'b': {'c': [1]}}");
        assert_eq!(str_repr("a\nb\\"), "'a\\nb\\\\'");
        assert_eq!(str_repr("'\""), "'\\'\"'");
        assert_eq!(to_str(&json!({"password": "p", "x": {"bmc_password": "q"}}), true), "{'password': '***', 'x': {'bmc_password': '***'}}");
        assert_eq!(to_str(&json!({"password": "p"}), false), "{'password': 'p'}");
    }

    #[test]
    fn equality_and_ordering_follow_python() {
        assert!(eq(&json!(1), &json!(1.0)));
        assert!(eq(&json!(true), &json!(1)));
        assert!(!eq(&json!("1"), &json!(1)));
        assert!(eq(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!eq(&json!(null), &json!(false)));
        assert_eq!(lt(&json!(1), &json!(2.5), "<"), Ok(true));
        assert_eq!(lt(&json!("abc"), &json!("abd"), "<"), Ok(true));
        assert_eq!(lt(&json!([1, 2]), &json!([1, 3]), "<"), Ok(true));
        assert_eq!(lt(&json!([1, 2]), &json!([1, 2, 0]), "<"), Ok(true));
        assert_eq!(lt(&json!(1), &json!("2"), "<"), Err("'<' not supported between instances of 'int' and 'str'".to_string()));
        assert_eq!(lt(&json!({}), &json!({}), ">"), Err("'>' not supported between instances of 'dict' and 'dict'".to_string()));
        assert_eq!(lt(&json!(null), &json!(1), "<"), Err("'<' not supported between instances of 'NoneType' and 'int'".to_string()));
    }

    #[test]
    fn format_resolves_fields_like_str_format() {
        let node = json!({"driver": "ipmi", "properties": {"cpus": 8}, "uuid": "u"});
        let inv = json!({"cpu": {"count": 8, "flags": ["vmx", "sse"]}, "bmc_address": "10.0.0.1", "bmc_password": "pw",
                          "interfaces": [{"name": "eth0"}], "0": "zero"});
        let pd = json!({"x": "y", "password": "secret"});
        let item = json!({"path": "extra/a", "value": 3});
        let c = ctx(&node, &inv, &pd, Some(&item));
        assert_eq!(c.format("{node.driver}").unwrap(), "ipmi");
        assert_eq!(c.format("{node.properties[cpus]}").unwrap(), "8");
        assert_eq!(c.format("{node.properties}").unwrap(), "{'cpus': 8}");
        assert_eq!(c.format("{inventory[cpu][count]}").unwrap(), "8");
        assert_eq!(c.format("cpus={inventory[cpu][count]} on {node.driver}").unwrap(), "cpus=8 on ipmi");
        assert_eq!(c.format("{inventory[cpu][flags][1]}").unwrap(), "sse");
        assert_eq!(c.format("{inventory[interfaces][0][name]}").unwrap(), "eth0");
        assert_eq!(c.format("{inventory[bmc_address][0]}").unwrap(), "1");
        assert_eq!(c.format("{plugin_data[x]}").unwrap(), "y");
        assert_eq!(c.format("{item[path]}").unwrap(), "extra/a");
        assert_eq!(c.format("{item}").unwrap(), "{'path': 'extra/a', 'value': 3}");
        assert_eq!(c.format("{{literal}} {node.uuid}").unwrap(), "{literal} u");
        assert_eq!(c.format("{node.driver!r}").unwrap(), "'ipmi'");
        assert_eq!(c.format("{node.driver:>6}|{inventory[cpu][count]:03d}|{inventory[cpu][count]:.2f}").unwrap(), "  ipmi|008|8.00");
        // Masking: sensitive keys read as ***.
        assert_eq!(c.format("{inventory[bmc_password]}").unwrap(), "***");
        assert_eq!(c.format("{plugin_data[password]}").unwrap(), "***");
        assert_eq!(c.format("{plugin_data}").unwrap(), "{'password': '***', 'x': 'y'}");
        // Errors by kind.
        assert!(matches!(c.format("{inventory[missing]}"), Err(FmtError::Key(_))));
        assert!(matches!(c.format("{unknown}"), Err(FmtError::Key(_))));
        assert!(matches!(c.format("{inventory[0]}"), Err(FmtError::Key(_))), "an integer key on a dict");
        assert_eq!(c.format("{inventory.cpu}"), Err(FmtError::Other), "attribute of a dict");
        assert_eq!(c.format("{node.nothing}"), Err(FmtError::Other));
        assert_eq!(c.format("{node[driver]}"), Err(FmtError::Other));
        assert_eq!(c.format("{inventory[interfaces][5]}"), Err(FmtError::Other));
        assert_eq!(c.format("{inventory[interfaces][x]}"), Err(FmtError::Other));
        assert_eq!(c.format("{}"), Err(FmtError::Other));
        assert_eq!(c.format("{0}"), Err(FmtError::Other));
        assert_eq!(c.format("{node.driver"), Err(FmtError::Other));
        assert_eq!(c.format("a } b"), Err(FmtError::Other));
        assert_eq!(c.format("{node.driver!z}"), Err(FmtError::Other));
        assert_eq!(c.format("{node.properties:>5}"), Err(FmtError::Other), "a dict refuses a format spec");
        let no_item = ctx(&node, &inv, &pd, None);
        assert!(matches!(no_item.format("{item}"), Err(FmtError::Key(_))));
        let unmasked = FmtContext { mask: false, ..ctx(&node, &inv, &pd, None) };
        assert_eq!(unmasked.format("{inventory[bmc_password]}").unwrap(), "pw");
    }

    #[test]
    fn interpolation_keeps_failed_text_and_formats_containers() {
        let node = json!({"driver": "ipmi"});
        let inv = json!({"cpu": {"count": 8}});
        let pd = json!({});
        let c = ctx(&node, &inv, &pd, None);
        // The result of a format is always a string, as in Ironic 39.
        assert_eq!(interpolate(&json!("{inventory[cpu][count]}"), &c, false, false), json!("8"));
        assert_eq!(interpolate(&json!("{inventory[nope]}"), &c, false, false), json!("{inventory[nope]}"));
        assert_eq!(interpolate(&json!("{inventory[nope]}"), &c, false, true), json!(null));
        assert_eq!(interpolate(&json!("{inventory.cpu}"), &c, false, true), json!("{inventory.cpu}"));
        assert_eq!(
            interpolate(&json!(["{node.driver}", 3, {"{node.driver}": "{inventory[cpu][count]}"}]), &c, false, false),
            json!(["ipmi", 3, {"ipmi": "8"}])
        );
        // In a loop a string is formatted twice: an escaped brace is consumed twice.
        let item = json!("v");
        let l = ctx(&node, &inv, &pd, Some(&item));
        assert_eq!(interpolate(&json!("{{item}}"), &l, true, false), json!("v"));
        assert_eq!(interpolate(&json!("{{item}}"), &l, false, false), json!("{item}"));
    }
}

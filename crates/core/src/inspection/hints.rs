//! Root device hints, as Ironic's `ironic.common.utils` (`parse_root_device_hints`,
//! `find_devices_by_hints`, `match_root_device_hints`) on top of oslo.utils' `specs_matcher`
//! grammar: `size`, `model`, `vendor`, `serial`, `wwn`, `wwn_with_extension`,
//! `wwn_vendor_extension`, `name`, `rotational`, `hctl`, `by_path`, with the operators
//! `==`, `=` (means >=), `!=`, `<`, `<=`, `>`, `>=`, `s==`, `s!=`, `s<`, `s<=`, `s>`, `s>=`,
//! `<in>`, `<or>`, `<all-in>`, `<range-in>`.
//!
//! Quirks kept on purpose because Ironic has them: string hints and device values are
//! lower-cased and URL-quoted before comparing (a device value `None` reads as `"none"`);
//! `size` is compared in GiB as a float, so only the numeric operators and `<range-in>` can
//! match it (`<or> 10 <or> 20` on a size never matches, `<in>` is a validation error).

use super::py::{self, truthy};
use serde_json::Value;

/// The hints Ironic knows, in Ironic's order, with their type.
pub const VALID_ROOT_DEVICE_HINTS: &[(&str, HintType)] = &[
    ("size", HintType::Int),
    ("model", HintType::Str),
    ("wwn", HintType::Str),
    ("serial", HintType::Str),
    ("vendor", HintType::Str),
    ("wwn_with_extension", HintType::Str),
    ("wwn_vendor_extension", HintType::Str),
    ("name", HintType::Str),
    ("rotational", HintType::Bool),
    ("hctl", HintType::Str),
    ("by_path", HintType::Str),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HintType {
    Int,
    Str,
    Bool,
}

/// A parsed hint: a specs_matcher expression (`"s== perc%20h710"`, `">= 100"`) or a Boolean.
#[derive(Debug, Clone, PartialEq)]
pub enum Hint {
    Spec(String),
    Bool(bool),
}

/// Why hints could not be used. `Invalid` is what Ironic raises as `ValueError`/`TypeError`
/// (its root-device hook turns it into "failed to validate"); `Parse` is pyparsing's
/// `ParseException`, which Ironic does not catch; `Other` any other exception.
#[derive(Debug, Clone, PartialEq)]
pub enum HintError {
    Invalid(String),
    Parse(String),
    Other(&'static str, String),
}

impl std::fmt::Display for HintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HintError::Invalid(m) | HintError::Parse(m) | HintError::Other(_, m) => f.write_str(m),
        }
    }
}

fn hint_type(name: &str) -> Option<HintType> {
    VALID_ROOT_DEVICE_HINTS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

const UNARY_OPS: &[&str] = &["==", "=", "!=", "<in>", ">=", "<=", ">", "<", "s==", "s!=", "s<=", "s<", "s>=", "s>"];
const KEYWORDS: &[&str] = &["<all-in>", "<or>", "<range-in>"];

fn skip_ws(s: &str, pos: usize) -> usize {
    pos + s[pos..].len() - s[pos..].trim_start_matches([' ', '\t', '\n', '\r']).len()
}

fn unary_op_at(s: &str, pos: usize) -> Option<&'static str> {
    UNARY_OPS.iter().copied().find(|op| s[pos..].starts_with(op))
}

/// `atom = ~(unary_ops | <all-in> | <or> | <range-in>) + Regex(r"\S+")`
fn atom(s: &str, pos: usize) -> Option<(String, usize)> {
    let p = skip_ws(s, pos);
    if unary_op_at(s, p).is_some() || KEYWORDS.iter().any(|k| s[p..].starts_with(k)) {
        return None;
    }
    let len = s[p..].find(char::is_whitespace).unwrap_or(s.len() - p);
    (len > 0).then(|| (s[p..p + len].to_string(), p + len))
}

fn keyword(s: &str, pos: usize, kw: &str) -> Option<usize> {
    let p = skip_ws(s, pos);
    s[p..].starts_with(kw).then_some(p + kw.len())
}

/// oslo.utils `specs_matcher.make_grammar().parseString(s)`: the operator (if any) first,
/// then its operands. Parses a prefix like pyparsing does without `parseAll`. `None` is a
/// `ParseException`.
pub fn parse_spec(s: &str) -> Option<Vec<String>> {
    // disjunction = OneOrMore("<or>" + atom), tokens "<or>", atoms...
    let mut out = vec!["<or>".to_string()];
    let mut pos = 0;
    while let Some(p) = keyword(s, pos, "<or>") {
        let Some((a, np)) = atom(s, p) else { break };
        out.push(a);
        pos = np;
    }
    if out.len() > 1 {
        return Some(out);
    }
    // nary = "<all-in>" + OneOrMore(atom)
    if let Some(mut p) = keyword(s, 0, "<all-in>") {
        let mut out = vec!["<all-in>".to_string()];
        while let Some((a, np)) = atom(s, p) {
            out.push(a);
            p = np;
        }
        if out.len() > 1 {
            return Some(out);
        }
    }
    // range_op = "<range-in>" + atom * 4
    if let Some(mut p) = keyword(s, 0, "<range-in>") {
        let mut out = vec!["<range-in>".to_string()];
        for _ in 0..4 {
            match atom(s, p) {
                Some((a, np)) => {
                    out.push(a);
                    p = np;
                }
                None => break,
            }
        }
        if out.len() == 5 {
            return Some(out);
        }
    }
    // unary = unary_ops + atom (the first operator that matches, no backtracking)
    let p = skip_ws(s, 0);
    if let Some(op) = unary_op_at(s, p) {
        if let Some((a, _)) = atom(s, p + op.len()) {
            return Some(vec![op.to_string(), a]);
        }
    }
    atom(s, 0).map(|(a, _)| vec![a])
}

fn parse_exception(s: &str) -> HintError {
    HintError::Parse(format!("Expected an expression, found {} (at char 0)", py::repr(&Value::String(s.to_string()))))
}

/// `_extract_hint_operator_and_values`: `(operator or "", values)`.
fn extract(expression: &str, name: &str) -> Result<(String, Vec<String>), HintError> {
    let expression = expression.trim().to_lowercase();
    if expression.is_empty() {
        return Err(HintError::Invalid(format!("Root device hint \"{name}\" expression is empty")));
    }
    let ast = parse_spec(&expression).ok_or_else(|| parse_exception(&expression))?;
    if ast.len() <= 1 {
        return Ok((String::new(), vec![expression]));
    }
    let op = ast[0].clone();
    let values = expression.split(op.as_str()).filter(|v| !v.is_empty()).map(|v| v.trim().to_string()).collect();
    Ok((op, values))
}

/// `urllib.parse.quote(t)` (safe characters: letters, digits, `_.-~/`).
fn quote(t: &str) -> String {
    let mut out = String::new();
    for b in t.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `_normalize_hint_expression`: lower-case, URL-quote the values, keep the operator.
fn normalize(expression: &str, name: &str) -> Result<String, HintError> {
    let (op, values) = extract(expression, name)?;
    let result = values.iter().map(|t| format!(" {} ", quote(t))).collect::<Vec<_>>().join(&op);
    Ok(format!("{op}{result}").trim().to_string())
}

/// oslo.utils `strutils.bool_from_string(subject, strict=True)`.
fn bool_from_string(v: &Value) -> Option<bool> {
    if let Value::Bool(b) = v {
        return Some(*b);
    }
    match py::str_of(v).trim().to_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// Ironic's `parse_root_device_hints`: validate the hints and add the default operators
/// (`s==` for strings, `==` for size). `Ok(None)` when there are no hints.
pub fn parse_root_device_hints(root_device: &Value) -> Result<Option<Vec<(String, Hint)>>, HintError> {
    if !truthy(root_device) {
        return Ok(None);
    }
    let valid = VALID_ROOT_DEVICE_HINTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let Value::Object(hints) = root_device else {
        return Err(HintError::Invalid(format!(
            "The hints \"{}\" are invalid. Valid hints are: \"{valid}\"",
            py::str_of(root_device)
        )));
    };
    let mut invalid: Vec<&str> = hints.keys().map(String::as_str).filter(|k| hint_type(k).is_none()).collect();
    if !invalid.is_empty() {
        invalid.sort();
        return Err(HintError::Invalid(format!("The hints \"{}\" are invalid. Valid hints are: \"{valid}\"", invalid.join(", "))));
    }
    let mut out = Vec::new();
    for (name, expression) in hints {
        let ty = hint_type(name).expect("checked above");
        let expr_str = py::str_of(expression);
        let (op, values) = extract(&expr_str, name)?;
        let hint = if name == "size" && op == "<range-in>" {
            Hint::Spec(expr_str.clone())
        } else {
            match ty {
                HintType::Str => {
                    if !expression.is_string() {
                        return Err(HintError::Invalid(format!(
                            "Root device hint \"{name}\" is not a string value. Hint expression: {expr_str}"
                        )));
                    }
                    Hint::Spec(normalize(&expr_str, name)?)
                }
                HintType::Int => {
                    for v in &values {
                        match py::int_from_str(v) {
                            None => {
                                return Err(HintError::Invalid(format!(
                                    "Root device hint \"{name}\" is not an integer value. Current value: {expr_str}"
                                )))
                            }
                            Some(i) if i <= 0 => {
                                return Err(HintError::Invalid(format!(
                                    "Root device hint \"{name}\" should be a positive integer. Current value: {expr_str}"
                                )))
                            }
                            Some(_) => {}
                        }
                    }
                    Hint::Spec(expr_str.clone())
                }
                HintType::Bool => match bool_from_string(expression) {
                    Some(b) => Hint::Bool(b),
                    None => {
                        return Err(HintError::Invalid(format!(
                            "Root device hint \"{name}\" is not a Boolean value. Current value: {expr_str}"
                        )))
                    }
                },
            }
        };
        // _append_operator_to_hints
        let hint = match hint {
            Hint::Spec(s) => {
                let ast = parse_spec(&s).ok_or_else(|| parse_exception(&s))?;
                if ast.len() > 1 {
                    Hint::Spec(s)
                } else if ty == HintType::Str {
                    Hint::Spec(format!("s== {s}"))
                } else {
                    Hint::Spec(format!("== {s}"))
                }
            }
            b => b,
        };
        out.push((name.clone(), hint));
    }
    Ok(Some(out))
}

/// A device attribute as specs_matcher sees it.
enum DevVal {
    Str(String),
    Float(f64),
}

fn float_of(v: &DevVal) -> Result<f64, HintError> {
    match v {
        DevVal::Float(f) => Ok(*f),
        DevVal::Str(s) => py::float_from_str(s)
            .ok_or_else(|| HintError::Invalid(format!("could not convert string to float: {}", py::repr(&Value::String(s.clone()))))),
    }
}

fn float_arg(s: &str) -> Result<f64, HintError> {
    float_of(&DevVal::Str(s.to_string()))
}

/// `ast.literal_eval` for the numbers `<range-in>` compares.
fn literal_number(v: &DevVal) -> Result<f64, HintError> {
    match v {
        DevVal::Float(f) => Ok(*f),
        DevVal::Str(s) => {
            let body = s.trim_start_matches(['+', '-']);
            let ok = body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
                && !matches!(body, "inf" | "nan")
                && body.bytes().all(|b| b.is_ascii_digit() || b"._eE+-".contains(&b));
            match (ok, py::float_from_str(s)) {
                (true, Some(f)) => Ok(f),
                _ => Err(HintError::Invalid(format!("malformed node or string: {}", py::repr(&Value::String(s.clone()))))),
            }
        }
    }
}

/// oslo.utils `specs_matcher.match(value, spec)`.
fn spec_match(x: &DevVal, spec: &str) -> Result<bool, HintError> {
    let tree = parse_spec(spec).unwrap_or_else(|| vec![spec.to_string()]);
    if tree.len() == 1 {
        return Ok(matches!(x, DevVal::Str(s) if *s == tree[0]));
    }
    let (op, args) = (tree[0].as_str(), &tree[1..]);
    let type_err = |o: &str| {
        HintError::Invalid(format!("'{o}' not supported between instances of 'float' and 'str'"))
    };
    let r = match op {
        "=" | ">=" => float_of(x)? >= float_arg(&args[0])?,
        "!=" => float_of(x)? != float_arg(&args[0])?,
        "<=" => float_of(x)? <= float_arg(&args[0])?,
        "<" => float_of(x)? < float_arg(&args[0])?,
        "==" => float_of(x)? == float_arg(&args[0])?,
        ">" => float_of(x)? > float_arg(&args[0])?,
        "s==" | "s!=" | "s<" | "s<=" | "s>" | "s>=" => match x {
            DevVal::Str(s) => {
                let y = args[0].as_str();
                match op {
                    "s==" => s.as_str() == y,
                    "s!=" => s.as_str() != y,
                    "s<" => s.as_str() < y,
                    "s<=" => s.as_str() <= y,
                    "s>" => s.as_str() > y,
                    _ => s.as_str() >= y,
                }
            }
            DevVal::Float(_) => match op {
                "s==" => false,
                "s!=" => true,
                o => return Err(type_err(&o[1..])),
            },
        },
        "<in>" => match x {
            DevVal::Str(s) => s.contains(args[0].as_str()),
            DevVal::Float(_) => return Err(HintError::Invalid("argument of type 'float' is not iterable".into())),
        },
        "<or>" => matches!(x, DevVal::Str(s) if args.iter().any(|a| a == s)),
        "<all-in>" => {
            // literal_eval of a lower-cased, URL-quoted device value is never a list literal.
            return Err(HintError::Invalid(match x {
                DevVal::Str(s) => format!("malformed node or string: {}", py::repr(&Value::String(s.clone()))),
                DevVal::Float(f) => format!("malformed node or string: {f}"),
            }));
        }
        "<range-in>" => {
            let num_x = literal_number(x)?;
            let (num_y, num_z) = (float_arg(&args[1])?, float_arg(&args[2])?);
            if num_y > num_z {
                return Err(HintError::Invalid(
                    "<range-in> operator's first argument has to be smaller or equal to the second argument EG\"range_in  ( 10 20 ] \"".into(),
                ));
            }
            let lower = match args[0].as_str() {
                "[" => num_x >= num_y,
                "(" => num_x > num_y,
                _ => return Err(HintError::Invalid("The first element should be an opening bracket (\"(\" or \"[\")".into())),
            };
            let upper = match args[3].as_str() {
                "]" => num_x <= num_z,
                ")" => num_x < num_z,
                _ => return Err(HintError::Invalid("The last element should be a closing bracket (\")\" or \"]\")".into())),
            };
            lower && upper
        }
        _ => false,
    };
    Ok(r)
}

const GIB: f64 = 1073741824.0;

/// Ironic's `find_devices_by_hints`: the devices matching every hint (only the first one
/// when `first_only`, as `match_root_device_hints` consumes the generator).
pub fn find_devices_by_hints<'a>(devices: &'a [Value], hints: &Value, first_only: bool) -> Result<Vec<&'a Value>, HintError> {
    // Ironic logs ', '.join(d.get('name') for d in devices) before anything else.
    for (i, d) in devices.iter().enumerate() {
        match d {
            Value::Object(o) => match o.get("name") {
                Some(Value::String(_)) => {}
                other => {
                    let t = other.map_or("NoneType", py::type_name);
                    return Err(HintError::Other("TypeError", format!("sequence item {i}: expected str instance, {t} found")));
                }
            },
            other => {
                return Err(HintError::Other("AttributeError", format!("'{}' object has no attribute 'get'", py::type_name(other))))
            }
        }
    }
    let parsed = parse_root_device_hints(hints)?
        .ok_or_else(|| HintError::Invalid("'NoneType' object is not iterable".into()))?;
    let mut found = Vec::new();
    'devices: for dev in devices {
        for (name, hint) in &parsed {
            let ty = hint_type(name).expect("parsed hints are valid");
            let raw = dev.get(name.as_str()).unwrap_or(&Value::Null);
            match hint {
                Hint::Bool(want) => match bool_from_string(raw) {
                    Some(b) if b == *want => continue,
                    _ => continue 'devices,
                },
                Hint::Spec(spec) => {
                    let value = if ty == HintType::Str {
                        match normalize(&py::str_of(raw), name) {
                            Ok(v) => DevVal::Str(v),
                            Err(HintError::Invalid(_)) => continue 'devices, // empty attribute: skip the device
                            Err(e) => return Err(e),
                        }
                    } else {
                        let size = match raw {
                            Value::Number(n) => n.as_f64().unwrap_or(0.0),
                            Value::Bool(b) => *b as u8 as f64,
                            other => {
                                return Err(HintError::Invalid(format!(
                                    "unsupported operand type(s) for /: '{}' and 'int'",
                                    py::type_name(other)
                                )))
                            }
                        };
                        let gib = size / GIB;
                        if spec.starts_with("<range-in>") {
                            DevVal::Str(py::repr(&serde_json::json!(gib)))
                        } else {
                            DevVal::Float(gib)
                        }
                    };
                    if !spec_match(&value, spec)? {
                        continue 'devices;
                    }
                }
            }
        }
        found.push(dev);
        if first_only {
            break;
        }
    }
    Ok(found)
}

/// Ironic's `match_root_device_hints`: the first device matching every hint.
pub fn match_root_device_hints<'a>(devices: &'a [Value], hints: &Value) -> Result<Option<&'a Value>, HintError> {
    Ok(find_devices_by_hints(devices, hints, true)?.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(h: &Value, name: &str) -> String {
        let parsed = parse_root_device_hints(h).unwrap().unwrap();
        match &parsed.iter().find(|(n, _)| n == name).unwrap().1 {
            Hint::Spec(s) => s.clone(),
            Hint::Bool(b) => b.to_string(),
        }
    }

    #[test]
    fn grammar_like_pyparsing() {
        assert_eq!(parse_spec(">= 10").unwrap(), [">=", "10"]);
        assert_eq!(parse_spec("==5").unwrap(), ["==", "5"]);
        assert_eq!(parse_spec("<or> a <or> b").unwrap(), ["<or>", "a", "b"]);
        assert_eq!(parse_spec("<all-in> aes mmx").unwrap(), ["<all-in>", "aes", "mmx"]);
        assert_eq!(parse_spec("<range-in> [ 10 20 ]").unwrap(), ["<range-in>", "[", "10", "20", "]"]);
        // Not enough atoms for <range-in>: the unary "<" wins, as in pyparsing.
        assert_eq!(parse_spec("<range-in> [10 20]").unwrap(), ["<", "range-in>"]);
        assert_eq!(parse_spec("<or>").unwrap(), ["<", "or>"]);
        assert_eq!(parse_spec("foo bar").unwrap(), ["foo"]);
        assert_eq!(parse_spec("s== perc%20h710").unwrap(), ["s==", "perc%20h710"]);
        assert_eq!(parse_spec("sda").unwrap(), ["sda"]);
        assert!(parse_spec("==").is_none());
        assert!(parse_spec("= =").is_none());
        assert!(parse_spec("").is_none());
    }

    #[test]
    fn parse_adds_default_operators_and_normalizes() {
        let h = json!({"size": 100, "model": "PERC H710", "serial": "<or> A b <or> c", "rotational": "yes", "name": "s!= /dev/sda"});
        assert_eq!(spec(&h, "size"), "== 100");
        assert_eq!(spec(&h, "model"), "s== perc%20h710");
        assert_eq!(spec(&h, "serial"), "<or> a%20b <or> c");
        assert_eq!(spec(&h, "rotational"), "true");
        assert_eq!(spec(&h, "name"), "s!= /dev/sda");
        assert_eq!(spec(&json!({"size": ">= 50"}), "size"), ">= 50");
        assert_eq!(spec(&json!({"size": "<range-in> ( 10 20 ]"}), "size"), "<range-in> ( 10 20 ]");
        assert_eq!(parse_root_device_hints(&json!({})).unwrap(), None);
    }

    #[test]
    fn parse_errors_are_ironics() {
        let e = |h: Value| parse_root_device_hints(&h).unwrap_err().to_string();
        assert_eq!(
            e(json!({"foo": 1, "bar": 2})),
            "The hints \"bar, foo\" are invalid. Valid hints are: \"size, model, wwn, serial, vendor, wwn_with_extension, wwn_vendor_extension, name, rotational, hctl, by_path\""
        );
        assert_eq!(e(json!({"size": "abc"})), "Root device hint \"size\" is not an integer value. Current value: abc");
        assert_eq!(e(json!({"size": 0})), "Root device hint \"size\" should be a positive integer. Current value: 0");
        assert_eq!(e(json!({"size": -5})), "Root device hint \"size\" should be a positive integer. Current value: -5");
        assert_eq!(e(json!({"size": 10.5})), "Root device hint \"size\" is not an integer value. Current value: 10.5");
        assert_eq!(e(json!({"model": 123})), "Root device hint \"model\" is not a string value. Hint expression: 123");
        assert_eq!(e(json!({"model": "  "})), "Root device hint \"model\" expression is empty");
        assert_eq!(e(json!({"rotational": "maybe"})), "Root device hint \"rotational\" is not a Boolean value. Current value: maybe");
        assert!(matches!(parse_root_device_hints(&json!({"model": "=="})), Err(HintError::Parse(_))));
        assert!(matches!(parse_root_device_hints(&json!("sda")), Err(HintError::Invalid(_))));
    }

    fn disks() -> Vec<Value> {
        vec![
            json!({"name": "/dev/sda", "size": 599550590976u64, "model": "PERC H710", "vendor": "DELL", "serial": "abc123",
                   "wwn": "0x6b083fe0d2d0eb00", "rotational": true, "hctl": "0:2:0:0", "by_path": "/dev/disk/by-path/pci-0000:01:00.0-scsi-0:2:0:0"}),
            json!({"name": "/dev/sdb", "size": 53687091200u64, "model": "QEMU HARDDISK", "vendor": "QEMU", "serial": null,
                   "wwn": null, "rotational": "0", "hctl": "2:0:0:0"}),
            json!({"name": "/dev/nvme0n1", "size": 1000204886016u64, "model": "Samsung SSD 980", "vendor": "", "serial": "S64",
                   "rotational": false}),
        ]
    }

    fn names(hints: Value) -> Vec<String> {
        let d = disks();
        find_devices_by_hints(&d, &hints, false).unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn every_operator_on_size() {
        // sizes in GiB: sda 558.37..., sdb 50.0, nvme 931.51...
        assert_eq!(names(json!({"size": 50})), ["/dev/sdb"]);
        assert_eq!(names(json!({"size": "== 50"})), ["/dev/sdb"]);
        assert_eq!(names(json!({"size": ">= 500"})), ["/dev/sda", "/dev/nvme0n1"]);
        assert_eq!(names(json!({"size": "= 500"})), ["/dev/sda", "/dev/nvme0n1"], "'=' means >= in specs_matcher");
        assert_eq!(names(json!({"size": "> 558"})), ["/dev/sda", "/dev/nvme0n1"]);
        assert_eq!(names(json!({"size": "< 558"})), ["/dev/sdb"]);
        assert_eq!(names(json!({"size": "<= 50"})), ["/dev/sdb"]);
        assert_eq!(names(json!({"size": "!= 50"})), ["/dev/sda", "/dev/nvme0n1"]);
        assert_eq!(names(json!({"size": "<range-in> [ 50 600 ]"})), ["/dev/sda", "/dev/sdb"]);
        assert_eq!(names(json!({"size": "<range-in> ( 50 600 )"})), ["/dev/sda"]);
        assert!(names(json!({"size": "<or> 50 <or> 558"})).is_empty(), "<or> compares a float with strings: never true");
        assert!(names(json!({"size": "s== 50"})).is_empty());
        let d = disks();
        assert_eq!(
            find_devices_by_hints(&d, &json!({"size": "<in> 50"}), false).unwrap_err(),
            HintError::Invalid("argument of type 'float' is not iterable".into())
        );
        assert!(matches!(find_devices_by_hints(&d, &json!({"size": "s< 50"}), false), Err(HintError::Invalid(_))));
        assert!(matches!(find_devices_by_hints(&d, &json!({"size": "<range-in> ( 600 50 )"}), false), Err(HintError::Invalid(_))));
        assert!(matches!(find_devices_by_hints(&d, &json!({"size": "<range-in> { 50 600 )"}), false), Err(HintError::Invalid(_))));
    }

    #[test]
    fn string_operators_and_normalization() {
        assert_eq!(names(json!({"model": "perc h710"})), ["/dev/sda"], "case-insensitive, spaces quoted on both sides");
        assert_eq!(names(json!({"model": "<in> h710"})), ["/dev/sda"]);
        assert_eq!(names(json!({"model": "<in> harddisk"})), ["/dev/sdb"]);
        assert_eq!(names(json!({"vendor": "<or> dell <or> qemu"})), ["/dev/sda", "/dev/sdb"]);
        assert_eq!(names(json!({"vendor": "s!= dell"})), ["/dev/sdb"], "an empty vendor skips the device");
        assert_eq!(names(json!({"model": "s< q"})), ["/dev/sda"]);
        assert_eq!(names(json!({"model": "s>= qemu"})), ["/dev/sdb", "/dev/nvme0n1"]);
        assert_eq!(names(json!({"serial": "none"})), ["/dev/sdb"], "a null attribute reads as 'None'");
        assert_eq!(names(json!({"name": "/dev/nvme0n1"})), ["/dev/nvme0n1"]);
        assert_eq!(names(json!({"hctl": "2:0:0:0"})), ["/dev/sdb"]);
        assert_eq!(names(json!({"wwn": "0x6B083FE0D2D0EB00"})), ["/dev/sda"]);
        assert_eq!(names(json!({"by_path": "/dev/disk/by-path/pci-0000:01:00.0-scsi-0:2:0:0"})), ["/dev/sda"]);
        assert_eq!(names(json!({"rotational": false})), ["/dev/sdb", "/dev/nvme0n1"], "'0' is a valid Boolean");
        assert_eq!(names(json!({"rotational": "true", "size": ">= 100"})), ["/dev/sda"]);
        assert!(names(json!({"serial": "nothing-like-it"})).is_empty());
        let d = disks();
        assert!(matches!(find_devices_by_hints(&d, &json!({"model": ">= 5"}), false), Err(HintError::Invalid(_))));
        assert!(matches!(find_devices_by_hints(&d, &json!({"model": "<all-in> a b"}), false), Err(HintError::Invalid(_))));
        assert_eq!(match_root_device_hints(&d, &json!({"size": ">= 1"})).unwrap().unwrap()["name"], "/dev/sda");
    }

    #[test]
    fn hostile_devices() {
        let nameless = vec![json!({"size": 1})];
        assert!(matches!(find_devices_by_hints(&nameless, &json!({"size": 1}), false), Err(HintError::Other("TypeError", _))));
        let not_dicts = vec![json!("sda")];
        assert!(matches!(find_devices_by_hints(&not_dicts, &json!({"size": 1}), false), Err(HintError::Other("AttributeError", _))));
        let bad_size = vec![json!({"name": "a", "size": "big"})];
        assert!(matches!(find_devices_by_hints(&bad_size, &json!({"size": 1}), false), Err(HintError::Invalid(_))));
        let huge = vec![json!({"name": "a", "size": u64::MAX, "model": "x".repeat(100_000)})];
        assert_eq!(find_devices_by_hints(&huge, &json!({"size": ">= 1"}), false).unwrap().len(), 1);
        assert_eq!(find_devices_by_hints(&huge, &json!({"model": "<in> xxx"}), false).unwrap().len(), 1);
    }
}

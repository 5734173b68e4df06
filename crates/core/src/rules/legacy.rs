//! ironic-inspector's rule format (`/v1/rules` on port 5050), translated onto the same engine.
//!
//! Inspector rules: `{uuid, description, scope, conditions: [{op, field, value, invert,
//! multiple}], actions: [{action, ...params}]}` (`ironic_inspector/rules.py`,
//! `plugins/rules.py`). Fields are JSON paths into the node (`node://properties.cpus`) or the
//! introspection data (`data://inventory.cpu.count`, the default scheme). The engine runs the
//! translated rule with inspector semantics: each field value is coerced to the type of the
//! expected value before comparing, a missing field fails the condition (except `is-empty`),
//! `multiple` is any/all/first over the values found, `invert` negates, action values are
//! formatted with `{data[...]}`, `set-capability` replaces the capability, and a rule with a
//! `scope` applies only to nodes whose `properties.inspection_scope` equals it.

use super::py;
use super::InspectionRule;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Inspector condition operators.
pub const CONDITION_OPS: &[&str] = &["eq", "lt", "gt", "le", "ge", "ne", "in-net", "matches", "contains", "is-empty"];
/// Inspector actions with their required and optional parameters.
const ACTIONS: &[(&str, &[&str], &[&str])] = &[
    ("fail", &["message"], &[]),
    ("set-attribute", &["path", "value"], &[]),
    ("set-capability", &["name"], &["value"]),
    ("extend-attribute", &["path", "value"], &["unique"]),
    ("add-trait", &["name"], &[]),
    ("remove-trait", &["name"], &[]),
];

/// Translate an inspector rule (as posted to the inspector's `/v1/rules`) into a rule the
/// engine runs with inspector semantics. Errors carry the inspector's texts.
pub fn translate(rule: &Value) -> Result<InspectionRule, String> {
    let o = rule.as_object().ok_or("Invalid rule: a JSON object is expected")?;
    let conditions = match o.get("conditions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => return Err(format!("Validation failed for conditions: {} is not of type 'array'", py::repr(other, false))),
    };
    let actions = match o.get("actions") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(Value::Array(_)) => return Err("Validation failed for actions: [] is too short".into()),
        None | Some(Value::Null) => return Err("Validation failed for actions: None is not of type 'array'".into()),
        Some(other) => return Err(format!("Validation failed for actions: {} is not of type 'array'", py::repr(other, false))),
    };
    let mut conds = Vec::new();
    for c in &conditions {
        let co = c.as_object().ok_or_else(|| format!("Validation failed for conditions: {} is not of type 'object'", py::repr(c, false)))?;
        for req in ["op", "field"] {
            if !co.contains_key(req) {
                return Err(format!("Validation failed for conditions: '{req}' is a required property"));
            }
        }
        let op = co["op"].as_str().filter(|op| CONDITION_OPS.contains(op)).ok_or_else(|| {
            format!(
                "Validation failed for conditions: {} is not one of [{}]",
                py::repr(&co["op"], false),
                CONDITION_OPS.iter().map(|s| py::str_repr(s)).collect::<Vec<_>>().join(", ")
            )
        })?;
        let field = co["field"].as_str().ok_or_else(|| format!("Validation failed for conditions: {} is not of type 'string'", py::repr(&co["field"], false)))?;
        let (scheme, path) = parse_field(field);
        if scheme != "node" && scheme != "data" {
            return Err(format!("Unsupported scheme for field: {scheme}, valid values are node:// or data://"));
        }
        parse_jsonpath(path).map_err(|e| format!("Unable to parse field JSON path {field}: {e}"))?;
        let multiple = match co.get("multiple") {
            None | Some(Value::Null) => "any".to_string(),
            Some(Value::String(m)) if ["all", "any", "first"].contains(&m.as_str()) => m.clone(),
            Some(other) => {
                return Err(format!("Validation failed for conditions: {} is not one of ['all', 'any', 'first']", py::repr(other, false)))
            }
        };
        if op != "is-empty" && !co.contains_key("value") {
            return Err(format!("Invalid parameters for operator {op}: missing required parameter(s): value"));
        }
        if op == "in-net" && parse_network(&py::to_str(&co["value"], false)).is_none() {
            return Err(format!("Invalid parameters for operator {op}: invalid value: invalid IPNetwork {}", py::to_str(&co["value"], false)));
        }
        if op == "matches" || op == "contains" {
            let re = py::to_str(&co["value"], false);
            regex::Regex::new(&re).map_err(|e| format!("Invalid parameters for operator {op}: invalid regular expression: {e}"))?;
        }
        let mut out = Map::new();
        out.insert("op".into(), Value::String(op.into()));
        out.insert("field".into(), Value::String(field.into()));
        out.insert("multiple".into(), Value::String(multiple));
        out.insert("invert".into(), Value::Bool(co.get("invert").is_some_and(py::truthy)));
        if let Some(v) = co.get("value") {
            out.insert("value".into(), v.clone());
        }
        conds.push(Value::Object(out));
    }
    let mut acts = Vec::new();
    for a in &actions {
        let ao = a.as_object().ok_or_else(|| format!("Validation failed for actions: {} is not of type 'object'", py::repr(a, false)))?;
        let name = ao.get("action").ok_or("Validation failed for actions: 'action' is a required property")?;
        let Some((action, required, optional)) = ACTIONS.iter().find(|(n, _, _)| Some(*n) == name.as_str()) else {
            return Err(format!(
                "Validation failed for actions: {} is not one of [{}]",
                py::repr(name, false),
                ACTIONS.iter().map(|(n, _, _)| py::str_repr(n)).collect::<Vec<_>>().join(", ")
            ));
        };
        let params: Map<String, Value> = ao.iter().filter(|(k, _)| *k != "action").map(|(k, v)| (k.clone(), v.clone())).collect();
        let missing: Vec<&str> = required.iter().copied().filter(|r| !params.contains_key(*r)).collect();
        if !missing.is_empty() {
            return Err(format!("Invalid parameters for action {action}: missing required parameter(s): {}", missing.join(", ")));
        }
        let unexpected: Vec<&str> = params.keys().map(String::as_str).filter(|k| !required.contains(k) && !optional.contains(k)).collect();
        if !unexpected.is_empty() {
            return Err(format!("Invalid parameters for action {action}: unexpected parameter(s): {}", unexpected.join(", ")));
        }
        let mut args = Map::new();
        match *action {
            "fail" => {
                args.insert("msg".into(), params["message"].clone());
            }
            "set-capability" => {
                args.insert("name".into(), params["name"].clone());
                args.insert("value".into(), params.get("value").cloned().unwrap_or(Value::Null));
            }
            _ => args = params,
        }
        acts.push(serde_json::json!({"op": action, "args": args}));
    }
    let uuid = match o.get("uuid") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(u)) => u.clone(),
        Some(other) => return Err(format!("Invalid UUID value {}", py::to_str(other, false))),
    };
    Ok(InspectionRule {
        uuid,
        description: o.get("description").and_then(Value::as_str).map(str::to_string),
        scope: o.get("scope").and_then(Value::as_str).map(str::to_string),
        conditions: conds,
        actions: acts,
        legacy: true,
        ..Default::default()
    })
}

/// `scheme://path`; no scheme means `data`.
fn parse_field(field: &str) -> (&str, &str) {
    match field.find("://") {
        Some(i) => (&field[..i], &field[i + 3..]),
        None => ("data", field),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    All,
}

/// A JSON path as inspector fields use them: `a.b[0].c`, `a.b[*].c`, `a.*`, optional `$.`.
fn parse_jsonpath(path: &str) -> Result<Vec<Step>, String> {
    let p = path.trim();
    let p = p.strip_prefix("$.").or_else(|| p.strip_prefix('$')).unwrap_or(p);
    let mut steps = Vec::new();
    if p.is_empty() {
        return Ok(steps);
    }
    for seg in p.split('.') {
        let (name, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        match name {
            "" if rest.is_empty() => return Err(format!("Parse error near token . in {path}")),
            "" => {}
            "*" => steps.push(Step::All),
            n => steps.push(Step::Key(n.to_string())),
        }
        while !rest.is_empty() {
            let close = rest.find(']').ok_or_else(|| format!("Parse error: missing ] in {path}"))?;
            let inner = rest[1..close].trim();
            if inner == "*" {
                steps.push(Step::All);
            } else {
                steps.push(Step::Index(inner.parse().map_err(|_| format!("Parse error near token {inner} in {path}"))?));
            }
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(format!("Parse error near token {rest} in {path}"));
            }
        }
    }
    Ok(steps)
}

fn find<'v>(v: &'v Value, steps: &[Step], out: &mut Vec<&'v Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(v);
        return;
    };
    match (step, v) {
        (Step::Key(k), Value::Object(o)) => {
            if let Some(x) = o.get(k) {
                find(x, rest, out);
            }
        }
        (Step::Index(i), Value::Array(a)) => {
            if let Some(x) = a.get(*i) {
                find(x, rest, out);
            }
        }
        (Step::All, Value::Array(a)) => a.iter().for_each(|x| find(x, rest, out)),
        (Step::All, Value::Object(o)) => o.values().for_each(|x| find(x, rest, out)),
        _ => {}
    }
}

/// Errors while running a legacy rule, split as the engine needs them.
pub(crate) enum LegacyError {
    Ironic(String),
    Other(String),
}

/// The introspection data as the inspector had it: the plugin data with the inventory in it.
fn introspection_data(inventory: &Value, plugin_data: &Value) -> Value {
    let mut d = plugin_data.as_object().cloned().unwrap_or_default();
    d.insert("inventory".into(), inventory.clone());
    Value::Object(d)
}

/// Inspector's `coerce(value, expected)`.
fn coerce(field: &Value, expected: &Value) -> Result<Value, String> {
    match expected {
        Value::Number(n) if n.is_f64() => match field {
            Value::Number(x) => Ok(Value::from(x.as_f64().unwrap_or(0.0))),
            Value::Bool(b) => Ok(Value::from(if *b { 1.0 } else { 0.0 })),
            Value::String(s) => s.trim().parse::<f64>().map(Value::from).map_err(|_| format!("could not convert string to float: {}", py::str_repr(s))),
            other => Err(format!("float() argument must be a string or a real number, not '{}'", py::type_name(other))),
        },
        Value::Number(_) | Value::Bool(_) => match field {
            Value::Number(x) if x.is_f64() => Ok(Value::from(x.as_f64().unwrap_or(0.0).trunc() as i64)),
            Value::Number(_) => Ok(field.clone()),
            Value::Bool(b) => Ok(Value::from(*b as i64)),
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| format!("invalid literal for int() with base 10: {}", py::str_repr(s))),
            other => Err(format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                py::type_name(other)
            )),
        },
        _ => Ok(field.clone()),
    }
}

fn check_value(op: &str, field: &Value, expected: &Value) -> Result<bool, String> {
    let cmp = |sym: &str| -> Result<bool, String> {
        let f = coerce(field, expected)?;
        Ok(match sym {
            "eq" => py::eq(&f, expected),
            "ne" => !py::eq(&f, expected),
            "lt" => py::lt(&f, expected, "<")?,
            "gt" => py::lt(expected, &f, ">")?,
            "le" => py::lt(&f, expected, "<=")? || py::eq(&f, expected),
            _ => py::lt(expected, &f, ">=")? || py::eq(&f, expected),
        })
    };
    match op {
        "eq" | "ne" | "lt" | "gt" | "le" | "ge" => cmp(op),
        "is-empty" => Ok(match field {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }),
        "in-net" => {
            let net = parse_network(&py::to_str(expected, false)).ok_or_else(|| format!("invalid IPNetwork {}", py::to_str(expected, false)))?;
            let addr = parse_address(field).ok_or_else(|| format!("failed to detect a valid IP address from {}", py::repr(field, false)))?;
            Ok(network_contains(&net, &addr))
        }
        "matches" | "contains" => {
            let mut re = py::to_str(expected, false);
            if op == "matches" {
                if !re.ends_with('$') {
                    re.push('$');
                }
                re = format!("^(?:{re})");
            }
            let re = regex::Regex::new(&re).map_err(|e| format!("invalid regular expression: {e}"))?;
            Ok(re.is_match(&py::to_str(field, false)))
        }
        other => Err(format!("Unsupported operator {other}")),
    }
}

/// One inspector condition (stored by [`translate`]) against the node and the data.
pub(crate) fn check_condition(cond: &Value, node: &Value, inventory: &Value, plugin_data: &Value) -> Result<bool, LegacyError> {
    let op = cond.get("op").and_then(Value::as_str).unwrap_or_default();
    let field = cond.get("field").and_then(Value::as_str).unwrap_or_default();
    let (scheme, path) = parse_field(field);
    let data = introspection_data(inventory, plugin_data);
    let source = if scheme == "node" { node } else { &data };
    let steps = parse_jsonpath(path).map_err(LegacyError::Other)?;
    let mut found = Vec::new();
    find(source, &steps, &mut found);
    let null = Value::Null;
    if found.is_empty() {
        if op == "is-empty" {
            found.push(&null);
        } else {
            return Ok(false);
        }
    }
    let expected = cond.get("value").unwrap_or(&Value::Null);
    let multiple = cond.get("multiple").and_then(Value::as_str).unwrap_or("any");
    let mut result = false;
    for v in found {
        result = check_value(op, v, expected).map_err(LegacyError::Other)?;
        if multiple == "first" || (multiple == "all" && !result) || (multiple == "any" && result) {
            break;
        }
    }
    if cond.get("invert").is_some_and(py::truthy) {
        result = !result;
    }
    Ok(result)
}

/// Inspector action parameters, with `value` formatted as `value.format(data=data)` when it
/// is a non-empty string (FORMATTED_PARAMS), as the engine's named arguments.
pub(crate) fn format_action_args(op: &str, raw: &Value, inventory: &Value, plugin_data: &Value) -> Result<Map<String, Value>, LegacyError> {
    let mut args = raw.as_object().cloned().unwrap_or_default();
    let formatted = matches!(op, "set-attribute" | "set-capability" | "extend-attribute");
    if formatted {
        if let Some(Value::String(s)) = args.get("value").cloned() {
            if !s.is_empty() {
                let data = introspection_data(inventory, plugin_data);
                let null = Value::Null;
                let extra = [("data", &data)];
                let ctx = py::FmtContext { node: &null, inventory: &null, plugin_data: &null, item: None, mask: false, extra: &extra };
                let out = ctx.format(&s).map_err(|e| match e {
                    py::FmtError::Key(key) => LegacyError::Ironic(format!("Invalid formatting variable key provided: {}", py::str_repr(&key))),
                    py::FmtError::Other => LegacyError::Other(format!("Invalid format string {}", py::str_repr(&s))),
                })?;
                args.insert("value".into(), Value::String(out));
            }
        }
    }
    Ok(args)
}

/// `k1:v1,k2:v2` as pairs (ironic's `capabilities_to_dict`).
pub(crate) fn parse_capabilities(caps: Option<&Value>) -> Vec<(String, String)> {
    match caps {
        Some(Value::String(s)) => s
            .split(',')
            .filter(|c| !c.is_empty())
            .filter_map(|c| c.split_once(':').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect(),
        Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), py::to_str(v, false))).collect(),
        _ => Vec::new(),
    }
}

// ------------------------------------------------------------------------------ addresses

/// An IP network as netaddr's `IPNetwork` reads it: `addr/prefix` or a bare address (host bits
/// may be set).
pub(crate) fn parse_network(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match s.trim().split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s.trim(), None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some((addr, prefix))
}

/// netaddr's `IPAddress`: a textual address or an integer (IPv4 below 2**32).
pub(crate) fn parse_address(v: &Value) -> Option<IpAddr> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().filter(|x| *x <= u32::MAX as u64).map(|x| IpAddr::V4((x as u32).into())),
        _ => None,
    }
}

pub(crate) fn network_contains(net: &(IpAddr, u8), addr: &IpAddr) -> bool {
    match (net.0, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if net.1 == 0 { 0 } else { u32::MAX << (32 - net.1) };
            (u32::from(n) & mask) == (u32::from(*a) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if net.1 == 0 { 0 } else { u128::MAX << (128 - net.1) };
            (u128::from(n) & mask) == (u128::from(*a) & mask)
        }
        _ => false,
    }
}

//! Inspection rules (Ironic 2025.1, API 1.96): conditions checked against a node's inspection
//! data and actions run on the node when they all hold. Ironic's spec:
//! `ironic/common/inspection_rules/{engine,operators,actions,validation,base}.py`.
//!
//! * [`validate_rule`]: Ironic's JSON schema and `validate_rule`, with its error texts.
//! * [`engine::apply`]: the rules over `(node, ports, inventory, plugin_data)`; returns the
//!   changed node, ports and plugin data plus effects (HTTP calls, log lines) for the conductor
//!   to perform, or the failure text Ironic would put in `last_error`. Pure: no IO.
//! * [`legacy::translate`]: ironic-inspector's rule format onto the same engine.
//!
//! Pure: no IO, no HTTP, no SQL.

pub mod engine;
pub mod legacy;
pub mod py;

use crate::model::Timestamp;
use py::repr;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use engine::{apply, Effect, Input, LogLine, MaskSecrets, Outcome};

/// The only inspection phase Ironic has.
pub const PHASE_MAIN: &str = "main";

/// A stored inspection rule (Ironic's `InspectionRule` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InspectionRule {
    pub id: i64,
    pub uuid: String,
    pub priority: i64,
    pub description: Option<String>,
    pub sensitive: bool,
    pub phase: String,
    /// Ironic keeps the column but ignores it; ironic-inspector's rules use it (see `legacy`).
    pub scope: Option<String>,
    /// Conditions as given (extra keys kept, as Ironic stores them).
    pub conditions: Vec<Value>,
    pub actions: Vec<Value>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    /// Loaded from `[inspection_rules]built_in_rules`; never stored, never changed by the API.
    #[serde(skip)]
    pub built_in: bool,
    /// Translated from ironic-inspector's format ([`legacy::translate`]): conditions are
    /// inspector conditions and a few inspector-only actions are allowed.
    #[serde(skip)]
    pub legacy: bool,
}

impl Default for InspectionRule {
    fn default() -> Self {
        InspectionRule {
            id: 0,
            uuid: String::new(),
            priority: 0,
            description: None,
            sensitive: false,
            phase: PHASE_MAIN.into(),
            scope: None,
            conditions: Vec::new(),
            actions: Vec::new(),
            created_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            updated_at: None,
            built_in: false,
            legacy: false,
        }
    }
}

impl InspectionRule {
    /// A rule from a body that passed [`validate_rule`] (which may have normalised `args`).
    pub fn from_valid(body: &Value, uuid: String) -> InspectionRule {
        let o = body.as_object().cloned().unwrap_or_default();
        let list = |k: &str| o.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        InspectionRule {
            uuid,
            priority: o.get("priority").and_then(Value::as_f64).map(|p| p as i64).unwrap_or(0),
            description: o.get("description").and_then(Value::as_str).map(str::to_string),
            sensitive: o.get("sensitive").and_then(Value::as_bool).unwrap_or(false),
            phase: o.get("phase").and_then(Value::as_str).unwrap_or(PHASE_MAIN).to_string(),
            conditions: list("conditions"),
            actions: list("actions"),
            ..Default::default()
        }
    }

    /// The synthetic UUID Ironic gives the n-th built-in rule without one.
    pub fn synthetic_uuid(index: usize) -> String {
        format!("00000000-0000-0000-0000-{index:012x}")
    }
}

/// Why a rule is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleInvalid {
    /// The JSON schema failed; the API says `Schema error: <text>`.
    Schema(String),
    /// Ironic's own checks (`validate_rule`, argument checks); the text is the whole message.
    Invalid(String),
}

impl std::fmt::Display for RuleInvalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleInvalid::Schema(s) => write!(f, "Schema error: {s}"),
            RuleInvalid::Invalid(s) => f.write_str(s),
        }
    }
}

/// Condition operators, in Ironic's order (`operators.OPERATORS`).
pub const OPERATORS: &[&str] = &["eq", "lt", "gt", "is-empty", "in-net", "matches", "contains", "one-of", "is-none", "is-true", "is-false"];
/// Actions, in Ironic's order (`actions.ACTIONS`).
pub const ACTIONS: &[&str] = &[
    "fail", "log", "set-attribute", "extend-attribute", "del-attribute", "set-capability", "unset-capability", "add-trait",
    "remove-trait", "set-plugin-data", "extend-plugin-data", "unset-plugin-data", "set-port-attribute", "extend-port-attribute",
    "del-port-attribute", "api-call",
];

/// `(required, optional)` arguments of an operator or action (the signature of its `__call__`).
pub fn signature(op: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match op {
        "eq" | "lt" | "gt" => (&["values"], &["force_strings"]),
        "is-empty" | "is-none" | "is-true" | "is-false" => (&["value"], &[]),
        "in-net" => (&["address", "subnet"], &[]),
        "matches" | "contains" => (&["value", "regex"], &[]),
        "one-of" => (&["value"], &["values"]),
        "fail" => (&["msg"], &[]),
        "log" => (&["msg"], &["level"]),
        "set-attribute" => (&["path", "value"], &[]),
        "extend-attribute" => (&["path", "value"], &["unique"]),
        "del-attribute" => (&["path"], &[]),
        "set-capability" => (&["name", "value"], &[]),
        "unset-capability" | "add-trait" | "remove-trait" => (&["name"], &[]),
        "set-plugin-data" => (&["path", "value", "plugin_data"], &[]),
        "extend-plugin-data" => (&["path", "value", "plugin_data"], &["unique"]),
        "unset-plugin-data" => (&["path", "plugin_data"], &[]),
        "set-port-attribute" => (&["port_id", "path", "value"], &[]),
        "extend-port-attribute" => (&["port_id", "path", "value"], &["unique"]),
        "del-port-attribute" => (&["port_id", "path"], &[]),
        "api-call" => (&["url"], &["headers", "proxies", "timeout", "retries", "backoff_factor"]),
        _ => return None,
    })
}

/// Actions that receive the plugin data (Ironic's `REQUIRES_PLUGIN_DATA`).
pub fn requires_plugin_data(op: &str) -> bool {
    matches!(op, "set-plugin-data" | "extend-plugin-data" | "unset-plugin-data")
}

/// Ironic's `parse_inverted_operator`: `"!eq"` is `("eq", true)`.
pub fn parse_inverted(op: &str) -> Result<(String, bool), String> {
    let op = op.trim();
    if op.matches('!').count() > 1 {
        return Err("Multiple exclamation marks are not allowed. To apply the invert of an operation, simply add an \
                    exclamation mark (with an optional space) before the operator, e.g. eq - !eq."
            .into());
    }
    let inverted = op.starts_with('!');
    Ok((op.trim_start_matches('!').trim().to_string(), inverted))
}

/// Ironic's `_normalize_list_args`: positional (deprecated) arguments become named ones. The
/// plugin-data actions get an empty `plugin_data` argument, as Ironic adds (and stores) one.
pub fn normalize_args(op: &str, args: &mut Value) -> Result<Map<String, Value>, String> {
    let (required, optional) = signature(op).ok_or_else(|| format!("Unsupported action '{op}'."))?;
    match args {
        Value::Object(o) => {
            if requires_plugin_data(op) {
                o.insert("plugin_data".into(), Value::Object(Map::new()));
            }
            Ok(o.clone())
        }
        Value::Array(a) => {
            if requires_plugin_data(op) {
                a.push(Value::Object(Map::new()));
            }
            if a.len() < required.len() {
                let missing = required[a.len()..].join(", ");
                // Ironic builds a tuple instead of formatting, and shows the tuple.
                return Err(format!("('Not enough arguments provided. Missing: %s', {})", py::str_repr(&missing)));
            }
            let mut out = Map::new();
            for (i, name) in required.iter().enumerate() {
                out.insert(name.to_string(), a[i].clone());
            }
            for (name, v) in optional.iter().zip(a[required.len()..].iter()) {
                out.insert(name.to_string(), v.clone());
            }
            Ok(out)
        }
        _ => Err("args must be either a list or dictionary".into()),
    }
}

/// Ironic's `Base.validate`: required arguments present, no unknown ones.
fn validate_args(op: &str, args: &mut Value) -> Result<(), String> {
    let (required, optional) = signature(op).ok_or_else(|| format!("Unsupported action '{op}'."))?;
    let named = normalize_args(op, args)?;
    let missing: Vec<&str> = required.iter().copied().filter(|r| !named.contains_key(*r)).collect();
    let unexpected: Vec<&str> =
        named.keys().map(String::as_str).filter(|k| !required.contains(k) && !optional.contains(k)).collect();
    let mut msg = Vec::new();
    if !missing.is_empty() {
        msg.push(format!("missing required argument(s): {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        msg.push(format!("unexpected argument(s): {}", unexpected.join(", ")));
    }
    if msg.is_empty() {
        Ok(())
    } else {
        Err(msg.join("; "))
    }
}

// ------------------------------------------------------------------------------ the schema

fn not_of_type(v: &Value, types: &str) -> String {
    format!("{} is not of type {types}", repr(v, false))
}

fn one_of(v: &Value, allowed: &[String]) -> String {
    format!("{} is not one of [{}]", repr(v, false), allowed.iter().map(|a| py::str_repr(a)).collect::<Vec<_>>().join(", "))
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => !n.is_f64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn check_items(list: &[Value], ops: &[String], conditions: bool) -> Result<(), String> {
    for item in list {
        let o = item.as_object().ok_or_else(|| not_of_type(item, "'object'"))?;
        for req in ["op", "args"] {
            if !o.contains_key(req) {
                return Err(format!("'{req}' is a required property"));
            }
        }
        let op = &o["op"];
        if !op.as_str().is_some_and(|s| ops.iter().any(|x| x == s)) {
            return Err(one_of(op, ops));
        }
        if !matches!(o["args"], Value::Array(_) | Value::Object(_)) {
            return Err(not_of_type(&o["args"], "'array', 'object'"));
        }
        if conditions {
            if let Some(m) = o.get("multiple") {
                let allowed: Vec<String> = ["any", "all", "first", "last"].iter().map(|s| s.to_string()).collect();
                if !m.as_str().is_some_and(|s| allowed.iter().any(|a| a == s)) {
                    return Err(one_of(m, &allowed));
                }
            }
        }
        if let Some(l) = o.get("loop") {
            if !matches!(l, Value::Array(_) | Value::Object(_)) {
                return Err(not_of_type(l, "'array', 'object'"));
            }
        }
    }
    Ok(())
}

const RULE_KEYS: &[&str] = &["actions", "conditions", "description", "phase", "priority", "sensitive", "uuid"];

/// Ironic's `create_request_body` schema, first error in jsonschema's order.
pub fn check_schema(body: &Value) -> Result<(), String> {
    let o = body.as_object().ok_or_else(|| not_of_type(body, "'object'"))?;
    if let Some(a) = o.get("actions") {
        let list = a.as_array().ok_or_else(|| not_of_type(a, "'array'"))?;
        if list.is_empty() {
            return Err("[] should be non-empty".into());
        }
        let ops: Vec<String> = ACTIONS.iter().map(|s| s.to_string()).collect();
        check_items(list, &ops, false)?;
    }
    if let Some(c) = o.get("conditions") {
        let list = c.as_array().ok_or_else(|| not_of_type(c, "'array'"))?;
        let mut ops: Vec<String> = OPERATORS.iter().map(|s| s.to_string()).collect();
        ops.extend(OPERATORS.iter().map(|s| format!("!{s}")));
        check_items(list, &ops, true)?;
    }
    for (key, max) in [("description", 255), ("phase", 16)] {
        match o.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.chars().count() > max => return Err(format!("{} is too long", py::str_repr(s))),
            Some(Value::String(_)) => {}
            Some(other) => return Err(not_of_type(other, "'string', 'null'")),
        }
    }
    if let Some(p) = o.get("priority") {
        if !is_integer(p) {
            return Err(not_of_type(p, "'integer'"));
        }
        if p.as_f64().is_some_and(|f| f < 0.0) {
            return Err(format!("{} is less than the minimum of 0", repr(p, false)));
        }
    }
    match o.get("sensitive") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => {}
        Some(other) => return Err(not_of_type(other, "'boolean', 'null'")),
    }
    match o.get("uuid") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(other) => return Err(not_of_type(other, "'string', 'null'")),
    }
    if !o.contains_key("actions") {
        return Err("'actions' is a required property".into());
    }
    let extra: Vec<String> = o.keys().filter(|k| !RULE_KEYS.contains(&k.as_str())).map(|k| py::str_repr(k)).collect();
    if !extra.is_empty() {
        let verb = if extra.len() == 1 { "was" } else { "were" };
        return Err(format!("Additional properties are not allowed ({} {verb} unexpected)", extra.join(", ")));
    }
    Ok(())
}

/// Ironic's `validate_rule` (after the API's schema check): the schema, the phase, the priority
/// range for user rules, then each operator's and action's arguments. Returns the body with
/// `args` normalised as Ironic stores them (the plugin-data actions gain `plugin_data: {}`).
pub fn validate_rule(body: &Value, built_in: bool) -> Result<Value, RuleInvalid> {
    check_schema(body).map_err(RuleInvalid::Schema)?;
    let mut body = body.clone();
    let o = body.as_object_mut().ok_or_else(|| RuleInvalid::Schema(not_of_type(&Value::Null, "'object'")))?;
    let mut errors = Vec::new();
    let phase = o.get("phase").and_then(Value::as_str).unwrap_or(PHASE_MAIN);
    if phase != PHASE_MAIN {
        errors.push(format!("Invalid phase: {phase}. Valid phases are: {PHASE_MAIN}"));
    }
    let priority = o.get("priority").and_then(Value::as_f64).unwrap_or(0.0);
    if priority < 0.0 && !built_in {
        errors.push("Priority cannot be negative for user-defined rules.".into());
    }
    if priority > 9999.0 && !built_in {
        errors.push("Priority must be between 0 and 9999 for user-defined rules.".into());
    }
    // Argument errors are raised at once (they are not collected with the others).
    if let Some(Value::Array(conds)) = o.get_mut("conditions") {
        for c in conds.iter_mut() {
            let op = c.get("op").and_then(Value::as_str).unwrap_or_default().to_string();
            let (op, _) = parse_inverted(&op).map_err(RuleInvalid::Invalid)?;
            if let Some(args) = c.get_mut("args") {
                validate_args(&op, args).map_err(RuleInvalid::Invalid)?;
            }
        }
    }
    if let Some(Value::Array(acts)) = o.get_mut("actions") {
        for a in acts.iter_mut() {
            let op = a.get("op").and_then(Value::as_str).unwrap_or_default().to_string();
            if let Some(args) = a.get_mut("args") {
                validate_args(&op, args).map_err(RuleInvalid::Invalid)?;
            }
        }
    }
    match errors.len() {
        0 => Ok(body),
        1 => Err(RuleInvalid::Invalid(errors.remove(0))),
        _ => Err(RuleInvalid::Invalid(format!("Multiple validation errors occurred: {}", errors.join("; ")))),
    }
}

/// Conditions as the API shows them (Ironic's `convert_conditions`): `op` and `args`, plus
/// `loop` and `multiple` (default `any`) for a loop.
pub fn conditions_for_api(conditions: &[Value]) -> Vec<Value> {
    conditions
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("op".into(), c.get("op").cloned().unwrap_or(Value::Null));
            m.insert("args".into(), c.get("args").cloned().unwrap_or(Value::Null));
            if let Some(l) = c.get("loop").filter(|l| py::truthy(l)) {
                m.insert("loop".into(), l.clone());
                m.insert("multiple".into(), c.get("multiple").cloned().unwrap_or_else(|| Value::String("any".into())));
            }
            Value::Object(m)
        })
        .collect()
}

/// Actions as the API shows them (Ironic's `convert_actions`).
pub fn actions_for_api(actions: &[Value]) -> Vec<Value> {
    actions
        .iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("op".into(), a.get("op").cloned().unwrap_or(Value::Null));
            m.insert("args".into(), a.get("args").cloned().unwrap_or(Value::Null));
            if let Some(l) = a.get("loop").filter(|l| py::truthy(l)) {
                m.insert("loop".into(), l.clone());
            }
            Value::Object(m)
        })
        .collect()
}

/// Built-in rules from the parsed `[inspection_rules]built_in_rules` file (Ironic's
/// `get_built_in_rules`): a list of rules, each validated as built-in (negative priorities
/// allowed by the range check); rules without a UUID get synthetic ones.
pub fn built_in_rules(doc: &Value) -> Result<Vec<InspectionRule>, String> {
    let list = doc.as_array().ok_or("Built-in rules file should contain a list of rules")?;
    let mut out = Vec::new();
    let mut synthetic = 0;
    for (n, r) in list.iter().enumerate() {
        let o = r.as_object().ok_or_else(|| format!("Error parsing built-in rule {n}: not a mapping"))?;
        let uuid = match o.get("uuid").and_then(Value::as_str) {
            Some(u) => u.to_string(),
            None => {
                let u = InspectionRule::synthetic_uuid(synthetic);
                synthetic += 1;
                u
            }
        };
        let mut body = Map::new();
        body.insert("uuid".into(), Value::String(uuid.clone()));
        body.insert("priority".into(), o.get("priority").cloned().unwrap_or(Value::from(0)));
        body.insert("description".into(), o.get("description").cloned().unwrap_or(Value::Null));
        body.insert("sensitive".into(), o.get("sensitive").cloned().unwrap_or(Value::Bool(false)));
        body.insert("phase".into(), o.get("phase").cloned().unwrap_or(Value::String(PHASE_MAIN.into())));
        body.insert("actions".into(), o.get("actions").cloned().unwrap_or(Value::Array(vec![])));
        body.insert("conditions".into(), o.get("conditions").cloned().unwrap_or(Value::Array(vec![])));
        let valid = validate_rule(&Value::Object(body), true).map_err(|e| format!("Error parsing built-in rule {uuid}: {e}"))?;
        let mut rule = InspectionRule::from_valid(&valid, uuid);
        rule.built_in = true;
        out.push(rule);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

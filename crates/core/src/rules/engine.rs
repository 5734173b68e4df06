//! Running rules (Ironic's `engine.apply_rules`, `operators.py`, `actions.py`).
//!
//! The rules see a working copy of the node (as Ironic's `Node` object's attributes), its
//! ports, the inventory and the plugin data; actions change the copies. The caller gets the
//! final copies back and stores them atomically with the hooks' outcome, or gets the failure
//! text (Ironic's `str(exception)`) when a rule fails. HTTP calls (`api-call`) and log lines
//! are returned as effects for the caller to perform.

use super::py::{self, FmtContext};
use super::{legacy, normalize_args, parse_inverted, signature, InspectionRule};
use crate::model::{Dict, Interfaces, Node, Port};
use serde_json::{Map, Value};

/// `[inspection_rules]mask_secrets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskSecrets {
    /// Mask for every rule (Ironic's default).
    #[default]
    Always,
    Never,
    /// Mask for rules that are *not* sensitive (Ironic's semantics, verbatim).
    Sensitive,
}

impl MaskSecrets {
    pub fn parse(s: &str) -> Option<MaskSecrets> {
        match s {
            "always" => Some(MaskSecrets::Always),
            "never" => Some(MaskSecrets::Never),
            "sensitive" => Some(MaskSecrets::Sensitive),
            _ => None,
        }
    }
}

/// What the rules run over.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub node: &'a Node,
    pub ports: &'a [Port],
    pub inventory: &'a Value,
    pub plugin_data: &'a Dict,
}

/// Work for the caller: Ironic's `api-call` action does an HTTP GET in line; here the
/// conductor performs it (with a bounded timeout) before applying the changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    ApiCall {
        rule: String,
        url: String,
        headers: Dict,
        proxies: Dict,
        /// Seconds, > 0.
        timeout: f64,
        retries: u32,
        backoff_factor: f64,
    },
}

impl Effect {
    /// The failure text when the call failed with `reason` (Ironic's `RuleActionExecutionFailure`).
    pub fn failure(&self, reason: &str) -> String {
        match self {
            Effect::ApiCall { url, .. } => action_failure(&format!("Request to {url} failed: {reason}")),
        }
    }
}

/// A line the `log` action (or the engine) asks to be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// debug, info, warning, error or critical.
    pub level: String,
    pub rule: String,
    pub message: String,
}

/// What the rules changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub node: Node,
    /// Every port, changed or not, in input order.
    pub ports: Vec<Port>,
    pub plugin_data: Dict,
    pub effects: Vec<Effect>,
    pub logs: Vec<LogLine>,
    /// UUIDs of the rules whose conditions held, in the order their actions ran.
    pub applied: Vec<String>,
}

/// A failure while running a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fail {
    /// An Ironic exception: its text is shown as is.
    Ironic(String),
    /// Any other exception: Ironic wraps it as "Failed to apply rule ... to node ...: <text>".
    Other(String),
}

type R<T> = Result<T, Fail>;

fn action_failure(reason: &str) -> String {
    format!("Inspection rule action execution failed. Reason: {reason}")
}
fn act_err(reason: String) -> Fail {
    Fail::Ironic(action_failure(&reason))
}
fn exec_err(msg: String) -> Fail {
    Fail::Ironic(msg)
}

/// Node attributes a rule may not change: identity, state, locks and bookkeeping that the
/// conductor owns (Ironic lets a rule `setattr` anything; changing these would break the flow).
const NODE_READ_ONLY: &[&str] = &[
    "id", "uuid", "created_at", "updated_at", "provision_state", "target_provision_state", "power_state", "target_power_state",
    "provision_updated_at", "reservation", "conductor", "inspection_started_at", "inspection_finished_at", "allocation_uuid",
    "instance_uuid", "traits", "console_enabled", "clean_step", "deploy_step", "service_step",
];
const PORT_READ_ONLY: &[&str] = &["id", "uuid", "node_uuid", "created_at", "updated_at"];

/// The node as Ironic's `Node` object shows its attributes (`power_interface`, ... flattened).
pub fn node_view(n: &Node) -> Value {
    let mut v = serde_json::to_value(n).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("interfaces");
        for kind in Interfaces::KINDS {
            o.insert(format!("{kind}_interface"), Value::String(n.interfaces.get(kind).unwrap_or_default().to_string()));
        }
    }
    v
}

fn node_from_view(v: &Value) -> Result<Node, String> {
    let mut o = v.as_object().cloned().unwrap_or_default();
    let mut ifaces = Map::new();
    for kind in Interfaces::KINDS {
        if let Some(x) = o.remove(&format!("{kind}_interface")) {
            ifaces.insert(kind.to_string(), x);
        }
    }
    o.insert("interfaces".into(), Value::Object(ifaces));
    serde_json::from_value(Value::Object(o)).map_err(|e| e.to_string())
}

fn port_from_view(v: &Value) -> Result<Port, String> {
    serde_json::from_value(v.clone()).map_err(|e| e.to_string())
}

/// The working state of one run.
struct State<'a> {
    node: Value,
    node_id: i64,
    ports: Vec<Value>,
    inventory: &'a Value,
    plugin_data: Value,
    effects: Vec<Effect>,
    logs: Vec<LogLine>,
}

/// Run `rules` (stored rules in id order, then built-in ones) by priority, highest first
/// (a stable sort, as Ironic's). `Err` is the text Ironic would record.
pub fn apply(rules: &[InspectionRule], input: Input<'_>, mask: MaskSecrets) -> Result<Outcome, String> {
    let mut order: Vec<&InspectionRule> = rules.iter().collect();
    order.sort_by_key(|r| std::cmp::Reverse(r.priority));
    let mut st = State {
        node: node_view(input.node),
        node_id: input.node.id,
        ports: input.ports.iter().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).collect(),
        inventory: input.inventory,
        plugin_data: Value::Object(input.plugin_data.clone()),
        effects: Vec::new(),
        logs: Vec::new(),
    };
    let node_uuid = input.node.uuid.clone();
    let mut applied = Vec::new();
    for rule in order {
        let masked = match mask {
            MaskSecrets::Always => true,
            MaskSecrets::Never => false,
            MaskSecrets::Sensitive => !rule.sensitive,
        };
        let run = (|| -> R<bool> {
            if rule.legacy {
                if let Some(scope) = &rule.scope {
                    let node_scope = st.node.get("properties").and_then(|p| p.get("inspection_scope"));
                    if node_scope.and_then(Value::as_str) != Some(scope.as_str()) {
                        return Ok(false);
                    }
                }
            }
            for cond in &rule.conditions {
                let ok = if rule.legacy { legacy::check_condition(cond, &st.node, st.inventory, &st.plugin_data)? } else { check(cond, &st, masked)? };
                if !ok {
                    return Ok(false);
                }
            }
            for action in &rule.actions {
                run_action(rule, action, &mut st, masked)?;
            }
            Ok(true)
        })();
        match run {
            Ok(true) => applied.push(rule.uuid.clone()),
            Ok(false) => {}
            Err(Fail::Ironic(m)) => return Err(m),
            Err(Fail::Other(m)) => return Err(format!("Failed to apply rule {} to node {node_uuid}: {m}", rule.uuid)),
        }
    }
    let node = node_from_view(&st.node)?;
    let ports = st.ports.iter().map(port_from_view).collect::<Result<Vec<_>, _>>()?;
    let plugin_data = match st.plugin_data {
        Value::Object(o) => o,
        _ => Dict::new(),
    };
    Ok(Outcome { node, ports, plugin_data, effects: st.effects, logs: st.logs, applied })
}

impl From<legacy::LegacyError> for Fail {
    fn from(e: legacy::LegacyError) -> Self {
        match e {
            legacy::LegacyError::Ironic(m) => Fail::Ironic(m),
            legacy::LegacyError::Other(m) => Fail::Other(m),
        }
    }
}

// ------------------------------------------------------------------------------ conditions

/// Arguments Ironic formats outside loops (`FORMATTED_ARGS`).
fn formatted_args(op: &str) -> &'static [&'static str] {
    match op {
        "eq" | "lt" | "gt" => &["values"],
        "is-empty" | "is-none" | "is-true" | "is-false" | "one-of" | "matches" | "contains" => &["value"],
        "in-net" => &["address", "subnet"],
        "log" => &["msg"],
        "set-attribute" | "extend-attribute" | "set-capability" | "set-plugin-data" | "extend-plugin-data"
        | "set-port-attribute" | "extend-port-attribute" => &["value"],
        "api-call" => &["url"],
        _ => &[],
    }
}

/// Normalise, then format the arguments (`Base._process_args`).
fn process_args(op: &str, raw: &Value, st: &State<'_>, masked: bool, item: Option<&Value>) -> R<Map<String, Value>> {
    let mut raw = raw.clone();
    if raw.is_null() {
        raw = Value::Object(Map::new());
    }
    let mut args = normalize_args(op, &mut raw).map_err(Fail::Other)?;
    args.remove("plugin_data");
    let ctx = FmtContext { node: &st.node, inventory: st.inventory, plugin_data: &st.plugin_data, item, mask: masked, extra: &[] };
    let formatted = formatted_args(op);
    let in_loop = item.is_some();
    let is_empty = op == "is-empty";
    for (k, v) in args.iter_mut() {
        if in_loop || formatted.contains(&k.as_str()) {
            *v = py::interpolate(v, &ctx, in_loop, is_empty);
        }
    }
    Ok(args)
}

/// Missing required arguments at call time (a Python TypeError).
fn require<'a>(op: &str, args: &'a Map<String, Value>, name: &str) -> R<&'a Value> {
    args.get(name).ok_or_else(|| Fail::Other(format!("__call__() missing 1 required positional argument: '{name}' ({op})")))
}

fn check(cond: &Value, st: &State<'_>, masked: bool) -> R<bool> {
    let raw_op = cond.get("op").and_then(Value::as_str).unwrap_or_default();
    let (op, _) = parse_inverted(raw_op).map_err(Fail::Other)?;
    if signature(&op).is_none() || !super::OPERATORS.contains(&op.as_str()) {
        return Err(Fail::Other(format!(
            "Unsupported operator: '{op}'. Supported operators are: {}.",
            super::OPERATORS.join(", ")
        )));
    }
    let loop_items = cond.get("loop").filter(|l| py::truthy(l));
    let multiple = cond.get("multiple").and_then(Value::as_str).unwrap_or("any");
    match loop_items {
        Some(Value::Object(_)) => {
            let item = loop_items.cloned().unwrap_or(Value::Null);
            check_one(cond, st, masked, Some(&item))
        }
        Some(Value::Array(items)) => {
            let mut results = Vec::new();
            for item in items {
                let r = check_one(cond, st, masked, Some(item))?;
                results.push(r);
                if multiple == "first" && r {
                    return Ok(true);
                } else if multiple == "last" {
                    results = vec![r];
                }
            }
            Ok(match multiple {
                "any" => results.iter().any(|r| *r),
                "all" => results.iter().all(|r| *r),
                _ => results.first().copied().unwrap_or(false),
            })
        }
        _ => check_one(cond, st, masked, None),
    }
}

fn check_one(cond: &Value, st: &State<'_>, masked: bool, item: Option<&Value>) -> R<bool> {
    let raw_op = cond.get("op").and_then(Value::as_str).unwrap_or_default();
    let (op, inverted) = parse_inverted(raw_op).map_err(Fail::Other)?;
    let mut args = process_args(&op, cond.get("args").unwrap_or(&Value::Null), st, masked, item)?;
    if item.is_some() && matches!(op.as_str(), "eq" | "lt" | "gt") {
        args.insert("force_strings".into(), Value::Bool(true));
    }
    let result = operator(&op, &args)?;
    Ok(result != inverted)
}

/// One operator over its (formatted) arguments.
fn operator(op: &str, args: &Map<String, Value>) -> R<bool> {
    match op {
        "eq" | "lt" | "gt" => {
            let values = require(op, args, "values")?;
            let Value::Array(values) = values else {
                return Err(Fail::Ironic(format!(
                    "Inspection rule condition check failed. Reason: Failed to check condition: '{op}' on values: {}: \
                     Expected list for 'values', got: {}",
                    py::to_str(values, false),
                    py::type_name(values)
                )));
            };
            if values.len() < 2 {
                return Ok(true);
            }
            let force = args.get("force_strings").is_some_and(py::truthy);
            let values: Vec<Value> =
                if force { values.iter().map(|v| Value::String(py::to_str(v, false))).collect() } else { values.clone() };
            for w in values.windows(2) {
                let ok = match op {
                    "eq" => py::eq(&w[0], &w[1]),
                    "lt" => py::lt(&w[0], &w[1], "<").map_err(Fail::Other)?,
                    _ => py::lt(&w[1], &w[0], ">").map_err(|_| {
                        Fail::Other(format!(
                            "'>' not supported between instances of '{}' and '{}'",
                            py::type_name(&w[0]),
                            py::type_name(&w[1])
                        ))
                    })?,
                };
                if !ok {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        "is-empty" => {
            let v = require(op, args, "value")?;
            Ok(matches!(py::to_str(v, false).as_str(), "" | "None" | "[]" | "{}"))
        }
        "in-net" => {
            let address = require(op, args, "address")?;
            let subnet = require(op, args, "subnet")?;
            let net = legacy::parse_network(&py::to_str(subnet, false))
                .ok_or_else(|| exec_err(format!("invalid value: invalid IPNetwork {}", py::to_str(subnet, false))))?;
            let addr = legacy::parse_address(address)
                .ok_or_else(|| Fail::Other(format!("failed to detect a valid IP address from {}", py::repr(address, false))))?;
            Ok(legacy::network_contains(&net, &addr))
        }
        "is-true" => Ok(match require(op, args, "value")? {
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => matches!(s.to_lowercase().as_str(), "yes" | "true"),
            _ => false,
        }),
        "is-false" => Ok(match require(op, args, "value")? {
            Value::Bool(b) => !*b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f == 0.0),
            Value::String(s) => matches!(s.to_lowercase().as_str(), "no" | "false"),
            Value::Null => true,
            _ => false,
        }),
        "is-none" => Ok(require(op, args, "value")?.is_null()),
        "one-of" => {
            let value = require(op, args, "value")?;
            let empty = Value::Array(vec![]);
            py_in(value, args.get("values").unwrap_or(&empty)).map_err(Fail::Other)
        }
        "matches" | "contains" => {
            let value = require(op, args, "value")?;
            let Value::String(regex) = require(op, args, "regex")? else {
                return Err(Fail::Other("expected string or bytes-like object".into()));
            };
            if regex.is_empty() && op == "matches" {
                return Err(Fail::Other("string index out of range".into()));
            }
            if let Err(e) = regex::Regex::new(regex) {
                return Err(exec_err(format!("invalid regular expression: {e}")));
            }
            let pattern = if op == "matches" {
                let r = if regex.ends_with('$') { regex.clone() } else { format!("{regex}$") };
                format!("^(?:{r})")
            } else {
                regex.clone()
            };
            let re = regex::Regex::new(&pattern).map_err(|e| exec_err(format!("invalid regular expression: {e}")))?;
            Ok(re.is_match(&py::to_str(value, false)))
        }
        other => Err(Fail::Other(format!("Unsupported operator '{other}'."))),
    }
}

/// Python's `value in container`.
fn py_in(value: &Value, container: &Value) -> Result<bool, String> {
    match container {
        Value::Array(a) => Ok(a.iter().any(|x| py::eq(value, x))),
        Value::String(s) => match value {
            Value::String(v) => Ok(s.contains(v.as_str())),
            other => Err(format!("'in <string>' requires string as left operand, not {}", py::type_name(other))),
        },
        Value::Object(o) => match value {
            Value::String(v) => Ok(o.contains_key(v)),
            Value::Array(_) | Value::Object(_) => Err(format!("unhashable type: '{}'", py::type_name(value))),
            _ => Ok(false),
        },
        other => Err(format!("argument of type '{}' is not iterable", py::type_name(other))),
    }
}

// ------------------------------------------------------------------------------ actions

fn run_action(rule: &InspectionRule, action: &Value, st: &mut State<'_>, masked: bool) -> R<()> {
    let op = action.get("op").and_then(Value::as_str).unwrap_or_default();
    if !super::ACTIONS.contains(&op) {
        return Err(Fail::Other(format!("Unsupported action: '{op}'. Supported actions are: {}.", super::ACTIONS.join(", "))));
    }
    let raw = action.get("args").unwrap_or(&Value::Null);
    if rule.legacy {
        let args = legacy::format_action_args(op, raw, st.inventory, &st.plugin_data)?;
        return execute(rule, op, &args, st);
    }
    match action.get("loop").filter(|l| py::truthy(l)) {
        Some(Value::Object(_)) => {
            let item = action.get("loop").cloned().unwrap_or(Value::Null);
            let args = process_args(op, raw, st, masked, Some(&item))?;
            execute(rule, op, &args, st)
        }
        Some(Value::Array(items)) => {
            for item in items {
                let args = process_args(op, raw, st, masked, Some(item))?;
                execute(rule, op, &args, st)?;
            }
            Ok(())
        }
        _ => {
            let args = process_args(op, raw, st, masked, None)?;
            execute(rule, op, &args, st)
        }
    }
}

/// Ironic's `normalize_path`: `a/b/c` (leading slash optional) or `a.b.c`.
fn normalize_path(path: &str) -> Vec<String> {
    if path.contains('/') {
        path.trim_matches('/').split('/').map(str::to_string).collect()
    } else {
        path.split('.').map(str::to_string).collect()
    }
}

fn path_str(v: &Value) -> String {
    py::to_str(v, false)
}

/// `current.setdefault(key, default)`.
fn setdefault<'v>(cur: &'v mut Value, key: &str, default: Value) -> Result<&'v mut Value, String> {
    match cur {
        Value::Object(o) => Ok(o.entry(key.to_string()).or_insert(default)),
        other => Err(format!("'{}' object has no attribute 'setdefault'", py::type_name(other))),
    }
}

/// `current[key] = value`.
fn setitem(cur: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match cur {
        Value::Object(o) => {
            o.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(_) => Err("list indices must be integers or slices, not str".into()),
        other => Err(format!("'{}' object does not support item assignment", py::type_name(other))),
    }
}

/// `current[key]` for traversal.
fn getitem<'v>(cur: &'v mut Value, key: &str) -> Result<&'v mut Value, String> {
    match cur {
        Value::Object(o) => o.get_mut(key).ok_or_else(|| py::str_repr(key)),
        Value::Array(_) => Err("list indices must be integers or slices, not str".into()),
        other => Err(format!("'{}' object is not subscriptable", py::type_name(other))),
    }
}

/// `del current[key]`.
fn delitem(cur: &mut Value, key: &str) -> Result<(), String> {
    match cur {
        Value::Object(o) => o.remove(key).map(|_| ()).ok_or_else(|| py::str_repr(key)),
        Value::Array(_) => Err("list indices must be integers or slices, not str".into()),
        other => Err(format!("'{}' object doesn't support item deletion", py::type_name(other))),
    }
}

/// Which object an attribute action works on.
#[derive(Clone, Copy)]
enum Target {
    Node,
    Port(usize),
}

impl Target {
    fn class(self) -> &'static str {
        match self {
            Target::Node => "Node",
            Target::Port(_) => "Port",
        }
    }
    fn read_only(self) -> &'static [&'static str] {
        match self {
            Target::Node => NODE_READ_ONLY,
            Target::Port(_) => PORT_READ_ONLY,
        }
    }
}

fn object_mut<'s>(st: &'s mut State<'_>, t: Target) -> &'s mut Value {
    match t {
        Target::Node => &mut st.node,
        Target::Port(i) => &mut st.ports[i],
    }
}

/// Check that a changed object still has valid field types (an oslo field coercion error otherwise).
fn still_valid(obj: &Value, t: Target) -> Result<(), String> {
    match t {
        Target::Node => node_from_view(obj).map(|_| ()),
        Target::Port(_) => port_from_view(obj).map(|_| ()),
    }
}

enum AttrOp<'a> {
    Set(&'a Value),
    Extend(&'a Value, bool),
    Del,
}

/// set/extend/del-attribute on the node or a port. `Ok(false)`: a top-level attribute the
/// object does not have was set (Ironic's `setattr` does nothing useful then).
fn attribute(st: &mut State<'_>, t: Target, path: &str, op: AttrOp<'_>) -> Result<bool, String> {
    let parts = normalize_path(path);
    let first = parts[0].clone();
    let class = t.class();
    if t.read_only().contains(&first.as_str()) {
        return Err(format!("{first} cannot be changed by an inspection rule"));
    }
    let mut obj = object_mut(st, t).clone();
    let o = obj.as_object_mut().ok_or("not an object")?;
    let no_attr = || format!("'{class}' object has no attribute '{first}'");
    if parts.len() == 1 {
        match op {
            AttrOp::Set(v) => {
                if !o.contains_key(&first) {
                    return Ok(false);
                }
                o.insert(first.clone(), v.clone());
            }
            AttrOp::Extend(v, unique) => {
                let Some(cur) = o.get_mut(&first) else { return Ok(false) };
                let Value::Array(list) = cur else {
                    return Err(action_failure(&format!("Cannot extend non-list attribute {path} with value {}", py::to_str(v, false))));
                };
                if !unique || !list.iter().any(|x| py::eq(x, v)) {
                    list.push(v.clone());
                }
            }
            AttrOp::Del => {
                if !o.contains_key(&first) {
                    return Err(no_attr());
                }
                // Deleting a field of an Ironic object resets it.
                let default = match t {
                    Target::Node => node_view(&Node::default()),
                    Target::Port(_) => serde_json::to_value(Port::default()).unwrap_or(Value::Null),
                };
                o.insert(first.clone(), default.get(&first).cloned().unwrap_or(Value::Null));
            }
        }
    } else {
        let mut current = o.get_mut(&first).ok_or_else(no_attr)?;
        let (middle, last) = parts[1..].split_at(parts.len() - 2);
        let last = &last[0];
        match op {
            AttrOp::Set(v) => {
                for part in middle {
                    current = setdefault(current, part, Value::Object(Map::new()))?;
                }
                setitem(current, last, v.clone())?;
            }
            AttrOp::Extend(v, unique) => {
                for part in middle {
                    current = setdefault(current, part, Value::Object(Map::new()))?;
                }
                let cur = setdefault(current, last, Value::Array(vec![]))?;
                let Value::Array(list) = cur else {
                    return Err(action_failure(&format!("Cannot extend non-list attribute {path} with value {}", py::to_str(v, false))));
                };
                if !unique || !list.iter().any(|x| py::eq(x, v)) {
                    list.push(v.clone());
                }
            }
            AttrOp::Del => {
                for part in middle {
                    current = getitem(current, part)?;
                }
                delitem(current, last)?;
            }
        }
    }
    still_valid(&obj, t)?;
    *object_mut(st, t) = obj;
    Ok(true)
}

fn capabilities_mut<'s>(st: &'s mut State<'_>) -> &'s mut Map<String, Value> {
    if !st.node.get("properties").is_some_and(Value::is_object) {
        st.node["properties"] = Value::Object(Map::new());
    }
    st.node["properties"].as_object_mut().expect("properties is an object")
}

fn find_port(st: &State<'_>, port_id: &Value) -> R<usize> {
    st.ports
        .iter()
        .position(|p| p.get("uuid").is_some_and(|u| py::eq(u, port_id)))
        .ok_or_else(|| Fail::Ironic(format!("Port {} could not be found.", py::to_str(port_id, false))))
}

/// Python's `float(x)`.
fn py_float(v: &Value) -> Result<f64, Fail> {
    match v {
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => {
            let t = s.trim();
            let parsed = match t.to_ascii_lowercase().as_str() {
                "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "nan" | "+nan" | "-nan" => Some(f64::NAN),
                _ => t.replace('_', "").parse::<f64>().ok().filter(|_| !t.is_empty()),
            };
            parsed.ok_or_else(|| act_err(format!("Invalid parameter: could not convert string to float: {}", py::str_repr(s))))
        }
        other => Err(Fail::Other(format!("float() argument must be a string or a real number, not '{}'", py::type_name(other)))),
    }
}

/// Python's `int(x)`.
fn py_int(v: &Value) -> Result<i64, Fail> {
    match v {
        Value::Bool(b) => Ok(*b as i64),
        Value::Number(n) => Ok(n.as_i64().unwrap_or_else(|| n.as_f64().unwrap_or(0.0).trunc() as i64)),
        Value::String(s) => s
            .trim()
            .replace('_', "")
            .parse::<i64>()
            .map_err(|_| act_err(format!("Invalid parameter: invalid literal for int() with base 10: {}", py::str_repr(s)))),
        other => Err(Fail::Other(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            py::type_name(other)
        ))),
    }
}

/// Ironic's `update_nested_dict` on the plugin data.
fn set_nested(root: &mut Value, keys: &[String], value: Value) -> Result<(), String> {
    let mut current = root;
    for k in &keys[..keys.len() - 1] {
        current = setdefault(current, k, Value::Object(Map::new()))?;
    }
    setitem(current, &keys[keys.len() - 1], value)
}

fn get_nested(root: &Value, keys: &[String]) -> Option<Value> {
    let mut current = root;
    for k in keys {
        current = current.as_object()?.get(k)?;
    }
    Some(current.clone())
}

/// Ironic's `_unset_nested_dict`, quirks included: removing the only key of a nested dict
/// removes that dict from its parent; removing the only top-level key does nothing.
fn unset_nested(root: &mut Value, keys: &[String]) -> Result<bool, String> {
    {
        let mut current = &*root;
        for k in &keys[..keys.len() - 1] {
            match current.as_object().and_then(|o| o.get(k)) {
                Some(next) => current = next,
                None => return Ok(false),
            }
        }
        let target = &keys[keys.len() - 1];
        match current.as_object() {
            Some(o) if o.contains_key(target) => {}
            _ => return Ok(false),
        }
    }
    let container_len = get_nested(root, &keys[..keys.len() - 1]).and_then(|c| c.as_object().map(|o| o.len())).unwrap_or(0);
    if container_len == 1 {
        if keys.len() > 1 {
            let parent = nested_mut(root, &keys[..keys.len() - 2])?;
            delitem(parent, &keys[keys.len() - 2])?;
        }
    } else {
        let parent = nested_mut(root, &keys[..keys.len() - 1])?;
        delitem(parent, &keys[keys.len() - 1])?;
    }
    Ok(true)
}

fn nested_mut<'v>(root: &'v mut Value, keys: &[String]) -> Result<&'v mut Value, String> {
    let mut p = root;
    for k in keys {
        p = getitem(p, k)?;
    }
    Ok(p)
}

fn plugin_path(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().map(|x| py::to_str(x, false)).collect(),
        other => py::to_str(other, false).split('.').map(str::to_string).collect(),
    }
}

fn execute(rule: &InspectionRule, op: &str, args: &Map<String, Value>, st: &mut State<'_>) -> R<()> {
    let arg = |name: &str| require(op, args, name);
    let unique = || args.get("unique").is_some_and(py::truthy);
    match op {
        "fail" => Err(Fail::Ironic(format!("Failed to inspect hardware. Reason: {}", py::to_str(arg("msg")?, false)))),
        "log" => {
            let level = args.get("level").map(|l| py::to_str(l, false)).unwrap_or_else(|| "info".into()).to_lowercase();
            if !matches!(level.as_str(), "debug" | "info" | "warning" | "error" | "critical") {
                return Err(exec_err(format!(
                    "Invalid log level: {level}. Choose from {{'debug', 'info', 'warning', 'error', 'critical'}}"
                )));
            }
            let message = py::to_str(arg("msg")?, false);
            st.logs.push(LogLine { level, rule: rule.uuid.clone(), message });
            Ok(())
        }
        "set-attribute" => {
            let (path, value) = (path_str(arg("path")?), arg("value")?);
            match attribute(st, Target::Node, &path, AttrOp::Set(value)) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    st.logs.push(LogLine {
                        level: "warning".into(),
                        rule: rule.uuid.clone(),
                        message: format!("Node has no attribute {path}; set-attribute did nothing"),
                    });
                    Ok(())
                }
                Err(e) => Err(act_err(format!("Failed to set attribute {path} with value {}: {e}", py::to_str(value, false)))),
            }
        }
        "extend-attribute" => {
            let (path, value) = (path_str(arg("path")?), arg("value")?);
            attribute(st, Target::Node, &path, AttrOp::Extend(value, unique()))
                .map(|_| ())
                .map_err(|e| act_err(format!("Failed to extend attribute {path}: {e}")))
        }
        "del-attribute" => {
            let path = path_str(arg("path")?);
            attribute(st, Target::Node, &path, AttrOp::Del).map(|_| ()).map_err(|e| act_err(format!("Failed to delete attribute at {path}: {e}")))
        }
        "set-capability" => {
            let (name, value) = (arg("name")?, arg("value")?);
            let name_s = py::to_str(name, false);
            let result = (|| -> Result<(), String> {
                let props = capabilities_mut(st);
                if rule.legacy {
                    // ironic-inspector's update_capabilities: replace the key, keep the others.
                    let caps = legacy::parse_capabilities(props.get("capabilities"));
                    let mut caps: Vec<(String, String)> = caps.into_iter().filter(|(k, _)| *k != name_s).collect();
                    caps.push((name_s.clone(), py::to_str(value, false)));
                    let joined = caps.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
                    props.insert("capabilities".into(), Value::String(joined));
                    return Ok(());
                }
                for (i, part) in [name, value].iter().enumerate() {
                    if !part.is_string() {
                        return Err(format!("sequence item {i}: expected str instance, {} found", py::type_name(part)));
                    }
                }
                let new_cap = format!("{}:{}", name_s, py::to_str(value, false));
                let caps = match props.get("capabilities") {
                    None | Some(Value::Null) => new_cap,
                    Some(v) if !py::truthy(v) => new_cap,
                    Some(Value::String(s)) => format!("{s},{new_cap}"),
                    Some(other) => return Err(format!("sequence item 0: expected str instance, {} found", py::type_name(other))),
                };
                props.insert("capabilities".into(), Value::String(caps));
                Ok(())
            })();
            result.map_err(|e| act_err(format!("Failed to set capability {name_s}: {e}")))
        }
        "unset-capability" => {
            let name = py::to_str(arg("name")?, false);
            let result = (|| -> Result<(), String> {
                let props = capabilities_mut(st);
                let current = match props.get("capabilities") {
                    None => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => return Err(format!("'{}' object has no attribute 'split'", py::type_name(other))),
                };
                let prefix = format!("{name}:");
                let kept: Vec<&str> = current.split(',').filter(|c| !c.starts_with(&prefix)).collect();
                props.insert("capabilities".into(), Value::String(kept.join(",")));
                Ok(())
            })();
            result.map_err(|e| act_err(format!("Failed to unset capability {name}: {e}")))
        }
        "add-trait" => {
            let name = py::to_str(arg("name")?, false);
            let traits = st.node.get_mut("traits").and_then(Value::as_array_mut).ok_or_else(|| act_err(format!("Failed to add new trait {name}: no traits")))?;
            if !traits.iter().any(|t| t.as_str() == Some(name.as_str())) {
                if traits.len() >= 50 {
                    return Err(act_err(format!(
                        "Failed to add new trait {name}: Could not modify traits for node {} as it would exceed the maximum number of traits per node (50).",
                        st.node_id
                    )));
                }
                traits.push(Value::String(name));
            }
            Ok(())
        }
        "remove-trait" => {
            let name = py::to_str(arg("name")?, false);
            let traits = st.node.get_mut("traits").and_then(Value::as_array_mut);
            match traits.and_then(|t| t.iter().position(|x| x.as_str() == Some(name.as_str())).map(|i| (t, i))) {
                Some((t, i)) => {
                    t.remove(i);
                }
                None => st.logs.push(LogLine {
                    level: "warning".into(),
                    rule: rule.uuid.clone(),
                    message: format!("Failed to remove trait {name}: Node {} does not have trait {name}.", st.node_id),
                }),
            }
            Ok(())
        }
        "set-plugin-data" => {
            let (path, value) = (arg("path")?, arg("value")?);
            let keys = plugin_path(path);
            set_nested(&mut st.plugin_data, &keys, value.clone())
                .map_err(|e| act_err(format!("Failed to set plugin data at {}: {e}", py::to_str(path, false))))
        }
        "extend-plugin-data" => {
            let (path, value) = (arg("path")?, arg("value")?);
            let keys = plugin_path(path);
            let uniq = unique();
            let result = (|| -> Result<(), String> {
                let mut current = get_nested(&st.plugin_data, &keys).filter(py::truthy).unwrap_or(Value::Array(vec![]));
                set_nested(&mut st.plugin_data, &keys, current.clone())?;
                let Value::Array(list) = &mut current else {
                    return Err(format!("'{}' object has no attribute 'append'", py::type_name(&current)));
                };
                if !uniq || !list.iter().any(|x| py::eq(x, value)) {
                    list.push(value.clone());
                }
                set_nested(&mut st.plugin_data, &keys, current)
            })();
            result.map_err(|e| act_err(format!("Failed to extend plugin data at {}: {e}", py::to_str(path, false))))
        }
        "unset-plugin-data" => {
            let path = arg("path")?;
            let keys = plugin_path(path);
            match unset_nested(&mut st.plugin_data, &keys) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    st.logs.push(LogLine { level: "warning".into(), rule: rule.uuid.clone(), message: format!("Path {} not found", py::to_str(path, false)) });
                    Ok(())
                }
                Err(e) => Err(act_err(format!("Failed to unset plugin data at {}: {e}", py::to_str(path, false)))),
            }
        }
        "set-port-attribute" | "extend-port-attribute" | "del-port-attribute" => {
            let port_id = arg("port_id")?;
            let idx = find_port(st, port_id)?;
            let path = path_str(arg("path")?);
            let pid = py::to_str(port_id, false);
            match op {
                "set-port-attribute" => {
                    let value = arg("value")?;
                    attribute(st, Target::Port(idx), &path, AttrOp::Set(value))
                        .map(|_| ())
                        .map_err(|e| act_err(format!("Failed to set attribute {path} for port {pid}: {e}")))
                }
                "extend-port-attribute" => {
                    let value = arg("value")?;
                    attribute(st, Target::Port(idx), &path, AttrOp::Extend(value, unique())).map(|_| ()).map_err(|e| {
                        // Ironic's text for ports has a doubled space.
                        let e = e.replace(" with value ", " with  value ");
                        act_err(format!("Failed to extend attribute {path} for port {pid}: {e}"))
                    })
                }
                _ => attribute(st, Target::Port(idx), &path, AttrOp::Del)
                    .map(|_| ())
                    .map_err(|e| act_err(format!("Failed to delete attribute {path} for port {pid}: {e}"))),
            }
        }
        "api-call" => {
            let url = py::to_str(arg("url")?, false);
            let timeout = py_float(args.get("timeout").unwrap_or(&Value::from(5)))?;
            if timeout <= 0.0 || timeout.is_nan() {
                return Err(act_err("Invalid parameter: timeout must be greater than zero".into()));
            }
            let retries = py_int(args.get("retries").unwrap_or(&Value::from(3)))?;
            let backoff_factor = py_float(args.get("backoff_factor").unwrap_or(&Value::from(0.3)))?;
            let dict = |name: &str| -> R<Dict> {
                match args.get(name) {
                    None | Some(Value::Null) => Ok(Dict::new()),
                    Some(Value::Object(o)) => Ok(o.clone()),
                    Some(v) if !py::truthy(v) => Ok(Dict::new()),
                    Some(other) => Err(act_err(format!("Invalid parameter: {name} must be a dictionary, not {}", py::type_name(other)))),
                }
            };
            st.effects.push(Effect::ApiCall {
                rule: rule.uuid.clone(),
                url,
                headers: dict("headers")?,
                proxies: dict("proxies")?,
                timeout,
                retries: retries.max(0) as u32,
                backoff_factor: backoff_factor.max(0.0),
            });
            Ok(())
        }
        other => Err(Fail::Other(format!("Unsupported action '{other}'."))),
    }
}
